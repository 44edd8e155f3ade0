//! `settle_payout_splits` on redb: what each outcome of a chunk writes (splits, the payout's
//! countdown, the scheduled-splits index, the ledger, the events) and that every failing
//! condition writes nothing.

use crate::payout::MAX_SPLITS_PER_SETTLE;
use chrono::{DateTime, Utc};
use pixgw_domain::ledger::{Balance, Movement, MovementKind};
use pixgw_domain::messaging::events::{AccountEvent, EventLog, EventType};
use pixgw_domain::pix::money::Money;
use redb::ReadableTable;
use tempfile::TempDir;

use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::payout::ports::PayoutStore;
use pixgw_domain::payout::runs::PayoutRunStore;
use pixgw_domain::payout::{Payout, PayoutId};
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::split::entry::SplitEntry;
use pixgw_domain::split::ports::SplitStore;
use redb::ReadableDatabase;

use super::*;
use crate::EmbeddedStore;
use crate::keys::SEP;
use crate::split::{SPLITS, SPLITS_SCHEDULED};
use crate::test_support::*;

fn open() -> (TempDir, EmbeddedStore) {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    (dir, store)
}

/// The booked splits' recipient, paid in the window at `at(60)`.
fn window() -> DateTime<Utc> {
    at(60)
}

/// Everything a chunk write may touch.
#[derive(Debug, PartialEq)]
struct Snapshot {
    payout: Option<Payout>,
    splits: Vec<SplitEntry>,
    scheduled: Vec<String>,
    balance: Balance,
    movements: Vec<Movement>,
    events: Vec<AccountEvent>,
}

async fn snapshot(store: &EmbeddedStore, account: &AccountId, payout: &PayoutId) -> Snapshot {
    let mut splits = Vec::new();
    for key in keys_of_splits(store) {
        let id = TransactionId::parse(&key).expect("transaction id");
        splits.extend(store.get_splits(&id).await.expect("splits"));
    }
    Snapshot {
        payout: store.get_payout(payout).await.expect("payout"),
        splits,
        scheduled: keys_of(store, SPLITS_SCHEDULED),
        balance: store.get_balance(account).await.expect("balance"),
        movements: store.list_movements(account).await.expect("movements"),
        events: store
            .list_events(account, None, 1_000)
            .await
            .expect("events"),
    }
}

/// The transaction ids of every stored split (deduplicated, in key order).
fn keys_of_splits(store: &EmbeddedStore) -> Vec<String> {
    let txn = store.db.begin_read().expect("read");
    let table = txn.open_table(SPLITS).expect("table");
    let mut ids: Vec<String> = table
        .iter()
        .expect("iter")
        .map(|e| {
            let key = e.expect("entry").0.value().to_owned();
            key.split(SEP).next().unwrap_or_default().to_owned()
        })
        .collect();
    ids.dedup();
    ids
}

fn types(events: &[AccountEvent]) -> Vec<EventType> {
    let mut types: Vec<EventType> = events.iter().map(|e| e.event_type).collect();
    types.sort_by_key(|t| t.as_str());
    types
}

#[tokio::test]
async fn a_paid_payouts_splits_become_paid_chunk_by_chunk() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    booked_scheduled(&store, &account, &[(1_000, 0), (500, 0)]).await;
    let payout = released(&store, &account, window()).await;
    let payout = settled(&store, payout, PayoutState::Paid, at(70)).await;
    assert_eq!(payout.unsettled_splits, 2);
    let reserved_after_payout = store.get_balance(&account).await.expect("balance");
    assert_eq!(reserved_after_payout.reserved_for_splits, Money::ZERO);

    let pending = manifest_splits(&store, &payout).await;
    let first = chunk(&payout, pending[..1].to_vec(), at(80));
    assert_eq!(
        store.settle_payout_splits(&first).await,
        Ok(WriteOutcome::Applied)
    );
    let stored = stored_payout(&store, &payout.id).await;
    assert_eq!(stored.unsettled_splits, 1);
    assert_eq!(stored.updated_at, at(80));
    assert_eq!(stored.state, PayoutState::Paid);
    let split = &manifest_splits(&store, &payout).await[0];
    assert_eq!(split, &first.splits[0]);
    assert_eq!(split.state, SplitState::Paid);
    assert_eq!(split.end_to_end_id, payout.end_to_end_id);

    // A redelivery of the same chunk: the split is no longer PROCESSING in the payout.
    assert_eq!(
        store.settle_payout_splits(&first).await,
        Ok(WriteOutcome::Conflict)
    );

    let second = chunk(&payout, pending[1..].to_vec(), at(90));
    assert_eq!(
        store.settle_payout_splits(&second).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(stored_payout(&store, &payout.id).await.unsettled_splits, 0);
    assert!(
        manifest_splits(&store, &payout)
            .await
            .iter()
            .all(|s| s.state == SplitState::Paid)
    );
    assert!(keys_of(&store, SPLITS_SCHEDULED).is_empty());
    // Paid splits move no money of their own: the payout's write did.
    assert_eq!(
        store.get_balance(&account).await.expect("balance"),
        reserved_after_payout
    );
    let events = store.list_events(&account, None, 10).await.expect("events");
    assert_eq!(
        types(&events),
        vec![
            EventType::PayoutPaid,
            EventType::SplitPaid,
            EventType::SplitPaid
        ]
    );
}

#[tokio::test]
async fn a_split_going_back_to_scheduled_reappears_in_the_scheduled_page() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let booked = booked_scheduled(&store, &account, &[(1_000, 0)]).await;
    let booked_index = keys_of(&store, SPLITS_SCHEDULED);
    assert_eq!(booked_index.len(), 1);
    let payout = released(&store, &account, window()).await;
    assert!(keys_of(&store, SPLITS_SCHEDULED).is_empty());
    let balance_before = store.get_balance(&account).await.expect("balance");
    let payout = settled(&store, payout, PayoutState::Failed, at(70)).await;

    let write = chunk(&payout, manifest_splits(&store, &payout).await, at(80));
    assert_eq!(write.movement, None);
    assert_eq!(
        store.settle_payout_splits(&write).await,
        Ok(WriteOutcome::Applied)
    );

    // Back under the key booking gave it, and in the next window's page like a fresh split.
    assert_eq!(keys_of(&store, SPLITS_SCHEDULED), booked_index);
    let (page, _) = store
        .scheduled_splits_page(&account, at(120), None, 10)
        .await
        .expect("page");
    let expected = SplitEntry {
        attempts: 1,
        failure_reason: payout.failure_reason.clone(),
        updated_at: at(80),
        ..booked[0].clone()
    };
    assert_eq!(page, vec![expected]);
    // Its money stays reserved for that window; no split event (it has not failed yet).
    assert_eq!(
        store.get_balance(&account).await.expect("balance"),
        balance_before
    );
    let events = store.list_events(&account, None, 10).await.expect("events");
    assert_eq!(types(&events), vec![EventType::PayoutFailed]);

    // The next window's run attaches it to a new payout.
    let retry = released(&store, &account, at(120)).await;
    assert_ne!(retry.id, payout.id);
    assert_eq!(retry.split_count, 1);
}

#[tokio::test]
async fn splits_failing_for_good_return_their_money_to_available() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    // The first split fails its last allowed window; the second goes back to SCHEDULED.
    booked_scheduled(&store, &account, &[(1_000, 2), (500, 0)]).await;
    let payout = released(&store, &account, window()).await;
    let payout = settled(&store, payout, PayoutState::Failed, at(70)).await;
    let before = store.get_balance(&account).await.expect("balance");
    assert_eq!(before.reserved_for_splits, Money::from_cents(1_500));

    let write = chunk(&payout, manifest_splits(&store, &payout).await, at(80));
    let movement = write.movement.clone().expect("a SPLITS_FAILED movement");
    assert_eq!(movement.kind, MovementKind::SplitsFailed);
    assert_eq!(
        store.settle_payout_splits(&write).await,
        Ok(WriteOutcome::Applied)
    );

    let after = store.get_balance(&account).await.expect("balance");
    assert_eq!(after.reserved_for_splits, Money::from_cents(500));
    assert_eq!(
        after.available.cents(),
        before.available.cents() + 1_000,
        "the failed split's money is available again"
    );
    assert_eq!(
        store
            .list_movements(&account)
            .await
            .expect("movements")
            .last(),
        Some(&movement)
    );
    let states: Vec<(SplitState, u8)> = manifest_splits(&store, &payout)
        .await
        .iter()
        .map(|s| (s.state, s.attempts))
        .collect();
    // The rescheduled split left the manifest; the one failed for good stays listed.
    assert_eq!(states, vec![(SplitState::Failed, 3)]);
    assert_eq!(keys_of(&store, SPLITS_SCHEDULED).len(), 1);
    assert_eq!(stored_payout(&store, &payout.id).await.unsettled_splits, 0);
    let events = store.list_events(&account, None, 10).await.expect("events");
    assert_eq!(
        types(&events),
        vec![EventType::PayoutFailed, EventType::SplitFailed]
    );
}

/// Applies `write` expecting a conflict, and that nothing changed.
async fn refused(
    store: &EmbeddedStore,
    account: &AccountId,
    payout: &PayoutId,
    write: SettleSplits,
) {
    let before = snapshot(store, account, payout).await;
    assert_eq!(
        store.settle_payout_splits(&write).await,
        Ok(WriteOutcome::Conflict),
        "{write:?}"
    );
    assert_eq!(snapshot(store, account, payout).await, before, "{write:?}");
}

#[tokio::test]
async fn every_failing_condition_writes_nothing() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    booked_scheduled(&store, &account, &[(1_000, 2), (500, 0)]).await;
    let payout = released(&store, &account, window()).await;
    let payout = settled(&store, payout, PayoutState::Failed, at(70)).await;
    let pending = manifest_splits(&store, &payout).await;
    let valid = chunk(&payout, pending.clone(), at(80));
    assert!(valid.movement.is_some() && !valid.events.is_empty());
    let with = |change: &dyn Fn(&mut SettleSplits)| {
        let mut write = valid.clone();
        change(&mut write);
        write
    };
    // A split booked later, never attached: stored SCHEDULED, not PROCESSING in the payout.
    let unattached = booked_scheduled(&store, &account, &[(300, 0)]).await;
    let stored_movements = store.list_movements(&account).await.expect("movements");
    let stored_event = store
        .list_events(&account, None, 1)
        .await
        .expect("events")
        .remove(0);

    let cases: Vec<(&str, SettleSplits)> = vec![
        ("no splits", with(&|w| w.splits.clear())),
        (
            "another payout state",
            with(&|w| w.payout_state = PayoutState::Paid),
        ),
        (
            "an unknown payout",
            with(&|w| w.payout_id = PayoutId::generate()),
        ),
        (
            "a split listed twice",
            with(&|w| w.splits[1] = w.splits[0].clone()),
        ),
        (
            "a split not in the payout",
            with(&|w| w.splits[1] = unattached[0].clone()),
        ),
        (
            "an unknown split",
            with(&|w| {
                w.splits[1] = SplitEntry {
                    transaction_id: TransactionId::generate(),
                    ..w.splits[1].clone()
                }
            }),
        ),
        (
            "a new version in another account",
            with(&|w| w.splits[0].account_id = AccountId::generate()),
        ),
        (
            "a stored movement",
            with(&|w| w.movement = stored_movements.last().cloned()),
        ),
        (
            "a stored event",
            with(&|w| w.events.push(stored_event.clone())),
        ),
        (
            "an event listed twice",
            with(&|w| w.events.push(w.events[0].clone())),
        ),
    ];
    for (name, write) in cases {
        println!("case: {name}");
        refused(&store, &account, &payout.id, write).await;
    }

    // Fewer unsettled splits than the chunk carries (the payout's countdown is the guard).
    set_unsettled(&store, &payout.id, 1);
    refused(&store, &account, &payout.id, valid.clone()).await;
    // One split fits the countdown (the write itself was valid all along).
    let one = chunk(&payout, pending[1..].to_vec(), at(80));
    assert_eq!(
        store.settle_payout_splits(&one).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(stored_payout(&store, &payout.id).await.unsettled_splits, 0);
}

/// Overwrites the stored payout's `unsettled_splits` (what only a settlement writes).
fn set_unsettled(store: &EmbeddedStore, payout: &PayoutId, unsettled_splits: u32) {
    let txn = store.db.begin_write().expect("write");
    let stored = crate::payout::load_payout(&txn, payout.as_str())
        .expect("load")
        .expect("payout");
    let changed = pixgw_domain::payout::record::PayoutRecord {
        unsettled_splits,
        ..stored.clone()
    };
    crate::payout::put_payout_record(&txn, &changed, Some(&stored)).expect("put");
    txn.commit().expect("commit");
}

#[tokio::test]
async fn the_chunk_size_and_a_settled_payout_state_are_conditions_too() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let shares = vec![(10, 0); MAX_SPLITS_PER_SETTLE + 1];
    booked_scheduled(&store, &account, &shares).await;
    let payout = released(&store, &account, window()).await;

    // A PROCESSING payout has no settled splits, whatever its countdown says.
    set_unsettled(&store, &payout.id, 1);
    let pending = manifest_splits(&store, &payout).await;
    let unsettled = SettleSplits {
        payout_id: payout.id.clone(),
        payout_state: PayoutState::Processing,
        splits: pending[..1].to_vec(),
        movement: None,
        events: Vec::new(),
        now: at(65),
        recipient: None,
    };
    refused(&store, &account, &payout.id, unsettled).await;
    set_unsettled(&store, &payout.id, 0);

    let payout = settled(&store, payout, PayoutState::Paid, at(70)).await;
    assert_eq!(payout.unsettled_splits as usize, MAX_SPLITS_PER_SETTLE + 1);
    let pending = manifest_splits(&store, &payout).await;
    assert_eq!(pending.len(), MAX_SPLITS_PER_SETTLE + 1);
    refused(
        &store,
        &account,
        &payout.id,
        chunk(&payout, pending.clone(), at(80)),
    )
    .await;
    let (most, last) = pending.split_at(MAX_SPLITS_PER_SETTLE);
    for part in [most, last] {
        assert_eq!(
            store
                .settle_payout_splits(&chunk(&payout, part.to_vec(), at(80)))
                .await,
            Ok(WriteOutcome::Applied)
        );
    }
    assert_eq!(stored_payout(&store, &payout.id).await.unsettled_splits, 0);
}
