//! Embedded specifics of the money-lifecycle writes: the one balance row under concurrent
//! debits, the refund and cash-out conditions, the expiry index and the statement pages.

use chrono::Duration;
use pixgw_domain::cash_out::ports::CashOutCursor;
use pixgw_domain::cash_out::{CashOutDestination, CashOutState};
use pixgw_domain::charge::ports::{ChargeQuery, ChargeStore};
use pixgw_domain::idempotency::{
    ClaimOutcome, ClaimRequest, IdempotencyClaim, IdempotencyStore, StoredResponse,
};
use pixgw_domain::ledger::ports::MovementCursor;
use pixgw_domain::ledger::{Bucket, LedgerAccount, Leg};
use pixgw_domain::messaging::events::{AccountEvent, EventLog, EventType};
use pixgw_domain::messaging::outbox::OutboxFeed;
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

async fn claimed(store: &EmbeddedStore, account: &AccountId, key: &str) -> IdempotencyClaim {
    let request = ClaimRequest {
        account_id: account,
        key,
        request_hash: "hash-1",
        lock_token: "token-1",
        now: t0(),
        lease_until: t0() + Duration::seconds(30),
        expires_at: t0() + Duration::hours(24),
    };
    match store.claim(&request).await.expect("claim") {
        ClaimOutcome::Claimed(claim) => claim,
        other => panic!("expected a fresh claim, got {other:?}"),
    }
}

fn completion(claim: IdempotencyClaim) -> IdempotencyCompletion {
    IdempotencyCompletion {
        claim,
        response: StoredResponse {
            status: 201,
            body: "{\"ok\":true}".into(),
        },
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cash_outs_that_replan_spend_everything_and_no_more() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    funded(&store, &account).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let cash_out = cash_out(&account, &format!("co-{i}"), 1_500);
        tasks.push(tokio::spawn(async move {
            loop {
                let shards = store
                    .balance_shards(&cash_out.account_id)
                    .await
                    .expect("shards");
                let Ok(draw) = AvailableDraw::plan(&shards, cash_out.amount) else {
                    return 0;
                };
                let write = RequestCashOut {
                    draw,
                    ..cash_out_write(&cash_out, &shards)
                };
                match store.request_cash_out(&write).await.expect("write") {
                    MoneyOutOutcome::Applied => return cash_out.amount.cents(),
                    MoneyOutOutcome::BalanceChanged => continue,
                    other => panic!("unexpected {other:?}"),
                }
            }
        }));
    }
    let mut spent = 0;
    for task in tasks {
        spent += task.await.expect("task");
    }
    // 6 × 15.00 fit in 100.00.
    assert_eq!(spent, 9_000);
    assert_eq!(balance(&store, &account).await.available.cents(), 1_000);
    assert_balance_is_sum_of_movements(&store, &account).await;
}

#[tokio::test]
async fn a_draw_the_balance_no_longer_holds_writes_nothing() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    funded(&store, &account).await;
    let first = cash_out(&account, "a", 8_000);
    let second = cash_out(&account, "b", 8_000);
    let first_write = planned(&store, &first).await;
    let second_write = planned(&store, &second).await;
    assert_eq!(
        store.request_cash_out(&first_write).await,
        Ok(MoneyOutOutcome::Applied)
    );
    assert_eq!(
        store.request_cash_out(&second_write).await,
        Ok(MoneyOutOutcome::BalanceChanged)
    );
    assert_eq!(store.get_cash_out(&second.id).await, Ok(None));
    assert_eq!(
        store.find_cash_out_by_external_id(&account, "b").await,
        Ok(None)
    );
    assert_eq!(
        store.movement_exists(&second_write.movement.id).await,
        Ok(false)
    );
    assert_eq!(
        store.movement_exists(&first_write.movement.id).await,
        Ok(true)
    );
    let outbox = store.poll_outbox(100).await.expect("outbox");
    assert!(outbox.iter().any(|m| m.id == first_write.outbox[0].id));
    assert!(!outbox.iter().any(|m| m.id == second_write.outbox[0].id));
    assert_eq!(balance(&store, &account).await.available.cents(), 2_000);
    assert_balance_is_sum_of_movements(&store, &account).await;
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

#[tokio::test]
async fn a_duplicate_external_id_is_refused_per_account() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let other = AccountId::generate();
    funded(&store, &account).await;
    funded(&store, &other).await;
    let first = cash_out(&account, "same", 1_000);
    assert_eq!(
        store.request_cash_out(&planned(&store, &first).await).await,
        Ok(MoneyOutOutcome::Applied)
    );
    let again = cash_out(&account, "same", 1_000);
    assert_eq!(
        store.request_cash_out(&planned(&store, &again).await).await,
        Ok(MoneyOutOutcome::DuplicateExternalId)
    );
    assert_eq!(store.get_cash_out(&again.id).await, Ok(None));
    // Another account may use the same externalId.
    let elsewhere = cash_out(&other, "same", 1_000);
    assert_eq!(
        store
            .request_cash_out(&planned(&store, &elsewhere).await)
            .await,
        Ok(MoneyOutOutcome::Applied)
    );
    // The same id under a new externalId: the id (and its movement) exist.
    let mut same_id = planned(&store, &first).await;
    same_id.cash_out.external_id = "new".into();
    assert_eq!(
        store.request_cash_out(&same_id).await,
        Ok(MoneyOutOutcome::Conflict)
    );
    assert_eq!(
        store.find_cash_out_by_external_id(&account, "same").await,
        Ok(Some(first.clone()))
    );
    assert_eq!(
        store.find_cash_out_by_external_id(&account, "new").await,
        Ok(None)
    );
    assert_eq!(store.get_cash_out(&first.id).await, Ok(Some(first)));
    assert_eq!(balance(&store, &account).await.available.cents(), 9_000);
}

#[tokio::test]
async fn a_cash_out_completes_its_claim_and_a_lost_claim_writes_nothing() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    funded(&store, &account).await;
    let claim = claimed(&store, &account, "key-1").await;
    let first = cash_out(&account, "a", 1_000);
    let write = RequestCashOut {
        completion: Some(completion(claim.clone())),
        ..planned(&store, &first).await
    };
    assert_eq!(
        store.request_cash_out(&write).await,
        Ok(MoneyOutOutcome::Applied)
    );
    // The claim is completed: a retry replays the response.
    let retry = ClaimRequest {
        account_id: &account,
        key: "key-1",
        request_hash: "hash-1",
        lock_token: "token-2",
        now: t0(),
        lease_until: t0() + Duration::seconds(30),
        expires_at: t0() + Duration::hours(24),
    };
    assert_eq!(
        store.claim(&retry).await,
        Ok(ClaimOutcome::Replay(completion(claim.clone()).response))
    );

    // A claim whose token no longer matches is lost, whatever else holds.
    let lost = IdempotencyClaim {
        lock_token: "someone-else".into(),
        ..claimed(&store, &account, "key-2").await
    };
    let second = cash_out(&account, "b", 1_000);
    let write = RequestCashOut {
        completion: Some(completion(lost)),
        ..planned(&store, &second).await
    };
    assert_eq!(
        store.request_cash_out(&write).await,
        Ok(MoneyOutOutcome::ClaimLost)
    );
    assert_eq!(store.get_cash_out(&second.id).await, Ok(None));
    assert_eq!(balance(&store, &account).await.available.cents(), 9_000);
}

#[tokio::test]
async fn a_cash_out_update_is_conditioned_on_its_stored_state() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    funded(&store, &account).await;
    let requested = cash_out(&account, "a", 4_000);
    assert_eq!(
        store
            .request_cash_out(&planned(&store, &requested).await)
            .await,
        Ok(MoneyOutOutcome::Applied)
    );
    let later = at(60);
    let failed = CashOut {
        state: CashOutState::Failed,
        failure_reason: Some("key not found".into()),
        updated_at: later,
        ..requested.clone()
    };
    let returned = Movement::transfer(
        MovementKind::CashoutReturned,
        &account,
        requested.id.as_str(),
        LedgerAccount::PixNetwork,
        LedgerAccount::Merchant(account.clone(), Bucket::Available),
        requested.amount,
        later,
    )
    .expect("movement");
    let event = AccountEvent::new(
        &account,
        EventType::CashoutFailed,
        requested.id.as_str(),
        later,
        serde_json::json!({"id": requested.id.as_str()}),
    );
    // From the wrong state: nothing happens.
    let wrong = UpdateCashOut {
        cash_out: failed.clone(),
        from: CashOutState::Completed,
        movement: Some(returned.clone()),
        events: vec![event.clone()],
    };
    assert_eq!(
        store.update_cash_out(&wrong).await,
        Ok(WriteOutcome::Conflict)
    );
    let write = UpdateCashOut {
        from: CashOutState::Processing,
        ..wrong
    };
    assert_eq!(
        store.update_cash_out(&write).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(
        store.update_cash_out(&write).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(store.get_cash_out(&requested.id).await, Ok(Some(failed)));
    assert_eq!(
        balance(&store, &account).await.available.cents(),
        CHARGE_CENTS
    );
    assert_balance_is_sum_of_movements(&store, &account).await;
    let events = store.list_events(&account, None, 10).await.expect("events");
    assert_eq!(events, vec![event]);
    // The state index moved.
    let processing = CashOutQuery {
        state: Some(CashOutState::Processing),
        ..all_cash_outs(10)
    };
    let failed_only = CashOutQuery {
        state: Some(CashOutState::Failed),
        ..all_cash_outs(10)
    };
    let listed = store.list_cash_outs(&account, &processing).await;
    assert_eq!(listed.map(|p| p.items.len()), Ok(0));
    let listed = store.list_cash_outs(&account, &failed_only).await;
    assert_eq!(listed.map(|p| p.items.len()), Ok(1));
}

fn all_cash_outs(limit: u32) -> CashOutQuery {
    CashOutQuery {
        state: None,
        from: None,
        to: None,
        limit,
        after: None,
    }
}

#[tokio::test]
async fn cash_outs_list_newest_first_with_filters_and_cursor() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    funded(&store, &account).await;
    let mut created = Vec::new();
    for i in 0..5 {
        let c = cash_out_at(&account, &format!("co-{i}"), 100, at(i));
        assert_eq!(
            store.request_cash_out(&planned(&store, &c).await).await,
            Ok(MoneyOutOutcome::Applied)
        );
        created.push(c);
    }
    let newest_first: Vec<CashOut> = created.iter().rev().cloned().collect();

    let first = store
        .list_cash_outs(&account, &all_cash_outs(2))
        .await
        .expect("page");
    assert_eq!(first.items, newest_first[..2]);
    let next = first.next.expect("more");
    assert_eq!(next, CashOutCursor::of(&newest_first[1]));
    let second = store
        .list_cash_outs(
            &account,
            &CashOutQuery {
                after: Some(next),
                ..all_cash_outs(3)
            },
        )
        .await
        .expect("page");
    assert_eq!(second.items, newest_first[2..]);
    assert_eq!(second.next, None);

    // `from` inclusive, `to` exclusive.
    let window = CashOutQuery {
        from: Some(at(1)),
        to: Some(at(3)),
        ..all_cash_outs(10)
    };
    let page = store.list_cash_outs(&account, &window).await.expect("page");
    assert_eq!(page.items, vec![created[2].clone(), created[1].clone()]);
    let completed = CashOutQuery {
        state: Some(CashOutState::Completed),
        ..all_cash_outs(10)
    };
    let page = store.list_cash_outs(&account, &completed).await;
    assert_eq!(page.map(|p| p.items.len()), Ok(0));
    let other = store
        .list_cash_outs(&AccountId::generate(), &all_cash_outs(10))
        .await;
    assert_eq!(other.map(|p| p.items.len()), Ok(0));
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
async fn a_refund_before_booking_takes_incoming_and_blocks_booking() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let charge = charge(&account);
    // Not CONFIRMED yet: refused.
    stored_charge(&store, &charge).await;
    let write = refund_not_booked(&charge);
    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::Conflict)
    );
    assert_eq!(
        store.confirm_charge(&confirm_write(&charge, t0())).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::Applied)
    );
    assert_eq!(stored(&store, &charge).await, write.charge);
    assert_eq!(balance(&store, &account).await, Balance::default());
    assert_balance_is_sum_of_movements(&store, &account).await;
    // Once REFUND_PROCESSING, neither a second request nor the split calculator gets in.
    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::Conflict)
    );
    assert_eq!(
        store.book_splits(&book_write(&charge)).await,
        Ok(WriteOutcome::Conflict)
    );
    let outbox = store.poll_outbox(100).await.expect("outbox");
    assert!(outbox.iter().any(|m| m.id == write.outbox[0].id));
}

#[tokio::test]
async fn a_not_booked_refund_of_a_booked_charge_is_a_conflict() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let charge = charge(&account);
    confirmed(&store, &charge).await;
    assert_eq!(
        store.book_splits(&book_write(&charge)).await,
        Ok(WriteOutcome::Applied)
    );
    let before = balance(&store, &account).await;
    assert_eq!(
        store.request_refund(&refund_not_booked(&charge)).await,
        Ok(MoneyOutOutcome::Conflict)
    );
    assert_eq!(
        stored(&store, &charge).await.status,
        ChargeStatus::Confirmed
    );
    assert_eq!(balance(&store, &account).await, before);
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

#[tokio::test]
async fn a_refund_with_a_lost_claim_writes_nothing() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let charge = charge(&account);
    confirmed(&store, &charge).await;
    let lost = IdempotencyClaim {
        lock_token: "someone-else".into(),
        ..claimed(&store, &account, "key-1").await
    };
    let write = RequestRefund {
        completion: Some(completion(lost)),
        ..refund_not_booked(&charge)
    };
    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::ClaimLost)
    );
    assert_eq!(
        stored(&store, &charge).await.status,
        ChargeStatus::Confirmed
    );
    let held = claimed(&store, &account, "key-2").await;
    let write = RequestRefund {
        completion: Some(completion(held)),
        ..refund_not_booked(&charge)
    };
    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::Applied)
    );
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
async fn a_transition_is_conditioned_on_the_stored_status() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let charge = charge(&account);
    stored_charge(&store, &charge).await;
    let write = expire(&charge, at(3_600));
    let wrong = ChargeTransition {
        from: ChargeStatus::Confirmed,
        ..write.clone()
    };
    assert_eq!(
        store.transition_charge(&wrong).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(stored(&store, &charge).await.status, ChargeStatus::Pending);
    assert_eq!(
        store.transition_charge(&write).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(
        store.transition_charge(&write).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(stored(&store, &charge).await.status, ChargeStatus::Expired);
    let expired = ChargeQuery {
        status: Some(ChargeStatus::Expired),
        from: None,
        to: None,
        limit: 10,
        after: None,
    };
    let page = store.list_charges(&account, &expired).await.expect("list");
    assert_eq!(page.items.len(), 1);
    let pending = ChargeQuery {
        status: Some(ChargeStatus::Pending),
        ..expired
    };
    let page = store.list_charges(&account, &pending).await.expect("list");
    assert!(page.items.is_empty());
    let events = store.list_events(&account, None, 10).await.expect("events");
    assert_eq!(events, write.events);
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

fn statement(limit: u32) -> MovementQuery {
    MovementQuery {
        from: None,
        to: None,
        start: None,
        inclusive: false,
        limit,
    }
}

fn cursor(m: &Movement) -> MovementCursor {
    MovementCursor {
        created_at: m.created_at,
        movement_id: m.id.clone(),
    }
}

#[tokio::test]
async fn movements_page_in_order_from_the_cursor() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    // Two movements (confirm + splits) at each of these instants.
    for s in [3, 1, 2] {
        funded_at(&store, &account, at(s)).await;
    }
    funded(&store, &AccountId::generate()).await;
    let all = store.list_movements(&account).await.expect("all");
    assert_eq!(all.len(), 6);
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    assert_eq!(all, sorted);

    // Paging with exclusive cursors walks every movement once; `more` is set exactly when
    // another movement follows the page (6 = 4 + 2: the second page is the last).
    let mut walked = Vec::new();
    let mut query = statement(4);
    let mut mores = Vec::new();
    loop {
        let page = store.movements_page(&account, &query).await.expect("page");
        mores.push(page.more);
        walked.extend(page.movements);
        if !page.more {
            break;
        }
        query.start = walked.last().map(cursor);
    }
    assert_eq!(walked, all);
    assert_eq!(mores, [true, false]);
    let whole = store.movements_page(&account, &statement(6)).await;
    assert_eq!(
        whole,
        Ok(MovementPage {
            movements: all.clone(),
            more: false
        })
    );

    // Inclusive starts at the cursor itself; exclusive right after it.
    let at_third = MovementQuery {
        start: Some(cursor(&all[2])),
        inclusive: true,
        ..statement(2)
    };
    let page = store.movements_page(&account, &at_third).await;
    assert_eq!(
        page,
        Ok(MovementPage {
            movements: all[2..4].to_vec(),
            more: true
        })
    );
    let after_third = MovementQuery {
        inclusive: false,
        ..at_third
    };
    let page = store.movements_page(&account, &after_third).await;
    assert_eq!(page.map(|p| p.movements), Ok(all[3..5].to_vec()));

    // `from` inclusive, `to` exclusive; a cursor before `from` does not widen the range.
    let window = MovementQuery {
        from: Some(at(2)),
        to: Some(at(3)),
        start: Some(cursor(&all[0])),
        inclusive: true,
        limit: 100,
    };
    let page = store.movements_page(&account, &window).await;
    assert_eq!(
        page,
        Ok(MovementPage {
            movements: all[2..4].to_vec(),
            more: false
        })
    );
    let beyond = MovementQuery {
        start: Some(cursor(&all[5])),
        inclusive: false,
        ..statement(10)
    };
    assert_eq!(
        store.movements_page(&account, &beyond).await,
        Ok(MovementPage::default())
    );
    let inverted = MovementQuery {
        from: Some(at(3)),
        to: Some(at(1)),
        ..statement(10)
    };
    assert_eq!(
        store.movements_page(&account, &inverted).await,
        Ok(MovementPage::default())
    );
    // The limit is clamped to 1..=100.
    let page = store.movements_page(&account, &statement(0)).await;
    assert_eq!(page.map(|p| (p.movements.len(), p.more)), Ok((1, true)));
}

#[tokio::test]
async fn movement_exists_reads_the_movements_table() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let charge = funded(&store, &account).await;
    let id = charge.transaction_id.as_str();
    assert_eq!(
        store
            .movement_exists(&MovementKind::ChargeConfirmed.movement_id(id))
            .await,
        Ok(true)
    );
    assert_eq!(
        store
            .movement_exists(&MovementKind::RefundRequested.movement_id(id))
            .await,
        Ok(false)
    );
}
