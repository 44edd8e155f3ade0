//! `PayoutStore`: a payout is settled once, PAID or FAILED, with its inline splits, its
//! movement, its events (each also a webhook message) and its outbox messages in one write;
//! a scheduled payout's splits are then settled chunk by chunk under the payout's countdown;
//! payouts are listed newest first. The payout executor over the store (scheduler, sandbox PIX
//! network, retries window after window) closes the module.
//!
//! Payouts are found through their splits (strongly consistent reads), never through an index,
//! so the execution cases mean the same on DynamoDB as on the embedded store.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use pixgw_api::store::DynStore;
use pixgw_domain::charge::Charge;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::flows::execute_payout::{ExecutionResult, PayoutExecutor};
use pixgw_domain::flows::run_payout_windows::{PayoutScheduler, SchedulerConfig};
use pixgw_domain::flows::settle::{FinalOutcome, settle_chunk, settle_payout};
use pixgw_domain::ledger::{Balance, Bucket, MovementKind};
use pixgw_domain::messaging::events::{AccountEvent, EventType};
use pixgw_domain::messaging::outbox::OutboxMessage;
use pixgw_domain::payout::ports::{PayoutCursor, PayoutPage, PayoutQuery, SettlePayout};
use pixgw_domain::payout::runs::{AttachSplits, PayoutHeader, SettleSplits};
use pixgw_domain::payout::{Payout, PayoutId, PayoutState, SplitRef};
use pixgw_domain::pix::clock::Clock;
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::{EndToEndId, EndToEndKind, Ispb};
use pixgw_domain::provider::directory::ProviderDirectory;
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use pixgw_domain::webhooks::WebhookMessage;
use pixgw_providers::sandbox::SandboxProvider;

use super::{
    Booked, PayoutEnd, Subject, account_due_at, assert_ledger, assert_unchanged, balance,
    balance_of, base_time, book, book_write, booked_charge, booked_charge_of, charge_for,
    confirm_outbox, confirmed_charge, eventually, ids_of, merchant, movements, ms, nine_am,
    settle_write, snapshot, stored_splits, transfer,
};
use crate::harness::ManualClock;

// =============================================================================================
// Settling an immediate payout

/// Books a charge, settles its immediate payout with `end`, checks what every settlement
/// leaves and that a repeat (either way) is a conflict; returns the booking and the settlement.
async fn settle_immediate(subject: &Subject, end: PayoutEnd) -> (Booked, SettlePayout) {
    let store = &subject.store;
    let booked = booked_charge(store).await;
    let charge = &booked.confirmed.charge;
    let (payout, split) = booked.immediate();
    let at = booked.book.movement.created_at + Duration::seconds(1);
    let settle = settle_write(&payout, std::slice::from_ref(&split), end, at);

    assert_eq!(
        store.settle_payout(&settle).await,
        Ok(WriteOutcome::Applied)
    );

    assert_eq!(
        store.get_payout(&payout.id).await,
        Ok(Some(settle.payout.clone()))
    );
    let splits = store
        .get_splits(&charge.transaction_id)
        .await
        .expect("splits");
    assert_eq!(
        splits,
        vec![settle.splits[0].clone(), booked.book.splits[1].clone()],
        "only the paid split changes"
    );
    assert_ledger(
        store,
        &charge.account_id,
        &[
            &booked.confirmed.confirm.movement,
            &booked.book.movement,
            settle
                .movement
                .as_ref()
                .expect("a settled payout moves money"),
        ],
    )
    .await;
    let account = &charge.account_id;
    let events = eventually(
        || async move { store.list_events(account, None, 100).await.expect("events") },
        |e| e.len() > 1,
    )
    .await;
    let expected: Vec<AccountEvent> = booked
        .confirmed
        .confirm
        .events
        .iter()
        .chain(&settle.events)
        .cloned()
        .collect();
    assert_eq!(
        events, expected,
        "the confirmation and the settlement record their events"
    );

    let before = snapshot(subject, charge, 3).await;
    assert_eq!(
        store.settle_payout(&settle).await,
        Ok(WriteOutcome::Conflict),
        "repeat"
    );
    let other_end = match end {
        PayoutEnd::Paid => PayoutEnd::Failed,
        PayoutEnd::Failed => PayoutEnd::Paid,
    };
    let flip = settle_write(&payout, std::slice::from_ref(&split), other_end, at);
    assert_eq!(
        store.settle_payout(&flip).await,
        Ok(WriteOutcome::Conflict),
        "settled the other way"
    );
    assert_unchanged(
        &before,
        &snapshot(subject, charge, 3).await,
        "repeated settlement",
    );
    // Every recorded event is also a webhook-deliveries message.
    let event_messages: Vec<OutboxMessage> = booked
        .confirmed
        .confirm
        .events
        .iter()
        .chain(&settle.events)
        .map(WebhookMessage::for_event)
        .collect();
    subject
        .assert_outbox(ids_of(
            booked
                .confirmed
                .confirm
                .outbox
                .iter()
                .chain(&booked.book.outbox)
                .chain(&settle.outbox)
                .chain(&event_messages),
        ))
        .await;
    assert_eq!(
        store.get_payout(&payout.id).await,
        Ok(Some(settle.payout.clone()))
    );
    (booked, settle)
}

pub async fn settle_paid_pays_out_the_reserve(subject: Subject) {
    let (booked, settle) = settle_immediate(&subject, PayoutEnd::Paid).await;
    assert_eq!(settle.splits[0].state, SplitState::Paid);
    // 140.00 left for the recipient; 10.00 stays reserved for the scheduled split.
    let account = &booked.confirmed.charge.account_id;
    assert_eq!(
        balance(&subject.store, account).await,
        balance_of(0, 5_000, 1_000)
    );
}

pub async fn settle_failed_returns_the_reserve_to_available(subject: Subject) {
    let (booked, settle) = settle_immediate(&subject, PayoutEnd::Failed).await;
    assert_eq!(settle.splits[0].state, SplitState::Failed);
    let account = &booked.confirmed.charge.account_id;
    assert_eq!(
        balance(&subject.store, account).await,
        balance_of(0, 19_000, 1_000)
    );
}

pub async fn settle_with_a_split_not_in_processing_writes_nothing(subject: Subject) {
    let store = &subject.store;
    // Booked with the scheduled split naming the immediate payout, so only its state is wrong.
    let confirmed = confirmed_charge(store).await;
    let mut book = book_write(
        &confirmed.charge,
        confirmed.confirm.confirmed_at + Duration::seconds(1),
    );
    book.splits[1].payout_id = Some(book.payouts[0].id.clone());
    assert_eq!(store.book_splits(&book).await, Ok(WriteOutcome::Applied));
    let booked = Booked { confirmed, book };
    let charge = &booked.confirmed.charge;
    let (payout, split) = booked.immediate();
    let scheduled = booked.book.splits[1].clone();
    let at = booked.book.movement.created_at + Duration::seconds(1);
    let before = snapshot(&subject, charge, 2).await;

    // A SCHEDULED split of this payout.
    let with_scheduled = settle_write(
        &payout,
        &[split.clone(), scheduled.clone()],
        PayoutEnd::Paid,
        at,
    );
    assert_eq!(
        store.settle_payout(&with_scheduled).await,
        Ok(WriteOutcome::Conflict)
    );
    // A PROCESSING split of another payout.
    let other = booked_charge(store).await;
    let (_, foreign) = other.immediate();
    let with_foreign = settle_write(
        &payout,
        &[split.clone(), foreign.clone()],
        PayoutEnd::Paid,
        at,
    );
    assert_eq!(
        store.settle_payout(&with_foreign).await,
        Ok(WriteOutcome::Conflict)
    );
    // Everything in order, but under a movement id already booked.
    let reused = SettlePayout {
        movement: Some(booked.book.movement.clone()),
        ..settle_write(&payout, std::slice::from_ref(&split), PayoutEnd::Paid, at)
    };
    assert_eq!(
        store.settle_payout(&reused).await,
        Ok(WriteOutcome::Conflict)
    );
    // A payout that does not exist.
    let ghost = Payout {
        id: PayoutId::generate(),
        ..payout.clone()
    };
    assert_eq!(
        store
            .settle_payout(&settle_write(&ghost, &[], PayoutEnd::Paid, at))
            .await,
        Ok(WriteOutcome::Conflict)
    );

    let after = snapshot(&subject, charge, 2).await;
    assert_unchanged(&before, &after, "settlement with a split not in PROCESSING");
    assert_eq!(store.get_payout(&payout.id).await, Ok(Some(payout.clone())));
    assert_eq!(
        store
            .get_splits(&other.confirmed.charge.transaction_id)
            .await,
        Ok(other.book.splits.clone())
    );
    let booked_messages: Vec<OutboxMessage> = [&booked, &other]
        .into_iter()
        .flat_map(|b| {
            confirm_outbox(&b.confirmed.confirm)
                .into_iter()
                .chain(b.book.outbox.iter().cloned())
        })
        .collect();
    subject.assert_outbox(ids_of(&booked_messages)).await;
}

// =============================================================================================
// A settlement's conditions, events and messages

/// Two immediate payouts of one account; the first settled PAID with the executor's write.
/// A write settling the second that carries the first's event, books the first's movement,
/// or names its split twice is refused and writes nothing; the clean one applies.
pub async fn a_settlement_whose_movement_or_event_exists_writes_nothing(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let first = booked_charge_of(store, &account, base_time()).await;
    let second = booked_charge_of(store, &account, base_time() + ms(1)).await;
    let at = second.book.movement.created_at + Duration::seconds(1);
    let first_write =
        executor_settlement(store, &first.book.payouts[0], PayoutState::Paid, at).await;
    assert_eq!(
        store.settle_payout(&first_write).await,
        Ok(WriteOutcome::Applied)
    );
    let (payout, _) = second.immediate();
    let write = executor_settlement(store, &payout, PayoutState::Failed, at + ms(1)).await;
    let refused = [
        (
            "an event that exists",
            SettlePayout {
                events: [write.events.clone(), first_write.events[..1].to_vec()].concat(),
                ..write.clone()
            },
        ),
        (
            "a movement that exists",
            SettlePayout {
                movement: first_write.movement.clone(),
                ..write.clone()
            },
        ),
        (
            "a split twice",
            SettlePayout {
                splits: [write.splits.clone(), write.splits.clone()].concat(),
                ..write.clone()
            },
        ),
    ];
    // Two confirmations, two bookings and the first payout's settlement.
    let before = snapshot(&subject, &second.confirmed.charge, 5).await;
    let payout_before = store.get_payout(&payout.id).await;
    let own_movement = write
        .movement
        .as_ref()
        .expect("a failed immediate payout moves money")
        .id
        .clone();
    for (what, refused_write) in refused {
        assert_eq!(
            store.settle_payout(&refused_write).await,
            Ok(WriteOutcome::Conflict),
            "{what}"
        );
        assert_unchanged(
            &before,
            &snapshot(&subject, &second.confirmed.charge, 5).await,
            what,
        );
        assert_eq!(store.get_payout(&payout.id).await, payout_before, "{what}");
        assert_eq!(
            store.movement_exists(&own_movement).await,
            Ok(false),
            "{what}"
        );
    }
    assert_eq!(store.settle_payout(&write).await, Ok(WriteOutcome::Applied));
    let splits = store
        .get_splits(&second.confirmed.charge.transaction_id)
        .await
        .expect("splits");
    assert_eq!(splits[0].state, SplitState::Failed);
    // An immediate payout's failure returns its money to available at once: what stays
    // reserved is the two scheduled splits' R$ 10.00 each.
    assert_eq!(
        balance(store, &account).await,
        balance_of(0, 2 * 5_000 + 14_000, 2 * 1_000)
    );
}

/// Every event a settlement records is also a webhook-deliveries message, written with it;
/// a refused retry announces nothing again, even once the messages were relayed and acked.
pub async fn a_settlements_events_each_enqueue_one_webhook_message(subject: Subject) {
    let store = &subject.store;
    let booked = booked_charge(store).await;
    let before = ids_of(
        confirm_outbox(&booked.confirmed.confirm)
            .iter()
            .chain(&booked.book.outbox),
    );
    subject.assert_outbox(before.clone()).await;
    let at = booked.book.movement.created_at + Duration::seconds(1);
    let write = executor_settlement(store, &booked.book.payouts[0], PayoutState::Paid, at).await;
    let types: BTreeSet<&str> = write.events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, BTreeSet::from(["PAYOUT_PAID", "SPLIT_PAID"]));
    assert_eq!(store.settle_payout(&write).await, Ok(WriteOutcome::Applied));

    let webhooks: Vec<OutboxMessage> = write.events.iter().map(WebhookMessage::for_event).collect();
    let after: BTreeSet<String> = before
        .iter()
        .cloned()
        .chain(ids_of(write.outbox.iter().chain(&webhooks)))
        .collect();
    subject.assert_outbox(after.clone()).await;
    let waiting = subject.outbox_messages().await;
    for message in &webhooks {
        assert!(waiting.contains(message), "{message:?} whole");
        let parsed = WebhookMessage::parse(&message.body).expect("a webhook message");
        assert!(
            matches!(&parsed, WebhookMessage::Event { account_id, .. } if account_id == booked.account()),
            "{parsed:?}"
        );
    }

    assert_eq!(
        store.settle_payout(&write).await,
        Ok(WriteOutcome::Conflict)
    );
    subject.assert_outbox(after.clone()).await;
    // Relayed and acked, a message stays gone: the events already exist.
    let acked: Vec<String> = ids_of(&webhooks).into_iter().collect();
    subject
        .outbox
        .as_ref()
        .expect("an outbox feed")
        .ack_outbox(&acked)
        .await
        .expect("ack");
    assert_eq!(
        store.settle_payout(&write).await,
        Ok(WriteOutcome::Conflict)
    );
    let rest: BTreeSet<String> = after.difference(&ids_of(&webhooks)).cloned().collect();
    subject.assert_outbox(rest).await;
}

// =============================================================================================
// Scheduled payouts: the payout's settlement, then its splits chunk by chunk

/// `n` SCHEDULED splits of `account`, all to recipient 1 (one per charge), booked from `at`.
async fn scheduled_splits(
    store: &DynStore,
    account: &AccountId,
    n: usize,
    at: DateTime<Utc>,
) -> Vec<SplitEntry> {
    let mut splits = Vec::with_capacity(n);
    for i in 0..n {
        let i = i64::try_from(i).expect("small");
        let at = at + ms(10 * i);
        let booking = book(store, charge_for(account, &[1], 300 + i, at), at).await;
        splits.push(booking.splits[0].clone());
    }
    splits
}

/// The payout of `window` of `splits` (one recipient), attached at `now` and released:
/// PROCESSING, as the payout executor finds it.
async fn released(
    store: &DynStore,
    account: &AccountId,
    splits: &[SplitEntry],
    window: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Payout {
    let recipient = splits[0].recipient();
    let header = PayoutHeader {
        id: PayoutId::for_scheduled_window(account, window, &recipient),
        account_id: account.clone(),
        window,
        recipient,
    };
    for part in splits.chunks(store.max_splits_per_attach()) {
        let attach = AttachSplits {
            payout: header.clone(),
            splits: part.to_vec(),
            now,
        };
        assert_eq!(
            store.attach_splits(&attach).await,
            Ok(WriteOutcome::Applied)
        );
    }
    assert_eq!(
        store.release_payout(&header.id, &[], now).await,
        Ok(WriteOutcome::Applied)
    );
    let payout = stored_payout(store, &header.id).await;
    assert_eq!(payout.state, PayoutState::Processing);
    payout
}

async fn stored_payout(store: &DynStore, id: &PayoutId) -> Payout {
    store
        .get_payout(id)
        .await
        .expect("get payout")
        .expect("payout stored")
}

/// How the transfer of a payout ended: PAID with a fresh end-to-end id, or FAILED.
fn outcome(state: PayoutState, at: DateTime<Utc>) -> FinalOutcome {
    let paid = state == PayoutState::Paid;
    FinalOutcome {
        state,
        end_to_end_id: paid.then(|| {
            EndToEndId::generate(
                EndToEndKind::Payment,
                &Ispb::parse("00416968").expect("ispb"),
                at,
            )
        }),
        provider_transfer_id: Some(format!("tr_{}", uuid::Uuid::new_v4().simple())),
        failure_reason: (!paid).then(|| "recipient key not found".to_owned()),
    }
}

/// The payout executor's settlement of a PROCESSING `payout`, with its inline splits as
/// stored (an immediate payout's one split; none for a scheduled payout).
async fn executor_settlement(
    store: &DynStore,
    payout: &Payout,
    state: PayoutState,
    now: DateTime<Utc>,
) -> SettlePayout {
    let payout = stored_payout(store, &payout.id).await;
    let mut inline = Vec::new();
    for key in &payout.splits {
        let stored = store.get_splits(&key.transaction_id).await.expect("splits");
        inline.extend(stored.into_iter().filter(|s| s.index == key.index));
    }
    settle_payout(payout, inline, &outcome(state, now), now).expect("settlement")
}

/// Settles a released scheduled payout as the executor does; the payout as stored after.
async fn settled(
    store: &DynStore,
    payout: &Payout,
    state: PayoutState,
    now: DateTime<Utc>,
) -> Payout {
    let write = executor_settlement(store, payout, state, now).await;
    assert_eq!(store.settle_payout(&write).await, Ok(WriteOutcome::Applied));
    let stored = stored_payout(store, &payout.id).await;
    assert_eq!(stored.state, state);
    stored
}

/// The windows of the chunk cases: booked an hour before, run a second after, settled a
/// minute after.
struct Times {
    booked: DateTime<Utc>,
    window: DateTime<Utc>,
    run: DateTime<Utc>,
    settled: DateTime<Utc>,
}

fn times() -> Times {
    let booked = base_time();
    let window = booked + Duration::hours(1);
    Times {
        booked,
        window,
        run: window + Duration::seconds(1),
        settled: window + Duration::minutes(1),
    }
}

/// A released scheduled payout of `n` fresh splits of a new account, settled `state`; its
/// splits as stored (PROCESSING in it).
async fn settled_payout(
    store: &DynStore,
    n: usize,
    state: PayoutState,
) -> (AccountId, Vec<SplitEntry>, Payout) {
    let t = times();
    let account = AccountId::generate();
    let splits = scheduled_splits(store, &account, n, t.booked).await;
    let payout = released(store, &account, &splits, t.window, t.run).await;
    let payout = settled(store, &payout, state, t.settled).await;
    assert_eq!(payout.unsettled_splits, u32::try_from(n).expect("small"));
    let pending = stored_splits(store, &splits).await;
    // The payout's own event, visible in the (index-backed) log before anything else.
    assert_eq!(events(store, &account, 1).await.len(), 1);
    (account, pending, payout)
}

/// The account's payout and split events (its charges' CASHIN_CONFIRMED aside), once there
/// are at least `n` (an index on DynamoDB).
async fn events(store: &DynStore, account: &AccountId, n: usize) -> Vec<AccountEvent> {
    eventually(
        || async move {
            let all = store
                .list_events(account, None, 1_000)
                .await
                .expect("events");
            all.into_iter()
                .filter(|e| {
                    let name = e.event_type.as_str();
                    name.starts_with("PAYOUT_") || name.starts_with("SPLIT_")
                })
                .collect::<Vec<_>>()
        },
        |events| events.len() >= n,
    )
    .await
}

/// The payout's manifest once it lists `n` splits (an index on DynamoDB).
async fn manifest(store: &DynStore, payout: &Payout, n: usize) -> Vec<SplitRef> {
    eventually(
        || async move {
            store
                .payout_splits_page(&payout.id, None, 1_000)
                .await
                .expect("manifest")
                .0
        },
        |refs| refs.len() == n,
    )
    .await
}

/// The account's SCHEDULED splits, as the payout scheduler reads them, once there are `n`.
async fn scheduled(store: &DynStore, account: &AccountId, n: usize) -> Vec<SplitEntry> {
    let cutoff = base_time() + Duration::days(365);
    eventually(
        || async move {
            store
                .scheduled_splits_page(account, cutoff, None, 1_000)
                .await
                .expect("scheduled splits")
                .0
        },
        |splits| splits.len() == n,
    )
    .await
}

/// Everything a conflicting chunk must leave untouched.
#[derive(Debug, PartialEq)]
struct ChunkSnapshot {
    payout: Option<Payout>,
    splits: Vec<SplitEntry>,
    balance: Balance,
    events: Vec<AccountEvent>,
}

async fn chunk_snapshot(
    store: &DynStore,
    account: &AccountId,
    payout: &Payout,
    splits: &[SplitEntry],
) -> ChunkSnapshot {
    ChunkSnapshot {
        payout: store.get_payout(&payout.id).await.expect("payout"),
        splits: stored_splits(store, splits).await,
        balance: balance(store, account).await,
        events: store
            .list_events(account, None, 1_000)
            .await
            .expect("events"),
    }
}

/// A failed scheduled payout moves no money by itself (its splits' money stays reserved for
/// their next window) but records PAYOUT_FAILED, once.
pub async fn a_failed_scheduled_payout_settles_without_a_movement_and_records_its_event_once(
    subject: Subject,
) {
    let store = &subject.store;
    let t = times();
    let account = AccountId::generate();
    let splits = scheduled_splits(store, &account, 2, t.booked).await;
    let payout = released(store, &account, &splits, t.window, t.run).await;
    let booked_balance = balance(store, &account).await;
    let booked_movements = movements(store, &account, 4).await;
    assert_eq!(booked_movements.len(), 4, "two confirmations, two bookings");

    let write = executor_settlement(store, &payout, PayoutState::Failed, t.settled).await;
    assert_eq!(write.movement, None);
    assert_eq!(write.events.len(), 1);
    assert_eq!(store.settle_payout(&write).await, Ok(WriteOutcome::Applied));

    let stored = stored_payout(store, &payout.id).await;
    assert_eq!(stored, write.payout);
    assert_eq!(
        (stored.state, stored.unsettled_splits),
        (PayoutState::Failed, 2)
    );
    assert_eq!(balance(store, &account).await, booked_balance);
    assert_eq!(events(store, &account, 1).await, write.events);
    assert_eq!(
        store.settle_payout(&write).await,
        Ok(WriteOutcome::Conflict),
        "settled once"
    );
    assert_eq!(events(store, &account, 1).await, write.events);
    assert_eq!(movements(store, &account, 4).await, booked_movements);
}

pub async fn a_paid_chunk_settles_its_splits_counts_down_and_records_their_events(
    subject: Subject,
) {
    let store = &subject.store;
    let (account, pending, payout) = settled_payout(store, 3, PayoutState::Paid).await;
    // PAYOUT_PAID moved the splits' money out of the reserve already.
    let after_payout = balance(store, &account).await;
    assert_eq!(after_payout.reserved_for_splits, Money::ZERO);

    let chunk =
        settle_chunk(&payout, pending[..2].to_vec(), payout.updated_at + ms(1)).expect("chunk");
    assert!(chunk.movement.is_none());
    assert_eq!(chunk.events.len(), 2);
    assert_eq!(
        store.settle_payout_splits(&chunk).await,
        Ok(WriteOutcome::Applied)
    );

    let stored = stored_payout(store, &payout.id).await;
    assert_eq!(
        stored,
        Payout {
            unsettled_splits: 1,
            updated_at: chunk.now,
            ..payout.clone()
        },
        "the count goes down, nothing else of the payout changes"
    );
    let now = stored_splits(store, &pending).await;
    assert_eq!(now[..2], chunk.splits[..]);
    for split in &now[..2] {
        assert_eq!(split.state, SplitState::Paid);
        assert_eq!(split.end_to_end_id, payout.end_to_end_id);
    }
    assert_eq!(now[2].state, SplitState::Processing);
    // Settled splits stay in the payout's manifest, and out of the scheduler's index.
    assert_eq!(manifest(store, &payout, 3).await.len(), 3);
    assert_eq!(scheduled(store, &account, 0).await, Vec::new());
    let recorded = events(store, &account, 3).await;
    let count = |t: EventType| recorded.iter().filter(|e| e.event_type == t).count();
    assert_eq!(
        (count(EventType::PayoutPaid), count(EventType::SplitPaid)),
        (1, 2)
    );
    for event in &chunk.events {
        assert!(recorded.contains(event), "{event:?} not recorded");
    }
    assert_eq!(
        balance(store, &account).await,
        after_payout,
        "paid splits move no money"
    );

    // The same chunk again: its splits are no longer PROCESSING, its events exist.
    assert_eq!(
        store.settle_payout_splits(&chunk).await,
        Ok(WriteOutcome::Conflict)
    );
    let last = settle_chunk(&payout, vec![now[2].clone()], chunk.now + ms(1)).expect("chunk");
    assert_eq!(
        store.settle_payout_splits(&last).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(stored_payout(store, &payout.id).await.unsettled_splits, 0);
    assert_eq!(events(store, &account, 4).await.len(), 4);
}

/// A FAILED payout's splits go back to SCHEDULED (a retry in a later window: out of the
/// manifest, back in the scheduler's index) or fail for good (their money back to
/// `available` through the chunk's movement, with their event).
pub async fn a_failed_chunk_reschedules_retries_and_returns_splits_failed_for_good(
    subject: Subject,
) {
    let store = &subject.store;
    let (account, pending, payout) = settled_payout(store, 2, PayoutState::Failed).await;
    let booked_balance = balance(store, &account).await;
    let recorded = events(store, &account, 1).await;
    assert_eq!(
        recorded.iter().map(|e| e.event_type).collect::<Vec<_>>(),
        vec![EventType::PayoutFailed]
    );

    // The domain's rules send both back to SCHEDULED (first failed window); the second is made
    // to fail for good, as on its last window, with its money and its event.
    let now = payout.updated_at + ms(1);
    let mut chunk = settle_chunk(&payout, pending.clone(), now).expect("chunk");
    assert!(
        chunk
            .splits
            .iter()
            .all(|s| s.state == SplitState::Scheduled)
    );
    let failed = {
        let split = &mut chunk.splits[1];
        split.state = SplitState::Failed;
        split.payout_id = Some(payout.id.clone());
        split.clone()
    };
    let movement = transfer(
        MovementKind::SplitsFailed,
        &account,
        &format!("{}:{}:{}", payout.id, failed.transaction_id, failed.index),
        merchant(&account, Bucket::ReservedForSplits),
        merchant(&account, Bucket::Available),
        failed.split.amount,
        now,
    );
    chunk.movement = Some(movement.clone());
    chunk.events = vec![AccountEvent::new(
        &account,
        EventType::SplitFailed,
        &format!("{}/{}", failed.transaction_id, failed.index),
        now,
        serde_json::json!({ "attempts": failed.attempts }),
    )];
    assert_eq!(
        store.settle_payout_splits(&chunk).await,
        Ok(WriteOutcome::Applied)
    );

    let stored = stored_splits(store, &pending).await;
    assert_eq!(stored, chunk.splits);
    let retry = &stored[0];
    assert_eq!(
        (retry.state, retry.attempts, &retry.payout_id),
        (SplitState::Scheduled, 1, &None)
    );
    assert_eq!(scheduled(store, &account, 1).await, vec![retry.clone()]);
    assert_eq!(manifest(store, &payout, 1).await, vec![failed.key()]);
    assert_eq!(
        balance(store, &account).await,
        balance_of(
            booked_balance.incoming.cents(),
            booked_balance.available.cents() + failed.split.amount.cents(),
            booked_balance.reserved_for_splits.cents() - failed.split.amount.cents(),
        )
    );
    assert_eq!(store.movement_exists(&movement.id).await, Ok(true));
    assert_eq!(stored_payout(store, &payout.id).await.unsettled_splits, 0);
    assert_eq!(events(store, &account, 2).await.len(), 2);

    // The rescheduled split goes out in a later window like any SCHEDULED split.
    let t = times();
    let later = released(
        store,
        &account,
        std::slice::from_ref(retry),
        t.window + Duration::days(1),
        t.run + Duration::days(1),
    )
    .await;
    assert_eq!(later.split_count, 1);
    assert_ne!(later.id, payout.id);
}

pub async fn conflicting_chunks_write_nothing(subject: Subject) {
    let store = &subject.store;
    let (account, pending, payout) = settled_payout(store, 3, PayoutState::Paid).await;
    // A split booked later, never attached: stored SCHEDULED, not PROCESSING in the payout.
    let unattached = scheduled_splits(store, &account, 1, base_time()).await;
    let stored_movement = movements(store, &account, 1).await.remove(0);
    let payout_event = events(store, &account, 1).await.remove(0);
    let now = payout.updated_at + ms(1);
    let chunk_of =
        |splits: &[SplitEntry]| settle_chunk(&payout, splits.to_vec(), now).expect("chunk");
    let all_splits: Vec<SplitEntry> = pending.iter().chain(&unattached).cloned().collect();
    let before = chunk_snapshot(store, &account, &payout, &all_splits).await;
    let with = |change: &dyn Fn(&mut SettleSplits)| {
        let mut write = chunk_of(&pending[..2]);
        change(&mut write);
        write
    };

    let cases: Vec<(&str, SettleSplits)> = vec![
        (
            "the payout is PAID, not FAILED",
            with(&|w| w.payout_state = PayoutState::Failed),
        ),
        (
            "a payout not settled at all",
            with(&|w| w.payout_state = PayoutState::Processing),
        ),
        (
            "no splits",
            with(&|w| {
                w.splits.clear();
                w.events.clear();
            }),
        ),
        (
            "another payout",
            with(&|w| w.payout_id = PayoutId::generate()),
        ),
        (
            "a split listed twice",
            chunk_of(&[pending[0].clone(), pending[0].clone()]),
        ),
        (
            "a split not in the payout",
            with(&|w| w.splits[1] = unattached[0].clone()),
        ),
        (
            "an unknown split",
            with(&|w| {
                w.splits[1] = SplitEntry {
                    transaction_id: TransactionId::generate(),
                    ..w.splits[1].clone()
                }
            }),
        ),
        (
            "a split's new version in another account",
            with(&|w| w.splits[0].account_id = AccountId::generate()),
        ),
        (
            "an event that exists (the payout's own)",
            with(&|w| w.events.push(payout_event.clone())),
        ),
        (
            "an event twice",
            with(&|w| w.events.push(w.events[0].clone())),
        ),
        (
            "a movement that exists",
            with(&|w| w.movement = Some(stored_movement.clone())),
        ),
    ];
    for (what, write) in cases {
        assert_eq!(
            store.settle_payout_splits(&write).await,
            Ok(WriteOutcome::Conflict),
            "{what}"
        );
        assert_eq!(
            chunk_snapshot(store, &account, &payout, &all_splits).await,
            before,
            "{what}"
        );
    }

    // A split no longer PROCESSING (settled by an earlier chunk) spoils the whole chunk.
    let first = chunk_of(&pending[..1]);
    assert_eq!(
        store.settle_payout_splits(&first).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(events(store, &account, 2).await.len(), 2);
    let settled_once = chunk_snapshot(store, &account, &payout, &all_splits).await;
    let mut overlapping = chunk_of(&pending[1..]);
    overlapping.splits.push(first.splits[0].clone());
    assert_eq!(
        store.settle_payout_splits(&overlapping).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        chunk_snapshot(store, &account, &payout, &all_splits).await,
        settled_once
    );
    assert_eq!(
        settled_once.payout.as_ref().map(|p| p.unsettled_splits),
        Some(2)
    );
}

/// The payout's count of unsettled splits is the guard: a chunk larger than it is refused.
pub async fn a_chunk_larger_than_the_unsettled_count_conflicts(subject: Subject) {
    let store = &subject.store;
    let t = times();
    let account = AccountId::generate();
    let splits = scheduled_splits(store, &account, 2, t.booked).await;
    let payout = released(store, &account, &splits, t.window, t.run).await;
    // A settlement that left only one split to settle (the count is the payout's word).
    let mut write = executor_settlement(store, &payout, PayoutState::Paid, t.settled).await;
    write.payout.unsettled_splits = 1;
    assert_eq!(store.settle_payout(&write).await, Ok(WriteOutcome::Applied));
    let payout = write.payout;
    let pending = stored_splits(store, &splits).await;
    let before = chunk_snapshot(store, &account, &payout, &pending).await;

    let both = settle_chunk(&payout, pending.clone(), t.settled + ms(1)).expect("chunk");
    assert_eq!(
        store.settle_payout_splits(&both).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        chunk_snapshot(store, &account, &payout, &pending).await,
        before
    );

    let one = settle_chunk(&payout, pending[..1].to_vec(), t.settled + ms(1)).expect("chunk");
    assert_eq!(
        store.settle_payout_splits(&one).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(stored_payout(store, &payout.id).await.unsettled_splits, 0);
    // Nothing is left to count down.
    let rest = settle_chunk(&payout, pending[1..].to_vec(), t.settled + ms(2)).expect("chunk");
    assert_eq!(
        store.settle_payout_splits(&rest).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        stored_splits(store, &pending[1..]).await,
        pending[1..].to_vec()
    );
}

pub async fn a_chunk_whose_movement_exists_conflicts(subject: Subject) {
    let store = &subject.store;
    let (account, pending, payout) = settled_payout(store, 2, PayoutState::Failed).await;
    let now = payout.updated_at + ms(1);
    let movement = transfer(
        MovementKind::SplitsFailed,
        &account,
        "same-reference",
        merchant(&account, Bucket::ReservedForSplits),
        merchant(&account, Bucket::Available),
        Money::from_cents(1),
        now,
    );
    let mut first = settle_chunk(&payout, pending[..1].to_vec(), now).expect("chunk");
    first.movement = Some(movement.clone());
    assert_eq!(
        store.settle_payout_splits(&first).await,
        Ok(WriteOutcome::Applied)
    );
    let before = chunk_snapshot(store, &account, &payout, &pending).await;
    let mut second = settle_chunk(&payout, pending[1..].to_vec(), now).expect("chunk");
    second.movement = Some(movement);
    assert_eq!(
        store.settle_payout_splits(&second).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        chunk_snapshot(store, &account, &payout, &pending).await,
        before
    );
}

/// At most the adapter's `max_splits_per_settle()` splits a chunk (48 on both: what one
/// DynamoDB transaction holds): one more is refused, however the rest holds.
pub async fn a_chunk_over_the_size_limit_conflicts(subject: Subject) {
    let store = &subject.store;
    let t = times();
    let account = AccountId::generate();
    assert_eq!(
        store.max_splits_per_settle(),
        48,
        "both adapters chunk as DynamoDB"
    );
    let n = store.max_splits_per_settle() + 1;
    let mut splits = Vec::with_capacity(n);
    for (i, part) in (0..n).collect::<Vec<_>>().chunks(10).enumerate() {
        let at = t.booked + ms(i64::try_from(i).expect("small"));
        let booking = book(
            store,
            charge_for(&account, &vec![1; part.len()], 10, at),
            at,
        )
        .await;
        splits.extend(booking.splits);
    }
    let payout = released(store, &account, &splits, t.window, t.run).await;
    let payout = settled(store, &payout, PayoutState::Paid, t.settled).await;
    assert_eq!(payout.unsettled_splits as usize, n);
    let pending = stored_splits(store, &splits).await;
    let before = chunk_snapshot(store, &account, &payout, &pending).await;

    let all = settle_chunk(&payout, pending.clone(), t.settled + ms(1)).expect("chunk");
    assert_eq!(
        store.settle_payout_splits(&all).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        chunk_snapshot(store, &account, &payout, &pending).await,
        before
    );
    let (most, last) = pending.split_at(store.max_splits_per_settle());
    for part in [most, last] {
        let chunk = settle_chunk(&payout, part.to_vec(), t.settled + ms(1)).expect("chunk");
        assert_eq!(
            store.settle_payout_splits(&chunk).await,
            Ok(WriteOutcome::Applied)
        );
    }
    assert_eq!(stored_payout(store, &payout.id).await.unsettled_splits, 0);
}

// =============================================================================================
// Listing

fn payout_query(state: Option<PayoutState>, limit: u32) -> PayoutQuery {
    PayoutQuery {
        state,
        from: None,
        to: None,
        limit,
        after: None,
    }
}

async fn list_payouts(store: &DynStore, account: &AccountId, query: &PayoutQuery) -> PayoutPage {
    store
        .list_payouts(account, query)
        .await
        .expect("list payouts")
}

fn payout_ids(page: &PayoutPage) -> Vec<PayoutId> {
    page.items.iter().map(|p| p.id.clone()).collect()
}

/// Newest first: created_at descending, then id descending.
fn newest_first(mut payouts: Vec<Payout>) -> Vec<PayoutId> {
    payouts.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    payouts.into_iter().map(|p| p.id).collect()
}

/// Every page of `query`, following the cursors; each page within its limit, each cursor
/// the position of its page's last payout.
async fn all_pages(store: &DynStore, account: &AccountId, mut query: PayoutQuery) -> Vec<PayoutId> {
    let mut out = Vec::new();
    for _ in 0..100 {
        let page = list_payouts(store, account, &query).await;
        assert!(page.items.len() <= query.limit.max(1) as usize);
        out.extend(payout_ids(&page));
        match page.next {
            Some(next) => {
                assert_eq!(
                    Some(&next),
                    page.items.last().map(PayoutCursor::of).as_ref()
                );
                query.after = Some(next);
            }
            None => return out,
        }
    }
    panic!("the payout listing does not end");
}

pub async fn payouts_are_listed_newest_first_by_state_and_range_with_a_cursor(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let t = base_time();
    // Five immediate payouts (PROCESSING at booking, 2 s after each charge), two of them in
    // the same millisecond; then one PAID and one FAILED.
    let mut books = Vec::new();
    for s in [0, 1, 2, 3, 3] {
        books.push(booked_charge_of(store, &account, t + Duration::seconds(s)).await);
    }
    let settle_at = t + Duration::seconds(10);
    for (booked, end) in [(&books[1], PayoutEnd::Paid), (&books[2], PayoutEnd::Failed)] {
        let (payout, split) = booked.immediate();
        let write = settle_write(&payout, &[split], end, settle_at);
        assert_eq!(store.settle_payout(&write).await, Ok(WriteOutcome::Applied));
    }
    let mut payouts = Vec::new();
    for booked in &books {
        payouts.push(stored_payout(store, &booked.book.payouts[0].id).await);
    }
    // Another account's payout, which must never show up.
    let other = AccountId::generate();
    booked_charge_of(store, &other, t + ms(1_500)).await;

    let all = newest_first(payouts.clone());
    let listed = eventually(
        || async { list_payouts(store, &account, &payout_query(None, 100)).await },
        |page| page.items.len() >= all.len(),
    )
    .await;
    assert_eq!(payout_ids(&listed), all);
    assert_eq!(listed.next, None);
    for item in &listed.items {
        assert!(payouts.contains(item), "the payouts as stored");
    }
    for limit in [1, 2, 3, 5] {
        assert_eq!(
            all_pages(store, &account, payout_query(None, limit)).await,
            all,
            "{limit}"
        );
    }
    // A full page says more follow only when more exist; the limit is clamped into 1..=100.
    assert_eq!(
        list_payouts(store, &account, &payout_query(None, 5))
            .await
            .next,
        None
    );
    let zero = list_payouts(store, &account, &payout_query(None, 0)).await;
    assert_eq!(payout_ids(&zero), all[..1].to_vec());
    assert!(zero.next.is_some());

    // By state.
    let by_state = |state: PayoutState| {
        newest_first(
            payouts
                .iter()
                .filter(|p| p.state == state)
                .cloned()
                .collect(),
        )
    };
    assert_eq!(
        by_state(PayoutState::Paid),
        vec![books[1].book.payouts[0].id.clone()]
    );
    assert_eq!(by_state(PayoutState::Processing).len(), 3);
    for state in [
        PayoutState::Processing,
        PayoutState::Paid,
        PayoutState::Failed,
    ] {
        let expected = by_state(state);
        let listed = eventually(
            || async { list_payouts(store, &account, &payout_query(Some(state), 100)).await },
            |page| page.items.len() >= expected.len(),
        )
        .await;
        assert_eq!(payout_ids(&listed), expected, "{state:?}");
        assert_eq!(
            all_pages(store, &account, payout_query(Some(state), 1)).await,
            expected,
            "{state:?}, one at a time"
        );
    }

    // `from` and `to` are both inclusive, to the millisecond.
    let created = |i: usize| payouts[i].created_at;
    let between = |from, to| PayoutQuery {
        from: Some(from),
        to: Some(to),
        ..payout_query(None, 100)
    };
    assert_eq!(
        payout_ids(&list_payouts(store, &account, &between(created(1), created(2))).await),
        vec![payouts[2].id.clone(), payouts[1].id.clone()]
    );
    assert_eq!(
        payout_ids(&list_payouts(store, &account, &between(created(3), created(3))).await),
        newest_first(vec![payouts[3].clone(), payouts[4].clone()])
    );
    for (from, to) in [
        (created(1) + ms(1), created(2) - ms(1)),
        (created(2), created(1)),
    ] {
        assert_eq!(
            list_payouts(store, &account, &between(from, to))
                .await
                .items,
            Vec::new()
        );
    }
    let paged_range = PayoutQuery {
        from: Some(created(1)),
        ..payout_query(None, 1)
    };
    assert_eq!(
        all_pages(store, &account, paged_range).await,
        all[..4].to_vec()
    );
    let with_state = PayoutQuery {
        from: Some(created(0)),
        to: Some(created(1)),
        ..payout_query(Some(PayoutState::Processing), 100)
    };
    assert_eq!(
        payout_ids(&list_payouts(store, &account, &with_state).await),
        vec![payouts[0].id.clone()]
    );
    // A cursor is exclusive (its own payout is never listed again), also inside a tie, and
    // combines with the range.
    let tie = all
        .iter()
        .position(|id| *id == payouts[3].id)
        .expect("listed");
    let after_tie = PayoutQuery {
        after: Some(PayoutCursor::of(&payouts[3])),
        ..payout_query(None, 100)
    };
    assert_eq!(
        payout_ids(&list_payouts(store, &account, &after_tie).await),
        all[tie + 1..].to_vec()
    );
    let after_tie_from = PayoutQuery {
        from: Some(created(2)),
        ..after_tie
    };
    assert_eq!(
        payout_ids(&list_payouts(store, &account, &after_tie_from).await),
        all[tie + 1..3].to_vec()
    );

    // The other account sees only its own.
    let theirs = eventually(
        || async { list_payouts(store, &other, &payout_query(None, 100)).await },
        |page| !page.items.is_empty(),
    )
    .await;
    assert_eq!(theirs.items.len(), 1);
    assert!(theirs.items.iter().all(|p| p.account_id == other));
}

// =============================================================================================
// Executing scheduled payouts: the scheduler assembles them, the executor pays them through
// the sandbox PIX network, a failing recipient is retried window after window

/// The scheduler, executor and sandbox network of one case, on one clock.
struct Rig {
    subject: Subject,
    clock: Arc<ManualClock>,
    provider: Arc<SandboxProvider>,
    scheduler: PayoutScheduler,
    executor: PayoutExecutor,
}

impl Rig {
    fn new(subject: Subject, start: DateTime<Utc>) -> Rig {
        let clock = Arc::new(ManualClock::new(start));
        let provider = Arc::new(
            SandboxProvider::new("pix.example.test", clock.clone(), vec![3u8; 32])
                .expect("sandbox"),
        );
        let scheduler = PayoutScheduler::with_config(
            subject.runs(),
            clock.clone(),
            SchedulerConfig {
                page_size: 100,
                ..SchedulerConfig::default()
            },
        );
        let providers = Arc::new(ProviderDirectory::single(provider.clone(), clock.clone()));
        let executor = PayoutExecutor::new(
            pixgw_api::store::payout_executor_ports(&subject.store),
            providers,
            clock.clone(),
        );
        Rig {
            subject,
            clock,
            provider,
            scheduler,
            executor,
        }
    }

    /// Moves the clock to `at` and runs the scheduler there.
    async fn run_window(&self, at: DateTime<Utc>) {
        let now = self.clock.now();
        self.clock.advance(at - now);
        self.scheduler.run_now().await.expect("scheduler run");
    }

    async fn splits(&self, charges: &[Charge]) -> Vec<SplitEntry> {
        let mut all = Vec::new();
        for charge in charges {
            all.extend(
                self.subject
                    .store
                    .get_splits(&charge.transaction_id)
                    .await
                    .expect("splits"),
            );
        }
        all
    }

    /// The payouts the splits are PROCESSING in (released and waiting for the executor).
    async fn processing_payouts(&self, charges: &[Charge]) -> BTreeSet<PayoutId> {
        self.splits(charges)
            .await
            .into_iter()
            .filter(|s| s.state == SplitState::Processing)
            .filter_map(|s| s.payout_id)
            .collect()
    }

    async fn payout(&self, id: &PayoutId) -> Payout {
        self.subject
            .store
            .get_payout(id)
            .await
            .expect("read payout")
            .expect("payout exists")
    }

    /// Executes every released payout twice (the second time a redelivery).
    async fn execute_all(&self, charges: &[Charge]) -> BTreeMap<PayoutId, ExecutionResult> {
        let mut results = BTreeMap::new();
        for id in self.processing_payouts(charges).await {
            let first = self.executor.execute(&id).await.expect("execute");
            let again = self.executor.execute(&id).await.expect("redelivery");
            assert_eq!(again, ExecutionResult::AlreadySettled, "redelivery of {id}");
            results.insert(id, first);
        }
        results
    }

    /// The balance, once it equals the sum of the account's movements (the ledger index may
    /// lag a moment on DynamoDB).
    async fn balanced(&self, account: &AccountId) -> Balance {
        let store = &self.subject.store;
        let (balance, from_ledger) = eventually(
            || async move {
                let balance = store.get_balance(account).await.expect("balance");
                let movements = store.list_movements(account).await.expect("movements");
                (balance, Balance::from_movements(account, &movements))
            },
            |(b, l)| b == l,
        )
        .await;
        assert_eq!(balance, from_ledger, "balance = Σ movements of {account}");
        balance
    }

    async fn event_counts(&self, account: &AccountId) -> BTreeMap<&'static str, usize> {
        let events = self
            .subject
            .store
            .list_events(account, None, 10_000)
            .await
            .expect("events");
        let ids: BTreeSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), events.len(), "every event recorded once");
        let mut counts = BTreeMap::new();
        for e in &events {
            *counts.entry(e.event_type.as_str()).or_default() += 1;
        }
        counts
    }
}

/// `n` charges of `account`, each with one split to recipient 1 and one to a PIX key the
/// sandbox DICT refuses when `reject` (else to recipient 2), booked before `window`.
async fn charges(
    rig: &Rig,
    account: &AccountId,
    n: usize,
    reject: bool,
    window: DateTime<Utc>,
) -> Vec<Charge> {
    let mut charges = Vec::new();
    for i in 0..n {
        let at = window - Duration::hours(2) + Duration::seconds(i64::try_from(i).expect("i"));
        let mut charge = charge_for(account, &[1, 2], 100 + i64::try_from(i).expect("i"), at);
        if reject {
            charge.splits[1].rule.pix_key = "reject-me@example.com".into();
        }
        book(&rig.subject.store, charge.clone(), at).await;
        charges.push(charge);
    }
    charges
}

fn shares(charges: &[Charge], index: usize) -> i64 {
    charges.iter().map(|c| c.splits[index].amount.cents()).sum()
}

pub async fn paid_payouts_pay_every_split_with_the_transfer_id(subject: Subject) {
    let window = nine_am(10);
    let account = account_due_at(&subject.store, window).await;
    let rig = Rig::new(subject, window - Duration::hours(3));
    // 60 charges: one payout per recipient with 60 splits, settled in two chunks.
    let charges = charges(&rig, &account, 60, false, window).await;
    rig.run_window(window + Duration::minutes(1)).await;

    let results = rig.execute_all(&charges).await;
    assert_eq!(results.len(), 2, "one payout per recipient");
    assert!(results.values().all(|r| *r == ExecutionResult::Paid));
    assert_eq!(rig.provider.transfers().len(), 2, "one transfer per payout");

    for id in results.keys() {
        let payout = rig.payout(id).await;
        assert_eq!(payout.state, PayoutState::Paid);
        assert_eq!(payout.unsettled_splits, 0);
        assert_eq!(payout.split_count, 60);
        let e2e = payout.end_to_end_id.clone().expect("end-to-end id");
        let paid: Vec<SplitEntry> = rig
            .splits(&charges)
            .await
            .into_iter()
            .filter(|s| s.payout_id.as_ref() == Some(id))
            .collect();
        assert_eq!(paid.len(), 60);
        assert!(
            paid.iter()
                .all(|s| s.state == SplitState::Paid && s.end_to_end_id.as_ref() == Some(&e2e))
        );
        let sum: i64 = paid.iter().map(|s| s.split.amount.cents()).sum();
        assert_eq!(sum, payout.amount.cents(), "payout = Σ of its splits");
    }
    let remainder: i64 = charges.iter().map(|c| c.remainder.cents()).sum();
    assert_eq!(rig.balanced(&account).await, balance_of(0, remainder, 0));
    let counts = rig.event_counts(&account).await;
    assert_eq!(counts.get("PAYOUT_PAID"), Some(&2));
    assert_eq!(counts.get("SPLIT_PAID"), Some(&120));
}

pub async fn a_failing_recipient_is_retried_for_three_windows_then_refunded(subject: Subject) {
    let first = nine_am(10);
    let account = account_due_at(&subject.store, first).await;
    let rig = Rig::new(subject, first - Duration::hours(3));
    let charges = charges(&rig, &account, 5, true, first).await;
    let good = shares(&charges, 0);
    let refused = shares(&charges, 1);
    let remainder: i64 = charges.iter().map(|c| c.remainder.cents()).sum();

    let mut failed_payouts = BTreeSet::new();
    for window in 0..3 {
        rig.run_window(nine_am(10 + window) + Duration::minutes(1))
            .await;
        let results = rig.execute_all(&charges).await;
        for (id, result) in &results {
            let payout = rig.payout(id).await;
            if payout.recipient.pix_key.contains("reject") {
                assert_eq!(*result, ExecutionResult::Failed, "window {window}");
                assert_eq!(payout.amount.cents(), refused, "the same splits, retried");
                assert!(
                    failed_payouts.insert(id.clone()),
                    "a new payout each window"
                );
                // A split is listed by the payout that paid it or failed it for good; one sent
                // back to the schedule moves on to a later window's payout.
                let (manifest, _) = rig
                    .subject
                    .store
                    .payout_splits_page(id, None, 100)
                    .await
                    .expect("manifest");
                assert_eq!(
                    manifest.len(),
                    if window < 2 { 0 } else { 5 },
                    "window {window}"
                );
                assert_eq!(payout.split_count, 5, "it carried every refused split");
            } else {
                assert_eq!(*result, ExecutionResult::Paid);
                assert_eq!(payout.amount.cents(), good, "paid in the first window");
            }
        }
        let splits = rig.splits(&charges).await;
        let refused_splits: Vec<&SplitEntry> = splits.iter().filter(|s| s.index == 1).collect();
        let attempts = u8::try_from(window + 1).expect("small");
        let expected_state = if window < 2 {
            SplitState::Scheduled
        } else {
            SplitState::Failed
        };
        for s in &refused_splits {
            assert_eq!(s.state, expected_state, "window {window}");
            assert_eq!(s.attempts, attempts);
            assert_eq!(
                s.failure_reason.as_deref(),
                Some("PIX key not found in DICT")
            );
        }
        let balance = rig.balanced(&account).await;
        if window < 2 {
            assert_eq!(
                balance,
                balance_of(0, remainder, refused),
                "still reserved for the retry"
            );
        } else {
            assert_eq!(
                balance,
                balance_of(0, remainder + refused, 0),
                "refunded to available"
            );
        }
    }
    assert_eq!(failed_payouts.len(), 3);
    // A fourth window has nothing left to pay.
    rig.run_window(nine_am(13) + Duration::minutes(1)).await;
    assert!(rig.processing_payouts(&charges).await.is_empty());

    let paid: Vec<_> = rig.provider.transfers();
    assert_eq!(paid.len(), 4, "one good payout + three refused attempts");
    let counts = rig.event_counts(&account).await;
    assert_eq!(counts.get("PAYOUT_FAILED"), Some(&3));
    assert_eq!(counts.get("SPLIT_FAILED"), Some(&5));
    assert_eq!(counts.get("PAYOUT_PAID"), Some(&1));
    assert_eq!(counts.get("SPLIT_PAID"), Some(&5));
}

pub async fn a_manifest_left_half_settled_is_finished_by_a_redelivery(subject: Subject) {
    let window = nine_am(10);
    let account = account_due_at(&subject.store, window).await;
    let rig = Rig::new(subject, window - Duration::hours(3));
    let charges = charges(&rig, &account, 100, false, window).await;
    rig.run_window(window + Duration::minutes(1)).await;
    let ids = rig.processing_payouts(&charges).await;
    let id = ids.iter().next().expect("a payout").clone();
    let payout = rig.payout(&id).await;

    // "Crash": the payout and one chunk of its splits are settled, then the process dies.
    let now = window + Duration::minutes(2);
    let outcome = FinalOutcome {
        state: PayoutState::Paid,
        end_to_end_id: Some(pixgw_domain::pix::payment::EndToEndId::generate(
            pixgw_domain::pix::payment::EndToEndKind::Payment,
            &pixgw_providers::sandbox::sandbox_ispb(),
            now,
        )),
        provider_transfer_id: Some("tr_crash".into()),
        failure_reason: None,
    };
    let write = settle_payout(payout, vec![], &outcome, now).expect("settlement");
    assert_eq!(
        rig.subject.store.settle_payout(&write).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(
        rig.subject.store.settle_payout(&write).await,
        Ok(WriteOutcome::Conflict),
        "a settled payout cannot settle again"
    );
    let mine: Vec<SplitEntry> = rig
        .splits(&charges)
        .await
        .into_iter()
        .filter(|s| s.payout_id.as_ref() == Some(&id))
        .take(30)
        .collect();
    let chunk = settle_chunk(&write.payout, mine, now).expect("chunk");
    assert_eq!(
        rig.subject.store.settle_payout_splits(&chunk).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(
        rig.subject.store.settle_payout_splits(&chunk).await,
        Ok(WriteOutcome::Conflict),
        "a settled chunk cannot settle again"
    );
    assert_eq!(rig.payout(&id).await.unsettled_splits, 70);

    // The redelivered request finishes the manifest without a transfer.
    assert_eq!(
        rig.executor.execute(&id).await,
        Ok(ExecutionResult::AlreadySettled)
    );
    assert_eq!(rig.provider.transfer_calls(), 0);
    let payout = rig.payout(&id).await;
    assert_eq!(payout.unsettled_splits, 0);
    let e2e = payout.end_to_end_id.clone();
    let paid = rig
        .splits(&charges)
        .await
        .into_iter()
        .filter(|s| s.payout_id.as_ref() == Some(&id))
        .filter(|s| s.state == SplitState::Paid && s.end_to_end_id == e2e)
        .count();
    assert_eq!(paid, 100);
    let counts = rig.event_counts(&account).await;
    assert_eq!(counts.get(EventType::SplitPaid.as_str()), Some(&100));
}

pub async fn concurrent_executions_settle_a_payout_once(subject: Subject) {
    let window = nine_am(10);
    let account = account_due_at(&subject.store, window).await;
    let rig = Rig::new(subject, window - Duration::hours(3));
    let charges = charges(&rig, &account, 100, false, window).await;
    rig.run_window(window + Duration::minutes(1)).await;
    let ids: Vec<PayoutId> = rig.processing_payouts(&charges).await.into_iter().collect();
    assert_eq!(ids.len(), 2);

    let runs = ids
        .iter()
        .flat_map(|id| (0..4).map(move |_| id.clone()))
        .map(|id| {
            let executor = rig.executor.clone();
            async move { executor.execute(&id).await }
        });
    // A racer may lose a storage conflict and fail; the queue would redeliver its message,
    // which one more (sequential) execution of each payout stands for.
    let results = join_all(runs).await;
    assert!(results.iter().any(Result::is_ok), "{results:?}");
    for id in &ids {
        assert_eq!(
            rig.executor.execute(id).await,
            Ok(ExecutionResult::AlreadySettled)
        );
    }
    assert_eq!(rig.provider.transfers().len(), 2, "one transfer per payout");
    for id in &ids {
        let payout = rig.payout(id).await;
        assert_eq!(payout.state, PayoutState::Paid);
        assert_eq!(payout.unsettled_splits, 0);
    }
    let remainder: i64 = charges.iter().map(|c| c.remainder.cents()).sum();
    assert_eq!(rig.balanced(&account).await, balance_of(0, remainder, 0));
    let counts = rig.event_counts(&account).await;
    assert_eq!(counts.get("PAYOUT_PAID"), Some(&2));
    assert_eq!(counts.get("SPLIT_PAID"), Some(&200));
}
