//! Payout-schedule use cases: read an account's schedule, replace it.
//!
//! A replacement is an optimistic-lock write: read the stored state (and its version), compute
//! the new state from the injected clock, write it on the condition that the version is still
//! the one read. Losing that race means another request changed the schedule in between; the
//! change is simply recomputed on top of the new state, a few times, before giving up with
//! [`DomainError::ScheduleChangedConcurrently`] (the client retries; nothing was written).

use std::sync::Arc;

use crate::error::WriteOutcome;
use crate::error::{DomainError, StoreError};
use crate::flows::create_charge::truncate_to_millis;
use crate::pix::clock::Clock;
use crate::pix::ids::AccountId;
use crate::schedule::PayoutSchedule;
use crate::schedule::ports::{ScheduleState, ScheduleStore};

/// How many times a replacement that lost the version race is retried (re-reading first).
pub const CONFLICT_RETRIES: usize = 3;

#[derive(Clone)]
pub struct ScheduleService {
    store: Arc<dyn ScheduleStore>,
    clock: Arc<dyn Clock>,
}

impl ScheduleService {
    /// Any [`DynStore`](crate::store::DynStore) coerces to the `store` argument.
    pub fn new(store: Arc<dyn ScheduleStore>, clock: Arc<dyn Clock>) -> ScheduleService {
        ScheduleService { store, clock }
    }

    /// The account's schedule; for an account created before schedules were stored, what a
    /// new account gets (DAILY 09:00, next window after now), shown but not written.
    pub async fn current(&self, account_id: &AccountId) -> Result<ScheduleState, DomainError> {
        match self.store.get_schedule(account_id).await? {
            Some(state) => Ok(state),
            None => Ok(ScheduleState::initial(account_id, self.now())),
        }
    }

    /// Replaces the account's schedule; the next window is the first run of `schedule`
    /// strictly after now.
    pub async fn replace(
        &self,
        account_id: &AccountId,
        schedule: PayoutSchedule,
    ) -> Result<ScheduleState, DomainError> {
        for attempt in 0..=CONFLICT_RETRIES {
            let stored = self.store.get_schedule(account_id).await?;
            let expected = stored.as_ref().map(|s| s.version);
            // The adapter keeps the stored lease anyway; carrying it makes what we return equal
            // to what a later read gives back.
            let lease = stored.and_then(|s| s.lease);
            let now = self.now();
            let state = ScheduleState {
                account_id: account_id.clone(),
                schedule: schedule.normalized(),
                next_run_at: schedule.next_run_after(now),
                version: next_version(expected)?,
                updated_at: now,
                lease,
            };
            match self.store.put_schedule(&state, expected).await? {
                WriteOutcome::Applied => return Ok(state),
                WriteOutcome::Conflict => {
                    tracing::debug!(%account_id, attempt, "payout schedule changed meanwhile");
                }
            }
        }
        Err(DomainError::ScheduleChangedConcurrently)
    }

    /// Stored times carry milliseconds; truncating up front keeps what we return equal to
    /// what a later read gives back.
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        truncate_to_millis(self.clock.now())
    }
}

/// The version a write after `expected` carries. Never reuses a version: a write that kept
/// the old one would let a concurrent writer that read the same version overwrite it blindly.
fn next_version(expected: Option<u64>) -> Result<u64, StoreError> {
    match expected {
        None => Ok(1),
        Some(v) => v
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt("payout schedule version overflow".into())),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use chrono::{DateTime, NaiveTime, TimeZone, Utc, Weekday};
    use futures::executor::block_on;

    use super::*;

    struct FixedClock(DateTime<Utc>);

    impl Clock for FixedClock {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
    }

    /// A store whose writes lose the version race `conflicts` times, then apply; it records
    /// every write it was asked for.
    struct RacingStore {
        stored: Mutex<Option<ScheduleState>>,
        conflicts: Mutex<usize>,
        reads: Mutex<usize>,
        writes: Mutex<Vec<(ScheduleState, Option<u64>)>>,
    }

    impl RacingStore {
        fn new(stored: Option<ScheduleState>, conflicts: usize) -> Arc<RacingStore> {
            Arc::new(RacingStore {
                stored: Mutex::new(stored),
                conflicts: Mutex::new(conflicts),
                reads: Mutex::new(0),
                writes: Mutex::new(Vec::new()),
            })
        }
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[async_trait]
    impl ScheduleStore for RacingStore {
        async fn get_schedule(&self, _: &AccountId) -> Result<Option<ScheduleState>, StoreError> {
            *lock(&self.reads) += 1;
            Ok(lock(&self.stored).clone())
        }

        async fn put_schedule(
            &self,
            state: &ScheduleState,
            expected: Option<u64>,
        ) -> Result<WriteOutcome, StoreError> {
            lock(&self.writes).push((state.clone(), expected));
            let mut conflicts = lock(&self.conflicts);
            if *conflicts > 0 {
                *conflicts -= 1;
                // Someone else wrote meanwhile: the next read sees a newer version.
                if let Some(s) = lock(&self.stored).as_mut() {
                    s.version += 1;
                }
                return Ok(WriteOutcome::Conflict);
            }
            *lock(&self.stored) = Some(state.clone());
            Ok(WriteOutcome::Applied)
        }
    }

    fn now() -> DateTime<Utc> {
        // Monday 2031-02-10 10:30:00.123456789Z, 07:30 in São Paulo.
        Utc.timestamp_nanos(1_928_485_800_123_456_789)
    }

    fn service(store: &Arc<RacingStore>) -> ScheduleService {
        ScheduleService::new(store.clone(), Arc::new(FixedClock(now())))
    }

    fn fridays() -> PayoutSchedule {
        PayoutSchedule::weekly(
            Weekday::Fri,
            NaiveTime::from_hms_opt(18, 0, 0).expect("time"),
        )
    }

    #[test]
    fn current_shows_the_default_for_an_account_without_one_and_writes_nothing() {
        let store = RacingStore::new(None, 0);
        let account = AccountId::generate();
        let current = block_on(service(&store).current(&account)).expect("current");
        assert_eq!(
            current,
            ScheduleState::initial(&account, truncate_to_millis(now()))
        );
        assert!(lock(&store.writes).is_empty());
    }

    #[test]
    fn first_replacement_expects_nothing_stored_and_is_version_one() {
        let store = RacingStore::new(None, 0);
        let account = AccountId::generate();
        let saved = block_on(service(&store).replace(&account, fridays())).expect("replace");
        assert_eq!(saved.version, 1);
        assert_eq!(saved.updated_at, truncate_to_millis(now()));
        assert_eq!(
            saved.next_run_at,
            fridays().next_run_after(truncate_to_millis(now()))
        );
        assert_eq!(lock(&store.writes).clone(), vec![(saved, None)]);
    }

    #[test]
    fn a_lost_race_is_recomputed_on_the_new_version() {
        let account = AccountId::generate();
        let initial = ScheduleState::initial(&account, now());
        let store = RacingStore::new(Some(initial), 2);
        let saved = block_on(service(&store).replace(&account, fridays())).expect("replace");
        let expected: Vec<Option<u64>> = lock(&store.writes).iter().map(|w| w.1).collect();
        assert_eq!(expected, vec![Some(1), Some(2), Some(3)]);
        assert_eq!(saved.version, 4);
        assert_eq!(*lock(&store.reads), 3);
    }

    #[test]
    fn gives_up_after_the_retries_with_nothing_written() {
        let account = AccountId::generate();
        let store = RacingStore::new(Some(ScheduleState::initial(&account, now())), usize::MAX);
        let result = block_on(service(&store).replace(&account, fridays()));
        assert_eq!(result, Err(DomainError::ScheduleChangedConcurrently));
        assert_eq!(lock(&store.writes).len(), CONFLICT_RETRIES + 1);
        assert_eq!(*lock(&store.reads), CONFLICT_RETRIES + 1);
    }

    #[test]
    fn versions_start_at_one_and_always_grow() {
        assert_eq!(next_version(None), Ok(1));
        assert_eq!(next_version(Some(1)), Ok(2));
        assert!(next_version(Some(u64::MAX)).is_err());
    }
}
