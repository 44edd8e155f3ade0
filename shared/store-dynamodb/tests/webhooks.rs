//! The merchant-webhook storage port against DynamoDB Local: the endpoint's optimistic lock,
//! deliveries created once and replaced on their version together with their next message
//! (relayed by the stream feed, never when the write failed), the delivery log newest first
//! with filters and cursors, events read by id, and the CASHIN_CONFIRMED event of a
//! confirmation recorded once and relayed as its webhook message.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use common::settlement::{confirm_write, eventually, split_charge};
use common::{T0_MS, at_ms, endpoint, fresh_store};
use futures::{StreamExt, TryStreamExt};
use pixgw_domain::charge::ports::ChargeStore;
use pixgw_domain::charge::ports::ChargeTransitions;
use pixgw_domain::charge::ports::ConfirmCharge;
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::messaging::events::{AccountEvent, EventLog, EventType};
use pixgw_domain::messaging::outbox::OutboxFeed;
use pixgw_domain::messaging::outbox::OutboxMessage;
use pixgw_domain::messaging::queue::QueueName;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::webhooks::{
    Delivery, DeliveryAttempt, DeliveryPage, DeliveryQuery, DeliveryStatus, EndpointStatus,
    SealedSecret, WebhookEndpoint, WebhookMessage, WebhookStore,
};
use pixgw_store_dynamodb::{DynamoStore, DynamoStreamFeed};

// ---------------------------------------------------------------------------------------------
// Fixtures

fn new_endpoint(account: &AccountId, at: DateTime<Utc>) -> WebhookEndpoint {
    WebhookEndpoint {
        account_id: account.clone(),
        url: "https://merchant.example.com/hooks/pix".to_owned(),
        events: None,
        secrets: vec![SealedSecret {
            sealed: "sealed-secret-1".to_owned(),
            created_at: at,
            expires_at: None,
        }],
        status: EndpointStatus::Enabled,
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

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

/// `d` after a failed attempt, version bumped, with the message of the retry.
fn after_failed_attempt(d: &Delivery, at_millis: i64) -> (Delivery, OutboxMessage) {
    let at = at_ms(at_millis);
    let mut next = d.clone();
    next.log_attempt(DeliveryAttempt {
        number: d.next_attempt(),
        round: d.round,
        at,
        status_code: Some(503),
        latency_ms: 42,
        error: Some("HTTP 503".to_owned()),
    });
    let retry_at = at + Duration::seconds(5);
    next.next_attempt_at = Some(retry_at);
    next.updated_at = at;
    next.version = d.version + 1;
    let message = WebhookMessage::Attempt {
        delivery_id: d.id.clone(),
        account_id: d.account_id.clone(),
        round: next.round,
        attempt: next.next_attempt(),
        not_before_ms: retry_at.timestamp_millis(),
    }
    .to_outbox(at);
    (next, message)
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

fn ids(messages: &[OutboxMessage]) -> BTreeSet<String> {
    messages.iter().map(|m| m.id.clone()).collect()
}

/// Polls the feed until every id in `wanted` has come out, returning the last poll.
async fn poll_until(feed: &dyn OutboxFeed, wanted: &BTreeSet<String>) -> Vec<OutboxMessage> {
    let deadline = Instant::now() + StdDuration::from_secs(15);
    loop {
        let polled = feed.poll_outbox(1_000).await.expect("poll");
        if wanted.is_subset(&ids(&polled)) {
            return polled;
        }
        assert!(
            Instant::now() < deadline,
            "wanted {wanted:?}, the feed only has {:?}",
            ids(&polled)
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
}

/// A confirmation of a fresh pending charge of `account` that records CASHIN_CONFIRMED.
async fn confirmation_with_event(
    store: &DynamoStore,
    account: &AccountId,
) -> (Charge, ConfirmCharge) {
    let c = split_charge(account, T0_MS);
    store.insert_charge(&c, None).await.expect("insert");
    let mut write = confirm_write(&c, T0_MS + 1_000);
    write.events = vec![AccountEvent::new(
        account,
        EventType::CashinConfirmed,
        c.transaction_id.as_str(),
        write.confirmed_at,
        serde_json::json!({
            "transactionId": c.transaction_id.as_str(),
            "amount": "100.00",
            "endToEndId": write.payment.end_to_end_id.to_string(),
        }),
    )];
    (c, write)
}

// ---------------------------------------------------------------------------------------------
// Endpoint

#[tokio::test]
async fn the_endpoint_is_created_once_and_replaced_only_on_the_version_read() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let other = AccountId::generate();
    let t0 = at_ms(T0_MS);
    assert_eq!(store.get_webhook_endpoint(&account).await, Ok(None));
    // Replacing what does not exist is a conflict and creates nothing.
    let v1 = new_endpoint(&account, t0);
    assert_eq!(
        store.put_webhook_endpoint(&v1, Some(0)).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(store.get_webhook_endpoint(&account).await, Ok(None));

    assert_eq!(
        store.put_webhook_endpoint(&v1, None).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(
        store.get_webhook_endpoint(&account).await,
        Ok(Some(v1.clone()))
    );

    // A second creation loses, whatever it holds.
    let mut rival = new_endpoint(&account, t0);
    rival.url = "https://rival.example.com/".to_owned();
    assert_eq!(
        store.put_webhook_endpoint(&rival, None).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        store.get_webhook_endpoint(&account).await,
        Ok(Some(v1.clone()))
    );

    // Rotate, filter and disable: every field survives the round trip.
    let mut v2 = v1.clone();
    v2.rotate("sealed-secret-2".to_owned(), t0 + Duration::hours(1));
    v2.events = Some([EventType::PayoutPaid, EventType::CashinConfirmed].into());
    v2.status = EndpointStatus::Disabled {
        reason: "endpoint answered 410 Gone".to_owned(),
        at: t0 + Duration::hours(1),
    };
    v2.updated_at = t0 + Duration::hours(1);
    v2.version = 2;
    assert_eq!(
        store.put_webhook_endpoint(&v2, Some(1)).await,
        Ok(WriteOutcome::Applied)
    );
    let stored = store.get_webhook_endpoint(&account).await.expect("get");
    assert_eq!(stored, Some(v2.clone()));
    assert_eq!(stored.map(|e| e.secrets.len()), Some(2));

    // A writer that read version 1 lost the race.
    let mut stale = v1.clone();
    stale.url = "https://stale.example.com/".to_owned();
    stale.version = 2;
    assert_eq!(
        store.put_webhook_endpoint(&stale, Some(1)).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(store.get_webhook_endpoint(&account).await, Ok(Some(v2)));

    // Another account's endpoint is its own item.
    assert_eq!(store.get_webhook_endpoint(&other).await, Ok(None));
    let theirs = new_endpoint(&other, t0);
    assert_eq!(
        store.put_webhook_endpoint(&theirs, None).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(store.get_webhook_endpoint(&other).await, Ok(Some(theirs)));
}

// ---------------------------------------------------------------------------------------------
// Deliveries

#[tokio::test]
async fn a_delivery_is_created_once_and_read_only_by_its_account() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let other = AccountId::generate();
    let d = delivery(
        &account,
        EventType::PayoutPaid,
        DeliveryStatus::Pending,
        T0_MS,
    );
    assert_eq!(store.get_delivery(&account, &d.id).await, Ok(None));
    assert_eq!(store.create_delivery(&d).await, Ok(WriteOutcome::Applied));
    assert_eq!(
        store.get_delivery(&account, &d.id).await,
        Ok(Some(d.clone()))
    );

    // The same event's delivery again (a duplicate queue message): the first one stays.
    let mut again = d.clone();
    again.created_at = at_ms(T0_MS + 9_000);
    again.status = DeliveryStatus::Failed;
    assert_eq!(
        store.create_delivery(&again).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        store.get_delivery(&account, &d.id).await,
        Ok(Some(d.clone()))
    );

    assert_eq!(store.get_delivery(&other, &d.id).await, Ok(None));
    assert_eq!(store.get_delivery(&account, "dlv_unknown").await, Ok(None));
    assert_eq!(
        store.get_delivery(&account, &"x".repeat(5_000)).await,
        Ok(None)
    );
}

#[tokio::test]
async fn updates_apply_on_the_version_read_and_a_stale_one_writes_nothing_not_even_its_message() {
    let store = fresh_store().await;
    let feed = DynamoStreamFeed::connect(Some(endpoint()), store.table()).await;
    let account = AccountId::generate();
    let d0 = delivery(
        &account,
        EventType::SplitPaid,
        DeliveryStatus::Pending,
        T0_MS,
    );
    assert_eq!(store.create_delivery(&d0).await, Ok(WriteOutcome::Applied));

    // Attempt 1 failed: the delivery and its retry's message, together.
    let (d1, retry) = after_failed_attempt(&d0, T0_MS + 1_000);
    assert_eq!(
        store.update_delivery(&d1, 0, Some(&retry)).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(
        store.get_delivery(&account, &d0.id).await,
        Ok(Some(d1.clone()))
    );

    // A dispatcher that still holds version 0: nothing it writes lands.
    let (stale, stale_retry) = after_failed_attempt(&d0, T0_MS + 2_000);
    let mut stale_retry = stale_retry;
    stale_retry.id = format!("never-{}", stale_retry.id);
    assert_eq!(
        store.update_delivery(&stale, 0, Some(&stale_retry)).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        store.update_delivery(&stale, 0, None).await,
        Ok(WriteOutcome::Conflict)
    );
    // Nor does a delivery claimed for another account, or one that does not exist.
    let mut foreign = d1.clone();
    foreign.account_id = AccountId::generate();
    foreign.version = 2;
    assert_eq!(
        store.update_delivery(&foreign, 1, None).await,
        Ok(WriteOutcome::Conflict)
    );
    let missing = delivery(
        &account,
        EventType::SplitPaid,
        DeliveryStatus::Pending,
        T0_MS,
    );
    assert_eq!(
        store.update_delivery(&missing, 0, Some(&retry)).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(store.get_delivery(&account, &missing.id).await, Ok(None));
    assert_eq!(
        store.get_delivery(&account, &d0.id).await,
        Ok(Some(d1.clone()))
    );

    // Delivered on attempt 2, no message: a plain conditional write.
    let mut d2 = d1.clone();
    d2.log_attempt(DeliveryAttempt {
        number: 2,
        round: 0,
        at: at_ms(T0_MS + 7_000),
        status_code: Some(204),
        latency_ms: 12,
        error: None,
    });
    d2.status = DeliveryStatus::Delivered;
    d2.next_attempt_at = None;
    d2.version = 2;
    assert_eq!(
        store.update_delivery(&d2, 1, None).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(
        store.get_delivery(&account, &d0.id).await,
        Ok(Some(d2.clone()))
    );

    // A later committed write: once its message is out, the stream has been read past the
    // failed ones, and only committed messages came out.
    let (d3, later) = after_failed_attempt(&d2, T0_MS + 8_000);
    assert_eq!(
        store.update_delivery(&d3, 2, Some(&later)).await,
        Ok(WriteOutcome::Applied)
    );
    let wanted = ids(&[retry.clone(), later.clone()]);
    let polled = poll_until(&feed, &wanted).await;
    assert_eq!(ids(&polled), wanted, "only the committed messages");
    assert!(
        polled.contains(&retry) && polled.contains(&later),
        "decoded whole"
    );
    assert_eq!(retry.queue, QueueName::WebhookDeliveries);
    assert!(matches!(
        WebhookMessage::parse(&retry.body).expect("a webhook message"),
        WebhookMessage::Attempt {
            attempt: 2,
            round: 0,
            ..
        }
    ));
}

#[tokio::test]
async fn a_message_that_exists_already_is_kept_and_the_delivery_still_written() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let d0 = delivery(
        &account,
        EventType::PayoutFailed,
        DeliveryStatus::Pending,
        T0_MS,
    );
    assert_eq!(store.create_delivery(&d0).await, Ok(WriteOutcome::Applied));
    let (d1, message) = after_failed_attempt(&d0, T0_MS + 1_000);
    assert_eq!(
        store.update_delivery(&d1, 0, Some(&message)).await,
        Ok(WriteOutcome::Applied)
    );
    // The port creates the message "if absent": the same message with the next version.
    let mut d2 = d1.clone();
    d2.in_flight = None;
    d2.updated_at = at_ms(T0_MS + 2_000);
    d2.version = 2;
    assert_eq!(
        store.update_delivery(&d2, 1, Some(&message)).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(
        store.get_delivery(&account, &d0.id).await,
        Ok(Some(d2.clone()))
    );
    // …but still only on the version read.
    assert_eq!(
        store.update_delivery(&d2, 1, Some(&message)).await,
        Ok(WriteOutcome::Conflict)
    );
}

// ---------------------------------------------------------------------------------------------
// The delivery log

#[tokio::test]
async fn deliveries_are_listed_newest_first_filtered_and_paged_within_one_account() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let other = AccountId::generate();
    let types = [
        EventType::CashinConfirmed,
        EventType::PayoutPaid,
        EventType::SplitFailed,
    ];
    let statuses = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ];
    // 60 deliveries, two per millisecond (ties ordered by id), types and statuses mixed.
    let mine: Vec<Delivery> = (0..60)
        .map(|i| {
            let ms = T0_MS + i64::try_from(i / 2).expect("small");
            delivery(&account, types[i % 3], statuses[(i / 3) % 3], ms)
        })
        .collect();
    let theirs: Vec<Delivery> = (0..7)
        .map(|i| {
            delivery(
                &other,
                EventType::PayoutPaid,
                DeliveryStatus::Failed,
                T0_MS + i,
            )
        })
        .collect();
    create_all(&store, &mine).await;
    create_all(&store, &theirs).await;
    listed_once_indexed(&store, &account, mine.len()).await;
    listed_once_indexed(&store, &other, theirs.len()).await;
    let expected = newest_first(mine.clone());

    for limit in [1, 7, 59, 60, 100] {
        let (all, pages) = walk(&store, &account, query(limit), 100).await;
        assert_eq!(all, expected, "limit {limit}");
        // Unfiltered pages are full until the last one, and the last one says so.
        let (last, full) = pages.split_last().expect("a page");
        assert!(
            full.iter()
                .all(|p| p.deliveries.len() == limit && p.next_cursor.is_some())
        );
        assert_eq!(last.next_cursor, None);
        assert!(
            !last.deliveries.is_empty(),
            "limit {limit}: an empty last page"
        );
    }

    let filtered = |event_type: Option<EventType>, status: Option<DeliveryStatus>| {
        expected
            .iter()
            .filter(|d| event_type.is_none_or(|t| d.event_type == t))
            .filter(|d| status.is_none_or(|s| d.status == s))
            .cloned()
            .collect::<Vec<_>>()
    };
    for (event_type, status) in [
        (Some(EventType::PayoutPaid), None),
        (None, Some(DeliveryStatus::Failed)),
        (
            Some(EventType::SplitFailed),
            Some(DeliveryStatus::Delivered),
        ),
        (Some(EventType::CashoutFailed), None),
    ] {
        let want = filtered(event_type, status);
        for limit in [3, 100] {
            let q = DeliveryQuery {
                event_type,
                status,
                cursor: None,
                limit,
            };
            let (all, _) = walk(&store, &account, q, 100).await;
            assert_eq!(all, want, "{event_type:?} {status:?} limit {limit}");
        }
    }
    assert!(filtered(Some(EventType::CashoutFailed), None).is_empty());

    // The other account sees only its own, and cursors do not cross accounts.
    let (all, _) = walk(&store, &other, query(100), 10).await;
    assert_eq!(all, newest_first(theirs));
    let first = store
        .list_deliveries(&account, &query(5))
        .await
        .expect("list");
    assert_eq!(first.deliveries, expected[..5].to_vec());
    let cursor = first.next_cursor.expect("more follow");
    let mut foreign = query(100);
    foreign.cursor = Some(cursor.clone());
    let nothing = DeliveryPage {
        deliveries: vec![],
        next_cursor: None,
    };
    assert_eq!(
        store.list_deliveries(&other, &foreign).await,
        Ok(nothing.clone())
    );
    // Unparseable cursors: an empty last page, not an error.
    for garbage in ["", "!!!", "ZGx2MXxub3BlfG5vcGU", "c29tZXRoaW5nIGVsc2U"] {
        let mut q = query(10);
        q.cursor = Some(garbage.to_owned());
        assert_eq!(
            store.list_deliveries(&account, &q).await,
            Ok(nothing.clone()),
            "{garbage:?}"
        );
    }
    // The cursor continues exactly after the last delivery shown, filters or not.
    let mut next = query(5);
    next.cursor = Some(cursor);
    let second = store.list_deliveries(&account, &next).await.expect("list");
    assert_eq!(second.deliveries, expected[5..10].to_vec());
    next.status = Some(DeliveryStatus::Failed);
    let second_failed = store.list_deliveries(&account, &next).await.expect("list");
    let want: Vec<Delivery> = expected[5..]
        .iter()
        .filter(|d| d.status == DeliveryStatus::Failed)
        .take(5)
        .cloned()
        .collect();
    assert_eq!(second_failed.deliveries, want);
}

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

#[tokio::test]
async fn get_event_reads_only_the_accounts_own_events() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let other = AccountId::generate();
    let (_, write) = confirmation_with_event(&store, &account).await;
    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Applied)
    );
    let event = write.events[0].clone();

    assert_eq!(
        store.get_event(&account, &event.id).await,
        Ok(Some(event.clone()))
    );
    assert_eq!(store.get_event(&other, &event.id).await, Ok(None));
    assert_eq!(store.get_event(&account, "evt_unknown").await, Ok(None));
    assert_eq!(
        store.get_event(&account, &"e".repeat(5_000)).await,
        Ok(None)
    );
    assert_eq!(store.get_event(&account, "").await, Ok(None));
}

#[tokio::test]
async fn a_confirmation_records_its_event_once_and_the_stream_relays_it_as_a_webhook() {
    let store = fresh_store().await;
    let feed = DynamoStreamFeed::connect(Some(endpoint()), store.table()).await;
    let account = AccountId::generate();
    let (c, write) = confirmation_with_event(&store, &account).await;
    let event = write.events[0].clone();

    // Two copies of one event cannot be written: nothing is.
    let mut doubled = write.clone();
    doubled.events.push(event.clone());
    assert_eq!(
        store.confirm_charge(&doubled).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        store
            .get_charge(&c.transaction_id)
            .await
            .expect("get")
            .map(|c| c.status),
        Some(ChargeStatus::Pending)
    );
    assert_eq!(store.get_event(&account, &event.id).await, Ok(None));

    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Applied)
    );
    let listed = eventually(
        || async { store.list_events(&account, None, 10).await.expect("events") },
        |events: &Vec<AccountEvent>| !events.is_empty(),
    )
    .await;
    assert_eq!(listed, vec![event.clone()]);

    // A retried confirmation (a duplicate provider webhook) records nothing twice.
    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Conflict)
    );
    let mut later = write.clone();
    later.confirmed_at = at_ms(T0_MS + 60_000);
    later.events[0].occurred_at = later.confirmed_at;
    assert_eq!(
        store.confirm_charge(&later).await,
        Ok(WriteOutcome::Conflict)
    );
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    assert_eq!(
        store.list_events(&account, None, 10).await,
        Ok(vec![event.clone()])
    );
    assert_eq!(
        store.get_event(&account, &event.id).await,
        Ok(Some(event.clone()))
    );

    // The event's insert is its webhook message, next to the confirmation's own message.
    let webhook = WebhookMessage::for_event(&event);
    let wanted = ids(&[webhook.clone(), write.outbox[0].clone()]);
    let polled = poll_until(&feed, &wanted).await;
    assert_eq!(ids(&polled), wanted);
    assert!(polled.contains(&webhook));
    assert_eq!(
        WebhookMessage::parse(&webhook.body).expect("a webhook message"),
        WebhookMessage::Event {
            event_id: event.id.clone(),
            account_id: account.clone(),
        }
    );
}
