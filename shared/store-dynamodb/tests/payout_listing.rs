//! `list_payouts` against DynamoDB Local: an account's payouts newest first (created_at, then
//! id), by state through the index keys, `from`/`to` inclusive, a cursor strictly after, never
//! an ASSEMBLING payout, never another account's.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::scheduled::{assembling, scheduled_splits};
use common::settlement::eventually;
use common::{T0_MS, at_ms, fresh_store};
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::payout::ports::PayoutStore;
use pixgw_domain::payout::ports::{PayoutPage, PayoutQuery};
use pixgw_domain::payout::runs::PayoutRunStore;
use pixgw_domain::payout::{PayoutId, PayoutState};
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
