//! `list_events` against DynamoDB Local: an account's events oldest first (occurred_at, then
//! id) merged from its 32 index partitions, paged by event id, never another account's.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::Duration;
use common::scheduled::booked_at;
use common::settlement::{eventually, settle_write};
use common::{T0_MS, at_ms, fresh_store};
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::messaging::events::{AccountEvent, EventLog, EventType};
use pixgw_domain::payout::PayoutState;
use pixgw_domain::payout::ports::PayoutStore;
use pixgw_domain::pix::ids::AccountId;
use pixgw_store_dynamodb::DynamoStore;

/// `n` events of `account`, three per millisecond (so ties are ordered by id).
fn many_events(account: &AccountId, n: usize) -> Vec<AccountEvent> {
    (0..n)
        .map(|i| {
            let ms = i64::try_from(i / 3).expect("small");
            AccountEvent::new(
                account,
                EventType::SplitPaid,
                &format!("subject-{account}-{i}"),
                at_ms(T0_MS) + Duration::milliseconds(ms),
                serde_json::json!({ "i": i }),
            )
        })
        .collect()
}

/// Records `events` with the settlement of a fresh immediate payout of `account`.
async fn record(store: &DynamoStore, account: &AccountId, events: Vec<AccountEvent>) {
    let book = booked_at(store, account, T0_MS).await;
    let mut write = settle_write(&book, PayoutState::Paid, T0_MS + 5_000);
    write.events = events;
    assert_eq!(store.settle_payout(&write).await, Ok(WriteOutcome::Applied));
}

fn oldest_first(mut events: Vec<AccountEvent>) -> Vec<AccountEvent> {
    events.sort_by(|a, b| (a.occurred_at, &a.id).cmp(&(b.occurred_at, &b.id)));
    events
}

async fn all_pages(store: &DynamoStore, account: &AccountId, limit: usize) -> Vec<AccountEvent> {
    let mut out: Vec<AccountEvent> = Vec::new();
    loop {
        let after = out.last().map(|e| e.id.clone());
        let page = store
            .list_events(account, after.as_deref(), limit)
            .await
            .expect("events");
        assert!(page.len() <= limit);
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

#[tokio::test]
async fn events_are_listed_oldest_first_across_partitions_and_paged_by_id() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let other = AccountId::generate();
    let mine = many_events(&account, 60);
    // Two writes, so the log is not just one transaction's worth.
    record(&store, &account, mine[..30].to_vec()).await;
    record(&store, &account, mine[30..].to_vec()).await;
    record(&store, &other, many_events(&other, 5)).await;
    let expected = oldest_first(mine);

    let listed = eventually(
        || async {
            store
                .list_events(&account, None, 100)
                .await
                .expect("events")
        },
        |e: &Vec<AccountEvent>| e.len() >= expected.len(),
    )
    .await;
    assert_eq!(listed, expected);
    for limit in [5, 32, 59, 61] {
        assert_eq!(
            all_pages(&store, &account, limit).await,
            expected,
            "{limit}"
        );
    }
    let after = &expected[10].id;
    assert_eq!(
        store.list_events(&account, Some(after), 5).await,
        Ok(expected[11..16].to_vec())
    );
    assert_eq!(
        store.list_events(&account, Some(&expected[59].id), 5).await,
        Ok(vec![])
    );
    assert_eq!(store.list_events(&account, None, 0).await, Ok(vec![]));

    // An id that is not one of this account's events has no position here.
    assert_eq!(
        store.list_events(&account, Some("evt_unknown"), 5).await,
        Ok(vec![])
    );
    let theirs = eventually(
        || async { store.list_events(&other, None, 100).await.expect("events") },
        |e: &Vec<AccountEvent>| e.len() >= 5,
    )
    .await;
    assert_eq!(theirs.len(), 5);
    assert!(theirs.iter().all(|e| e.account_id == other));
    assert_eq!(
        store.list_events(&account, Some(&theirs[0].id), 5).await,
        Ok(vec![])
    );
    let huge = "x".repeat(5_000);
    assert_eq!(
        store.list_events(&account, Some(&huge), 5).await,
        Ok(vec![])
    );
    assert_eq!(
        store.list_events(&AccountId::generate(), None, 10).await,
        Ok(vec![])
    );
}
