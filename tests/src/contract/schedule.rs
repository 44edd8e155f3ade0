//! `ScheduleStore`: a write names the version it replaces (`None`: nothing stored yet) and is
//! refused with [`WriteOutcome::Conflict`], changing nothing, when that is not the stored
//! version; of concurrent writes on one version exactly one applies. (The default schedule a
//! new account starts with is written by `create_account`: see [`super::account`].)

use chrono::{DateTime, Duration, NaiveTime, Utc, Weekday};
use futures::future::join_all;
use pixgw_api::store::DynStore;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::schedule::PayoutSchedule;
use pixgw_domain::schedule::ports::ScheduleState;

use super::{Subject, base_time, create_account};

pub fn hm(hour: u32, minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, minute, 0).expect("valid time")
}

/// The state a schedule replacement writes: `schedule` from `now`, one version after
/// `previous`.
pub fn replacement(
    account_id: &AccountId,
    schedule: PayoutSchedule,
    previous: Option<u64>,
    now: DateTime<Utc>,
) -> ScheduleState {
    ScheduleState {
        account_id: account_id.clone(),
        schedule,
        next_run_at: schedule.next_run_after(now),
        version: previous.map_or(1, |v| v + 1),
        updated_at: now,
        lease: None,
    }
}

pub fn fridays_at_six() -> PayoutSchedule {
    PayoutSchedule::weekly(Weekday::Fri, hm(18, 0))
}

pub async fn stored_schedule(store: &DynStore, account_id: &AccountId) -> Option<ScheduleState> {
    store.get_schedule(account_id).await.expect("get schedule")
}

async fn put(store: &DynStore, state: &ScheduleState, expected: Option<u64>) -> WriteOutcome {
    store
        .put_schedule(state, expected)
        .await
        .expect("put schedule")
}

pub async fn put_expecting_none_conflicts_when_one_is_stored(subject: Subject) {
    let store = &subject.store;
    let (account, _) = create_account(store).await;
    let before = stored_schedule(store, &account.id).await;
    let state = replacement(&account.id, fridays_at_six(), None, base_time());
    assert_eq!(put(store, &state, None).await, WriteOutcome::Conflict);
    assert_eq!(stored_schedule(store, &account.id).await, before);
}

pub async fn put_with_the_read_version_applies_and_reads_back(subject: Subject) {
    let store = &subject.store;
    let (account, _) = create_account(store).await;
    let now = base_time() + Duration::minutes(5);
    let weekly = replacement(&account.id, fridays_at_six(), Some(1), now);
    assert_eq!(put(store, &weekly, Some(1)).await, WriteOutcome::Applied);
    assert_eq!(
        stored_schedule(store, &account.id).await,
        Some(weekly.clone())
    );

    // And again on top of it, with another frequency (optional fields come and go).
    let monthly_schedule = PayoutSchedule::monthly(31, hm(10, 30)).expect("valid day");
    let monthly = replacement(
        &account.id,
        monthly_schedule,
        Some(2),
        now + Duration::hours(1),
    );
    assert_eq!(put(store, &monthly, Some(2)).await, WriteOutcome::Applied);
    let read = stored_schedule(store, &account.id).await.expect("stored");
    assert_eq!(read, monthly);
    assert_eq!(read.schedule.weekday, None);
    assert_eq!(read.schedule.day_of_month, Some(31));
}

pub async fn stale_or_future_version_conflicts_and_changes_nothing(subject: Subject) {
    let store = &subject.store;
    let (account, _) = create_account(store).await;
    let now = base_time();
    let v2 = replacement(&account.id, fridays_at_six(), Some(1), now);
    assert_eq!(put(store, &v2, Some(1)).await, WriteOutcome::Applied);

    let daily_at_noon = PayoutSchedule::daily(hm(12, 0));
    let stale = replacement(&account.id, daily_at_noon, Some(1), now);
    assert_eq!(put(store, &stale, Some(1)).await, WriteOutcome::Conflict);
    let future = replacement(&account.id, daily_at_noon, Some(7), now);
    assert_eq!(put(store, &future, Some(7)).await, WriteOutcome::Conflict);
    assert_eq!(stored_schedule(store, &account.id).await, Some(v2));
}

/// An account created before schedules were stored: nothing to read, and only a write that
/// expects nothing may create its schedule.
pub async fn account_without_a_schedule_takes_a_first_write(subject: Subject) {
    let store = &subject.store;
    let account_id = AccountId::generate();
    assert_eq!(stored_schedule(store, &account_id).await, None);
    let first = replacement(&account_id, fridays_at_six(), None, base_time());
    let pretending = ScheduleState {
        version: 2,
        ..first.clone()
    };
    assert_eq!(
        put(store, &pretending, Some(1)).await,
        WriteOutcome::Conflict
    );
    assert_eq!(stored_schedule(store, &account_id).await, None);
    assert_eq!(put(store, &first, None).await, WriteOutcome::Applied);
    assert_eq!(stored_schedule(store, &account_id).await, Some(first));
}

pub async fn schedules_are_per_account(subject: Subject) {
    let store = &subject.store;
    let (a, _) = create_account(store).await;
    let (b, _) = create_account(store).await;
    let changed = replacement(&a.id, fridays_at_six(), Some(1), base_time());
    assert_eq!(put(store, &changed, Some(1)).await, WriteOutcome::Applied);
    assert_eq!(stored_schedule(store, &a.id).await, Some(changed));
    assert_eq!(
        stored_schedule(store, &b.id).await,
        Some(ScheduleState::initial(&b.id, b.created_at))
    );
}

pub async fn concurrent_puts_on_one_version_apply_once(subject: Subject) {
    let store = &subject.store;
    let (account, _) = create_account(store).await;
    let now = base_time();
    let tasks = (0..10u32).map(|i| {
        let store = store.clone();
        // Ten different schedules, so the stored one tells which writer won.
        let state = replacement(
            &account.id,
            PayoutSchedule::daily(hm(8 + i, 15)),
            Some(1),
            now,
        );
        tokio::spawn(async move {
            let outcome = store.put_schedule(&state, Some(1)).await;
            (state, outcome)
        })
    });
    let mut winners = Vec::new();
    for joined in join_all(tasks).await {
        let (state, outcome) = joined.expect("task");
        if outcome.expect("put schedule") == WriteOutcome::Applied {
            winners.push(state);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one write on version 1 applies");
    assert_eq!(stored_schedule(store, &account.id).await, winners.pop());
}
