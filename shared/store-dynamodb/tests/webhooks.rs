//! The merchant-webhook storage port against DynamoDB Local: the endpoint's optimistic lock,
//! deliveries created once and replaced on their version together with their next message
//! (relayed by the stream feed, never when the write failed), the delivery log newest first
//! with filters and cursors, events read by id, and the CASHIN_CONFIRMED event of a
//! confirmation recorded once and relayed as its webhook message.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::settlement::eventually;
use common::{T0_MS, at_ms, fresh_store};
use futures::{StreamExt, TryStreamExt};
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::messaging::events::EventType;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::webhooks::{Delivery, DeliveryPage, DeliveryQuery, DeliveryStatus, WebhookStore};
use pixgw_store_dynamodb::DynamoStore;

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A delivery of `account` for a fresh event, created at `at_millis`.
fn delivery(
    account: &AccountId,
    event_type: EventType,
    status: DeliveryStatus,
    at_millis: i64,
) -> Delivery {
    let event_id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    let mut d = Delivery::new(account, &event_id, event_type, at_ms(at_millis));
    d.status = status;
    if status != DeliveryStatus::Pending {
        d.next_attempt_at = None;
    }
    d
}

fn query(limit: usize) -> DeliveryQuery {
    DeliveryQuery {
        event_type: None,
        status: None,
        cursor: None,
        limit,
    }
}

/// Newest first: (created_at, id) descending.
fn newest_first(mut deliveries: Vec<Delivery>) -> Vec<Delivery> {
    deliveries.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    deliveries
}

async fn create_all(store: &DynamoStore, deliveries: &[Delivery]) {
    futures::stream::iter(deliveries)
        .map(|d| async move {
            match store.create_delivery(d).await {
                Ok(WriteOutcome::Applied) => Ok(()),
                other => Err(format!("creating {}: {other:?}", d.id)),
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .expect("create deliveries");
}

/// Every page of a listing, following cursors (at most `max_calls` calls), and the pages.
async fn walk(
    store: &DynamoStore,
    account: &AccountId,
    mut q: DeliveryQuery,
    max_calls: usize,
) -> (Vec<Delivery>, Vec<DeliveryPage>) {
    let mut all = Vec::new();
    let mut pages = Vec::new();
    for _ in 0..max_calls {
        let page = store.list_deliveries(account, &q).await.expect("list");
        assert!(page.deliveries.len() <= q.limit, "page over its limit");
        all.extend(page.deliveries.iter().cloned());
        let next = page.next_cursor.clone();
        pages.push(page);
        match next {
            Some(cursor) => q.cursor = Some(cursor),
            None => return (all, pages),
        }
    }
    panic!("the listing did not end within {max_calls} calls");
}

/// The listing of everything once the index shows `n` deliveries (index reads lag writes).
async fn listed_once_indexed(store: &DynamoStore, account: &AccountId, n: usize) {
    let listed = eventually(
        || async { walk(store, account, query(100), 100).await.0.len() },
        |count| *count >= n,
    )
    .await;
    assert_eq!(listed, n, "the index never showed every delivery");
}

// ---------------------------------------------------------------------------------------------
// Endpoint

// ---------------------------------------------------------------------------------------------
// Deliveries

// ---------------------------------------------------------------------------------------------
// The delivery log

#[tokio::test]
async fn a_selective_filter_reads_a_bounded_amount_per_call_and_hands_back_a_cursor() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    // 1,050 delivered deliveries in front of the 3 oldest, failed ones: more than one call
    // examines (5 queries of 200), so the first filtered call comes back empty, with a cursor.
    let failed: Vec<Delivery> = (0..3)
        .map(|i| {
            delivery(
                &account,
                EventType::PayoutFailed,
                DeliveryStatus::Failed,
                T0_MS + i,
            )
        })
        .collect();
    let delivered: Vec<Delivery> = (0..1_050)
        .map(|i| {
            delivery(
                &account,
                EventType::PayoutPaid,
                DeliveryStatus::Delivered,
                T0_MS + 1_000 + i,
            )
        })
        .collect();
    create_all(&store, &failed).await;
    create_all(&store, &delivered).await;
    listed_once_indexed(&store, &account, failed.len() + delivered.len()).await;

    let q = DeliveryQuery {
        event_type: None,
        status: Some(DeliveryStatus::Failed),
        cursor: None,
        limit: 10,
    };
    let first = store.list_deliveries(&account, &q).await.expect("list");
    assert_eq!(first.deliveries, vec![], "1,000 examined, none matched");
    let cursor = first.next_cursor.expect("more may follow");
    let second = store
        .list_deliveries(
            &account,
            &DeliveryQuery {
                cursor: Some(cursor),
                ..q.clone()
            },
        )
        .await
        .expect("list");
    assert_eq!(second.deliveries, newest_first(failed));
    assert_eq!(second.next_cursor, None);
}

// ---------------------------------------------------------------------------------------------
// Events
