//! The lifecycle port against DynamoDB Local: cash-outs and refunds debit `available` shard by
//! shard under per-shard conditions (no shard ever negative, balances always equal the sum of
//! the movements), conflicts are told apart, charge transitions are conditioned on the stored
//! status, the expiry index holds exactly the PENDING charges, and the statement pages exactly.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;

use chrono::Duration;
use common::refund::refund_write;
use common::settlement::{
    GROSS, SCHEDULED_SHARE, book_write, confirm_write, eventually, split_charge,
};
use common::{T0_MS, at_ms, charge, fresh_store};
use pixgw_domain::cash_out::ports::CashOutStore;
use pixgw_domain::cash_out::ports::RequestCashOut;
use pixgw_domain::cash_out::{CashOut, CashOutDestination, CashOutId, CashOutState};
use pixgw_domain::charge::ports::ChargeStore;
use pixgw_domain::charge::ports::ChargeTransition;
use pixgw_domain::charge::ports::ChargeTransitions;
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::ledger::ports::MoneyOutOutcome;
use pixgw_domain::ledger::{AvailableDraw, Balance, Bucket, LedgerAccount, Movement, MovementKind};
use pixgw_domain::messaging::outbox::PipelineMessage;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::pix_key::PixKeyType;
use pixgw_domain::refund::RefundLiability;
use pixgw_domain::refund::ports::RefundStore;
use pixgw_domain::split::entry::SplitState;
use pixgw_domain::split::ports::SplitStore;
use pixgw_store_dynamodb::DynamoStore;
use pixgw_store_dynamodb::keys::{self, GSI2PK, GSI2SK};

fn cents(c: i64) -> Money {
    Money::from_cents(c)
}

/// Credits `amount` to the account's `available` through a charge transition (PENDING →
/// EXPIRED, carrying a PIX network → available movement): one movement, on the shard its id
/// hashes to. Returns that shard.
async fn credit(store: &DynamoStore, account: &AccountId, amount: i64, at_millis: i64) -> u32 {
    let c = charge(account, &format!("ext-{}", uuid::Uuid::new_v4()), at_millis);
    store.insert_charge(&c, None).await.expect("insert");
    let movement = Movement::transfer(
        MovementKind::RefundReturned,
        account,
        &format!("{}#1", c.transaction_id),
        LedgerAccount::PixNetwork,
        LedgerAccount::Merchant(account.clone(), Bucket::Available),
        cents(amount),
        at_ms(at_millis),
    )
    .expect("movement");
    let shard = movement.balance_shard();
    let write = ChargeTransition {
        charge: Charge {
            status: ChargeStatus::Expired,
            ..c
        },
        from: ChargeStatus::Pending,
        from_revision: 0,
        movement: Some(movement),
        events: vec![],
        outbox: vec![],
    };
    assert_eq!(
        store.transition_charge(&write).await.expect("transition"),
        WriteOutcome::Applied
    );
    shard
}

/// Credits `amount` on `n` distinct shards.
async fn credit_shards(store: &DynamoStore, account: &AccountId, amount: i64, n: usize) {
    let mut shards = HashSet::new();
    let mut at = T0_MS;
    while shards.len() < n {
        // A credit landing on a shard already used is fine (more money), but keep going until
        // n distinct shards hold money.
        shards.insert(credit(store, account, amount, at).await);
        at += 1;
    }
}

fn cash_out(account: &AccountId, external_id: &str, amount: i64, at_millis: i64) -> CashOut {
    let at = at_ms(at_millis);
    CashOut {
        id: CashOutId::generate(),
        account_id: account.clone(),
        external_id: external_id.to_owned(),
        amount: cents(amount),
        description: "saque".to_owned(),
        destination: CashOutDestination::PixKey {
            key: "maria@example.com".into(),
            key_type: PixKeyType::Email,
        },
        state: CashOutState::Processing,
        end_to_end_id: None,
        provider: "sandbox".to_owned(),
        provider_transfer_id: None,
        failure_reason: None,
        created_at: at,
        updated_at: at,
    }
}

fn cash_out_write(c: &CashOut, draw: AvailableDraw) -> RequestCashOut {
    let movement = Movement::transfer(
        MovementKind::CashoutRequested,
        &c.account_id,
        c.id.as_str(),
        LedgerAccount::Merchant(c.account_id.clone(), Bucket::Available),
        LedgerAccount::PixNetwork,
        c.amount,
        c.created_at,
    )
    .expect("movement");
    let message = PipelineMessage::CashOutRequested {
        cash_out_id: c.id.clone(),
        account_id: c.account_id.clone(),
    };
    RequestCashOut {
        cash_out: c.clone(),
        movement,
        draw,
        outbox: vec![message.to_outbox(c.created_at)],
        completion: None,
    }
}

async fn plan(store: &DynamoStore, account: &AccountId, amount: i64) -> Option<AvailableDraw> {
    let shards = store.balance_shards(account).await.expect("shards");
    AvailableDraw::plan(&shards, cents(amount)).ok()
}

/// No shard's `available` negative, and the shards add up to the movements (the ledger index is eventually
/// consistent: wait for it).
async fn assert_ledger_consistent(store: &DynamoStore, account: &AccountId, movements: usize) {
    let shards = store.balance_shards(account).await.expect("shards");
    // Only `available` is debited under per-shard conditions; the other buckets move
    // between the shards of their movements, so only their totals are never negative.
    for (shard, b) in &shards {
        assert!(b.available.cents() >= 0, "shard {shard} negative: {b:?}");
    }
    let balance = store.get_balance(account).await.expect("balance");
    let summed = shards
        .iter()
        .fold(Balance::default(), |sum, (_, b)| sum.plus(*b));
    assert_eq!(balance, summed);
    assert!(balance.incoming.cents() >= 0 && balance.reserved_for_splits.cents() >= 0);
    let listed = eventually(
        || async { store.list_movements(account).await.expect("movements") },
        |m| m.len() >= movements,
    )
    .await;
    assert_eq!(listed.len(), movements);
    assert_eq!(Balance::from_movements(account, &listed), balance);
}

#[tokio::test]
async fn a_draw_spans_several_shards() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    credit_shards(&store, &account, 5_000, 3).await;
    let funded = store
        .get_balance(&account)
        .await
        .expect("balance")
        .available
        .cents();
    let credits = store
        .list_movements(&account)
        .await
        .expect("movements")
        .len();
    // More than any one shard holds.
    let max_shard = store
        .balance_shards(&account)
        .await
        .expect("shards")
        .iter()
        .map(|(_, b)| b.available.cents())
        .max()
        .unwrap_or(0);
    let amount = max_shard + 1_000;
    let draw = plan(&store, &account, amount).await.expect("affordable");
    assert!(draw.parts.len() >= 2, "{draw:?}");
    let c = cash_out(&account, "multi", amount, T0_MS + 10_000);
    assert_eq!(
        store
            .request_cash_out(&cash_out_write(&c, draw))
            .await
            .expect("cash-out"),
        MoneyOutOutcome::Applied
    );
    assert_eq!(
        store
            .get_balance(&account)
            .await
            .expect("balance")
            .available
            .cents(),
        funded - amount
    );
    assert_eq!(
        store.get_cash_out(&c.id).await.expect("get"),
        Some(c.clone())
    );
    assert_ledger_consistent(&store, &account, credits + 1).await;
}

/// A CONFIRMED (and possibly booked) split charge, with enough extra `available` for a refund.
async fn confirmed(store: &DynamoStore, account: &AccountId, at: i64, book: bool) -> Charge {
    let c = split_charge(account, at);
    store.insert_charge(&c, None).await.expect("insert");
    assert_eq!(
        store
            .confirm_charge(&confirm_write(&c, at + 1_000))
            .await
            .expect("confirm"),
        WriteOutcome::Applied
    );
    if book {
        assert_eq!(
            store
                .book_splits(&book_write(&c, at + 2_000))
                .await
                .expect("book"),
            WriteOutcome::Applied
        );
    }
    store
        .get_charge(&c.transaction_id)
        .await
        .expect("get")
        .expect("charge")
}

#[tokio::test]
async fn a_booked_refund_cancels_scheduled_splits_only() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    credit(&store, &account, 20_000, T0_MS).await;
    let c = confirmed(&store, &account, T0_MS + 1_000, true).await;
    let splits = store.get_splits(&c.transaction_id).await.expect("splits");
    assert_eq!(splits[0].state, SplitState::Processing);
    assert_eq!(splits[1].state, SplitState::Scheduled);

    // A full refund planned from a stale read in which split 0 was still SCHEDULED in no
    // payout would cancel both; split 0 already left SCHEDULED (it is in a payout): the refund
    // conflicts, nothing moves.
    let before = store.get_balance(&account).await.expect("balance");
    let mut stale_splits = splits.clone();
    stale_splits[0].state = SplitState::Scheduled;
    stale_splits[0].payout_id = None;
    let stale = refund_write(
        &store,
        &c,
        &stale_splits,
        GROSS,
        RefundLiability::Merchant,
        T0_MS + 9_000,
    )
    .await;
    assert_eq!(stale.reduced.len(), 2);
    assert_eq!(
        store.request_refund(&stale).await.expect("refund"),
        MoneyOutOutcome::Conflict
    );
    assert_eq!(store.get_balance(&account).await.expect("balance"), before);
    assert_eq!(
        store.get_splits(&c.transaction_id).await.expect("splits"),
        splits
    );

    // Planned from what is stored, it cancels only the SCHEDULED one: applied.
    let write = refund_write(
        &store,
        &c,
        &splits,
        GROSS,
        RefundLiability::Merchant,
        T0_MS + 9_000,
    )
    .await;
    assert_eq!(write.reduced.len(), 1);
    assert_eq!(
        store.request_refund(&write).await.expect("refund"),
        MoneyOutOutcome::Applied
    );
    let after = store.get_splits(&c.transaction_id).await.expect("splits");
    assert_eq!(after[0], splits[0]);
    assert_eq!(after[1].state, SplitState::Cancelled);
    assert_eq!(after[1].refunded.cents(), SCHEDULED_SHARE);
    assert_eq!(
        store.get_charge(&c.transaction_id).await.expect("get"),
        Some(write.charge.clone())
    );
    // The cancelled split left the scheduled index.
    let raw = store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(keys::primary_key(
            keys::charge_pk(&c.transaction_id),
            &keys::split_sk(1),
        )))
        .consistent_read(true)
        .send()
        .await
        .expect("get")
        .item
        .expect("split item");
    assert!(!raw.contains_key(GSI2PK) && !raw.contains_key(GSI2SK));
    let balance = store.get_balance(&account).await.expect("balance");
    assert_eq!(
        balance.reserved_for_splits.cents(),
        before.reserved_for_splits.cents() - SCHEDULED_SHARE
    );
    assert_eq!(
        balance.available.cents(),
        before.available.cents() - (GROSS - SCHEDULED_SHARE)
    );
    // credit, confirmation, booking, refund.
    assert_ledger_consistent(&store, &account, 4).await;
}

#[tokio::test]
async fn the_expiry_index_holds_exactly_the_pending_charges() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let expiring = |ext: &str, expires_in_s: i64| {
        let mut c = charge(&account, ext, T0_MS);
        c.expires_at = at_ms(T0_MS) + Duration::seconds(expires_in_s);
        c
    };
    let first = expiring("exp-1", 10);
    let second = expiring("exp-2", 20);
    let later = expiring("exp-3", 3_600);
    let paid = expiring("exp-4", 5);
    for c in [&first, &second, &later, &paid] {
        store.insert_charge(c, None).await.expect("insert");
    }
    assert_eq!(
        store
            .confirm_charge(&confirm_write(&paid, T0_MS + 1_000))
            .await
            .expect("confirm"),
        WriteOutcome::Applied
    );
    let now = at_ms(T0_MS + 30_000);
    let ids = |cs: Vec<Charge>| cs.into_iter().map(|c| c.transaction_id).collect::<Vec<_>>();
    let due = eventually(
        || async { store.expired_pending_charges(now, 10).await.expect("due") },
        |cs| cs.len() == 2,
    )
    .await;
    assert_eq!(
        ids(due),
        vec![first.transaction_id.clone(), second.transaction_id.clone()]
    );
    assert_eq!(
        ids(store.expired_pending_charges(now, 1).await.expect("due")),
        vec![first.transaction_id.clone()]
    );
    // Exactly at the expiry instant counts as expired.
    assert_eq!(
        ids(store
            .expired_pending_charges(first.expires_at, 10)
            .await
            .expect("due")),
        vec![first.transaction_id.clone()]
    );
    // Expired by the sweeper, confirmed by a payment: both leave the index.
    let transition = ChargeTransition {
        charge: Charge {
            status: ChargeStatus::Expired,
            ..first.clone()
        },
        from: ChargeStatus::Pending,
        from_revision: 0,
        movement: None,
        events: vec![],
        outbox: vec![],
    };
    assert_eq!(
        store.transition_charge(&transition).await.expect("expire"),
        WriteOutcome::Applied
    );
    assert_eq!(
        store
            .confirm_charge(&confirm_write(&second, T0_MS + 25_000))
            .await
            .expect("confirm"),
        WriteOutcome::Applied
    );
    let due = eventually(
        || async { store.expired_pending_charges(now, 10).await.expect("due") },
        |cs| cs.is_empty(),
    )
    .await;
    assert!(due.is_empty());
    let much_later = at_ms(T0_MS + 4_000_000);
    assert_eq!(
        ids(store
            .expired_pending_charges(much_later, 10)
            .await
            .expect("due")),
        vec![later.transaction_id.clone()]
    );
    // The keys themselves: none on the charges that left PENDING.
    for c in [&first, &second, &paid] {
        let raw = store
            .client()
            .get_item()
            .table_name(store.table())
            .set_key(Some(keys::primary_key(
                keys::charge_pk(&c.transaction_id),
                keys::SK_CHARGE,
            )))
            .consistent_read(true)
            .send()
            .await
            .expect("get")
            .item
            .expect("charge");
        assert!(!raw.contains_key(keys::GSI3PK) && !raw.contains_key(keys::GSI3SK));
    }
}
