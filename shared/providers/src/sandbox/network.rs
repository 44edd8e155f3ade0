//! The sandbox's simulated PIX network: the money that left our account (transfers) and the
//! charges given back (refunds), remembered by idempotency key; the MED infractions it
//! opened and decided (as the payer's bank), remembered by infraction id; and how the cautelar
//! holds of its payments ended (released or returned, as the receiving PSP), remembered by
//! transaction id.
//!
//! Idempotency is the property the gateway's retry logic relies on, so the sandbox models it the
//! way a real PSP does: the first call with a key decides the outcome; every later call with that
//! key gets exactly that outcome back and moves no money. A later call that reuses the key for a
//! *different* movement (another amount or destination) is a caller bug, and is refused rather
//! than silently answered with an unrelated outcome.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use pixgw_domain::dispute::{DevolutionNature, DisputeOutcome, DisputeReason};
use pixgw_domain::error::ProviderError;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::{MAX_AMOUNT_CENTS, Money};
use pixgw_domain::pix::payment::{EndToEndId, EndToEndKind, Ispb};
use pixgw_domain::provider::{
    RefundOutcome, RefundRequest, TransferDestination, TransferOutcome, TransferRequest,
};
use uuid::Uuid;

use super::journal::{Journal, JournalEntry, Restored};

/// The reason the sandbox gives for a transfer to a PIX key that "does not exist" (see the
/// module docs of [`crate::sandbox`] for the convention that triggers it).
pub const REJECTED_KEY_REASON: &str = "PIX key not found in DICT";

/// The marker that makes a PIX key unknown to the sandbox's DICT.
const REJECT_MARKER: &str = "reject";

/// One transfer the sandbox decided (completed or failed), as first requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxTransfer {
    pub idempotency_key: String,
    pub amount: Money,
    pub destination: TransferDestination,
    pub outcome: TransferOutcome,
}

/// One refund the sandbox decided, as first requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxRefund {
    pub idempotency_key: String,
    pub amount: Money,
    /// The payment given back.
    pub original_end_to_end_id: EndToEndId,
    pub outcome: RefundOutcome,
}

/// An infraction the sandbox opened (playing the payer's bank), as its `INFRACTION_OPENED`
/// event announced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxOpenedInfraction {
    pub event_id: String,
    pub infraction_id: String,
    pub transaction_id: TransactionId,
    pub reason: DisputeReason,
    /// `None`: all of the charge not yet refunded or disputed (the gateway decides).
    pub amount: Option<Money>,
    /// The deadline sent (the caller's, or [`pixgw_domain::dispute::DEFAULT_DEFENCE_DAYS`]
    /// after opening), at millisecond precision.
    pub respond_by: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
}

/// How the sandbox decided an infraction, as its `INFRACTION_DECIDED` event says: the first
/// decision of an infraction id is the only one (a repeat gets this back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxInfractionDecision {
    pub event_id: String,
    pub infraction_id: String,
    pub transaction_id: TransactionId,
    pub outcome: DisputeOutcome,
    /// Lost: the devolução's id (`D…`, the sandbox's ISPB, like a refund's); won: `None`.
    pub end_to_end_id: Option<EndToEndId>,
    pub decided_at: DateTime<Utc>,
}

/// How a cautelar hold ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxHoldOutcome {
    /// Lifted: the money is the merchant's.
    Released,
    /// Given back to the payer: a devolução of the whole amount.
    Returned {
        nature: DevolutionNature,
        /// The devolução's id (`D…`, the sandbox's ISPB, like a refund's).
        end_to_end_id: EndToEndId,
    },
}

/// The end of a held payment's hold, as its `CASHIN_HOLD_RELEASED` / `CASHIN_HOLD_RETURNED`
/// event says: the first ending of a transaction's hold is the only one (a repeat, or the
/// other ending asked later, gets this back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxHoldEnding {
    pub event_id: String,
    pub transaction_id: TransactionId,
    pub outcome: SandboxHoldOutcome,
    /// `releasedAt` / `returnedAt`.
    pub ended_at: DateTime<Utc>,
}

/// What a caller asks of a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HoldEnd {
    Release,
    Return,
}

impl SandboxHoldOutcome {
    fn is(&self, asked: HoldEnd) -> bool {
        matches!(
            (self, asked),
            (SandboxHoldOutcome::Released, HoldEnd::Release)
                | (SandboxHoldOutcome::Returned { .. }, HoldEnd::Return)
        )
    }
}

/// Everything the simulated network remembers. Lives behind one `Arc<Mutex<..>>` shared by all
/// clones of the provider, so the gateway's handlers and a test's handle see the same network.
#[derive(Debug, Default)]
pub(crate) struct Network {
    /// In the order first seen, so tests can read them back chronologically.
    transfers: Vec<SandboxTransfer>,
    transfer_index: HashMap<String, usize>,
    refunds: Vec<SandboxRefund>,
    refund_index: HashMap<String, usize>,
    infractions: Vec<SandboxOpenedInfraction>,
    infraction_index: HashMap<String, usize>,
    decisions: Vec<SandboxInfractionDecision>,
    decision_index: HashMap<String, usize>,
    hold_endings: Vec<SandboxHoldEnding>,
    /// By transaction id.
    hold_ending_index: HashMap<String, usize>,
    /// How many upcoming transfer/refund calls fail as if the provider were down.
    fail_next: usize,
    transfer_calls: usize,
    refund_calls: usize,
    /// Where decisions are written before they are answered (local gateway); `None`: memory.
    journal: Option<Journal>,
}

impl Network {
    /// A network that remembers what `path` holds and writes every new decision there.
    pub(crate) fn open(path: &Path) -> std::io::Result<Network> {
        let (journal, restored) = Journal::open(path)?;
        let mut network = Network::default();
        for entry in restored {
            match entry {
                Restored::Transfer(t) => {
                    network
                        .transfer_index
                        .insert(t.idempotency_key.clone(), network.transfers.len());
                    network.transfers.push(t);
                }
                Restored::Refund(r) => {
                    network
                        .refund_index
                        .insert(r.idempotency_key.clone(), network.refunds.len());
                    network.refunds.push(r);
                }
                Restored::InfractionOpened(i) => network.remember_infraction(i),
                Restored::InfractionDecided(d) => network.remember_decision(d),
                Restored::HoldEnded(h) => network.remember_hold_ending(h),
            }
        }
        network.journal = Some(journal);
        Ok(network)
    }

    /// Writes a decision before it is answered: an answer the network could forget would let
    /// a retry with the same key move money twice.
    fn persist(&mut self, entry: JournalEntry) -> Result<(), ProviderError> {
        match &mut self.journal {
            None => Ok(()),
            Some(journal) => journal.append(&entry).map_err(|e| {
                ProviderError::Unavailable(format!("sandbox network cannot record: {e}"))
            }),
        }
    }

    pub(crate) fn fail_next_calls(&mut self, n: usize) {
        self.fail_next = n;
    }

    pub(crate) fn transfers(&self) -> Vec<SandboxTransfer> {
        self.transfers.clone()
    }

    pub(crate) fn transfer(&self, idempotency_key: &str) -> Option<&SandboxTransfer> {
        self.transfer_index
            .get(idempotency_key)
            .and_then(|&i| self.transfers.get(i))
    }

    pub(crate) fn transfer_calls(&self) -> usize {
        self.transfer_calls
    }

    pub(crate) fn refunds(&self) -> Vec<SandboxRefund> {
        self.refunds.clone()
    }

    pub(crate) fn refund_calls(&self) -> usize {
        self.refund_calls
    }

    pub(crate) fn infractions(&self) -> Vec<SandboxOpenedInfraction> {
        self.infractions.clone()
    }

    pub(crate) fn infraction(&self, infraction_id: &str) -> Option<&SandboxOpenedInfraction> {
        self.infraction_index
            .get(infraction_id)
            .and_then(|&i| self.infractions.get(i))
    }

    pub(crate) fn infraction_decisions(&self) -> Vec<SandboxInfractionDecision> {
        self.decisions.clone()
    }

    fn decision(&self, infraction_id: &str) -> Option<&SandboxInfractionDecision> {
        self.decision_index
            .get(infraction_id)
            .and_then(|&i| self.decisions.get(i))
    }

    /// Keeps an infraction (ids are fresh uuids; a repeated one from a journal keeps the
    /// first).
    fn remember_infraction(&mut self, infraction: SandboxOpenedInfraction) {
        if self
            .infraction_index
            .contains_key(&infraction.infraction_id)
        {
            return;
        }
        self.infraction_index
            .insert(infraction.infraction_id.clone(), self.infractions.len());
        self.infractions.push(infraction);
    }

    /// Keeps a decision unless the infraction has one already (the first decision is final).
    fn remember_decision(&mut self, decision: SandboxInfractionDecision) {
        if self.decision_index.contains_key(&decision.infraction_id) {
            return;
        }
        self.decision_index
            .insert(decision.infraction_id.clone(), self.decisions.len());
        self.decisions.push(decision);
    }

    /// Writes an infraction or a decision to the journal. Unlike a transfer's, a failure here
    /// does not stop the answer (the webhook is already valid and moves no money): it only
    /// means a restarted gateway will not remember this one, so it is logged.
    fn persist_or_log(&mut self, entry: JournalEntry, what: &str, infraction_id: &str) {
        if let Err(error) = self.persist(entry) {
            tracing::error!(%error, infraction_id, "sandbox network cannot journal {what}");
        }
    }

    pub(crate) fn open_infraction(&mut self, infraction: SandboxOpenedInfraction) {
        let infraction_id = infraction.infraction_id.clone();
        self.persist_or_log(
            JournalEntry::infraction_opened(&infraction),
            "an opened infraction",
            &infraction_id,
        );
        self.remember_infraction(infraction);
    }

    /// The decision of `infraction_id`: the recorded one if it was decided before (whatever
    /// is asked now), else a new one decided `outcome` at `now`. A lost infraction's devolução
    /// gets a fresh `D…` id issued by `ispb`, as a refund's does.
    pub(crate) fn decide_infraction(
        &mut self,
        infraction_id: &str,
        transaction_id: &TransactionId,
        outcome: DisputeOutcome,
        ispb: &Ispb,
        now: DateTime<Utc>,
    ) -> SandboxInfractionDecision {
        if let Some(first) = self.decision(infraction_id) {
            if first.outcome != outcome || &first.transaction_id != transaction_id {
                tracing::warn!(
                    infraction_id,
                    "sandbox infraction decided again differently: the first decision stands"
                );
            }
            return first.clone();
        }
        if let Some(opened) = self.infraction(infraction_id)
            && &opened.transaction_id != transaction_id
        {
            tracing::warn!(
                infraction_id,
                "sandbox infraction decided for another transaction than it was opened on"
            );
        }
        let decision = SandboxInfractionDecision {
            event_id: format!("evt_{}", Uuid::new_v4().simple()),
            infraction_id: infraction_id.to_owned(),
            transaction_id: transaction_id.clone(),
            outcome,
            end_to_end_id: match outcome {
                DisputeOutcome::Won => None,
                // The devolução is initiated by the receiving PSP (the sandbox), like a
                // refund's.
                DisputeOutcome::Lost => {
                    Some(EndToEndId::generate(EndToEndKind::Devolution, ispb, now))
                }
            },
            decided_at: now,
        };
        self.persist_or_log(
            JournalEntry::infraction_decided(&decision),
            "an infraction's decision",
            infraction_id,
        );
        self.remember_decision(decision.clone());
        decision
    }

    pub(crate) fn hold_endings(&self) -> Vec<SandboxHoldEnding> {
        self.hold_endings.clone()
    }

    fn hold_ending(&self, transaction_id: &TransactionId) -> Option<&SandboxHoldEnding> {
        self.hold_ending_index
            .get(transaction_id.as_str())
            .and_then(|&i| self.hold_endings.get(i))
    }

    /// Keeps a hold's ending unless the transaction's hold ended already (the first stands).
    fn remember_hold_ending(&mut self, ending: SandboxHoldEnding) {
        let key = ending.transaction_id.as_str().to_owned();
        if self.hold_ending_index.contains_key(&key) {
            return;
        }
        self.hold_ending_index.insert(key, self.hold_endings.len());
        self.hold_endings.push(ending);
    }

    /// How `transaction_id`'s hold ended: the recorded ending if it ended before (whatever is
    /// asked now; a different ask is logged), else a new one as `asked` at `now`. A return
    /// (nature `MED_FRAUDE`: a hold is kept for suspected fraud) gets a fresh `D…` id issued by
    /// `ispb`, as a refund's does.
    pub(crate) fn end_hold(
        &mut self,
        transaction_id: &TransactionId,
        asked: HoldEnd,
        ispb: &Ispb,
        now: DateTime<Utc>,
    ) -> SandboxHoldEnding {
        if let Some(first) = self.hold_ending(transaction_id) {
            if !first.outcome.is(asked) {
                tracing::warn!(
                    transaction_id = %transaction_id,
                    asked = ?asked,
                    "sandbox hold ended again differently: the first ending stands"
                );
            }
            return first.clone();
        }
        let outcome = match asked {
            HoldEnd::Release => SandboxHoldOutcome::Released,
            // The devolução is initiated by the receiving PSP (the sandbox), like a refund's.
            HoldEnd::Return => SandboxHoldOutcome::Returned {
                nature: DevolutionNature::MedFraud,
                end_to_end_id: EndToEndId::generate(EndToEndKind::Devolution, ispb, now),
            },
        };
        let ending = SandboxHoldEnding {
            event_id: format!("evt_{}", Uuid::new_v4().simple()),
            transaction_id: transaction_id.clone(),
            outcome,
            ended_at: now,
        };
        if let Err(error) = self.persist(JournalEntry::hold_ended(&ending)) {
            tracing::error!(
                %error,
                transaction_id = %transaction_id,
                "sandbox network cannot journal a hold's ending"
            );
        }
        self.remember_hold_ending(ending.clone());
        ending
    }

    /// An injected outage: checked before anything else so the failed call leaves no trace
    /// (exactly what "unavailable, retry with the same key" promises the caller).
    fn injected_failure(&mut self) -> Result<(), ProviderError> {
        if self.fail_next == 0 {
            return Ok(());
        }
        self.fail_next -= 1;
        Err(ProviderError::Unavailable(
            "sandbox: injected provider outage (fail_next_calls)".to_owned(),
        ))
    }

    pub(crate) fn execute_transfer(
        &mut self,
        request: &TransferRequest,
        ispb: &Ispb,
        now: DateTime<Utc>,
    ) -> Result<TransferOutcome, ProviderError> {
        self.transfer_calls += 1;
        self.injected_failure()?;

        if let Some(first) = self.transfer(&request.idempotency_key) {
            if first.amount != request.amount || first.destination != request.destination {
                return Err(ProviderError::rejected(format!(
                    "idempotency key {:?} was already used for a different transfer",
                    request.idempotency_key
                )));
            }
            return Ok(first.outcome.clone());
        }

        // Requests a real PSP would answer with a 400: nothing is created, so nothing is
        // recorded, and the key stays free.
        check_key(&request.idempotency_key)?;
        check_amount(request.amount)?;

        let provider_transfer_id = format!("sbx_tr_{}", Uuid::new_v4().simple());
        let outcome = if is_rejected_destination(&request.destination) {
            TransferOutcome::Failed {
                provider_transfer_id: Some(provider_transfer_id),
                reason: REJECTED_KEY_REASON.to_owned(),
            }
        } else {
            TransferOutcome::Completed {
                provider_transfer_id,
                // We are the paying PSP, so the id carries our ISPB.
                end_to_end_id: EndToEndId::generate(EndToEndKind::Payment, ispb, now),
                settled_at: now,
            }
        };
        let transfer = SandboxTransfer {
            idempotency_key: request.idempotency_key.clone(),
            amount: request.amount,
            destination: request.destination.clone(),
            outcome: outcome.clone(),
        };
        self.persist(JournalEntry::transfer(&transfer))?;
        self.transfer_index
            .insert(request.idempotency_key.clone(), self.transfers.len());
        self.transfers.push(transfer);
        Ok(outcome)
    }

    pub(crate) fn execute_refund(
        &mut self,
        request: &RefundRequest,
        ispb: &Ispb,
        now: DateTime<Utc>,
    ) -> Result<RefundOutcome, ProviderError> {
        self.refund_calls += 1;
        self.injected_failure()?;

        let first = self
            .refund_index
            .get(&request.idempotency_key)
            .and_then(|&i| self.refunds.get(i));
        if let Some(first) = first {
            if first.amount != request.amount
                || first.original_end_to_end_id != request.end_to_end_id
            {
                return Err(ProviderError::rejected(format!(
                    "idempotency key {:?} was already used for a different refund",
                    request.idempotency_key
                )));
            }
            return Ok(first.outcome.clone());
        }

        check_key(&request.idempotency_key)?;
        check_amount(request.amount)?;
        if request.end_to_end_id.kind() != EndToEndKind::Payment {
            return Err(ProviderError::rejected(
                "only a payment (E…) can be refunded, not a devolution (D…)".to_owned(),
            ));
        }

        // Like a PIX key containing `reject` for transfers, a devolução whose description
        // contains `reject` is refused by the payer's bank: the refusal path, on demand.
        let outcome = if request
            .description
            .to_ascii_lowercase()
            .contains(REFUSE_MARKER)
        {
            RefundOutcome::Failed {
                reason: "the payer's bank refused the devolution (sandbox: the description \
                         contains \"reject\")"
                    .to_owned(),
            }
        } else {
            RefundOutcome::Completed {
                provider_refund_id: format!("sbx_rf_{}", Uuid::new_v4().simple()),
                // The devolution is initiated by the receiving PSP (the sandbox), so it carries
                // our ISPB, like the original payment's id carried the payer's.
                end_to_end_id: EndToEndId::generate(EndToEndKind::Devolution, ispb, now),
                settled_at: now,
            }
        };
        let refund = SandboxRefund {
            idempotency_key: request.idempotency_key.clone(),
            amount: request.amount,
            original_end_to_end_id: request.end_to_end_id.clone(),
            outcome: outcome.clone(),
        };
        self.persist(JournalEntry::refund(&refund))?;
        self.refund_index
            .insert(request.idempotency_key.clone(), self.refunds.len());
        self.refunds.push(refund);
        Ok(outcome)
    }
}

/// What in a devolução's description makes the sandbox refuse it.
const REFUSE_MARKER: &str = "reject";

fn check_key(idempotency_key: &str) -> Result<(), ProviderError> {
    if idempotency_key.trim().is_empty() {
        return Err(ProviderError::rejected(
            "idempotency key must not be empty".to_owned(),
        ));
    }
    Ok(())
}

fn check_amount(amount: Money) -> Result<(), ProviderError> {
    if amount.cents() <= 0 || amount.cents() > MAX_AMOUNT_CENTS {
        return Err(ProviderError::rejected(format!(
            "amount {amount} must be positive and at most the maximum"
        )));
    }
    Ok(())
}

/// The sandbox's whole DICT: every PIX key exists except those containing `reject` in any case.
fn is_rejected_destination(destination: &TransferDestination) -> bool {
    match destination {
        TransferDestination::PixKey { key, .. } => key.to_ascii_lowercase().contains(REJECT_MARKER),
        // Account data is not looked up in the DICT; the sandbox accepts any account.
        TransferDestination::BankAccount { .. } => false,
    }
}
