//! `list_payouts` against DynamoDB Local: an account's payouts newest first (created_at, then
//! id), by state through the index keys, `from`/`to` inclusive, a cursor strictly after, never
//! an ASSEMBLING payout, never another account's.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::scheduled::{assembling, booked_at, scheduled_splits};
use common::settlement::{eventually, settle_write};
use common::{T0_MS, at_ms, fresh_store};
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::payout::ports::PayoutStore;
use pixgw_domain::payout::ports::{PayoutCursor, PayoutPage, PayoutQuery};
use pixgw_domain::payout::runs::PayoutRunStore;
use pixgw_domain::payout::{Payout, PayoutId, PayoutState};
use pixgw_domain::pix::ids::AccountId;
use pixgw_store_dynamodb::DynamoStore;
use pixgw_store_dynamodb::keys;

fn query(state: Option<PayoutState>, limit: u32) -> PayoutQuery {
    PayoutQuery {
        state,
        from: None,
        to: None,
        limit,
        after: None,
    }
}

async fn list(store: &DynamoStore, account: &AccountId, q: &PayoutQuery) -> PayoutPage {
    store.list_payouts(account, q).await.expect("list payouts")
}

fn ids(page: &PayoutPage) -> Vec<PayoutId> {
    page.items.iter().map(|p| p.id.clone()).collect()
}

/// Newest first: created_at descending, then id descending.
fn newest_first(mut payouts: Vec<Payout>) -> Vec<PayoutId> {
    payouts.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    payouts.into_iter().map(|p| p.id).collect()
}

/// Every page of `q`, following the cursors.
async fn all_pages(store: &DynamoStore, account: &AccountId, mut q: PayoutQuery) -> Vec<PayoutId> {
    let mut out = Vec::new();
    loop {
        let page = list(store, account, &q).await;
        assert!(page.items.len() <= q.limit as usize);
        out.extend(ids(&page));
        match page.next {
            Some(next) => q.after = Some(next),
            None => return out,
        }
    }
}

#[tokio::test]
async fn payouts_are_listed_newest_first_by_state_and_range_with_a_cursor() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    // Five immediate payouts (PROCESSING at booking, 2 s after each charge), two of them in
    // the same millisecond; then one PAID and one FAILED.
    let mut books = Vec::new();
    for at in [
        T0_MS,
        T0_MS + 1_000,
        T0_MS + 2_000,
        T0_MS + 3_000,
        T0_MS + 3_000,
    ] {
        books.push(booked_at(&store, &account, at).await);
    }
    let paid = settle_write(&books[1], PayoutState::Paid, T0_MS + 10_000);
    let failed = settle_write(&books[2], PayoutState::Failed, T0_MS + 10_000);
    for write in [&paid, &failed] {
        assert_eq!(store.settle_payout(write).await, Ok(WriteOutcome::Applied));
    }
    let mut payouts: Vec<Payout> = Vec::new();
    for book in &books {
        let id = &book.payouts[0].id;
        payouts.push(store.get_payout(id).await.expect("get").expect("payout"));
    }
    // Another account's payout, which must never show up.
    let other = AccountId::generate();
    booked_at(&store, &other, T0_MS + 1_500).await;

    let all = newest_first(payouts.clone());
    let listed = eventually(
        || async { list(&store, &account, &query(None, 100)).await },
        |page: &PayoutPage| page.items.len() >= all.len(),
    )
    .await;
    assert_eq!(ids(&listed), all);
    assert_eq!(listed.next, None);
    assert_eq!(listed.items, {
        let mut sorted = payouts.clone();
        sorted.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        sorted
    });

    // Pages of two, through the tie in one millisecond, and of one.
    for limit in [1, 2, 3] {
        assert_eq!(all_pages(&store, &account, query(None, limit)).await, all);
    }
    let first = list(&store, &account, &query(None, 2)).await;
    assert_eq!(
        first.next,
        Some(PayoutCursor::of(&first.items[1])),
        "the cursor is the last item"
    );

    // By state: the state's own index partition.
    let by_state = |state: PayoutState| {
        newest_first(
            payouts
                .iter()
                .filter(|p| p.state == state)
                .cloned()
                .collect(),
        )
    };
    for state in [
        PayoutState::Processing,
        PayoutState::Paid,
        PayoutState::Failed,
    ] {
        let expected = by_state(state);
        let listed = eventually(
            || async { list(&store, &account, &query(Some(state), 100)).await },
            |page: &PayoutPage| page.items.len() >= expected.len(),
        )
        .await;
        assert_eq!(ids(&listed), expected, "{state:?}");
        assert_eq!(
            all_pages(&store, &account, query(Some(state), 1)).await,
            expected
        );
    }
    assert_eq!(by_state(PayoutState::Paid), vec![paid.payout.id.clone()]);
    assert_eq!(by_state(PayoutState::Processing).len(), 3);

    // `from` and `to` are both inclusive.
    let created = |i: usize| payouts[i].created_at;
    let ranged = PayoutQuery {
        from: Some(created(1)),
        to: Some(created(2)),
        ..query(None, 100)
    };
    assert_eq!(
        ids(&list(&store, &account, &ranged).await),
        vec![payouts[2].id.clone(), payouts[1].id.clone()]
    );
    let one_ms = PayoutQuery {
        from: Some(created(3)),
        to: Some(created(3)),
        ..query(None, 100)
    };
    assert_eq!(
        ids(&list(&store, &account, &one_ms).await),
        newest_first(vec![payouts[3].clone(), payouts[4].clone()])
    );
    let paged_range = PayoutQuery {
        from: Some(created(1)),
        ..query(None, 1)
    };
    assert_eq!(
        all_pages(&store, &account, paged_range).await,
        all[..4].to_vec()
    );
    let with_state = PayoutQuery {
        from: Some(created(0)),
        to: Some(created(1)),
        ..query(Some(PayoutState::Processing), 100)
    };
    assert_eq!(
        ids(&list(&store, &account, &with_state).await),
        vec![payouts[0].id.clone()]
    );
    let empty = PayoutQuery {
        from: Some(created(2)),
        to: Some(created(1)),
        ..query(None, 100)
    };
    assert_eq!(list(&store, &account, &empty).await.items, vec![]);
    // A cursor strictly after: the cursor's own payout is never listed again.
    let after_tie = PayoutQuery {
        after: Some(PayoutCursor::of(&payouts[3])),
        ..query(None, 100)
    };
    let rest: Vec<PayoutId> = all
        .iter()
        .skip_while(|id| **id != payouts[3].id)
        .skip(1)
        .cloned()
        .collect();
    assert_eq!(ids(&list(&store, &account, &after_tie).await), rest);

    // The other account sees only its own.
    let theirs = eventually(
        || async { list(&store, &other, &query(None, 100)).await },
        |page: &PayoutPage| !page.items.is_empty(),
    )
    .await;
    assert_eq!(theirs.items.len(), 1);
    assert!(theirs.items.iter().all(|p| p.account_id == other));
}

#[tokio::test]
async fn assembling_payouts_are_never_listed_and_released_ones_are() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let splits = scheduled_splits(&store, &account, 2, T0_MS).await;
    let immediate: Vec<PayoutId> = {
        let mut ids = Vec::new();
        for split in &splits {
            ids.push(PayoutId::for_immediate_split(&split.transaction_id, 0));
        }
        ids
    };
    let window = T0_MS + 3_600_000;
    let run = window + 1_000;
    let id = assembling(&store, &account, &splits[..1], window, run).await;
    // A second attach grows it; still ASSEMBLING.
    assembling(&store, &account, &splits[1..], window, run + 5).await;

    let listed = eventually(
        || async { list(&store, &account, &query(None, 100)).await },
        |page: &PayoutPage| page.items.len() >= immediate.len(),
    )
    .await;
    assert_eq!(listed.items.len(), immediate.len());
    assert!(!ids(&listed).contains(&id));
    for state in [PayoutState::Assembling, PayoutState::Processing] {
        let page = list(&store, &account, &query(Some(state), 100)).await;
        assert!(!ids(&page).contains(&id), "{state:?}");
    }
    // The item carries no listing keys, only its window's.
    let item = store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(keys::primary_key(
            keys::payout_pk(&id),
            keys::SK_PAYOUT,
        )))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("payout item");
    assert!(!item.contains_key(keys::GSI1PK) && !item.contains_key(keys::GSI1SK));
    assert_eq!(
        item.get(keys::GSI2PK).and_then(|v| v.as_s().ok()),
        Some(&keys::assembling_payouts_pk(&account, window))
    );

    // Released: listed as PROCESSING, at its creation (the first attach).
    assert_eq!(
        store.release_payout(&id, &[], at_ms(run + 10)).await,
        Ok(WriteOutcome::Applied)
    );
    let released = store.get_payout(&id).await.expect("get").expect("payout");
    assert_eq!(released.created_at, at_ms(run));
    assert_eq!(released.split_count, 2);
    let listed = eventually(
        || async { list(&store, &account, &query(None, 100)).await },
        |page: &PayoutPage| page.items.len() > immediate.len(),
    )
    .await;
    assert_eq!(listed.items.first(), Some(&released));
    let processing = eventually(
        || async { list(&store, &account, &query(Some(PayoutState::Processing), 100)).await },
        |page: &PayoutPage| ids(page).contains(&id),
    )
    .await;
    assert_eq!(processing.items.first(), Some(&released));
    // Releasing twice is a Conflict and changes nothing.
    assert_eq!(
        store.release_payout(&id, &[], at_ms(run + 20)).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(store.get_payout(&id).await, Ok(Some(released)));
    assert_eq!(
        store
            .release_payout(&PayoutId::generate(), &[], at_ms(run + 20))
            .await,
        Ok(WriteOutcome::Conflict)
    );
}
