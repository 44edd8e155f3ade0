//! The webhook tables on redb: endpoint and delivery versioning, the attempt message written
//! with an update, the delivery listing (order, filters, cursor, bounded reads, isolation),
//! and the webhook outbox message every recorded event brings with it.

use chrono::{DateTime, Utc};
use pixgw_domain::charge::ports::ChargeStore;
use pixgw_domain::charge::ports::ConfirmCharge;
use pixgw_domain::messaging::events::{EventLog, EventType};
use pixgw_domain::messaging::outbox::OutboxFeed;
use pixgw_domain::messaging::queue::QueueName;
use pixgw_domain::payout::PayoutState;
use pixgw_domain::webhooks::{
    DeliveryAttempt, DeliveryStatus, EndpointStatus, SealedSecret, WebhookMessage,
};
use serde_json::json;
use tempfile::TempDir;

use super::*;
use crate::test_support::*;
use pixgw_domain::charge::ports::ChargeTransitions;
use pixgw_domain::payout::ports::PayoutStore;

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

/// `d` after one failed attempt at `s`: still PENDING, version bumped.
fn after_failed_attempt(d: &Delivery, s: i64) -> Delivery {
    let mut next = d.clone();
    next.log_attempt(DeliveryAttempt {
        number: d.next_attempt(),
        round: d.round,
        at: at(s),
        status_code: Some(503),
        latency_ms: 12,
        error: Some("HTTP 503".into()),
    });
    next.next_attempt_at = Some(at(s + 5));
    next.updated_at = at(s);
    next.version = d.version + 1;
    next
}

/// The message scheduling attempt `attempt` of `d`.
fn attempt_message(d: &Delivery, attempt: u32, s: i64) -> OutboxMessage {
    WebhookMessage::Attempt {
        delivery_id: d.id.clone(),
        account_id: d.account_id.clone(),
        round: d.round,
        attempt,
        not_before_ms: at(s).timestamp_millis(),
    }
    .to_outbox(at(s))
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

async fn walk_store(
    store: &EmbeddedStore,
    account: &AccountId,
    query: DeliveryQuery,
) -> (Vec<String>, Vec<usize>) {
    let mut listed = Vec::new();
    let mut sizes = Vec::new();
    let mut query = query;
    loop {
        let page = store.list_deliveries(account, &query).await.expect("list");
        listed.extend(ids(&page));
        sizes.push(page.deliveries.len());
        assert!(sizes.len() < 100, "the cursor must move forward");
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return (listed, sizes),
        }
    }
}

/// The webhook messages waiting in the outbox.
async fn webhook_messages(store: &EmbeddedStore) -> Vec<OutboxMessage> {
    let messages = store.poll_outbox(10_000).await.expect("poll");
    messages
        .into_iter()
        .filter(|m| m.queue == QueueName::WebhookDeliveries)
        .collect()
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

#[tokio::test]
async fn a_delivery_is_created_once_and_read_by_its_account_only() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let d = delivery(&account, "evt_1", EventType::PayoutPaid, 1);
    assert_eq!(store.create_delivery(&d).await, Ok(WriteOutcome::Applied));
    // A duplicate queue message creates the same delivery again: the first one stays.
    let duplicate = Delivery {
        status: DeliveryStatus::Failed,
        ..delivery(&account, "evt_1", EventType::PayoutPaid, 7)
    };
    assert_eq!(duplicate.id, d.id);
    assert_eq!(
        store.create_delivery(&duplicate).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        store.get_delivery(&account, &d.id).await,
        Ok(Some(d.clone()))
    );
    assert_eq!(
        store.list_deliveries(&account, &query(10)).await,
        Ok(DeliveryPage {
            deliveries: vec![d.clone()],
            next_cursor: None,
        }),
        "listed once"
    );

    let other = AccountId::generate();
    assert_eq!(store.get_delivery(&other, &d.id).await, Ok(None));
    assert_eq!(store.get_delivery(&account, "dlv_unknown").await, Ok(None));
}

#[tokio::test]
async fn a_stale_update_changes_nothing_and_enqueues_nothing() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let d = delivery(&account, "evt_1", EventType::PayoutPaid, 1);
    create_all(&store, std::slice::from_ref(&d)).await;
    let updated = Delivery {
        status: DeliveryStatus::Delivered,
        next_attempt_at: None,
        ..after_failed_attempt(&d, 2)
    };
    let message = attempt_message(&d, 2, 7);

    for stale in [1, 5] {
        assert_eq!(
            store.update_delivery(&updated, stale, Some(&message)).await,
            Ok(WriteOutcome::Conflict)
        );
    }
    // Another account's write naming this delivery's id cannot take it over.
    let other = AccountId::generate();
    let foreign = Delivery {
        account_id: other.clone(),
        ..updated.clone()
    };
    assert_eq!(
        store.update_delivery(&foreign, 0, Some(&message)).await,
        Ok(WriteOutcome::Conflict)
    );
    // Nor can an update create a delivery.
    let missing = delivery(&account, "evt_missing", EventType::PayoutPaid, 1);
    assert_eq!(
        store.update_delivery(&missing, 0, None).await,
        Ok(WriteOutcome::Conflict)
    );

    assert_eq!(
        store.get_delivery(&account, &d.id).await,
        Ok(Some(d.clone()))
    );
    assert_eq!(store.get_delivery(&other, &d.id).await, Ok(None));
    assert_eq!(store.get_delivery(&account, &missing.id).await, Ok(None));
    assert_eq!(
        store.poll_outbox(100).await,
        Ok(Vec::new()),
        "no outbox row"
    );
    // The index still files it as PENDING.
    let delivered = DeliveryQuery {
        status: Some(DeliveryStatus::Delivered),
        ..query(10)
    };
    let pending = DeliveryQuery {
        status: Some(DeliveryStatus::Pending),
        ..query(10)
    };
    let listed = store.list_deliveries(&account, &delivered).await;
    assert_eq!(listed.map(|p| p.deliveries), Ok(Vec::new()));
    let listed = store.list_deliveries(&account, &pending).await;
    assert_eq!(listed.map(|p| ids(&p)), Ok(vec![d.id.clone()]));
    assert_eq!(
        store.list_deliveries(&other, &query(10)).await,
        Ok(DeliveryPage {
            deliveries: Vec::new(),
            next_cursor: None
        })
    );
}

#[tokio::test]
async fn an_update_stores_the_delivery_with_its_attempt_message_for_the_relay() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let d = delivery(&account, "evt_1", EventType::SplitFailed, 1);
    create_all(&store, std::slice::from_ref(&d)).await;

    let retried = after_failed_attempt(&d, 2);
    let message = attempt_message(&d, 2, 7);
    assert_eq!(
        store.update_delivery(&retried, 0, Some(&message)).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(
        store.get_delivery(&account, &d.id).await,
        Ok(Some(retried.clone()))
    );
    assert_eq!(store.poll_outbox(100).await, Ok(vec![message.clone()]));

    // A repeat naming the same (still waiting) message leaves that message as it is.
    let delivered = Delivery {
        status: DeliveryStatus::Delivered,
        next_attempt_at: None,
        version: 2,
        ..retried.clone()
    };
    let repeat = OutboxMessage {
        created_at: at(30),
        ..message.clone()
    };
    assert_eq!(
        store.update_delivery(&delivered, 1, Some(&repeat)).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(store.poll_outbox(100).await, Ok(vec![message.clone()]));
    assert_eq!(
        store.get_delivery(&account, &d.id).await,
        Ok(Some(delivered.clone()))
    );
    // The listing index follows the new status.
    for (status, expected) in [
        (DeliveryStatus::Pending, Vec::new()),
        (DeliveryStatus::Delivered, vec![delivered.clone()]),
    ] {
        let q = DeliveryQuery {
            status: Some(status),
            ..query(10)
        };
        let listed = store.list_deliveries(&account, &q).await;
        assert_eq!(listed.map(|p| p.deliveries), Ok(expected), "{status:?}");
    }
    // An update without a message enqueues none.
    store
        .ack_outbox(std::slice::from_ref(&message.id))
        .await
        .expect("ack");
    let bumped = Delivery {
        version: 3,
        ..delivered
    };
    assert_eq!(
        store.update_delivery(&bumped, 2, None).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(store.poll_outbox(100).await, Ok(Vec::new()));
}

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
async fn deliveries_are_listed_newest_first_across_pages_per_account() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let other = AccountId::generate();
    // Out of order, three sharing a millisecond.
    let mine = deliveries_at(&account, "a", &[5, 1, 3, 3, 3, 9, 2]);
    let theirs = deliveries_at(&other, "b", &[4, 3]);
    create_all(&store, &mine[..4]).await;
    create_all(&store, &theirs).await;
    create_all(&store, &mine[4..]).await;
    let expected = newest_first(&mine);

    let all = store.list_deliveries(&account, &query(100)).await;
    let all = all.expect("list");
    assert_eq!(ids(&all), expected);
    assert_eq!(all.next_cursor, None);
    assert_eq!(all.deliveries[0], mine[5], "whole deliveries, as written");

    for limit in [1, 2, 3, 7] {
        let (listed, sizes) = walk_store(&store, &account, query(limit)).await;
        assert_eq!(listed, expected, "limit {limit}");
        // Unfiltered pages are full but the last, and no cursor leads to an empty page.
        let last = sizes.len() - 1;
        assert!(sizes[..last].iter().all(|&n| n == limit), "{sizes:?}");
        assert!(sizes[last] >= 1, "{sizes:?}");
    }
    // The limit is clamped to the port's 1..=100.
    let zero = store.list_deliveries(&account, &query(0)).await;
    assert_eq!(zero.map(|p| p.deliveries.len()), Ok(1));

    let (listed, _) = walk_store(&store, &other, query(1)).await;
    assert_eq!(listed, newest_first(&theirs));
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
async fn filters_select_by_status_and_event_type() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let all = deliveries_at(&account, "a", &[1, 2, 3, 4, 5, 6]);
    create_all(&store, &all).await;
    // Deliveries 0 (PAYOUT_PAID) and 3 (CASHIN_CONFIRMED) become FAILED.
    let mut stored = all.clone();
    for i in [0, 3] {
        let failed = Delivery {
            status: DeliveryStatus::Failed,
            next_attempt_at: None,
            version: 1,
            ..all[i].clone()
        };
        assert_eq!(
            store.update_delivery(&failed, 0, None).await,
            Ok(WriteOutcome::Applied)
        );
        stored[i] = failed;
    }
    let expect = |keep: &dyn Fn(&Delivery) -> bool| -> Vec<String> {
        let kept: Vec<Delivery> = stored.iter().filter(|d| keep(d)).cloned().collect();
        newest_first(&kept)
    };

    let cases: Vec<(Option<DeliveryStatus>, Option<EventType>, Vec<String>)> = vec![
        (
            Some(DeliveryStatus::Failed),
            None,
            expect(&|d| d.status == DeliveryStatus::Failed),
        ),
        (
            Some(DeliveryStatus::Pending),
            None,
            expect(&|d| d.status == DeliveryStatus::Pending),
        ),
        (Some(DeliveryStatus::Delivered), None, Vec::new()),
        (
            None,
            Some(EventType::CashinConfirmed),
            expect(&|d| d.event_type == EventType::CashinConfirmed),
        ),
        (
            Some(DeliveryStatus::Pending),
            Some(EventType::PayoutPaid),
            expect(&|d| {
                d.status == DeliveryStatus::Pending && d.event_type == EventType::PayoutPaid
            }),
        ),
        (
            Some(DeliveryStatus::Failed),
            Some(EventType::SplitPaid),
            Vec::new(),
        ),
    ];
    for (status, event_type, expected) in cases {
        for limit in [1, 2, 100] {
            let q = DeliveryQuery {
                status,
                event_type,
                ..query(limit)
            };
            let (listed, _) = walk_store(&store, &account, q).await;
            assert_eq!(listed, expected, "{status:?} {event_type:?} limit {limit}");
        }
    }
    assert_eq!(expect(&|d| d.status == DeliveryStatus::Failed).len(), 2);
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

#[tokio::test]
async fn get_event_finds_only_the_accounts_own_events() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let payout = booked_immediate(&store, &account, 1_000, at(1)).await;
    let write = settle_write(&store, payout, PayoutState::Paid, at(5)).await;
    assert_eq!(store.settle_payout(&write).await, Ok(WriteOutcome::Applied));
    assert!(!write.events.is_empty());
    for event in &write.events {
        assert_eq!(
            store.get_event(&account, &event.id).await,
            Ok(Some(event.clone()))
        );
        assert_eq!(
            store.get_event(&AccountId::generate(), &event.id).await,
            Ok(None)
        );
    }
    assert_eq!(store.get_event(&account, "evt_unknown").await, Ok(None));
}

#[tokio::test]
async fn a_settlements_events_each_enqueue_one_webhook_message() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let payout = booked_immediate(&store, &account, 1_000, at(1)).await;
    assert_eq!(webhook_messages(&store).await, Vec::new());
    let write = settle_write(&store, payout, PayoutState::Paid, at(5)).await;
    assert_eq!(store.settle_payout(&write).await, Ok(WriteOutcome::Applied));

    let mut expected: Vec<OutboxMessage> =
        write.events.iter().map(WebhookMessage::for_event).collect();
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    let mut waiting = webhook_messages(&store).await;
    waiting.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(waiting.len(), 2, "PAYOUT_PAID and SPLIT_PAID");
    assert_eq!(waiting, expected);
    for message in &waiting {
        let parsed = WebhookMessage::parse(&message.body).expect("body");
        assert!(
            matches!(parsed, WebhookMessage::Event { account_id, .. } if account_id == account)
        );
    }

    // The retried write is refused, and announces nothing a second time.
    assert_eq!(
        store.settle_payout(&write).await,
        Ok(WriteOutcome::Conflict)
    );
    let mut again = webhook_messages(&store).await;
    again.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(again, expected);
    // Relayed and acked, a message stays gone: the events already exist.
    let acked: Vec<String> = expected.iter().map(|m| m.id.clone()).collect();
    store.ack_outbox(&acked).await.expect("ack");
    assert_eq!(
        store.settle_payout(&write).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(webhook_messages(&store).await, Vec::new());
}

fn cashin_confirmed(write: &ConfirmCharge) -> AccountEvent {
    AccountEvent::new(
        &write.account_id,
        EventType::CashinConfirmed,
        write.transaction_id.as_str(),
        write.confirmed_at,
        json!({ "transactionId": write.transaction_id.as_str() }),
    )
}

fn confirm_with_event(charge: &pixgw_domain::charge::Charge, when: DateTime<Utc>) -> ConfirmCharge {
    let mut write = confirm_write(charge, when);
    write.events = vec![cashin_confirmed(&write)];
    write
}

#[tokio::test]
async fn a_confirmation_records_its_event_once_with_one_webhook_message() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let charge = charge(&account);
    stored_charge(&store, &charge).await;
    let write = confirm_with_event(&charge, at(2));
    let event = write.events[0].clone();
    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Applied)
    );

    assert_eq!(
        store.list_events(&account, None, 10).await,
        Ok(vec![event.clone()])
    );
    assert_eq!(
        store.get_event(&account, &event.id).await,
        Ok(Some(event.clone()))
    );
    let mut expected = write.outbox.clone();
    expected.push(WebhookMessage::for_event(&event));
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    let mut waiting = store.poll_outbox(100).await.expect("poll");
    waiting.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        waiting, expected,
        "the pipeline message and the webhook message"
    );

    // A retried confirmation is refused and records nothing twice.
    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        store.list_events(&account, None, 10).await,
        Ok(vec![event.clone()])
    );
    assert_eq!(
        webhook_messages(&store).await,
        vec![WebhookMessage::for_event(&event)]
    );
}

#[tokio::test]
async fn a_confirmation_whose_event_exists_already_writes_nothing() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let first = charge(&account);
    stored_charge(&store, &first).await;
    let write = confirm_with_event(&first, at(2));
    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Applied)
    );
    let before = store.poll_outbox(100).await.expect("poll");

    // Another charge's confirmation carrying the same (already recorded) event: the event
    // condition alone refuses it.
    let second = charge(&account);
    stored_charge(&store, &second).await;
    let mut clash = confirm_write(&second, at(3));
    clash.events = write.events.clone();
    assert_eq!(
        store.confirm_charge(&clash).await,
        Ok(WriteOutcome::Conflict)
    );
    let stored = store.get_charge(&second.transaction_id).await.expect("get");
    assert_eq!(
        stored.map(|c| c.status),
        Some(pixgw_domain::charge::ChargeStatus::Pending)
    );
    assert_eq!(store.poll_outbox(100).await, Ok(before));
    assert_eq!(
        store.list_events(&account, None, 10).await.map(|e| e.len()),
        Ok(1)
    );

    // Without the duplicate it goes through, with its own event and message.
    let ok = confirm_with_event(&second, at(3));
    assert_eq!(store.confirm_charge(&ok).await, Ok(WriteOutcome::Applied));
    assert_eq!(webhook_messages(&store).await.len(), 2);
}

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
