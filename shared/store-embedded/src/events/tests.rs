//! `list_events` on redb: oldest first by (occurred_at, id), per account, after an exclusive
//! event-id cursor.

use chrono::{DateTime, Utc};
use pixgw_domain::messaging::events::EventType;
use pixgw_domain::payout::PayoutState;
use serde_json::json;
use tempfile::TempDir;

use super::*;
use crate::test_support::*;

fn open() -> (TempDir, EmbeddedStore) {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    (dir, store)
}

fn event(account: &AccountId, subject: &str, at: DateTime<Utc>) -> AccountEvent {
    AccountEvent::new(
        account,
        EventType::PayoutPaid,
        subject,
        at,
        json!({ "subject": subject }),
    )
}

/// Stores events directly, as a state-changing write would.
fn store_events(store: &EmbeddedStore, events: &[AccountEvent]) {
    let txn = store.db.begin_write().expect("write");
    assert!(events_absent(&txn, events).expect("check"));
    put_events(&txn, events).expect("put");
    txn.commit().expect("commit");
}

async fn listed(
    store: &EmbeddedStore,
    account: &AccountId,
    after: Option<&str>,
    limit: usize,
) -> Vec<String> {
    store
        .list_events(account, after, limit)
        .await
        .expect("list")
        .into_iter()
        .map(|e| e.id)
        .collect()
}

#[tokio::test]
async fn an_event_id_is_stored_once() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let first = event(&account, "po_1", at(1));
    store_events(&store, std::slice::from_ref(&first));

    let txn = store.db.begin_write().expect("write");
    // Already stored, or listed twice in one write: both fail the condition.
    assert!(!events_absent(&txn, std::slice::from_ref(&first)).expect("check"));
    let second = event(&account, "po_2", at(2));
    assert!(!events_absent(&txn, &[second.clone(), second.clone()]).expect("check"));
    assert!(events_absent(&txn, std::slice::from_ref(&second)).expect("check"));
    drop(txn);
    assert_eq!(listed(&store, &account, None, 10).await, vec![first.id]);
}

#[tokio::test]
async fn settlements_record_their_events_and_survive_reopen() {
    let dir = TempDir::new().expect("temp dir");
    let account = AccountId::generate();
    let expected = {
        let store = EmbeddedStore::open(dir.path()).expect("open");
        let payout = booked_immediate(&store, &account, 1_000, at(1)).await;
        let write = settle_write(&store, payout, PayoutState::Paid, at(5)).await;
        assert_eq!(
            pixgw_domain::payout::ports::PayoutStore::settle_payout(&store, &write).await,
            Ok(pixgw_domain::error::WriteOutcome::Applied)
        );
        let mut events = write.events.clone();
        events.sort_by(|a, b| (a.occurred_at, &a.id).cmp(&(b.occurred_at, &b.id)));
        events
    };
    let store = EmbeddedStore::open(dir.path()).expect("reopen");
    let events = store.list_events(&account, None, 10).await.expect("list");
    assert_eq!(events, expected);
    let mut types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    types.sort_unstable();
    assert_eq!(types, vec!["PAYOUT_PAID", "SPLIT_PAID"]);
}
