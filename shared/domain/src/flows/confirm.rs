//! PENDING → CONFIRMED, from a verified provider event.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

use crate::charge::ports::ChargeStore;
use crate::charge::ports::ChargeTransitions;
use crate::charge::ports::ConfirmCharge;
use crate::charge::view::ChargeView;
use crate::charge::{Charge, ChargeStatus};
use crate::charge::{ChargeHold, HoldState, MAX_HOLD_HOURS};
use crate::dispute::DevolutionNature;
use crate::error::DomainError;
use crate::error::WriteOutcome;
use crate::flows::dispute::{DisputeNoticeResult, DisputeService};
use crate::flows::hold::{HoldEnd, HoldResult, HoldService, HoldServicePorts};
use crate::flows::money_out::MoneyOutExecutor;
use crate::ledger::{Bucket, LedgerAccount, Movement, MovementKind};
use crate::messaging::events::{AccountEvent, EventType};
use crate::messaging::outbox::PipelineMessage;
use crate::pix::clock::Clock;
use crate::pix::payment::{EndToEndId, Payment};
use crate::provider::{ChargePaid, ProviderEvent};

/// What a provider event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmationResult {
    /// The charge is CONFIRMED now.
    Confirmed(Box<Charge>),
    /// The same payment was already recorded: nothing changed.
    Duplicate,
    /// A transfer outcome was recorded (or already had been).
    TransferSettled,
    /// A dispute was opened or decided.
    DisputeChanged,
    /// A cautelar hold was released or returned.
    HoldEnded,
    /// Authentic but nothing to do.
    Ignored,
}

/// The storage ports [`ConfirmationService`] uses, and nothing more.
#[derive(Clone)]
pub struct ConfirmationServicePorts {
    pub charges: Arc<dyn ChargeStore>,
    pub transitions: Arc<dyn ChargeTransitions>,
}

#[derive(Clone)]
pub struct ConfirmationService {
    store: ConfirmationServicePorts,
    clock: Arc<dyn Clock>,
    money_out: MoneyOutExecutor,
    disputes: DisputeService,
    holds: HoldService,
}

impl ConfirmationService {
    pub fn new(
        store: ConfirmationServicePorts,
        clock: Arc<dyn Clock>,
        money_out: MoneyOutExecutor,
        disputes: DisputeService,
    ) -> Self {
        let holds = HoldService::new(
            HoldServicePorts {
                charges: store.charges.clone(),
                transitions: store.transitions.clone(),
            },
            clock.clone(),
        );
        ConfirmationService {
            store,
            clock,
            money_out,
            disputes,
            holds,
        }
    }

    /// Applies an event `provider` sent us (already authenticated by the provider adapter).
    pub async fn apply(
        &self,
        provider: &str,
        event: ProviderEvent,
    ) -> Result<ConfirmationResult, DomainError> {
        match event {
            ProviderEvent::ChargePaid(paid) => self.confirm(provider, paid).await,
            ProviderEvent::TransferSettled {
                idempotency_key,
                outcome,
                ..
            } => {
                self.money_out
                    .settle_transfer(provider, &idempotency_key, outcome)
                    .await?;
                Ok(ConfirmationResult::TransferSettled)
            }
            ProviderEvent::RefundSettled {
                refund, outcome, ..
            } => {
                self.money_out
                    .settle_refund(provider, &refund, outcome)
                    .await?;
                Ok(ConfirmationResult::TransferSettled)
            }
            ProviderEvent::InfractionOpened(notice) => {
                match self.disputes.open(provider, notice).await? {
                    DisputeNoticeResult::Applied(_) => Ok(ConfirmationResult::DisputeChanged),
                    DisputeNoticeResult::Duplicate => Ok(ConfirmationResult::Duplicate),
                }
            }
            ProviderEvent::InfractionDecided(notice) => {
                match self.disputes.decide(provider, notice).await? {
                    DisputeNoticeResult::Applied(_) => Ok(ConfirmationResult::DisputeChanged),
                    DisputeNoticeResult::Duplicate => Ok(ConfirmationResult::Duplicate),
                }
            }
            ProviderEvent::HoldReleased { transaction_id, .. } => hold_result(
                self.holds
                    .end(provider, &transaction_id, HoldEnd::Released)
                    .await?,
            ),
            ProviderEvent::HoldReturned {
                transaction_id,
                nature,
                end_to_end_id,
                ..
            } => {
                let end = HoldEnd::Returned {
                    nature: nature.unwrap_or(DevolutionNature::MedFraud),
                    end_to_end_id,
                };
                hold_result(self.holds.end(provider, &transaction_id, end).await?)
            }
            ProviderEvent::Ignored { event_id, kind } => {
                info!(provider, event_id, kind, "provider event ignored");
                Ok(ConfirmationResult::Ignored)
            }
        }
    }

    async fn confirm(
        &self,
        provider: &str,
        paid: ChargePaid,
    ) -> Result<ConfirmationResult, DomainError> {
        let charge = match self.store.charges.get_charge(&paid.transaction_id).await? {
            // A provider can only settle charges it holds.
            Some(charge) if charge.provider == provider => charge,
            _ => return Err(DomainError::NotFound("charge")),
        };
        if let Some(outcome) = already_settled(&charge, &paid.end_to_end_id)? {
            return Ok(outcome);
        }
        if paid.amount != charge.amount {
            warn!(
                transaction_id = %charge.transaction_id,
                paid = %paid.amount,
                expected = %charge.amount,
                "provider reported a payment of a different amount"
            );
            return Err(DomainError::PaymentAmountMismatch);
        }
        if paid.paid_at > charge.expires_at {
            // The network settled it, so the money is ours to account for: confirm anyway and
            // leave a trace for operators.
            warn!(transaction_id = %charge.transaction_id, "payment settled after expiration");
        }

        let confirmed_at = crate::flows::create_charge::truncate_to_millis(self.clock.now());
        let hold = paid
            .hold_until
            .map(|until| hold_of(&charge, until, paid.paid_at));
        let payment = Payment {
            end_to_end_id: paid.end_to_end_id.clone(),
            paid_at: crate::flows::create_charge::truncate_to_millis(paid.paid_at),
            paid_by: paid.paid_by,
            provider: provider.to_owned(),
            provider_event_id: paid.event_id,
        };
        // A held payment's money is not the merchant's yet: `held`, and nothing is booked.
        let bucket = if hold.is_some() {
            Bucket::Held
        } else {
            Bucket::Incoming
        };
        let movement = Movement::transfer(
            MovementKind::ChargeConfirmed,
            &charge.account_id,
            charge.transaction_id.as_str(),
            LedgerAccount::PixNetwork,
            LedgerAccount::Merchant(charge.account_id.clone(), bucket),
            charge.amount,
            confirmed_at,
        )
        .map_err(|e| DomainError::Store(crate::error::StoreError::Corrupt(e.to_string())))?;
        let message = PipelineMessage::ChargeConfirmed {
            transaction_id: charge.transaction_id.clone(),
            account_id: charge.account_id.clone(),
        };
        let confirmed = Charge {
            status: ChargeStatus::Confirmed,
            payment: Some(payment.clone()),
            hold: hold.clone(),
            ..charge.clone()
        };
        let (event_type, outbox) = match hold {
            Some(_) => (EventType::CashinHeld, Vec::new()),
            None => (
                EventType::CashinConfirmed,
                vec![message.to_outbox(confirmed_at)],
            ),
        };
        let write = ConfirmCharge {
            transaction_id: charge.transaction_id.clone(),
            account_id: charge.account_id.clone(),
            payment: payment.clone(),
            confirmed_at,
            hold,
            movement,
            events: vec![confirmed_event(&confirmed, event_type, confirmed_at)],
            outbox,
        };
        match self.store.transitions.confirm_charge(&write).await? {
            WriteOutcome::Applied => {
                info!(transaction_id = %charge.transaction_id, "charge confirmed");
                Ok(ConfirmationResult::Confirmed(Box::new(confirmed)))
            }
            // Someone got there first (a concurrent duplicate, usually): find out who.
            WriteOutcome::Conflict => self.after_conflict(&paid.transaction_id, &write).await,
        }
    }

    async fn after_conflict(
        &self,
        id: &crate::pix::ids::TransactionId,
        write: &ConfirmCharge,
    ) -> Result<ConfirmationResult, DomainError> {
        let e2e = &write.payment.end_to_end_id;
        if let Some(holder) = self
            .store
            .transitions
            .find_charge_by_end_to_end_id(e2e)
            .await?
            && &holder != id
        {
            return Err(DomainError::EndToEndIdConflict);
        }
        let charge = self
            .store
            .charges
            .get_charge(id)
            .await?
            .ok_or(DomainError::NotFound("charge"))?;
        match already_settled(&charge, e2e)? {
            Some(outcome) => Ok(outcome),
            // Still PENDING after a conflict: storage contention; the provider will retry.
            None => Err(DomainError::Store(crate::error::StoreError::Unavailable(
                "confirmation conflicted; retry".into(),
            ))),
        }
    }
}

/// The hold of a payment the provider holds until `until`: at most [`MAX_HOLD_HOURS`] after
/// payment (what MED 2.0 allows; a provider saying more is cut, and logged).
fn hold_of(charge: &Charge, until: DateTime<Utc>, paid_at: DateTime<Utc>) -> ChargeHold {
    let latest = paid_at + Duration::hours(MAX_HOLD_HOURS);
    if until > latest {
        warn!(transaction_id = %charge.transaction_id, %until, "hold beyond 72 h cut to 72 h after payment");
    }
    ChargeHold {
        until: crate::flows::create_charge::truncate_to_millis(until.min(latest)),
        state: HoldState::Held,
        settled_at: None,
        return_nature: None,
        return_end_to_end_id: None,
    }
}

/// `Some` when the charge already holds this payment (a duplicate: success, nothing to do) or
/// cannot take it (an error).
fn already_settled(
    charge: &Charge,
    end_to_end_id: &EndToEndId,
) -> Result<Option<ConfirmationResult>, DomainError> {
    match &charge.payment {
        Some(p) if &p.end_to_end_id == end_to_end_id => Ok(Some(ConfirmationResult::Duplicate)),
        // Paid by a different payment: a second payment of a dynamic charge must not be
        // booked as if it were the first.
        Some(_) => Err(DomainError::ChargeNotPending {
            status: charge.status.as_str(),
        }),
        // A charge the sweeper already expired still takes the payment: the PIX network
        // settled it, so the money is ours to account for (`paidAfterExpiration`).
        None if !matches!(charge.status, ChargeStatus::Pending | ChargeStatus::Expired) => {
            Err(DomainError::ChargeNotPending {
                status: charge.status.as_str(),
            })
        }
        None => Ok(None),
    }
}

/// `CASHIN_CONFIRMED`: the charge as `GET /api/pix/cash-in/{id}` shows it once paid (without
/// the QR image, which a paid charge no longer needs). Its splits are still PENDING: they are
/// booked by the next stage, which reports each payout with events of its own.
/// A held payment's is `CASHIN_HELD` instead: the money is not the merchant's yet.
fn confirmed_event(
    charge: &Charge,
    event_type: EventType,
    at: chrono::DateTime<chrono::Utc>,
) -> AccountEvent {
    let data =
        serde_json::to_value(ChargeView::new(charge, &[], None)).unwrap_or(serde_json::Value::Null);
    AccountEvent::new(
        &charge.account_id,
        event_type,
        charge.transaction_id.as_str(),
        at,
        data,
    )
}

fn hold_result(result: HoldResult) -> Result<ConfirmationResult, DomainError> {
    Ok(match result {
        HoldResult::Applied => ConfirmationResult::HoldEnded,
        HoldResult::Duplicate => ConfirmationResult::Duplicate,
    })
}
