//! Cautelar holds (bloqueio cautelar, MED 2.0): a payment the receiving institution holds as
//! suspicious for up to [`MAX_HOLD_HOURS`] hours. Its confirmation (see [`crate::flows::confirm`])
//! makes the charge CONFIRMED with a `hold`, its money in `held`, and books no split. Then:
//!
//! - **released** (the provider's notice, or the sweeper once `until` passed with no word):
//!   held → incoming and the `ChargeConfirmed` message, so the charge is booked as any payment
//!   (immediate splits paid then); `CASHIN_HOLD_RELEASED`.
//! - **returned** (the provider's notice): held → PIX network, a devolução of the whole amount
//!   (nature `MED_FRAUDE` unless the provider names another); the charge is REFUNDED and its
//!   splits, never booked, are CANCELLED; `CASHIN_REFUNDED`.
//!
//! Each is ONE [`ChargeTransition`] conditioned on the charge's status and refund revision
//! (which it bumps), so a release and a return racing each other apply once, and a notice
//! delivered twice finds the hold settled and changes nothing.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::charge::ports::{ChargeStore, ChargeTransition, ChargeTransitions};
use crate::charge::{Charge, ChargeHold, HoldState};
use crate::dispute::DevolutionNature;
use crate::error::{DomainError, StoreError, WriteOutcome};
use crate::flows::create_charge::truncate_to_millis;
use crate::flows::refund::charge_event;
use crate::ledger::{Bucket, LedgerAccount, Movement, MovementKind};
use crate::messaging::events::EventType;
use crate::messaging::outbox::PipelineMessage;
use crate::pix::clock::Clock;
use crate::pix::ids::TransactionId;
use crate::pix::payment::EndToEndId;

pub use crate::charge::MAX_HOLD_HOURS;

/// Charges read per index page by the sweeper.
pub const HOLD_SWEEP_PAGE: usize = 100;

/// How a hold ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldEnd {
    Released,
    Returned {
        nature: DevolutionNature,
        end_to_end_id: Option<EndToEndId>,
    },
}

/// What a hold notice did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldResult {
    Applied,
    /// The hold was settled already (a redelivery, or the other ending won): nothing changed.
    Duplicate,
}

/// The storage ports [`HoldService`] uses, and nothing more.
#[derive(Clone)]
pub struct HoldServicePorts {
    pub charges: Arc<dyn ChargeStore>,
    pub transitions: Arc<dyn ChargeTransitions>,
}

#[derive(Clone)]
pub struct HoldService {
    store: HoldServicePorts,
    clock: Arc<dyn Clock>,
}

impl HoldService {
    pub fn new(store: HoldServicePorts, clock: Arc<dyn Clock>) -> Self {
        HoldService { store, clock }
    }

    /// Ends the hold of `provider`'s charge `id` as `end` says.
    pub async fn end(
        &self,
        provider: &str,
        id: &TransactionId,
        end: HoldEnd,
    ) -> Result<HoldResult, DomainError> {
        let charge = match self.store.charges.get_charge(id).await? {
            Some(charge) if charge.provider == provider => charge,
            _ => return Err(DomainError::NotFound("charge")),
        };
        if charge.hold.is_none() {
            // A release or return of a payment we hold no hold on: the provider and we
            // disagree. Refused (not found) so it is retried, and logged for operators.
            warn!(transaction_id = %id, "hold notice for a charge without a hold");
            return Err(DomainError::NotFound("hold"));
        }
        self.apply(charge, end).await
    }

    async fn apply(&self, charge: Charge, end: HoldEnd) -> Result<HoldResult, DomainError> {
        let now = truncate_to_millis(self.clock.now());
        let Some(write) = hold_ending(&charge, end, now)? else {
            return Ok(HoldResult::Duplicate);
        };
        match self.store.transitions.transition_charge(&write).await? {
            WriteOutcome::Applied => {
                info!(transaction_id = %charge.transaction_id, status = write.charge.status.as_str(), "hold ended");
                Ok(HoldResult::Applied)
            }
            WriteOutcome::Conflict => {
                // Another ending (or a refund-revision write) won: read again.
                let again = self
                    .store
                    .charges
                    .get_charge(&charge.transaction_id)
                    .await?
                    .ok_or(DomainError::NotFound("charge"))?;
                if again.is_held() {
                    return Err(
                        StoreError::Unavailable("hold ending conflicted; retry".into()).into(),
                    );
                }
                Ok(HoldResult::Duplicate)
            }
        }
    }

    /// Releases every hold whose `until` has passed, at most `max` of them (the rest wait for
    /// the next run): the provider said nothing in time, so the money is the merchant's.
    pub async fn release_due(&self, max: usize) -> Result<usize, DomainError> {
        let now = truncate_to_millis(self.clock.now());
        let mut released = 0;
        while released < max {
            let want = HOLD_SWEEP_PAGE.min(max - released);
            let page = self.store.transitions.held_charges_due(now, want).await?;
            let full = page.len() == want;
            let mut progressed = false;
            for charge in page {
                let due = charge.hold.as_ref().is_some_and(|h| h.until <= now);
                if !due {
                    continue;
                }
                let id = charge.transaction_id.clone();
                // One charge that cannot be released now (a racing write) must not stop the
                // others: it is still in the index, and the next run tries it again.
                match self.apply(charge, HoldEnd::Released).await {
                    Ok(HoldResult::Applied) => {
                        released += 1;
                        progressed = true;
                    }
                    Ok(HoldResult::Duplicate) => {}
                    Err(e) => warn!(transaction_id = %id, error = %e, "hold release deferred"),
                }
            }
            // An index lagging behind the writes may hand back what was just released.
            if !full || !progressed {
                break;
            }
        }
        if released > 0 {
            info!(released, "holds released at their end");
        }
        Ok(released)
    }
}

/// The write that ends `charge`'s hold as `end` says at `now`; `None` when it is not held.
pub fn hold_ending(
    charge: &Charge,
    end: HoldEnd,
    now: DateTime<Utc>,
) -> Result<Option<ChargeTransition>, DomainError> {
    let Some(hold) = charge.hold.as_ref().filter(|h| h.state == HoldState::Held) else {
        return Ok(None);
    };
    let merchant = |bucket| LedgerAccount::Merchant(charge.account_id.clone(), bucket);
    let reference = charge.transaction_id.as_str();
    let (kind, to, settled, event_type) = match &end {
        HoldEnd::Released => (
            MovementKind::HoldReleased,
            merchant(Bucket::Incoming),
            ChargeHold {
                state: HoldState::Released,
                settled_at: Some(now),
                ..hold.clone()
            },
            EventType::CashinHoldReleased,
        ),
        HoldEnd::Returned {
            nature,
            end_to_end_id,
        } => (
            MovementKind::HoldReturned,
            LedgerAccount::PixNetwork,
            ChargeHold {
                state: HoldState::Returned,
                settled_at: Some(now),
                return_nature: Some(*nature),
                return_end_to_end_id: end_to_end_id.clone(),
                ..hold.clone()
            },
            EventType::CashinRefunded,
        ),
    };
    let movement = Movement::transfer(
        kind,
        &charge.account_id,
        reference,
        merchant(Bucket::Held),
        to,
        charge.amount,
        now,
    )
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut next = Charge {
        hold: Some(settled),
        refund_revision: charge.refund_revision.saturating_add(1),
        ..charge.clone()
    };
    next.status = next.status_from_refunds();
    let outbox = match end {
        HoldEnd::Released => vec![
            PipelineMessage::ChargeConfirmed {
                transaction_id: charge.transaction_id.clone(),
                account_id: charge.account_id.clone(),
            }
            .to_outbox(now),
        ],
        HoldEnd::Returned { .. } => Vec::new(),
    };
    let event = charge_event(&next, &[], event_type, reference, now);
    Ok(Some(ChargeTransition {
        charge: next,
        from: charge.status,
        from_revision: charge.refund_revision,
        movement: Some(movement),
        events: vec![event],
        outbox,
    }))
}
