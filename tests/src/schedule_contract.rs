//! The payout-schedule contract: what every adapter of [`ScheduleStore`] must do (DynamoDB and
//! the embedded store), run by `tests/schedule_contract.rs` against a fresh store of each.
//!
//! Each case is an `async fn(DynStore)` that panics on a violation; [`schedule_contract_cases!`]
//! lists them all. The rules: a new account has its default schedule from the moment it
//! exists (written with the account); a write names the version it replaces (`None`: nothing
//! stored yet) and is refused with [`WriteOutcome::Conflict`], changing nothing, when that is
//! not the stored version; of concurrent writes on one version exactly one applies.
//!
//! [`ScheduleStore`]: pixgw_domain::schedule::ports::ScheduleStore

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc, Weekday};
use futures::future::join_all;
use pixgw_api::store::DynStore;
use pixgw_domain::account::ports::CreateAccountError;
use pixgw_domain::account::{Account, ClientCredential};
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::schedule::ports::ScheduleState;
use pixgw_domain::schedule::{Frequency, PayoutSchedule};
use uuid::Uuid;

/// Calls `$callback!($($args)*; sequential: [...], concurrent: [...])` with every case of the
/// schedule contract. `concurrent` cases need a multi-threaded runtime.
#[macro_export]
macro_rules! schedule_contract_cases {
    ($callback:ident ! ( $($args:tt)* )) => {
        $callback! {
            $($args)*;
            sequential: [
                new_account_has_the_default_schedule,
                put_expecting_none_conflicts_when_one_is_stored,
                put_with_the_read_version_applies_and_reads_back,
                stale_or_future_version_conflicts_and_changes_nothing,
                account_without_a_schedule_takes_a_first_write,
                schedules_are_per_account,
                failed_account_creation_leaves_the_schedule_alone,
            ],
            concurrent: [
                concurrent_puts_on_one_version_apply_once,
            ],
        }
    };
}

// =============================================================================================
// Builders

/// "Now", rounded to the millisecond like every stored time.
fn base_time() -> DateTime<Utc> {
    let ms = Utc::now().timestamp_millis();
    Utc.timestamp_millis_opt(ms)
        .single()
        .expect("now is representable")
}

fn hm(hour: u32, minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, minute, 0).expect("valid time")
}

fn new_account(created_at: DateTime<Utc>) -> (Account, ClientCredential) {
    let id = AccountId::generate();
    let account = Account {
        id: id.clone(),
        name: "Marketplace Exemplo Ltda.".into(),
        merchant_name: "MARKETPLACE EXEMPLO".into(),
        merchant_city: "SAO PAULO".into(),
        crypto_token_encrypted: format!("v1:{}", Uuid::new_v4().simple()),
        providers: Vec::new(),
        created_at,
    };
    let credential = ClientCredential {
        client_id: format!("cli_{}", Uuid::new_v4().simple()),
        account_id: id,
        secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        created_at,
    };
    (account, credential)
}

async fn create(store: &DynStore) -> Account {
    let (account, credential) = new_account(base_time());
    store
        .create_account(&account, &credential)
        .await
        .expect("create account");
    account
}

/// The state a schedule replacement writes: `schedule` from `now`, one version after
/// `previous`.
fn replacement(
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

fn fridays_at_six() -> PayoutSchedule {
    PayoutSchedule::weekly(Weekday::Fri, hm(18, 0))
}

async fn stored(store: &DynStore, account_id: &AccountId) -> Option<ScheduleState> {
    store.get_schedule(account_id).await.expect("get schedule")
}

async fn put(store: &DynStore, state: &ScheduleState, expected: Option<u64>) -> WriteOutcome {
    store
        .put_schedule(state, expected)
        .await
        .expect("put schedule")
}

// =============================================================================================
// Cases

pub async fn new_account_has_the_default_schedule(store: DynStore) {
    let account = create(&store).await;
    let state = stored(&store, &account.id)
        .await
        .expect("written with the account");
    assert_eq!(
        state,
        ScheduleState::initial(&account.id, account.created_at)
    );
    assert_eq!(state.schedule.frequency, Frequency::Daily);
    assert_eq!(state.schedule.time, hm(9, 0));
    assert_eq!(state.version, 1);
    assert!(state.next_run_at > account.created_at);
    // 09:00 in São Paulo (UTC−3) is 12:00Z.
    assert_eq!(state.next_run_at.format("%H:%M:%S").to_string(), "12:00:00");
}

pub async fn put_expecting_none_conflicts_when_one_is_stored(store: DynStore) {
    let account = create(&store).await;
    let before = stored(&store, &account.id).await;
    let state = replacement(&account.id, fridays_at_six(), None, base_time());
    assert_eq!(put(&store, &state, None).await, WriteOutcome::Conflict);
    assert_eq!(stored(&store, &account.id).await, before);
}

pub async fn put_with_the_read_version_applies_and_reads_back(store: DynStore) {
    let account = create(&store).await;
    let now = base_time() + Duration::minutes(5);
    let weekly = replacement(&account.id, fridays_at_six(), Some(1), now);
    assert_eq!(put(&store, &weekly, Some(1)).await, WriteOutcome::Applied);
    assert_eq!(stored(&store, &account.id).await, Some(weekly.clone()));

    // And again on top of it, with another frequency (optional fields come and go).
    let monthly_schedule = PayoutSchedule::monthly(31, hm(10, 30)).expect("valid day");
    let monthly = replacement(
        &account.id,
        monthly_schedule,
        Some(2),
        now + Duration::hours(1),
    );
    assert_eq!(put(&store, &monthly, Some(2)).await, WriteOutcome::Applied);
    let read = stored(&store, &account.id).await.expect("stored");
    assert_eq!(read, monthly);
    assert_eq!(read.schedule.weekday, None);
    assert_eq!(read.schedule.day_of_month, Some(31));
}

pub async fn stale_or_future_version_conflicts_and_changes_nothing(store: DynStore) {
    let account = create(&store).await;
    let now = base_time();
    let v2 = replacement(&account.id, fridays_at_six(), Some(1), now);
    assert_eq!(put(&store, &v2, Some(1)).await, WriteOutcome::Applied);

    let daily_at_noon = PayoutSchedule::daily(hm(12, 0));
    let stale = replacement(&account.id, daily_at_noon, Some(1), now);
    assert_eq!(put(&store, &stale, Some(1)).await, WriteOutcome::Conflict);
    let future = replacement(&account.id, daily_at_noon, Some(7), now);
    assert_eq!(put(&store, &future, Some(7)).await, WriteOutcome::Conflict);
    assert_eq!(stored(&store, &account.id).await, Some(v2));
}

/// An account created before schedules were stored: nothing to read, and only a write that
/// expects nothing may create its schedule.
pub async fn account_without_a_schedule_takes_a_first_write(store: DynStore) {
    let account_id = AccountId::generate();
    assert_eq!(stored(&store, &account_id).await, None);
    let first = replacement(&account_id, fridays_at_six(), None, base_time());
    let pretending = ScheduleState {
        version: 2,
        ..first.clone()
    };
    assert_eq!(
        put(&store, &pretending, Some(1)).await,
        WriteOutcome::Conflict
    );
    assert_eq!(stored(&store, &account_id).await, None);
    assert_eq!(put(&store, &first, None).await, WriteOutcome::Applied);
    assert_eq!(stored(&store, &account_id).await, Some(first));
}

pub async fn schedules_are_per_account(store: DynStore) {
    let a = create(&store).await;
    let b = create(&store).await;
    let changed = replacement(&a.id, fridays_at_six(), Some(1), base_time());
    assert_eq!(put(&store, &changed, Some(1)).await, WriteOutcome::Applied);
    assert_eq!(stored(&store, &a.id).await, Some(changed));
    assert_eq!(
        stored(&store, &b.id).await,
        Some(ScheduleState::initial(&b.id, b.created_at))
    );
}

/// Account, credential and schedule are one atomic write: a creation refused because the
/// account exists does not reset the schedule the account already changed.
pub async fn failed_account_creation_leaves_the_schedule_alone(store: DynStore) {
    let account = create(&store).await;
    let changed = replacement(&account.id, fridays_at_six(), Some(1), base_time());
    assert_eq!(put(&store, &changed, Some(1)).await, WriteOutcome::Applied);

    let (_, mut credential) = new_account(base_time());
    credential.account_id = account.id.clone();
    let again = Account {
        created_at: base_time() + Duration::days(1),
        ..account.clone()
    };
    assert_eq!(
        store.create_account(&again, &credential).await,
        Err(CreateAccountError::AlreadyExists)
    );
    assert_eq!(stored(&store, &account.id).await, Some(changed));
    assert_eq!(store.find_client(&credential.client_id).await, Ok(None));
}

pub async fn concurrent_puts_on_one_version_apply_once(store: DynStore) {
    let account = create(&store).await;
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
    assert_eq!(stored(&store, &account.id).await, winners.pop());
}
