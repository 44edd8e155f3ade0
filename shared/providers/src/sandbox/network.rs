//! The sandbox's simulated PIX network: the money that left our account (transfers) and the
//! charges given back (refunds), remembered by idempotency key.
//!
//! Idempotency is the property the gateway's retry logic relies on, so the sandbox models it the
//! way a real PSP does: the first call with a key decides the outcome; every later call with that
//! key gets exactly that outcome back and moves no money. A later call that reuses the key for a
//! *different* movement (another amount or destination) is a caller bug, and is refused rather
//! than silently answered with an unrelated outcome.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use pixgw_domain::error::ProviderError;
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

/// Everything the simulated network remembers. Lives behind one `Arc<Mutex<..>>` shared by all
/// clones of the provider, so the gateway's handlers and a test's handle see the same network.
#[derive(Debug, Default)]
pub(crate) struct Network {
    /// In the order first seen, so tests can read them back chronologically.
    transfers: Vec<SandboxTransfer>,
    transfer_index: HashMap<String, usize>,
    refunds: Vec<SandboxRefund>,
    refund_index: HashMap<String, usize>,
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
