//! Listing through the indexes against DynamoDB Local: a few hundred charges, cursors,
//! `[from, to)` bounds, status pages, and accounts that must never see each other.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{T0_MS, at_ms, charge, fresh_store};
use futures::StreamExt;
use pixgw_domain::charge::ports::{ChargeCursor, ChargeQuery, ChargeStore};
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::pix::ids::AccountId;
use pixgw_store_dynamodb::DynamoStore;

struct Fixture {
    store: Arc<DynamoStore>,
    a: AccountId,
    b: AccountId,
    /// Account A's charges, newest first (the order listings must produce).
    a_charges: Vec<Charge>,
    b_charges: Vec<Charge>,
}

/// 250 charges of account A (three per millisecond value, so ties are ordered by id; four
/// statuses) interleaved in time with 40 of account B.
async fn fixture() -> Fixture {
    let store = Arc::new(fresh_store().await);
    let (a, b) = (AccountId::generate(), AccountId::generate());
    let mut a_charges: Vec<Charge> = (0..250)
        .map(|i| {
            let mut c = charge(&a, &format!("a-{i}"), T0_MS + (i / 3) * 1_000);
            c.status = ChargeStatus::ALL[(i % 4) as usize];
            c
        })
        .collect();
    let b_charges: Vec<Charge> = (0..40)
        .map(|i| {
            let mut c = charge(&b, &format!("b-{i}"), T0_MS + i * 2_000 + 500);
            c.status = ChargeStatus::ALL[(i % 2) as usize];
            c
        })
        .collect();
    let all: Vec<Charge> = a_charges.iter().chain(&b_charges).cloned().collect();
    futures::stream::iter(all)
        .map(|c| {
            let store = Arc::clone(&store);
            async move { store.insert_charge(&c, None).await }
        })
        .buffer_unordered(32)
        .for_each(|r| async move { r.expect("insert") })
        .await;
    a_charges.sort_by(|x, y| {
        (y.created_at, y.transaction_id.as_str()).cmp(&(x.created_at, x.transaction_id.as_str()))
    });
    Fixture {
        store,
        a,
        b,
        a_charges,
        b_charges,
    }
}

fn query(limit: u32) -> ChargeQuery {
    ChargeQuery {
        status: None,
        from: None,
        to: None,
        limit,
        after: None,
    }
}

/// Follows `next` to the end, checking the page contract on the way.
async fn walk(store: &DynamoStore, account: &AccountId, mut q: ChargeQuery) -> Vec<Charge> {
    let mut seen = vec![];
    for _ in 0..1_000 {
        let page = store.list_charges(account, &q).await.expect("list");
        assert!(page.items.len() <= q.limit as usize);
        let full = page.items.len() == q.limit as usize;
        seen.extend(page.items.iter().cloned());
        match page.next {
            Some(next) => {
                assert!(full, "a short page must be the last one");
                assert_eq!(
                    Some(&next),
                    page.items.last().map(ChargeCursor::of).as_ref()
                );
                q.after = Some(next);
            }
            None => return seen,
        }
    }
    panic!("pagination did not terminate");
}

fn ids(charges: &[Charge]) -> Vec<&str> {
    charges.iter().map(|c| c.transaction_id.as_str()).collect()
}

#[tokio::test]
async fn pages_walk_every_charge_newest_first_exactly_once() {
    let f = fixture().await;
    let seen = walk(&f.store, &f.a, query(7)).await;
    assert_eq!(ids(&seen), ids(&f.a_charges));
    assert_eq!(
        seen, f.a_charges,
        "items round-trip whole through the index"
    );

    // 250 = 5 × 50: the fifth page is full and still the last (no empty trailing page).
    let mut q = query(50);
    let mut pages = 0;
    loop {
        let page = f.store.list_charges(&f.a, &q).await.expect("list");
        pages += 1;
        assert_eq!(page.items.len(), 50);
        match page.next {
            Some(next) => q.after = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 5);

    let b_seen = walk(&f.store, &f.b, query(100)).await;
    assert_eq!(b_seen.len(), f.b_charges.len());
}

#[tokio::test]
async fn from_to_are_half_open_and_combine_with_cursors_and_status() {
    let f = fixture().await;
    // Both bounds sit exactly on millisecond values three charges share.
    let (from, to) = (at_ms(T0_MS + 20_000), at_ms(T0_MS + 50_000));
    let within = |c: &&Charge| c.created_at >= from && c.created_at < to;
    let expected: Vec<Charge> = f.a_charges.iter().filter(within).cloned().collect();
    assert_eq!(expected.len(), 90);

    let bounded = ChargeQuery {
        from: Some(from),
        to: Some(to),
        ..query(4)
    };
    assert_eq!(
        ids(&walk(&f.store, &f.a, bounded.clone()).await),
        ids(&expected)
    );

    let only_from = ChargeQuery {
        to: None,
        ..bounded.clone()
    };
    let newer: Vec<_> = f
        .a_charges
        .iter()
        .filter(|c| c.created_at >= from)
        .cloned()
        .collect();
    assert_eq!(ids(&walk(&f.store, &f.a, only_from).await), ids(&newer));

    let only_to = ChargeQuery {
        from: None,
        ..bounded.clone()
    };
    let older: Vec<_> = f
        .a_charges
        .iter()
        .filter(|c| c.created_at < to)
        .cloned()
        .collect();
    assert_eq!(ids(&walk(&f.store, &f.a, only_to).await), ids(&older));

    let confirmed = ChargeQuery {
        status: Some(ChargeStatus::Confirmed),
        ..bounded.clone()
    };
    let expected_confirmed: Vec<_> = expected
        .iter()
        .filter(|c| c.status == ChargeStatus::Confirmed)
        .cloned()
        .collect();
    assert!(!expected_confirmed.is_empty());
    assert_eq!(
        ids(&walk(&f.store, &f.a, confirmed).await),
        ids(&expected_confirmed)
    );

    // Empty and inverted ranges, and times the sort key cannot hold, are just empty.
    for (from, to) in [
        (from, from),
        (to, from),
        (at_ms(-5_000), at_ms(-1)),
        (at_ms(4_000_000_000_000_000), at_ms(4_000_000_000_000_001)),
    ] {
        let q = ChargeQuery {
            from: Some(from),
            to: Some(to),
            ..query(10)
        };
        let page = f.store.list_charges(&f.a, &q).await.expect("list");
        assert!(page.items.is_empty() && page.next.is_none());
    }
}

#[tokio::test]
async fn status_pages_come_from_their_own_index() {
    let f = fixture().await;
    for status in ChargeStatus::ALL {
        let q = ChargeQuery {
            status: Some(status),
            ..query(9)
        };
        let expected: Vec<_> = f
            .a_charges
            .iter()
            .filter(|c| c.status == status)
            .cloned()
            .collect();
        assert_eq!(
            ids(&walk(&f.store, &f.a, q).await),
            ids(&expected),
            "{status:?}"
        );
    }
}

#[tokio::test]
async fn a_cursor_from_another_account_never_reveals_its_charges() {
    let f = fixture().await;
    let b_ids: Vec<&str> = ids(&f.b_charges);
    for b_charge in [&f.b_charges[0], &f.b_charges[20], &f.b_charges[39]] {
        let cursor = ChargeCursor::of(b_charge);
        for status in [None, Some(ChargeStatus::Pending)] {
            let q = ChargeQuery {
                status,
                after: Some(cursor.clone()),
                ..query(25)
            };
            let seen = walk(&f.store, &f.a, q).await;
            assert!(seen.iter().all(|c| c.account_id == f.a));
            assert!(
                seen.iter()
                    .all(|c| !b_ids.contains(&c.transaction_id.as_str()))
            );
            // It only positions the listing inside A's charges: strictly older ones.
            let expected: Vec<_> = f
                .a_charges
                .iter()
                .filter(|c| status.is_none_or(|s| c.status == s))
                .filter(|c| {
                    (c.created_at.timestamp_millis(), c.transaction_id.as_str())
                        < (cursor.created_at_ms, cursor.transaction_id.as_str())
                })
                .cloned()
                .collect();
            assert_eq!(ids(&seen), ids(&expected));
        }
    }
    // And B, walked with A's cursor, sees only B.
    let a_cursor = ChargeCursor::of(&f.a_charges[10]);
    let q = ChargeQuery {
        after: Some(a_cursor),
        ..query(100)
    };
    let seen = walk(&f.store, &f.b, q).await;
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|c| c.account_id == f.b));
}
