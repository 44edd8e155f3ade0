//! `EventLog` and `OutboxFeed`: an account's recorded events are listed oldest first (by
//! `occurred_at`, then id), paged by an exclusive event-id cursor, never another account's; the
//! outbox hands out every committed message, again until it is acked.

use chrono::{DateTime, Duration, Utc};
use pixgw_api::store::DynStore;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::messaging::events::{AccountEvent, EventType};
use pixgw_domain::messaging::outbox::OutboxMessage;
use pixgw_domain::pix::ids::AccountId;

use super::{
    PayoutEnd, Subject, base_time, booked_charge_of, confirm_outbox, confirmed_charge, eventually,
    ids_of, ms, settle_write,
};

/// `n` events of `account` from `at`, three per millisecond (so ties are ordered by id).
fn many_events(account: &AccountId, n: usize, at: DateTime<Utc>) -> Vec<AccountEvent> {
    (0..n)
        .map(|i| {
            AccountEvent::new(
                account,
                EventType::SplitPaid,
                &format!("subject-{account}-{i}"),
                at + ms(i64::try_from(i / 3).expect("small")),
                serde_json::json!({ "i": i }),
            )
        })
        .collect()
}

/// Records `events` with the settlement of a fresh immediate payout of `account` (booked at
/// `at`); returns every event that recorded, the charge's confirmation included.
async fn record(
    store: &DynStore,
    account: &AccountId,
    events: &[AccountEvent],
    at: DateTime<Utc>,
) -> Vec<AccountEvent> {
    let booked = booked_charge_of(store, account, at).await;
    let (payout, split) = booked.immediate();
    let mut write = settle_write(
        &payout,
        &[split],
        PayoutEnd::Paid,
        at + Duration::seconds(5),
    );
    write.events = events.to_vec();
    assert_eq!(store.settle_payout(&write).await, Ok(WriteOutcome::Applied));
    booked
        .confirmed
        .confirm
        .events
        .iter()
        .chain(events)
        .cloned()
        .collect()
}

fn oldest_first(mut events: Vec<AccountEvent>) -> Vec<AccountEvent> {
    events.sort_by(|a, b| (a.occurred_at, &a.id).cmp(&(b.occurred_at, &b.id)));
    events
}

/// Every page of the account's events, `limit` at a time, each after the last one shown.
async fn all_pages(store: &DynStore, account: &AccountId, limit: usize) -> Vec<AccountEvent> {
    let mut out: Vec<AccountEvent> = Vec::new();
    for _ in 0..1_000 {
        let after = out.last().map(|e| e.id.clone());
        let page = store
            .list_events(account, after.as_deref(), limit)
            .await
            .expect("events");
        assert!(page.len() <= limit);
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
    panic!("the event listing does not end");
}

pub async fn events_are_listed_oldest_first_and_paged_by_id(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let other = AccountId::generate();
    let t = base_time();
    // Written out of order, in two writes, so the log is not one transaction's worth.
    let mine = many_events(&account, 60, t);
    let mut recorded = record(store, &account, &mine[30..], t).await;
    recorded.extend(record(store, &account, &mine[..30], t + ms(1)).await);
    let theirs = record(store, &other, &many_events(&other, 5, t), t).await;
    let expected = oldest_first(recorded);
    let total = expected.len();

    let listed = eventually(
        || async {
            store
                .list_events(&account, None, 100)
                .await
                .expect("events")
        },
        |events| events.len() >= total,
    )
    .await;
    assert_eq!(listed, expected, "whole events, as written, oldest first");
    for limit in [1, 5, 32, total - 1, total, 100] {
        assert_eq!(all_pages(store, &account, limit).await, expected, "{limit}");
    }
    assert_eq!(
        store.list_events(&account, Some(&expected[10].id), 5).await,
        Ok(expected[11..16].to_vec())
    );
    assert_eq!(
        store
            .list_events(&account, Some(&expected[total - 1].id), 5)
            .await,
        Ok(Vec::new())
    );
    assert_eq!(store.list_events(&account, None, 0).await, Ok(Vec::new()));

    // Another account sees only its own; an id that is not one of this account's events has
    // no position here.
    let listed_theirs = eventually(
        || async { store.list_events(&other, None, 100).await.expect("events") },
        |events| events.len() >= theirs.len(),
    )
    .await;
    assert_eq!(listed_theirs, oldest_first(theirs));
    for cursor in [
        "evt_unknown".to_owned(),
        listed_theirs[0].id.clone(),
        "x".repeat(5_000),
    ] {
        assert_eq!(
            store.list_events(&account, Some(&cursor), 5).await,
            Ok(Vec::new()),
            "after {:.20}",
            cursor
        );
    }
    assert_eq!(
        store.list_events(&AccountId::generate(), None, 10).await,
        Ok(Vec::new())
    );
}

/// Committed messages come out, whole; a polled message comes out again until it is acked
/// (acking an unknown or an acked id is harmless); `max` bounds a poll.
pub async fn the_outbox_feed_returns_committed_messages_until_acked(subject: Subject) {
    let store = &subject.store;
    let first = confirmed_charge(store).await;
    let second = confirmed_charge(store).await;
    let written: Vec<OutboxMessage> = confirm_outbox(&first.confirm)
        .into_iter()
        .chain(confirm_outbox(&second.confirm))
        .collect();
    let all = ids_of(&written);
    assert_eq!(
        all.len(),
        4,
        "a pipeline message and a webhook message per confirmation"
    );

    let polled = subject.outbox_with(&all).await;
    assert_eq!(
        ids_of(&polled),
        all,
        "only outbox messages, no charges or movements"
    );
    for message in &written {
        assert!(polled.contains(message), "{} whole", message.id);
    }
    let again = subject.outbox_messages().await;
    assert_eq!(
        (again.len(), ids_of(&again)),
        (4, all.clone()),
        "polled, not acked: again, once each"
    );
    let feed = subject.outbox.as_ref().expect("an outbox feed");
    assert_eq!(
        feed.poll_outbox(1).await.map(|m| m.len()),
        Ok(1),
        "max bounds a poll"
    );

    let acked = written[0].id.clone();
    feed.ack_outbox(&[acked.clone(), "unknown".to_owned()])
        .await
        .expect("ack");
    let rest: std::collections::BTreeSet<String> =
        all.iter().filter(|id| **id != acked).cloned().collect();
    subject.assert_outbox(rest.clone()).await;
    feed.ack_outbox(std::slice::from_ref(&acked))
        .await
        .expect("acking twice is harmless");
    subject.assert_outbox(rest.clone()).await;
    let rest: Vec<String> = rest.into_iter().collect();
    feed.ack_outbox(&rest).await.expect("ack");
    subject.assert_outbox(Default::default()).await;
}
