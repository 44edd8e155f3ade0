//! The webhook tables on redb: endpoint and delivery versioning, the attempt message written
//! with an update, the delivery listing (order, filters, cursor, bounded reads, isolation),
//! and the webhook outbox message every recorded event brings with it.

use pixgw_domain::messaging::events::EventType;
use pixgw_domain::webhooks::{DeliveryStatus, EndpointStatus, SealedSecret};
use tempfile::TempDir;

use super::*;
use crate::test_support::*;

fn open() -> (TempDir, EmbeddedStore) {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    (dir, store)
}

fn endpoint(account: &AccountId, url: &str, version: u64) -> WebhookEndpoint {
    WebhookEndpoint {
        account_id: account.clone(),
        url: url.into(),
        events: Some([EventType::PayoutPaid, EventType::CashinConfirmed].into()),
        secrets: vec![SealedSecret {
            sealed: format!("sealed-{version}"),
            created_at: t0(),
            expires_at: None,
        }],
        status: EndpointStatus::Enabled,
        created_at: t0(),
        updated_at: at(i64::try_from(version).unwrap_or_default()),
        version,
    }
}

fn delivery(account: &AccountId, event: &str, event_type: EventType, s: i64) -> Delivery {
    Delivery::new(account, event, event_type, at(s))
}

fn query(limit: usize) -> DeliveryQuery {
    DeliveryQuery {
        event_type: None,
        status: None,
        cursor: None,
        limit,
    }
}

fn ids(page: &DeliveryPage) -> Vec<String> {
    page.deliveries.iter().map(|d| d.id.clone()).collect()
}

/// Newest first: created_at descending, then id descending.
fn newest_first(deliveries: &[Delivery]) -> Vec<String> {
    let mut sorted = deliveries.to_vec();
    sorted.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    sorted.into_iter().map(|d| d.id).collect()
}

async fn create_all(store: &EmbeddedStore, deliveries: &[Delivery]) {
    for d in deliveries {
        assert_eq!(store.create_delivery(d).await, Ok(WriteOutcome::Applied));
    }
}

/// Every page of `query` (from its start) through `list`, and the pages' sizes.
fn walk(
    mut list: impl FnMut(&DeliveryQuery) -> DeliveryPage,
    mut query: DeliveryQuery,
) -> (Vec<String>, Vec<usize>) {
    let mut listed = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let page = list(&query);
        listed.extend(ids(&page));
        sizes.push(page.deliveries.len());
        assert!(sizes.len() < 100, "the cursor must move forward");
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return (listed, sizes),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Endpoints

#[tokio::test]
async fn an_endpoint_is_created_once_and_replaced_only_at_its_stored_version() {
    let dir = TempDir::new().expect("temp dir");
    let account = AccountId::generate();
    let first = endpoint(&account, "https://a.example/hook", 1);
    let second = endpoint(&account, "https://b.example/hook", 2);
    {
        let store = EmbeddedStore::open(dir.path()).expect("open");
        assert_eq!(store.get_webhook_endpoint(&account).await, Ok(None));
        // Replacing an endpoint that does not exist is a conflict, and creates nothing.
        assert_eq!(
            store.put_webhook_endpoint(&first, Some(0)).await,
            Ok(WriteOutcome::Conflict)
        );
        assert_eq!(store.get_webhook_endpoint(&account).await, Ok(None));
        assert_eq!(
            store.put_webhook_endpoint(&first, None).await,
            Ok(WriteOutcome::Applied)
        );
        assert_eq!(
            store.get_webhook_endpoint(&account).await,
            Ok(Some(first.clone()))
        );
        // A second create, or a replace naming a stale version, changes nothing.
        assert_eq!(
            store.put_webhook_endpoint(&second, None).await,
            Ok(WriteOutcome::Conflict)
        );
        assert_eq!(
            store.put_webhook_endpoint(&second, Some(0)).await,
            Ok(WriteOutcome::Conflict)
        );
        assert_eq!(
            store.get_webhook_endpoint(&account).await,
            Ok(Some(first.clone()))
        );
        assert_eq!(
            store.put_webhook_endpoint(&second, Some(1)).await,
            Ok(WriteOutcome::Applied)
        );
        // The version it replaced is gone: the same replace again is stale.
        assert_eq!(
            store.put_webhook_endpoint(&second, Some(1)).await,
            Ok(WriteOutcome::Conflict)
        );
    }

    let store = EmbeddedStore::open(dir.path()).expect("reopen");
    assert_eq!(
        store.get_webhook_endpoint(&account).await,
        Ok(Some(second.clone()))
    );
    // One endpoint per account: another account's is separate.
    let other = AccountId::generate();
    assert_eq!(store.get_webhook_endpoint(&other).await, Ok(None));
    let disabled = WebhookEndpoint {
        status: EndpointStatus::Disabled {
            reason: "410 Gone".into(),
            at: at(9),
        },
        events: None,
        ..endpoint(&other, "https://c.example/hook", 1)
    };
    assert_eq!(
        store.put_webhook_endpoint(&disabled, None).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(store.get_webhook_endpoint(&other).await, Ok(Some(disabled)));
    assert_eq!(store.get_webhook_endpoint(&account).await, Ok(Some(second)));
}

// ---------------------------------------------------------------------------------------------
// Deliveries

// ---------------------------------------------------------------------------------------------
// Listing

/// `account`'s deliveries at these seconds (event ids from `tag`), of alternating types.
fn deliveries_at(account: &AccountId, tag: &str, seconds: &[i64]) -> Vec<Delivery> {
    seconds
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let event_type = if i % 2 == 0 {
                EventType::PayoutPaid
            } else {
                EventType::CashinConfirmed
            };
            delivery(account, &format!("evt_{tag}_{i}"), event_type, *s)
        })
        .collect()
}

#[tokio::test]
async fn a_foreign_or_unparseable_cursor_yields_an_empty_last_page() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let other = AccountId::generate();
    create_all(&store, &deliveries_at(&account, "a", &[1, 2, 3])).await;
    create_all(&store, &deliveries_at(&other, "b", &[1, 2, 3])).await;
    let theirs = store.list_deliveries(&other, &query(1)).await;
    let their_cursor = theirs.expect("list").next_cursor.expect("more follow");
    let mine = store.list_deliveries(&account, &query(1)).await;
    let my_cursor = mine.expect("list").next_cursor.expect("more follow");

    let empty = DeliveryPage {
        deliveries: Vec::new(),
        next_cursor: None,
    };
    for cursor in [
        their_cursor,
        String::new(),
        "garbage".to_owned(),
        format!("{account}:notanumber:dlv_x"),
        format!("{account}:5"),
        format!("{account}:5:"),
        format!("{account}:5:dlv\u{0}x"),
        my_cursor.replacen(account.as_str(), other.as_str(), 1),
    ] {
        let q = DeliveryQuery {
            cursor: Some(cursor.clone()),
            ..query(10)
        };
        assert_eq!(
            store.list_deliveries(&account, &q).await,
            Ok(empty.clone()),
            "{cursor:?}"
        );
    }
    // The account's own cursor goes on.
    let q = DeliveryQuery {
        cursor: Some(my_cursor),
        ..query(10)
    };
    let rest = store.list_deliveries(&account, &q).await;
    assert_eq!(rest.map(|p| p.deliveries.len()), Ok(2));
}

#[tokio::test]
async fn a_filtered_listing_reads_a_bounded_number_of_entries_per_call() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let all = deliveries_at(&account, "a", &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    create_all(&store, &all).await;
    // Only the two oldest are FAILED: a FAILED listing scans past eight PENDING ones first.
    for d in &all[..2] {
        let failed = Delivery {
            status: DeliveryStatus::Failed,
            version: 1,
            ..d.clone()
        };
        assert_eq!(
            store.update_delivery(&failed, 0, None).await,
            Ok(WriteOutcome::Applied)
        );
    }
    let failed = DeliveryQuery {
        status: Some(DeliveryStatus::Failed),
        ..query(100)
    };
    let db = std::sync::Arc::clone(&store.db);
    let (listed, sizes) = walk(
        |q| list_in(&db, account.as_str(), q, 3).expect("list"),
        failed.clone(),
    );
    assert_eq!(listed, newest_first(&all[..2]));
    // Three entries a call: 10, 9, 8 | 7, 6, 5 | 4, 3, 2 | 1: short pages with a cursor.
    assert_eq!(sizes, vec![0, 0, 1, 1]);

    // Unfiltered, the budget cuts pages short too, and the cursor still covers everything.
    let (listed, sizes) = walk(
        |q| list_in(&db, account.as_str(), q, 4).expect("list"),
        query(100),
    );
    assert_eq!(listed, newest_first(&all));
    assert_eq!(sizes, vec![4, 4, 2]);

    // With the store's own budget the whole answer is one page.
    let page = store
        .list_deliveries(&account, &failed)
        .await
        .expect("list");
    assert_eq!(ids(&page), newest_first(&all[..2]));
    assert_eq!(page.next_cursor, None);
}

// ---------------------------------------------------------------------------------------------
// Events

// ---------------------------------------------------------------------------------------------
// Corruption

#[tokio::test]
async fn undecodable_webhook_values_are_corrupt_not_panics() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let d = delivery(&account, "evt_1", EventType::PayoutPaid, 1);
    create_all(&store, std::slice::from_ref(&d)).await;
    {
        let txn = store.db.begin_write().expect("write");
        let mut endpoints = txn.open_table(ENDPOINTS).expect("table");
        endpoints
            .insert(account.as_str(), b"not json".as_slice())
            .expect("insert");
        let mut index = txn.open_table(DELIVERIES_BY_ACCOUNT).expect("table");
        index
            .insert(
                keys::delivery_entry(account.as_str(), 0, "dlv_x").as_str(),
                "no separator",
            )
            .expect("insert");
        drop((endpoints, index));
        txn.commit().expect("commit");
    }
    assert!(matches!(
        store.get_webhook_endpoint(&account).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store
            .put_webhook_endpoint(&endpoint(&account, "https://a.example", 1), None)
            .await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.list_deliveries(&account, &query(10)).await,
        Err(StoreError::Corrupt(_))
    ));
    // The delivery itself still reads.
    assert_eq!(store.get_delivery(&account, &d.id).await, Ok(Some(d)));
}
