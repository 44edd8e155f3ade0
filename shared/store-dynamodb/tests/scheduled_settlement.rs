//! A scheduled payout's splits settled chunk by chunk (`settle_payout_splits`) and the
//! scheduled payout's own settlement (`settle_payout` with no movement, with events), against
//! DynamoDB Local: every effect of a chunk in one transaction or none, and each split's index
//! keys following its new state.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::scheduled::{
    released, scheduled_splits, settled, settlement, stored_splits, visible_scheduled,
};
use common::settlement::{IMMEDIATE_SHARE, REMAINDER, SCHEDULED_SHARE, eventually};
use common::{T0_MS, at_ms, faulty_store, fresh_store};
use pixgw_domain::error::StoreError;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::flows::settle::settle_chunk;
use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::ledger::{Balance, Bucket, LedgerAccount, Movement, MovementKind};
use pixgw_domain::messaging::events::{AccountEvent, EventLog, EventType};
use pixgw_domain::payout::ports::PayoutStore;
use pixgw_domain::payout::{Payout, PayoutState, SplitRef};
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use pixgw_store_dynamodb::DynamoStore;
use pixgw_store_dynamodb::keys::{self, Item};

const WINDOW_MS: i64 = T0_MS + 3_600_000;
const RUN_MS: i64 = WINDOW_MS + 1_000;
const SETTLED_MS: i64 = WINDOW_MS + 60_000;

async fn raw(store: &DynamoStore, pk: String, sk: &str) -> Option<Item> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(keys::primary_key(pk, sk)))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

async fn split_item(store: &DynamoStore, split: &SplitEntry) -> Item {
    raw(
        store,
        keys::charge_pk(&split.transaction_id),
        &keys::split_sk(split.index),
    )
    .await
    .expect("split item")
}

fn balance(incoming: i64, available: i64, reserved: i64) -> Balance {
    Balance {
        incoming: Money::from_cents(incoming),
        available: Money::from_cents(available),
        reserved_for_splits: Money::from_cents(reserved),
        ..Balance::default()
    }
}

/// The balance of an account after booking `n` split charges and nothing else.
fn booked_balance(n: i64) -> Balance {
    balance(0, n * REMAINDER, n * (IMMEDIATE_SHARE + SCHEDULED_SHARE))
}

async fn events(store: &DynamoStore, account: &AccountId, n: usize) -> Vec<AccountEvent> {
    eventually(
        || async { store.list_events(account, None, 100).await.expect("events") },
        |e: &Vec<AccountEvent>| e.len() >= n,
    )
    .await
}

async fn manifest(store: &DynamoStore, payout: &Payout, n: usize) -> Vec<SplitRef> {
    eventually(
        || async {
            store
                .payout_splits_page(&payout.id, None, 100)
                .await
                .expect("manifest")
                .0
        },
        |refs: &Vec<SplitRef>| refs.len() == n,
    )
    .await
}

/// A released scheduled payout of `n` fresh splits of a new account, settled `state`.
async fn settled_payout(
    store: &DynamoStore,
    n: usize,
    state: PayoutState,
) -> (AccountId, Vec<SplitEntry>, Payout) {
    let account = AccountId::generate();
    let splits = scheduled_splits(store, &account, n, T0_MS).await;
    let payout = released(store, &account, &splits, WINDOW_MS, RUN_MS).await;
    let payout = settled(store, &payout, state, SETTLED_MS).await;
    assert_eq!(payout.unsettled_splits, u32::try_from(n).expect("small"));
    let pending = stored_splits(store, &splits).await;
    // The payout's own event, visible in the (index-backed) log before anything else.
    assert_eq!(events(store, &account, 1).await.len(), 1);
    (account, pending, payout)
}

#[tokio::test]
async fn a_paid_chunk_settles_its_splits_counts_down_and_records_their_events() {
    let store = fresh_store().await;
    let (account, pending, payout) = settled_payout(&store, 3, PayoutState::Paid).await;
    // PAYOUT_PAID moved the scheduled shares out of the reserve already.
    let after_payout = balance(0, 3 * REMAINDER, 3 * IMMEDIATE_SHARE);
    assert_eq!(store.get_balance(&account).await, Ok(after_payout));

    let chunk = settle_chunk(&payout, pending[..2].to_vec(), at_ms(SETTLED_MS + 1)).expect("chunk");
    assert!(chunk.movement.is_none());
    assert_eq!(chunk.events.len(), 2);
    assert_eq!(
        store.settle_payout_splits(&chunk).await,
        Ok(WriteOutcome::Applied)
    );

    let stored = store
        .get_payout(&payout.id)
        .await
        .expect("get")
        .expect("payout");
    assert_eq!(stored.unsettled_splits, 1);
    assert_eq!(stored.state, PayoutState::Paid);
    assert_eq!(stored.updated_at, chunk.now);
    assert_eq!(
        Payout {
            unsettled_splits: payout.unsettled_splits,
            updated_at: payout.updated_at,
            ..stored.clone()
        },
        payout,
        "nothing else of the payout changes"
    );
    let now = stored_splits(&store, &pending).await;
    assert_eq!(now[..2], chunk.splits[..]);
    for split in &now[..2] {
        assert_eq!(split.state, SplitState::Paid);
        assert_eq!(split.end_to_end_id, payout.end_to_end_id);
        // Settled splits stay in the payout's manifest and out of the scheduled index.
        let item = split_item(&store, split).await;
        assert_eq!(
            text(&item, keys::GSI1PK),
            Some(keys::payout_manifest_pk(&payout.id).as_str())
        );
        assert!(!item.contains_key(keys::GSI2PK) && !item.contains_key(keys::GSI2SK));
    }
    assert_eq!(now[2].state, SplitState::Processing);
    assert_eq!(manifest(&store, &payout, 3).await.len(), 3);
    let recorded = events(&store, &account, 3).await;
    let types: Vec<EventType> = recorded.iter().map(|e| e.event_type).collect();
    assert_eq!(
        types
            .iter()
            .filter(|t| **t == EventType::PayoutPaid)
            .count(),
        1
    );
    assert_eq!(
        types.iter().filter(|t| **t == EventType::SplitPaid).count(),
        2
    );
    for event in &chunk.events {
        assert!(recorded.contains(event), "{event:?} not recorded");
    }
    assert_eq!(store.get_balance(&account).await, Ok(after_payout));

    // The same chunk again: its splits are no longer PROCESSING, its events exist.
    assert_eq!(
        store.settle_payout_splits(&chunk).await,
        Ok(WriteOutcome::Conflict)
    );
    let last = settle_chunk(&payout, vec![now[2].clone()], at_ms(SETTLED_MS + 2)).expect("chunk");
    assert_eq!(
        store.settle_payout_splits(&last).await,
        Ok(WriteOutcome::Applied)
    );
    let stored = store
        .get_payout(&payout.id)
        .await
        .expect("get")
        .expect("payout");
    assert_eq!(stored.unsettled_splits, 0);
    assert_eq!(events(&store, &account, 4).await.len(), 4);
}

#[tokio::test]
async fn a_failed_chunk_reschedules_retries_and_returns_splits_failed_for_good() {
    let store = fresh_store().await;
    let (account, pending, payout) = settled_payout(&store, 2, PayoutState::Failed).await;
    // A failed scheduled payout moves no money by itself, but records PAYOUT_FAILED.
    assert_eq!(store.get_balance(&account).await, Ok(booked_balance(2)));
    let recorded = events(&store, &account, 1).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].event_type, EventType::PayoutFailed);

    // The domain's rules send both back to SCHEDULED (first failed window); the second is
    // made to fail for good, as on its last window, with its money and its event.
    let now = at_ms(SETTLED_MS + 1);
    let mut chunk = settle_chunk(&payout, pending.clone(), now).expect("chunk");
    assert!(
        chunk
            .splits
            .iter()
            .all(|s| s.state == SplitState::Scheduled)
    );
    let failed = {
        let split = &mut chunk.splits[1];
        split.state = SplitState::Failed;
        split.payout_id = Some(payout.id.clone());
        split.clone()
    };
    let movement = Movement::transfer(
        MovementKind::SplitsFailed,
        &account,
        &format!("{}:{}:{}", payout.id, failed.transaction_id, failed.index),
        LedgerAccount::Merchant(account.clone(), Bucket::ReservedForSplits),
        LedgerAccount::Merchant(account.clone(), Bucket::Available),
        failed.split.amount,
        now,
    )
    .expect("movement");
    chunk.movement = Some(movement.clone());
    chunk.events = vec![AccountEvent::new(
        &account,
        EventType::SplitFailed,
        &format!("{}/{}", failed.transaction_id, failed.index),
        now,
        serde_json::json!({ "attempts": failed.attempts }),
    )];
    assert_eq!(
        store.settle_payout_splits(&chunk).await,
        Ok(WriteOutcome::Applied)
    );

    let stored = stored_splits(&store, &pending).await;
    assert_eq!(stored, chunk.splits);
    let retry = &stored[0];
    assert_eq!(retry.state, SplitState::Scheduled);
    assert_eq!(retry.attempts, 1);
    assert_eq!(retry.payout_id, None);
    // Back in the scheduled index exactly like a freshly booked split, out of the manifest.
    let item = split_item(&store, retry).await;
    assert_eq!(
        text(&item, keys::GSI2PK),
        Some(keys::scheduled_splits_pk(&account, &retry.transaction_id).as_str())
    );
    assert_eq!(
        text(&item, keys::GSI2SK),
        keys::scheduled_split_sort_key(
            retry.created_at.timestamp_millis(),
            &retry.transaction_id,
            retry.index
        )
        .as_deref()
    );
    assert!(!item.contains_key(keys::GSI1PK) && !item.contains_key(keys::GSI1SK));
    assert!(!item.contains_key("payoutId"));
    let visible = visible_scheduled(&store, &account, 1).await;
    assert_eq!(visible, vec![retry.clone()]);
    // The failed one keeps its payout and stays in the manifest.
    let item = split_item(&store, &failed).await;
    assert_eq!(
        text(&item, keys::GSI1PK),
        Some(keys::payout_manifest_pk(&payout.id).as_str())
    );
    assert!(!item.contains_key(keys::GSI2PK));
    let refs = manifest(&store, &payout, 1).await;
    assert_eq!(refs, vec![failed.key()]);

    // Its money left the reserve for `available`, through the movement.
    let mut expected = booked_balance(2);
    expected.available = Money::from_cents(expected.available.cents() + SCHEDULED_SHARE);
    expected.reserved_for_splits =
        Money::from_cents(expected.reserved_for_splits.cents() - SCHEDULED_SHARE);
    assert_eq!(store.get_balance(&account).await, Ok(expected));
    assert!(
        raw(&store, keys::movement_pk(&movement.id), keys::SK_MOVEMENT)
            .await
            .is_some()
    );
    let stored_payout = store
        .get_payout(&payout.id)
        .await
        .expect("get")
        .expect("payout");
    assert_eq!(stored_payout.unsettled_splits, 0);
    assert_eq!(events(&store, &account, 2).await.len(), 2);

    // The rescheduled split goes out in a later window like any SCHEDULED split.
    let later = released(
        &store,
        &account,
        &visible,
        WINDOW_MS + 86_400_000,
        RUN_MS + 86_400_000,
    )
    .await;
    assert_eq!(later.split_count, 1);
    assert_ne!(later.id, payout.id);
}

#[tokio::test]
async fn a_failed_scheduled_payout_settles_without_a_movement_and_records_its_event_once() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let splits = scheduled_splits(&store, &account, 1, T0_MS).await;
    let payout = released(&store, &account, &splits, WINDOW_MS, RUN_MS).await;
    let write = settlement(&payout, PayoutState::Failed, SETTLED_MS);
    assert!(write.movement.is_none());
    assert_eq!(write.events.len(), 1);
    assert_eq!(store.settle_payout(&write).await, Ok(WriteOutcome::Applied));
    assert_eq!(store.get_balance(&account).await, Ok(booked_balance(1)));
    let event = &write.events[0];
    let item = raw(&store, keys::event_pk(&event.id), keys::SK_EVENT)
        .await
        .expect("event item");
    assert_eq!(
        text(&item, keys::GSI1PK),
        Some(keys::events_pk(&account, &event.id).as_str())
    );
    assert_eq!(
        item.get(keys::ENTITY),
        Some(&AttributeValue::S("EVENT".to_owned()))
    );
    assert_eq!(events(&store, &account, 1).await, write.events);
    // A redelivery finds the payout settled: nothing twice.
    assert_eq!(
        store.settle_payout(&write).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(events(&store, &account, 1).await, write.events);
}

#[tokio::test]
async fn writes_that_keep_conflicting_are_decided_by_what_they_would_create() {
    let (store, faults) = faulty_store().await;
    let account = AccountId::generate();
    let splits = scheduled_splits(&store, &account, 2, T0_MS).await;
    let payout = released(&store, &account, &splits, WINDOW_MS, RUN_MS).await;
    let conflicts = ["TransactionConflict", "None", "None"];

    // The payout's settlement moves no money (FAILED): its event decides.
    let write = settlement(&payout, PayoutState::Failed, SETTLED_MS);
    assert!(write.movement.is_none());
    faults.cancel_transactions(None, &conflicts);
    assert!(matches!(
        store.settle_payout(&write).await,
        Err(StoreError::Unavailable(_))
    ));
    assert_eq!(faults.injected("TransactWriteItems"), 10, "retried");
    faults.clear();
    assert_eq!(store.get_payout(&payout.id).await, Ok(Some(payout.clone())));
    assert_eq!(store.settle_payout(&write).await, Ok(WriteOutcome::Applied));
    faults.cancel_transactions(None, &conflicts);
    assert_eq!(
        store.settle_payout(&write).await,
        Ok(WriteOutcome::Conflict)
    );
    faults.clear();

    // A chunk sending its splits back to SCHEDULED creates nothing: its splits decide.
    let pending = stored_splits(&store, &splits).await;
    let chunk = settle_chunk(&write.payout, pending.clone(), at_ms(SETTLED_MS + 1)).expect("chunk");
    assert!(chunk.movement.is_none() && chunk.events.is_empty());
    faults.cancel_transactions(None, &conflicts);
    assert!(matches!(
        store.settle_payout_splits(&chunk).await,
        Err(StoreError::Unavailable(_))
    ));
    faults.clear();
    assert_eq!(stored_splits(&store, &splits).await, pending);
    assert_eq!(
        store.settle_payout_splits(&chunk).await,
        Ok(WriteOutcome::Applied)
    );
    faults.cancel_transactions(None, &conflicts);
    assert_eq!(
        store.settle_payout_splits(&chunk).await,
        Ok(WriteOutcome::Conflict)
    );
    faults.clear();
    assert_eq!(stored_splits(&store, &splits).await, chunk.splits);
}
