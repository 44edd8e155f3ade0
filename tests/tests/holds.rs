//! Cautelar holds end to end on both backends (issue "MED disputes and cautelar holds"): a
//! payment held by the receiving institution is CONFIRMED with a `hold`, its money in `held`,
//! and nothing is booked or paid — not even an immediate split — until it is released (by the
//! provider, or by the sweeper at its end); returned, it is a devolução of the whole amount.
//! Duplicate and reordered notices change nothing twice. Every scenario ends with the books.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Duration;
use pixgw_domain::charge::HoldState;
use pixgw_domain::error::DomainError;
use pixgw_domain::messaging::events::EventType;
use pixgw_domain::split::entry::SplitState;
use pixgw_tests::bodies::{immediate_split, marketplace};
use pixgw_tests::harness::Backend;
use pixgw_tests::money_lifecycle::Shop;
use pixgw_tests::on_both_backends;

/// (incoming, available, reservedForSplits, held).
async fn buckets(shop: &Shop) -> (i64, i64, i64, i64) {
    let b = shop.balance().await;
    (
        b.incoming.cents(),
        b.available.cents(),
        b.reserved_for_splits.cents(),
        b.held.cents(),
    )
}

/// The walkthrough: an immediate-split charge paid under a hold is CONFIRMED with a
/// `hold`, its R$ 350 in `held`; the pipeline runs and the split is NOT paid; it cannot be
/// refunded; released, the booking pays the split as usual.
async fn a_held_payment_pays_no_split_until_released(backend: Backend) {
    let shop = Shop::open(backend).await;
    let id = shop.create(&immediate_split("HOLD-1")).await;
    let paid = shop.pay_held(&id).await;
    assert_eq!(paid.status, 200, "{:?}", paid.body_json());
    let view = paid.body_json();
    assert_eq!(view["status"], "CONFIRMED", "{view}");
    assert_eq!(view["hold"]["status"], "HELD", "{view}");
    assert!(view["hold"]["until"].is_string(), "{view}");
    assert_eq!(buckets(&shop).await, (0, 0, 0, 35_000));
    let charge = shop.charge(&id).await;
    let until = charge.hold.as_ref().expect("hold").until;
    assert_eq!(
        until,
        charge.payment.as_ref().unwrap().paid_at + Duration::hours(72)
    );

    shop.drain().await;
    assert!(
        shop.splits(&id).await.is_empty(),
        "nothing booked while held"
    );
    assert!(
        shop.gw.sandbox.transfers().is_empty(),
        "no split paid while held"
    );
    assert_eq!(shop.events(EventType::CashinHeld).await.len(), 1);
    assert!(shop.events(EventType::CashinConfirmed).await.is_empty());
    match shop.refund(&id).await {
        Err(DomainError::ChargeNotRefundable { status }) => assert_eq!(status, "HELD"),
        other => panic!("a held charge refunded: {other:?}"),
    }
    let infraction = shop.infraction(&id, "FRAUD", None).await;
    assert_eq!(infraction.status, 409, "{:?}", infraction.body_json());
    shop.assert_books().await;

    let released = shop.end_hold(&id, "release").await;
    assert_eq!(released.status, 200, "{:?}", released.body_json());
    assert_eq!(released.body_json()["hold"]["status"], "RELEASED");
    assert_eq!(shop.events(EventType::CashinHoldReleased).await.len(), 1);
    shop.drain().await;
    let splits = shop.splits(&id).await;
    assert_eq!(splits.len(), 1);
    assert_eq!(splits[0].state, SplitState::Paid, "{splits:?}");
    assert_eq!(buckets(&shop).await, (0, 7_000, 0, 0));
    // Released, it is an ordinary paid charge: refundable.
    assert!(shop.refund_part(&id, Some(1_000), None).await.is_ok());
    shop.drain().await;
    shop.assert_books().await;
}

/// Returned: the held money goes back to the payer (MED_FRAUDE), the charge is REFUNDED and
/// its splits, never booked, CANCELLED.
async fn a_returned_hold_gives_the_whole_amount_back(backend: Backend) {
    let shop = Shop::open(backend).await;
    let id = shop.create(&marketplace("HOLD-RET")).await;
    assert_eq!(shop.pay_held(&id).await.status, 200);
    let returned = shop.end_hold(&id, "return").await;
    assert_eq!(returned.status, 200, "{:?}", returned.body_json());
    let view = returned.body_json();
    assert_eq!(view["status"], "REFUNDED", "{view}");
    assert_eq!(view["hold"]["status"], "RETURNED", "{view}");
    assert_eq!(view["hold"]["returnNature"], "MED_FRAUDE", "{view}");
    assert_eq!(view["hold"]["returnCode"], "FR01", "{view}");
    assert!(
        view["hold"]["returnEndToEndId"]
            .as_str()
            .is_some_and(|e| e.starts_with('D')),
        "{view}"
    );
    let statuses: Vec<&str> = view["splits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["CANCELLED"; 3], "{view}");
    assert_eq!(buckets(&shop).await, (0, 0, 0, 0));
    assert_eq!(shop.events(EventType::CashinRefunded).await.len(), 1);
    shop.drain().await;
    assert!(shop.splits(&id).await.is_empty());
    // Ended once: neither ending applies again.
    for ending in ["release", "return"] {
        let again = shop.end_hold(&id, ending).await;
        assert_eq!(again.status, 409, "{:?}", again.body_json());
        assert_eq!(again.body_json()["code"], "CHARGE_NOT_HELD");
    }
    shop.assert_books().await;
}

/// A hold whose end passes with no word from the provider is released by the sweeper (the
/// expiry sweeper's run), once.
async fn an_expired_hold_is_released_by_the_sweeper(backend: Backend) {
    let shop = Shop::open(backend).await;
    let id = shop.create(&immediate_split("HOLD-EXP")).await;
    assert_eq!(shop.pay_held(&id).await.status, 200);
    shop.advance(Duration::hours(71));
    let early = shop.gw.state.expiry.sweep(100).await.expect("sweep");
    assert_eq!(early.holds_released, 0);
    assert!(shop.charge(&id).await.is_held());
    shop.advance(Duration::hours(1) + Duration::seconds(1));
    let due = shop.gw.state.expiry.sweep(100).await.expect("sweep");
    assert_eq!(due.holds_released, 1);
    let again = shop.gw.state.expiry.sweep(100).await.expect("sweep again");
    assert_eq!(again.holds_released, 0);
    let charge = shop.charge(&id).await;
    assert_eq!(
        charge.hold.as_ref().map(|h| h.state),
        Some(HoldState::Released)
    );
    shop.drain().await;
    assert_eq!(shop.splits(&id).await[0].state, SplitState::Paid);
    shop.assert_books().await;
}

/// The provider's notices, repeated and reordered: a release before the (held) payment is
/// refused (404, nothing changes) and applies once redelivered after it; a release delivered
/// twice, or a return after it, changes nothing.
async fn duplicate_and_reordered_hold_notices_change_nothing_twice(backend: Backend) {
    let shop = Shop::open(backend).await;
    let id = shop.create(&immediate_split("HOLD-ORDER")).await;
    let release = shop.gw.sandbox.release_hold(&id);
    let before = shop.snapshot().await;
    let early = shop.deliver(&release).await;
    assert_eq!(early.status, 404, "{:?}", early.body_json());
    assert_eq!(shop.snapshot().await, before);

    let held = shop.pay_held(&id).await;
    assert_eq!(held.status, 200, "{:?}", held.body_json());

    let applied = shop.deliver(&release).await;
    assert_eq!(applied.status, 200, "{:?}", applied.body_json());
    assert_eq!(applied.body_json()["outcome"], "HOLD_ENDED");
    let after = shop.snapshot().await;
    let again = shop.deliver(&release).await;
    assert_eq!(again.body_json()["outcome"], "DUPLICATE");
    let late_return = shop.deliver(&shop.gw.sandbox.return_hold(&id)).await;
    assert_eq!(late_return.status, 200, "{:?}", late_return.body_json());
    assert_eq!(late_return.body_json()["outcome"], "DUPLICATE");
    assert_eq!(shop.snapshot().await, after);
    assert_eq!(shop.events(EventType::CashinHoldReleased).await.len(), 1);
    shop.drain().await;
    shop.assert_books().await;
}

on_both_backends!(
    a_held_payment_pays_no_split_until_released,
    a_returned_hold_gives_the_whole_amount_back,
    an_expired_hold_is_released_by_the_sweeper,
    duplicate_and_reordered_hold_notices_change_nothing_twice,
);
