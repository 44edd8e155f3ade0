//! Executes payouts (queue `payout-requests`): one PIX transfer per payout.
//!
//! Exactly-once money movement rests on two things: the provider call carries the payout id as
//! its idempotency key (so a redelivery, or a crash after the transfer but before we stored
//! its outcome, gets the first transfer's outcome back instead of a second transfer), and the
//! outcome is stored with one conditional write that only a PROCESSING payout accepts.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::{info, warn};

use crate::error::{DomainError, ProviderError, StoreError};
use crate::ledger::{Bucket, LedgerAccount, Movement, MovementKind};
use crate::outbox::PipelineMessage;
use crate::payout::{Payout, PayoutId, PayoutState, SplitEntry, SplitState};
use crate::pipeline::consumer::{HandlerError, MessageHandler};
use crate::ports::{Clock, DynStore, PixProvider};
use crate::provider::{TransferDestination, TransferOutcome, TransferRequest};
use crate::settlement::{SettlePayout, WriteOutcome};

#[derive(Clone)]
pub struct PayoutExecutor {
    store: DynStore,
    provider: Arc<dyn PixProvider>,
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
    pub fn new(store: DynStore, provider: Arc<dyn PixProvider>, clock: Arc<dyn Clock>) -> Self {
        PayoutExecutor {
            store,
            provider,
            clock,
        }
    }

    pub async fn execute(&self, id: &PayoutId) -> Result<ExecutionResult, DomainError> {
        let payout = self
            .store
            .get_payout(id)
            .await?
            .ok_or(DomainError::NotFound("payout"))?;
        if payout.state != PayoutState::Processing {
            return Ok(ExecutionResult::AlreadySettled);
        }
        let outcome = match self.provider.transfer(&transfer_request(&payout)).await {
            Ok(outcome) => outcome,
            // Refused outright: no money moved, the payout failed.
            Err(ProviderError::Rejected(reason)) => TransferOutcome::Failed {
                provider_transfer_id: None,
                reason,
            },
            // Unknown outcome: retry with the same key (the queue redelivers).
            Err(e @ ProviderError::Unavailable(_)) => return Err(e.into()),
        };
        self.settle(payout, outcome).await
    }

    /// Records a transfer outcome the provider reported by webhook.
    pub async fn settle_by_idempotency_key(
        &self,
        key: &str,
        outcome: TransferOutcome,
    ) -> Result<ExecutionResult, DomainError> {
        let Some(id) = PayoutId::parse(key) else {
            return Err(DomainError::NotFound("payout"));
        };
        let payout = self
            .store
            .get_payout(&id)
            .await?
            .ok_or(DomainError::NotFound("payout"))?;
        self.settle(payout, outcome).await
    }

    async fn settle(
        &self,
        payout: Payout,
        outcome: TransferOutcome,
    ) -> Result<ExecutionResult, DomainError> {
        if payout.state != PayoutState::Processing {
            return Ok(ExecutionResult::AlreadySettled);
        }
        let now = crate::service::truncate_to_millis(self.clock.now());
        let (state, result) = match &outcome {
            TransferOutcome::Completed { .. } => (PayoutState::Paid, ExecutionResult::Paid),
            TransferOutcome::Failed { .. } => (PayoutState::Failed, ExecutionResult::Failed),
            TransferOutcome::Pending {
                provider_transfer_id,
            } => {
                info!(payout_id = %payout.id, provider_transfer_id, "transfer pending at the provider");
                return Ok(ExecutionResult::AwaitingProvider);
            }
        };
        let write = settlement(&self.store, payout, state, &outcome, now).await?;
        match self.store.settle_payout(&write).await? {
            WriteOutcome::Applied => {
                info!(payout_id = %write.payout.id, state = state.as_str(), "payout settled");
                Ok(result)
            }
            WriteOutcome::Conflict => {
                warn!(payout_id = %write.payout.id, "payout was settled concurrently");
                Ok(ExecutionResult::AlreadySettled)
            }
        }
    }
}

/// The PIX transfer that executes `payout`. Its idempotency key is the payout id, so every
/// attempt for the same payout — after a redelivery or a crash — is the same transfer.
pub fn transfer_request(payout: &Payout) -> TransferRequest {
    TransferRequest {
        idempotency_key: payout.id.to_string(),
        amount: payout.amount,
        destination: TransferDestination::PixKey {
            key: payout.recipient.pix_key.clone(),
            key_type: payout.recipient.pix_key_type,
        },
        recipient_name: payout.recipient.name.clone(),
        recipient_document: payout.recipient.document.clone(),
        description: format!("Split payout {}", payout.id),
    }
}

/// The settled payout, its splits, and the ledger movement, as one write.
async fn settlement(
    store: &DynStore,
    payout: Payout,
    state: PayoutState,
    outcome: &TransferOutcome,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<SettlePayout, DomainError> {
    let (e2e, transfer_id, reason) = match outcome {
        TransferOutcome::Completed {
            provider_transfer_id,
            end_to_end_id,
            ..
        } => (
            Some(end_to_end_id.clone()),
            Some(provider_transfer_id.clone()),
            None,
        ),
        TransferOutcome::Failed {
            provider_transfer_id,
            reason,
        } => (None, provider_transfer_id.clone(), Some(reason.clone())),
        TransferOutcome::Pending { .. } => (None, None, None),
    };

    let mut splits: Vec<SplitEntry> = Vec::with_capacity(payout.splits.len());
    for key in &payout.splits {
        let entry = store
            .get_splits(&key.transaction_id)
            .await?
            .into_iter()
            .find(|s| s.index == key.index)
            .ok_or_else(|| {
                DomainError::Store(StoreError::Corrupt(format!(
                    "payout {} pays a missing split {}/{}",
                    payout.id, key.transaction_id, key.index
                )))
            })?;
        splits.push(SplitEntry {
            state: if state == PayoutState::Paid {
                SplitState::Paid
            } else {
                SplitState::Failed
            },
            end_to_end_id: e2e.clone(),
            failure_reason: reason.clone(),
            updated_at: now,
            ..entry
        });
    }

    let (kind, to) = match state {
        PayoutState::Paid => (MovementKind::PayoutPaid, LedgerAccount::PixNetwork),
        _ => (
            MovementKind::PayoutFailed,
            LedgerAccount::Merchant(payout.account_id.clone(), Bucket::Available),
        ),
    };
    let movement = Movement::transfer(
        kind,
        &payout.account_id,
        payout.id.as_str(),
        LedgerAccount::Merchant(payout.account_id.clone(), Bucket::ReservedForSplits),
        to,
        payout.amount,
        now,
    )
    .map_err(|e| DomainError::Store(StoreError::Corrupt(e.to_string())))?;

    Ok(SettlePayout {
        payout: Payout {
            state,
            end_to_end_id: e2e,
            provider_transfer_id: transfer_id,
            failure_reason: reason,
            updated_at: now,
            ..payout
        },
        splits,
        movement,
        outbox: Vec::new(),
    })
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
