//! Cash-out use cases: request (the money leaves `available` in the same write that creates
//! the cash-out, conditioned per balance shard so concurrent cash-outs can never together
//! spend more than there is), execute (the provider transfer, keyed by the cash-out id) and
//! settle (COMPLETED, or FAILED with the money back).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::account::ports::AccountStore;
use crate::cash_out::ports::CashOutStore;
use crate::cash_out::ports::{CashOutPage, CashOutQuery};
use crate::cash_out::ports::{RequestCashOut, UpdateCashOut};
use crate::cash_out::view::CashOutView;
use crate::cash_out::{CashOut, CashOutDestination, CashOutId, CashOutState};
use crate::error::WriteOutcome;
use crate::error::{DomainError, ProviderError, StoreError};
use crate::flows::create_charge::truncate_to_millis;
use crate::idempotency::{IdempotencyClaim, IdempotencyCompletion, StoredResponse};
use crate::ledger::ports::LedgerStore;
use crate::ledger::ports::MoneyOutOutcome;
use crate::ledger::{AvailableDraw, Bucket, LedgerAccount, Movement, MovementKind};
use crate::messaging::events::{AccountEvent, EventType};
use crate::messaging::outbox::PipelineMessage;
use crate::pix::clock::Clock;
use crate::pix::ids::AccountId;
use crate::pix::money::Money;
use crate::provider::directory::ProviderDirectory;
use crate::provider::{TransferDestination, TransferOutcome, TransferRequest};

/// Plans of a cash-out's debit tried before the caller is told to retry (each failed one lost
/// a race for a balance shard to another debit).
const PLAN_ATTEMPTS: usize = 5;

/// A validated cash-out request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashOutInput {
    pub external_id: String,
    pub amount: Money,
    pub description: String,
    pub destination: CashOutDestination,
}

/// The storage ports [`CashOutService`] uses, and nothing more.
#[derive(Clone)]
pub struct CashOutServicePorts {
    pub ledger: Arc<dyn LedgerStore>,
    pub cash_outs: Arc<dyn CashOutStore>,
    pub accounts: Arc<dyn AccountStore>,
}

#[derive(Clone)]
pub struct CashOutService {
    store: CashOutServicePorts,
    providers: Arc<ProviderDirectory>,
    clock: Arc<dyn Clock>,
}

impl CashOutService {
    pub fn new(
        store: CashOutServicePorts,
        providers: Arc<ProviderDirectory>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        CashOutService {
            store,
            providers,
            clock,
        }
    }

    /// Creates the cash-out (PROCESSING) and debits `available`; the transfer follows through
    /// the `payout-requests` queue. `render` gives the response to remember under the
    /// idempotency claim, stored in the same write.
    pub async fn request(
        &self,
        account_id: &AccountId,
        input: CashOutInput,
        claim: Option<IdempotencyClaim>,
        render: &(dyn Fn(&CashOut) -> StoredResponse + Send + Sync),
    ) -> Result<CashOut, DomainError> {
        if self
            .store
            .cash_outs
            .find_cash_out_by_external_id(account_id, &input.external_id)
            .await?
            .is_some()
        {
            return Err(DomainError::DuplicateCashOutExternalId);
        }
        // Recorded on the cash-out: its transfer is retried at this provider only.
        let provider = self
            .providers
            .transfer_provider_of(self.store.accounts.as_ref(), account_id)
            .await?;
        let now = truncate_to_millis(self.clock.now());
        let cash_out = CashOut {
            id: CashOutId::generate(),
            account_id: account_id.clone(),
            external_id: input.external_id,
            amount: input.amount,
            description: input.description,
            destination: input.destination,
            state: CashOutState::Processing,
            end_to_end_id: None,
            provider: provider.name().to_owned(),
            provider_transfer_id: None,
            failure_reason: None,
            created_at: now,
            updated_at: now,
        };
        let movement = Movement::transfer(
            MovementKind::CashoutRequested,
            account_id,
            cash_out.id.as_str(),
            LedgerAccount::Merchant(account_id.clone(), Bucket::Available),
            LedgerAccount::PixNetwork,
            cash_out.amount,
            now,
        )
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let message = PipelineMessage::CashOutRequested {
            cash_out_id: cash_out.id.clone(),
            account_id: account_id.clone(),
        };
        let completion = claim.map(|claim| IdempotencyCompletion {
            claim,
            response: render(&cash_out),
        });
        for _ in 0..PLAN_ATTEMPTS {
            let shards = self.store.ledger.balance_shards(account_id).await?;
            let draw = AvailableDraw::plan(&shards, cash_out.amount).map_err(|e| {
                DomainError::InsufficientBalance {
                    available: e.available,
                    needed: e.needed,
                }
            })?;
            let write = RequestCashOut {
                cash_out: cash_out.clone(),
                movement: movement.clone(),
                draw,
                outbox: vec![message.to_outbox(now)],
                completion: completion.clone(),
            };
            match self.store.cash_outs.request_cash_out(&write).await? {
                MoneyOutOutcome::Applied => {
                    info!(cash_out_id = %cash_out.id, amount = %cash_out.amount, "cash-out requested");
                    return Ok(cash_out);
                }
                MoneyOutOutcome::BalanceChanged => {
                    warn!(cash_out_id = %cash_out.id, "balance changed under the cash-out; planning again");
                }
                MoneyOutOutcome::DuplicateExternalId => {
                    return Err(DomainError::DuplicateCashOutExternalId);
                }
                MoneyOutOutcome::ClaimLost => return Err(DomainError::IdempotencyKeyInUse),
                MoneyOutOutcome::Conflict => {
                    return Err(StoreError::Unavailable(format!(
                        "cash-out id {} collided",
                        cash_out.id
                    ))
                    .into());
                }
            }
        }
        Err(DomainError::ConcurrentUpdate)
    }

    /// One of the account's cash-outs; another account's is indistinguishable from none.
    pub async fn get(
        &self,
        account_id: &AccountId,
        id: &CashOutId,
    ) -> Result<CashOut, DomainError> {
        match self.store.cash_outs.get_cash_out(id).await? {
            Some(c) if &c.account_id == account_id => Ok(c),
            _ => Err(DomainError::NotFound("cash-out")),
        }
    }

    /// The account's cash-outs; with `external_id`, just that one (if any, and if it matches
    /// the query's filters).
    pub async fn list(
        &self,
        account_id: &AccountId,
        external_id: Option<&str>,
        query: &CashOutQuery,
    ) -> Result<CashOutPage, DomainError> {
        if let Some(external_id) = external_id {
            let items = self
                .store
                .cash_outs
                .find_cash_out_by_external_id(account_id, external_id)
                .await?
                .into_iter()
                .filter(|c| query.state.is_none_or(|s| s == c.state))
                .filter(|c| query.from.is_none_or(|from| c.created_at >= from))
                .filter(|c| query.to.is_none_or(|to| c.created_at < to))
                .collect();
            return Ok(CashOutPage { items, next: None });
        }
        Ok(self
            .store
            .cash_outs
            .list_cash_outs(account_id, query)
            .await?)
    }

    /// The queue's entry point (`CashOutRequested`): sends the transfer (a repeat gets the
    /// first transfer's outcome back: the key is the cash-out id) and records the outcome.
    pub async fn execute(&self, id: &CashOutId) -> Result<CashOut, DomainError> {
        let cash_out = self
            .store
            .cash_outs
            .get_cash_out(id)
            .await?
            .ok_or(DomainError::NotFound("cash-out"))?;
        // Accepted by the provider already (pending, with its id): the outcome comes by
        // webhook, and asking again would only repeat the acceptance.
        if cash_out.state != CashOutState::Processing || cash_out.provider_transfer_id.is_some() {
            return Ok(cash_out);
        }
        let provider = self
            .providers
            .named(&cash_out.provider)
            .ok_or(DomainError::UnknownProvider)?;
        let outcome = match provider.transfer(&transfer_request(&cash_out)).await {
            Ok(outcome) => outcome,
            Err(ProviderError::Rejected(rejection)) => TransferOutcome::Failed {
                provider_transfer_id: None,
                reason: rejection.to_string(),
            },
            Err(e @ ProviderError::Unavailable(_)) => return Err(e.into()),
        };
        self.record(cash_out, outcome).await
    }

    /// Records a transfer outcome `provider` reported by webhook (key = cash-out id). Only the
    /// provider the cash-out was sent through (recorded on it) can settle it: to any other,
    /// the cash-out does not exist. Otherwise a report from a provider that never moved the
    /// money could complete it, or — failed — give back money that did leave.
    pub async fn settle_reported(
        &self,
        provider: &str,
        key: &str,
        outcome: TransferOutcome,
    ) -> Result<CashOut, DomainError> {
        let id = CashOutId::parse(key).ok_or(DomainError::NotFound("cash-out"))?;
        let cash_out = match self.store.cash_outs.get_cash_out(&id).await? {
            Some(cash_out) if cash_out.provider == provider => cash_out,
            Some(cash_out) => {
                warn!(cash_out_id = %id, holder = %cash_out.provider, reporter = provider, "transfer report from a provider that does not hold the cash-out");
                return Err(DomainError::NotFound("cash-out"));
            }
            None => return Err(DomainError::NotFound("cash-out")),
        };
        self.record(cash_out, outcome).await
    }

    async fn record(
        &self,
        cash_out: CashOut,
        outcome: TransferOutcome,
    ) -> Result<CashOut, DomainError> {
        if cash_out.state != CashOutState::Processing {
            return Ok(cash_out);
        }
        let now = truncate_to_millis(self.clock.now());
        let write = match outcome {
            TransferOutcome::Pending {
                provider_transfer_id,
            } => {
                if cash_out.provider_transfer_id.as_ref() == Some(&provider_transfer_id) {
                    return Ok(cash_out);
                }
                UpdateCashOut {
                    cash_out: CashOut {
                        provider_transfer_id: Some(provider_transfer_id),
                        updated_at: now,
                        ..cash_out.clone()
                    },
                    from: CashOutState::Processing,
                    movement: None,
                    events: Vec::new(),
                }
            }
            TransferOutcome::Completed {
                provider_transfer_id,
                end_to_end_id,
                ..
            } => {
                let done = CashOut {
                    state: CashOutState::Completed,
                    end_to_end_id: Some(end_to_end_id),
                    provider_transfer_id: Some(provider_transfer_id),
                    updated_at: now,
                    ..cash_out.clone()
                };
                let event = cash_out_event(&done, EventType::CashoutCompleted, now);
                UpdateCashOut {
                    cash_out: done,
                    from: CashOutState::Processing,
                    movement: None,
                    events: vec![event],
                }
            }
            TransferOutcome::Failed {
                provider_transfer_id,
                reason,
            } => {
                let failed = CashOut {
                    state: CashOutState::Failed,
                    provider_transfer_id: provider_transfer_id
                        .or(cash_out.provider_transfer_id.clone()),
                    failure_reason: Some(reason),
                    updated_at: now,
                    ..cash_out.clone()
                };
                let movement = Movement::transfer(
                    MovementKind::CashoutReturned,
                    &cash_out.account_id,
                    cash_out.id.as_str(),
                    LedgerAccount::PixNetwork,
                    LedgerAccount::Merchant(cash_out.account_id.clone(), Bucket::Available),
                    cash_out.amount,
                    now,
                )
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let event = cash_out_event(&failed, EventType::CashoutFailed, now);
                UpdateCashOut {
                    cash_out: failed,
                    from: CashOutState::Processing,
                    movement: Some(movement),
                    events: vec![event],
                }
            }
        };
        match self.store.cash_outs.update_cash_out(&write).await? {
            WriteOutcome::Applied => {
                info!(cash_out_id = %write.cash_out.id, state = write.cash_out.state.as_str(), "cash-out updated");
                Ok(write.cash_out)
            }
            WriteOutcome::Conflict => self
                .store
                .cash_outs
                .get_cash_out(&cash_out.id)
                .await?
                .ok_or(DomainError::NotFound("cash-out")),
        }
    }
}

/// The PIX transfer of a cash-out; its idempotency key is the cash-out id.
pub fn transfer_request(cash_out: &CashOut) -> TransferRequest {
    let holder = cash_out.destination.holder();
    TransferRequest {
        idempotency_key: cash_out.id.to_string(),
        amount: cash_out.amount,
        destination: TransferDestination::from(&cash_out.destination),
        recipient_name: holder.map(|(name, _)| name.clone()),
        recipient_document: holder.map(|(_, document)| document.clone()),
        description: cash_out.description.clone(),
    }
}

fn cash_out_event(cash_out: &CashOut, event_type: EventType, at: DateTime<Utc>) -> AccountEvent {
    let data = serde_json::to_value(CashOutView::new(cash_out)).unwrap_or(serde_json::Value::Null);
    AccountEvent::new(
        &cash_out.account_id,
        event_type,
        cash_out.id.as_str(),
        at,
        data,
    )
}
