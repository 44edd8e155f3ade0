//! The lifecycle port against DynamoDB Local: cash-outs and refunds debit `available` shard by
//! shard under per-shard conditions (no shard ever negative, balances always equal the sum of
//! the movements), conflicts are told apart, charge transitions are conditioned on the stored
//! status, the expiry index holds exactly the PENDING charges, and the statement pages exactly.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;
use common::settlement::{
    GROSS, SCHEDULED_SHARE, book_write, confirm_write, eventually, split_charge,
};
use common::{T0_MS, at_ms, charge, fresh_store};
use pixgw_domain::cash_out::ports::CashOutQuery;
use pixgw_domain::cash_out::ports::CashOutStore;
use pixgw_domain::cash_out::ports::{RequestCashOut, UpdateCashOut};
use pixgw_domain::cash_out::{CashOut, CashOutDestination, CashOutId, CashOutState};
use pixgw_domain::charge::ports::ChargeStore;
use pixgw_domain::charge::ports::ChargeTransition;
use pixgw_domain::charge::ports::ChargeTransitions;
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::ledger::ports::{MoneyOutOutcome, MovementCursor, MovementPage, MovementQuery};
use pixgw_domain::ledger::{
    AvailableDraw, Balance, Bucket, LedgerAccount, Leg, Movement, MovementKind, balance_shard,
};
use pixgw_domain::messaging::outbox::PipelineMessage;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::pix_key::PixKeyType;
use pixgw_domain::refund::ports::RefundStore;
use pixgw_domain::refund::ports::{RefundSplits, RequestRefund};
use pixgw_domain::refund::{ChargeRefund, RefundState};
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
async fn concurrent_cash_outs_spend_only_what_is_available() {
    let store = Arc::new(fresh_store().await);
    let account = AccountId::generate();
    credit_shards(&store, &account, 10_000, 3).await;
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
    let amount = 8_000;
    let affordable = (funded / amount) as usize;
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = Arc::clone(&store);
        let account = account.clone();
        tasks.push(tokio::spawn(async move {
            let c = cash_out(&account, &format!("co-{i}"), amount, T0_MS + 10_000 + i);
            for _ in 0..40 {
                let Some(draw) = plan(&store, &account, amount).await else {
                    return false;
                };
                match store.request_cash_out(&cash_out_write(&c, draw)).await {
                    Ok(MoneyOutOutcome::Applied) => return true,
                    Ok(MoneyOutOutcome::BalanceChanged) | Err(_) => continue,
                    Ok(other) => panic!("unexpected {other:?}"),
                }
            }
            panic!("cash-out {i} never settled its race");
        }));
    }
    let mut applied = 0;
    for task in tasks {
        if task.await.expect("task") {
            applied += 1;
        }
    }
    assert_eq!(applied, affordable);
    let balance = store.get_balance(&account).await.expect("balance");
    assert_eq!(
        balance.available.cents(),
        funded - amount * affordable as i64
    );
    assert_ledger_consistent(&store, &account, credits + affordable).await;
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

#[tokio::test]
async fn a_stale_draw_is_balance_changed_and_writes_nothing() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    credit(&store, &account, 10_000, T0_MS).await;
    let draw = plan(&store, &account, 8_000).await.expect("affordable");
    let first = cash_out(&account, "first", 8_000, T0_MS + 1);
    let second = cash_out(&account, "second", 8_000, T0_MS + 2);
    assert_eq!(
        store
            .request_cash_out(&cash_out_write(&first, draw.clone()))
            .await
            .expect("first"),
        MoneyOutOutcome::Applied
    );
    assert_eq!(
        store
            .request_cash_out(&cash_out_write(&second, draw))
            .await
            .expect("second"),
        MoneyOutOutcome::BalanceChanged
    );
    assert_eq!(store.get_cash_out(&second.id).await.expect("get"), None);
    assert_eq!(
        store
            .find_cash_out_by_external_id(&account, "second")
            .await
            .expect("find"),
        None
    );
    assert!(
        !store
            .movement_exists(&MovementKind::CashoutRequested.movement_id(second.id.as_str()))
            .await
            .expect("exists")
    );
    assert!(plan(&store, &account, 8_000).await.is_none());
    assert_ledger_consistent(&store, &account, 2).await;
}

#[tokio::test]
async fn a_second_cash_out_with_the_same_external_id_is_refused() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    credit(&store, &account, 10_000, T0_MS).await;
    let first = cash_out(&account, "same", 1_000, T0_MS + 1);
    let draw = plan(&store, &account, 1_000).await.expect("affordable");
    assert_eq!(
        store
            .request_cash_out(&cash_out_write(&first, draw))
            .await
            .expect("first"),
        MoneyOutOutcome::Applied
    );
    let again = cash_out(&account, "same", 1_000, T0_MS + 2);
    let draw = plan(&store, &account, 1_000).await.expect("affordable");
    assert_eq!(
        store
            .request_cash_out(&cash_out_write(&again, draw))
            .await
            .expect("again"),
        MoneyOutOutcome::DuplicateExternalId
    );
    assert_eq!(
        store
            .find_cash_out_by_external_id(&account, "same")
            .await
            .expect("find"),
        Some(first.clone())
    );
    // Another account may use the same externalId.
    assert_eq!(
        store
            .find_cash_out_by_external_id(&AccountId::generate(), "same")
            .await
            .expect("find"),
        None
    );
    assert_eq!(store.get_cash_out(&again.id).await.expect("get"), None);
    // The same cash-out again (a retry): its id exists, and the guard too.
    let draw = plan(&store, &account, 1_000).await.expect("affordable");
    assert_eq!(
        store
            .request_cash_out(&cash_out_write(&first, draw))
            .await
            .expect("retry"),
        MoneyOutOutcome::DuplicateExternalId
    );
    assert_eq!(
        store
            .get_balance(&account)
            .await
            .expect("balance")
            .available
            .cents(),
        9_000
    );
    assert_ledger_consistent(&store, &account, 2).await;
}

#[tokio::test]
async fn cash_outs_settle_once_and_list_newest_first() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    credit(&store, &account, 10_000, T0_MS).await;
    let mut created = Vec::new();
    for i in 0..3 {
        let c = cash_out(
            &account,
            &format!("list-{i}"),
            1_000,
            T0_MS + 1_000 * (i + 1),
        );
        let draw = plan(&store, &account, 1_000).await.expect("affordable");
        assert_eq!(
            store
                .request_cash_out(&cash_out_write(&c, draw))
                .await
                .expect("cash-out"),
            MoneyOutOutcome::Applied
        );
        created.push(c);
    }
    // The middle one fails: its money comes back.
    let failed_at = at_ms(T0_MS + 10_000);
    let failed = CashOut {
        state: CashOutState::Failed,
        failure_reason: Some("key not found".to_owned()),
        updated_at: failed_at,
        ..created[1].clone()
    };
    let back = Movement::transfer(
        MovementKind::CashoutReturned,
        &account,
        failed.id.as_str(),
        LedgerAccount::PixNetwork,
        LedgerAccount::Merchant(account.clone(), Bucket::Available),
        failed.amount,
        failed_at,
    )
    .expect("movement");
    let update = UpdateCashOut {
        cash_out: failed.clone(),
        from: CashOutState::Processing,
        movement: Some(back),
        events: vec![],
    };
    assert_eq!(
        store.update_cash_out(&update).await.expect("update"),
        WriteOutcome::Applied
    );
    assert_eq!(
        store.update_cash_out(&update).await.expect("again"),
        WriteOutcome::Conflict
    );
    assert_eq!(
        store.get_cash_out(&failed.id).await.expect("get"),
        Some(failed.clone())
    );
    assert_eq!(
        store
            .get_balance(&account)
            .await
            .expect("balance")
            .available
            .cents(),
        8_000
    );
    assert_ledger_consistent(&store, &account, 5).await;

    let query = |state, after, limit| CashOutQuery {
        state,
        from: None,
        to: None,
        limit,
        after,
    };
    let all = eventually(
        || async {
            store
                .list_cash_outs(&account, &query(None, None, 2))
                .await
                .expect("list")
        },
        |p| p.items.len() == 2,
    )
    .await;
    assert_eq!(
        all.items.iter().map(|c| &c.id).collect::<Vec<_>>(),
        vec![&created[2].id, &created[1].id]
    );
    let rest = store
        .list_cash_outs(&account, &query(None, all.next.clone(), 2))
        .await
        .expect("list");
    assert_eq!(rest.items, vec![created[0].clone()]);
    assert_eq!(rest.next, None);
    let by_state = eventually(
        || async {
            store
                .list_cash_outs(&account, &query(Some(CashOutState::Failed), None, 10))
                .await
                .expect("list")
        },
        |p| p.items.len() == 1,
    )
    .await;
    assert_eq!(by_state.items, vec![failed]);
    let processing = eventually(
        || async {
            store
                .list_cash_outs(&account, &query(Some(CashOutState::Processing), None, 10))
                .await
                .expect("list")
        },
        |p| p.items.len() == 2,
    )
    .await;
    assert_eq!(
        processing.items.iter().map(|c| &c.id).collect::<Vec<_>>(),
        vec![&created[2].id, &created[0].id]
    );
    // [from, to): only the middle one.
    let window = store
        .list_cash_outs(
            &account,
            &CashOutQuery {
                from: Some(at_ms(T0_MS + 2_000)),
                to: Some(at_ms(T0_MS + 3_000)),
                ..query(None, None, 10)
            },
        )
        .await
        .expect("list");
    assert_eq!(
        window.items.iter().map(|c| &c.id).collect::<Vec<_>>(),
        vec![&created[1].id]
    );
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

fn refunding(c: &Charge, at: i64) -> Charge {
    Charge {
        status: ChargeStatus::RefundProcessing,
        refund: Some(ChargeRefund {
            attempt: 1,
            state: RefundState::Processing,
            reason: "CUSTOMER_REQUEST".to_owned(),
            description: "devolução".to_owned(),
            end_to_end_id: None,
            provider_refund_id: None,
            failure_reason: None,
            requested_at: at_ms(at),
            settled_at: None,
            idempotency_key: None,
        }),
        ..c.clone()
    }
}

fn refund_message(c: &Charge, at: i64) -> Vec<pixgw_domain::messaging::outbox::OutboxMessage> {
    vec![
        PipelineMessage::RefundRequested {
            transaction_id: c.transaction_id.clone(),
            account_id: c.account_id.clone(),
            attempt: 1,
        }
        .to_outbox(at_ms(at)),
    ]
}

/// The refund of a charge whose splits were not booked: all from `incoming`.
fn refund_not_booked(c: &Charge, at: i64) -> RequestRefund {
    let movement = Movement::transfer(
        MovementKind::RefundRequested,
        &c.account_id,
        &format!("{}#1", c.transaction_id),
        LedgerAccount::Merchant(c.account_id.clone(), Bucket::Incoming),
        LedgerAccount::PixNetwork,
        c.amount,
        at_ms(at),
    )
    .expect("movement");
    RequestRefund {
        charge: refunding(c, at),
        splits: RefundSplits::NotBooked,
        movement,
        draw: AvailableDraw::default(),
        outbox: refund_message(c, at),
        completion: None,
    }
}

#[tokio::test]
async fn a_not_booked_refund_is_blocked_once_the_splits_are_booked() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    // Booked before the refund: the NotBooked plan is stale.
    let booked = confirmed(&store, &account, T0_MS, true).await;
    let write = refund_not_booked(&booked, T0_MS + 5_000);
    assert_eq!(
        store.request_refund(&write).await.expect("refund"),
        MoneyOutOutcome::Conflict
    );
    let still = store.get_charge(&booked.transaction_id).await.expect("get");
    assert_eq!(still.map(|c| c.status), Some(ChargeStatus::Confirmed));
    assert!(
        !store
            .movement_exists(&write.movement.id)
            .await
            .expect("exists")
    );

    // Not booked: the refund applies, and the splits can no longer be booked.
    let open = confirmed(&store, &account, T0_MS + 10_000, false).await;
    let write = refund_not_booked(&open, T0_MS + 15_000);
    assert_eq!(
        store.request_refund(&write).await.expect("refund"),
        MoneyOutOutcome::Applied
    );
    assert_eq!(
        store.get_charge(&open.transaction_id).await.expect("get"),
        Some(write.charge.clone())
    );
    assert!(
        store
            .movement_exists(&write.movement.id)
            .await
            .expect("exists")
    );
    assert_eq!(
        store
            .book_splits(&book_write(&open, T0_MS + 16_000))
            .await
            .expect("book"),
        WriteOutcome::Conflict
    );
    // A second request (the charge is no longer CONFIRMED).
    assert_eq!(
        store.request_refund(&write).await.expect("again"),
        MoneyOutOutcome::Conflict
    );
    // 2 confirmations, 1 booking, 1 refund.
    assert_ledger_consistent(&store, &account, 4).await;
    let balance = store.get_balance(&account).await.expect("balance");
    assert_eq!(balance.incoming.cents(), 0);
}

/// The refund of a booked charge cancelling `cancelled` (their shares come from the reserve)
/// and taking the rest from `available` as planned.
async fn refund_booked(
    store: &DynamoStore,
    c: &Charge,
    cancelled: Vec<pixgw_domain::split::entry::SplitEntry>,
    at: i64,
) -> RequestRefund {
    let reserve: i64 = cancelled.iter().map(|s| s.split.amount.cents()).sum();
    let from_available = c.amount.cents() - reserve;
    let account = &c.account_id;
    let merchant = |bucket, cents: i64| Leg {
        account: LedgerAccount::Merchant(account.clone(), bucket),
        amount: Money::from_cents(cents),
    };
    let movement = Movement::new(
        MovementKind::RefundRequested,
        account,
        &format!("{}#1", c.transaction_id),
        vec![
            merchant(Bucket::ReservedForSplits, -reserve),
            merchant(Bucket::Available, -from_available),
            Leg {
                account: LedgerAccount::PixNetwork,
                amount: c.amount,
            },
        ],
        at_ms(at),
    )
    .expect("movement");
    let draw = plan(store, account, from_available)
        .await
        .expect("affordable");
    let cancelled = cancelled
        .into_iter()
        .map(|mut s| {
            s.state = SplitState::Cancelled;
            s.updated_at = at_ms(at);
            s
        })
        .collect();
    RequestRefund {
        charge: refunding(c, at),
        splits: RefundSplits::Booked { cancelled },
        movement,
        draw,
        outbox: refund_message(c, at),
        completion: None,
    }
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

    // Split 0 already left SCHEDULED (it is in a payout): the refund conflicts, nothing moves.
    let before = store.get_balance(&account).await.expect("balance");
    let stale = refund_booked(&store, &c, splits.clone(), T0_MS + 9_000).await;
    assert_eq!(
        store.request_refund(&stale).await.expect("refund"),
        MoneyOutOutcome::Conflict
    );
    assert_eq!(store.get_balance(&account).await.expect("balance"), before);
    assert_eq!(
        store.get_splits(&c.transaction_id).await.expect("splits"),
        splits
    );

    // Only the SCHEDULED one: applied.
    let write = refund_booked(&store, &c, vec![splits[1].clone()], T0_MS + 9_000).await;
    assert_eq!(
        store.request_refund(&write).await.expect("refund"),
        MoneyOutOutcome::Applied
    );
    let after = store.get_splits(&c.transaction_id).await.expect("splits");
    assert_eq!(after[0], splits[0]);
    assert_eq!(after[1].state, SplitState::Cancelled);
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
async fn transitions_are_conditioned_on_the_stored_status() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let c = charge(&account, "tr-1", T0_MS);
    store.insert_charge(&c, None).await.expect("insert");
    let expired = Charge {
        status: ChargeStatus::Expired,
        ..c.clone()
    };
    let wrong = ChargeTransition {
        charge: expired.clone(),
        from: ChargeStatus::Confirmed,
        movement: None,
        events: vec![],
        outbox: vec![],
    };
    assert_eq!(
        store.transition_charge(&wrong).await.expect("transition"),
        WriteOutcome::Conflict
    );
    let right = ChargeTransition {
        from: ChargeStatus::Pending,
        ..wrong
    };
    assert_eq!(
        store.transition_charge(&right).await.expect("transition"),
        WriteOutcome::Applied
    );
    assert_eq!(
        store.transition_charge(&right).await.expect("again"),
        WriteOutcome::Conflict
    );
    assert_eq!(
        store.get_charge(&c.transaction_id).await.expect("get"),
        Some(expired.clone())
    );
    // The status index follows.
    let listed = eventually(
        || async {
            store
                .list_charges(
                    &account,
                    &pixgw_domain::charge::ports::ChargeQuery {
                        status: Some(ChargeStatus::Expired),
                        from: None,
                        to: None,
                        limit: 10,
                        after: None,
                    },
                )
                .await
                .expect("list")
        },
        |p| p.items.len() == 1,
    )
    .await;
    assert_eq!(listed.items, vec![expired]);
    // A payment that arrives after the expiry is still confirmed.
    assert_eq!(
        store
            .confirm_charge(&confirm_write(&c, T0_MS + 4_000_000))
            .await
            .expect("confirm"),
        WriteOutcome::Applied
    );
    let stored = store.get_charge(&c.transaction_id).await.expect("get");
    assert_eq!(stored.map(|c| c.status), Some(ChargeStatus::Confirmed));
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

#[tokio::test]
async fn movements_page_exactly_across_shards() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    // 12 credits, in pairs sharing a millisecond, spread over the ledger shards.
    for i in 0..12 {
        credit(&store, &account, 100, T0_MS + (i / 2) * 1_000).await;
    }
    let all = eventually(
        || async { store.list_movements(&account).await.expect("movements") },
        |m| m.len() == 12,
    )
    .await;
    assert_eq!(all.len(), 12);
    let shards: HashSet<u32> = all.iter().map(|m| balance_shard(&m.id)).collect();
    assert!(shards.len() > 1);
    let page = |start: Option<&Movement>, inclusive, limit| MovementQuery {
        from: None,
        to: None,
        start: start.map(|m| MovementCursor {
            created_at: m.created_at,
            movement_id: m.id.clone(),
        }),
        inclusive,
        limit,
    };
    // Exclusive paging walks the whole ledger in order; `more` is set exactly when another
    // movement follows the page (12 = 5 + 5 + 2).
    let mut walked: Vec<Movement> = Vec::new();
    let mut mores = Vec::new();
    loop {
        let next = store
            .movements_page(&account, &page(walked.last(), false, 5))
            .await
            .expect("page");
        assert!(next.movements.len() <= 5);
        walked.extend(next.movements);
        mores.push(next.more);
        if !next.more {
            break;
        }
    }
    assert_eq!(walked, all);
    assert_eq!(mores, [true, true, false]);
    // Inclusive starts at the position itself (also inside a shared millisecond).
    for at in [0, 3, 6, 11] {
        let inclusive = store
            .movements_page(&account, &page(Some(&all[at]), true, 3))
            .await
            .expect("page");
        assert_eq!(inclusive.movements, all[at..(at + 3).min(12)].to_vec());
        assert_eq!(inclusive.more, at + 3 < 12, "inclusive from {at}");
        let exclusive = store
            .movements_page(&account, &page(Some(&all[at]), false, 3))
            .await
            .expect("page");
        assert_eq!(
            exclusive.movements,
            all[(at + 1).min(12)..(at + 4).min(12)].to_vec()
        );
        assert_eq!(exclusive.more, at + 4 < 12, "exclusive from {at}");
    }
    // [from, to) on createdAt, with a start inside it.
    let window = MovementQuery {
        from: Some(at_ms(T0_MS + 1_000)),
        to: Some(at_ms(T0_MS + 4_000)),
        ..page(None, false, 100)
    };
    assert_eq!(
        store.movements_page(&account, &window).await.expect("page"),
        MovementPage {
            movements: all[2..8].to_vec(),
            more: false
        }
    );
    let window_after = MovementQuery {
        start: Some(MovementCursor {
            created_at: all[4].created_at,
            movement_id: all[4].id.clone(),
        }),
        limit: 2,
        ..window.clone()
    };
    assert_eq!(
        store
            .movements_page(&account, &window_after)
            .await
            .expect("page"),
        MovementPage {
            movements: all[5..7].to_vec(),
            more: true
        }
    );
    let empty = MovementQuery {
        from: Some(at_ms(T0_MS + 4_000)),
        to: Some(at_ms(T0_MS + 4_000)),
        ..page(None, false, 10)
    };
    assert_eq!(
        store.movements_page(&account, &empty).await.expect("page"),
        MovementPage::default()
    );
}

#[tokio::test]
async fn a_cash_out_completes_its_claim_or_reports_it_lost() {
    use common::{claim_request, must_claim};
    use pixgw_domain::idempotency::{
        ClaimOutcome, IdempotencyCompletion, IdempotencyStore, StoredResponse,
    };
    let completion = |claim| IdempotencyCompletion {
        claim,
        response: StoredResponse {
            status: 202,
            body: "{}".to_owned(),
        },
    };
    let store = fresh_store().await;
    let account = AccountId::generate();
    credit(&store, &account, 10_000, T0_MS).await;
    // The lease ran out and a retry took the key over: ClaimLost, nothing written.
    let stale = must_claim(&store, &claim_request(&account, "k", "h", "tok-a", T0_MS)).await;
    must_claim(
        &store,
        &claim_request(&account, "k", "h", "tok-b", T0_MS + 31_000),
    )
    .await;
    let c = cash_out(&account, "claimed", 1_000, T0_MS + 1);
    let mut write = cash_out_write(&c, plan(&store, &account, 1_000).await.expect("draw"));
    write.completion = Some(completion(stale));
    assert_eq!(
        store.request_cash_out(&write).await.expect("cash-out"),
        MoneyOutOutcome::ClaimLost
    );
    assert_eq!(store.get_cash_out(&c.id).await.expect("get"), None);
    // With a live claim: applied, and the claim completed in the same write.
    let live = must_claim(&store, &claim_request(&account, "k2", "h", "tok-c", T0_MS)).await;
    write.completion = Some(completion(live));
    assert_eq!(
        store.request_cash_out(&write).await.expect("cash-out"),
        MoneyOutOutcome::Applied
    );
    let replay = store
        .claim(&claim_request(&account, "k2", "h", "tok-d", T0_MS + 1_000))
        .await
        .expect("claim");
    assert!(matches!(replay, ClaimOutcome::Replay(_)), "{replay:?}");
    assert_ledger_consistent(&store, &account, 2).await;
}
