//! `WebhookStore`: the endpoint's optimistic lock; deliveries created once and replaced only on
//! the version read, together with their next attempt's message (never when the write is
//! refused); the delivery log newest first, filtered and paged within one account; events read
//! by id, never another account's.

use chrono::{DateTime, Duration, Utc};
use pixgw_api::store::DynStore;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::messaging::events::EventType;
use pixgw_domain::messaging::outbox::OutboxMessage;
use pixgw_domain::messaging::queue::QueueName;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::webhooks::{
    Delivery, DeliveryAttempt, DeliveryPage, DeliveryQuery, DeliveryStatus, EndpointStatus,
    SealedSecret, WebhookEndpoint, WebhookMessage,
};

use super::{Subject, base_time, confirmed_charge, eventually, ids_of, ms};

// =============================================================================================
// Builders

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

/// A delivery of `account` for a fresh event, created at `at`.
fn delivery(
    account: &AccountId,
    event_type: EventType,
    status: DeliveryStatus,
    at: DateTime<Utc>,
) -> Delivery {
    let event_id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    let mut d = Delivery::new(account, &event_id, event_type, at);
    d.status = status;
    if status != DeliveryStatus::Pending {
        d.next_attempt_at = None;
    }
    d
}

/// `d` after a failed attempt at `at`, version bumped, with the message of the retry.
fn after_failed_attempt(d: &Delivery, at: DateTime<Utc>) -> (Delivery, OutboxMessage) {
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

fn nothing() -> DeliveryPage {
    DeliveryPage {
        deliveries: Vec::new(),
        next_cursor: None,
    }
}

/// Newest first: (created_at, id) descending.
fn newest_first(mut deliveries: Vec<Delivery>) -> Vec<Delivery> {
    deliveries.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    deliveries
}

async fn create_all(store: &DynStore, deliveries: &[Delivery]) {
    for d in deliveries {
        assert_eq!(
            store.create_delivery(d).await,
            Ok(WriteOutcome::Applied),
            "create {}",
            d.id
        );
    }
}

/// Every page of a listing, following cursors (at most `max_calls` calls), and the pages.
async fn walk(
    store: &DynStore,
    account: &AccountId,
    mut q: DeliveryQuery,
    max_calls: usize,
) -> (Vec<Delivery>, Vec<DeliveryPage>) {
    let mut all = Vec::new();
    let mut pages = Vec::new();
    for _ in 0..max_calls {
        let page = store.list_deliveries(account, &q).await.expect("list");
        assert!(
            page.deliveries.len() <= q.limit.max(1),
            "page over its limit"
        );
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

/// Waits until the delivery log (an index on DynamoDB) shows `n` deliveries of the account.
async fn listed_once_indexed(store: &DynStore, account: &AccountId, n: usize) {
    let listed = eventually(
        || async { walk(store, account, query(100), 100).await.0.len() },
        |count| *count >= n,
    )
    .await;
    assert_eq!(listed, n, "the log never showed every delivery");
}

/// Waits until the log files the account's deliveries of `status` as exactly `expected`.
async fn assert_listed_with_status(
    store: &DynStore,
    account: &AccountId,
    status: DeliveryStatus,
    expected: Vec<Delivery>,
) {
    let q = DeliveryQuery {
        status: Some(status),
        ..query(100)
    };
    let listed = eventually(
        || async { walk(store, account, q.clone(), 100).await.0 },
        |listed| *listed == expected,
    )
    .await;
    assert_eq!(listed, expected, "{status:?}");
}

// =============================================================================================
// The endpoint

pub async fn the_endpoint_is_created_once_and_replaced_only_on_the_version_read(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let other = AccountId::generate();
    let t0 = base_time();
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

    // A second creation loses, whatever it holds; so does a replace naming another version.
    let mut rival = new_endpoint(&account, t0);
    rival.url = "https://rival.example.com/".to_owned();
    for expected in [None, Some(0), Some(2)] {
        assert_eq!(
            store.put_webhook_endpoint(&rival, expected).await,
            Ok(WriteOutcome::Conflict),
            "{expected:?}"
        );
    }
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

    // A writer that read version 1 lost the race; the same replace again is stale too.
    let mut stale = v1.clone();
    stale.url = "https://stale.example.com/".to_owned();
    stale.version = 2;
    assert_eq!(
        store.put_webhook_endpoint(&stale, Some(1)).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        store.put_webhook_endpoint(&v2, Some(1)).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        store.get_webhook_endpoint(&account).await,
        Ok(Some(v2.clone()))
    );

    // One endpoint per account: another account's is its own.
    assert_eq!(store.get_webhook_endpoint(&other).await, Ok(None));
    let theirs = new_endpoint(&other, t0);
    assert_eq!(
        store.put_webhook_endpoint(&theirs, None).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(store.get_webhook_endpoint(&other).await, Ok(Some(theirs)));
    assert_eq!(store.get_webhook_endpoint(&account).await, Ok(Some(v2)));
}

// =============================================================================================
// Deliveries

pub async fn a_delivery_is_created_once_and_read_only_by_its_account(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let other = AccountId::generate();
    let t0 = base_time();
    let d = delivery(&account, EventType::PayoutPaid, DeliveryStatus::Pending, t0);
    assert_eq!(store.get_delivery(&account, &d.id).await, Ok(None));
    assert_eq!(store.create_delivery(&d).await, Ok(WriteOutcome::Applied));
    assert_eq!(
        store.get_delivery(&account, &d.id).await,
        Ok(Some(d.clone()))
    );

    // The same event's delivery again (a duplicate queue message): the first one stays.
    let mut again = d.clone();
    again.created_at = t0 + Duration::seconds(9);
    again.status = DeliveryStatus::Failed;
    assert_eq!(
        store.create_delivery(&again).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        store.get_delivery(&account, &d.id).await,
        Ok(Some(d.clone()))
    );
    listed_once_indexed(store, &account, 1).await;
    assert_eq!(
        store.list_deliveries(&account, &query(10)).await,
        Ok(DeliveryPage {
            deliveries: vec![d.clone()],
            next_cursor: None,
        }),
        "listed once"
    );

    assert_eq!(store.get_delivery(&other, &d.id).await, Ok(None));
    assert_eq!(store.get_delivery(&account, "dlv_unknown").await, Ok(None));
    assert_eq!(
        store.get_delivery(&account, &"x".repeat(5_000)).await,
        Ok(None)
    );
    assert_eq!(
        store.list_deliveries(&other, &query(10)).await,
        Ok(nothing())
    );
}

pub async fn updates_apply_on_the_version_read_and_a_stale_one_writes_nothing_not_even_its_message(
    subject: Subject,
) {
    let store = &subject.store;
    let account = AccountId::generate();
    let t0 = base_time();
    let d0 = delivery(&account, EventType::SplitPaid, DeliveryStatus::Pending, t0);
    assert_eq!(store.create_delivery(&d0).await, Ok(WriteOutcome::Applied));

    // Attempt 1 failed: the delivery and its retry's message, together.
    let (d1, retry) = after_failed_attempt(&d0, t0 + Duration::seconds(1));
    assert_eq!(
        store.update_delivery(&d1, 0, Some(&retry)).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(
        store.get_delivery(&account, &d0.id).await,
        Ok(Some(d1.clone()))
    );

    // A dispatcher that still holds version 0 (or one from the future): nothing it writes
    // lands, its message included.
    let (stale, mut stale_retry) = after_failed_attempt(&d0, t0 + Duration::seconds(2));
    stale_retry.id = format!("never-{}", stale_retry.id);
    for expected in [0, 5] {
        assert_eq!(
            store
                .update_delivery(&stale, expected, Some(&stale_retry))
                .await,
            Ok(WriteOutcome::Conflict),
            "version {expected}"
        );
    }
    assert_eq!(
        store.update_delivery(&stale, 0, None).await,
        Ok(WriteOutcome::Conflict)
    );
    // Nor does a write naming this delivery for another account, or one that does not exist.
    let other = AccountId::generate();
    let mut foreign = d1.clone();
    foreign.account_id = other.clone();
    foreign.version = 2;
    assert_eq!(
        store.update_delivery(&foreign, 1, Some(&stale_retry)).await,
        Ok(WriteOutcome::Conflict)
    );
    let missing = delivery(&account, EventType::SplitPaid, DeliveryStatus::Pending, t0);
    assert_eq!(
        store.update_delivery(&missing, 0, Some(&stale_retry)).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(store.get_delivery(&account, &missing.id).await, Ok(None));
    assert_eq!(store.get_delivery(&other, &d0.id).await, Ok(None));
    assert_eq!(
        store.list_deliveries(&other, &query(10)).await,
        Ok(nothing())
    );
    assert_eq!(
        store.get_delivery(&account, &d0.id).await,
        Ok(Some(d1.clone()))
    );

    // Delivered on attempt 2, no message: a plain conditional write; the log follows.
    let mut d2 = d1.clone();
    d2.log_attempt(DeliveryAttempt {
        number: 2,
        round: 0,
        at: t0 + Duration::seconds(7),
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
    assert_listed_with_status(store, &account, DeliveryStatus::Delivered, vec![d2.clone()]).await;
    assert_listed_with_status(store, &account, DeliveryStatus::Pending, Vec::new()).await;

    // A later committed write. Only the committed messages come out, whole.
    let (d3, later) = after_failed_attempt(&d2, t0 + Duration::seconds(8));
    assert_eq!(
        store.update_delivery(&d3, 2, Some(&later)).await,
        Ok(WriteOutcome::Applied)
    );
    let wanted = ids_of([&retry, &later]);
    subject.assert_outbox(wanted.clone()).await;
    let waiting = subject.outbox_messages().await;
    assert!(
        waiting.contains(&retry) && waiting.contains(&later),
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

/// The port creates an update's message "if absent": naming a message that is still waiting
/// keeps that message as it is and still writes the delivery (on its version only); an update
/// without a message adds none.
pub async fn a_message_that_exists_already_is_kept_and_the_delivery_still_written(
    subject: Subject,
) {
    let store = &subject.store;
    let account = AccountId::generate();
    let t0 = base_time();
    let d0 = delivery(
        &account,
        EventType::PayoutFailed,
        DeliveryStatus::Pending,
        t0,
    );
    assert_eq!(store.create_delivery(&d0).await, Ok(WriteOutcome::Applied));
    let (d1, message) = after_failed_attempt(&d0, t0 + Duration::seconds(1));
    assert_eq!(
        store.update_delivery(&d1, 0, Some(&message)).await,
        Ok(WriteOutcome::Applied)
    );

    let mut d2 = d1.clone();
    d2.in_flight = None;
    d2.updated_at = t0 + Duration::seconds(2);
    d2.version = 2;
    let repeat = OutboxMessage {
        created_at: t0 + Duration::seconds(30),
        ..message.clone()
    };
    assert_eq!(
        store.update_delivery(&d2, 1, Some(&repeat)).await,
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
    let waiting = subject.outbox_with(&ids_of([&message])).await;
    assert_eq!(
        waiting,
        vec![message.clone()],
        "the first message, as it was written"
    );

    let d3 = Delivery {
        version: 3,
        ..d2.clone()
    };
    assert_eq!(
        store.update_delivery(&d3, 2, None).await,
        Ok(WriteOutcome::Applied)
    );
    subject.assert_outbox(ids_of([&message])).await;
    assert_eq!(subject.outbox_messages().await, vec![message]);
}

// =============================================================================================
// The delivery log

pub async fn deliveries_are_listed_newest_first_filtered_and_paged_within_one_account(
    subject: Subject,
) {
    let store = &subject.store;
    let account = AccountId::generate();
    let other = AccountId::generate();
    let t0 = base_time();
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
    // 60 deliveries, two per millisecond (ties ordered by id), types and statuses mixed,
    // created out of order.
    let mut mine: Vec<Delivery> = (0..60)
        .map(|i| {
            let at = t0 + ms(i64::try_from(i / 2).expect("small"));
            delivery(&account, types[i % 3], statuses[(i / 3) % 3], at)
        })
        .collect();
    mine.reverse();
    let theirs: Vec<Delivery> = (0..7)
        .map(|i| {
            delivery(
                &other,
                EventType::PayoutPaid,
                DeliveryStatus::Failed,
                t0 + ms(i),
            )
        })
        .collect();
    create_all(store, &mine[..30]).await;
    create_all(store, &theirs).await;
    create_all(store, &mine[30..]).await;
    listed_once_indexed(store, &account, mine.len()).await;
    listed_once_indexed(store, &other, theirs.len()).await;
    let expected = newest_first(mine.clone());

    for limit in [1, 7, 59, 60, 100] {
        let (all, pages) = walk(store, &account, query(limit), 100).await;
        assert_eq!(all, expected, "limit {limit}");
        // Unfiltered pages are full until the last one, and the last one says so.
        let (last, full) = pages.split_last().expect("a page");
        assert!(
            full.iter()
                .all(|p| p.deliveries.len() == limit && p.next_cursor.is_some()),
            "limit {limit}"
        );
        assert_eq!(last.next_cursor, None);
        assert!(
            !last.deliveries.is_empty(),
            "limit {limit}: an empty last page"
        );
    }
    // The limit is clamped into 1..=100.
    let zero = store
        .list_deliveries(&account, &query(0))
        .await
        .expect("list");
    assert_eq!(zero.deliveries, expected[..1].to_vec());

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
        for limit in [1, 3, 100] {
            let q = DeliveryQuery {
                event_type,
                status,
                cursor: None,
                limit,
            };
            let (all, _) = walk(store, &account, q, 100).await;
            assert_eq!(all, want, "{event_type:?} {status:?} limit {limit}");
        }
    }
    assert!(filtered(Some(EventType::CashoutFailed), None).is_empty());

    // The other account sees only its own, and cursors do not cross accounts.
    let (all, _) = walk(store, &other, query(100), 10).await;
    assert_eq!(all, newest_first(theirs));
    let first = store
        .list_deliveries(&account, &query(5))
        .await
        .expect("list");
    assert_eq!(first.deliveries, expected[..5].to_vec());
    let cursor = first.next_cursor.expect("more follow");
    let (_, their_pages) = walk(store, &other, query(1), 10).await;
    let their_cursor = their_pages[0].next_cursor.clone().expect("more follow");
    for foreign in [(&other, cursor.clone()), (&account, their_cursor)] {
        let q = DeliveryQuery {
            cursor: Some(foreign.1.clone()),
            ..query(100)
        };
        assert_eq!(store.list_deliveries(foreign.0, &q).await, Ok(nothing()));
    }
    // Unparseable cursors: an empty last page, not an error.
    for garbage in [
        "",
        "!!!",
        "garbage",
        "ZGx2MXxub3BlfG5vcGU",
        "c29tZXRoaW5nIGVsc2U",
    ] {
        let q = DeliveryQuery {
            cursor: Some(garbage.to_owned()),
            ..query(10)
        };
        assert_eq!(
            store.list_deliveries(&account, &q).await,
            Ok(nothing()),
            "{garbage:?}"
        );
    }
    // The cursor continues exactly after the last delivery shown, filters or not.
    let mut next = query(5);
    next.cursor = Some(cursor);
    let second = store.list_deliveries(&account, &next).await.expect("list");
    assert_eq!(second.deliveries, expected[5..10].to_vec());
    next.status = Some(DeliveryStatus::Failed);
    let (second_failed, _) = walk(store, &account, next, 100).await;
    let want: Vec<Delivery> = expected[5..]
        .iter()
        .filter(|d| d.status == DeliveryStatus::Failed)
        .cloned()
        .collect();
    assert_eq!(second_failed, want);
}

// =============================================================================================
// Events

pub async fn get_event_reads_only_the_accounts_own_events(subject: Subject) {
    let store = &subject.store;
    let confirmed = confirmed_charge(store).await;
    let account = &confirmed.charge.account_id;
    let event = confirmed.confirm.events[0].clone();

    assert_eq!(
        store.get_event(account, &event.id).await,
        Ok(Some(event.clone()))
    );
    assert_eq!(
        store.get_event(&AccountId::generate(), &event.id).await,
        Ok(None)
    );
    for unknown in ["evt_unknown".to_owned(), "e".repeat(5_000), String::new()] {
        assert_eq!(
            store.get_event(account, &unknown).await,
            Ok(None),
            "{:.20}",
            unknown
        );
    }
}
