//! Embedded specifics of cash-outs: the one balance row under concurrent debits, the draw and
//! claim conditions of a money-out write, the state condition of an update, and the listing.

use chrono::{DateTime, Utc};
use pixgw_domain::cash_out::CashOutDestination;
use pixgw_domain::cash_out::CashOutState;
use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::ledger::{AvailableDraw, Balance, Bucket, LedgerAccount, Movement, MovementKind};
use pixgw_domain::messaging::outbox::PipelineMessage;
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

fn all_cash_outs(limit: u32) -> CashOutQuery {
    CashOutQuery {
        state: None,
        from: None,
        to: None,
        limit,
        after: None,
    }
}
