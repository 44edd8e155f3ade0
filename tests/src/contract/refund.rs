//! `RefundStore`: CONFIRMED → REFUND_PROCESSING in one write that takes the money out of the
//! merchant's buckets (from `incoming` when the splits were not booked; else the cancelled
//! SCHEDULED splits' reserve plus a draw of `available`), queues the provider call and
//! completes the idempotency claim; refused, writing nothing, when the plan is stale.

use chrono::{DateTime, Duration, Utc};
use pixgw_api::store::DynStore;
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::idempotency::{ClaimOutcome, IdempotencyClaim};
use pixgw_domain::ledger::ports::MoneyOutOutcome;
use pixgw_domain::ledger::{
    AvailableDraw, Balance, Bucket, LedgerAccount, Leg, Movement, MovementKind,
};
use pixgw_domain::messaging::outbox::{OutboxMessage, PipelineMessage};
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::refund::ports::{RefundSplits, RequestRefund};
use pixgw_domain::refund::{ChargeRefund, RefundState};
use pixgw_domain::split::SplitValue;
use pixgw_domain::split::entry::{SplitEntry, SplitState};

use super::{
    Booked, Subject, assert_ledger, balance, balance_of, base_time, book_confirmed, book_write,
    booked_charge, booked_charge_of, charge_with_splits, claim, claimed, completion, confirm,
    confirm_outbox, confirmed_charge, eventually, ids_of, insert, merchant, movements, response,
    stored_charge,
};

// =============================================================================================
// Builders

/// The refund request of `charge` (as stored, CONFIRMED) at `at`: REFUND_PROCESSING, attempt 1.
fn refunding(charge: &Charge, at: DateTime<Utc>) -> Charge {
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
            requested_at: at,
            settled_at: None,
            idempotency_key: None,
        }),
        ..charge.clone()
    }
}

fn refund_message(charge: &Charge, at: DateTime<Utc>) -> Vec<OutboxMessage> {
    vec![
        PipelineMessage::RefundRequested {
            transaction_id: charge.transaction_id.clone(),
            account_id: charge.account_id.clone(),
            attempt: 1,
        }
        .to_outbox(at),
    ]
}

fn leg(account: LedgerAccount, cents: i64) -> Leg {
    Leg {
        account,
        amount: Money::from_cents(cents),
    }
}

/// The refund of a charge whose splits were not booked: all of it from `incoming`.
fn refund_not_booked(charge: &Charge, at: DateTime<Utc>) -> RequestRefund {
    let account = &charge.account_id;
    let movement = Movement::new(
        MovementKind::RefundRequested,
        account,
        &format!("{}#1", charge.transaction_id),
        vec![
            leg(merchant(account, Bucket::Incoming), -charge.amount.cents()),
            leg(LedgerAccount::PixNetwork, charge.amount.cents()),
        ],
        at,
    )
    .expect("movement");
    RequestRefund {
        charge: refunding(charge, at),
        splits: RefundSplits::NotBooked,
        movement,
        draw: AvailableDraw::default(),
        outbox: refund_message(charge, at),
        completion: None,
    }
}

/// The refund of a booked `charge` cancelling `cancelled` (their reserve pays part of it), the
/// rest drawn from `available` as planned from `shards` (no draw when they cannot cover it).
fn refund_booked(
    charge: &Charge,
    cancelled: &[SplitEntry],
    shards: &[(u32, Balance)],
    at: DateTime<Utc>,
) -> RequestRefund {
    let account = &charge.account_id;
    let from_reserve: i64 = cancelled.iter().map(|s| s.split.amount.cents()).sum();
    let from_available = charge.amount.cents() - from_reserve;
    let movement = Movement::new(
        MovementKind::RefundRequested,
        account,
        &format!("{}#1", charge.transaction_id),
        vec![
            leg(merchant(account, Bucket::ReservedForSplits), -from_reserve),
            leg(merchant(account, Bucket::Available), -from_available),
            leg(LedgerAccount::PixNetwork, charge.amount.cents()),
        ],
        at,
    )
    .expect("movement");
    let cancelled = cancelled
        .iter()
        .map(|s| SplitEntry {
            state: SplitState::Cancelled,
            updated_at: at,
            ..s.clone()
        })
        .collect();
    RequestRefund {
        splits: RefundSplits::Booked { cancelled },
        movement,
        draw: AvailableDraw::plan(shards, Money::from_cents(from_available)).unwrap_or_default(),
        ..refund_not_booked(charge, at)
    }
}

/// A charge of R$ 100.00 with an immediate R$ 10.00 split and a scheduled R$ 5.00 one: once
/// booked, `available` holds R$ 85.00, less than a refund needs after the scheduled split's
/// reserve (R$ 95.00).
fn small_charge(account: &AccountId, at: DateTime<Utc>) -> Charge {
    let mut charge = charge_with_splits(account, at);
    for (split, cents) in charge.splits.iter_mut().zip([1_000, 500]) {
        split.rule.value = SplitValue::Fixed(Money::from_cents(cents));
        split.amount = Money::from_cents(cents);
    }
    charge.amount = Money::from_cents(10_000);
    charge.remainder = Money::from_cents(8_500);
    charge
}

async fn stored(store: &DynStore, charge: &Charge) -> Charge {
    stored_charge(store, &charge.transaction_id)
        .await
        .expect("charge stored")
}

/// The account's SCHEDULED splits of `charge`, as the payout scheduler reads them (an index).
async fn scheduled_of(store: &DynStore, charge: &Charge, n: usize) -> Vec<SplitEntry> {
    let cutoff = base_time() + Duration::days(365);
    eventually(
        || async move {
            let (page, _) = store
                .scheduled_splits_page(&charge.account_id, cutoff, None, 100)
                .await
                .expect("scheduled splits");
            page.into_iter()
                .filter(|s| s.transaction_id == charge.transaction_id)
                .collect::<Vec<_>>()
        },
        |splits| splits.len() == n,
    )
    .await
}

// =============================================================================================
// Cases

pub async fn a_not_booked_refund_takes_incoming_and_blocks_booking(subject: Subject) {
    let store = &subject.store;
    let charge = charge_with_splits(&AccountId::generate(), base_time());
    insert(store, &charge).await;
    let at = charge.created_at + Duration::minutes(5);
    // Not CONFIRMED yet: refused.
    assert_eq!(
        store.request_refund(&refund_not_booked(&charge, at)).await,
        Ok(MoneyOutOutcome::Conflict)
    );
    let confirmed = confirm(store, charge).await;
    let charge = stored(store, &confirmed.charge).await;
    let write = refund_not_booked(&charge, at);

    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::Applied)
    );

    assert_eq!(stored(store, &charge).await, write.charge);
    assert_eq!(store.movement_exists(&write.movement.id).await, Ok(true));
    assert_ledger(
        store,
        &charge.account_id,
        &[&confirmed.confirm.movement, &write.movement],
    )
    .await;
    assert_eq!(balance(store, &charge.account_id).await, Balance::default());
    subject
        .assert_outbox(ids_of(
            confirm_outbox(&confirmed.confirm)
                .iter()
                .chain(&write.outbox),
        ))
        .await;
    // Once REFUND_PROCESSING, neither a second request nor the split calculator gets in.
    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::Conflict)
    );
    let late_booking = book_write(&charge, at + Duration::seconds(1));
    assert_eq!(
        store.book_splits(&late_booking).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        store.get_splits(&charge.transaction_id).await,
        Ok(Vec::new())
    );
    assert_eq!(balance(store, &charge.account_id).await, Balance::default());
}

/// A plan made before the split calculator booked the splits is stale once it did: the money
/// is no longer in `incoming`.
pub async fn a_not_booked_refund_of_a_booked_charge_conflicts(subject: Subject) {
    let store = &subject.store;
    let booked = booked_charge(store).await;
    let charge = stored(store, &booked.confirmed.charge).await;
    let before = balance(store, &charge.account_id).await;
    let write = refund_not_booked(
        &charge,
        booked.book.movement.created_at + Duration::seconds(1),
    );

    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::Conflict)
    );

    assert_eq!(stored(store, &charge).await, charge);
    assert_eq!(balance(store, &charge.account_id).await, before);
    assert_eq!(store.movement_exists(&write.movement.id).await, Ok(false));
    subject
        .assert_outbox(ids_of(
            confirm_outbox(&booked.confirmed.confirm)
                .iter()
                .chain(&booked.book.outbox),
        ))
        .await;
}

pub async fn a_booked_refund_cancels_scheduled_splits_and_draws_the_rest(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let charge = small_charge(&account, base_time());
    insert(store, &charge).await;
    let Booked { confirmed, book } = book_confirmed(store, confirm(store, charge).await).await;
    let charge = stored(store, &confirmed.charge).await;
    let (processing, scheduled) = (book.splits[0].clone(), book.splits[1].clone());
    assert_eq!(
        (processing.state, scheduled.state),
        (SplitState::Processing, SplitState::Scheduled)
    );
    assert_eq!(balance(store, &account).await, balance_of(0, 8_500, 1_500));
    let at = book.movement.created_at + Duration::seconds(1);

    // R$ 85.00 available cannot cover the R$ 95.00 the refund needs beyond the split's reserve;
    // a draw pretending otherwise (a stale read) is refused.
    let shards = store.balance_shards(&account).await.expect("shards");
    let write = refund_booked(&charge, std::slice::from_ref(&scheduled), &shards, at);
    assert!(write.draw.parts.is_empty(), "85.00 cannot cover 95.00");
    let richest = shards
        .iter()
        .max_by_key(|(_, b)| b.available.cents())
        .map(|(shard, _)| *shard)
        .expect("a shard holds the booking");
    let stale = RequestRefund {
        draw: AvailableDraw {
            parts: vec![(richest, Money::from_cents(9_500))],
        },
        ..write
    };
    assert_eq!(
        store.request_refund(&stale).await,
        Ok(MoneyOutOutcome::BalanceChanged)
    );
    assert_eq!(stored(store, &charge).await, charge);
    assert_eq!(
        scheduled_of(store, &charge, 1).await,
        vec![scheduled.clone()]
    );

    // Funded by another charge, but naming the immediate split (in its payout, PROCESSING):
    // only a SCHEDULED split can be cancelled.
    let other = booked_charge_of(store, &account, base_time()).await;
    let shards = store.balance_shards(&account).await.expect("shards");
    let with_processing = refund_booked(
        &charge,
        &[processing.clone(), scheduled.clone()],
        &shards,
        at,
    );
    assert_eq!(
        store.request_refund(&with_processing).await,
        Ok(MoneyOutOutcome::Conflict)
    );
    let before = balance(store, &account).await;
    assert_eq!(before, balance_of(0, 8_500 + 5_000, 1_500 + 15_000));

    let write = refund_booked(&charge, std::slice::from_ref(&scheduled), &shards, at);
    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::Applied)
    );

    assert_eq!(stored(store, &charge).await, write.charge);
    let RefundSplits::Booked { cancelled } = &write.splits else {
        unreachable!("a booked refund")
    };
    assert_eq!(
        store.get_splits(&charge.transaction_id).await,
        Ok(vec![processing, cancelled[0].clone()]),
        "the scheduled split CANCELLED, the paid-out one untouched"
    );
    assert_eq!(
        scheduled_of(store, &charge, 0).await,
        Vec::new(),
        "the cancelled split left the scheduler's index"
    );
    assert_eq!(
        balance(store, &account).await,
        balance_of(
            0,
            before.available.cents() - 9_500,
            before.reserved_for_splits.cents() - 500
        )
    );
    let booked_movements = [
        &confirmed.confirm.movement,
        &book.movement,
        &other.confirmed.confirm.movement,
        &other.book.movement,
        &write.movement,
    ];
    let listed = movements(store, &account, booked_movements.len()).await;
    assert_eq!(listed.len(), booked_movements.len());
    assert!(booked_movements.iter().all(|m| listed.contains(m)));
    super::assert_balanced(store, &account, &listed).await;
}

pub async fn a_refund_with_a_lost_claim_writes_nothing(subject: Subject) {
    let store = &subject.store;
    let confirmed = confirmed_charge(store).await;
    let charge = stored(store, &confirmed.charge).await;
    let account = &charge.account_id;
    let now = base_time();
    let at = confirmed.confirm.confirmed_at + Duration::seconds(1);
    // A claim whose token no longer matches is lost, whatever else holds.
    let lost = IdempotencyClaim {
        lock_token: "someone-else".into(),
        ..claimed(claim(store, account, "key-1", "hash-A", "t1", now).await)
    };
    let write = RequestRefund {
        completion: Some(completion(&lost, 202, "{}")),
        ..refund_not_booked(&charge, at)
    };
    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::ClaimLost)
    );
    assert_eq!(stored(store, &charge).await, charge);
    assert_eq!(store.movement_exists(&write.movement.id).await, Ok(false));

    let held = claimed(claim(store, account, "key-2", "hash-A", "t2", now).await);
    let write = RequestRefund {
        completion: Some(completion(&held, 202, "{\"refund\":1}")),
        ..refund_not_booked(&charge, at)
    };
    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::Applied)
    );
    assert_eq!(
        claim(
            store,
            account,
            "key-2",
            "hash-A",
            "t3",
            now + Duration::seconds(1)
        )
        .await,
        ClaimOutcome::Replay(response(202, "{\"refund\":1}")),
        "the claim was completed in the same write"
    );
}
