//! Embedded specifics of refund requests: before and after the splits are booked, the split
//! cancellations and the rest drawn from `available`, and a lost claim.

use chrono::{DateTime, Utc};
use pixgw_domain::charge::Charge;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::ledger::{AvailableDraw, Balance, Bucket, LedgerAccount, Leg, Movement};
use pixgw_domain::messaging::outbox::PipelineMessage;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::refund::{ChargeRefund, RefundState};
use pixgw_domain::split::entry::SplitEntry;
use pixgw_domain::split::ports::SplitStore;

use super::*;
use crate::split::SPLITS_SCHEDULED;
use crate::test_support::*;

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
