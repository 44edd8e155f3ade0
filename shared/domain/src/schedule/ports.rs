//! The payout-schedule port: each account's schedule and the next window it is due at.
//!
//! The scheduler (a later stage) finds due accounts through an index on `next_run_at` and
//! claims each window with a conditional write; this module is the part the schedule API needs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::error::WriteOutcome;
use crate::pix::ids::AccountId;
use crate::schedule::PayoutSchedule;

/// An account's payout schedule as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleState {
    pub account_id: AccountId,
    pub schedule: PayoutSchedule,
    /// The next window: when it comes, the account's SCHEDULED splits booked up to this instant
    /// are paid out.
    pub next_run_at: DateTime<Utc>,
    /// Grows by one with every write; a replacing write names the version it read, so two
    /// concurrent changes cannot silently overwrite each other.
    pub version: u64,
    pub updated_at: DateTime<Utc>,
    /// The payout scheduler's claim on a window, while a run is under way (or crashed: an
    /// expired lease whose window the next run must finish first). Only the scheduler's
    /// writes change it; a schedule replacement keeps the stored lease as it is.
    pub lease: Option<RunLease>,
}

/// A payout run's claim on one window of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLease {
    /// Random per run; finishing the window requires it, so a run whose lease expired and was
    /// taken over cannot finish (or move the schedule) on top of its successor.
    pub run_id: String,
    /// The window (cut-off) being paid.
    pub window: DateTime<Utc>,
    /// After this instant another run may take the window over and continue it.
    pub lease_until: DateTime<Utc>,
}

impl ScheduleState {
    /// What a new account gets: DAILY at 09:00 (São Paulo), first window after `now`.
    pub fn initial(account_id: &AccountId, now: DateTime<Utc>) -> ScheduleState {
        let schedule = PayoutSchedule::default();
        ScheduleState {
            account_id: account_id.clone(),
            next_run_at: schedule.next_run_after(now),
            schedule,
            version: 1,
            updated_at: now,
            lease: None,
        }
    }
}

#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Strongly consistent. `None` for an account created before schedules were stored (the
    /// API shows [`ScheduleState::initial`] for it).
    async fn get_schedule(&self, account: &AccountId) -> Result<Option<ScheduleState>, StoreError>;

    /// Writes `state` (its `version` already the new one; its `lease` is ignored: the stored
    /// lease, if any, is kept) if the stored version is
    /// `expected_version` (`None`: no schedule stored yet); otherwise
    /// [`WriteOutcome::Conflict`] and nothing changes. One conditional write.
    async fn put_schedule(
        &self,
        state: &ScheduleState,
        expected_version: Option<u64>,
    ) -> Result<WriteOutcome, StoreError>;
}
