//! Embedded specifics of cash-outs: the one balance row under concurrent debits, the draw and
//! claim conditions of a money-out write, the state condition of an update, and the listing.

use chrono::{DateTime, Duration, Utc};
use pixgw_domain::cash_out::CashOutDestination;
use pixgw_domain::cash_out::CashOutState;
use pixgw_domain::cash_out::ports::CashOutCursor;
use pixgw_domain::idempotency::{ClaimOutcome, ClaimRequest, IdempotencyClaim, IdempotencyStore};
use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::ledger::{AvailableDraw, Balance, Bucket, LedgerAccount, Movement, MovementKind};
use pixgw_domain::messaging::events::{AccountEvent, EventLog, EventType};
use pixgw_domain::messaging::outbox::{OutboxFeed, PipelineMessage};
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::pix_key::PixKeyType;

use super::*;
use crate::test_support::*;

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
