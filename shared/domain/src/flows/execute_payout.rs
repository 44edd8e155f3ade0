//! Executes payouts (queue `payout-requests`): one PIX transfer per payout.
//!
//! Exactly-once money movement rests on two things: the provider call carries the payout id as
//! its idempotency key (so a redelivery, or a crash after the transfer but before we stored
//! its outcome, gets the first transfer's outcome back instead of a second transfer), and the
//! outcome is stored with one conditional write that only a PROCESSING payout accepts.
//!
//! Before the first transfer attempt, the payout's deductions (what it recovers of its
//! recipient's debt) are decided and stored, once; the transfer sends the rest, and a payout
//! netted to 0 is PAID without one.
//!
//! A scheduled payout may pay thousands of splits, more than one write can hold: its own
//! write settles the payout and the money, then its manifest's splits are settled in chunks
//! (see [`super::payout_settlement`] for the rules), resumably.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tracing::{info, warn};

use crate::account::ports::AccountStore;
use crate::charge::ports::ChargeStore;
use crate::error::WriteOutcome;
use crate::error::{DomainError, ProviderError, StoreError};
use crate::flows::create_charge::truncate_to_millis;
use crate::flows::settle::{FinalOutcome, settle_chunk, settle_payout};
use crate::flows::write_off_debts::{WriteOffPorts, write_off_failed_splits};
use crate::ledger::ports::LedgerStore;
use crate::messaging::consumer::{HandlerError, MessageHandler};
use crate::messaging::outbox::PipelineMessage;
use crate::payout::ports::{DecideNetting, PayoutStore};
use crate::payout::{Payout, PayoutId, PayoutState, SplitRef};
use crate::pix::clock::Clock;
use crate::pix::ids::{RecipientId, TransactionId};
use crate::provider::directory::ProviderDirectory;
use crate::provider::{TransferOutcome, TransferRequest};
use crate::recipient::ports::RecipientStore;
use crate::split::entry::{SplitEntry, SplitState};
use crate::split::ports::SplitStore;

/// The storage ports [`PayoutExecutor`] uses, and nothing more.
#[derive(Clone)]
pub struct PayoutExecutorPorts {
    pub splits: Arc<dyn SplitStore>,
    pub payouts: Arc<dyn PayoutStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub recipients: Arc<dyn RecipientStore>,
    /// For the write-off of a failed payout's debts ([`write_off_failed_splits`]).
    pub charges: Arc<dyn ChargeStore>,
    pub ledger: Arc<dyn LedgerStore>,
}

#[derive(Clone)]
pub struct PayoutExecutor {
    store: PayoutExecutorPorts,
    providers: Arc<ProviderDirectory>,
    clock: Arc<dyn Clock>,
}

/// What executing a payout did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionResult {
    Paid,
    Failed,
    /// The provider will report the outcome by webhook.
    AwaitingProvider,
    /// Settled before (a redelivery): nothing changed.
    AlreadySettled,
}

impl PayoutExecutor {
    pub fn new(
        store: PayoutExecutorPorts,
        providers: Arc<ProviderDirectory>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        PayoutExecutor {
            store,
            providers,
            clock,
        }
    }

    pub async fn execute(&self, id: &PayoutId) -> Result<ExecutionResult, DomainError> {
        let payout = self
            .store
            .payouts
            .get_payout(id)
            .await?
            .ok_or(DomainError::NotFound("payout"))?;
        match payout.state {
            PayoutState::Processing => {}
            // Released only once assembled, so a request for it cannot be delivered yet;
            // let the queue bring it back.
            PayoutState::Assembling => {
                return Err(
                    StoreError::Unavailable(format!("payout {id} is still assembling")).into(),
                );
            }
            PayoutState::Paid | PayoutState::Failed => {
                self.finish_settlement(&payout).await?;
                return Ok(ExecutionResult::AlreadySettled);
            }
        }
        let payout = match self.decide_netting(payout).await? {
            Some(payout) => payout,
            None => return Ok(ExecutionResult::AlreadySettled),
        };
        if payout.net_amount().cents() == 0 {
            // Its deductions recover all of it: PAID without a transfer.
            let nothing_sent = FinalOutcome {
                state: PayoutState::Paid,
                end_to_end_id: None,
                provider_transfer_id: None,
                failure_reason: None,
            };
            return self.settle_final(payout, nothing_sent).await;
        }
        // The account's transfer provider, resolved afresh: payouts are not pinned to one (see
        // `provider_directory` on changing an account's providers while payouts are in flight).
        let provider = self
            .providers
            .transfer_provider_of(self.store.accounts.as_ref(), &payout.account_id)
            .await?;
        let outcome = match provider.transfer(&transfer_request(&payout)).await {
            Ok(outcome) => outcome,
            // Refused outright: no money moved, the payout failed.
            Err(ProviderError::Rejected(rejection)) => TransferOutcome::Failed {
                provider_transfer_id: None,
                reason: rejection.to_string(),
            },
            // Unknown outcome: retry with the same key (the queue redelivers).
            Err(e @ ProviderError::Unavailable(_)) => return Err(e.into()),
        };
        self.settle(payout, outcome).await
    }

    /// Records a transfer outcome `provider` reported by webhook (key = payout id). Only the
    /// provider holding the payout's transfer can settle it: to any other, the payout does
    /// not exist, and nothing (not even a resumed manifest) is written. A payout is not pinned
    /// to a provider; its transfer goes to the account's transfer provider, the one
    /// [`PayoutExecutor::execute`] resolves, so that is the holder (operators change it only
    /// while no payout is PROCESSING, see `provider_directory`).
    pub async fn settle_reported(
        &self,
        provider: &str,
        key: &str,
        outcome: TransferOutcome,
    ) -> Result<ExecutionResult, DomainError> {
        let Some(id) = PayoutId::parse(key) else {
            return Err(DomainError::NotFound("payout"));
        };
        let payout = self
            .store
            .payouts
            .get_payout(&id)
            .await?
            .ok_or(DomainError::NotFound("payout"))?;
        let holder = self
            .providers
            .transfer_provider_of(self.store.accounts.as_ref(), &payout.account_id)
            .await?;
        if holder.name() != provider {
            warn!(payout_id = %id, holder = holder.name(), reporter = provider, "transfer report from a provider that does not hold the payout");
            return Err(DomainError::NotFound("payout"));
        }
        self.settle(payout, outcome).await
    }

    /// Takes what the payout recovers of its recipient's debt off the recipient's queue, once,
    /// before the first transfer attempt (see [`crate::recipient`]); the payout as it then
    /// stands, or `None` when it is no longer PROCESSING (settled by a concurrent delivery).
    async fn decide_netting(&self, mut payout: Payout) -> Result<Option<Payout>, DomainError> {
        let recipient_id = RecipientId::derive(&payout.account_id, payout.recipient.grouping_key());
        for _ in 0..CHUNK_ATTEMPTS {
            if payout.state != PayoutState::Processing {
                return Ok(None);
            }
            if payout.deductions.is_some() {
                return Ok(Some(payout));
            }
            let owing = self
                .store
                .recipients
                .get_recipient(&payout.account_id, &recipient_id)
                .await?
                .filter(|r| r.debt.cents() > 0);
            let (taken, recipient) = match owing {
                Some(r) => {
                    let (taken, after) = r.take(payout.amount);
                    (taken, Some(after))
                }
                None => (Vec::new(), None),
            };
            let decided = Payout {
                deductions: Some(taken),
                ..payout.clone()
            };
            let write = DecideNetting {
                payout: decided.clone(),
                recipient,
            };
            if self.store.payouts.decide_netting(&write).await? == WriteOutcome::Applied {
                if decided.deducted().cents() > 0 {
                    info!(payout_id = %decided.id, deducted = %decided.deducted(), "recipient debt netted");
                }
                return Ok(Some(decided));
            }
            // A concurrent delivery decided first, or a refund grew the debt meanwhile.
            payout = self
                .store
                .payouts
                .get_payout(&payout.id)
                .await?
                .ok_or(DomainError::NotFound("payout"))?;
        }
        Err(StoreError::Unavailable(format!(
            "the deductions of payout {} keep changing under it",
            payout.id
        ))
        .into())
    }

    async fn settle(
        &self,
        payout: Payout,
        outcome: TransferOutcome,
    ) -> Result<ExecutionResult, DomainError> {
        if payout.state != PayoutState::Processing {
            self.finish_settlement(&payout).await?;
            return Ok(ExecutionResult::AlreadySettled);
        }
        let Some(outcome) = FinalOutcome::of(&outcome) else {
            info!(payout_id = %payout.id, "transfer pending at the provider");
            return Ok(ExecutionResult::AwaitingProvider);
        };
        self.settle_final(payout, outcome).await
    }

    async fn settle_final(
        &self,
        payout: Payout,
        outcome: FinalOutcome,
    ) -> Result<ExecutionResult, DomainError> {
        let now = truncate_to_millis(self.clock.now());
        let inline = self.inline_splits(&payout).await?;
        let write = settle_payout(payout, inline, &outcome, now)?;
        let result = match outcome.state {
            PayoutState::Paid => ExecutionResult::Paid,
            _ => ExecutionResult::Failed,
        };
        let settled = match self.store.payouts.settle_payout(&write).await? {
            WriteOutcome::Applied => {
                info!(payout_id = %write.payout.id, state = outcome.state.as_str(), "payout settled");
                write.payout
            }
            WriteOutcome::Conflict => {
                warn!(payout_id = %write.payout.id, "payout was settled concurrently");
                let stored = self.store.payouts.get_payout(&write.payout.id).await?;
                if let Some(stored) = stored {
                    self.finish_settlement(&stored).await?;
                }
                return Ok(ExecutionResult::AlreadySettled);
            }
        };
        self.finish_settlement(&settled).await?;
        Ok(result)
    }

    /// An immediate payout's splits (inline in the payout), as stored.
    async fn inline_splits(&self, payout: &Payout) -> Result<Vec<SplitEntry>, DomainError> {
        let mut splits = Vec::with_capacity(payout.splits.len());
        for key in &payout.splits {
            let entry = self
                .store
                .splits
                .get_splits(&key.transaction_id)
                .await?
                .into_iter()
                .find(|s| s.index == key.index)
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "payout {} pays a missing split {}/{}",
                        payout.id, key.transaction_id, key.index
                    ))
                })?;
            splits.push(entry);
        }
        Ok(splits)
    }

    /// What follows a payout's own settlement, resumed by every redelivery: its manifest's
    /// splits settled ([`Self::settle_manifest`]) and, FAILED, the debts of the splits it
    /// failed for good written off ([`write_off_failed_splits`]).
    async fn finish_settlement(&self, payout: &Payout) -> Result<(), DomainError> {
        self.settle_manifest(payout).await?;
        let ports = WriteOffPorts {
            payouts: self.store.payouts.clone(),
            splits: self.store.splits.clone(),
            charges: self.store.charges.clone(),
            recipients: self.store.recipients.clone(),
            ledger: self.store.ledger.clone(),
        };
        let now = truncate_to_millis(self.clock.now());
        write_off_failed_splits(&ports, payout, now).await
    }

    /// Writes the final state of a settled scheduled payout's splits, chunk by chunk, reading
    /// its manifest a page at a time. Resumable: a split already settled is no longer
    /// PROCESSING in this payout and is skipped, so a redelivery (or a crash midway) continues
    /// where the last run stopped.
    async fn settle_manifest(&self, payout: &Payout) -> Result<(), DomainError> {
        if payout.unsettled_splits == 0 || payout.state == PayoutState::Processing {
            return Ok(());
        }
        let mut after: Option<SplitRef> = None;
        loop {
            let (refs, next) = self
                .store
                .payouts
                .payout_splits_page(
                    &payout.id,
                    after.as_ref(),
                    self.store.payouts.max_splits_per_settle(),
                )
                .await?;
            self.settle_refs(payout, &refs).await?;
            match next {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }

    async fn settle_refs(&self, payout: &Payout, refs: &[SplitRef]) -> Result<(), DomainError> {
        for _ in 0..CHUNK_ATTEMPTS {
            let pending = self.pending_splits(payout, refs).await?;
            if pending.is_empty() {
                return Ok(());
            }
            let now = truncate_to_millis(self.clock.now());
            let write = settle_chunk(payout, pending, now)?;
            if self.store.payouts.settle_payout_splits(&write).await? == WriteOutcome::Applied {
                return Ok(());
            }
            // Another executor (a redelivery running alongside) settled some of them: re-read.
        }
        Err(StoreError::Unavailable(format!(
            "splits of payout {} keep changing under its settlement",
            payout.id
        ))
        .into())
    }

    /// Those of `refs` still PROCESSING in `payout`, as stored.
    async fn pending_splits(
        &self,
        payout: &Payout,
        refs: &[SplitRef],
    ) -> Result<Vec<SplitEntry>, DomainError> {
        let mut by_charge: BTreeMap<&TransactionId, Vec<u8>> = BTreeMap::new();
        for r in refs {
            by_charge
                .entry(&r.transaction_id)
                .or_default()
                .push(r.index);
        }
        let mut pending = Vec::with_capacity(refs.len());
        for (charge, indexes) in by_charge {
            pending.extend(
                self.store
                    .splits
                    .get_splits(charge)
                    .await?
                    .into_iter()
                    .filter(|s| {
                        indexes.contains(&s.index)
                            && s.state == SplitState::Processing
                            && s.payout_id.as_ref() == Some(&payout.id)
                    }),
            );
        }
        Ok(pending)
    }
}

/// Re-reads of a manifest chunk whose write conflicted before the attempt is left to a
/// redelivery.
const CHUNK_ATTEMPTS: usize = 3;

/// The PIX transfer that executes `payout`: its net amount (decided before the first attempt).
/// Its idempotency key is the payout id, so every attempt for the same payout — after a
/// redelivery or a crash — is the same transfer.
pub fn transfer_request(payout: &Payout) -> TransferRequest {
    TransferRequest {
        idempotency_key: payout.id.to_string(),
        amount: payout.net_amount(),
        destination: payout.recipient.transfer_destination(),
        recipient_name: Some(payout.recipient.name.clone()),
        recipient_document: Some(payout.recipient.document.clone()),
        description: format!("Split payout {}", payout.id),
    }
}

#[async_trait]
impl MessageHandler for PayoutExecutor {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        match PipelineMessage::parse(body) {
            Ok(PipelineMessage::PayoutRequested { payout_id, .. }) => {
                self.execute(&payout_id).await?;
                Ok(())
            }
            Ok(other) => Err(HandlerError::Poison(format!(
                "unexpected message on payout-requests: {other:?}"
            ))),
            Err(e) => Err(HandlerError::Poison(format!("unreadable message: {e}"))),
        }
    }
}
