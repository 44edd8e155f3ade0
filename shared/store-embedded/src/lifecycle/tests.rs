//! Embedded specifics of the money-lifecycle writes: the one balance row under concurrent
//! debits, the refund and cash-out conditions, the expiry index and the statement pages.

use chrono::Duration;
use pixgw_domain::cash_out::{CashOutDestination, CashOutState};
use pixgw_domain::charge::ports::ChargeStore;
use pixgw_domain::ledger::{Bucket, LedgerAccount, Leg};
use pixgw_domain::messaging::events::{AccountEvent, EventType};
use pixgw_domain::messaging::outbox::PipelineMessage;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::pix_key::PixKeyType;
use pixgw_domain::refund::{ChargeRefund, RefundState};
use pixgw_domain::split::entry::SplitEntry;
use tempfile::TempDir;

use super::*;
use crate::settlement::SPLITS_SCHEDULED;
use crate::test_support::*;
use pixgw_domain::split::ports::SplitStore;

fn open() -> (TempDir, EmbeddedStore) {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    (dir, store)
}

/// Adds [`CHARGE_CENTS`] to the account's `available`: a charge without splits, confirmed and
/// booked at `at`.
async fn funded_at(store: &EmbeddedStore, account: &AccountId, at: DateTime<Utc>) -> Charge {
    let charge = charge_with(account, Vec::new());
    stored_charge(store, &charge).await;
    assert_eq!(
        store.confirm_charge(&confirm_write(&charge, at)).await,
        Ok(WriteOutcome::Applied)
    );
    let mut booking = booking(&charge, Vec::new(), Vec::new());
    booking.movement.created_at = at;
    assert_eq!(store.book_splits(&booking).await, Ok(WriteOutcome::Applied));
    charge
}

async fn funded(store: &EmbeddedStore, account: &AccountId) -> Charge {
    funded_at(store, account, t0()).await
}

async fn balance(store: &EmbeddedStore, account: &AccountId) -> Balance {
    store.get_balance(account).await.expect("balance")
}

/// The stored balance row equals the sum of the account's movements, and spends nothing it
/// does not have.
async fn assert_balance_is_sum_of_movements(store: &EmbeddedStore, account: &AccountId) {
    let movements = store.list_movements(account).await.expect("movements");
    let stored = balance(store, account).await;
    assert_eq!(stored, Balance::from_movements(account, &movements));
    assert!(stored.available.cents() >= 0, "available went negative");
    assert!(stored.incoming.cents() >= 0 && stored.reserved_for_splits.cents() >= 0);
}

fn cash_out_at(account: &AccountId, external_id: &str, cents: i64, at: DateTime<Utc>) -> CashOut {
    CashOut {
        id: CashOutId::generate(),
        account_id: account.clone(),
        external_id: external_id.to_owned(),
        amount: Money::from_cents(cents),
        description: "Saque".into(),
        destination: CashOutDestination::PixKey {
            key: "11222333000181".into(),
            key_type: PixKeyType::Cnpj,
        },
        state: CashOutState::Processing,
        end_to_end_id: None,
        provider: "sandbox".into(),
        provider_transfer_id: None,
        failure_reason: None,
        created_at: at,
        updated_at: at,
    }
}

fn cash_out(account: &AccountId, external_id: &str, cents: i64) -> CashOut {
    cash_out_at(account, external_id, cents, t0())
}

/// The write requesting `cash_out`, its draw planned from `shards`.
fn cash_out_write(cash_out: &CashOut, shards: &[(u32, Balance)]) -> RequestCashOut {
    let account = &cash_out.account_id;
    let movement = Movement::transfer(
        MovementKind::CashoutRequested,
        account,
        cash_out.id.as_str(),
        LedgerAccount::Merchant(account.clone(), Bucket::Available),
        LedgerAccount::PixNetwork,
        cash_out.amount,
        cash_out.created_at,
    )
    .expect("movement");
    let message = PipelineMessage::CashOutRequested {
        cash_out_id: cash_out.id.clone(),
        account_id: account.clone(),
    };
    RequestCashOut {
        cash_out: cash_out.clone(),
        movement,
        draw: AvailableDraw::plan(shards, cash_out.amount).expect("enough available"),
        outbox: vec![message.to_outbox(cash_out.created_at)],
        completion: None,
    }
}

async fn planned(store: &EmbeddedStore, cash_out: &CashOut) -> RequestCashOut {
    let shards = store
        .balance_shards(&cash_out.account_id)
        .await
        .expect("shards");
    cash_out_write(cash_out, &shards)
}

// ---------------------------------------------------------------------------------------------
// Balance row and draws

#[tokio::test]
async fn balance_shards_report_the_one_row_as_shard_zero() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    assert_eq!(store.balance_shards(&account).await, Ok(Vec::new()));
    funded(&store, &account).await;
    assert_eq!(
        store.balance_shards(&account).await,
        Ok(vec![(0, balance(&store, &account).await)])
    );
    assert_eq!(
        balance(&store, &account).await.available,
        Money::from_cents(CHARGE_CENTS)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cash_outs_never_spend_more_than_available() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    funded(&store, &account).await;
    funded(&store, &account).await;
    let available = 2 * CHARGE_CENTS;
    let shards = store.balance_shards(&account).await.expect("shards");
    // Every write is planned from the same read, as racing requests would be.
    let writes: Vec<RequestCashOut> = (0..12)
        .map(|i| cash_out_write(&cash_out(&account, &format!("co-{i}"), 3_000), &shards))
        .collect();
    let mut tasks = Vec::new();
    for write in writes {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let outcome = store.request_cash_out(&write).await.expect("write");
            (outcome, write.cash_out.amount.cents())
        }));
    }
    let mut spent = 0;
    let (mut applied, mut changed) = (0, 0);
    for task in tasks {
        match task.await.expect("task") {
            (MoneyOutOutcome::Applied, cents) => {
                applied += 1;
                spent += cents;
            }
            (MoneyOutOutcome::BalanceChanged, _) => changed += 1,
            (other, _) => panic!("unexpected {other:?}"),
        }
    }
    assert!(spent <= available);
    assert_eq!(
        (applied, changed),
        (6, 6),
        "6 × 30.00 fit in 200.00, a 7th does not"
    );
    assert_eq!(
        balance(&store, &account).await.available.cents(),
        available - spent
    );
    assert_balance_is_sum_of_movements(&store, &account).await;
    let page = store
        .list_cash_outs(&account, &all_cash_outs(100))
        .await
        .expect("list");
    assert_eq!(page.items.len(), applied);
}

#[tokio::test]
async fn a_draw_that_does_not_match_the_movement_is_corrupt_and_writes_nothing() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    funded(&store, &account).await;
    let cash_out = cash_out(&account, "a", 5_000);
    let mut write = planned(&store, &cash_out).await;
    write.draw = AvailableDraw {
        parts: vec![(0, Money::from_cents(4_000))],
    };
    assert!(matches!(
        store.request_cash_out(&write).await,
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(store.get_cash_out(&cash_out.id).await, Ok(None));
    assert_eq!(
        balance(&store, &account).await.available.cents(),
        CHARGE_CENTS
    );
    // A write without a draw whose movement debits `available` is refused the same way.
    let update = UpdateCashOut {
        cash_out: cash_out.clone(),
        from: CashOutState::Processing,
        movement: Some(write.movement.clone()),
        events: Vec::new(),
    };
    assert!(matches!(
        store.update_cash_out(&update).await,
        Err(StoreError::Corrupt(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Cash-outs

fn all_cash_outs(limit: u32) -> CashOutQuery {
    CashOutQuery {
        state: None,
        from: None,
        to: None,
        limit,
        after: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Refunds

fn refunded(charge: &Charge, now: DateTime<Utc>) -> Charge {
    let refund = ChargeRefund {
        attempt: 1,
        state: RefundState::Processing,
        reason: "CUSTOMER_REQUEST".into(),
        description: "devolução".into(),
        end_to_end_id: None,
        provider_refund_id: None,
        failure_reason: None,
        requested_at: now,
        settled_at: None,
        idempotency_key: None,
    };
    Charge {
        status: ChargeStatus::RefundProcessing,
        refund: Some(refund),
        ..charge.clone()
    }
}

fn leg(account: LedgerAccount, cents: i64) -> Leg {
    Leg {
        account,
        amount: Money::from_cents(cents),
    }
}

/// A refund of `charge` whose splits were not booked: all of it from `incoming`.
fn refund_not_booked(charge: &Charge) -> RequestRefund {
    let stored = Charge {
        status: ChargeStatus::Confirmed,
        ..charge.clone()
    };
    let account = &charge.account_id;
    let movement = Movement::new(
        MovementKind::RefundRequested,
        account,
        &format!("{}#1", charge.transaction_id),
        vec![
            leg(
                LedgerAccount::Merchant(account.clone(), Bucket::Incoming),
                -charge.amount.cents(),
            ),
            leg(LedgerAccount::PixNetwork, charge.amount.cents()),
        ],
        at(100),
    )
    .expect("movement");
    let message = PipelineMessage::RefundRequested {
        transaction_id: charge.transaction_id.clone(),
        account_id: account.clone(),
        attempt: 1,
    };
    RequestRefund {
        charge: refunded(&stored, at(100)),
        splits: RefundSplits::NotBooked,
        movement,
        draw: AvailableDraw::default(),
        outbox: vec![message.to_outbox(at(100))],
        completion: None,
    }
}

/// A refund of a booked `charge` cancelling `cancelled` (their reserve pays part of it), the
/// rest drawn from `shards`.
fn refund_booked(
    charge: &Charge,
    cancelled: Vec<SplitEntry>,
    shards: &[(u32, Balance)],
) -> RequestRefund {
    let account = &charge.account_id;
    let merchant = |bucket| LedgerAccount::Merchant(account.clone(), bucket);
    let from_reserve: i64 = cancelled.iter().map(|s| s.split.amount.cents()).sum();
    let from_available = charge.amount.cents() - from_reserve;
    let movement = Movement::new(
        MovementKind::RefundRequested,
        account,
        &format!("{}#1", charge.transaction_id),
        vec![
            leg(merchant(Bucket::ReservedForSplits), -from_reserve),
            leg(merchant(Bucket::Available), -from_available),
            leg(LedgerAccount::PixNetwork, charge.amount.cents()),
        ],
        at(100),
    )
    .expect("movement");
    let cancelled = cancelled
        .into_iter()
        .map(|s| SplitEntry {
            state: SplitState::Cancelled,
            updated_at: at(100),
            ..s
        })
        .collect();
    RequestRefund {
        splits: RefundSplits::Booked { cancelled },
        movement,
        draw: AvailableDraw::plan(shards, Money::from_cents(from_available)).unwrap_or_default(),
        ..refund_not_booked(charge)
    }
}

async fn stored(store: &EmbeddedStore, charge: &Charge) -> Charge {
    store
        .get_charge(&charge.transaction_id)
        .await
        .expect("get")
        .expect("charge")
}

#[tokio::test]
async fn a_booked_refund_cancels_scheduled_splits_and_draws_the_rest() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let charge = charge(&account);
    confirmed(&store, &charge).await;
    let booking = book_write(&charge);
    assert_eq!(store.book_splits(&booking).await, Ok(WriteOutcome::Applied));
    // 85.00 available after booking; the refund needs 95.00 of it (5.00 comes from the
    // scheduled split's reserve).
    let scheduled = booking.splits[1].clone();
    let processing = booking.splits[0].clone();
    let shards = store.balance_shards(&account).await.expect("shards");
    let write = refund_booked(&charge, vec![scheduled.clone()], &shards);
    assert!(write.draw.parts.is_empty(), "85.00 cannot cover 95.00");
    let stale = RequestRefund {
        draw: AvailableDraw {
            parts: vec![(0, Money::from_cents(9_500))],
        },
        ..write
    };
    assert_eq!(
        store.request_refund(&stale).await,
        Ok(MoneyOutOutcome::BalanceChanged)
    );
    assert_eq!(
        stored(&store, &charge).await.status,
        ChargeStatus::Confirmed
    );
    assert_eq!(keys_of(&store, SPLITS_SCHEDULED).len(), 1);

    // A split that is not SCHEDULED (the immediate one, in its payout) cannot be cancelled.
    funded(&store, &account).await;
    let shards = store.balance_shards(&account).await.expect("shards");
    let with_processing = refund_booked(&charge, vec![processing, scheduled.clone()], &shards);
    assert_eq!(
        store.request_refund(&with_processing).await,
        Ok(MoneyOutOutcome::Conflict)
    );
    let before = balance(&store, &account).await;

    let write = refund_booked(&charge, vec![scheduled.clone()], &shards);
    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::Applied)
    );
    let splits = store.get_splits(&charge.transaction_id).await.expect("get");
    assert_eq!(splits[1].state, SplitState::Cancelled);
    assert_eq!(splits[0].state, SplitState::Processing);
    assert!(
        keys_of(&store, SPLITS_SCHEDULED).is_empty(),
        "the cancelled split left the SCHEDULED index"
    );
    let after = balance(&store, &account).await;
    assert_eq!(after.available.cents(), before.available.cents() - 9_500);
    assert_eq!(
        after.reserved_for_splits.cents(),
        before.reserved_for_splits.cents() - 500
    );
    assert_eq!(stored(&store, &charge).await, write.charge);
    assert_balance_is_sum_of_movements(&store, &account).await;
}

// ---------------------------------------------------------------------------------------------
// Transitions and the expiry index

fn expire(charge: &Charge, now: DateTime<Utc>) -> ChargeTransition {
    let event = AccountEvent::new(
        &charge.account_id,
        EventType::CashinExpired,
        charge.transaction_id.as_str(),
        now,
        serde_json::json!({"transactionId": charge.transaction_id.as_str()}),
    );
    ChargeTransition {
        charge: Charge {
            status: ChargeStatus::Expired,
            ..charge.clone()
        },
        from: ChargeStatus::Pending,
        movement: None,
        events: vec![event],
        outbox: Vec::new(),
    }
}

fn expiring(account: &AccountId, expires_in: i64) -> Charge {
    let charge = charge_with(account, Vec::new());
    Charge {
        expires_at: t0() + Duration::seconds(expires_in),
        ..charge
    }
}

#[tokio::test]
async fn the_expiry_index_holds_only_pending_charges_soonest_first() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let late = expiring(&account, 300);
    let soon = expiring(&account, 100);
    let middle = expiring(&account, 200);
    let confirmed_one = expiring(&account, 150);
    for charge in [&late, &soon, &middle, &confirmed_one] {
        stored_charge(&store, charge).await;
    }
    let ids = |charges: Vec<Charge>| -> Vec<TransactionId> {
        charges.into_iter().map(|c| c.transaction_id).collect()
    };
    // Due at or before `now`, inclusive.
    let due = store
        .expired_pending_charges(at(200), 10)
        .await
        .expect("due");
    assert_eq!(
        ids(due),
        vec![
            soon.transaction_id.clone(),
            confirmed_one.transaction_id.clone(),
            middle.transaction_id.clone()
        ]
    );
    let due = store
        .expired_pending_charges(at(400), 2)
        .await
        .expect("due");
    assert_eq!(
        ids(due),
        vec![
            soon.transaction_id.clone(),
            confirmed_one.transaction_id.clone()
        ]
    );
    assert_eq!(
        store.expired_pending_charges(at(99), 10).await,
        Ok(Vec::new())
    );

    // Confirmed and expired charges leave the index.
    assert_eq!(
        store
            .confirm_charge(&confirm_write(&confirmed_one, at(10)))
            .await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(
        store.transition_charge(&expire(&soon, at(100))).await,
        Ok(WriteOutcome::Applied)
    );
    let due = store
        .expired_pending_charges(at(400), 10)
        .await
        .expect("due");
    assert_eq!(
        ids(due),
        vec![middle.transaction_id.clone(), late.transaction_id.clone()]
    );
    assert_eq!(keys_of(&store, CHARGES_BY_EXPIRY).len(), 2);
}

#[tokio::test]
async fn confirming_an_expired_charge_applies() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let charge = charge(&account);
    stored_charge(&store, &charge).await;
    assert_eq!(
        store.transition_charge(&expire(&charge, at(3_600))).await,
        Ok(WriteOutcome::Applied)
    );
    let write = confirm_write(&charge, at(3_700));
    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Applied)
    );
    let confirmed = stored(&store, &charge).await;
    assert_eq!(confirmed.status, ChargeStatus::Confirmed);
    assert!(confirmed.paid_after_expiration());
    assert_eq!(balance(&store, &account).await.incoming, charge.amount);
    assert!(keys_of(&store, CHARGES_BY_EXPIRY).is_empty());
    // Once CONFIRMED, a second report of a payment is refused as before.
    assert_eq!(
        store
            .confirm_charge(&confirm_write(&charge, at(3_800)))
            .await,
        Ok(WriteOutcome::Conflict)
    );
}

#[tokio::test]
async fn opening_a_file_without_the_expiry_index_fills_it() {
    let dir = TempDir::new().expect("temp dir");
    let account = AccountId::generate();
    let pending = expiring(&account, 10);
    let confirmed_one = expiring(&account, 20);
    {
        let store = EmbeddedStore::open(dir.path()).expect("open");
        stored_charge(&store, &pending).await;
        confirmed(&store, &confirmed_one).await;
        // As a file written before the index existed.
        let txn = store.db.begin_write().expect("write");
        txn.delete_table(CHARGES_BY_EXPIRY).expect("delete");
        txn.commit().expect("commit");
    }
    let store = EmbeddedStore::open(dir.path()).expect("reopen");
    let due = store.expired_pending_charges(at(100), 10).await;
    assert_eq!(due, Ok(vec![pending]));
}

// ---------------------------------------------------------------------------------------------
// Statement
