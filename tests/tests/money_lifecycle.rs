//! Refunds, cash-outs, charge expiry and the statement, end to end on both backends (the
//! embedded store with in-process queues, and DynamoDB Local with SQS on moto), through the
//! domain services of the gateway's state. Every scenario ends by checking the books ([`Shop::assert_books`]).

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::Duration;
use futures::future::join_all;
use pixgw_domain::charge::ChargeStatus;
use pixgw_domain::error::DomainError;
use pixgw_domain::flows::book_splits::BookingResult;
use pixgw_domain::ledger::{Bucket, MovementKind};
use pixgw_domain::messaging::events::EventType;
use pixgw_domain::messaging::queue::{OutgoingMessage, QueueName};
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::EndToEndKind;
use pixgw_domain::refund::RefundState;
use pixgw_domain::split::entry::SplitState;
use pixgw_tests::bodies::{immediate_split, marketplace};
use pixgw_tests::harness::Backend;
use pixgw_tests::money_lifecycle::{
    Altered, REFUSED_REFUND_REASON, Shop, charge_body, network_cents, plain_charge,
    to_bank_account, to_pix_key,
};
use pixgw_tests::on_both_backends;
use rust_decimal::Decimal;

fn cents(c: i64) -> Money {
    Money::from_cents(c)
}

fn buckets(shop_balance: pixgw_domain::ledger::Balance) -> (i64, i64, i64) {
    (
        shop_balance.incoming.cents(),
        shop_balance.available.cents(),
        shop_balance.reserved_for_splits.cents(),
    )
}

async fn split_states(shop: &Shop, id: &pixgw_domain::pix::ids::TransactionId) -> Vec<SplitState> {
    shop.splits(id).await.iter().map(|s| s.state).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Refunds

/// The seed's marketplace charge refunded before any payout: its SCHEDULED splits are
/// CANCELLED, their reserve pays the recipients' part and `available` the remainder; REFUNDED
/// with a `D…` id and one CASHIN_REFUNDED; the scheduler then finds nothing to pay.
async fn refund_before_any_split_payout_cancels_the_splits(backend: Backend) {
    let shop = Shop::open(backend).await;
    let id = shop.paid(&marketplace("REF-SCHEDULED")).await;
    assert_eq!(buckets(shop.balance().await), (0, 1_000, 19_000));
    assert_eq!(
        split_states(&shop, &id).await,
        vec![SplitState::Scheduled; 3]
    );

    let refunded = shop.refund(&id).await.expect("refund");
    assert_eq!(refunded.status, ChargeStatus::Refunded, "{refunded:?}");
    assert_eq!(refunded.refunds.len(), 1);
    let refund = refunded.refunds[0].clone();
    assert_eq!(refund.state, RefundState::Completed);
    assert_eq!(refund.amount, cents(20_000));
    let e2e = refund.end_to_end_id.clone().expect("D… id");
    assert_eq!(e2e.kind(), EndToEndKind::Devolution);
    assert!(e2e.as_str().starts_with('D'), "{e2e:?}");
    assert_eq!(
        shop.charge(&id).await,
        refunded,
        "what was returned is what is stored"
    );
    assert_eq!(
        split_states(&shop, &id).await,
        vec![SplitState::Cancelled; 3]
    );
    assert_eq!(buckets(shop.balance().await), (0, 0, 0));

    let movement = shop
        .movement(MovementKind::RefundRequested, &refund.reference(&id))
        .await
        .expect("refund movement");
    let d = movement.balance_delta();
    assert_eq!(buckets(d), (0, -1_000, -19_000));
    assert_eq!(network_cents(&movement), 20_000);

    let events = shop.events(EventType::CashinRefunded).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].data["transactionId"], id.as_str());
    let refunds = shop.gw.sandbox.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].amount, cents(20_000));

    // Nothing of it is paid out afterwards, and it cannot be refunded twice.
    let report = shop.run_scheduler().await;
    assert_eq!((report.payouts, report.splits), (0, 0), "{report:?}");
    shop.drain().await;
    assert!(shop.gw.sandbox.transfers().is_empty());
    assert!(matches!(
        shop.refund(&id).await,
        Err(DomainError::RefundExceedsRemaining { remaining }) if remaining == Money::ZERO
    ));
    assert_eq!(shop.events(EventType::CashinRefunded).await.len(), 1);
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

/// An immediate split already paid: the refund takes the paid share (and the remainder) from
/// `available`; the paid split stays PAID.
async fn refund_after_an_immediate_split_was_paid_debits_available(backend: Backend) {
    let shop = Shop::open(backend).await;
    shop.paid(&plain_charge("FUND", 50_000)).await;
    let id = shop.paid(&immediate_split("REF-IMMEDIATE")).await;
    assert_eq!(split_states(&shop, &id).await, vec![SplitState::Paid]);
    assert_eq!(buckets(shop.balance().await), (0, 57_000, 0));

    let refunded = shop.refund(&id).await.expect("refund");
    assert_eq!(refunded.status, ChargeStatus::Refunded);
    assert_eq!(split_states(&shop, &id).await, vec![SplitState::Paid]);
    let movement = shop
        .movement(
            MovementKind::RefundRequested,
            &refunded.refunds[0].reference(&id),
        )
        .await
        .expect("refund movement");
    assert_eq!(buckets(movement.balance_delta()), (0, -35_000, 0));
    assert_eq!(buckets(shop.balance().await), (0, 22_000, 0));
    shop.drain().await;
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

/// Every split paid out and only the remainder left: the refund is refused with
/// InsufficientBalance and NOTHING changes (charge, splits, balance, movements, events).
async fn refund_without_enough_available_changes_nothing(backend: Backend) {
    let shop = Shop::open(backend).await;
    let id = shop.paid(&marketplace("REF-BROKE")).await;
    let report = shop.run_scheduler().await;
    assert_eq!(report.splits, 3, "{report:?}");
    shop.drain().await;
    assert_eq!(split_states(&shop, &id).await, vec![SplitState::Paid; 3]);
    assert_eq!(buckets(shop.balance().await), (0, 1_000, 0));

    let before = shop.snapshot().await;
    match shop.refund(&id).await {
        Err(DomainError::InsufficientBalance { available, needed }) => {
            assert_eq!((available, needed), (cents(1_000), cents(20_000)));
        }
        other => panic!("expected InsufficientBalance, got {other:?}"),
    }
    shop.drain().await;
    assert_eq!(
        shop.snapshot().await,
        before,
        "a refused refund changed something"
    );
    assert_eq!(shop.gw.sandbox.refund_calls(), 0);
    assert_eq!(shop.charge(&id).await.status, ChargeStatus::Confirmed);
    shop.assert_books().await;
}

/// Refunded after confirmation but before the split calculator ran: the refund books the
/// splits first (the calculator's own idempotent booking), then cancels them; the
/// charge-confirmed message that arrives afterwards books nothing more.
async fn refund_before_the_splits_are_booked_books_them_first(backend: Backend) {
    let shop = Shop::open(backend).await;
    let id = shop.create(&marketplace("REF-UNBOOKED")).await;
    shop.pay(&id).await;
    assert_eq!(buckets(shop.balance().await), (20_000, 0, 0));

    let refunded = shop.refund(&id).await.expect("refund");
    assert_eq!(refunded.status, ChargeStatus::Refunded);
    assert!(
        shop.movement(MovementKind::SplitsBooked, id.as_str())
            .await
            .is_some(),
        "booked by the refund"
    );
    let movement = shop
        .movement(
            MovementKind::RefundRequested,
            &refunded.refunds[0].reference(&id),
        )
        .await
        .expect("refund movement");
    assert_eq!(buckets(movement.balance_delta()), (0, -1_000, -19_000));
    assert_eq!(buckets(shop.balance().await), (0, 0, 0));
    assert_eq!(
        split_states(&shop, &id).await,
        vec![SplitState::Cancelled; 3]
    );

    // Now the charge-confirmed message arrives (twice): nothing more is booked.
    shop.gw.relay().await;
    let messages = shop.gw.receive_all(QueueName::ChargeConfirmed).await;
    assert!(!messages.is_empty(), "the charge-confirmed message");
    for m in &messages {
        shop.gw
            .handle(QueueName::ChargeConfirmed, m)
            .await
            .expect("handled");
        shop.gw
            .handle(QueueName::ChargeConfirmed, m)
            .await
            .expect("handled again");
        shop.gw.ack(QueueName::ChargeConfirmed, m).await;
    }
    assert_eq!(
        shop.gw
            .state
            .split_calculator
            .book(&id)
            .await
            .expect("book"),
        BookingResult::NotConfirmed
    );
    shop.drain().await;
    assert_eq!(
        split_states(&shop, &id).await,
        vec![SplitState::Cancelled; 3]
    );
    assert_eq!(buckets(shop.balance().await), (0, 0, 0));
    assert!(shop.gw.sandbox.transfers().is_empty());
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

/// Eight refunds of one charge at once: exactly one is accepted, one devolution, one movement.
async fn concurrent_refunds_of_one_charge_refund_once(backend: Backend) {
    let shop = Shop::open(backend).await;
    shop.paid(&plain_charge("FUND", 100_000)).await;
    let id = shop.paid(&marketplace("REF-RACE")).await;
    let results = join_all((0..8).map(|_| shop.refund(&id))).await;
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(accepted, 1, "{results:?}");
    for r in &results {
        match r {
            Ok(c) => assert_eq!(c.status, ChargeStatus::Refunded, "{c:?}"),
            Err(DomainError::RefundExceedsRemaining { .. } | DomainError::ConcurrentUpdate) => {}
            Err(e) => panic!("unexpected refusal: {e:?}"),
        }
    }
    shop.drain().await;
    assert_eq!(shop.gw.sandbox.refunds().len(), 1);
    let refunds = shop
        .movements()
        .await
        .into_iter()
        .filter(|m| m.kind == MovementKind::RefundRequested)
        .count();
    assert_eq!(refunds, 1);
    assert_eq!(shop.events(EventType::CashinRefunded).await.len(), 1);
    assert_eq!(buckets(shop.balance().await), (0, 100_000, 0));
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

/// A refund and the payout scheduler, in both orders and at once: a split is either cancelled
/// by the refund or paid by the scheduler, never both, and the books always balance.
async fn refund_racing_the_payout_scheduler(backend: Backend) {
    let shop = Shop::open(backend).await;
    shop.paid(&plain_charge("FUND", 100_000)).await;

    // Refund first: the scheduler attaches nothing of that charge.
    let a = shop.paid(&marketplace("RACE-A")).await;
    shop.refund(&a).await.expect("refund A");
    let report = shop.run_scheduler().await;
    assert_eq!((report.payouts, report.splits), (0, 0), "{report:?}");
    shop.drain().await;
    assert_eq!(
        split_states(&shop, &a).await,
        vec![SplitState::Cancelled; 3]
    );
    assert!(shop.gw.sandbox.transfers().is_empty());
    assert_eq!(buckets(shop.balance().await), (0, 100_000, 0));

    // Scheduler first: the splits are in payouts, so the refund treats them as paid out and
    // takes the whole amount from available.
    let b = shop.paid(&marketplace("RACE-B")).await;
    let report = shop.run_scheduler().await;
    assert_eq!(report.splits, 3, "{report:?}");
    let available = shop.balance().await.available.cents();
    let refunded = shop.refund(&b).await.expect("refund B");
    assert_eq!(refunded.status, ChargeStatus::Refunded);
    let movement = shop
        .movement(
            MovementKind::RefundRequested,
            &refunded.refunds[0].reference(&b),
        )
        .await
        .expect("refund movement");
    assert_eq!(buckets(movement.balance_delta()), (0, -20_000, 0));
    assert_eq!(shop.balance().await.available.cents(), available - 20_000);
    assert!(
        split_states(&shop, &b)
            .await
            .iter()
            .all(|s| *s != SplitState::Cancelled)
    );
    shop.drain().await;
    assert_eq!(split_states(&shop, &b).await, vec![SplitState::Paid; 3]);
    assert_eq!(
        buckets(shop.balance().await),
        (0, 100_000 + 1_000 - 20_000, 0)
    );
    shop.assert_books().await;

    // At once: whichever wins, each split ends cancelled or paid, and the refund's reserve
    // leg is exactly the cancelled ones.
    let c = shop.paid(&marketplace("RACE-C")).await;
    shop.advance(Duration::minutes(1));
    let (refund, report) = futures::join!(
        shop.refund(&c),
        shop.gw
            .state
            .payout_scheduler
            .run_account_now(&shop.account)
    );
    assert_eq!(refund.expect("refund C").status, ChargeStatus::Refunded);
    report.expect("scheduler");
    shop.drain().await;
    let states = split_states(&shop, &c).await;
    assert!(
        states
            .iter()
            .all(|s| matches!(s, SplitState::Cancelled | SplitState::Paid)),
        "{states:?}"
    );
    assert_eq!(shop.balance().await.reserved_for_splits, Money::ZERO);
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Refund failures

/// The provider is down when the refund is requested: REFUND_PROCESSING without a `D…` id,
/// the money set aside; the `RefundRequested` message completes it, once, however often it
/// is delivered.
async fn refund_stays_processing_while_the_provider_is_down(backend: Backend) {
    let shop = Shop::open(backend).await;
    let id = shop.paid(&marketplace("REF-DOWN")).await;
    shop.gw.sandbox.fail_next_calls(1);
    let charge = shop.refund(&id).await.expect("refund accepted");
    assert_eq!(charge.status, ChargeStatus::RefundProcessing, "{charge:?}");
    let refund = charge.refunds[0].clone();
    assert_eq!(refund.state, RefundState::Processing);
    assert!(refund.end_to_end_id.is_none(), "{refund:?}");
    assert_eq!(
        shop.charge(&id).await.status,
        ChargeStatus::RefundProcessing
    );
    assert_eq!(
        buckets(shop.balance().await),
        (0, 0, 0),
        "the money is set aside"
    );
    assert_eq!(
        split_states(&shop, &id).await,
        vec![SplitState::Cancelled; 3]
    );
    assert!(shop.events(EventType::CashinRefunded).await.is_empty());
    assert!(matches!(
        shop.refund(&id).await,
        Err(DomainError::RefundExceedsRemaining { remaining }) if remaining == Money::ZERO
    ));
    shop.assert_books().await;

    // The queue message: handled twice, then "crashed" before the ack and delivered again.
    shop.gw.relay().await;
    let messages = shop.gw.receive_all(QueueName::PayoutRequests).await;
    assert_eq!(messages.len(), 1, "one RefundRequested message");
    let m = &messages[0];
    shop.gw
        .handle(QueueName::PayoutRequests, m)
        .await
        .expect("first delivery");
    shop.gw
        .handle(QueueName::PayoutRequests, m)
        .await
        .expect("duplicate");
    shop.gw.crash_before_ack(QueueName::PayoutRequests, m).await;
    for again in shop.gw.receive_all(QueueName::PayoutRequests).await {
        shop.gw
            .handle(QueueName::PayoutRequests, &again)
            .await
            .expect("redelivery");
        shop.gw.ack(QueueName::PayoutRequests, &again).await;
    }
    // And a stale copy long after.
    shop.gw
        .queues
        .send(
            QueueName::PayoutRequests,
            OutgoingMessage::new(m.body.clone()),
        )
        .await
        .expect("send");
    shop.drain().await;

    let charge = shop.charge(&id).await;
    assert_eq!(charge.status, ChargeStatus::Refunded, "{charge:?}");
    let e2e = charge.refunds[0].end_to_end_id.clone().expect("D… id");
    assert_eq!(e2e.kind(), EndToEndKind::Devolution);
    assert_eq!(shop.gw.sandbox.refunds().len(), 1);
    assert_eq!(shop.events(EventType::CashinRefunded).await.len(), 1);
    assert_eq!(buckets(shop.balance().await), (0, 0, 0));
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

/// The provider refuses the refund: the charge is CONFIRMED again, every party given back what
/// it bore — the splits it cancelled SCHEDULED again with their reserve, the account's part
/// in `available`; a later refund is a new attempt.
async fn a_refused_refund_gives_the_money_back(backend: Backend) {
    let mut shop = Shop::open(backend).await;
    let id = shop.paid(&marketplace("REF-REFUSED")).await;
    let provider = shop.gw.state.provider.clone();
    let normal = shop.swap_provider(Altered::refusing_refunds(provider));

    let charge = shop.refund(&id).await.expect("refund request");
    assert_eq!(charge.status, ChargeStatus::Confirmed, "{charge:?}");
    let refund = charge.refunds[0].clone();
    assert_eq!(refund.state, RefundState::Failed);
    assert_eq!(
        refund.failure_reason.as_deref(),
        Some(REFUSED_REFUND_REASON)
    );
    assert!(refund.end_to_end_id.is_none());
    assert_eq!(shop.charge(&id).await, charge);
    assert_eq!(
        split_states(&shop, &id).await,
        vec![SplitState::Scheduled; 3]
    );
    assert!(
        shop.splits(&id)
            .await
            .iter()
            .all(|s| s.refunded == Money::ZERO)
    );
    assert_eq!(buckets(shop.balance().await), (0, 1_000, 19_000));
    assert!(
        shop.movement(MovementKind::RefundReturned, &refund.reference(&id))
            .await
            .is_some()
    );
    assert!(shop.events(EventType::CashinRefunded).await.is_empty());
    shop.assert_books().await;

    // The provider accepts the next attempt; the stale attempt-1 message changes nothing.
    shop.gw.state = normal;
    let again = shop.refund(&id).await.expect("second attempt");
    assert_eq!(again.status, ChargeStatus::Refunded, "{again:?}");
    assert_eq!(again.refunds.len(), 2, "a new refund, the failed one kept");
    assert_eq!(again.refunds[1].state, RefundState::Completed);
    shop.drain().await;
    assert_eq!(buckets(shop.balance().await), (0, 0, 0));
    assert_eq!(shop.gw.sandbox.refunds().len(), 1);
    assert_eq!(shop.events(EventType::CashinRefunded).await.len(), 1);
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

// ---------------------------------------------------------------------------------------------
// 3. Cash-out

async fn cash_outs_to_a_pix_key_and_a_bank_account_complete(backend: Backend) {
    let shop = Shop::open(backend).await;
    shop.paid(&plain_charge("FUND", 100_000)).await;
    let key = shop
        .cash_out(
            "CO-KEY",
            cents(10_000),
            to_pix_key("fornecedor@example.com"),
        )
        .await
        .expect("cash-out to a key");
    let bank = shop
        .cash_out("CO-BANK", cents(5_000), to_bank_account())
        .await
        .expect("cash-out to an account");
    assert_eq!(key.state.as_str(), "PROCESSING");
    assert_eq!(
        buckets(shop.balance().await),
        (0, 85_000, 0),
        "debited at request"
    );
    shop.drain().await;

    for id in [&key.id, &bank.id] {
        let co = shop.get_cash_out(id).await;
        assert_eq!(co.state.as_str(), "COMPLETED", "{co:?}");
        let e2e = co.end_to_end_id.clone().expect("E… id");
        assert_eq!(e2e.kind(), EndToEndKind::Payment);
        assert!(e2e.as_str().starts_with('E'));
        assert_eq!(
            shop.gw
                .state
                .cash_outs
                .get(&shop.account, id)
                .await
                .expect("get"),
            co
        );
        assert!(matches!(
            shop.gw
                .state
                .cash_outs
                .get(&AccountId::generate(), id)
                .await,
            Err(DomainError::NotFound(_))
        ));
    }
    assert_eq!(shop.events(EventType::CashoutCompleted).await.len(), 2);
    assert!(shop.events(EventType::CashoutFailed).await.is_empty());
    assert_eq!(buckets(shop.balance().await), (0, 85_000, 0));
    assert_eq!(shop.gw.sandbox.transfers().len(), 2);
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

async fn a_rejected_cash_out_fails_and_gives_the_money_back(backend: Backend) {
    let shop = Shop::open(backend).await;
    shop.paid(&plain_charge("FUND", 100_000)).await;
    let co = shop
        .cash_out("CO-REJECT", cents(10_000), to_pix_key("reject@example.com"))
        .await
        .expect("accepted");
    assert_eq!(buckets(shop.balance().await), (0, 90_000, 0));
    shop.drain().await;
    let co = shop.get_cash_out(&co.id).await;
    assert_eq!(co.state.as_str(), "FAILED", "{co:?}");
    assert_eq!(
        co.failure_reason.as_deref(),
        Some("PIX key not found in DICT")
    );
    assert!(co.end_to_end_id.is_none());
    assert_eq!(buckets(shop.balance().await), (0, 100_000, 0), "money back");
    assert_eq!(shop.events(EventType::CashoutFailed).await.len(), 1);
    assert!(shop.events(EventType::CashoutCompleted).await.is_empty());
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

/// Ten cash-outs of 30 % of `available` each, at once: the accepted ones fit, the others are
/// refused, and the balance never goes negative.
async fn concurrent_cash_outs_never_overdraw(backend: Backend) {
    let shop = Shop::open(backend).await;
    for i in 0..3 {
        shop.paid(&plain_charge(&format!("FUND-{i}"), 10_000)).await;
    }
    let available = shop.balance().await.available.cents();
    assert_eq!(available, 30_000);
    let each = available * 30 / 100;
    let external_ids: Vec<String> = (0..10).map(|i| format!("CO-RACE-{i}")).collect();
    let results = join_all(external_ids.iter().map(|external_id| {
        shop.cash_out(
            external_id,
            cents(each),
            to_pix_key("fornecedor@example.com"),
        )
    }))
    .await;
    let accepted = results.iter().filter(|r| r.is_ok()).count() as i64;
    let mut insufficient = 0;
    for r in &results {
        match r {
            Ok(_) => {}
            Err(DomainError::InsufficientBalance { .. }) => insufficient += 1,
            Err(DomainError::ConcurrentUpdate) => {}
            Err(e) => panic!("unexpected refusal: {e:?}"),
        }
    }
    assert!(accepted >= 1, "{results:?}");
    assert!(accepted * each <= available, "{results:?}");
    if accepted < 3 {
        assert_eq!(
            insufficient, 0,
            "refused for a balance that was there: {results:?}"
        );
    }
    let balance = shop.balance().await;
    assert_eq!(balance.available.cents(), available - accepted * each);
    shop.drain().await;
    assert_eq!(shop.gw.sandbox.transfers().len() as i64, accepted);

    // What is left can be taken exactly, and not a cent more.
    let left = shop.balance().await.available.cents();
    assert!(left >= 0);
    if left > 0 {
        shop.cash_out("CO-REST", cents(left), to_bank_account())
            .await
            .expect("the rest");
    }
    assert!(matches!(
        shop.cash_out("CO-CENT", cents(1), to_bank_account()).await,
        Err(DomainError::InsufficientBalance { .. })
    ));
    shop.drain().await;
    assert_eq!(shop.balance().await.available, Money::ZERO);
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

async fn a_duplicate_cash_out_external_id_is_refused(backend: Backend) {
    let shop = Shop::open(backend).await;
    shop.paid(&plain_charge("FUND", 100_000)).await;
    shop.cash_out("CO-DUP", cents(1_000), to_bank_account())
        .await
        .expect("first");
    assert!(matches!(
        shop.cash_out("CO-DUP", cents(2_000), to_bank_account())
            .await,
        Err(DomainError::DuplicateCashOutExternalId)
    ));
    // At once: one wins.
    let results =
        join_all((0..5).map(|_| shop.cash_out("CO-DUP-RACE", cents(1_000), to_bank_account())))
            .await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for r in &results {
        assert!(
            matches!(
                r,
                Ok(_)
                    | Err(DomainError::DuplicateCashOutExternalId)
                    | Err(DomainError::ConcurrentUpdate)
            ),
            "{r:?}"
        );
    }
    assert_eq!(buckets(shop.balance().await), (0, 98_000, 0));
    shop.drain().await;
    assert_eq!(shop.gw.sandbox.transfers().len(), 2);
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

/// The same CashOutRequested message executed twice (at once, and again later): one transfer,
/// one debit, one return for a failed one, one event.
async fn executing_a_cash_out_twice_moves_money_once(backend: Backend) {
    let shop = Shop::open(backend).await;
    shop.paid(&plain_charge("FUND", 100_000)).await;
    let ok = shop
        .cash_out(
            "CO-TWICE",
            cents(10_000),
            to_pix_key("fornecedor@example.com"),
        )
        .await
        .expect("ok");
    let bad = shop
        .cash_out(
            "CO-TWICE-REJECT",
            cents(5_000),
            to_pix_key("reject@example.com"),
        )
        .await
        .expect("accepted");
    shop.gw.relay().await;
    let messages = shop.gw.receive_all(QueueName::PayoutRequests).await;
    assert_eq!(messages.len(), 2);
    for m in &messages {
        let (a, b) = futures::join!(
            shop.gw.handle(QueueName::PayoutRequests, m),
            shop.gw.handle(QueueName::PayoutRequests, m)
        );
        a.expect("first");
        b.expect("second");
        shop.gw
            .handle(QueueName::PayoutRequests, m)
            .await
            .expect("third");
        shop.gw.ack(QueueName::PayoutRequests, m).await;
        shop.gw
            .queues
            .send(
                QueueName::PayoutRequests,
                OutgoingMessage::new(m.body.clone()),
            )
            .await
            .expect("resend");
    }
    shop.gw
        .state
        .cash_outs
        .execute(&ok.id)
        .await
        .expect("again");
    shop.gw
        .state
        .cash_outs
        .execute(&bad.id)
        .await
        .expect("again");
    shop.drain().await;

    assert_eq!(shop.get_cash_out(&ok.id).await.state.as_str(), "COMPLETED");
    assert_eq!(shop.get_cash_out(&bad.id).await.state.as_str(), "FAILED");
    assert_eq!(shop.gw.sandbox.transfers().len(), 2);
    let kinds: Vec<MovementKind> = shop.movements().await.iter().map(|m| m.kind).collect();
    let count = |k: MovementKind| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(count(MovementKind::CashoutRequested), 2);
    assert_eq!(count(MovementKind::CashoutReturned), 1);
    assert_eq!(shop.events(EventType::CashoutCompleted).await.len(), 1);
    assert_eq!(shop.events(EventType::CashoutFailed).await.len(), 1);
    assert_eq!(buckets(shop.balance().await), (0, 90_000, 0));
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

// ---------------------------------------------------------------------------------------------
// 4. Expiry

/// PENDING up to the last millisecond, EXPIRED from `expirationDate` on (GET and status_at,
/// before the sweep); the sweeper stores it once with one CASHIN_EXPIRED.
async fn a_charge_expires_exactly_at_its_expiration_date(backend: Backend) {
    let shop = Shop::open(backend).await;
    let id = shop.create(&charge_body("EXP-EDGE", 1_500, &[], 300)).await;
    let charge = shop.charge(&id).await;
    shop.set_clock(charge.expires_at - Duration::milliseconds(1));
    assert_eq!(charge.status_at(shop.now()), ChargeStatus::Pending);
    assert_eq!(shop.charge_view(&id).await["status"], "PENDING");
    let report = shop.gw.state.expiry.sweep(100).await.expect("sweep");
    assert_eq!(report.expired, 0, "{report:?}");
    assert_eq!(shop.charge(&id).await.status, ChargeStatus::Pending);

    shop.advance(Duration::milliseconds(1));
    assert_eq!(shop.now(), charge.expires_at);
    assert_eq!(charge.status_at(shop.now()), ChargeStatus::Expired);
    assert_eq!(shop.charge_view(&id).await["status"], "EXPIRED");
    assert_eq!(
        shop.charge(&id).await.status,
        ChargeStatus::Pending,
        "not swept yet"
    );

    let report = shop.gw.state.expiry.sweep(100).await.expect("sweep");
    assert_eq!(report.expired, 1, "{report:?}");
    assert_eq!(shop.charge(&id).await.status, ChargeStatus::Expired);
    let again = shop.gw.state.expiry.sweep(100).await.expect("sweep again");
    assert_eq!(again.expired, 0, "{again:?}");
    let events = shop.events(EventType::CashinExpired).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].data["transactionId"], id.as_str());
    assert_eq!(shop.charge_view(&id).await["status"], "EXPIRED");
    shop.assert_books().await;
}

async fn a_charge_paid_before_the_sweep_is_not_expired(backend: Backend) {
    let shop = Shop::open(backend).await;
    let id = shop.create(&charge_body("EXP-PAID", 1_500, &[], 300)).await;
    shop.pay(&id).await;
    shop.drain().await;
    shop.advance(Duration::seconds(301));
    let report = shop.gw.state.expiry.sweep(100).await.expect("sweep");
    assert_eq!(report.expired, 0, "{report:?}");
    assert_eq!(shop.charge(&id).await.status, ChargeStatus::Confirmed);
    assert_eq!(shop.charge_view(&id).await["status"], "CONFIRMED");
    assert!(shop.events(EventType::CashinExpired).await.is_empty());
    shop.assert_books().await;
}

/// The PIX network settles a payment after the sweeper expired the charge: accepted, the
/// charge CONFIRMED with `paidAfterExpiration`, and the money booked like any other.
async fn a_payment_after_the_sweep_is_accepted(backend: Backend) {
    let shop = Shop::open(backend).await;
    let id = shop.create(&charge_body("EXP-LATE", 1_500, &[], 300)).await;
    shop.advance(Duration::seconds(301));
    let report = shop.gw.state.expiry.sweep(100).await.expect("sweep");
    assert_eq!(report.expired, 1, "{report:?}");
    assert_eq!(shop.charge(&id).await.status, ChargeStatus::Expired);

    let charge = shop.charge(&id).await;
    let response = shop.deliver(&shop.payment_webhook(&charge)).await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    let charge = shop.charge(&id).await;
    assert_eq!(charge.status, ChargeStatus::Confirmed, "{charge:?}");
    assert!(charge.paid_after_expiration());
    let view = shop.charge_view(&id).await;
    assert_eq!(view["status"], "CONFIRMED", "{view}");
    assert_eq!(view["paidAfterExpiration"], true, "{view}");
    shop.drain().await;
    assert_eq!(buckets(shop.balance().await), (0, 1_500, 0));
    let again = shop.gw.state.expiry.sweep(100).await.expect("sweep");
    assert_eq!(again.expired, 0);
    assert_eq!(shop.events(EventType::CashinExpired).await.len(), 1);
    assert_eq!(shop.events(EventType::CashinConfirmed).await.len(), 1);
    shop.assert_books().await;
}

// ---------------------------------------------------------------------------------------------
// 5. Statement

/// After a mixed history, paging the statement 1, 2 or 3 entries at a time visits every entry
/// exactly once, in order; per bucket, Σ entries = the balance.
async fn the_statement_pages_through_every_entry_once(backend: Backend) {
    let shop = Shop::open(backend).await;
    shop.paid(&plain_charge("FUND", 100_000)).await;
    shop.advance(Duration::seconds(1));
    let marketplace_id = shop.paid(&marketplace("ST-MKT")).await;
    shop.advance(Duration::seconds(1));
    shop.paid(&immediate_split("ST-IMM")).await;
    shop.advance(Duration::seconds(1));
    let scheduled = shop.paid(&marketplace("ST-MKT-2")).await;
    shop.run_scheduler().await;
    shop.drain().await;
    shop.advance(Duration::seconds(1));
    shop.refund(&marketplace_id).await.expect("refund");
    shop.refund(&scheduled).await.expect("refund after payout");
    shop.advance(Duration::seconds(1));
    shop.cash_out("ST-CO", cents(7_777), to_bank_account())
        .await
        .expect("cash-out");
    shop.cash_out("ST-CO-REJ", cents(1_111), to_pix_key("reject@example.com"))
        .await
        .expect("cash-out");
    shop.drain().await;

    let expected = shop.expected_statement().await;
    assert!(expected.len() > 12, "a mixed history: {}", expected.len());
    let ids: BTreeSet<&str> = expected.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), expected.len(), "entry ids are unique");
    let balance = shop.balance().await;
    for bucket in Bucket::ALL {
        let sum: i64 = expected
            .iter()
            .filter(|e| e.bucket == bucket)
            .map(|e| e.signed_cents())
            .sum();
        assert_eq!(sum, balance.get(bucket).cents(), "{}", bucket.as_str());
    }
    let kinds: BTreeSet<&str> = expected.iter().map(|e| e.cause_type).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["CASH_IN", "PAYOUT", "REFUND", "CASH_OUT"]),
        "every kind of cause"
    );

    for limit in [1u32, 2, 3, 100] {
        let pages = shop.statement_pages(limit).await;
        let walked: Vec<_> = pages.iter().flatten().cloned().collect();
        assert_eq!(walked, expected, "limit {limit}");
        let full = expected.len().div_ceil(limit as usize);
        assert_eq!(
            pages.len(),
            full.max(1),
            "limit {limit}: no empty trailing page"
        );
        assert!(
            pages[..pages.len() - 1]
                .iter()
                .all(|p| p.len() == limit as usize),
            "limit {limit}: only the last page may be short"
        );
    }
    shop.assert_books().await;
}

/// `GET /api/account/statement?limit=100` over 213 entries (a paid charge's three, then 210
/// cash-outs of one entry each): pages of 100, 100 and 13, then `nextCursor: null`; every
/// entry once, and per bucket the entries sum to `GET /api/account/balance`. With one entry
/// per movement, the look-ahead past a page of 100 entries is a 101st movement, more than the
/// store hands out at once: that short read must not be taken for the end of the statement
/// (it once was: 100 entries, 100 more and `nextCursor: null`, 13 entries lost).
async fn a_213_entry_statement_read_100_at_a_time_sums_to_the_balance(backend: Backend) {
    let shop = Shop::open(backend).await;
    shop.paid(&plain_charge("ST213-FUND", 500_000)).await;
    for n in 0..210 {
        // Distinct amounts, so a skipped or repeated entry changes the sums.
        shop.cash_out(&format!("ST213-{n}"), cents(100 + n), to_bank_account())
            .await
            .expect("cash-out");
        // Some movements share a millisecond, most do not.
        if n % 3 == 0 {
            shop.advance(Duration::milliseconds(1));
        }
    }
    // The cash-outs' transfers are not needed: each debited `available` when it was accepted.
    let expected: Vec<String> = shop
        .expected_statement()
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(expected.len(), 213);

    let token = shop.token().await;
    let mut pages: Vec<Vec<serde_json::Value>> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/api/account/statement?limit=100".to_owned(),
            Some(c) => format!("/api/account/statement?limit=100&cursor={c}"),
        };
        let response = shop.gw.get(&path, &token).await;
        assert_eq!(response.status, 200, "{:?}", response.body_json());
        let body = response.body_json();
        pages.push(body["items"].as_array().expect("items").clone());
        match &body["nextCursor"] {
            serde_json::Value::Null => break,
            next => cursor = Some(next.as_str().expect("nextCursor").to_owned()),
        }
        assert!(pages.len() < 10, "the statement never ends");
    }
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [100, 100, 13]);
    let entries: Vec<&serde_json::Value> = pages.iter().flatten().collect();
    let ids: Vec<&str> = entries
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, expected, "every entry once, oldest first");

    let response = shop.gw.get("/api/account/balance", &token).await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    let balance = response.body_json();
    for (bucket, field) in [
        ("AVAILABLE", "available"),
        ("RESERVED_FOR_SPLITS", "reservedForSplits"),
    ] {
        let sum: Decimal = entries
            .iter()
            .filter(|e| e["bucket"] == bucket)
            .map(|e| {
                let amount = decimal(&e["amount"]);
                match e["direction"].as_str() {
                    Some("CREDIT") => amount,
                    Some("DEBIT") => -amount,
                    other => panic!("direction {other:?}"),
                }
            })
            .sum();
        assert_eq!(sum, decimal(&balance[field]), "{bucket}: {balance}");
    }
    // What the charge brought in minus what the cash-outs took: nothing summed twice or lost.
    let taken: i64 = (0..210).map(|n| 100 + n).sum();
    assert_eq!(
        decimal(&balance["available"]),
        Decimal::new(500_000 - taken, 2)
    );
    shop.assert_books().await;
}

/// A JSON money amount (a number with two decimals) exactly, never through `f64`.
fn decimal(value: &serde_json::Value) -> Decimal {
    Decimal::from_str(&value.to_string()).unwrap_or_else(|e| panic!("{value}: {e}"))
}

on_both_backends!(
    refund_before_any_split_payout_cancels_the_splits,
    refund_after_an_immediate_split_was_paid_debits_available,
    refund_without_enough_available_changes_nothing,
    refund_before_the_splits_are_booked_books_them_first,
    concurrent_refunds_of_one_charge_refund_once,
    refund_racing_the_payout_scheduler,
    refund_stays_processing_while_the_provider_is_down,
    a_refused_refund_gives_the_money_back,
    cash_outs_to_a_pix_key_and_a_bank_account_complete,
    a_rejected_cash_out_fails_and_gives_the_money_back,
    concurrent_cash_outs_never_overdraw,
    a_duplicate_cash_out_external_id_is_refused,
    executing_a_cash_out_twice_moves_money_once,
    a_charge_expires_exactly_at_its_expiration_date,
    a_charge_paid_before_the_sweep_is_not_expired,
    a_payment_after_the_sweep_is_accepted,
    the_statement_pages_through_every_entry_once,
    a_213_entry_statement_read_100_at_a_time_sums_to_the_balance,
);
