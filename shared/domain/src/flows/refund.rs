//! Refunds: a CONFIRMED charge given back to its payer in full (a PIX devolution, `D…`).
//!
//! Where the money comes from (the rule the ledger follows, written in one movement at request
//! time so the money cannot be spent twice while the provider works):
//! - splits not booked yet: the whole amount is still in `incoming`;
//! - splits booked: every split still SCHEDULED is CANCELLED and its reserve returns to the
//!   payer; everything else — the remainder the account kept, and the shares of splits already
//!   paid, in a payout, or failed back to the account — comes out of `available`. Splits already
//!   paid are not clawed back from their recipients. If `available` cannot cover that part the
//!   refund is refused (409 `INSUFFICIENT_BALANCE`) and nothing changes.
//!
//! A refund racing the payout scheduler: the scheduler attaches only SCHEDULED splits and the
//! refund cancels only SCHEDULED splits, each with a condition on the split's stored state, so
//! whichever writes first wins that split and the other re-reads: a split is never both paid
//! and cancelled.
//!
//! Then the provider is asked (idempotency key `refund:{transactionId}#{attempt}`) inline and,
//! should that fail or the process die, by the `RefundRequested` message on `payout-requests`.
//! It answers with the devolution's `D…` id; its settlement (at once, or later by webhook)
//! makes the charge REFUNDED with `CASHIN_REFUNDED`, or — refused — CONFIRMED again with its
//! money back in `available` (cancelled splits stay cancelled).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

use crate::charge::ports::ChargeStore;
use crate::charge::ports::ChargeTransition;
use crate::charge::ports::ChargeTransitions;
use crate::charge::view::ChargeView;
use crate::charge::{Charge, ChargeStatus};
use crate::error::WriteOutcome;
use crate::error::{DomainError, ProviderError, StoreError};
use crate::flows::create_charge::truncate_to_millis;
use crate::idempotency::IdempotencyClaim;
use crate::ledger::ports::LedgerStore;
use crate::ledger::ports::MoneyOutOutcome;
use crate::ledger::{AvailableDraw, Bucket, LedgerAccount, Leg, Movement, MovementKind};
use crate::messaging::events::{AccountEvent, EventType};
use crate::messaging::outbox::{OutboxMessage, PipelineMessage};
use crate::pix::clock::Clock;
use crate::pix::ids::{AccountId, TransactionId};
use crate::pix::money::Money;
use crate::pix::payment::EndToEndId;
use crate::provider::PixProvider;
use crate::provider::directory::ProviderDirectory;
use crate::provider::{RefundOutcome, RefundReference, RefundRequest};
use crate::refund::ports::RefundStore;
use crate::refund::ports::{RefundSplits, RequestRefund};
use crate::refund::{ChargeRefund, REFUND_WINDOW_DAYS, RefundState};
use crate::split::entry::{SplitEntry, SplitState};
use crate::split::ports::SplitStore;

/// How often a refund request is planned again after a concurrent change (a split attached,
/// a balance shard spent) before the caller is told to retry.
const PLAN_ATTEMPTS: usize = 5;

/// What the merchant sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundInput {
    pub reason: String,
    pub description: String,
}

/// The storage ports [`RefundService`] uses, and nothing more.
#[derive(Clone)]
pub struct RefundServicePorts {
    pub charges: Arc<dyn ChargeStore>,
    pub transitions: Arc<dyn ChargeTransitions>,
    pub refunds: Arc<dyn RefundStore>,
    pub splits: Arc<dyn SplitStore>,
    pub ledger: Arc<dyn LedgerStore>,
}

#[derive(Clone)]
pub struct RefundService {
    store: RefundServicePorts,
    providers: Arc<ProviderDirectory>,
    clock: Arc<dyn Clock>,
}

impl RefundService {
    pub fn new(
        store: RefundServicePorts,
        providers: Arc<ProviderDirectory>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        RefundService {
            store,
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

    /// Requests the refund and asks the provider at once; the charge as it stands afterwards
    /// (REFUND_PROCESSING with the `D…` id when the provider gave one; REFUNDED if it settled
    /// already). `claim` is the request's idempotency claim: a retry of the same request that
    /// took over a crashed one's claim gets the refund it made instead of a 409.
    pub async fn request(
        &self,
        account_id: &AccountId,
        id: &TransactionId,
        input: RefundInput,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<Charge, DomainError> {
        for _ in 0..PLAN_ATTEMPTS {
            let charge = self.owned_charge(account_id, id).await?;
            if let Some(refund) = &charge.refund
                && claim.is_some_and(|c| refund.idempotency_key.as_deref() == Some(&c.key))
            {
                return Ok(charge);
            }
            let now = truncate_to_millis(self.clock.now());
            let write = match self.plan(&charge, &input, claim, now).await? {
                Some(write) => write,
                None => continue,
            };
            match self.store.refunds.request_refund(&write).await? {
                MoneyOutOutcome::Applied => {
                    info!(transaction_id = %id, attempt = write.charge.refund.as_ref().map_or(0, |r| r.attempt), "refund requested");
                    return self.execute_current(write.charge).await;
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

    /// The write that requests the refund of `charge` now, or `None` when what was read has
    /// already changed (plan again). Refusals are errors.
    async fn plan(
        &self,
        charge: &Charge,
        input: &RefundInput,
        claim: Option<&IdempotencyClaim>,
        now: DateTime<Utc>,
    ) -> Result<Option<RequestRefund>, DomainError> {
        self.check_refundable(charge, now)?;
        let refund = new_refund(charge, input, claim, now);
        let reference = refund.reference(&charge.transaction_id);
        let funding = self.funding(charge, now).await?;
        let movement = Movement::new(
            MovementKind::RefundRequested,
            &charge.account_id,
            &reference,
            funding.legs,
            now,
        )
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let message = PipelineMessage::RefundRequested {
            transaction_id: charge.transaction_id.clone(),
            account_id: charge.account_id.clone(),
            attempt: refund.attempt,
        };
        Ok(Some(RequestRefund {
            charge: Charge {
                status: ChargeStatus::RefundProcessing,
                refund: Some(refund),
                ..charge.clone()
            },
            splits: funding.splits,
            movement,
            draw: funding.draw,
            outbox: vec![message.to_outbox(now)],
            completion: None,
        }))
    }

    /// Refuses a charge that cannot be refunded now: not CONFIRMED (or already refunding),
    /// held by a provider that cannot refund, or paid more than the refund window ago.
    fn check_refundable(&self, charge: &Charge, now: DateTime<Utc>) -> Result<(), DomainError> {
        match charge.status_at(now) {
            ChargeStatus::Confirmed => {
                // Refused before anything is set aside when its provider cannot refund.
                self.provider_of(charge)?;
            }
            ChargeStatus::RefundProcessing | ChargeStatus::Refunded => {
                return Err(DomainError::RefundAlreadyRequested);
            }
            other => {
                return Err(DomainError::ChargeNotRefundable {
                    status: other.as_str(),
                });
            }
        }
        let Some(payment) = &charge.payment else {
            return Err(StoreError::Corrupt(format!(
                "confirmed charge {} has no payment",
                charge.transaction_id
            ))
            .into());
        };
        if now > payment.paid_at + Duration::days(REFUND_WINDOW_DAYS) {
            return Err(DomainError::RefundWindowExpired);
        }
        Ok(())
    }

    /// Where the refunded money comes from (the rule in the module docs): `incoming` while the
    /// splits are not booked; once they are, the reserve of the SCHEDULED splits it cancels
    /// and `available` for the rest.
    async fn funding(
        &self,
        charge: &Charge,
        now: DateTime<Utc>,
    ) -> Result<RefundFunding, DomainError> {
        let booked_id = MovementKind::SplitsBooked.movement_id(charge.transaction_id.as_str());
        if !self.store.ledger.movement_exists(&booked_id).await? {
            let merchant = LedgerAccount::Merchant(charge.account_id.clone(), Bucket::Incoming);
            return Ok(RefundFunding {
                splits: RefundSplits::NotBooked,
                legs: vec![
                    leg(merchant, -charge.amount.cents()),
                    leg(LedgerAccount::PixNetwork, charge.amount.cents()),
                ],
                draw: AvailableDraw::default(),
            });
        }
        let entries = self.store.splits.get_splits(&charge.transaction_id).await?;
        let cancelled = cancel_scheduled(entries, now);
        let from_reserve: i64 = cancelled.iter().map(|s| s.split.amount.cents()).sum();
        let from_available = charge.amount.cents() - from_reserve;
        if from_available < 0 {
            return Err(StoreError::Corrupt(format!(
                "splits of {} exceed its amount",
                charge.transaction_id
            ))
            .into());
        }
        let shards = self.store.ledger.balance_shards(&charge.account_id).await?;
        let draw =
            AvailableDraw::plan(&shards, Money::from_cents(from_available)).map_err(|e| {
                DomainError::InsufficientBalance {
                    available: e.available,
                    needed: e.needed,
                }
            })?;
        let merchant = |bucket| LedgerAccount::Merchant(charge.account_id.clone(), bucket);
        Ok(RefundFunding {
            splits: RefundSplits::Booked { cancelled },
            legs: vec![
                leg(merchant(Bucket::ReservedForSplits), -from_reserve),
                leg(merchant(Bucket::Available), -from_available),
                leg(LedgerAccount::PixNetwork, charge.amount.cents()),
            ],
            draw,
        })
    }

    /// The queue's entry point (`RefundRequested`): asks the provider for attempt `attempt`
    /// of the charge's refund, unless it is settled or superseded already.
    pub async fn execute(&self, id: &TransactionId, attempt: u32) -> Result<Charge, DomainError> {
        let charge = self
            .store
            .charges
            .get_charge(id)
            .await?
            .ok_or(DomainError::NotFound("charge"))?;
        match &charge.refund {
            Some(r) if r.attempt == attempt => self.execute_current(charge).await,
            _ => Ok(charge),
        }
    }

    async fn execute_current(&self, charge: Charge) -> Result<Charge, DomainError> {
        let (Some(refund), Some(payment)) = (&charge.refund, &charge.payment) else {
            return Ok(charge);
        };
        // Accepted by the provider already (pending, with its id): the outcome comes by
        // webhook, and asking again would only repeat the acceptance.
        if charge.status != ChargeStatus::RefundProcessing || refund.provider_refund_id.is_some() {
            return Ok(charge);
        }
        let request = RefundRequest {
            idempotency_key: refund_idempotency_key(&charge.transaction_id, refund.attempt),
            transaction_id: charge.transaction_id.clone(),
            provider_charge_id: charge.provider_charge_id.clone(),
            end_to_end_id: payment.end_to_end_id.clone(),
            amount: charge.amount,
            reason: refund.reason.clone(),
            description: refund.description.clone(),
        };
        let outcome = match self.provider_of(&charge)?.refund(&request).await {
            Ok(outcome) => outcome,
            Err(ProviderError::Rejected(rejection)) => RefundOutcome::Failed {
                reason: rejection.to_string(),
            },
            Err(e @ ProviderError::Unavailable(_)) => {
                // The money is set aside and the queue message asks again; the merchant sees
                // REFUND_PROCESSING without a D… id until then.
                warn!(transaction_id = %charge.transaction_id, error = %e, "refund not sent yet");
                return Ok(charge);
            }
        };
        self.record(charge, outcome).await
    }

    /// Records a refund outcome `provider` reported by webhook, for the attempt its key names
    /// or, when the report names only the charge, for the attempt in flight. A provider can
    /// only settle refunds of charges it holds; a report on a settled attempt changes nothing.
    pub async fn settle_reported(
        &self,
        provider: &str,
        refund: &RefundReference,
        outcome: RefundOutcome,
    ) -> Result<Charge, DomainError> {
        let (id, attempt) = match refund {
            RefundReference::IdempotencyKey(key) => {
                let (id, attempt) =
                    parse_refund_idempotency_key(key).ok_or(DomainError::NotFound("refund"))?;
                (id, Some(attempt))
            }
            RefundReference::CurrentAttempt(id) => (id.clone(), None),
        };
        let charge = match self.store.charges.get_charge(&id).await? {
            Some(charge) if charge.provider == provider => charge,
            _ => return Err(DomainError::NotFound("charge")),
        };
        match (&charge.refund, attempt) {
            (Some(r), Some(attempt)) if r.attempt == attempt => self.record(charge, outcome).await,
            (Some(_), None) => self.record(charge, outcome).await,
            _ => Err(DomainError::NotFound("refund")),
        }
    }

    async fn record(&self, charge: Charge, outcome: RefundOutcome) -> Result<Charge, DomainError> {
        let Some(refund) = charge.refund.clone() else {
            return Ok(charge);
        };
        if charge.status != ChargeStatus::RefundProcessing
            || refund.state != RefundState::Processing
        {
            return Ok(charge);
        }
        let now = truncate_to_millis(self.clock.now());
        let write = match outcome {
            RefundOutcome::Pending {
                provider_refund_id,
                end_to_end_id,
            } => {
                if refund.end_to_end_id.as_ref() == Some(&end_to_end_id) {
                    return Ok(charge);
                }
                accepted(&charge, refund, provider_refund_id, end_to_end_id)
            }
            RefundOutcome::Completed {
                provider_refund_id,
                end_to_end_id,
                settled_at,
            } => {
                let settled = ChargeRefund {
                    state: RefundState::Completed,
                    end_to_end_id: Some(end_to_end_id),
                    provider_refund_id: Some(provider_refund_id),
                    settled_at: Some(truncate_to_millis(settled_at)),
                    ..refund
                };
                self.completed(&charge, settled, now).await?
            }
            RefundOutcome::Failed { reason } => self.failed(&charge, refund, reason, now).await?,
        };
        match self.store.transitions.transition_charge(&write).await? {
            WriteOutcome::Applied => {
                info!(transaction_id = %charge.transaction_id, status = write.charge.status.as_str(), "refund recorded");
                Ok(write.charge)
            }
            WriteOutcome::Conflict => {
                // Settled by a concurrent delivery of the same outcome: report what is stored.
                self.store
                    .charges
                    .get_charge(&charge.transaction_id)
                    .await?
                    .ok_or(DomainError::NotFound("charge"))
            }
        }
    }

    /// The devolution settled (`settled` is the refund as completed): the charge is REFUNDED
    /// and the merchant hears `CASHIN_REFUNDED`.
    async fn completed(
        &self,
        charge: &Charge,
        settled: ChargeRefund,
        now: DateTime<Utc>,
    ) -> Result<ChargeTransition, DomainError> {
        let reference = settled.reference(&charge.transaction_id);
        let next = Charge {
            status: ChargeStatus::Refunded,
            refund: Some(settled),
            ..charge.clone()
        };
        let entries = if next.splits.is_empty() {
            Vec::new()
        } else {
            self.store.splits.get_splits(&next.transaction_id).await?
        };
        let event = charge_event(&next, &entries, EventType::CashinRefunded, &reference, now);
        Ok(refund_transition(next, None, vec![event], Vec::new()))
    }

    /// The provider refused the devolution: the charge is CONFIRMED again with its money back.
    async fn failed(
        &self,
        charge: &Charge,
        refund: ChargeRefund,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<ChargeTransition, DomainError> {
        let reference = refund.reference(&charge.transaction_id);
        let mut outbox = Vec::new();
        // Give back exactly what was taken: a refund of a charge whose splits were not
        // booked took `incoming`, so the money returns there and the splits are booked
        // after all (a fresh charge-confirmed message: the first one found the charge
        // REFUND_PROCESSING and booked nothing). Otherwise it returns to `available`
        // and the cancelled splits stay cancelled.
        let booked = self
            .store
            .ledger
            .movement_exists(
                &MovementKind::SplitsBooked.movement_id(charge.transaction_id.as_str()),
            )
            .await?;
        let bucket = if booked {
            Bucket::Available
        } else {
            outbox.push(rebook_message(charge, refund.attempt, now));
            Bucket::Incoming
        };
        let next = Charge {
            status: ChargeStatus::Confirmed,
            refund: Some(ChargeRefund {
                state: RefundState::Failed,
                failure_reason: Some(reason),
                settled_at: Some(now),
                ..refund
            }),
            ..charge.clone()
        };
        let movement = Movement::transfer(
            MovementKind::RefundReturned,
            &charge.account_id,
            &reference,
            LedgerAccount::PixNetwork,
            LedgerAccount::Merchant(charge.account_id.clone(), bucket),
            charge.amount,
            now,
        )
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(refund_transition(next, Some(movement), Vec::new(), outbox))
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

/// Where a refund's money comes from: the splits it cancels, the ledger legs that move the
/// money to the PIX network, and the draw on the `available` shards.
struct RefundFunding {
    splits: RefundSplits,
    legs: Vec<Leg>,
    draw: AvailableDraw,
}

/// The refund a request starts: the next attempt, PROCESSING.
fn new_refund(
    charge: &Charge,
    input: &RefundInput,
    claim: Option<&IdempotencyClaim>,
    now: DateTime<Utc>,
) -> ChargeRefund {
    ChargeRefund {
        attempt: charge.refund.as_ref().map_or(1, |r| r.attempt + 1),
        state: RefundState::Processing,
        reason: input.reason.clone(),
        description: input.description.clone(),
        end_to_end_id: None,
        provider_refund_id: None,
        failure_reason: None,
        requested_at: now,
        settled_at: None,
        idempotency_key: claim.map(|c| c.key.clone()),
    }
}

/// The splits a refund cancels: those still SCHEDULED and in no payout, CANCELLED as of `now`.
fn cancel_scheduled(entries: Vec<SplitEntry>, now: DateTime<Utc>) -> Vec<SplitEntry> {
    entries
        .into_iter()
        .filter(|s| s.state == SplitState::Scheduled && s.payout_id.is_none())
        .map(|s| SplitEntry {
            state: SplitState::Cancelled,
            updated_at: now,
            ..s
        })
        .collect()
}

/// The provider accepted the devolution and named it; its outcome comes later (by webhook).
fn accepted(
    charge: &Charge,
    refund: ChargeRefund,
    provider_refund_id: String,
    end_to_end_id: EndToEndId,
) -> ChargeTransition {
    let next = Charge {
        refund: Some(ChargeRefund {
            end_to_end_id: Some(end_to_end_id),
            provider_refund_id: Some(provider_refund_id),
            ..refund
        }),
        ..charge.clone()
    };
    refund_transition(next, None, Vec::new(), Vec::new())
}

/// The write of a refund outcome: the charge from REFUND_PROCESSING to `next`.
fn refund_transition(
    next: Charge,
    movement: Option<Movement>,
    events: Vec<AccountEvent>,
    outbox: Vec<OutboxMessage>,
) -> ChargeTransition {
    ChargeTransition {
        charge: next,
        from: ChargeStatus::RefundProcessing,
        movement,
        events,
        outbox,
    }
}

/// A charge-confirmed message for a charge whose refund failed before its splits were
/// booked; its own id, since the first message's outbox id is taken for good.
fn rebook_message(charge: &Charge, attempt: u32, now: DateTime<Utc>) -> OutboxMessage {
    let message = PipelineMessage::ChargeConfirmed {
        transaction_id: charge.transaction_id.clone(),
        account_id: charge.account_id.clone(),
    };
    OutboxMessage {
        id: format!("{}#refund-failed-{attempt}", message.outbox_id()),
        ..message.to_outbox(now)
    }
}

fn leg(account: LedgerAccount, cents: i64) -> Leg {
    Leg {
        account,
        amount: Money::from_cents(cents),
    }
}

/// `refund:{transactionId}#{attempt}`: what the provider deduplicates one refund attempt by.
pub fn refund_idempotency_key(id: &TransactionId, attempt: u32) -> String {
    format!("refund:{id}#{attempt}")
}

/// The charge and attempt of a [`refund_idempotency_key`].
pub fn parse_refund_idempotency_key(key: &str) -> Option<(TransactionId, u32)> {
    let (id, attempt) = key.strip_prefix("refund:")?.split_once('#')?;
    Some((TransactionId::parse(id)?, attempt.parse().ok()?))
}

/// An event about a charge; `data` is the charge as GET shows it (without the QR image).
pub(crate) fn charge_event(
    charge: &Charge,
    entries: &[SplitEntry],
    event_type: EventType,
    subject: &str,
    at: DateTime<Utc>,
) -> AccountEvent {
    let data = serde_json::to_value(ChargeView::new(charge, entries, None))
        .unwrap_or(serde_json::Value::Null);
    AccountEvent::new(&charge.account_id, event_type, subject, at, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_round_trip() {
        let id = TransactionId::generate();
        let key = refund_idempotency_key(&id, 2);
        assert_eq!(parse_refund_idempotency_key(&key), Some((id, 2)));
        assert_eq!(parse_refund_idempotency_key("po_abc"), None);
        assert_eq!(parse_refund_idempotency_key("refund:xyz#1"), None);
    }
}
