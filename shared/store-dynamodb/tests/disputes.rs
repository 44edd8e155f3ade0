//! MED disputes against DynamoDB Local: an opening holds the money in one write (the dispute,
//! its claim on the charge, the splits it reduces, the draw on `available`) and happens once;
//! a defence and a decision require the version read; a decision gives everything back (won)
//! or indebts the paid splits' recipients (lost); the listings page without losing anything;
//! the owing index holds exactly the disputes that still owe, and a booking pays them at the
//! version it read — or writes nothing at all.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::dispute::{decision, dispute_of, opening, repaying};
use common::refund::refund_write;
use common::scheduled::booked_at;
use common::settlement::{
    REMAINDER, SCHEDULED_SHARE, book_write, confirm_write, eventually, settle_write, split_charge,
};
use common::{T0_MS, at_ms, fresh_store};
use pixgw_domain::charge::Charge;
use pixgw_domain::charge::ports::{ChargeStore, ChargeTransitions};
use pixgw_domain::dispute::ports::{
    DefendDispute, DisputeCursor, DisputePage, DisputeQuery, DisputeStore, OpenDispute,
};
use pixgw_domain::dispute::{Dispute, DisputeHold, DisputeOutcome, DisputeState};
use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::ledger::Balance;
use pixgw_domain::ledger::ports::{LedgerStore, MoneyOutOutcome};
use pixgw_domain::payout::PayoutState;
use pixgw_domain::payout::ports::PayoutStore;
use pixgw_domain::pix::ids::{AccountId, DisputeId, RecipientId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::recipient::ports::RecipientStore;
use pixgw_domain::refund::RefundLiability::{Merchant, Proportional};
use pixgw_domain::refund::ports::RefundStore;
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use pixgw_domain::split::ports::SplitStore;
use pixgw_store_dynamodb::DynamoStore;
use pixgw_store_dynamodb::keys::{self, Item};

/// The raw item at (`pk`, `sk`), read consistently.
async fn raw(store: &DynamoStore, pk: String, sk: &str) -> Option<Item> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(keys::primary_key(pk, sk)))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
}

async fn raw_dispute(store: &DynamoStore, id: &DisputeId) -> Item {
    raw(store, keys::dispute_pk(id), keys::SK_DISPUTE)
        .await
        .expect("dispute item")
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s),
        _ => None,
    }
}

async fn stored_charge(store: &DynamoStore, c: &Charge) -> Charge {
    store
        .get_charge(&c.transaction_id)
        .await
        .expect("get")
        .expect("charge")
}

async fn stored_dispute(store: &DynamoStore, id: &DisputeId) -> Dispute {
    store.get_dispute(id).await.expect("get").expect("dispute")
}

async fn splits(store: &DynamoStore, c: &Charge) -> Vec<SplitEntry> {
    store.get_splits(&c.transaction_id).await.expect("splits")
}

async fn balance(store: &DynamoStore, account: &AccountId) -> Balance {
    store.get_balance(account).await.expect("balance")
}

/// A charge of `account` confirmed and booked (split 0 PROCESSING in its immediate payout,
/// split 1 SCHEDULED, 500), as stored, with its splits.
async fn booked(store: &DynamoStore, account: &AccountId, at: i64) -> (Charge, Vec<SplitEntry>) {
    let book = booked_at(store, account, at).await;
    let c = store
        .get_charge(&book.transaction_id)
        .await
        .expect("get")
        .expect("charge");
    let entries = splits(store, &c).await;
    (c, entries)
}

/// A charge of `account` inserted and confirmed, its splits not booked yet.
async fn confirmed(store: &DynamoStore, account: &AccountId, at: i64) -> Charge {
    let c = split_charge(account, at);
    store.insert_charge(&c, None).await.expect("insert");
    assert_eq!(
        store.confirm_charge(&confirm_write(&c, at + 1_000)).await,
        Ok(WriteOutcome::Applied)
    );
    c
}

async fn open(store: &DynamoStore, write: &OpenDispute) -> MoneyOutOutcome {
    store.open_dispute(write).await.expect("open")
}

/// Everything a dispute write could have touched.
#[derive(Debug, PartialEq)]
struct Snapshot {
    charge: Charge,
    splits: Vec<SplitEntry>,
    balance: Balance,
    dispute: Option<Dispute>,
}

async fn snapshot(store: &DynamoStore, c: &Charge, id: &DisputeId) -> Snapshot {
    Snapshot {
        charge: stored_charge(store, c).await,
        splits: splits(store, c).await,
        balance: balance(store, &c.account_id).await,
        dispute: store.get_dispute(id).await.expect("get"),
    }
}

/// A write that conflicted left neither its movement nor its events behind.
async fn assert_nothing_of(
    store: &DynamoStore,
    movement_id: &str,
    events: &[pixgw_domain::messaging::events::AccountEvent],
) {
    assert!(!store.movement_exists(movement_id).await.expect("movement"));
    for event in events {
        assert!(
            raw(store, keys::event_pk(&event.id), keys::SK_EVENT)
                .await
                .is_none()
        );
    }
}

#[tokio::test]
async fn a_dispute_opens_once_is_defended_and_won_and_everything_goes_back() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let (c, entries) = booked(&store, &account, T0_MS).await;
    let before = balance(&store, &account).await;

    // 2,000 proportionally: the scheduled split gives up 100 of its reserve, `available` pays
    // the account's part and the processing split's (1,900): all of it held.
    let d = dispute_of(&c, "inf-won", 2_000, Proportional, T0_MS + 10_000);
    let write = opening(&store, &c, &entries, d).await;
    assert_eq!(write.reduced.len(), 1);
    assert_eq!(
        write.dispute.hold,
        DisputeHold {
            from_reserve: 100,
            from_available: 1_900,
            owed: 0
        }
    );
    assert_eq!(open(&store, &write).await, MoneyOutOutcome::Applied);
    let id = write.dispute.id.clone();
    assert_eq!(stored_dispute(&store, &id).await, write.dispute);
    let stored = stored_charge(&store, &c).await;
    assert_eq!(stored, write.charge);
    assert_eq!(stored.refund_revision, 1);
    assert_eq!(stored.dispute(&id), Some(&write.dispute.claim()));
    assert_eq!(splits(&store, &c).await[1], write.reduced[0].entry);
    let held = balance(&store, &account).await;
    assert_eq!(held.held.cents(), 2_000);
    assert_eq!(held.available.cents(), before.available.cents() - 1_900);
    assert_eq!(
        held.reserved_for_splits.cents(),
        before.reserved_for_splits.cents() - 100
    );
    let item = raw_dispute(&store, &id).await;
    assert_eq!(text(&item, keys::ENTITY), Some("DISPUTE"));
    assert_eq!(
        text(&item, keys::GSI1PK),
        Some(keys::disputes_by_account_pk(&account).as_str())
    );
    assert_eq!(
        text(&item, keys::GSI2PK),
        Some(keys::disputes_by_state_pk(&account, DisputeState::Open).as_str())
    );
    assert_eq!(
        text(&item, keys::GSI1SK),
        keys::dispute_sort_key(T0_MS + 10_000, &id).as_deref()
    );
    assert!(!item.contains_key(keys::GSI3PK), "owes nothing: {item:?}");
    for event in &write.events {
        assert!(
            raw(&store, keys::event_pk(&event.id), keys::SK_EVENT)
                .await
                .is_some()
        );
    }

    // The notice delivered again: as sent, and planned again from what is stored now (the
    // charge and split conditions hold then; the dispute existing is what refuses it).
    let opened = snapshot(&store, &c, &id).await;
    assert_eq!(open(&store, &write).await, MoneyOutOutcome::Conflict);
    let again = opening(
        &store,
        &opened.charge,
        &opened.splits,
        dispute_of(&c, "inf-won", 1_000, Merchant, T0_MS + 11_000),
    )
    .await;
    assert_eq!(again.dispute.id, id);
    assert_eq!(open(&store, &again).await, MoneyOutOutcome::Conflict);
    assert_eq!(snapshot(&store, &c, &id).await, opened);

    // A defence at the version read; a second one planned from the same read conflicts.
    let defended = write
        .dispute
        .defended("delivered, signed receipt", at_ms(T0_MS + 20_000))
        .expect("in time");
    let defence = DefendDispute {
        dispute: defended.clone(),
        from_version: 0,
    };
    assert_eq!(
        store.defend_dispute(&defence).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(stored_dispute(&store, &id).await, defended);
    assert_eq!(
        text(&raw_dispute(&store, &id).await, keys::GSI2PK),
        Some(keys::disputes_by_state_pk(&account, DisputeState::Defended).as_str())
    );
    let stale_defence = DefendDispute {
        dispute: write
            .dispute
            .defended("another story", at_ms(T0_MS + 20_000))
            .expect("in time"),
        from_version: 0,
    };
    assert_eq!(
        store.defend_dispute(&stale_defence).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(stored_dispute(&store, &id).await, defended);

    // A decision planned from the dispute as opened (version 0) conflicts, nothing written.
    let c = stored_charge(&store, &c).await;
    let entries = splits(&store, &c).await;
    let stale = decision(
        &c,
        &write.dispute,
        &entries,
        DisputeOutcome::Won,
        T0_MS + 30_000,
    );
    let defended_state = snapshot(&store, &c, &id).await;
    assert_eq!(
        store.decide_dispute(&stale).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(snapshot(&store, &c, &id).await, defended_state);
    assert_nothing_of(&store, &stale.movement.id, &stale.events).await;

    // Won from what is stored: the split pays its full share again, the money goes back.
    let won = decision(&c, &defended, &entries, DisputeOutcome::Won, T0_MS + 30_000);
    assert_eq!(won.restored.len(), 1);
    assert_eq!(store.decide_dispute(&won).await, Ok(WriteOutcome::Applied));
    let stored = stored_dispute(&store, &id).await;
    assert_eq!(stored, won.dispute);
    assert_eq!((stored.state, stored.version), (DisputeState::Won, 2));
    assert_eq!(stored_charge(&store, &c).await, won.charge);
    let restored = splits(&store, &c).await[1].clone();
    assert_eq!(
        (restored.state, restored.refunded),
        (SplitState::Scheduled, Money::ZERO)
    );
    assert_eq!(restored.payable().cents(), SCHEDULED_SHARE);
    assert_eq!(balance(&store, &account).await, before);
    assert_eq!(
        text(&raw_dispute(&store, &id).await, keys::GSI2PK),
        Some(keys::disputes_by_state_pk(&account, DisputeState::Won).as_str())
    );
    // Delivered again: decided already, nothing changes.
    let decided = snapshot(&store, &c, &id).await;
    assert_eq!(store.decide_dispute(&won).await, Ok(WriteOutcome::Conflict));
    assert_eq!(snapshot(&store, &c, &id).await, decided);

    // The ledger tells the same story: confirm, book, open, won.
    let movements = eventually(
        || async { store.list_movements(&account).await.expect("movements") },
        |m| m.len() >= 4,
    )
    .await;
    assert_eq!(movements.len(), 4);
    assert_eq!(Balance::from_movements(&account, &movements), before);
}

#[tokio::test]
async fn a_lost_dispute_makes_the_paid_splits_part_its_recipients_debt() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let book = booked_at(&store, &account, T0_MS).await;
    assert_eq!(
        store
            .settle_payout(&settle_write(&book, PayoutState::Paid, T0_MS + 3_000))
            .await,
        Ok(WriteOutcome::Applied)
    );
    let c = store
        .get_charge(&book.transaction_id)
        .await
        .expect("get")
        .expect("charge");
    let entries = splits(&store, &c).await;
    assert_eq!(entries[0].state, SplitState::Paid);
    let before = balance(&store, &account).await;

    let write = opening(
        &store,
        &c,
        &entries,
        dispute_of(&c, "inf-lost", 2_000, Proportional, T0_MS + 10_000),
    )
    .await;
    assert_eq!(open(&store, &write).await, MoneyOutOutcome::Applied);

    let c = stored_charge(&store, &c).await;
    let entries = splits(&store, &c).await;
    let lost = decision(
        &c,
        &write.dispute,
        &entries,
        DisputeOutcome::Lost,
        T0_MS + 30_000,
    );
    // The paid split's part, 200 of 2,000 × 1,000 / 10,000.
    assert_eq!(lost.debts.len(), 1);
    assert_eq!(lost.debts[0].amount.cents(), 200);
    assert_eq!(store.decide_dispute(&lost).await, Ok(WriteOutcome::Applied));
    let id = &write.dispute.id;
    assert_eq!(stored_dispute(&store, id).await, lost.dispute);
    assert_eq!(stored_charge(&store, &c).await, lost.charge);
    // The reduction made at opening is final.
    assert_eq!(splits(&store, &c).await[1].refunded.cents(), 100);

    let debtor = RecipientId::derive(&account, entries[0].recipient().grouping_key());
    let recipient = store
        .get_recipient(&account, &debtor)
        .await
        .expect("get")
        .expect("recipient");
    assert_eq!(recipient.debt.cents(), 200);
    assert_eq!(recipient.open_debts, vec![lost.debts[0].part()]);
    assert_eq!(
        recipient.open_debts[0].refund_id,
        write.dispute.devolution_id()
    );

    let after = balance(&store, &account).await;
    assert_eq!(after.held.cents(), 0);
    assert_eq!(after.recipient_debts.cents(), 200);
    assert_eq!(after.available.cents(), before.available.cents() - 1_900);
    assert_eq!(
        after.reserved_for_splits.cents(),
        before.reserved_for_splits.cents() - 100
    );
    for event in &lost.events {
        assert!(
            raw(&store, keys::event_pk(&event.id), keys::SK_EVENT)
                .await
                .is_some()
        );
    }
}

#[tokio::test]
async fn an_opening_planned_before_a_refund_of_the_charge_conflicts_and_writes_nothing() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let (c, entries) = booked(&store, &account, T0_MS).await;
    let write = opening(
        &store,
        &c,
        &entries,
        dispute_of(&c, "inf-race", 1_000, Merchant, T0_MS + 10_000),
    )
    .await;
    let refund = refund_write(&store, &c, &entries, 1_000, Merchant, T0_MS + 9_000).await;
    assert_eq!(
        store.request_refund(&refund).await.expect("refund"),
        MoneyOutOutcome::Applied
    );
    let id = write.dispute.id.clone();
    let refunded = snapshot(&store, &c, &id).await;
    assert_eq!(open(&store, &write).await, MoneyOutOutcome::Conflict);
    assert_eq!(snapshot(&store, &c, &id).await, refunded);
    assert!(refunded.dispute.is_none());
    assert_nothing_of(&store, &write.movement.id, &write.events).await;
}

#[tokio::test]
async fn an_opening_whose_draw_was_spent_meanwhile_is_balance_changed() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let (c1, e1) = booked(&store, &account, T0_MS).await;
    let (c2, e2) = booked(&store, &account, T0_MS + 100).await;
    assert_eq!(
        balance(&store, &account).await.available.cents(),
        2 * REMAINDER
    );
    // Both planned from the same read of the shards: they draw from the same ones.
    let first = opening(
        &store,
        &c1,
        &e1,
        dispute_of(&c1, "inf-a", 9_000, Merchant, T0_MS + 10_000),
    )
    .await;
    let second = opening(
        &store,
        &c2,
        &e2,
        dispute_of(&c2, "inf-b", 9_000, Merchant, T0_MS + 10_000),
    )
    .await;
    assert_eq!(second.dispute.hold.owed, 0);
    assert_eq!(open(&store, &first).await, MoneyOutOutcome::Applied);
    let id = second.dispute.id.clone();
    let spent = snapshot(&store, &c2, &id).await;
    assert_eq!(open(&store, &second).await, MoneyOutOutcome::BalanceChanged);
    assert_eq!(snapshot(&store, &c2, &id).await, spent);
    assert_nothing_of(&store, &second.movement.id, &second.events).await;

    // Planned again: `available` covers 8,000 of it, the rest is owed.
    let again = opening(
        &store,
        &spent.charge,
        &spent.splits,
        dispute_of(&c2, "inf-b", 9_000, Merchant, T0_MS + 11_000),
    )
    .await;
    assert_eq!(
        (again.dispute.hold.from_available, again.dispute.hold.owed),
        (2 * REMAINDER - 9_000, 9_000 - (2 * REMAINDER - 9_000))
    );
    assert_eq!(open(&store, &again).await, MoneyOutOutcome::Applied);
    let after = balance(&store, &account).await;
    assert_eq!(after.available.cents(), 0);
    assert_eq!(after.owed.cents(), -again.dispute.hold.owed);
}

/// Every page of `query` from the start, following the cursors.
async fn walk(store: &DynamoStore, account: &AccountId, query: DisputeQuery) -> Vec<DisputePage> {
    let mut pages = Vec::new();
    let mut query = query;
    loop {
        let page = store.list_disputes(account, &query).await.expect("list");
        let next = page.next.clone();
        pages.push(page);
        match next {
            Some(cursor) => query.after = Some(cursor),
            None => return pages,
        }
        assert!(pages.len() < 20, "a walk that does not end");
    }
}

fn ids(pages: &[DisputePage]) -> Vec<DisputeId> {
    pages
        .iter()
        .flat_map(|p| p.items.iter().map(|d| d.id.clone()))
        .collect()
}

#[tokio::test]
async fn listings_page_newest_first_by_status_without_losing_any() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let (c, _) = booked(&store, &account, T0_MS).await;
    // Three disputes of one charge: one opened first, two in the same millisecond after.
    let mut opened: Vec<Dispute> = Vec::new();
    for (infraction, at) in [
        ("inf-1", T0_MS + 10_000),
        ("inf-2", T0_MS + 20_000),
        ("inf-3", T0_MS + 20_000),
    ] {
        let c = stored_charge(&store, &c).await;
        let entries = splits(&store, &c).await;
        let write = opening(
            &store,
            &c,
            &entries,
            dispute_of(&c, infraction, 500, Merchant, at),
        )
        .await;
        assert_eq!(open(&store, &write).await, MoneyOutOutcome::Applied);
        opened.push(write.dispute);
    }
    let oldest = opened[0].clone();
    let defended = oldest
        .defended("delivered", at_ms(T0_MS + 30_000))
        .expect("in time");
    assert_eq!(
        store
            .defend_dispute(&DefendDispute {
                dispute: defended.clone(),
                from_version: 0,
            })
            .await,
        Ok(WriteOutcome::Applied)
    );
    // Another account's dispute is never listed here.
    let other = AccountId::generate();
    let (oc, oe) = booked(&store, &other, T0_MS).await;
    let foreign = opening(
        &store,
        &oc,
        &oe,
        dispute_of(&oc, "inf-foreign", 500, Merchant, T0_MS + 15_000),
    )
    .await;
    assert_eq!(open(&store, &foreign).await, MoneyOutOutcome::Applied);

    // Newest first: (opened, id) descending.
    let mut newest_first: Vec<Dispute> = opened.clone();
    newest_first.sort_by(|a, b| (b.opened_at, &b.id).cmp(&(a.opened_at, &a.id)));
    let expected: Vec<DisputeId> = newest_first.iter().map(|d| d.id.clone()).collect();
    let all = |limit| DisputeQuery {
        status: None,
        limit,
        after: None,
    };
    // The index lags the table a moment: wait until it shows the defence.
    let settled = eventually(
        || async {
            store
                .list_disputes(&account, &all(100))
                .await
                .expect("list")
        },
        |page| {
            page.items.len() == 3 && page.items.iter().any(|d| d.state == DisputeState::Defended)
        },
    )
    .await;
    assert_eq!(
        settled
            .items
            .iter()
            .map(|d| d.id.clone())
            .collect::<Vec<_>>(),
        expected
    );
    assert_eq!(settled.next, None);

    // Pages of 2, then 1: nothing lost at the boundary, no cursor after the last page.
    let pages = walk(&store, &account, all(2)).await;
    assert_eq!(
        pages.iter().map(|p| p.items.len()).collect::<Vec<_>>(),
        vec![2, 1]
    );
    assert_eq!(pages[0].next, Some(DisputeCursor::of(&newest_first[1])));
    assert_eq!(ids(&pages), expected);
    // Pages of 1: the first boundary falls between two disputes of the same millisecond.
    let pages = walk(&store, &account, all(1)).await;
    assert_eq!(pages.len(), 3);
    assert_eq!(ids(&pages), expected);
    // Out-of-range limits are clamped, not sent.
    assert_eq!(ids(&walk(&store, &account, all(0)).await), expected);
    assert_eq!(ids(&walk(&store, &account, all(100_000)).await), expected);

    // By status: OPEN holds the two newest, across a page boundary; DEFENDED the oldest.
    let by = |status, limit| DisputeQuery {
        status: Some(status),
        limit,
        after: None,
    };
    let open_pages = walk(&store, &account, by(DisputeState::Open, 1)).await;
    assert_eq!(ids(&open_pages), expected[..2].to_vec());
    assert_eq!(open_pages.len(), 2);
    let defended_pages = walk(&store, &account, by(DisputeState::Defended, 2)).await;
    assert_eq!(ids(&defended_pages), vec![oldest.id.clone()]);
    assert_eq!(defended_pages[0].items[0], defended);
    assert_eq!(defended_pages[0].next, None);
    assert!(ids(&walk(&store, &account, by(DisputeState::Won, 2)).await).is_empty());

    // A cursor past the oldest lists nothing; one before 1970 too.
    let past_oldest = DisputeQuery {
        after: Some(DisputeCursor::of(&oldest)),
        ..all(10)
    };
    assert_eq!(
        store.list_disputes(&account, &past_oldest).await,
        Ok(DisputePage::default())
    );
    let before_epoch = DisputeQuery {
        after: Some(DisputeCursor {
            opened_at_ms: -5,
            dispute_id: oldest.id.clone(),
        }),
        ..all(10)
    };
    assert_eq!(
        store.list_disputes(&account, &before_epoch).await,
        Ok(DisputePage::default())
    );
}

#[tokio::test]
async fn the_owing_index_follows_what_a_dispute_owes_and_a_booking_repays_it_once() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let (c, entries) = booked(&store, &account, T0_MS).await;
    // The whole charge under the MERCHANT rule: the scheduled split is cancelled (500 from its
    // reserve), `available` holds 8,500 of the 9,500 left: 1,000 owed.
    let write = opening(
        &store,
        &c,
        &entries,
        dispute_of(&c, "inf-owing", 10_000, Merchant, T0_MS + 10_000),
    )
    .await;
    assert_eq!(
        write.dispute.hold,
        DisputeHold {
            from_reserve: SCHEDULED_SHARE,
            from_available: REMAINDER,
            owed: 1_000
        }
    );
    assert_eq!(open(&store, &write).await, MoneyOutOutcome::Applied);
    let id = write.dispute.id.clone();
    let item = raw_dispute(&store, &id).await;
    assert_eq!(
        text(&item, keys::GSI3PK),
        Some(keys::owing_disputes_pk(&account).as_str())
    );
    assert_eq!(text(&item, keys::GSI3SK), text(&item, keys::GSI1SK));
    let owing = eventually(
        || async { store.owing_disputes(&account).await.expect("owing") },
        |o| !o.is_empty(),
    )
    .await;
    assert_eq!(owing, vec![write.dispute.clone()]);
    assert_eq!(balance(&store, &account).await.owed.cents(), -1_000);
    // Another account owes nothing.
    assert_eq!(
        store.owing_disputes(&AccountId::generate()).await,
        Ok(Vec::new())
    );

    // A defence moves the version on: a booking that read the dispute before it conflicts
    // as a whole — no split, no payout, no movement, the dispute untouched.
    let defended = write
        .dispute
        .defended("delivered", at_ms(T0_MS + 15_000))
        .expect("in time");
    assert_eq!(
        store
            .defend_dispute(&DefendDispute {
                dispute: defended.clone(),
                from_version: 0,
            })
            .await,
        Ok(WriteOutcome::Applied)
    );
    let next = confirmed(&store, &account, T0_MS + 20_000).await;
    let stale = repaying(&book_write(&next, T0_MS + 22_000), &write.dispute, 600);
    let before = balance(&store, &account).await;
    assert_eq!(store.book_splits(&stale).await, Ok(WriteOutcome::Conflict));
    assert!(splits(&store, &next).await.is_empty());
    assert_eq!(store.get_payout(&stale.payouts[0].id).await, Ok(None));
    assert_nothing_of(&store, &stale.movement.id, &[]).await;
    assert_eq!(stored_dispute(&store, &id).await, defended);
    assert_eq!(balance(&store, &account).await, before);

    // From the dispute as stored: 600 paid, 400 still owed, still in the index.
    let book = repaying(&book_write(&next, T0_MS + 22_000), &defended, 600);
    assert_eq!(store.book_splits(&book).await, Ok(WriteOutcome::Applied));
    let partly = stored_dispute(&store, &id).await;
    assert_eq!(partly, book.repayments[0].dispute);
    assert_eq!((partly.still_owed, partly.version), (400, 2));
    assert!(raw_dispute(&store, &id).await.contains_key(keys::GSI3PK));
    let after = balance(&store, &account).await;
    assert_eq!(after.owed.cents(), -400);
    assert_eq!(
        after.available.cents(),
        before.available.cents() + REMAINDER - 600
    );
    // Delivered again: booked already, the dispute is not paid twice.
    assert_eq!(store.book_splits(&book).await, Ok(WriteOutcome::Conflict));
    assert_eq!(stored_dispute(&store, &id).await, partly);
    assert_eq!(balance(&store, &account).await, after);
    let owing = eventually(
        || async { store.owing_disputes(&account).await.expect("owing") },
        |o| o.first().is_some_and(|d| d.still_owed == 400),
    )
    .await;
    assert_eq!(owing, vec![partly.clone()]);

    // The last 400: out of the index.
    let third = confirmed(&store, &account, T0_MS + 40_000).await;
    let book = repaying(&book_write(&third, T0_MS + 42_000), &partly, 400);
    assert_eq!(store.book_splits(&book).await, Ok(WriteOutcome::Applied));
    let paid = stored_dispute(&store, &id).await;
    assert_eq!((paid.still_owed, paid.version), (0, 3));
    let item = raw_dispute(&store, &id).await;
    assert!(
        !item.contains_key(keys::GSI3PK) && !item.contains_key(keys::GSI3SK),
        "{item:?}"
    );
    assert_eq!(balance(&store, &account).await.owed.cents(), 0);
    let owing = eventually(
        || async { store.owing_disputes(&account).await.expect("owing") },
        Vec::is_empty,
    )
    .await;
    assert!(owing.is_empty());
}

#[tokio::test]
async fn a_won_dispute_clears_what_it_owes_and_restores_a_cancelled_split() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let (c, entries) = booked(&store, &account, T0_MS).await;
    let before = balance(&store, &account).await;
    let write = opening(
        &store,
        &c,
        &entries,
        dispute_of(&c, "inf-clear", 10_000, Merchant, T0_MS + 10_000),
    )
    .await;
    assert_eq!(open(&store, &write).await, MoneyOutOutcome::Applied);
    assert_eq!(splits(&store, &c).await[1].state, SplitState::Cancelled);
    assert!(
        raw_dispute(&store, &write.dispute.id)
            .await
            .contains_key(keys::GSI3PK)
    );

    let c = stored_charge(&store, &c).await;
    let won = decision(
        &c,
        &write.dispute,
        &splits(&store, &c).await,
        DisputeOutcome::Won,
        T0_MS + 30_000,
    );
    assert_eq!(store.decide_dispute(&won).await, Ok(WriteOutcome::Applied));
    let stored = stored_dispute(&store, &write.dispute.id).await;
    assert_eq!((stored.state, stored.still_owed), (DisputeState::Won, 0));
    assert!(
        !raw_dispute(&store, &write.dispute.id)
            .await
            .contains_key(keys::GSI3PK)
    );
    let split = splits(&store, &c).await[1].clone();
    assert_eq!(
        (split.state, split.refunded),
        (SplitState::Scheduled, Money::ZERO)
    );
    assert_eq!(balance(&store, &account).await, before);
    let owing = eventually(
        || async { store.owing_disputes(&account).await.expect("owing") },
        Vec::is_empty,
    )
    .await;
    assert!(owing.is_empty());
}

#[tokio::test]
async fn writes_that_do_not_add_up_are_refused_before_anything_is_sent() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let (c, entries) = booked(&store, &account, T0_MS).await;
    let write = opening(
        &store,
        &c,
        &entries,
        dispute_of(&c, "inf-bad", 10_000, Merchant, T0_MS + 10_000),
    )
    .await;
    let id = write.dispute.id.clone();
    let (other, _) = booked(&store, &account, T0_MS + 100).await;
    let untouched = snapshot(&store, &c, &id).await;

    // The charge without the dispute's claim.
    let unclaimed = OpenDispute {
        charge: c.clone(),
        ..write.clone()
    };
    assert!(matches!(
        store.open_dispute(&unclaimed).await,
        Err(StoreError::Unavailable(_))
    ));
    // A dispute of another charge.
    let elsewhere = OpenDispute {
        dispute: Dispute {
            transaction_id: other.transaction_id.clone(),
            ..write.dispute.clone()
        },
        ..write.clone()
    };
    assert!(matches!(
        store.open_dispute(&elsewhere).await,
        Err(StoreError::Unavailable(_))
    ));
    assert_eq!(snapshot(&store, &c, &id).await, untouched);

    assert_eq!(open(&store, &write).await, MoneyOutOutcome::Applied);
    // A defence that does not move the version.
    let mut same_version = write
        .dispute
        .defended("delivered", at_ms(T0_MS + 15_000))
        .expect("in time");
    same_version.version = 0;
    assert!(matches!(
        store
            .defend_dispute(&DefendDispute {
                dispute: same_version,
                from_version: 0,
            })
            .await,
        Err(StoreError::Unavailable(_))
    ));
    // A won decision that indebts a recipient, a decision that decides nothing.
    let c = stored_charge(&store, &c).await;
    let entries = splits(&store, &c).await;
    let mut won = decision(
        &c,
        &write.dispute,
        &entries,
        DisputeOutcome::Won,
        T0_MS + 30_000,
    );
    won.debts
        .push(pixgw_domain::refund::liability::DebtIncrease {
            recipient_id: RecipientId::derive(&account, entries[0].recipient().grouping_key()),
            recipient: entries[0].recipient(),
            amount: Money::from_cents(1),
            refund_id: write.dispute.devolution_id(),
            transaction_id: c.transaction_id.clone(),
        });
    assert!(matches!(
        store.decide_dispute(&won).await,
        Err(StoreError::Unavailable(_))
    ));
    let mut undecided = decision(
        &c,
        &write.dispute,
        &entries,
        DisputeOutcome::Won,
        T0_MS + 30_000,
    );
    undecided.dispute.state = DisputeState::Defended;
    assert!(matches!(
        store.decide_dispute(&undecided).await,
        Err(StoreError::Unavailable(_))
    ));
    assert_eq!(stored_dispute(&store, &id).await, write.dispute);

    // A booking whose repayment the movement does not pay.
    let next = confirmed(&store, &account, T0_MS + 40_000).await;
    let mut book = repaying(&book_write(&next, T0_MS + 42_000), &write.dispute, 600);
    book.repayments[0].paid = 500;
    assert!(matches!(
        store.book_splits(&book).await,
        Err(StoreError::Unavailable(_))
    ));
    let unpaid = pixgw_domain::split::ports::BookSplits {
        repayments: Vec::new(),
        ..book.clone()
    };
    assert!(matches!(
        store.book_splits(&unpaid).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(splits(&store, &next).await.is_empty());
    assert_eq!(stored_dispute(&store, &id).await, write.dispute);
}
