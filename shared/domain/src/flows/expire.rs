//! The charge-expiry sweeper (EventBridge schedule, every minute): stores PENDING → EXPIRED for
//! charges whose `expirationDate` has come, with `CASHIN_EXPIRED`, and releases the cautelar
//! holds whose `until` has come with no word from the provider ([`HoldService::release_due`]).
//! Reads go through the expiry and hold indexes (never a scan). GET already shows EXPIRED from that instant
//! ([`Charge::status_at`]); the sweeper makes it durable, listable and reported.
//!
//! Idempotent and race-safe: the transition is conditioned on the charge still being PENDING,
//! so a payment landing first wins (and one landing after is still accepted, flagged
//! `paidAfterExpiration`), and two sweepers never expire a charge twice.

use std::sync::Arc;

use tracing::{info, warn};

use crate::charge::ports::ChargeTransition;
use crate::charge::ports::{ChargeStore, ChargeTransitions};
use crate::charge::{Charge, ChargeStatus};
use crate::error::DomainError;
use crate::error::WriteOutcome;
use crate::flows::create_charge::truncate_to_millis;
use crate::flows::hold::{HoldService, HoldServicePorts};
use crate::flows::refund::charge_event;
use crate::messaging::events::EventType;
use crate::pix::clock::Clock;

/// Charges read per index page.
pub const SWEEP_PAGE: usize = 100;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Charges stored EXPIRED by this sweep.
    pub expired: usize,
    /// Charges found in the index that were not expired by this sweep (paid or expired
    /// meanwhile, or not due after all).
    pub skipped: usize,
    /// Cautelar holds released because their `until` passed.
    pub holds_released: usize,
}

/// The storage ports [`ExpirySweeper`] uses, and nothing more.
#[derive(Clone)]
pub struct ExpirySweeperPorts {
    pub charges: Arc<dyn ChargeStore>,
    pub transitions: Arc<dyn ChargeTransitions>,
}

#[derive(Clone)]
pub struct ExpirySweeper {
    store: ExpirySweeperPorts,
    holds: HoldService,
    clock: Arc<dyn Clock>,
}

impl ExpirySweeper {
    pub fn new(store: ExpirySweeperPorts, clock: Arc<dyn Clock>) -> Self {
        let holds = HoldService::new(
            HoldServicePorts {
                charges: store.charges.clone(),
                transitions: store.transitions.clone(),
            },
            clock.clone(),
        );
        ExpirySweeper {
            store,
            holds,
            clock,
        }
    }

    /// Expires every due charge and releases every due hold, at most `max` of each (the rest
    /// wait for the next run).
    pub async fn sweep(&self, max: usize) -> Result<SweepReport, DomainError> {
        let mut report = self.expire_due(max).await?;
        report.holds_released = self.holds.release_due(max).await?;
        Ok(report)
    }

    async fn expire_due(&self, max: usize) -> Result<SweepReport, DomainError> {
        let now = truncate_to_millis(self.clock.now());
        let mut report = SweepReport::default();
        while report.expired < max {
            let page = self
                .store
                .transitions
                .expired_pending_charges(now, SWEEP_PAGE.min(max - report.expired))
                .await?;
            let full = page.len() == SWEEP_PAGE.min(max - report.expired);
            let mut progressed = false;
            for charge in page {
                if self.expire(charge, now).await? {
                    report.expired += 1;
                    progressed = true;
                } else {
                    report.skipped += 1;
                }
            }
            // An index that lags behind the writes may hand back what was just expired:
            // stop when a page changed nothing rather than read it again.
            if !full || !progressed {
                break;
            }
        }
        if report.expired > 0 {
            info!(
                expired = report.expired,
                skipped = report.skipped,
                "expiry sweep"
            );
        }
        Ok(report)
    }

    async fn expire(
        &self,
        charge: Charge,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, DomainError> {
        if charge.status_at(now) != ChargeStatus::Expired || charge.status != ChargeStatus::Pending
        {
            return Ok(false);
        }
        let expired = Charge {
            status: ChargeStatus::Expired,
            ..charge
        };
        let event = charge_event(
            &expired,
            &[],
            EventType::CashinExpired,
            expired.transaction_id.as_str(),
            now,
        );
        let write = ChargeTransition {
            charge: expired,
            from: ChargeStatus::Pending,
            from_revision: 0,
            movement: None,
            events: vec![event],
            outbox: Vec::new(),
        };
        match self.store.transitions.transition_charge(&write).await? {
            WriteOutcome::Applied => Ok(true),
            WriteOutcome::Conflict => {
                warn!(transaction_id = %write.charge.transaction_id, "charge changed before it could expire");
                Ok(false)
            }
        }
    }
}
