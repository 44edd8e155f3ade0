//! MED disputes: opened and decided by the provider (its infraction notices), defended by the
//! merchant. The rules are in [`crate::dispute`]; the writes are built by [`dispute_opening`]
//! and [`dispute_decision`], pure.
//!
//! - **Open** (provider notice): refused, with nothing changed, when the charge is not the
//!   provider's or not paid (404 / 409), when its refunds and open or lost disputes already
//!   cover the disputed amount (`DisputeExceedsRemaining`) or it has
//!   [`MAX_DISPUTES_PER_CHARGE`] disputes. The splits are booked first (as for a refund), then
//!   ONE write records the dispute, its charge's claim, the splits it reduces and the held
//!   money. A notice delivered twice finds its dispute (the id derives from the provider's
//!   infraction id) and changes nothing.
//! - **Defend** (merchant): before `respondBy`, while undecided; filing again replaces it.
//! - **Decide** (provider notice): ONE write, won or lost; a decision for a dispute already
//!   decided changes nothing; one for a dispute we have not heard of is refused (not found) so
//!   the provider delivers it again after the opening notice.
//!
//! Races: every dispute write requires the charge's refund revision and the dispute's version
//! it read; a loser plans again from a fresh read.

mod decide;
mod open;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

use crate::account::ports::AccountStore;
use crate::charge::ports::ChargeStore;
use crate::charge::{Charge, ChargeStatus};
use crate::dispute::ports::{DefendDispute, DisputePage, DisputeQuery, DisputeStore};
use crate::dispute::{
    DEFAULT_DEFENCE_DAYS, Dispute, DisputeHold, DisputeRuleError, DisputeState,
    MAX_DISPUTES_PER_CHARGE,
};
use crate::error::{DomainError, StoreError, WriteOutcome};
use crate::flows::book_splits::{SplitCalculator, SplitCalculatorPorts};
use crate::flows::create_charge::truncate_to_millis;
use crate::ledger::ports::{LedgerStore, MoneyOutOutcome};
use crate::pix::clock::Clock;
use crate::pix::ids::{AccountId, DisputeId};
use crate::pix::money::Money;
use crate::provider::{InfractionDecided, InfractionOpened};
use crate::split::ports::SplitStore;

pub use decide::dispute_decision;
pub use open::dispute_opening;

/// How often a dispute write is planned again after a concurrent change before giving up
/// (the provider delivers its notice again; the merchant retries a defence).
const PLAN_ATTEMPTS: usize = 5;

/// What a provider notice did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisputeNoticeResult {
    /// The dispute was opened or decided by this notice.
    Applied(Box<Dispute>),
    /// The notice was applied before (a redelivery): nothing changed.
    Duplicate,
}

/// The storage ports [`DisputeService`] uses, and nothing more.
#[derive(Clone)]
pub struct DisputeServicePorts {
    pub accounts: Arc<dyn AccountStore>,
    pub charges: Arc<dyn ChargeStore>,
    pub disputes: Arc<dyn DisputeStore>,
    pub splits: Arc<dyn SplitStore>,
    pub ledger: Arc<dyn LedgerStore>,
}

#[derive(Clone)]
pub struct DisputeService {
    store: DisputeServicePorts,
    booking: SplitCalculator,
    clock: Arc<dyn Clock>,
}

impl DisputeService {
    pub fn new(store: DisputeServicePorts, clock: Arc<dyn Clock>) -> Self {
        let booking = SplitCalculator::new(
            SplitCalculatorPorts {
                charges: store.charges.clone(),
                splits: store.splits.clone(),
                disputes: store.disputes.clone(),
                ledger: store.ledger.clone(),
            },
            clock.clone(),
        );
        DisputeService {
            store,
            booking,
            clock,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        truncate_to_millis(self.clock.now())
    }

    /// Opens the dispute `notice` reports, from `provider`.
    pub async fn open(
        &self,
        provider: &str,
        notice: InfractionOpened,
    ) -> Result<DisputeNoticeResult, DomainError> {
        let id = DisputeId::derive(provider, &notice.infraction_id);
        for _ in 0..PLAN_ATTEMPTS {
            if self.store.disputes.get_dispute(&id).await?.is_some() {
                return Ok(DisputeNoticeResult::Duplicate);
            }
            let charge = self.provider_charge(provider, &notice).await?;
            let now = self.now();
            let amount = check_disputable(&charge, notice.amount)?;
            if !self.booking.ensure_booked(&charge).await? {
                continue;
            }
            let dispute = self
                .new_dispute(id.clone(), provider, &notice, &charge, amount, now)
                .await?;
            let entries = if charge.splits.is_empty() {
                Vec::new()
            } else {
                self.store.splits.get_splits(&charge.transaction_id).await?
            };
            let shards = self.store.ledger.balance_shards(&charge.account_id).await?;
            let write = dispute_opening(&charge, &entries, dispute, &shards, now)?;
            match self.store.disputes.open_dispute(&write).await? {
                MoneyOutOutcome::Applied => {
                    let d = &write.dispute;
                    info!(dispute_id = %d.id, transaction_id = %d.transaction_id, amount = %d.amount, owed = d.hold.owed, "dispute opened");
                    return Ok(DisputeNoticeResult::Applied(Box::new(write.dispute)));
                }
                MoneyOutOutcome::BalanceChanged | MoneyOutOutcome::Conflict => {
                    warn!(dispute_id = %id, "dispute opening raced another change; planning again");
                }
                MoneyOutOutcome::ClaimLost | MoneyOutOutcome::DuplicateExternalId => {
                    return Err(StoreError::Corrupt(
                        "a dispute opening reported an idempotency or externalId outcome".into(),
                    )
                    .into());
                }
            }
        }
        Err(DomainError::ConcurrentUpdate)
    }

    /// The charge `notice` names, if `provider` holds it.
    async fn provider_charge(
        &self,
        provider: &str,
        notice: &InfractionOpened,
    ) -> Result<Charge, DomainError> {
        match self
            .store
            .charges
            .get_charge(&notice.transaction_id)
            .await?
        {
            Some(charge) if charge.provider == provider => Ok(charge),
            _ => Err(DomainError::NotFound("charge")),
        }
    }

    /// The dispute as it opens, before its division (the account's liability rule now).
    async fn new_dispute(
        &self,
        id: DisputeId,
        provider: &str,
        notice: &InfractionOpened,
        charge: &Charge,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Result<Dispute, DomainError> {
        let liability = self
            .store
            .accounts
            .get_account(&charge.account_id)
            .await?
            .map(|a| a.refund_liability)
            .unwrap_or_default();
        let respond_by = notice
            .respond_by
            .unwrap_or(notice.opened_at + Duration::days(DEFAULT_DEFENCE_DAYS));
        Ok(Dispute {
            id,
            account_id: charge.account_id.clone(),
            transaction_id: charge.transaction_id.clone(),
            provider: provider.to_owned(),
            infraction_id: notice.infraction_id.clone(),
            reason: notice.reason,
            amount,
            liability,
            split_parts: Vec::new(),
            hold: DisputeHold {
                from_reserve: 0,
                from_available: 0,
                owed: 0,
            },
            still_owed: 0,
            state: DisputeState::Open,
            version: 0,
            respond_by: truncate_to_millis(respond_by),
            opened_at: now,
            decided_at: None,
            defence: None,
            devolution_end_to_end_id: None,
        })
    }

    /// Applies the decision `notice` reports, from `provider`.
    pub async fn decide(
        &self,
        provider: &str,
        notice: InfractionDecided,
    ) -> Result<DisputeNoticeResult, DomainError> {
        let id = DisputeId::derive(provider, &notice.infraction_id);
        for _ in 0..PLAN_ATTEMPTS {
            let Some(dispute) = self.store.disputes.get_dispute(&id).await? else {
                return Err(DomainError::NotFound("dispute"));
            };
            if dispute.transaction_id != notice.transaction_id {
                return Err(DomainError::NotFound("dispute"));
            }
            let charge = self
                .store
                .charges
                .get_charge(&dispute.transaction_id)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("dispute {id} has no charge")))?;
            let entries = if charge.splits.is_empty() {
                Vec::new()
            } else {
                self.store.splits.get_splits(&charge.transaction_id).await?
            };
            let Some(write) = dispute_decision(
                &charge,
                &dispute,
                notice.outcome,
                notice.end_to_end_id.clone(),
                &entries,
                self.now(),
            )?
            else {
                return Ok(DisputeNoticeResult::Duplicate);
            };
            match self.store.disputes.decide_dispute(&write).await? {
                WriteOutcome::Applied => {
                    info!(dispute_id = %id, state = write.dispute.state.as_str(), "dispute decided");
                    return Ok(DisputeNoticeResult::Applied(Box::new(write.dispute)));
                }
                WriteOutcome::Conflict => {
                    warn!(dispute_id = %id, "dispute decision raced another change; planning again");
                }
            }
        }
        Err(DomainError::ConcurrentUpdate)
    }

    /// Files `text` as the defence of the account's dispute `id`.
    pub async fn defend(
        &self,
        account: &AccountId,
        id: &DisputeId,
        text: &str,
    ) -> Result<Dispute, DomainError> {
        for _ in 0..PLAN_ATTEMPTS {
            let dispute = self.get(account, id).await?;
            let defended = dispute.defended(text, self.now()).map_err(|e| match e {
                DisputeRuleError::DeadlinePassed { respond_by } => {
                    DomainError::DisputeDeadlinePassed { respond_by }
                }
                DisputeRuleError::Decided => DomainError::DisputeDecided,
                DisputeRuleError::DefenceLength => DomainError::Validation(vec![format!(
                    "text must be between 1 and {} characters",
                    crate::dispute::MAX_DEFENCE_CHARS
                )]),
            })?;
            let write = DefendDispute {
                from_version: dispute.version,
                dispute: defended,
            };
            match self.store.disputes.defend_dispute(&write).await? {
                WriteOutcome::Applied => return Ok(write.dispute),
                WriteOutcome::Conflict => {
                    warn!(dispute_id = %id, "defence raced another change; reading again");
                }
            }
        }
        Err(DomainError::ConcurrentUpdate)
    }

    /// The account's dispute `id`.
    pub async fn get(&self, account: &AccountId, id: &DisputeId) -> Result<Dispute, DomainError> {
        match self.store.disputes.get_dispute(id).await? {
            Some(d) if &d.account_id == account => Ok(d),
            _ => Err(DomainError::NotFound("dispute")),
        }
    }

    pub async fn list(
        &self,
        account: &AccountId,
        query: &DisputeQuery,
    ) -> Result<DisputePage, DomainError> {
        Ok(self.store.disputes.list_disputes(account, query).await?)
    }
}

/// The amount a dispute of `asked` (or of everything still disputable) takes of `charge`, or
/// why it cannot open.
fn check_disputable(charge: &Charge, asked: Option<Money>) -> Result<Money, DomainError> {
    // A held payment's money is already set aside; its hold ends (returned or released) first.
    if charge.is_held() {
        return Err(DomainError::ChargeNotRefundable { status: "HELD" });
    }
    match charge.status {
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
    let remaining = charge.refundable();
    let amount = asked.unwrap_or(remaining);
    if remaining.cents() < 1 || amount.cents() < 1 || amount.cents() > remaining.cents() {
        return Err(DomainError::DisputeExceedsRemaining { remaining });
    }
    if charge.disputes.len() >= MAX_DISPUTES_PER_CHARGE {
        return Err(DomainError::DisputeLimitReached {
            limit: MAX_DISPUTES_PER_CHARGE,
        });
    }
    Ok(amount)
}
