//! Refunds: a paid charge given back to its payer, in one or several devoluções (`D…`).
//!
//! A request names an amount (default: everything still refundable) and a liability (default:
//! the account's refund policy). It is refused, with nothing changed, when the charge is not
//! paid, its provider cannot refund (or cannot refund part of a charge), the payment is older
//! than the 90-day window, the amount exceeds what is left, the charge has
//! [`MAX_REFUNDS_PER_CHARGE`] refunds already, or `available` cannot pay what the account must
//! pay now. Otherwise ONE write ([`RequestRefund`]) records the refund on the charge, reduces
//! the splits not yet paid by their parts, adds the recipients' debts, and moves the money out
//! of the merchant's buckets toward the payer, per [`crate::refund::liability`].
//!
//! The splits are booked first (the split calculator's idempotent booking, run inline when its
//! queue has not run yet), so a refund always divides booked shares.
//!
//! Races: every refund write requires the charge's refund revision it read, so of concurrent
//! refunds one wins and the others plan again from a fresh read (Σ refunds ≤ amount, always).
//! A refund racing the payout scheduler: the scheduler attaches only SCHEDULED splits with the
//! `refunded` it read, and a refund reduces only SCHEDULED splits in no payout with the
//! `refunded` it read; whichever writes first wins and the other re-reads.
//!
//! The provider is then asked inline (and, should that fail or the process die, by the
//! `RefundRequested` message): [`execute`].

mod execute;
mod failure;
mod request;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

use crate::account::ports::AccountStore;
use crate::charge::Charge;
use crate::charge::ChargeStatus;
use crate::charge::ports::{ChargeStore, ChargeTransitions};
use crate::dispute::ports::DisputeStore;
use crate::error::{DomainError, StoreError};
use crate::flows::book_splits::{SplitCalculator, SplitCalculatorPorts};
use crate::flows::create_charge::truncate_to_millis;
use crate::idempotency::IdempotencyClaim;
use crate::ledger::ports::{LedgerStore, MoneyOutOutcome};
use crate::pix::clock::Clock;
use crate::pix::ids::{AccountId, RefundId, TransactionId};
use crate::pix::money::Money;
use crate::provider::PixProvider;
use crate::provider::directory::ProviderDirectory;
use crate::recipient::ports::RecipientStore;
use crate::refund::ports::{RefundStore, RequestRefund};
use crate::refund::{
    ChargeRefund, MAX_REFUNDS_PER_CHARGE, REFUND_WINDOW_DAYS, RefundLiability, RefundState,
};
use crate::split::ports::SplitStore;

pub(crate) use execute::charge_event;
pub use execute::{parse_refund_idempotency_key, refund_idempotency_key};
pub use failure::refund_failure;
pub(crate) use failure::restorable_splits;
pub use request::refund_request;

/// How often a refund request is planned again after a concurrent change (another refund, a
/// split attached, a balance shard spent) before the caller is told to retry.
const PLAN_ATTEMPTS: usize = 5;

/// What the merchant sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundInput {
    pub reason: String,
    pub description: String,
    /// `None`: everything still refundable.
    pub amount: Option<Money>,
    /// `None`: the account's refund policy.
    pub liability: Option<RefundLiability>,
}

/// The storage ports [`RefundService`] uses, and nothing more.
#[derive(Clone)]
pub struct RefundServicePorts {
    pub accounts: Arc<dyn AccountStore>,
    pub charges: Arc<dyn ChargeStore>,
    pub transitions: Arc<dyn ChargeTransitions>,
    pub refunds: Arc<dyn RefundStore>,
    pub recipients: Arc<dyn RecipientStore>,
    pub splits: Arc<dyn SplitStore>,
    pub ledger: Arc<dyn LedgerStore>,
    /// Booking a charge before its refund pays what the account's disputes owe first.
    pub disputes: Arc<dyn DisputeStore>,
}

#[derive(Clone)]
pub struct RefundService {
    store: RefundServicePorts,
    booking: SplitCalculator,
    providers: Arc<ProviderDirectory>,
    clock: Arc<dyn Clock>,
}

impl RefundService {
    pub fn new(
        store: RefundServicePorts,
        providers: Arc<ProviderDirectory>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let booking = SplitCalculator::new(
            SplitCalculatorPorts {
                charges: store.charges.clone(),
                splits: store.splits.clone(),
                disputes: store.disputes.clone(),
                ledger: store.ledger.clone(),
            },
            clock.clone(),
        );
        RefundService {
            store,
            booking,
            providers,
            clock,
        }
    }

    /// The provider holding `charge`, which alone can give its money back.
    fn provider_of(&self, charge: &Charge) -> Result<&Arc<dyn PixProvider>, DomainError> {
        let provider = self
            .providers
            .named(&charge.provider)
            .ok_or(DomainError::UnknownProvider)?;
        if !provider.capabilities().refunds {
            return Err(DomainError::ProviderOperationUnsupported {
                provider: charge.provider.clone(),
                operation: "refunds",
            });
        }
        Ok(provider)
    }

    /// Requests a refund and asks the provider at once; the charge as it stands afterwards
    /// and the id of the refund made. `claim` is the request's idempotency claim: a retry of
    /// the same request that took over a crashed one's claim gets the refund it made.
    pub async fn request(
        &self,
        account_id: &AccountId,
        id: &TransactionId,
        input: RefundInput,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<(Charge, RefundId), DomainError> {
        let liability = match input.liability {
            Some(liability) => liability,
            None => self.account_policy(account_id).await?,
        };
        for _ in 0..PLAN_ATTEMPTS {
            let charge = self.owned_charge(account_id, id).await?;
            if let Some(claim) = claim
                && let Some(made) = charge
                    .refunds
                    .iter()
                    .find(|r| r.idempotency_key.as_deref() == Some(&claim.key))
            {
                return Ok((charge.clone(), made.id.clone()));
            }
            let now = truncate_to_millis(self.clock.now());
            let amount = self.check_refundable(&charge, input.amount, now)?;
            if !self.booking.ensure_booked(&charge).await? {
                continue;
            }
            let refund = ChargeRefund {
                id: RefundId::generate(),
                amount,
                liability,
                split_parts: Vec::new(),
                state: RefundState::Processing,
                reason: input.reason.clone(),
                description: input.description.clone(),
                end_to_end_id: None,
                provider_refund_id: None,
                failure_reason: None,
                requested_at: now,
                settled_at: None,
                idempotency_key: claim.map(|c| c.key.clone()),
            };
            let write = self.plan(&charge, refund, now).await?;
            let refund_id = write.charge.refunds.last().map(|r| r.id.clone());
            match self.store.refunds.request_refund(&write).await? {
                MoneyOutOutcome::Applied => {
                    let refund_id = refund_id.ok_or_else(|| {
                        StoreError::Corrupt("a planned refund carries no refund".into())
                    })?;
                    info!(transaction_id = %id, refund_id = %refund_id, amount = %amount, liability = liability.as_str(), "refund requested");
                    let charge = self.execute_refund(write.charge, &refund_id).await?;
                    return Ok((charge, refund_id));
                }
                MoneyOutOutcome::ClaimLost => return Err(DomainError::IdempotencyKeyInUse),
                MoneyOutOutcome::BalanceChanged | MoneyOutOutcome::Conflict => {
                    warn!(transaction_id = %id, "refund request raced another change; planning again");
                }
                MoneyOutOutcome::DuplicateExternalId => {
                    return Err(StoreError::Corrupt(
                        "refund write reported a duplicate externalId".into(),
                    )
                    .into());
                }
            }
        }
        Err(DomainError::ConcurrentUpdate)
    }

    async fn account_policy(&self, account_id: &AccountId) -> Result<RefundLiability, DomainError> {
        Ok(self
            .store
            .accounts
            .get_account(account_id)
            .await?
            .map(|a| a.refund_liability)
            .unwrap_or_default())
    }

    /// The amount to refund now (`asked`, or all that is left), or why the charge cannot be
    /// refunded by that much now.
    fn check_refundable(
        &self,
        charge: &Charge,
        asked: Option<Money>,
        now: DateTime<Utc>,
    ) -> Result<Money, DomainError> {
        // A held payment is not the merchant's to give back yet: its hold ends first.
        if charge.is_held() {
            return Err(DomainError::ChargeNotRefundable { status: "HELD" });
        }
        match charge.status_at(now) {
            ChargeStatus::Confirmed
            | ChargeStatus::PartiallyRefunded
            | ChargeStatus::RefundProcessing
            | ChargeStatus::Refunded => {}
            other => {
                return Err(DomainError::ChargeNotRefundable {
                    status: other.as_str(),
                });
            }
        }
        let provider = self.provider_of(charge)?;
        let Some(payment) = &charge.payment else {
            return Err(StoreError::Corrupt(format!(
                "paid charge {} has no payment",
                charge.transaction_id
            ))
            .into());
        };
        if now > payment.paid_at + Duration::days(REFUND_WINDOW_DAYS) {
            return Err(DomainError::RefundWindowExpired);
        }
        let remaining = charge.refundable();
        let amount = asked.unwrap_or(remaining);
        if remaining.cents() < 1 || amount.cents() > remaining.cents() {
            return Err(DomainError::RefundExceedsRemaining { remaining });
        }
        if amount != charge.amount && !provider.capabilities().partial_refunds {
            return Err(DomainError::ProviderOperationUnsupported {
                provider: charge.provider.clone(),
                operation: "partial refunds",
            });
        }
        if charge.refunds.len() >= MAX_REFUNDS_PER_CHARGE {
            return Err(DomainError::RefundLimitReached {
                limit: MAX_REFUNDS_PER_CHARGE,
            });
        }
        Ok(amount)
    }

    /// The write that requests `refund` of `charge` now.
    async fn plan(
        &self,
        charge: &Charge,
        refund: ChargeRefund,
        now: DateTime<Utc>,
    ) -> Result<RequestRefund, DomainError> {
        let entries = if charge.splits.is_empty() {
            Vec::new()
        } else {
            self.store.splits.get_splits(&charge.transaction_id).await?
        };
        let shards = self.store.ledger.balance_shards(&charge.account_id).await?;
        refund_request(charge, &entries, refund, &shards, now)
    }

    async fn owned_charge(
        &self,
        account_id: &AccountId,
        id: &TransactionId,
    ) -> Result<Charge, DomainError> {
        match self.store.charges.get_charge(id).await? {
            Some(charge) if &charge.account_id == account_id => Ok(charge),
            _ => Err(DomainError::NotFound("charge")),
        }
    }
}
