//! The settlement port against DynamoDB Local: each write applies all of its effects in one
//! transaction or none of them, repeated writes are Conflicts that change nothing, the items
//! carry the documented keys, and balances always equal the sum of the movements.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::settlement::{
    GROSS, IMMEDIATE_SHARE, REMAINDER, SCHEDULED_SHARE, book_write, confirm_write, eventually,
    settle_write, split_charge,
};
use common::{T0_MS, faulty_store, fresh_store};
use pixgw_domain::charge::ports::ChargeTransitions;
use pixgw_domain::charge::ports::{ChargeQuery, ChargeStore};
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::error::StoreError;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::ledger::{BALANCE_SHARDS, Balance, Movement, balance_shard};
use pixgw_domain::payout::PayoutState;
use pixgw_domain::payout::ports::PayoutStore;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::split::entry::SplitState;
use pixgw_domain::split::ports::BookSplits;
use pixgw_domain::split::ports::SplitStore;
use pixgw_store_dynamodb::DynamoStore;
use pixgw_store_dynamodb::keys::{self, Item};

fn balance(incoming: i64, available: i64, reserved: i64) -> Balance {
    Balance {
        incoming: Money::from_cents(incoming),
        available: Money::from_cents(available),
        reserved_for_splits: Money::from_cents(reserved),
        ..Balance::default()
    }
}

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

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

async fn pending(store: &DynamoStore, account: &AccountId) -> Charge {
    let c = split_charge(account, T0_MS);
    store.insert_charge(&c, None).await.expect("insert");
    c
}

async fn confirmed(store: &DynamoStore, account: &AccountId) -> Charge {
    let c = pending(store, account).await;
    assert_eq!(
        store
            .confirm_charge(&confirm_write(&c, T0_MS + 1_000))
            .await,
        Ok(WriteOutcome::Applied)
    );
    c
}

async fn booked(store: &DynamoStore, account: &AccountId) -> BookSplits {
    let c = confirmed(store, account).await;
    let book = book_write(&c, T0_MS + 2_000);
    assert_eq!(store.book_splits(&book).await, Ok(WriteOutcome::Applied));
    book
}

/// Every movement of the account once `n` are visible (the ledger is read from an index).
async fn movements(store: &DynamoStore, account: &AccountId, n: usize) -> Vec<Movement> {
    let listed = eventually(
        || async { store.list_movements(account).await.expect("list movements") },
        |m: &Vec<Movement>| m.len() >= n,
    )
    .await;
    assert_eq!(listed.len(), n, "{listed:?}");
    listed
}

fn by_status(status: ChargeStatus) -> ChargeQuery {
    ChargeQuery {
        status: Some(status),
        from: None,
        to: None,
        limit: 100,
        after: None,
    }
}

#[tokio::test]
async fn confirm_applies_status_index_payment_guard_movement_and_balance_together() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let c = pending(&store, &account).await;
    let write = confirm_write(&c, T0_MS + 1_000);
    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Applied)
    );

    let stored = store
        .get_charge(&c.transaction_id)
        .await
        .expect("get")
        .expect("charge");
    assert_eq!(stored.status, ChargeStatus::Confirmed);
    assert_eq!(stored.payment.as_ref(), Some(&write.payment));
    let item = raw(&store, keys::charge_pk(&c.transaction_id), keys::SK_CHARGE)
        .await
        .expect("charge item");
    assert_eq!(
        text(&item, keys::GSI2PK),
        Some(keys::charges_by_status_pk(&account, ChargeStatus::Confirmed).as_str())
    );
    // The status listings follow the index key.
    let confirmed = eventually(
        || async {
            store
                .list_charges(&account, &by_status(ChargeStatus::Confirmed))
                .await
        },
        |page| page.as_ref().is_ok_and(|p| !p.items.is_empty()),
    )
    .await
    .expect("list");
    assert_eq!(confirmed.items, vec![stored.clone()]);
    let still_pending = store
        .list_charges(&account, &by_status(ChargeStatus::Pending))
        .await
        .expect("list");
    assert!(still_pending.items.is_empty());

    assert_eq!(
        store
            .find_charge_by_end_to_end_id(&write.payment.end_to_end_id)
            .await,
        Ok(Some(c.transaction_id.clone()))
    );
    let guard = raw(
        &store,
        keys::end_to_end_pk(&write.payment.end_to_end_id),
        keys::SK_E2E,
    )
    .await
    .expect("guard");
    assert_eq!(text(&guard, "entity"), Some("E2E"));
    assert_eq!(text(&guard, "accountId"), Some(account.as_str()));

    let shard = write.movement.balance_shard();
    let movement = raw(
        &store,
        keys::movement_pk(&write.movement.id),
        keys::SK_MOVEMENT,
    )
    .await
    .expect("movement item");
    assert_eq!(
        text(&movement, keys::GSI1PK),
        Some(keys::ledger_pk(&account, shard).as_str())
    );
    assert_eq!(
        text(&movement, keys::GSI1SK),
        Some(format!("{:015}#{}", T0_MS + 1_000, write.movement.id).as_str())
    );
    let shard_item = raw(&store, keys::balance_pk(&account, shard), keys::SK_BALANCE)
        .await
        .expect("balance shard");
    assert_eq!(
        shard_item.get("incomingCents"),
        Some(&AttributeValue::N(GROSS.to_string()))
    );
    assert_eq!(store.get_balance(&account).await, Ok(balance(GROSS, 0, 0)));
    assert_eq!(
        movements(&store, &account, 1).await,
        vec![write.movement.clone()]
    );
    // Another account sees none of it.
    assert_eq!(
        store.get_balance(&AccountId::generate()).await,
        Ok(Balance::default())
    );

    let outbox = &write.outbox[0];
    let message = raw(&store, keys::outbox_pk(&outbox.id), keys::SK_OUTBOX)
        .await
        .expect("outbox item");
    let ttl = outbox.created_at.timestamp() + 7 * 24 * 3_600;
    assert_eq!(
        message.get("ttl"),
        Some(&AttributeValue::N(ttl.to_string()))
    );
}

#[tokio::test]
async fn book_splits_creates_entries_and_payouts_once() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let book = booked(&store, &account).await;

    assert_eq!(
        store.get_splits(&book.transaction_id).await,
        Ok(book.splits.clone())
    );
    let payout = &book.payouts[0];
    assert_eq!(store.get_payout(&payout.id).await, Ok(Some(payout.clone())));
    let payout_item = raw(&store, keys::payout_pk(&payout.id), keys::SK_PAYOUT)
        .await
        .expect("payout item");
    assert_eq!(
        text(&payout_item, keys::GSI1PK),
        Some(format!("ACCOUNT#{account}#PAYOUTS").as_str())
    );
    assert_eq!(
        text(&payout_item, keys::GSI1SK),
        Some(format!("{:015}#{}", T0_MS + 2_000, payout.id).as_str())
    );
    let expected = balance(0, REMAINDER, IMMEDIATE_SHARE + SCHEDULED_SHARE);
    assert_eq!(store.get_balance(&account).await, Ok(expected));

    // Redelivered: nothing is booked twice.
    assert_eq!(store.book_splits(&book).await, Ok(WriteOutcome::Conflict));
    let mut later = book_write(
        &store
            .get_charge(&book.transaction_id)
            .await
            .expect("get")
            .expect("charge"),
        T0_MS + 9_000,
    );
    later.outbox.clear();
    assert_eq!(store.book_splits(&later).await, Ok(WriteOutcome::Conflict));
    assert_eq!(
        store.get_splits(&book.transaction_id).await,
        Ok(book.splits.clone())
    );
    assert_eq!(store.get_payout(&payout.id).await, Ok(Some(payout.clone())));
    assert_eq!(store.get_balance(&account).await, Ok(expected));
    assert_eq!(movements(&store, &account, 2).await.len(), 2);
}

#[tokio::test]
async fn book_splits_on_a_charge_that_is_not_confirmed_conflicts() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let c = pending(&store, &account).await;
    let book = book_write(&c, T0_MS + 2_000);
    assert_eq!(store.book_splits(&book).await, Ok(WriteOutcome::Conflict));
    assert_eq!(store.get_splits(&c.transaction_id).await, Ok(vec![]));
    assert_eq!(store.get_payout(&book.payouts[0].id).await, Ok(None));
    assert_eq!(store.get_balance(&account).await, Ok(Balance::default()));

    // Nor on another account's confirmed charge.
    let confirmed_elsewhere = confirmed(&store, &AccountId::generate()).await;
    let mut foreign = book_write(&confirmed_elsewhere, T0_MS + 2_000);
    foreign.account_id = account.clone();
    assert_eq!(
        store.book_splits(&foreign).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        store.get_splits(&confirmed_elsewhere.transaction_id).await,
        Ok(vec![])
    );
}

#[tokio::test]
async fn split_index_keys_exist_only_while_scheduled() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let book = booked(&store, &account).await;
    let tx = &book.transaction_id;
    let split_item =
        async |index: u8| raw(&store, keys::charge_pk(tx), &keys::split_sk(index)).await;

    let scheduled = split_item(1).await.expect("scheduled split");
    assert_eq!(book.splits[1].state, SplitState::Scheduled);
    let shard = balance_shard(tx.as_str());
    assert_eq!(
        text(&scheduled, keys::GSI2PK),
        Some(format!("ACCOUNT#{account}#SPLITS#SCHEDULED#{shard:02}").as_str())
    );
    assert_eq!(
        text(&scheduled, keys::GSI2SK),
        Some(format!("{:015}#{tx}#01", T0_MS + 2_000).as_str())
    );
    assert_eq!(text(&scheduled, "entity"), Some("SPLIT"));
    let processing = split_item(0).await.expect("processing split");
    assert!(!processing.contains_key(keys::GSI2PK) && !processing.contains_key(keys::GSI2SK));

    // The scheduler's index holds the scheduled split and nothing else.
    let listed = eventually(
        || async {
            store
                .client()
                .query()
                .table_name(store.table())
                .index_name("gsi2")
                .key_condition_expression("gsi2pk = :pk")
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(keys::scheduled_splits_pk(&account, tx)),
                )
                .send()
                .await
                .expect("query")
                .items
                .unwrap_or_default()
        },
        |items| !items.is_empty(),
    )
    .await;
    assert_eq!(listed.len(), 1);
    assert_eq!(text(&listed[0], keys::SK), Some("SPLIT#01"));

    // Settled (PAID): still no index keys on the rewritten split.
    let settle = settle_write(&book, PayoutState::Paid, T0_MS + 3_000);
    assert_eq!(
        store.settle_payout(&settle).await,
        Ok(WriteOutcome::Applied)
    );
    let paid = split_item(0).await.expect("paid split");
    assert!(!paid.contains_key(keys::GSI2PK) && !paid.contains_key(keys::GSI2SK));
    assert!(
        split_item(1)
            .await
            .expect("scheduled")
            .contains_key(keys::GSI2PK)
    );
}

#[tokio::test]
async fn a_write_that_keeps_conflicting_is_decided_by_its_movement() {
    let (store, faults) = faulty_store().await;
    let account = AccountId::generate();
    let c = pending(&store, &account).await;
    let write = confirm_write(&c, T0_MS + 1_000);
    let conflicts = ["TransactionConflict", "None", "None", "None", "None"];

    // Conflicts on every attempt and nobody made the change: an error, nothing written.
    faults.cancel_transactions(None, &conflicts);
    assert!(matches!(
        store.confirm_charge(&write).await,
        Err(StoreError::Unavailable(_))
    ));
    assert_eq!(faults.injected("TransactWriteItems"), 10, "retried");
    faults.clear();
    assert_eq!(store.get_balance(&account).await, Ok(Balance::default()));

    // A competitor made it (the movement exists): the same conflicts now mean Conflict.
    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Applied)
    );
    faults.cancel_transactions(None, &conflicts);
    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Conflict)
    );
    faults.clear();
    assert_eq!(store.get_balance(&account).await, Ok(balance(GROSS, 0, 0)));
}

/// A BatchGetItem answer that processed nothing: every balance shard key of `account` back
/// as unprocessed.
fn nothing_processed(table: &str, account: &AccountId) -> String {
    let keys: Vec<String> = (0..BALANCE_SHARDS)
        .map(|shard| {
            format!(
                r#"{{"pk":{{"S":"{}"}},"sk":{{"S":"BALANCE"}}}}"#,
                keys::balance_pk(account, shard)
            )
        })
        .collect();
    format!(
        r#"{{"Responses":{{"{table}":[]}},"UnprocessedKeys":{{"{table}":{{"Keys":[{}],"ConsistentRead":true}}}}}}"#,
        keys.join(",")
    )
}

#[tokio::test]
async fn balance_reads_retry_unprocessed_shards_and_give_up_eventually() {
    let (store, faults) = faulty_store().await;
    let account = AccountId::generate();
    booked(&store, &account).await;
    let expected = balance(0, REMAINDER, IMMEDIATE_SHARE + SCHEDULED_SHARE);
    let body = nothing_processed(store.table(), &account);

    faults.answer("BatchGetItem", Some(2), 200, body.clone());
    assert_eq!(store.get_balance(&account).await, Ok(expected));
    assert_eq!(faults.injected("BatchGetItem"), 2);
    assert_eq!(
        faults.forwarded("BatchGetItem"),
        1,
        "only the unprocessed keys, once"
    );

    faults.clear();
    faults.answer("BatchGetItem", None, 200, body);
    assert!(matches!(
        store.get_balance(&account).await,
        Err(StoreError::Unavailable(_))
    ));
}
