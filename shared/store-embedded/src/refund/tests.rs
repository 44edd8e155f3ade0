//! Embedded specifics of refund requests: what the write requires (the charge's status and
//! refund revision, each reduced split SCHEDULED in no payout with the `refunded` it was read
//! with, the draw) and what it does (splits reduced or cancelled, recipient debts, balances).
//! The writes are built by the refund flow's own pure builder ([`refund_request`]).

use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::flows::refund::refund_request;
use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::pix::ids::{AccountId, RefundId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::recipient::ports::RecipientStore;
use pixgw_domain::refund::{ChargeRefund, RefundLiability, RefundState};
use pixgw_domain::split::entry::SplitState;
use pixgw_domain::split::ports::SplitStore;

use super::*;
use crate::split::SPLITS_SCHEDULED;
use crate::test_support::*;

/// The request of a refund of `cents` of `charge` (as stored now) under `liability`, built by
/// the domain's own [`refund_request`] over the stored splits and shards.
async fn refund_write(
    store: &EmbeddedStore,
    charge: &Charge,
    cents: i64,
    liability: RefundLiability,
) -> RequestRefund {
    let stored = stored(store, charge).await;
    let entries = store
        .get_splits(&charge.transaction_id)
        .await
        .expect("splits");
    let shards = store
        .balance_shards(&charge.account_id)
        .await
        .expect("shards");
    let refund = ChargeRefund {
        id: RefundId::generate(),
        amount: Money::from_cents(cents),
        liability,
        split_parts: Vec::new(),
        state: RefundState::Processing,
        reason: "CUSTOMER_REQUEST".into(),
        description: "devolução".into(),
        end_to_end_id: None,
        provider_refund_id: None,
        failure_reason: None,
        requested_at: at(100),
        settled_at: None,
        idempotency_key: None,
    };
    refund_request(&stored, &entries, refund, &shards, at(100)).expect("an affordable refund")
}

/// [`charge`] (100.00: an immediate 10.00 split in its payout, a scheduled 5.00 one) paid,
/// booked, and 200.00 more in `available`.
async fn booked_and_funded(store: &EmbeddedStore, account: &AccountId) -> Charge {
    let charge = charge(account);
    confirmed(store, &charge).await;
    assert_eq!(
        store.book_splits(&book_write(&charge)).await,
        Ok(WriteOutcome::Applied)
    );
    funded(store, account).await;
    charge
}

#[tokio::test]
async fn a_full_refund_cancels_scheduled_splits_and_draws_the_rest() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let charge = booked_and_funded(&store, &account).await;
    let before = balance(&store, &account).await;

    let write = refund_write(&store, &charge, 10_000, RefundLiability::Merchant).await;
    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::Applied)
    );
    let splits = store.get_splits(&charge.transaction_id).await.expect("get");
    assert_eq!(splits[1].state, SplitState::Cancelled);
    assert_eq!(splits[1].payable(), Money::ZERO);
    assert_eq!(splits[0].state, SplitState::Processing, "paid splits stay");
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
    let charge_now = stored(&store, &charge).await;
    assert_eq!(charge_now, write.charge);
    assert_eq!(charge_now.status, ChargeStatus::RefundProcessing);
    assert_eq!(charge_now.refund_revision, 1);
    assert_balance_is_sum_of_movements(&store, &account).await;
}

#[tokio::test]
async fn a_stale_revision_or_status_writes_nothing() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let charge = booked_and_funded(&store, &account).await;
    let first = refund_write(&store, &charge, 1_000, RefundLiability::Merchant).await;
    let second = refund_write(&store, &charge, 1_000, RefundLiability::Merchant).await;
    assert_eq!(
        store.request_refund(&first).await,
        Ok(MoneyOutOutcome::Applied)
    );
    let before = balance(&store, &account).await;
    // Planned on the same read as `first`: its revision is stale.
    assert_eq!(
        store.request_refund(&second).await,
        Ok(MoneyOutOutcome::Conflict)
    );
    let wrong_status = RequestRefund {
        from: ChargeStatus::Confirmed,
        from_revision: 1,
        ..refund_write(&store, &charge, 1_000, RefundLiability::Merchant).await
    };
    assert_eq!(
        store.request_refund(&wrong_status).await,
        Ok(MoneyOutOutcome::Conflict)
    );
    assert_eq!(balance(&store, &account).await, before);
    assert_eq!(stored(&store, &charge).await, first.charge);
}

#[tokio::test]
async fn proportional_refunds_reduce_unpaid_splits_and_make_debts_of_paid_ones() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let charge = booked_and_funded(&store, &account).await;
    let before = balance(&store, &account).await;

    // 50.00 of 100.00: the immediate split (10.00, in its payout) owes 5.00, the scheduled
    // one (5.00) is reduced by 2.50, the account bears 42.50 + fronts 5.00.
    let write = refund_write(&store, &charge, 5_000, RefundLiability::Proportional).await;
    assert_eq!(write.debts.len(), 1);
    assert_eq!(write.debts[0].amount, Money::from_cents(500));
    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::Applied)
    );
    let splits = store.get_splits(&charge.transaction_id).await.expect("get");
    assert_eq!(splits[1].state, SplitState::Scheduled);
    assert_eq!(splits[1].refunded, Money::from_cents(250));
    assert_eq!(splits[1].payable(), Money::from_cents(250));
    assert_eq!(
        keys_of(&store, SPLITS_SCHEDULED).len(),
        1,
        "still scheduled"
    );
    let recipient_id = write.debts[0].recipient_id.clone();
    let recipient = store
        .get_recipient(&account, &recipient_id)
        .await
        .expect("get")
        .expect("created by its first debt");
    assert_eq!(recipient.debt, Money::from_cents(500));
    assert_eq!(recipient.recipient, splits[0].recipient());
    let after = balance(&store, &account).await;
    assert_eq!(after.available.cents(), before.available.cents() - 4_750);
    assert_eq!(
        after.reserved_for_splits.cents(),
        before.reserved_for_splits.cents() - 250
    );
    assert_eq!(after.recipient_debts.cents(), 500);

    // A stale `refunded` on the reduced split: nothing written.
    let next = refund_write(&store, &charge, 2_000, RefundLiability::Proportional).await;
    let mut stale = next.clone();
    stale.reduced[0].refunded_before = Money::ZERO;
    assert_eq!(
        store.request_refund(&stale).await,
        Ok(MoneyOutOutcome::Conflict)
    );
    // The debt grows with the next refund.
    assert_eq!(
        store.request_refund(&next).await,
        Ok(MoneyOutOutcome::Applied)
    );
    let recipient = store
        .get_recipient(&account, &recipient_id)
        .await
        .expect("get")
        .expect("recipient");
    assert_eq!(recipient.debt, Money::from_cents(700));
    assert_eq!(balance(&store, &account).await.recipient_debts.cents(), 700);
    assert_balance_is_sum_of_movements(&store, &account).await;
}
