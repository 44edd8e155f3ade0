//! Payouts on redb: `list_payouts` (order, filters, the cursor, and the indexes following
//! every payout write — booking, release, settlement — while ASSEMBLING payouts stay out of
//! them), and a settlement's conditions on its movement and events.

use chrono::{DateTime, Utc};
use pixgw_domain::payout::runs::PayoutRunStore;
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
