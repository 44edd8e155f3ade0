//! Payouts on redb: `list_payouts` (order, filters, the cursor, and the indexes following
//! every payout write — booking, release, settlement — while ASSEMBLING payouts stay out of
//! them), and a settlement's conditions on its movement and events.

use chrono::{DateTime, Utc};
use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::messaging::events::EventLog;
use pixgw_domain::payout::runs::PayoutRunStore;
use pixgw_domain::pix::money::Money;
use tempfile::TempDir;

use super::*;
use crate::test_support::*;

fn open() -> (TempDir, EmbeddedStore) {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    (dir, store)
}

fn query(limit: u32) -> PayoutQuery {
    PayoutQuery {
        state: None,
        from: None,
        to: None,
        limit,
        after: None,
    }
}

async fn list(store: &EmbeddedStore, account: &AccountId, query: &PayoutQuery) -> PayoutPage {
    store.list_payouts(account, query).await.expect("list")
}

fn ids(page: &PayoutPage) -> Vec<PayoutId> {
    page.items.iter().map(|p| p.id.clone()).collect()
}

/// Newest first: created_at descending, then id descending.
fn newest_first(payouts: &[Payout]) -> Vec<PayoutId> {
    let mut sorted = payouts.to_vec();
    sorted.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    sorted.into_iter().map(|p| p.id).collect()
}

/// Immediate payouts of `account` created at these seconds after `t0`.
async fn payouts_at(store: &EmbeddedStore, account: &AccountId, seconds: &[i64]) -> Vec<Payout> {
    let mut payouts = Vec::new();
    for s in seconds {
        payouts.push(booked_immediate(store, account, 100, at(*s)).await);
    }
    payouts
}

fn index_len(store: &EmbeddedStore, table: TableDefinition<&str, &str>) -> usize {
    keys_of(store, table).len()
}

#[tokio::test]
async fn payouts_are_listed_newest_first_and_never_while_assembling() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    // Two of them share a millisecond: the id breaks the tie.
    let mut payouts = payouts_at(&store, &account, &[1, 3, 2, 2]).await;
    let other = AccountId::generate();
    payouts_at(&store, &other, &[2]).await;

    let page = list(&store, &account, &query(100)).await;
    assert_eq!(ids(&page), newest_first(&payouts));
    // The items are the payouts as stored.
    for item in &page.items {
        assert!(payouts.contains(item));
    }
    assert_eq!(page.next, None);

    // A scheduled payout being assembled (the newest of all) is not listed, in any state
    // filter, and has no index entry …
    booked_scheduled(&store, &account, &[(700, 0)]).await;
    let assembling = assembled(&store, &account, at(60)).await;
    assert_eq!(assembling.state, PayoutState::Assembling);
    assert_eq!(
        ids(&list(&store, &account, &query(100)).await),
        newest_first(&payouts)
    );
    for state in PayoutState::ALL {
        let page = list(
            &store,
            &account,
            &PayoutQuery {
                state: Some(state),
                ..query(100)
            },
        )
        .await;
        assert!(!ids(&page).contains(&assembling.id), "{state:?}");
    }
    assert_eq!(index_len(&store, PAYOUTS_BY_ACCOUNT), 5);

    // … until it is released: then it is the newest.
    assert_eq!(
        store.release_payout(&assembling.id, &[], at(61)).await,
        Ok(pixgw_domain::error::WriteOutcome::Applied)
    );
    payouts.push(stored_payout(&store, &assembling.id).await);
    let listed = ids(&list(&store, &account, &query(100)).await);
    assert_eq!(listed, newest_first(&payouts));
    assert_eq!(listed[0], assembling.id);
    let assembling_filter = PayoutQuery {
        state: Some(PayoutState::Assembling),
        ..query(100)
    };
    assert!(
        list(&store, &account, &assembling_filter)
            .await
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn state_and_inclusive_time_filters_follow_settlement() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let payouts = payouts_at(&store, &account, &[1, 2, 3, 4]).await;
    let paid = settled(&store, payouts[1].clone(), PayoutState::Paid, at(10)).await;
    let failed = settled(&store, payouts[2].clone(), PayoutState::Failed, at(10)).await;
    let by_state = |state| PayoutQuery {
        state: Some(state),
        ..query(100)
    };

    assert_eq!(
        list(&store, &account, &by_state(PayoutState::Paid))
            .await
            .items,
        vec![paid.clone()]
    );
    assert_eq!(
        list(&store, &account, &by_state(PayoutState::Failed))
            .await
            .items,
        vec![failed.clone()]
    );
    assert_eq!(
        ids(&list(&store, &account, &by_state(PayoutState::Processing)).await),
        vec![payouts[3].id.clone(), payouts[0].id.clone()]
    );
    // Settlement moved the state entries: one per payout in each index.
    assert_eq!(index_len(&store, PAYOUTS_BY_STATE), 4);
    assert_eq!(index_len(&store, PAYOUTS_BY_ACCOUNT), 4);

    // `from` and `to` are both inclusive, to the millisecond.
    let window = |from: DateTime<Utc>, to: DateTime<Utc>| PayoutQuery {
        from: Some(from),
        to: Some(to),
        ..query(100)
    };
    assert_eq!(
        ids(&list(&store, &account, &window(at(2), at(3))).await),
        vec![failed.id.clone(), paid.id.clone()]
    );
    let just_after = at(2) + chrono::Duration::milliseconds(1);
    let just_before = at(3) - chrono::Duration::milliseconds(1);
    assert!(
        list(&store, &account, &window(just_after, just_before))
            .await
            .items
            .is_empty()
    );
    assert!(
        list(&store, &account, &window(at(3), at(2)))
            .await
            .items
            .is_empty()
    );
    let paid_from_two = PayoutQuery {
        state: Some(PayoutState::Paid),
        from: Some(at(2)),
        ..query(100)
    };
    assert_eq!(
        ids(&list(&store, &account, &paid_from_two).await),
        vec![paid.id.clone()]
    );
    let failed_until_two = PayoutQuery {
        state: Some(PayoutState::Failed),
        to: Some(at(2)),
        ..query(100)
    };
    assert!(
        list(&store, &account, &failed_until_two)
            .await
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn pages_follow_the_cursor_without_gaps_or_repeats() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let payouts = payouts_at(&store, &account, &[1, 2, 2, 3, 4]).await;
    let all = newest_first(&payouts);

    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = list(&store, &account, &PayoutQuery { after, ..query(2) }).await;
        pages += 1;
        assert!(pages <= all.len(), "the cursor must move forward");
        assert!(page.items.len() <= 2);
        seen.extend(ids(&page));
        match page.next {
            Some(next) => {
                assert_eq!(
                    Some(&next),
                    page.items.last().map(PayoutCursor::of).as_ref()
                );
                after = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(seen, all);
    assert_eq!(pages, 3);

    // The cursor is exclusive, and combines with the filters.
    let third = payouts.iter().find(|p| p.id == all[2]).expect("listed");
    let page = list(
        &store,
        &account,
        &PayoutQuery {
            after: Some(PayoutCursor::of(third)),
            ..query(100)
        },
    )
    .await;
    assert_eq!(ids(&page), all[3..].to_vec());
    let page = list(
        &store,
        &account,
        &PayoutQuery {
            after: Some(PayoutCursor::of(third)),
            from: Some(at(2)),
            ..query(100)
        },
    )
    .await;
    assert_eq!(
        ids(&page),
        all[3..4].to_vec(),
        "a tie at 2 s after the cursor, then 1 s is out"
    );

    // A full last page says so only when more exist; the limit is clamped to 1..=100.
    let exact = list(&store, &account, &query(5)).await;
    assert_eq!((exact.items.len(), exact.next), (5, None));
    let zero = list(&store, &account, &query(0)).await;
    assert_eq!(ids(&zero), all[..1].to_vec());
    assert!(zero.next.is_some());
}

#[tokio::test]
async fn a_settlement_without_a_movement_stores_its_events_and_moves_no_money() {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    let account = AccountId::generate();
    booked_scheduled(&store, &account, &[(1_000, 0), (500, 0)]).await;
    let payout = released(&store, &account, at(60)).await;
    let balance = store.get_balance(&account).await.expect("balance");
    let movements = store.list_movements(&account).await.expect("movements");

    // A failed scheduled payout: its money stays reserved for its splits' next window.
    let write = settle_write(&store, payout.clone(), PayoutState::Failed, at(70)).await;
    assert_eq!(write.movement, None);
    assert_eq!(store.settle_payout(&write).await, Ok(WriteOutcome::Applied));

    let stored = stored_payout(&store, &payout.id).await;
    assert_eq!(stored, write.payout);
    assert_eq!(
        (stored.state, stored.unsettled_splits),
        (PayoutState::Failed, 2)
    );
    assert_eq!(store.get_balance(&account).await, Ok(balance));
    assert_eq!(store.list_movements(&account).await, Ok(movements));
    assert_eq!(
        store.list_events(&account, None, 10).await,
        Ok(write.events.clone())
    );
    assert_eq!(
        store.settle_payout(&write).await,
        Ok(WriteOutcome::Conflict),
        "settled once"
    );
}

#[tokio::test]
async fn a_settlement_whose_movement_or_event_exists_writes_nothing() {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    let account = AccountId::generate();
    let first = booked_immediate(&store, &account, 1_000, at(1)).await;
    let second = booked_immediate(&store, &account, 700, at(2)).await;
    let first_write = settle_write(&store, first, PayoutState::Paid, at(5)).await;
    assert_eq!(
        store.settle_payout(&first_write).await,
        Ok(WriteOutcome::Applied)
    );

    let write = settle_write(&store, second.clone(), PayoutState::Failed, at(6)).await;
    let with_stored_event = SettlePayout {
        events: [write.events.clone(), first_write.events[..1].to_vec()].concat(),
        ..write.clone()
    };
    let with_stored_movement = SettlePayout {
        movement: first_write.movement.clone(),
        ..write.clone()
    };
    let with_split_twice = SettlePayout {
        splits: [write.splits.clone(), write.splits.clone()].concat(),
        ..write.clone()
    };
    let state = || async {
        (
            store.get_payout(&second.id).await,
            inline_splits(&store, &second).await,
            store.get_balance(&account).await,
            store.list_movements(&account).await,
            store.list_events(&account, None, 10).await,
        )
    };
    let before = state().await;
    for refused in [with_stored_event, with_stored_movement, with_split_twice] {
        assert_eq!(
            store.settle_payout(&refused).await,
            Ok(WriteOutcome::Conflict)
        );
        assert_eq!(state().await, before);
    }
    assert_eq!(store.settle_payout(&write).await, Ok(WriteOutcome::Applied));
    let split = &inline_splits(&store, &second).await[0];
    assert_eq!(split.state, SplitState::Failed);
    // An immediate payout's failure returns its money to available at once.
    let balance = store.get_balance(&account).await.expect("balance");
    assert_eq!(balance.reserved_for_splits, Money::ZERO);
}
