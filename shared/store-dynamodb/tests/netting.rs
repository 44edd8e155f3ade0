//! Recipient-debt netting at payouts against DynamoDB Local: a payout's deductions are decided
//! once, atomically with taking them off its recipient's queue at the version it was read
//! with (stale, already decided or no longer PROCESSING: a Conflict that writes nothing; an
//! EMPTY decision is stored and read back as such); its settlement recovers them (PAID: the
//! recipient's `recovering` drops, the movement's recipient legs are stored) or puts them back
//! at the FRONT of the queue (FAILED), and only from the deductions stored.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::refund::refund_write;
use common::scheduled::{booked_at, outcome};
use common::settlement::{REMAINDER, settle_write};
use common::{T0_MS, at_ms, fresh_store};
use pixgw_domain::charge::Charge;
use pixgw_domain::charge::ports::ChargeStore;
use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::flows::settle::settle_payout;
use pixgw_domain::ledger::ports::{LedgerStore, MoneyOutOutcome};
use pixgw_domain::ledger::record::MovementRecord;
use pixgw_domain::ledger::{Balance, Bucket, LedgerAccount, Movement};
use pixgw_domain::payout::ports::{DebtSettlement, DecideNetting, PayoutStore, SettlePayout};
use pixgw_domain::payout::{Payout, PayoutState};
use pixgw_domain::pix::ids::{AccountId, RecipientId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::recipient::ports::RecipientStore;
use pixgw_domain::recipient::record::RecipientRecord;
use pixgw_domain::recipient::{DebtPart, Recipient};
use pixgw_domain::refund::RefundLiability::Proportional;
use pixgw_domain::refund::ports::RefundStore;
use pixgw_domain::split::entry::SplitState;
use pixgw_domain::split::ports::{BookSplits, SplitStore};
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

async fn stored_payout(store: &DynamoStore, payout: &Payout) -> Payout {
    store
        .get_payout(&payout.id)
        .await
        .expect("get")
        .expect("payout")
}

async fn stored_recipient(store: &DynamoStore, account: &AccountId, id: &RecipientId) -> Recipient {
    store
        .get_recipient(account, id)
        .await
        .expect("get")
        .expect("recipient")
}

async fn stored_charge(store: &DynamoStore, c: &Charge) -> Charge {
    store
        .get_charge(&c.transaction_id)
        .await
        .expect("get")
        .expect("charge")
}

fn recipient_of(payout: &Payout) -> RecipientId {
    RecipientId::derive(&payout.account_id, payout.recipient.grouping_key())
}

fn cents(parts: &[DebtPart]) -> Vec<i64> {
    parts.iter().map(|p| p.amount.cents()).collect()
}

/// An account whose immediate-split recipient owes 200: a charge booked, its immediate payout
/// PAID, then 2,000 refunded proportionally (the paid split's part, 1,000 × 2,000 / 10,000).
/// The charge as stored afterwards.
async fn owing(store: &DynamoStore, account: &AccountId) -> Charge {
    let book = booked_at(store, account, T0_MS).await;
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
    refund(store, &c, 2_000, T0_MS + 10_000).await;
    stored_charge(store, &c).await
}

/// Refunds `amount` of `c` (as stored) proportionally.
async fn refund(store: &DynamoStore, c: &Charge, amount: i64, at: i64) {
    let c = stored_charge(store, c).await;
    let entries = store.get_splits(&c.transaction_id).await.expect("splits");
    let write = refund_write(store, &c, &entries, amount, Proportional, at).await;
    assert_eq!(
        store.request_refund(&write).await.expect("refund"),
        MoneyOutOutcome::Applied
    );
}

/// A second charge of `account` booked: its immediate payout (1,000 to the same recipient)
/// PROCESSING, deductions undecided.
async fn next_payout(store: &DynamoStore, account: &AccountId, at: i64) -> (BookSplits, Payout) {
    let book = booked_at(store, account, at).await;
    let payout = stored_payout(store, &book.payouts[0]).await;
    assert_eq!(
        (payout.state, payout.deductions.as_ref()),
        (PayoutState::Processing, None)
    );
    (book, payout)
}

/// The executor's netting of `payout` from `recipient` as read: what it takes (up to the
/// payout) and the recipient afterwards.
fn netting(payout: &Payout, recipient: &Recipient) -> DecideNetting {
    let (taken, after) = recipient.take(payout.amount);
    DecideNetting {
        payout: Payout {
            deductions: Some(taken),
            ..payout.clone()
        },
        recipient: Some(after),
    }
}

/// The executor's settlement of immediate payout `payout` (as decided) to `state`.
async fn settlement(
    store: &DynamoStore,
    payout: &Payout,
    state: PayoutState,
    at: i64,
) -> SettlePayout {
    let inline: Vec<_> = store
        .get_splits(&payout.splits[0].transaction_id)
        .await
        .expect("splits")
        .into_iter()
        .filter(|s| s.index == payout.splits[0].index)
        .collect();
    assert_eq!(inline.len(), 1);
    settle_payout(
        payout.clone(),
        inline,
        &outcome(state, at_ms(at)),
        at_ms(at),
    )
    .expect("settle")
}

async fn stored_movement(store: &DynamoStore, id: &str) -> Option<Movement> {
    let item = raw(store, keys::movement_pk(id), keys::SK_MOVEMENT).await?;
    let record: MovementRecord = serde_dynamo::aws_sdk_dynamodb_1::from_item(item).expect("record");
    Some(Movement::try_from(record).expect("movement"))
}

/// Everything a netting or a settlement could have touched, to compare before and after one
/// that must write nothing.
#[derive(Debug, PartialEq)]
struct Snapshot {
    payout: Payout,
    recipient: Option<Recipient>,
    balance: Balance,
}

async fn snapshot(store: &DynamoStore, payout: &Payout) -> Snapshot {
    Snapshot {
        payout: stored_payout(store, payout).await,
        recipient: store
            .get_recipient(&payout.account_id, &recipient_of(payout))
            .await
            .expect("recipient"),
        balance: store
            .get_balance(&payout.account_id)
            .await
            .expect("balance"),
    }
}

#[tokio::test]
async fn a_netting_takes_the_debt_into_the_payout_once() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    owing(&store, &account).await;
    let (_, payout) = next_payout(&store, &account, T0_MS + 20_000).await;
    let debtor = recipient_of(&payout);
    let read = stored_recipient(&store, &account, &debtor).await;
    assert_eq!((read.debt.cents(), read.version), (200, 1));

    let write = netting(&payout, &read);
    assert_eq!(
        cents(write.payout.deductions.as_deref().expect("decided")),
        vec![200]
    );
    assert_eq!(
        store.decide_netting(&write).await,
        Ok(WriteOutcome::Applied)
    );
    let stored = stored_payout(&store, &payout).await;
    assert_eq!(stored, write.payout);
    assert_eq!(stored.net_amount().cents(), 800);
    let after = stored_recipient(&store, &account, &debtor).await;
    assert_eq!(Some(&after), write.recipient.as_ref());
    assert_eq!(
        (
            after.debt,
            after.open_debts.len(),
            after.recovering.cents(),
            after.version
        ),
        (Money::ZERO, 0, 200, 2)
    );

    // Decided already: a second netting (a redelivery that read before the first) writes
    // nothing, even from the recipient as it now stands.
    let before = snapshot(&store, &payout).await;
    assert_eq!(
        store.decide_netting(&write).await,
        Ok(WriteOutcome::Conflict)
    );
    let again = netting(&payout, &after);
    assert_eq!(
        store.decide_netting(&again).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(snapshot(&store, &payout).await, before);
}

#[tokio::test]
async fn an_empty_netting_is_stored_and_read_back_as_decided() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let (_, payout) = next_payout(&store, &account, T0_MS).await;
    // Booked, owing nothing.
    let recipient = store
        .get_recipient(&account, &recipient_of(&payout))
        .await
        .expect("get")
        .expect("created by the booking");
    assert_eq!((recipient.debt, recipient.version), (Money::ZERO, 0));
    let write = DecideNetting {
        payout: Payout {
            deductions: Some(Vec::new()),
            ..payout.clone()
        },
        recipient: None,
    };
    assert_eq!(
        store.decide_netting(&write).await,
        Ok(WriteOutcome::Applied)
    );
    let item = raw(&store, keys::payout_pk(&payout.id), keys::SK_PAYOUT)
        .await
        .expect("payout item");
    assert_eq!(item.get("deductions"), Some(&AttributeValue::L(Vec::new())));
    let stored = stored_payout(&store, &payout).await;
    assert_eq!(stored.deductions, Some(Vec::new()));
    assert_eq!(stored.net_amount(), payout.amount);

    // "Nothing to deduct" is a decision too: it is not taken again.
    assert_eq!(
        store.decide_netting(&write).await,
        Ok(WriteOutcome::Conflict)
    );

    // And it survives the settlement, which replaces the payout whole.
    let paid = settlement(&store, &stored, PayoutState::Paid, T0_MS + 5_000).await;
    assert_eq!(paid.recipient, None);
    assert_eq!(store.settle_payout(&paid).await, Ok(WriteOutcome::Applied));
    assert_eq!(
        stored_payout(&store, &payout).await.deductions,
        Some(Vec::new())
    );
}

#[tokio::test]
async fn a_netting_from_a_stale_recipient_conflicts_and_writes_nothing() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let c = owing(&store, &account).await;
    let (_, payout) = next_payout(&store, &account, T0_MS + 20_000).await;
    let debtor = recipient_of(&payout);
    let read = stored_recipient(&store, &account, &debtor).await;
    let stale = netting(&payout, &read);

    // A refund adds to the queue between the executor's read and its write.
    refund(&store, &c, 3_000, T0_MS + 30_000).await;
    let before = snapshot(&store, &payout).await;
    let grown = before.recipient.clone().expect("recipient");
    assert_eq!(
        (cents(&grown.open_debts), grown.version),
        (vec![200, 300], 2)
    );

    assert_eq!(
        store.decide_netting(&stale).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(snapshot(&store, &payout).await, before);
    assert_eq!(before.payout.deductions, None);

    // From the recipient as stored: it takes both parts, oldest first.
    let fresh = netting(&payout, &grown);
    assert_eq!(
        store.decide_netting(&fresh).await,
        Ok(WriteOutcome::Applied)
    );
    let stored = stored_payout(&store, &payout).await;
    assert_eq!(
        cents(stored.deductions.as_deref().expect("decided")),
        vec![200, 300]
    );
    assert_eq!(
        stored.deductions.as_ref().map(|d| d[0].refund_id.clone()),
        Some(grown.open_debts[0].refund_id.clone())
    );
}

#[tokio::test]
async fn a_payout_no_longer_processing_takes_no_debt() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    owing(&store, &account).await;
    let (book, payout) = next_payout(&store, &account, T0_MS + 20_000).await;
    let read = stored_recipient(&store, &account, &recipient_of(&payout)).await;
    let write = netting(&payout, &read);
    assert_eq!(
        store
            .settle_payout(&settle_write(&book, PayoutState::Paid, T0_MS + 25_000))
            .await,
        Ok(WriteOutcome::Applied)
    );
    let before = snapshot(&store, &payout).await;
    assert_eq!(before.payout.state, PayoutState::Paid);
    assert_eq!(
        store.decide_netting(&write).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(snapshot(&store, &payout).await, before);
}

#[tokio::test]
async fn a_paid_payout_recovers_its_deductions_and_books_the_recipient_legs() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    owing(&store, &account).await;
    let (_, payout) = next_payout(&store, &account, T0_MS + 20_000).await;
    let debtor = recipient_of(&payout);
    let write = netting(&payout, &stored_recipient(&store, &account, &debtor).await);
    assert_eq!(
        store.decide_netting(&write).await,
        Ok(WriteOutcome::Applied)
    );
    let decided = stored_payout(&store, &payout).await;
    let before = store.get_balance(&account).await.expect("balance");
    assert_eq!(before.recipient_debts.cents(), 200);

    let paid = settlement(&store, &decided, PayoutState::Paid, T0_MS + 30_000).await;
    let settlement_of_debt = paid.recipient.clone().expect("a debt settlement");
    assert!(!settlement_of_debt.restore);
    assert_eq!(store.settle_payout(&paid).await, Ok(WriteOutcome::Applied));

    // The recipient's debt is recovered: nothing recovering any more, nothing owed.
    let after = stored_recipient(&store, &account, &debtor).await;
    assert_eq!(
        (
            after.debt,
            after.open_debts.len(),
            after.recovering,
            after.version
        ),
        (Money::ZERO, 0, Money::ZERO, 2)
    );
    // The payout keeps what it deducted.
    let settled = stored_payout(&store, &payout).await;
    assert_eq!(settled.state, PayoutState::Paid);
    assert_eq!(settled.deductions, decided.deductions);
    // The movement with its recipient legs is stored as written: 800 to the PIX network,
    // 200 back to `available`, the recipient's debt and `recipientDebts` down by 200.
    let movement = paid.movement.clone().expect("movement");
    assert_eq!(
        stored_movement(&store, &movement.id).await,
        Some(movement.clone())
    );
    let leg = |account: &LedgerAccount| -> i64 {
        movement
            .legs
            .iter()
            .filter(|l| &l.account == account)
            .map(|l| l.amount.cents())
            .sum()
    };
    assert_eq!(leg(&LedgerAccount::Recipient(account.clone(), debtor)), 200);
    assert_eq!(
        leg(&LedgerAccount::Merchant(
            account.clone(),
            Bucket::RecipientDebts
        )),
        -200
    );
    assert_eq!(leg(&LedgerAccount::PixNetwork), 800);
    let balance = store.get_balance(&account).await.expect("balance");
    assert_eq!(balance.recipient_debts, Money::ZERO);
    assert_eq!(balance.available.cents(), before.available.cents() + 200);
    assert_eq!(
        balance.reserved_for_splits.cents(),
        before.reserved_for_splits.cents() - 1_000
    );
    assert!(balance.available.cents() > REMAINDER - 2_000);
}

#[tokio::test]
async fn a_failed_payout_puts_its_deductions_back_at_the_front_of_the_queue() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let c = owing(&store, &account).await;
    let (_, payout) = next_payout(&store, &account, T0_MS + 20_000).await;
    let debtor = recipient_of(&payout);
    let write = netting(&payout, &stored_recipient(&store, &account, &debtor).await);
    assert_eq!(
        store.decide_netting(&write).await,
        Ok(WriteOutcome::Applied)
    );
    let decided = stored_payout(&store, &payout).await;
    let taken = decided.deductions.clone().expect("decided");

    // A refund adds a newer part while the transfer is out.
    refund(&store, &c, 3_000, T0_MS + 25_000).await;
    let meanwhile = stored_recipient(&store, &account, &debtor).await;
    assert_eq!(
        (
            cents(&meanwhile.open_debts),
            meanwhile.recovering.cents(),
            meanwhile.version
        ),
        (vec![300], 200, 3)
    );

    let failed = settlement(&store, &decided, PayoutState::Failed, T0_MS + 30_000).await;
    assert!(
        failed
            .recipient
            .as_ref()
            .expect("a debt settlement")
            .restore
    );
    assert_eq!(
        store.settle_payout(&failed).await,
        Ok(WriteOutcome::Applied)
    );
    let after = stored_recipient(&store, &account, &debtor).await;
    let mut queue = taken.clone();
    queue.extend(meanwhile.open_debts.clone());
    assert_eq!(after.open_debts, queue, "the older parts first");
    assert_eq!(cents(&after.open_debts), vec![200, 300]);
    assert_eq!(
        (after.debt.cents(), after.recovering, after.version),
        (500, Money::ZERO, 4)
    );
    let settled = stored_payout(&store, &payout).await;
    assert_eq!(settled.state, PayoutState::Failed);
    assert_eq!(settled.deductions, Some(taken));
    // Nothing was recovered: the debt is still the account's claim.
    let balance = store.get_balance(&account).await.expect("balance");
    assert_eq!(balance.recipient_debts.cents(), 500);
}

#[tokio::test]
async fn a_settlement_recovering_more_than_is_recovering_conflicts_and_writes_nothing() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    owing(&store, &account).await;
    let (_, payout) = next_payout(&store, &account, T0_MS + 20_000).await;
    let debtor = recipient_of(&payout);
    let write = netting(&payout, &stored_recipient(&store, &account, &debtor).await);
    assert_eq!(
        store.decide_netting(&write).await,
        Ok(WriteOutcome::Applied)
    );
    let decided = stored_payout(&store, &payout).await;
    // The recipient item recovers less than the payout deducted (a damaged item: no write of
    // ours leaves it so).
    store
        .client()
        .update_item()
        .table_name(store.table())
        .set_key(Some(keys::primary_key(
            keys::recipients_pk(&account),
            &keys::recipient_sk(&debtor),
        )))
        .update_expression("SET recoveringCents = :less")
        .expression_attribute_values(":less", AttributeValue::N("199".into()))
        .send()
        .await
        .expect("UpdateItem");
    let before = snapshot(&store, &payout).await;

    for state in [PayoutState::Paid, PayoutState::Failed] {
        let write = settlement(&store, &decided, state, T0_MS + 30_000).await;
        assert_eq!(
            store.settle_payout(&write).await,
            Ok(WriteOutcome::Conflict)
        );
        assert_eq!(snapshot(&store, &payout).await, before);
        let movement = write.movement.expect("movement");
        assert!(!store.movement_exists(&movement.id).await.expect("exists"));
    }
    let splits = store
        .get_splits(&payout.splits[0].transaction_id)
        .await
        .expect("splits");
    assert_eq!(splits[0].state, SplitState::Processing);
}

#[tokio::test]
async fn a_settlement_computed_before_the_netting_conflicts() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    owing(&store, &account).await;
    let (book, payout) = next_payout(&store, &account, T0_MS + 20_000).await;
    let write = netting(
        &payout,
        &stored_recipient(&store, &account, &recipient_of(&payout)).await,
    );
    assert_eq!(
        store.decide_netting(&write).await,
        Ok(WriteOutcome::Applied)
    );
    let before = snapshot(&store, &payout).await;
    // From the payout as read before its deductions were decided: it would pay the gross,
    // erase the deductions and leave the debt recovering forever.
    let stale = settle_write(&book, PayoutState::Paid, T0_MS + 30_000);
    assert_eq!(stale.payout.deductions, None);
    assert_eq!(
        store.settle_payout(&stale).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(snapshot(&store, &payout).await, before);
}

#[tokio::test]
async fn a_settlement_whose_ledger_does_not_book_the_recovery_is_refused() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    owing(&store, &account).await;
    let (_, payout) = next_payout(&store, &account, T0_MS + 20_000).await;
    let write = netting(
        &payout,
        &stored_recipient(&store, &account, &recipient_of(&payout)).await,
    );
    assert_eq!(
        store.decide_netting(&write).await,
        Ok(WriteOutcome::Applied)
    );
    let decided = stored_payout(&store, &payout).await;
    let before = snapshot(&store, &payout).await;

    let paid = settlement(&store, &decided, PayoutState::Paid, T0_MS + 30_000).await;
    let without_debt = SettlePayout {
        recipient: None,
        ..paid.clone()
    };
    let restoring = SettlePayout {
        recipient: paid
            .recipient
            .clone()
            .map(|r| DebtSettlement { restore: true, ..r }),
        ..paid.clone()
    };
    let failed = settlement(&store, &decided, PayoutState::Failed, T0_MS + 30_000).await;
    let recovering_on_failure = SettlePayout {
        movement: paid.movement.clone(),
        ..failed
    };
    for write in [without_debt, restoring, recovering_on_failure] {
        assert!(matches!(
            store.settle_payout(&write).await,
            Err(StoreError::Unavailable(_))
        ));
    }
    assert_eq!(snapshot(&store, &payout).await, before);
}

#[tokio::test]
async fn a_recipient_item_from_before_the_queue_reads_at_version_zero() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let (_, payout) = next_payout(&store, &account, T0_MS).await;
    let debtor = recipient_of(&payout);
    let old = Recipient {
        id: debtor.clone(),
        account_id: account.clone(),
        recipient: payout.recipient.clone(),
        debt: Money::ZERO,
        open_debts: Vec::new(),
        recovering: Money::ZERO,
        version: 0,
        scheduled: Money::ZERO,
        paid: Money::ZERO,
    };
    // No item (the booking created one with its totals: remove it): a netting at version 0
    // has nothing to take from.
    store
        .client()
        .delete_item()
        .table_name(store.table())
        .set_key(Some(keys::primary_key(
            keys::recipients_pk(&account),
            &keys::recipient_sk(&debtor),
        )))
        .send()
        .await
        .expect("DeleteItem");
    let write = netting(&payout, &old);
    assert_eq!(write.recipient.as_ref().map(|r| r.version), Some(1));
    assert_eq!(
        store.decide_netting(&write).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(stored_payout(&store, &payout).await.deductions, None);

    // The item as written before the queue existed: no openDebts, recoveringCents, version
    // (nor the totals, younger still).
    let mut item: Item =
        serde_dynamo::aws_sdk_dynamodb_1::to_item(RecipientRecord::from(&old)).expect("item");
    for added in [
        "openDebts",
        "recoveringCents",
        "version",
        "scheduledCents",
        "paidCents",
    ] {
        assert!(item.remove(added).is_some(), "{added}");
    }
    item.extend(keys::primary_key(
        keys::recipients_pk(&account),
        &keys::recipient_sk(&debtor),
    ));
    item.insert("entity".to_owned(), AttributeValue::S("RECIPIENT".into()));
    store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .send()
        .await
        .expect("PutItem");
    assert_eq!(stored_recipient(&store, &account, &debtor).await, old);

    // Its absent version counts as 0.
    assert_eq!(
        store.decide_netting(&write).await,
        Ok(WriteOutcome::Applied)
    );
    let after = stored_recipient(&store, &account, &debtor).await;
    assert_eq!((after.version, after.open_debts.len()), (1, 0));
    assert_eq!(
        stored_payout(&store, &payout).await.deductions,
        Some(Vec::new())
    );
}

#[tokio::test]
async fn a_netting_keeps_what_another_payout_recovered_meanwhile() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let c = owing(&store, &account).await;
    let (_, first) = next_payout(&store, &account, T0_MS + 20_000).await;
    let debtor = recipient_of(&first);
    let write = netting(&first, &stored_recipient(&store, &account, &debtor).await);
    assert_eq!(
        store.decide_netting(&write).await,
        Ok(WriteOutcome::Applied)
    );
    let first = stored_payout(&store, &first).await;
    refund(&store, &c, 3_000, T0_MS + 25_000).await;

    // The executor of a second payout reads the recipient (200 recovering by the first, 300
    // open), then the first payout is PAID before it writes: that settlement lowers
    // `recovering` without touching the queue or the version.
    let (_, second) = next_payout(&store, &account, T0_MS + 30_000).await;
    let read = stored_recipient(&store, &account, &debtor).await;
    assert_eq!(
        (
            read.recovering.cents(),
            cents(&read.open_debts),
            read.version
        ),
        (200, vec![300], 3)
    );
    let paid = settlement(&store, &first, PayoutState::Paid, T0_MS + 35_000).await;
    assert_eq!(store.settle_payout(&paid).await, Ok(WriteOutcome::Applied));

    let write = netting(&second, &read);
    assert_eq!(
        write.recipient.as_ref().map(|r| r.recovering.cents()),
        Some(500)
    );
    assert_eq!(
        store.decide_netting(&write).await,
        Ok(WriteOutcome::Applied)
    );
    let after = stored_recipient(&store, &account, &debtor).await;
    // Only what the second payout took is recovering; the first's recovery is not undone.
    assert_eq!(
        (after.recovering.cents(), after.debt, after.version),
        (300, Money::ZERO, 4)
    );
}
