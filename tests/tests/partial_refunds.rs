//! Partial and multiple devoluções with a declared liability, end to end on both backends
//! (issue "Partial and multiple devoluções"): the worked examples of both liabilities, several
//! refunds of one charge, refusals that change nothing, concurrency, and refunds racing the
//! payout scheduler. Every scenario ends by checking the books ([`Shop::assert_books`]), which
//! now also checks every refund's movement against its declared parts and every recipient's
//! debt against its ledger legs.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use futures::future::join_all;
use pixgw_domain::charge::ChargeStatus;
use pixgw_domain::error::DomainError;
use pixgw_domain::flows::refund::refund_idempotency_key;
use pixgw_domain::ledger::MovementKind;
use pixgw_domain::messaging::events::EventType;
use pixgw_domain::pix::ids::{RecipientId, TransactionId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::provider::{RefundOutcome, RefundReference, TransferOutcome};
use pixgw_domain::refund::liability::SplitPartKind;
use pixgw_domain::refund::{RefundLiability, RefundState};
use pixgw_domain::split::entry::SplitState;
use pixgw_tests::bodies::{immediate_split, marketplace};
use pixgw_tests::harness::Backend;
use pixgw_tests::money_lifecycle::{Altered, Answer, Shop, SplitSpec, charge_body, plain_charge};
use pixgw_tests::on_both_backends;

const PROPORTIONAL: Option<RefundLiability> = Some(RefundLiability::Proportional);
const MERCHANT: Option<RefundLiability> = Some(RefundLiability::Merchant);

fn cents(c: i64) -> Money {
    Money::from_cents(c)
}

/// (available, reservedForSplits, recipientDebts).
async fn buckets(shop: &Shop) -> (i64, i64, i64) {
    let b = shop.balance().await;
    (
        b.available.cents(),
        b.reserved_for_splits.cents(),
        b.recipient_debts.cents(),
    )
}

async fn payable(shop: &Shop, id: &TransactionId) -> Vec<i64> {
    shop.splits(id)
        .await
        .iter()
        .map(|s| s.payable().cents())
        .collect()
}

async fn debt_of(shop: &Shop, id: &TransactionId, index: usize) -> i64 {
    let entry = &shop.splits(id).await[index];
    let recipient = RecipientId::derive(&shop.account, entry.recipient().grouping_key());
    shop.gw
        .state
        .store
        .get_recipient(&shop.account, &recipient)
        .await
        .expect("get recipient")
        .map_or(0, |r| r.debt.cents())
}

/// The first example: R$ 200 (70 % / 20 % / R$ 10 fixed, SCHEDULED), R$ 50 refunded
/// PROPORTIONAL: seller 35.00, platform 10.00, courier 2.50, the account 2.50; the splits now
/// pay 105.00 / 30.00 / 7.50 and `available` holds 7.50. The rest, later, under the default
/// (MERCHANT): REFUNDED, every split not paid cancelled, nothing left to anyone.
async fn marketplace_refund_borne_proportionally_then_the_rest(backend: Backend) {
    let shop = Shop::open(backend).await;
    let id = shop.paid(&marketplace("PART-MKT")).await;
    assert_eq!(buckets(&shop).await, (1_000, 19_000, 0));

    let (charge, refund_id) = shop
        .refund_part(&id, Some(5_000), PROPORTIONAL)
        .await
        .expect("partial refund");
    assert_eq!(charge.status, ChargeStatus::PartiallyRefunded, "{charge:?}");
    assert_eq!(charge.refunded_amount(), cents(5_000));
    let refund = charge.refund(&refund_id).expect("the refund").clone();
    assert_eq!(refund.state, RefundState::Completed);
    assert_eq!(refund.liability, RefundLiability::Proportional);
    let parts: Vec<(u8, i64, SplitPartKind)> = refund
        .split_parts
        .iter()
        .map(|p| (p.index, p.amount.cents(), p.kind))
        .collect();
    assert_eq!(
        parts,
        vec![
            (0, 3_500, SplitPartKind::Reduced),
            (1, 1_000, SplitPartKind::Reduced),
            (2, 250, SplitPartKind::Reduced),
        ]
    );
    assert_eq!(refund.account_part(), 250);
    assert_eq!(payable(&shop, &id).await, vec![10_500, 3_000, 750]);
    assert_eq!(buckets(&shop).await, (750, 14_250, 0));

    // What the merchant sees: the charge with its refund, each split's refunded amount.
    let view = shop.charge_view(&id).await;
    assert_eq!(view["status"], "PARTIALLY_REFUNDED", "{view}");
    assert_eq!(view["refundedAmount"], 50.0, "{view}");
    assert_eq!(view["refunds"][0]["refundId"], refund_id.as_str(), "{view}");
    assert_eq!(view["refunds"][0]["status"], "REFUNDED", "{view}");
    assert_eq!(view["refunds"][0]["accountPart"], 2.5, "{view}");
    let split_refunded: Vec<f64> = (0..3)
        .map(|i| view["splits"][i]["refundedAmount"].as_f64().unwrap())
        .collect();
    assert_eq!(split_refunded, vec![35.0, 10.0, 2.5], "{view}");
    let events = shop.events(EventType::CashinRefunded).await;
    assert_eq!(events.len(), 1, "one CASHIN_REFUNDED per settled devolução");
    assert_eq!(events[0].data["status"], "PARTIALLY_REFUNDED");
    assert_eq!(events[0].data["refunds"][0]["status"], "REFUNDED");

    // The rest, under the account's policy (MERCHANT by default).
    let (charge, last) = shop.refund_part(&id, None, None).await.expect("the rest");
    assert_eq!(charge.status, ChargeStatus::Refunded, "{charge:?}");
    assert_eq!(charge.refunded_amount(), cents(20_000));
    let last = charge.refund(&last).expect("the last refund").clone();
    assert_eq!(last.amount, cents(15_000));
    assert_eq!(last.liability, RefundLiability::Merchant);
    assert_eq!(last.account_part(), 750);
    assert_eq!(
        shop.splits(&id)
            .await
            .iter()
            .map(|s| s.state)
            .collect::<Vec<_>>(),
        vec![SplitState::Cancelled; 3]
    );
    assert_eq!(buckets(&shop).await, (0, 0, 0));
    assert_ne!(refund.end_to_end_id, last.end_to_end_id, "each its own D…");
    assert_eq!(shop.events(EventType::CashinRefunded).await.len(), 2);
    let report = shop.run_scheduler().await;
    assert_eq!((report.payouts, report.splits), (0, 0), "{report:?}");
    assert!(matches!(
        shop.refund(&id).await,
        Err(DomainError::RefundExceedsRemaining { remaining }) if remaining == Money::ZERO
    ));
    shop.drain().await;
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

/// The second example: R$ 350 with 80 % paid at once (280.00); R$ 100 refunded
/// PROPORTIONAL with R$ 100 or more in `available`: the account pays all of it now, 80.00 of it
/// fronted for the recipient, who now owes 80.00.
async fn a_paid_split_bears_its_part_as_a_debt(backend: Backend) {
    let shop = Shop::open(backend).await;
    shop.paid(&plain_charge("FUND", 50_000)).await;
    let id = shop.paid(&immediate_split("PART-IMMEDIATE")).await;
    shop.drain().await;
    assert_eq!(shop.splits(&id).await[0].state, SplitState::Paid);
    assert_eq!(buckets(&shop).await, (57_000, 0, 0));

    let (charge, refund_id) = shop
        .refund_part(&id, Some(10_000), PROPORTIONAL)
        .await
        .expect("refund");
    let refund = charge.refund(&refund_id).unwrap();
    assert_eq!(refund.split_parts.len(), 1);
    assert_eq!(refund.split_parts[0].kind, SplitPartKind::Debt);
    assert_eq!(refund.split_parts[0].amount, cents(8_000));
    assert_eq!(refund.account_part(), 2_000);
    assert_eq!(buckets(&shop).await, (47_000, 0, 8_000));
    assert_eq!(debt_of(&shop, &id, 0).await, 8_000);
    assert_eq!(
        shop.splits(&id).await[0].state,
        SplitState::Paid,
        "paid stays paid"
    );
    let view = shop.charge_view(&id).await;
    assert_eq!(view["splits"][0]["refundedAmount"], 80.0, "{view}");

    // Not enough in `available` for what the account must pay now: refused, nothing changed.
    let poor = Shop::open(backend).await;
    let poor_id = poor.paid(&immediate_split("PART-POOR")).await;
    poor.drain().await;
    let before = poor.snapshot().await;
    match poor.refund_part(&poor_id, Some(10_000), PROPORTIONAL).await {
        Err(DomainError::InsufficientBalance { available, needed }) => {
            assert_eq!((available, needed), (cents(7_000), cents(10_000)))
        }
        other => panic!("expected InsufficientBalance, got {other:?}"),
    }
    assert_eq!(
        poor.snapshot().await,
        before,
        "a refused refund changed something"
    );
    assert_eq!(debt_of(&poor, &poor_id, 0).await, 0);
    poor.assert_books().await;

    // The recipient's next split, of another charge, pays 80.00 less: its immediate payout
    // transfers 200.00, shows the deduction, and `available` gets the 80.00 back.
    let next = shop.paid(&immediate_split("PART-IMMEDIATE-2")).await;
    shop.drain().await;
    let entry = &shop.splits(&next).await[0];
    assert_eq!(entry.state, SplitState::Paid);
    let payout_id = entry.payout_id.clone().unwrap();
    let payout = shop
        .gw
        .state
        .store
        .get_payout(&payout_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(payout.amount, cents(28_000));
    assert_eq!(payout.net_amount(), cents(20_000));
    let deductions = payout.deductions.clone().unwrap();
    assert_eq!(deductions.len(), 1);
    assert_eq!(deductions[0].refund_id, refund_id);
    assert_eq!(deductions[0].transaction_id, id);
    assert_eq!(deductions[0].amount, cents(8_000));
    let transfer = shop
        .gw
        .sandbox
        .transfers()
        .into_iter()
        .find(|t| t.idempotency_key == payout_id.as_str())
        .expect("the payout's transfer");
    assert_eq!(transfer.amount, cents(20_000));
    assert_eq!(debt_of(&shop, &id, 0).await, 0);
    // 470.00 + the new charge's 70.00 remainder + the 80.00 recovered.
    assert_eq!(buckets(&shop).await, (47_000 + 7_000 + 8_000, 0, 0));
    let token = shop.token().await;
    let view = shop
        .gw
        .get(&format!("/api/payouts/{payout_id}"), &token)
        .await
        .body_json();
    assert_eq!(view["grossAmount"], 280.0, "{view}");
    assert_eq!(view["amount"], 200.0, "{view}");
    assert_eq!(
        view["deductions"][0]["refundId"],
        refund_id.as_str(),
        "{view}"
    );
    assert_eq!(view["deductions"][0]["amount"], 80.0, "{view}");
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

/// A debt larger than the next payout is recovered across windows: the first payout nets to
/// 0 (PAID without a transfer), the second transfers what is left after the rest of the debt.
async fn a_debt_is_recovered_across_two_payout_windows(backend: Backend) {
    let shop = Shop::open(backend).await;
    shop.paid(&plain_charge("FUND", 50_000)).await;
    let to_seller = |cents| SplitSpec {
        fixed: true,
        value: cents,
        immediate: false,
        pix_key: "seller@example.com".into(),
    };
    // 140.00 to the seller, paid in the first window; then refunded in full, proportionally:
    // the seller owes 140.00.
    let first = shop
        .paid(&charge_body("DEBT-A", 20_000, &[to_seller(14_000)], 3_600))
        .await;
    shop.run_scheduler().await;
    shop.drain().await;
    let (_, refund_id) = shop
        .refund_part(&first, None, PROPORTIONAL)
        .await
        .expect("refund");
    assert_eq!(debt_of(&shop, &first, 0).await, 14_000);
    let transfers_before = shop.gw.sandbox.transfers().len();

    // Window 2: 100.00 due, all of it recovered: PAID, no transfer.
    let second = shop
        .paid(&charge_body("DEBT-B", 15_000, &[to_seller(10_000)], 3_600))
        .await;
    shop.run_scheduler().await;
    shop.drain().await;
    let entry = shop.splits(&second).await[0].clone();
    assert_eq!(
        (entry.state, entry.end_to_end_id.clone()),
        (SplitState::Paid, None)
    );
    let payout = shop
        .gw
        .state
        .store
        .get_payout(entry.payout_id.as_ref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (payout.amount, payout.net_amount()),
        (cents(10_000), Money::ZERO)
    );
    assert_eq!(
        shop.gw.sandbox.transfers().len(),
        transfers_before,
        "no transfer"
    );
    assert_eq!(debt_of(&shop, &first, 0).await, 4_000);

    // Window 3: 100.00 due, 40.00 recovered, 60.00 transferred; the debt is gone.
    let third = shop
        .paid(&charge_body("DEBT-C", 15_000, &[to_seller(10_000)], 3_600))
        .await;
    shop.run_scheduler().await;
    shop.drain().await;
    let entry = shop.splits(&third).await[0].clone();
    let payout = shop
        .gw
        .state
        .store
        .get_payout(entry.payout_id.as_ref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(payout.net_amount(), cents(6_000));
    let deductions = payout.deductions.clone().unwrap();
    assert_eq!(deductions.len(), 1);
    assert_eq!(
        (deductions[0].refund_id.clone(), deductions[0].amount),
        (refund_id, cents(4_000))
    );
    assert_eq!(debt_of(&shop, &first, 0).await, 0);
    assert_eq!(buckets(&shop).await.2, 0, "recipientDebts recovered");
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

/// A payout that would recover part of a debt fails at the provider (unreachable, then
/// retried by its queue): the debt is recovered exactly once, by the transfer that went out.
async fn a_retried_payout_recovers_the_debt_once(backend: Backend) {
    let shop = Shop::open(backend).await;
    shop.paid(&plain_charge("FUND", 50_000)).await;
    let to_seller = |cents, immediate| SplitSpec {
        fixed: true,
        value: cents,
        immediate,
        pix_key: "seller@example.com".into(),
    };
    let first = shop
        .paid(&charge_body(
            "RETRY-A",
            10_000,
            &[to_seller(5_000, true)],
            3_600,
        ))
        .await;
    shop.drain().await;
    shop.refund_part(&first, Some(10_000), PROPORTIONAL)
        .await
        .expect("refund");
    assert_eq!(debt_of(&shop, &first, 0).await, 5_000);
    shop.gw.sandbox.fail_next_calls(1);
    let second = shop
        .paid(&charge_body(
            "RETRY-B",
            10_000,
            &[to_seller(3_000, true)],
            3_600,
        ))
        .await;
    shop.drain().await;
    let entry = shop.splits(&second).await[0].clone();
    assert_eq!(entry.state, SplitState::Paid, "{entry:?}");
    assert_eq!(debt_of(&shop, &first, 0).await, 2_000);
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

/// Several partial refunds of one charge, each its own devolução; more than what is left is
/// refused with the remaining amount, and nothing changes.
async fn several_partial_refunds_up_to_the_amount(backend: Backend) {
    let shop = Shop::open(backend).await;
    let id = shop.paid(&plain_charge("PART-MANY", 10_000)).await;
    for (i, part) in [1_000, 2_000, 3_000].into_iter().enumerate() {
        let (charge, _) = shop
            .refund_part(&id, Some(part), MERCHANT)
            .await
            .expect("partial refund");
        assert_eq!(charge.status, ChargeStatus::PartiallyRefunded);
        assert_eq!(charge.refunds.len(), i + 1);
    }
    let before = shop.snapshot().await;
    match shop.refund_part(&id, Some(4_001), None).await {
        Err(DomainError::RefundExceedsRemaining { remaining }) => {
            assert_eq!(remaining, cents(4_000))
        }
        other => panic!("expected RefundExceedsRemaining, got {other:?}"),
    }
    assert_eq!(shop.snapshot().await, before);
    let (charge, _) = shop
        .refund_part(&id, Some(4_000), None)
        .await
        .expect("the rest");
    assert_eq!(charge.status, ChargeStatus::Refunded);
    let devolucoes = shop.gw.sandbox.refunds();
    let mut amounts: Vec<i64> = devolucoes.iter().map(|r| r.amount.cents()).collect();
    amounts.sort_unstable();
    assert_eq!(amounts, vec![1_000, 2_000, 3_000, 4_000]);
    let mut ids: Vec<String> = charge
        .refunds
        .iter()
        .map(|r| r.end_to_end_id.as_ref().unwrap().to_string())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 4, "four distinct D… ids");
    assert_eq!(buckets(&shop).await, (0, 0, 0));
    assert_eq!(shop.events(EventType::CashinRefunded).await.len(), 4);
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

/// Eight partial refunds of 30.00 of a 100.00 charge at once: at most three are accepted
/// (Σ ≤ amount, always); the others are refused or told to retry, and the books balance.
async fn concurrent_partial_refunds_never_exceed_the_amount(backend: Backend) {
    let shop = Shop::open(backend).await;
    shop.paid(&plain_charge("FUND", 100_000)).await;
    let id = shop.paid(&marketplace("PART-RACE")).await;
    let results = join_all((0..8).map(|i| {
        let liability = if i % 2 == 0 { PROPORTIONAL } else { MERCHANT };
        shop.refund_part(&id, Some(6_000), liability)
    }))
    .await;
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    assert!((1..=3).contains(&accepted), "{results:?}");
    for r in &results {
        match r {
            Ok(_)
            | Err(DomainError::RefundExceedsRemaining { .. } | DomainError::ConcurrentUpdate) => {}
            Err(e) => panic!("unexpected refusal: {e:?}"),
        }
    }
    shop.drain().await;
    let charge = shop.charge(&id).await;
    assert_eq!(charge.refunds.len(), accepted);
    assert!(charge.committed_refunds().cents() <= 20_000);
    assert_eq!(shop.gw.sandbox.refunds().len(), accepted);
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

/// A proportional refund racing the payout scheduler, in both orders and at once: a split
/// in a payout becomes its recipient's debt, a split not yet attached pays less; never both.
async fn proportional_refund_racing_the_payout_scheduler(backend: Backend) {
    let shop = Shop::open(backend).await;
    shop.paid(&plain_charge("FUND", 100_000)).await;

    // Refund first: the payouts transfer the reduced amounts.
    let a = shop.paid(&marketplace("PART-RACE-A")).await;
    shop.refund_part(&a, Some(5_000), PROPORTIONAL)
        .await
        .expect("refund A");
    let report = shop.run_scheduler().await;
    assert_eq!(report.splits, 3, "{report:?}");
    shop.drain().await;
    let mut transferred: Vec<i64> = shop
        .gw
        .sandbox
        .transfers()
        .iter()
        .map(|t| t.amount.cents())
        .collect();
    transferred.sort_unstable();
    assert_eq!(transferred, vec![750, 3_000, 10_500]);
    assert_eq!(
        buckets(&shop).await.2,
        0,
        "no debt: nothing was paid before"
    );

    // Scheduler first: the splits are in payouts, so their parts are debts the account fronts.
    let b = shop.paid(&marketplace("PART-RACE-B")).await;
    let report = shop.run_scheduler().await;
    assert_eq!(report.splits, 3, "{report:?}");
    let (available, _, _) = buckets(&shop).await;
    let (charge, refund_id) = shop
        .refund_part(&b, Some(5_000), PROPORTIONAL)
        .await
        .expect("refund B");
    let kinds: Vec<SplitPartKind> = charge
        .refund(&refund_id)
        .unwrap()
        .split_parts
        .iter()
        .map(|p| p.kind)
        .collect();
    assert_eq!(kinds, vec![SplitPartKind::Debt; 3]);
    assert_eq!(buckets(&shop).await.0, available - 5_000);
    assert_eq!(buckets(&shop).await.2, 4_750);
    shop.drain().await;
    assert_eq!(
        payable(&shop, &b).await,
        vec![14_000, 4_000, 1_000],
        "paid in full"
    );
    shop.assert_books().await;

    // At once: whichever wins each split, the books balance.
    let c = shop.paid(&marketplace("PART-RACE-C")).await;
    shop.advance(chrono::Duration::minutes(1));
    let (refund, report) = futures::join!(
        shop.refund_part(&c, Some(5_000), PROPORTIONAL),
        shop.gw
            .state
            .payout_scheduler
            .run_account_now(&shop.account)
    );
    refund.expect("refund C");
    report.expect("scheduler");
    shop.drain().await;
    // A split the refund reduced while the run had it read waits for the next window.
    let late: Vec<SplitState> = shop.splits(&c).await.iter().map(|s| s.state).collect();
    assert!(
        late.iter()
            .all(|s| matches!(s, SplitState::Paid | SplitState::Scheduled)),
        "{late:?}"
    );
    shop.advance(chrono::Duration::days(1));
    shop.run_scheduler().await;
    shop.drain().await;
    assert_eq!(
        shop.splits(&c)
            .await
            .iter()
            .map(|s| s.state)
            .collect::<Vec<_>>(),
        vec![SplitState::Paid; 3]
    );
    assert_eq!(shop.balance().await.reserved_for_splits, Money::ZERO);
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

/// The provider refuses a PROPORTIONAL partial refund: every party gets back what it bore —
/// the reduced splits pay their full shares again, their reserve is back — and `available`
/// is as before; asked again and accepted, the refund divides anew.
async fn a_refused_refund_gives_each_party_its_part_back(backend: Backend) {
    let mut shop = Shop::open(backend).await;
    let id = shop.paid(&marketplace("PART-REFUSED")).await;
    let before = buckets(&shop).await;
    assert_eq!(before, (1_000, 19_000, 0));
    let provider = shop.gw.state.provider.clone();
    let normal = shop.swap_provider(Altered::refusing_refunds(provider));

    let (charge, refund_id) = shop
        .refund_part(&id, Some(5_000), PROPORTIONAL)
        .await
        .expect("refund request");
    assert_eq!(
        charge.refund(&refund_id).unwrap().state,
        RefundState::Failed
    );
    assert_eq!(charge.status, ChargeStatus::Confirmed, "{charge:?}");
    assert_eq!(charge.refunded_amount(), Money::ZERO);
    assert_eq!(payable(&shop, &id).await, vec![14_000, 4_000, 1_000]);
    assert!(
        shop.splits(&id)
            .await
            .iter()
            .all(|s| s.state == SplitState::Scheduled)
    );
    assert_eq!(buckets(&shop).await, before);
    let view = shop.charge_view(&id).await;
    assert_eq!(view["status"], "CONFIRMED", "{view}");
    assert_eq!(view["refundedAmount"], 0.0, "{view}");
    assert_eq!(view["refunds"][0]["status"], "FAILED", "{view}");
    for i in 0..3 {
        assert_eq!(view["splits"][i]["refundedAmount"], 0.0, "{view}");
    }
    shop.assert_books().await;

    shop.gw.state = normal;
    let (charge, _) = shop
        .refund_part(&id, Some(5_000), PROPORTIONAL)
        .await
        .expect("asked again");
    let view = shop.charge_view(&id).await;
    let split_refunded: Vec<f64> = (0..3)
        .map(|i| view["splits"][i]["refundedAmount"].as_f64().unwrap())
        .collect();
    assert_eq!(split_refunded, vec![35.0, 10.0, 2.5], "{view}");
    assert_eq!(charge.status, ChargeStatus::PartiallyRefunded);
    assert_eq!(payable(&shop, &id).await, vec![10_500, 3_000, 750]);
    assert_eq!(buckets(&shop).await, (750, 14_250, 0));
    shop.drain().await;
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

/// A refused refund that had made a paid split's recipient owe its part forgives that debt:
/// the account fronted nothing in the end, and the recipient's next split is paid in full.
async fn a_refused_refund_forgives_the_debt_it_created(backend: Backend) {
    let mut shop = Shop::open(backend).await;
    shop.paid(&plain_charge("FUND", 50_000)).await;
    let id = shop.paid(&immediate_split("PART-FORGIVEN")).await;
    shop.drain().await;
    let before = buckets(&shop).await;
    assert_eq!(before, (57_000, 0, 0));
    let provider = shop.gw.state.provider.clone();
    let normal = shop.swap_provider(Altered::refusing_refunds(provider));

    let (charge, refund_id) = shop
        .refund_part(&id, Some(10_000), PROPORTIONAL)
        .await
        .expect("refund request");
    let refund = charge.refund(&refund_id).unwrap();
    assert_eq!(refund.state, RefundState::Failed);
    assert_eq!(refund.split_parts[0].kind, SplitPartKind::Debt);
    assert_eq!(debt_of(&shop, &id, 0).await, 0);
    assert_eq!(buckets(&shop).await, before);
    shop.assert_books().await;

    shop.gw.state = normal;
    let next = shop.paid(&immediate_split("PART-FORGIVEN-2")).await;
    shop.drain().await;
    let payout_id = shop.splits(&next).await[0].payout_id.clone().unwrap();
    let payout = shop
        .gw
        .state
        .store
        .get_payout(&payout_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(payout.net_amount(), cents(28_000), "{payout:?}");
    assert_eq!(payout.deducted(), Money::ZERO, "{payout:?}");
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

/// A devolução refused after its reduced splits were paid: they were paid their reduced
/// amounts, so what they bore stays with the account (in `available`) — the documented limit
/// — and the books still balance to the cent.
async fn a_refusal_after_the_splits_were_paid_leaves_their_parts_with_the_account(
    backend: Backend,
) {
    let mut shop = Shop::open(backend).await;
    let id = shop.paid(&marketplace("PART-LATE-REFUSAL")).await;
    let provider = shop.gw.state.provider.clone();
    shop.swap_provider(Arc::new(Altered {
        refunds: Answer::Hold,
        ..Altered::new(provider)
    }));
    let (charge, refund_id) = shop
        .refund_part(&id, Some(5_000), PROPORTIONAL)
        .await
        .expect("refund request");
    assert_eq!(
        charge.refund(&refund_id).unwrap().state,
        RefundState::Processing
    );
    shop.run_scheduler().await;
    shop.drain().await;
    assert_eq!(payable(&shop, &id).await, vec![10_500, 3_000, 750]);
    assert_eq!(buckets(&shop).await, (750, 0, 0));

    let key = refund_idempotency_key(&id, &refund_id);
    let charge = shop
        .gw
        .state
        .refunds
        .settle_reported(
            shop.gw.state.provider.name(),
            &RefundReference::IdempotencyKey(key.clone()),
            RefundOutcome::Failed {
                reason: "refused by the payer's bank".into(),
            },
        )
        .await
        .expect("the refusal");
    assert_eq!(
        charge.refund(&refund_id).unwrap().state,
        RefundState::Failed
    );
    assert!(
        shop.splits(&id)
            .await
            .iter()
            .all(|s| s.state == SplitState::Paid)
    );
    assert_eq!(buckets(&shop).await, (5_750, 0, 0));
    // Reported twice: nothing more.
    shop.gw
        .state
        .refunds
        .settle_reported(
            shop.gw.state.provider.name(),
            &RefundReference::IdempotencyKey(key),
            RefundOutcome::Failed {
                reason: "refused by the payer's bank".into(),
            },
        )
        .await
        .expect("reported again");
    assert_eq!(buckets(&shop).await, (5_750, 0, 0));
    shop.assert_books().await;
}

/// A split still in its payout bears its part of a refund as a debt; the payout then fails
/// for good: the recipient never received the split, so the debt is written off (once, even
/// when the failure is reported twice) and the account has the split's money back.
async fn a_split_failing_for_good_writes_off_its_debt(backend: Backend) {
    let mut shop = Shop::open(backend).await;
    shop.paid(&plain_charge("FUND", 50_000)).await;
    let provider = shop.gw.state.provider.clone();
    let normal = shop.swap_provider(Arc::new(Altered {
        transfers: Answer::Hold,
        ..Altered::new(provider)
    }));
    let id = shop.paid(&immediate_split("PART-WRITE-OFF")).await;
    shop.drain().await;
    let entry = shop.splits(&id).await[0].clone();
    assert_eq!(entry.state, SplitState::Processing);
    let payout_id = entry.payout_id.clone().unwrap();

    let (charge, refund_id) = shop
        .refund_part(&id, Some(10_000), PROPORTIONAL)
        .await
        .expect("refund");
    assert_eq!(
        charge.refund(&refund_id).unwrap().split_parts[0].kind,
        SplitPartKind::Debt
    );
    assert_eq!(buckets(&shop).await, (47_000, 28_000, 8_000));

    let failed = TransferOutcome::Failed {
        provider_transfer_id: None,
        reason: "the recipient's account is closed".into(),
    };
    for _ in 0..2 {
        shop.gw
            .state
            .money_out
            .settle_transfer(
                shop.gw.state.provider.name(),
                payout_id.as_str(),
                failed.clone(),
            )
            .await
            .expect("the failure");
        assert_eq!(shop.splits(&id).await[0].state, SplitState::Failed);
        assert_eq!(debt_of(&shop, &id, 0).await, 0);
        assert_eq!(buckets(&shop).await, (75_000, 0, 0));
    }
    assert!(
        shop.movement(MovementKind::DebtsWrittenOff, payout_id.as_str())
            .await
            .is_some()
    );
    shop.gw.state = normal;
    shop.drain().await;
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

/// The same through the schedule: the split's payout fails three windows in a row (a key the
/// sandbox DICT rejects); the debt it bore while in the first payout is netted from each retry,
/// put back when it fails, and written off when the split fails for good.
async fn a_scheduled_split_failing_for_good_writes_off_its_debt(backend: Backend) {
    let shop = Shop::open(backend).await;
    shop.paid(&plain_charge("FUND", 50_000)).await;
    let to_nowhere = SplitSpec {
        fixed: true,
        value: 14_000,
        immediate: false,
        pix_key: "reject-seller@example.com".into(),
    };
    let id = shop
        .paid(&charge_body(
            "PART-WRITE-OFF-SCHED",
            20_000,
            &[to_nowhere],
            3_600,
        ))
        .await;
    shop.drain().await;
    let report = shop.run_scheduler().await;
    assert_eq!(report.splits, 1, "{report:?}");
    // In its payout, not transferred yet: the refund makes its part a debt.
    let (charge, refund_id) = shop
        .refund_part(&id, Some(10_000), PROPORTIONAL)
        .await
        .expect("refund");
    assert_eq!(
        charge.refund(&refund_id).unwrap().split_parts[0].kind,
        SplitPartKind::Debt
    );
    assert_eq!(debt_of(&shop, &id, 0).await, 7_000);
    shop.drain().await;
    for _ in 0..2 {
        assert_eq!(shop.splits(&id).await[0].state, SplitState::Scheduled);
        assert_eq!(
            debt_of(&shop, &id, 0).await,
            7_000,
            "put back after the failure"
        );
        shop.advance(chrono::Duration::days(1));
        shop.run_scheduler().await;
        shop.drain().await;
    }
    assert_eq!(shop.splits(&id).await[0].state, SplitState::Failed);
    assert_eq!(debt_of(&shop, &id, 0).await, 0, "written off");
    assert_eq!(buckets(&shop).await.1, 0);
    assert_eq!(buckets(&shop).await.2, 0);
    shop.assert_books().await;
    shop.assert_network_agrees().await;
}

/// A provider that refunds in full only: a partial refund is refused with nothing changed; a
/// full one goes through.
async fn a_provider_without_partial_refunds_refuses_them(backend: Backend) {
    let mut shop = Shop::open(backend).await;
    let id = shop.paid(&marketplace("PART-CONNECT")).await;
    let provider = shop.gw.state.provider.clone();
    shop.swap_provider(Arc::new(Altered {
        full_refunds_only: true,
        ..Altered::new(provider)
    }));
    let before = shop.snapshot().await;
    match shop.refund_part(&id, Some(5_000), PROPORTIONAL).await {
        Err(DomainError::ProviderOperationUnsupported { operation, .. }) => {
            assert_eq!(operation, "partial refunds")
        }
        other => panic!("expected ProviderOperationUnsupported, got {other:?}"),
    }
    assert_eq!(shop.snapshot().await, before);
    assert_eq!(shop.gw.sandbox.refund_calls(), 0);
    let charge = shop.refund(&id).await.expect("a full refund");
    assert_eq!(charge.status, ChargeStatus::Refunded);
    shop.drain().await;
    shop.assert_books().await;
}

on_both_backends!(
    marketplace_refund_borne_proportionally_then_the_rest,
    a_paid_split_bears_its_part_as_a_debt,
    a_debt_is_recovered_across_two_payout_windows,
    a_retried_payout_recovers_the_debt_once,
    several_partial_refunds_up_to_the_amount,
    concurrent_partial_refunds_never_exceed_the_amount,
    proportional_refund_racing_the_payout_scheduler,
    a_provider_without_partial_refunds_refuses_them,
    a_refused_refund_gives_each_party_its_part_back,
    a_refused_refund_forgives_the_debt_it_created,
    a_refusal_after_the_splits_were_paid_leaves_their_parts_with_the_account,
    a_split_failing_for_good_writes_off_its_debt,
    a_scheduled_split_failing_for_good_writes_off_its_debt,
);
