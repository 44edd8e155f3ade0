//! A requested refund's life at the provider: asked (idempotency key
//! `refund:{transactionId}#{refundId}`) inline and, should that fail or the process die, by
//! the `RefundRequested` message on `payout-requests`. The provider answers with the
//! devolução's `D…` id; its settlement (at once, or later by webhook) makes the refund
//! COMPLETED with `CASHIN_REFUNDED` (the charge PARTIALLY_REFUNDED or REFUNDED), or — refused
//! — FAILED, each party given back what it bore where its money has not moved on (see
//! [`super::refund_failure`]): the merchant may ask again, and that refund divides anew.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::RefundService;
use crate::charge::Charge;
use crate::charge::ports::ChargeTransition;
use crate::charge::view::ChargeView;
use crate::error::WriteOutcome;
use crate::error::{DomainError, ProviderError, StoreError};
use crate::flows::create_charge::truncate_to_millis;
use crate::ledger::{Bucket, LedgerAccount, Movement, MovementKind};
use crate::messaging::events::{AccountEvent, EventType};
use crate::messaging::outbox::{OutboxMessage, PipelineMessage};
use crate::pix::ids::{RecipientId, RefundId, TransactionId};
use crate::provider::{RefundOutcome, RefundReference, RefundRequest};
use crate::refund::liability::SplitPartKind;
use crate::refund::ports::FailRefund;
use crate::refund::{ChargeRefund, RefundState};
use crate::split::entry::SplitEntry;

impl RefundService {
    /// The queue's entry point (`RefundRequested`): asks the provider for refund `refund_id`
    /// of the charge, unless it is settled already.
    pub async fn execute(
        &self,
        id: &TransactionId,
        refund_id: &RefundId,
    ) -> Result<Charge, DomainError> {
        let charge = self
            .store
            .charges
            .get_charge(id)
            .await?
            .ok_or(DomainError::NotFound("charge"))?;
        self.execute_refund(charge, refund_id).await
    }

    pub(super) async fn execute_refund(
        &self,
        charge: Charge,
        refund_id: &RefundId,
    ) -> Result<Charge, DomainError> {
        let (Some(refund), Some(payment)) = (charge.refund(refund_id), &charge.payment) else {
            return Ok(charge);
        };
        // Settled, or accepted by the provider already (pending, with its id): the outcome
        // comes by webhook, and asking again would only repeat the acceptance.
        if refund.state != RefundState::Processing || refund.provider_refund_id.is_some() {
            return Ok(charge);
        }
        let request = RefundRequest {
            idempotency_key: refund_idempotency_key(&charge.transaction_id, refund_id),
            transaction_id: charge.transaction_id.clone(),
            provider_charge_id: charge.provider_charge_id.clone(),
            end_to_end_id: payment.end_to_end_id.clone(),
            amount: refund.amount,
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
                warn!(transaction_id = %charge.transaction_id, refund_id = %refund_id, error = %e, "refund not sent yet");
                return Ok(charge);
            }
        };
        let refund_id = refund_id.clone();
        self.record(charge, &refund_id, outcome).await
    }

    /// Records a refund outcome `provider` reported by webhook, for the refund its key names
    /// or, when the report names only the charge, for the one refund in flight. A provider can
    /// only settle refunds of charges it holds; a report on a settled refund changes nothing.
    pub async fn settle_reported(
        &self,
        provider: &str,
        refund: &RefundReference,
        outcome: RefundOutcome,
    ) -> Result<Charge, DomainError> {
        let (id, refund_id) = match refund {
            RefundReference::IdempotencyKey(key) => {
                let (id, refund_id) =
                    parse_refund_idempotency_key(key).ok_or(DomainError::NotFound("refund"))?;
                (id, Some(refund_id))
            }
            RefundReference::CurrentAttempt(id) => (id.clone(), None),
        };
        let charge = match self.store.charges.get_charge(&id).await? {
            Some(charge) if charge.provider == provider => charge,
            _ => return Err(DomainError::NotFound("charge")),
        };
        let refund_id = match refund_id {
            Some(refund_id) if charge.refund(&refund_id).is_some() => refund_id,
            Some(_) => return Err(DomainError::NotFound("refund")),
            None => in_flight(&charge, &outcome).ok_or(DomainError::NotFound("refund"))?,
        };
        self.record(charge, &refund_id, outcome).await
    }

    /// Records `outcome` of refund `refund_id`, re-reading the charge when another refund
    /// write of it came first.
    async fn record(
        &self,
        mut charge: Charge,
        refund_id: &RefundId,
        outcome: RefundOutcome,
    ) -> Result<Charge, DomainError> {
        for _ in 0..super::PLAN_ATTEMPTS {
            let Some(refund) = charge.refund(refund_id).cloned() else {
                return Ok(charge);
            };
            if refund.state != RefundState::Processing {
                return Ok(charge);
            }
            let now = truncate_to_millis(self.clock.now());
            let write = match outcome.clone() {
                RefundOutcome::Pending {
                    provider_refund_id,
                    end_to_end_id,
                } => {
                    if refund.end_to_end_id.as_ref() == Some(&end_to_end_id) {
                        return Ok(charge);
                    }
                    let accepted = ChargeRefund {
                        end_to_end_id: Some(end_to_end_id),
                        provider_refund_id: Some(provider_refund_id),
                        ..refund
                    };
                    OutcomeWrite::Transition(refund_transition(
                        &charge,
                        accepted,
                        None,
                        Vec::new(),
                        Vec::new(),
                    ))
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
                    OutcomeWrite::Transition(self.completed(&charge, settled, now).await?)
                }
                RefundOutcome::Failed { reason } => {
                    self.failed(&charge, refund, reason, now).await?
                }
            };
            let outcome = match &write {
                OutcomeWrite::Transition(t) => self.store.transitions.transition_charge(t).await?,
                OutcomeWrite::Failure(f) => self.store.refunds.fail_refund(f).await?,
            };
            let written = write.charge();
            match outcome {
                WriteOutcome::Applied => {
                    info!(transaction_id = %charge.transaction_id, refund_id = %refund_id, status = written.status.as_str(), "refund recorded");
                    return Ok(written.clone());
                }
                WriteOutcome::Conflict => {
                    // Another write came first (this outcome delivered twice, another refund,
                    // a split or recipient the failure restores changed): look again at what
                    // is stored.
                    charge = self
                        .store
                        .charges
                        .get_charge(&charge.transaction_id)
                        .await?
                        .ok_or(DomainError::NotFound("charge"))?;
                }
            }
        }
        Err(DomainError::ConcurrentUpdate)
    }

    /// The devolução settled (`settled` is the refund as completed): the merchant hears
    /// `CASHIN_REFUNDED`, whose `data` is the charge with this refund settled.
    async fn completed(
        &self,
        charge: &Charge,
        settled: ChargeRefund,
        now: DateTime<Utc>,
    ) -> Result<ChargeTransition, DomainError> {
        let reference = settled.reference(&charge.transaction_id);
        let next = charge.with_refund(settled.clone());
        let entries = if next.splits.is_empty() {
            Vec::new()
        } else {
            self.store.splits.get_splits(&next.transaction_id).await?
        };
        let event = charge_event(&next, &entries, EventType::CashinRefunded, &reference, now);
        Ok(refund_transition(
            charge,
            settled,
            None,
            vec![event],
            Vec::new(),
        ))
    }

    /// The provider refused the devolução: its money comes back, and each party gets back
    /// what it bore where it still can ([`super::refund_failure`]).
    async fn failed(
        &self,
        charge: &Charge,
        refund: ChargeRefund,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<OutcomeWrite, DomainError> {
        let failed = ChargeRefund {
            state: RefundState::Failed,
            failure_reason: Some(reason),
            settled_at: Some(now),
            ..refund
        };
        // A refund requested before its charge's splits were booked (only before partial
        // refunds existed: now a refund books them first) took `incoming`: the money returns
        // there and the splits are booked after all.
        let booked = self
            .store
            .ledger
            .movement_exists(
                &MovementKind::SplitsBooked.movement_id(charge.transaction_id.as_str()),
            )
            .await?;
        if !booked {
            let movement = Movement::transfer(
                MovementKind::RefundReturned,
                &charge.account_id,
                &failed.reference(&charge.transaction_id),
                LedgerAccount::PixNetwork,
                LedgerAccount::Merchant(charge.account_id.clone(), Bucket::Incoming),
                failed.amount,
                now,
            )
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let rebook = rebook_message(charge, &failed.id, now);
            return Ok(OutcomeWrite::Transition(refund_transition(
                charge,
                failed,
                Some(movement),
                Vec::new(),
                vec![rebook],
            )));
        }
        let entries = if failed.split_parts.is_empty() {
            Vec::new()
        } else {
            self.store.splits.get_splits(&charge.transaction_id).await?
        };
        let mut recipients = Vec::new();
        for id in indebted(charge, &failed, &entries) {
            if let Some(recipient) = self
                .store
                .recipients
                .get_recipient(&charge.account_id, &id)
                .await?
            {
                recipients.push(recipient);
            }
        }
        Ok(OutcomeWrite::Failure(super::refund_failure(
            charge,
            failed,
            &entries,
            &recipients,
            now,
        )?))
    }
}

/// The write of a refund outcome: a plain transition of the charge, or a refusal that gives
/// parties back what the refund took.
enum OutcomeWrite {
    Transition(ChargeTransition),
    Failure(FailRefund),
}

impl OutcomeWrite {
    fn charge(&self) -> &Charge {
        match self {
            OutcomeWrite::Transition(t) => &t.charge,
            OutcomeWrite::Failure(f) => &f.transition.charge,
        }
    }
}

/// The recipients `refund` indebted (its DEBT parts' splits'), each once.
fn indebted(
    charge: &Charge,
    refund: &ChargeRefund,
    entries: &[SplitEntry],
) -> BTreeSet<RecipientId> {
    refund
        .split_parts
        .iter()
        .filter(|p| p.kind == SplitPartKind::Debt)
        .filter_map(|p| entries.iter().find(|e| e.index == p.index))
        .map(|e| RecipientId::derive(&charge.account_id, e.recipient().grouping_key()))
        .collect()
}

/// The refund a report naming only the charge is about: the one in flight, or the one the
/// provider already named as the outcome does.
fn in_flight(charge: &Charge, outcome: &RefundOutcome) -> Option<RefundId> {
    let named = match outcome {
        RefundOutcome::Completed {
            provider_refund_id, ..
        }
        | RefundOutcome::Pending {
            provider_refund_id, ..
        } => Some(provider_refund_id),
        RefundOutcome::Failed { .. } => None,
    };
    let processing: Vec<&ChargeRefund> = charge
        .refunds
        .iter()
        .filter(|r| r.state == RefundState::Processing)
        .collect();
    if let Some(named) = named
        && let Some(r) = processing
            .iter()
            .find(|r| r.provider_refund_id.as_ref() == Some(named))
    {
        return Some(r.id.clone());
    }
    match processing.as_slice() {
        [only] => Some(only.id.clone()),
        _ => None,
    }
}

/// The write of a refund's outcome: the charge, as read, with `refund` in its new state.
fn refund_transition(
    charge: &Charge,
    refund: ChargeRefund,
    movement: Option<Movement>,
    events: Vec<AccountEvent>,
    outbox: Vec<OutboxMessage>,
) -> ChargeTransition {
    ChargeTransition {
        charge: charge.with_refund(refund),
        from: charge.status,
        from_revision: charge.refund_revision,
        movement,
        events,
        outbox,
    }
}

/// A charge-confirmed message for a charge whose refund failed before its splits were
/// booked; its own id, since the first message's outbox id is taken for good.
fn rebook_message(charge: &Charge, refund_id: &RefundId, now: DateTime<Utc>) -> OutboxMessage {
    let message = PipelineMessage::ChargeConfirmed {
        transaction_id: charge.transaction_id.clone(),
        account_id: charge.account_id.clone(),
    };
    OutboxMessage {
        id: format!("{}#refund-failed-{refund_id}", message.outbox_id()),
        ..message.to_outbox(now)
    }
}

/// `refund:{transactionId}#{refundId}`: what the provider deduplicates one refund by.
pub fn refund_idempotency_key(id: &TransactionId, refund_id: &RefundId) -> String {
    format!("refund:{id}#{refund_id}")
}

/// The charge and refund of a [`refund_idempotency_key`] (or of a key sent before refunds had
/// ids, `refund:{transactionId}#{attempt}`).
pub fn parse_refund_idempotency_key(key: &str) -> Option<(TransactionId, RefundId)> {
    let (id, refund) = key.strip_prefix("refund:")?.split_once('#')?;
    let id = TransactionId::parse(id)?;
    let refund_id = match RefundId::parse(refund) {
        Some(refund_id) => refund_id,
        None => RefundId::legacy(&id, refund.parse().ok()?),
    };
    Some((id, refund_id))
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
        let refund = RefundId::generate();
        let key = refund_idempotency_key(&id, &refund);
        assert_eq!(
            parse_refund_idempotency_key(&key),
            Some((id.clone(), refund))
        );
        assert_eq!(
            parse_refund_idempotency_key(&format!("refund:{id}#2")),
            Some((id.clone(), RefundId::legacy(&id, 2)))
        );
        assert_eq!(parse_refund_idempotency_key("po_abc"), None);
        assert_eq!(parse_refund_idempotency_key("refund:xyz#1"), None);
        assert_eq!(
            parse_refund_idempotency_key(&format!("refund:{id}#x")),
            None
        );
    }
}
