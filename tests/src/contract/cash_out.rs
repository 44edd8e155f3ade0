//! `CashOutStore`: a cash-out is created PROCESSING in the same write that draws its amount
//! from `available`, shard by shard as planned from a read of the balance: refused, writing
//! nothing, when a shard no longer holds its part (re-plan), when the account already used the
//! `externalId`, or when the idempotency claim was lost. Updates apply only from the state they
//! name; cash-outs are listed newest first.

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use pixgw_api::store::DynStore;
use pixgw_domain::cash_out::ports::{CashOutCursor, CashOutQuery, RequestCashOut, UpdateCashOut};
use pixgw_domain::cash_out::{CashOut, CashOutDestination, CashOutId, CashOutState};
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::idempotency::{ClaimOutcome, IdempotencyClaim};
use pixgw_domain::ledger::ports::MoneyOutOutcome;
use pixgw_domain::ledger::{AvailableDraw, Bucket, LedgerAccount, Movement, MovementKind};
use pixgw_domain::messaging::events::{AccountEvent, EventType};
use pixgw_domain::messaging::outbox::PipelineMessage;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::pix_key::PixKeyType;

use super::{
    Subject, assert_balanced, balance, base_time, booked_charge_of, claim, claimed, completion,
    eventually, ids_of, merchant, movements, ms, response, transfer,
};

// =============================================================================================
// Builders

/// R$ 50.00 more in the account's `available`: a charge with splits, confirmed and booked.
async fn fund(store: &DynStore, account: &AccountId) {
    booked_charge_of(store, account, base_time()).await;
}

fn cash_out(account: &AccountId, external_id: &str, cents: i64, at: DateTime<Utc>) -> CashOut {
    CashOut {
        id: CashOutId::generate(),
        account_id: account.clone(),
        external_id: external_id.to_owned(),
        amount: Money::from_cents(cents),
        description: "Saque para conta própria".into(),
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

/// The write requesting `cash_out` with `draw`.
fn write_with(cash_out: &CashOut, draw: AvailableDraw) -> RequestCashOut {
    let account = &cash_out.account_id;
    let movement = transfer(
        MovementKind::CashoutRequested,
        account,
        cash_out.id.as_str(),
        merchant(account, Bucket::Available),
        LedgerAccount::PixNetwork,
        cash_out.amount,
        cash_out.created_at,
    );
    let message = PipelineMessage::CashOutRequested {
        cash_out_id: cash_out.id.clone(),
        account_id: account.clone(),
    };
    RequestCashOut {
        cash_out: cash_out.clone(),
        movement,
        draw,
        outbox: vec![message.to_outbox(cash_out.created_at)],
        completion: None,
    }
}

/// A draw of `cents` planned from the balance as it is now, if `available` covers it.
async fn plan(store: &DynStore, account: &AccountId, cents: i64) -> Option<AvailableDraw> {
    let shards = store.balance_shards(account).await.expect("balance shards");
    AvailableDraw::plan(&shards, Money::from_cents(cents)).ok()
}

/// The write requesting `cash_out`, its draw planned now (panics if unaffordable).
async fn planned(store: &DynStore, cash_out: &CashOut) -> RequestCashOut {
    let draw = plan(store, &cash_out.account_id, cash_out.amount.cents())
        .await
        .expect("enough available");
    write_with(cash_out, draw)
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

/// The account's cash-outs of `query` once the listing shows `n` (an index on DynamoDB).
async fn listed(
    store: &DynStore,
    account: &AccountId,
    query: &CashOutQuery,
    n: usize,
) -> Vec<CashOut> {
    eventually(
        || async move {
            store
                .list_cash_outs(account, query)
                .await
                .expect("list cash-outs")
                .items
        },
        |items| items.len() == n,
    )
    .await
}

/// The account's balance equals its movements (all `n` of them), no bucket negative.
async fn assert_books(store: &DynStore, account: &AccountId, n: usize) {
    let listed = movements(store, account, n).await;
    assert_eq!(listed.len(), n, "movements of {account}");
    assert_balanced(store, account, &listed).await;
}

// =============================================================================================
// Cases

/// Racing cash-outs, each re-planning its draw whenever the balance changed under it, spend
/// everything that fits and not a centavo more.
pub async fn concurrent_cash_outs_that_replan_spend_only_what_is_available(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    fund(store, &account).await;
    fund(store, &account).await;
    assert_eq!(
        balance(store, &account).await.available,
        Money::from_cents(10_000)
    );
    let now = base_time();
    let tasks = (0..8).map(|i| {
        let store = store.clone();
        let cash_out = cash_out(&account, &format!("co-{i}"), 1_500, now + ms(i));
        tokio::spawn(async move {
            for _ in 0..40 {
                let Some(draw) = plan(&store, &cash_out.account_id, 1_500).await else {
                    return 0;
                };
                match store.request_cash_out(&write_with(&cash_out, draw)).await {
                    Ok(MoneyOutOutcome::Applied) => return cash_out.amount.cents(),
                    // Re-plan: the balance changed, or the store gave up on a contended write.
                    Ok(MoneyOutOutcome::BalanceChanged) | Err(_) => continue,
                    Ok(other) => panic!("unexpected {other:?}"),
                }
            }
            panic!("cash-out {} never settled its race", cash_out.external_id);
        })
    });
    let spent: i64 = join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.expect("task"))
        .sum();
    assert_eq!(
        spent,
        6 * 1_500,
        "six of R$ 15.00 fit in R$ 100.00, a seventh does not"
    );
    assert_eq!(
        balance(store, &account).await.available,
        Money::from_cents(1_000)
    );
    assert_books(store, &account, 4 + 6).await;
}

/// Two cash-outs planned from the same read: the first takes the money, the second's draw no
/// longer holds and it writes nothing, not even its message.
pub async fn a_stale_draw_is_balance_changed_and_writes_nothing(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    fund(store, &account).await;
    let now = base_time();
    let first = planned(store, &cash_out(&account, "a", 4_000, now)).await;
    let second = planned(store, &cash_out(&account, "b", 4_000, now + ms(1))).await;

    assert_eq!(
        store.request_cash_out(&first).await,
        Ok(MoneyOutOutcome::Applied)
    );
    assert_eq!(
        store.request_cash_out(&second).await,
        Ok(MoneyOutOutcome::BalanceChanged)
    );

    assert_eq!(store.get_cash_out(&second.cash_out.id).await, Ok(None));
    assert_eq!(
        store.find_cash_out_by_external_id(&account, "b").await,
        Ok(None)
    );
    assert_eq!(store.movement_exists(&second.movement.id).await, Ok(false));
    assert_eq!(store.movement_exists(&first.movement.id).await, Ok(true));
    let waiting = subject.outbox_with(&ids_of(&first.outbox)).await;
    assert!(!waiting.iter().any(|m| m.id == second.outbox[0].id));
    assert_eq!(plan(store, &account, 4_000).await, None);
    assert_eq!(
        balance(store, &account).await.available,
        Money::from_cents(1_000)
    );
    assert_books(store, &account, 3).await;
}

/// A draw that does not add up to the movement's debit of `available` is a programming
/// error: an error, and nothing written. So is a write without a draw whose movement debits
/// `available`.
pub async fn a_draw_that_does_not_match_the_movement_is_refused_and_writes_nothing(
    subject: Subject,
) {
    let store = &subject.store;
    let account = AccountId::generate();
    fund(store, &account).await;
    let before = balance(store, &account).await;
    let cash_out = cash_out(&account, "a", 5_000, base_time());
    let mut write = planned(store, &cash_out).await;
    let shard = write.draw.parts[0].0;
    write.draw = AvailableDraw {
        parts: vec![(shard, Money::from_cents(4_000))],
    };

    let result = store.request_cash_out(&write).await;
    assert!(result.is_err(), "{result:?}");

    assert_eq!(store.get_cash_out(&cash_out.id).await, Ok(None));
    assert_eq!(store.movement_exists(&write.movement.id).await, Ok(false));
    assert_eq!(balance(store, &account).await, before);
    let update = UpdateCashOut {
        cash_out: cash_out.clone(),
        from: CashOutState::Processing,
        movement: Some(write.movement.clone()),
        events: Vec::new(),
    };
    let result = store.update_cash_out(&update).await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(store.get_cash_out(&cash_out.id).await, Ok(None));
    assert_eq!(balance(store, &account).await, before);
}

pub async fn a_duplicate_external_id_is_refused_per_account(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let other = AccountId::generate();
    fund(store, &account).await;
    fund(store, &other).await;
    let now = base_time();
    let first = cash_out(&account, "same", 1_000, now);
    assert_eq!(
        store.request_cash_out(&planned(store, &first).await).await,
        Ok(MoneyOutOutcome::Applied)
    );

    let again = cash_out(&account, "same", 1_000, now + ms(1));
    assert_eq!(
        store.request_cash_out(&planned(store, &again).await).await,
        Ok(MoneyOutOutcome::DuplicateExternalId)
    );
    assert_eq!(store.get_cash_out(&again.id).await, Ok(None));
    // The same cash-out again (a retry): its id exists, and its guard too.
    assert_eq!(
        store.request_cash_out(&planned(store, &first).await).await,
        Ok(MoneyOutOutcome::DuplicateExternalId)
    );
    // The same id under a new externalId: the id (and its movement) exist.
    let mut same_id = planned(store, &first).await;
    same_id.cash_out.external_id = "new".into();
    assert_eq!(
        store.request_cash_out(&same_id).await,
        Ok(MoneyOutOutcome::Conflict)
    );
    assert_eq!(
        store.find_cash_out_by_external_id(&account, "new").await,
        Ok(None)
    );
    // Another account may use the same externalId.
    assert_eq!(
        store.find_cash_out_by_external_id(&other, "same").await,
        Ok(None)
    );
    let elsewhere = cash_out(&other, "same", 1_000, now);
    assert_eq!(
        store
            .request_cash_out(&planned(store, &elsewhere).await)
            .await,
        Ok(MoneyOutOutcome::Applied)
    );

    assert_eq!(
        store.find_cash_out_by_external_id(&account, "same").await,
        Ok(Some(first.clone()))
    );
    assert_eq!(store.get_cash_out(&first.id).await, Ok(Some(first)));
    assert_eq!(
        store.find_cash_out_by_external_id(&other, "same").await,
        Ok(Some(elsewhere))
    );
    assert_eq!(
        balance(store, &account).await.available,
        Money::from_cents(4_000)
    );
    assert_books(store, &account, 3).await;
}

pub async fn a_cash_out_completes_its_claim_or_reports_it_lost(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    fund(store, &account).await;
    let now = base_time();

    // The lease ran out and a retry of the same request took the key over.
    let stale = claimed(claim(store, &account, "k1", "hash-A", "t1", now).await);
    claimed(
        claim(
            store,
            &account,
            "k1",
            "hash-A",
            "t2",
            now + Duration::seconds(31),
        )
        .await,
    );
    // A claim whose token no longer matches, whatever else holds.
    let forged = IdempotencyClaim {
        lock_token: "someone-else".into(),
        ..claimed(claim(store, &account, "k2", "hash-A", "t3", now).await)
    };
    for (what, lost) in [("taken over", stale), ("forged", forged)] {
        let refused = cash_out(&account, what, 1_000, now);
        let write = RequestCashOut {
            completion: Some(completion(&lost, 202, "{}")),
            ..planned(store, &refused).await
        };
        assert_eq!(
            store.request_cash_out(&write).await,
            Ok(MoneyOutOutcome::ClaimLost),
            "{what}"
        );
        assert_eq!(store.get_cash_out(&refused.id).await, Ok(None), "{what}");
        assert_eq!(store.movement_exists(&write.movement.id).await, Ok(false));
    }
    assert_eq!(
        balance(store, &account).await.available,
        Money::from_cents(5_000)
    );

    // With a live claim: applied, and the claim completed in the same write.
    let live = claimed(claim(store, &account, "k3", "hash-A", "t4", now).await);
    let accepted = cash_out(&account, "live", 1_000, now);
    let write = RequestCashOut {
        completion: Some(completion(&live, 202, "{\"id\":1}")),
        ..planned(store, &accepted).await
    };
    assert_eq!(
        store.request_cash_out(&write).await,
        Ok(MoneyOutOutcome::Applied)
    );
    assert_eq!(
        claim(store, &account, "k3", "hash-A", "t5", now + ms(1)).await,
        ClaimOutcome::Replay(response(202, "{\"id\":1}"))
    );
    assert_books(store, &account, 3).await;
}

/// A cash-out's settlement names the state it replaces: a FAILED cash-out's money comes back
/// to `available` through its movement, with its event, once.
pub async fn a_cash_out_update_is_conditioned_on_its_stored_state(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    fund(store, &account).await;
    let requested = cash_out(&account, "a", 4_000, base_time());
    assert_eq!(
        store
            .request_cash_out(&planned(store, &requested).await)
            .await,
        Ok(MoneyOutOutcome::Applied)
    );
    let later = requested.created_at + Duration::minutes(1);
    let failed = CashOut {
        state: CashOutState::Failed,
        failure_reason: Some("key not found".into()),
        updated_at: later,
        ..requested.clone()
    };
    let returned: Movement = transfer(
        MovementKind::CashoutReturned,
        &account,
        requested.id.as_str(),
        LedgerAccount::PixNetwork,
        merchant(&account, Bucket::Available),
        requested.amount,
        later,
    );
    let event = AccountEvent::new(
        &account,
        EventType::CashoutFailed,
        requested.id.as_str(),
        later,
        serde_json::json!({ "id": requested.id.as_str() }),
    );
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
    assert_eq!(
        store.get_cash_out(&requested.id).await,
        Ok(Some(requested.clone()))
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

    assert_eq!(
        store.get_cash_out(&requested.id).await,
        Ok(Some(failed.clone()))
    );
    assert_eq!(
        balance(store, &account).await.available,
        Money::from_cents(5_000)
    );
    assert_books(store, &account, 4).await;
    let events = eventually(
        || async { store.list_events(&account, None, 10).await.expect("events") },
        |events| events.contains(&event),
    )
    .await;
    assert_eq!(events.iter().filter(|e| **e == event).count(), 1);
    // The state listing follows.
    let by_state = |state| CashOutQuery {
        state: Some(state),
        ..all_cash_outs(10)
    };
    assert_eq!(
        listed(store, &account, &by_state(CashOutState::Failed), 1).await,
        vec![failed]
    );
    assert_eq!(
        listed(store, &account, &by_state(CashOutState::Processing), 0).await,
        Vec::new()
    );
}

pub async fn cash_outs_list_newest_first_with_filters_and_cursor(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    fund(store, &account).await;
    let t = base_time();
    let mut created = Vec::new();
    for i in 0..5 {
        let c = cash_out(&account, &format!("co-{i}"), 100, t + Duration::seconds(i));
        assert_eq!(
            store.request_cash_out(&planned(store, &c).await).await,
            Ok(MoneyOutOutcome::Applied)
        );
        created.push(c);
    }
    let newest_first: Vec<CashOut> = created.iter().rev().cloned().collect();
    assert_eq!(
        listed(store, &account, &all_cash_outs(100), 5).await,
        newest_first
    );

    let first = store
        .list_cash_outs(&account, &all_cash_outs(2))
        .await
        .expect("page");
    assert_eq!(first.items, newest_first[..2]);
    let next = first.next.expect("more follow");
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
    assert_eq!(
        (second.items, second.next),
        (newest_first[2..].to_vec(), None)
    );
    // The limit is clamped into 1..=100.
    let zero = store
        .list_cash_outs(&account, &all_cash_outs(0))
        .await
        .expect("page");
    assert_eq!(zero.items, newest_first[..1]);
    assert!(zero.next.is_some());

    // `from` inclusive, `to` exclusive.
    let window = CashOutQuery {
        from: Some(t + Duration::seconds(1)),
        to: Some(t + Duration::seconds(3)),
        ..all_cash_outs(10)
    };
    let page = store.list_cash_outs(&account, &window).await.expect("page");
    assert_eq!(page.items, vec![created[2].clone(), created[1].clone()]);

    // By state: the middle one fails.
    let failed_at = t + Duration::minutes(1);
    let failed = CashOut {
        state: CashOutState::Failed,
        failure_reason: Some("key not found".into()),
        updated_at: failed_at,
        ..created[2].clone()
    };
    let update = UpdateCashOut {
        cash_out: failed.clone(),
        from: CashOutState::Processing,
        movement: Some(transfer(
            MovementKind::CashoutReturned,
            &account,
            failed.id.as_str(),
            LedgerAccount::PixNetwork,
            merchant(&account, Bucket::Available),
            failed.amount,
            failed_at,
        )),
        events: Vec::new(),
    };
    assert_eq!(
        store.update_cash_out(&update).await,
        Ok(WriteOutcome::Applied)
    );
    let by_state = |state| CashOutQuery {
        state: Some(state),
        ..all_cash_outs(10)
    };
    assert_eq!(
        listed(store, &account, &by_state(CashOutState::Failed), 1).await,
        vec![failed]
    );
    let processing: Vec<CashOutId> =
        listed(store, &account, &by_state(CashOutState::Processing), 4)
            .await
            .into_iter()
            .map(|c| c.id)
            .collect();
    assert!(!processing.contains(&created[2].id));
    assert_eq!(
        listed(store, &account, &by_state(CashOutState::Completed), 0).await,
        Vec::new()
    );
    assert_eq!(
        listed(store, &AccountId::generate(), &all_cash_outs(10), 0).await,
        Vec::new()
    );
}
