//! Partial refunds with a declared liability against DynamoDB Local: a refund write requires
//! the charge's refund revision and each reduced split's `refundedCents` as read (a stale one
//! conflicts and writes nothing), refuses a split attached to a payout meanwhile, creates a
//! recipient's debt item and grows it, books the debts in the `recipientDebts` bucket; a charge
//! transition requires the revision too; the payout scheduler's attach requires the
//! `refundedCents` it read and pays what is left of a reduced split.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::refund::refund_write;
use common::scheduled::{booked_at, header};
use common::settlement::{
    GROSS, REMAINDER, SCHEDULED_SHARE, confirm_write, eventually, settle_write, split_charge,
};
use common::{T0_MS, at_ms, fresh_store};
use pixgw_domain::charge::ports::{ChargeStore, ChargeTransition, ChargeTransitions};
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::ledger::ports::{LedgerStore, MoneyOutOutcome};
use pixgw_domain::ledger::{BALANCE_SHARDS, Balance, LedgerAccount};
use pixgw_domain::payout::PayoutState;
use pixgw_domain::payout::ports::PayoutStore;
use pixgw_domain::payout::runs::{AttachSplits, PayoutRunStore};
use pixgw_domain::pix::ids::{AccountId, RecipientId, RefundId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::recipient::Recipient;
use pixgw_domain::recipient::ports::RecipientStore;
use pixgw_domain::refund::RefundLiability::{Merchant, Proportional};
use pixgw_domain::refund::liability::DebtIncrease;
use pixgw_domain::refund::ports::{RefundStore, RequestRefund};
use pixgw_domain::refund::record::RefundRecord;
use pixgw_domain::refund::{RefundLiability, RefundState};
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

async fn raw_charge(store: &DynamoStore, c: &Charge) -> Item {
    raw(store, keys::charge_pk(&c.transaction_id), keys::SK_CHARGE)
        .await
        .expect("charge item")
}

fn number(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().ok(),
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

async fn splits(store: &DynamoStore, c: &Charge) -> Vec<SplitEntry> {
    store.get_splits(&c.transaction_id).await.expect("splits")
}

/// A charge of `account` confirmed and booked (split 0 PROCESSING in its immediate payout,
/// split 1 SCHEDULED), as stored, with its splits.
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

/// [`booked`], with the immediate split's payout then PAID.
async fn booked_and_paid(
    store: &DynamoStore,
    account: &AccountId,
    at: i64,
) -> (Charge, Vec<SplitEntry>) {
    let book = booked_at(store, account, at).await;
    assert_eq!(
        store
            .settle_payout(&settle_write(&book, PayoutState::Paid, at + 3_000))
            .await,
        Ok(WriteOutcome::Applied)
    );
    let c = store
        .get_charge(&book.transaction_id)
        .await
        .expect("get")
        .expect("charge");
    let entries = splits(store, &c).await;
    assert_eq!(entries[0].state, SplitState::Paid);
    (c, entries)
}

async fn request(store: &DynamoStore, write: &RequestRefund) -> MoneyOutOutcome {
    store.request_refund(write).await.expect("refund request")
}

/// Everything a refund write could have touched, to compare before and after one that must
/// write nothing.
#[derive(Debug, PartialEq)]
struct Snapshot {
    charge: Charge,
    splits: Vec<SplitEntry>,
    balance: Balance,
    recipients: Vec<Option<Recipient>>,
}

async fn snapshot(store: &DynamoStore, c: &Charge, recipients: &[RecipientId]) -> Snapshot {
    let mut stored = Vec::new();
    for id in recipients {
        stored.push(
            store
                .get_recipient(&c.account_id, id)
                .await
                .expect("recipient"),
        );
    }
    Snapshot {
        charge: stored_charge(store, c).await,
        splits: splits(store, c).await,
        balance: store.get_balance(&c.account_id).await.expect("balance"),
        recipients: stored,
    }
}

/// A write that conflicted left none of its own items behind either.
async fn assert_nothing_of(store: &DynamoStore, write: &RequestRefund) {
    assert!(
        !store
            .movement_exists(&write.movement.id)
            .await
            .expect("movement")
    );
    for message in &write.outbox {
        assert!(
            raw(store, keys::outbox_pk(&message.id), keys::SK_OUTBOX)
                .await
                .is_none()
        );
    }
}

fn recipient_of(split: &SplitEntry) -> RecipientId {
    RecipientId::derive(&split.account_id, split.recipient().grouping_key())
}

#[tokio::test]
async fn a_refund_planned_from_a_stale_revision_conflicts_and_writes_nothing() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let (c, entries) = booked(&store, &account, T0_MS).await;
    // A first refund in flight: the charge is REFUND_PROCESSING, and stays so while the next
    // ones are requested, so its status cannot tell them apart; only the revision can.
    let opening = refund_write(&store, &c, &entries, 500, Merchant, T0_MS + 5_000).await;
    assert_eq!(request(&store, &opening).await, MoneyOutOutcome::Applied);
    let c = stored_charge(&store, &c).await;
    assert_eq!(
        (c.status, c.refund_revision),
        (ChargeStatus::RefundProcessing, 1)
    );

    // Two refunds planned from the same read. MERCHANT: no split is reduced and `available`
    // covers both draws, so the charge's revision is the only thing the second finds changed.
    let first = refund_write(&store, &c, &entries, 1_000, Merchant, T0_MS + 10_000).await;
    let second = refund_write(&store, &c, &entries, 2_000, Merchant, T0_MS + 10_000).await;
    assert!(first.reduced.is_empty() && second.reduced.is_empty());
    assert_eq!(request(&store, &first).await, MoneyOutOutcome::Applied);
    let after_first = snapshot(&store, &c, &[]).await;
    assert_eq!(after_first.charge, first.charge);
    assert_eq!(after_first.charge.status, second.from);
    assert_eq!(after_first.charge.refund_revision, 2);

    assert_eq!(request(&store, &second).await, MoneyOutOutcome::Conflict);
    assert_eq!(snapshot(&store, &c, &[]).await, after_first);
    assert_nothing_of(&store, &second).await;

    // Planned again from what is stored: applied, the revision moves on.
    let again = refund_write(
        &store,
        &after_first.charge,
        &after_first.splits,
        2_000,
        Merchant,
        T0_MS + 11_000,
    )
    .await;
    assert_eq!(request(&store, &again).await, MoneyOutOutcome::Applied);
    let stored = stored_charge(&store, &c).await;
    assert_eq!(stored, again.charge);
    assert_eq!(stored.refunds.len(), 3);
    assert_eq!(stored.refund_revision, 3);
    assert_eq!(stored.committed_refunds().cents(), 3_500);
    let item = raw_charge(&store, &c).await;
    assert_eq!(number(&item, "refundRevision"), Some(3));
    assert!(!item.contains_key("refund"), "{item:?}");
    assert_eq!(
        store
            .get_balance(&account)
            .await
            .expect("balance")
            .available
            .cents(),
        REMAINDER - 3_500
    );
}

#[tokio::test]
async fn a_refund_reducing_a_split_attached_to_a_payout_meanwhile_conflicts() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let (c, entries) = booked(&store, &account, T0_MS).await;
    let write = refund_write(&store, &c, &entries, 2_000, Proportional, T0_MS + 10_000).await;
    assert_eq!(write.reduced.len(), 1);
    assert_eq!(write.reduced[0].entry.index, 1);
    let debtor = recipient_of(&entries[0]);

    // The payout scheduler takes split 1 between the refund's read and its write.
    let attach = AttachSplits {
        payout: header(&account, at_ms(T0_MS + 60_000), &entries[1]),
        splits: vec![entries[1].clone()],
        now: at_ms(T0_MS + 60_000),
    };
    assert_eq!(
        store.attach_splits(&attach).await,
        Ok(WriteOutcome::Applied)
    );
    let before = snapshot(&store, &c, std::slice::from_ref(&debtor)).await;
    assert_eq!(before.splits[1].state, SplitState::Processing);

    assert_eq!(request(&store, &write).await, MoneyOutOutcome::Conflict);
    assert_eq!(snapshot(&store, &c, &[debtor]).await, before);
    assert_nothing_of(&store, &write).await;
    assert!(before.charge.refunds.is_empty());
}

#[tokio::test]
async fn a_refund_planned_from_a_stale_split_conflicts_and_writes_nothing() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let (c, entries) = booked(&store, &account, T0_MS).await;
    let first = refund_write(&store, &c, &entries, 1_000, Proportional, T0_MS + 10_000).await;
    assert_eq!(request(&store, &first).await, MoneyOutOutcome::Applied);
    // 1,000 × 500 / 10,000.
    let part = 50;
    let after_first = snapshot(&store, &c, &[]).await;
    assert_eq!(after_first.splits[1].refunded.cents(), part);
    assert_eq!(after_first.splits[1].state, SplitState::Scheduled);

    // The charge as stored (its revision is right) but split 1 as read before the first
    // refund: only its `refundedCents` differs, and the write would lose the first part.
    let stale = refund_write(
        &store,
        &after_first.charge,
        &entries,
        2_000,
        Proportional,
        T0_MS + 11_000,
    )
    .await;
    assert_eq!(stale.reduced.len(), 1);
    assert_eq!(stale.reduced[0].refunded_before.cents(), 0);
    assert_eq!(request(&store, &stale).await, MoneyOutOutcome::Conflict);
    assert_eq!(snapshot(&store, &c, &[]).await, after_first);
    assert_nothing_of(&store, &stale).await;

    // From the splits as stored: applied, the parts add up.
    let fresh = refund_write(
        &store,
        &after_first.charge,
        &after_first.splits,
        2_000,
        Proportional,
        T0_MS + 11_000,
    )
    .await;
    assert_eq!(request(&store, &fresh).await, MoneyOutOutcome::Applied);
    let stored = splits(&store, &c).await;
    assert_eq!(stored[1].refunded.cents(), part + 100);
    assert_eq!(stored[1].payable().cents(), SCHEDULED_SHARE - part - 100);
    assert_eq!(stored[1], fresh.reduced[0].entry);
    let item = raw(
        &store,
        keys::charge_pk(&c.transaction_id),
        &keys::split_sk(1),
    )
    .await
    .expect("split item");
    assert_eq!(number(&item, "refundedCents"), Some(part + 100));
    // Still SCHEDULED, so still in the scheduler's index.
    assert!(item.contains_key(keys::GSI2PK));
}

#[tokio::test]
async fn a_paid_split_becomes_a_recipient_debt_that_grows_with_each_refund() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let (c, entries) = booked_and_paid(&store, &account, T0_MS).await;
    let debtor = recipient_of(&entries[0]);
    let booked = store
        .get_recipient(&account, &debtor)
        .await
        .expect("get")
        .expect("created by the booking");
    assert_eq!((booked.debt, booked.open_debts.len()), (Money::ZERO, 0));

    // 2,000 proportionally: the paid split's part, 200, is owed by its recipient; the
    // scheduled split gives up 100 of its reserve; `available` pays the rest, debt included.
    let first = refund_write(&store, &c, &entries, 2_000, Proportional, T0_MS + 10_000).await;
    assert_eq!(first.debts.len(), 1);
    assert_eq!(first.debts[0].amount.cents(), 200);
    assert_eq!(request(&store, &first).await, MoneyOutOutcome::Applied);
    let first_part = first.debts[0].part();
    assert_eq!(
        (&first_part.refund_id, &first_part.transaction_id),
        (&first.charge.refunds[0].id, &c.transaction_id)
    );
    // Its totals are the booking's and the payouts' business (checked elsewhere).
    let totals = store
        .get_recipient(&account, &debtor)
        .await
        .expect("get")
        .expect("recipient");
    let expected = Recipient {
        id: debtor.clone(),
        account_id: account.clone(),
        recipient: entries[0].recipient(),
        debt: Money::from_cents(200),
        open_debts: vec![first_part.clone()],
        recovering: Money::ZERO,
        version: 1,
        scheduled: totals.scheduled,
        paid: totals.paid,
    };
    assert_eq!(
        store.get_recipient(&account, &debtor).await,
        Ok(Some(expected.clone()))
    );
    let item = raw(
        &store,
        keys::recipients_pk(&account),
        &keys::recipient_sk(&debtor),
    )
    .await
    .expect("recipient item");
    assert_eq!(
        item.get("entity"),
        Some(&AttributeValue::S("RECIPIENT".into()))
    );
    assert_eq!(number(&item, "debtCents"), Some(200));
    assert_eq!(recipient_debts_attribute(&store, &account).await, 200);
    let balance = store.get_balance(&account).await.expect("balance");
    assert_eq!(balance.recipient_debts.cents(), 200);
    assert_eq!(
        balance.available.cents(),
        REMAINDER - (2_000 - 100),
        "the account fronts the debt"
    );

    // A second refund of the same charge adds to the same item.
    let c = stored_charge(&store, &c).await;
    let second = refund_write(
        &store,
        &c,
        &splits(&store, &c).await,
        3_000,
        Proportional,
        T0_MS + 20_000,
    )
    .await;
    assert_eq!(second.debts[0].amount.cents(), 300);
    assert_eq!(request(&store, &second).await, MoneyOutOutcome::Applied);
    // Its part joins the END of the queue (FIFO: the oldest debt is recovered first), and
    // the version moves on.
    assert_eq!(
        store.get_recipient(&account, &debtor).await,
        Ok(Some(Recipient {
            debt: Money::from_cents(500),
            open_debts: vec![first_part, second.debts[0].part()],
            version: 2,
            ..expected
        }))
    );
    let item = raw(
        &store,
        keys::recipients_pk(&account),
        &keys::recipient_sk(&debtor),
    )
    .await
    .expect("recipient item");
    assert_eq!(number(&item, "version"), Some(2));
    let queued: Vec<i64> = match item.get("openDebts") {
        Some(AttributeValue::L(parts)) => parts
            .iter()
            .map(|p| match p {
                AttributeValue::M(m) => number(m, "amountCents").expect("amountCents"),
                other => panic!("a part that is not a map: {other:?}"),
            })
            .collect(),
        other => panic!("openDebts is not a list: {other:?}"),
    };
    assert_eq!(queued, vec![200, 300]);
    assert_eq!(recipient_debts_attribute(&store, &account).await, 500);
    let balance = store.get_balance(&account).await.expect("balance");
    assert_eq!(balance.recipient_debts.cents(), 500);
    assert_eq!(
        balance.reserved_for_splits.cents(),
        SCHEDULED_SHARE - 100 - 150
    );

    // The ledger tells the same story: the balance is the sum of the movements (confirm,
    // book, payout paid, two refunds), and the recipient's legs are minus its debt.
    let movements = eventually(
        || async { store.list_movements(&account).await.expect("movements") },
        |m| m.len() >= 5,
    )
    .await;
    assert_eq!(movements.len(), 5);
    assert_eq!(Balance::from_movements(&account, &movements), balance);
    let recipient_legs: i64 = movements
        .iter()
        .flat_map(|m| &m.legs)
        .filter(|l| l.account == LedgerAccount::Recipient(account.clone(), debtor.clone()))
        .map(|l| l.amount.cents())
        .sum();
    assert_eq!(recipient_legs, -500);
    // Σ all legs = 0 (the PIX network included).
    let total: i64 = movements
        .iter()
        .flat_map(|m| &m.legs)
        .map(|l| l.amount.cents())
        .sum();
    assert_eq!(total, 0);

    // A recipient is its account's: another account does not see it.
    assert_eq!(
        store.get_recipient(&AccountId::generate(), &debtor).await,
        Ok(None)
    );
}

/// Σ of the raw `recipientDebtsCents` attribute over the account's balance shard items.
async fn recipient_debts_attribute(store: &DynamoStore, account: &AccountId) -> i64 {
    let mut sum = 0;
    for shard in 0..BALANCE_SHARDS {
        if let Some(item) = raw(store, keys::balance_pk(account, shard), keys::SK_BALANCE).await {
            sum += number(&item, "recipientDebtsCents").unwrap_or(0);
        }
    }
    sum
}

#[tokio::test]
async fn balance_shards_written_before_recipient_debts_read_zero_debts() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let mut item = keys::primary_key(keys::balance_pk(&account, 3), keys::SK_BALANCE);
    for (name, value) in [
        ("incomingCents", "0"),
        ("availableCents", "1234"),
        ("reservedForSplitsCents", "56"),
    ] {
        item.insert(name.to_owned(), AttributeValue::N(value.to_owned()));
    }
    item.insert("entity".to_owned(), AttributeValue::S("BALANCE".into()));
    item.insert(
        "accountId".to_owned(),
        AttributeValue::S(account.to_string()),
    );
    store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .send()
        .await
        .expect("PutItem");
    let balance = store.get_balance(&account).await.expect("balance");
    assert_eq!(balance.available.cents(), 1_234);
    assert_eq!(balance.reserved_for_splits.cents(), 56);
    assert_eq!(balance.recipient_debts.cents(), 0);
}

#[tokio::test]
async fn a_refund_write_whose_debts_the_movement_does_not_book_is_refused() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let (c, entries) = booked_and_paid(&store, &account, T0_MS).await;
    let mut write = refund_write(&store, &c, &entries, 2_000, Proportional, T0_MS + 10_000).await;
    let debtor = write.debts[0].recipient_id.clone();
    let before = snapshot(&store, &c, std::slice::from_ref(&debtor)).await;
    let of_another_refund = RequestRefund {
        debts: vec![DebtIncrease {
            refund_id: RefundId::generate(),
            ..write.debts[0].clone()
        }],
        ..write.clone()
    };
    assert!(matches!(
        store.request_refund(&of_another_refund).await,
        Err(StoreError::Unavailable(_))
    ));
    write.debts[0].amount = Money::from_cents(199);
    assert!(matches!(
        store.request_refund(&write).await,
        Err(StoreError::Unavailable(_))
    ));
    write.debts.clear();
    assert!(matches!(
        store.request_refund(&write).await,
        Err(StoreError::Unavailable(_))
    ));
    assert_eq!(snapshot(&store, &c, &[debtor]).await, before);
    assert_nothing_of(&store, &write).await;
}

/// The settlement of `c`'s only refund as the refund executor writes it: the charge as read
/// with that refund COMPLETED.
fn settled(c: &Charge, from_revision: u32, at: i64) -> ChargeTransition {
    let mut refund = c.refunds[0].clone();
    refund.state = RefundState::Completed;
    refund.settled_at = Some(at_ms(at));
    ChargeTransition {
        charge: c.with_refund(refund),
        from: c.status,
        from_revision,
        movement: None,
        events: vec![],
        outbox: vec![],
    }
}

#[tokio::test]
async fn a_transition_from_a_stale_refund_revision_conflicts() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let (c, entries) = booked(&store, &account, T0_MS).await;
    let write = refund_write(&store, &c, &entries, 1_000, Merchant, T0_MS + 10_000).await;
    assert_eq!(request(&store, &write).await, MoneyOutOutcome::Applied);
    let c = stored_charge(&store, &c).await;
    assert_eq!(
        (c.status, c.refund_revision),
        (ChargeStatus::RefundProcessing, 1)
    );

    let stale = settled(&c, 0, T0_MS + 20_000);
    assert_eq!(
        store.transition_charge(&stale).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(stored_charge(&store, &c).await, c);

    let fresh = settled(&c, 1, T0_MS + 20_000);
    assert_eq!(
        store.transition_charge(&fresh).await,
        Ok(WriteOutcome::Applied)
    );
    let stored = stored_charge(&store, &c).await;
    assert_eq!(stored, fresh.charge);
    assert_eq!(stored.status, ChargeStatus::PartiallyRefunded);
    assert_eq!(stored.refund_revision, 2);
}

#[tokio::test]
async fn a_charge_stored_with_the_legacy_refund_reads_it_and_is_rewritten_without_it() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let c = split_charge(&account, T0_MS);
    store.insert_charge(&c, None).await.expect("insert");
    assert_eq!(
        store
            .confirm_charge(&confirm_write(&c, T0_MS + 1_000))
            .await,
        Ok(WriteOutcome::Applied)
    );
    // The charge as the adapter stored a refund before partial refunds existed: one `refund`
    // map, named by attempt, for the whole amount, no revision.
    let legacy = RefundRecord {
        refund_id: None,
        amount_cents: None,
        liability: None,
        split_parts: vec![],
        attempt: Some(1),
        state: "PROCESSING".to_owned(),
        reason: "CUSTOMER_REQUEST".to_owned(),
        description: "devolução".to_owned(),
        end_to_end_id: None,
        provider_refund_id: None,
        failure_reason: None,
        requested_at_ms: T0_MS + 5_000,
        settled_at_ms: None,
        idempotency_key: None,
    };
    store
        .client()
        .update_item()
        .table_name(store.table())
        .set_key(Some(keys::primary_key(
            keys::charge_pk(&c.transaction_id),
            keys::SK_CHARGE,
        )))
        .update_expression("SET #refund = :refund, #status = :status")
        .expression_attribute_names("#refund", "refund")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(
            ":refund",
            serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(&legacy).expect("record"),
        )
        .expression_attribute_values(":status", AttributeValue::S("REFUND_PROCESSING".into()))
        .send()
        .await
        .expect("UpdateItem");

    let read = stored_charge(&store, &c).await;
    assert_eq!(read.refund_revision, 0);
    assert_eq!(read.refunds.len(), 1);
    assert_eq!(read.refunds[0].id, RefundId::legacy(&c.transaction_id, 1));
    assert_eq!(read.refunds[0].amount.cents(), GROSS);
    assert_eq!(read.refunds[0].liability, RefundLiability::Merchant);

    let write = settled(&read, 0, T0_MS + 20_000);
    assert_eq!(
        store.transition_charge(&write).await,
        Ok(WriteOutcome::Applied)
    );
    let item = raw_charge(&store, &c).await;
    assert!(!item.contains_key("refund"), "{item:?}");
    assert!(matches!(item.get("refunds"), Some(AttributeValue::L(l)) if l.len() == 1));
    assert_eq!(number(&item, "refundRevision"), Some(1));
    let stored = stored_charge(&store, &c).await;
    assert_eq!(stored, write.charge);
    assert_eq!(stored.status, ChargeStatus::Refunded);
}

#[tokio::test]
async fn attach_refuses_a_split_reduced_after_it_was_read_and_pays_what_is_left() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let (c, entries) = booked(&store, &account, T0_MS).await;
    let read = entries[1].clone();
    assert_eq!(read.state, SplitState::Scheduled);

    // A refund reduces the split between the scheduler's read and its attach.
    let refund = refund_write(&store, &c, &entries, 2_000, Proportional, T0_MS + 10_000).await;
    assert_eq!(request(&store, &refund).await, MoneyOutOutcome::Applied);
    let reduced = splits(&store, &c).await[1].clone();
    assert_eq!(reduced.refunded.cents(), 100);
    assert_eq!(reduced.state, SplitState::Scheduled);

    let window = at_ms(T0_MS + 60_000);
    let stale = AttachSplits {
        payout: header(&account, window, &read),
        splits: vec![read.clone()],
        now: window,
    };
    assert_eq!(
        store.attach_splits(&stale).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(store.get_payout(&stale.payout.id).await, Ok(None));
    assert_eq!(splits(&store, &c).await[1], reduced);

    // Attached as stored: the payout pays the share less what the refund took.
    let fresh = AttachSplits {
        splits: vec![reduced.clone()],
        ..stale
    };
    assert_eq!(store.attach_splits(&fresh).await, Ok(WriteOutcome::Applied));
    let payout = store
        .get_payout(&fresh.payout.id)
        .await
        .expect("get")
        .expect("payout");
    assert_eq!(payout.amount.cents(), SCHEDULED_SHARE - 100);
    let attached = splits(&store, &c).await[1].clone();
    assert_eq!(attached.state, SplitState::Processing);
    assert_eq!(attached.refunded.cents(), 100);
}
