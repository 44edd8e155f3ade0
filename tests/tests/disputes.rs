//! MED disputes end to end on both backends (issue "MED disputes and cautelar holds"): opened
//! by the sandbox's payer bank through the API, defended by the merchant, decided either way,
//! with splits scheduled, paid and in a payout; larger than `available` (owed, paid by the next
//! credit); refused when nothing is left; duplicate and reordered provider notices. Every
//! scenario ends by checking the books ([`Shop::assert_books`]), which check every dispute's
//! movements against its parts, `held` against the open disputes and `owed` against what they
//! still owe.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Duration;
use pixgw_domain::charge::ChargeStatus;
use pixgw_domain::dispute::{DisputeOutcome, DisputeReason, DisputeState};
use pixgw_domain::ledger::MovementKind;
use pixgw_domain::messaging::events::EventType;
use pixgw_domain::pix::ids::{DisputeId, RecipientId, TransactionId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::refund::RefundLiability;
use pixgw_domain::refund::liability::SplitPartKind;
use pixgw_domain::split::entry::SplitState;
use pixgw_providers::sandbox::{SANDBOX_PROVIDER, SandboxInfraction};
use pixgw_tests::bodies::{immediate_split, marketplace};
use pixgw_tests::harness::Backend;
use pixgw_tests::money_lifecycle::{Shop, plain_charge, to_pix_key};
use pixgw_tests::on_both_backends;

fn cents(c: i64) -> Money {
    Money::from_cents(c)
}

/// (available, reservedForSplits, held, owed as shown: ≥ 0).
async fn buckets(shop: &Shop) -> (i64, i64, i64, i64) {
    let b = shop.balance().await;
    (
        b.available.cents(),
        b.reserved_for_splits.cents(),
        b.held.cents(),
        -b.owed.cents(),
    )
}

async fn payable(shop: &Shop, id: &TransactionId) -> Vec<i64> {
    shop.splits(id)
        .await
        .iter()
        .map(|s| s.payable().cents())
        .collect()
}

async fn proportional(shop: &Shop) {
    shop.gw
        .state
        .store
        .set_refund_liability(&shop.account, RefundLiability::Proportional)
        .await
        .expect("policy");
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

/// The walkthrough, lost: R$ 200 marketplace (70 % / 20 % / R$ 10, SCHEDULED) under
/// PROPORTIONAL; a R$ 50 FRAUD infraction holds 47.50 of the splits' reserve and 2.50 of
/// `available`; defended, then lost: a MED_FRAUDE devolução of 50.00 leaves `held`, the splits
/// stay reduced (105 / 30 / 7.50), the charge is PARTIALLY_REFUNDED.
async fn a_lost_dispute_returns_the_held_money_with_scheduled_splits_reduced(backend: Backend) {
    let shop = Shop::open(backend).await;
    proportional(&shop).await;
    let id = shop.paid(&marketplace("MED-LOST")).await;
    assert_eq!(buckets(&shop).await, (1_000, 19_000, 0, 0));

    let dispute = shop.disputed(&id, Some(5_000)).await;
    assert_eq!(dispute.state, DisputeState::Open);
    assert_eq!(dispute.reason, DisputeReason::Fraud);
    let parts: Vec<(u8, i64, SplitPartKind)> = dispute
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
    assert_eq!(buckets(&shop).await, (750, 14_250, 5_000, 0));
    assert_eq!(payable(&shop, &id).await, vec![10_500, 3_000, 750]);
    let opened = shop.events(EventType::DisputeOpened).await;
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].data["status"], "OPEN");
    assert_eq!(opened[0].data["amount"], 50.0);

    let defended = shop
        .defend(&dispute.id, "Produto entregue, recibo assinado")
        .await;
    assert_eq!(defended.status, 200, "{:?}", defended.body_json());
    assert_eq!(defended.body_json()["status"], "DEFENDED");

    let decided = shop.decide(&dispute.id, "LOST").await;
    assert_eq!(decided.status, 200, "{:?}", decided.body_json());
    let view = decided.body_json();
    assert_eq!(view["status"], "LOST", "{view}");
    assert_eq!(view["devolution"]["nature"], "MED_FRAUDE", "{view}");
    assert_eq!(view["devolution"]["returnCode"], "FR01", "{view}");
    assert!(
        view["devolution"]["endToEndId"]
            .as_str()
            .is_some_and(|e| e.starts_with('D')),
        "{view}"
    );
    assert_eq!(view["defence"]["text"], "Produto entregue, recibo assinado");
    assert_eq!(buckets(&shop).await, (750, 14_250, 0, 0));
    assert_eq!(payable(&shop, &id).await, vec![10_500, 3_000, 750]);
    assert_eq!(
        shop.charge(&id).await.status,
        ChargeStatus::PartiallyRefunded
    );
    let lost = shop.events(EventType::DisputeLost).await;
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].data["devolution"]["nature"], "MED_FRAUDE");
    // Decided once: a second decision is refused and changes nothing.
    let before = shop.snapshot().await;
    let again = shop.decide(&dispute.id, "WON").await;
    assert_eq!(again.status, 409, "{:?}", again.body_json());
    assert_eq!(again.body_json()["code"], "DISPUTE_DECIDED");
    assert_eq!(shop.snapshot().await, before);
    shop.drain().await;
    shop.assert_books().await;
}

/// Won: everything held goes back where it came from — the splits' reserve (they pay their
/// full share again) and `available`; `DISPUTE_WON`.
async fn a_won_dispute_gives_everything_back(backend: Backend) {
    let shop = Shop::open(backend).await;
    proportional(&shop).await;
    let id = shop.paid(&marketplace("MED-WON")).await;
    let dispute = shop.disputed(&id, Some(5_000)).await;
    assert_eq!(buckets(&shop).await, (750, 14_250, 5_000, 0));
    let decided = shop.decide(&dispute.id, "WON").await;
    assert_eq!(decided.status, 200, "{:?}", decided.body_json());
    assert_eq!(decided.body_json()["status"], "WON");
    assert!(decided.body_json().get("devolution").is_none());
    assert_eq!(buckets(&shop).await, (1_000, 19_000, 0, 0));
    assert_eq!(payable(&shop, &id).await, vec![14_000, 4_000, 1_000]);
    assert_eq!(shop.charge(&id).await.status, ChargeStatus::Confirmed);
    // A won dispute took nothing from the splits.
    let view = shop.charge_view(&id).await;
    assert_eq!(view["splits"][0]["refundedAmount"], 0.0, "{view}");
    assert_eq!(view["disputes"][0]["status"], "WON", "{view}");
    assert_eq!(shop.events(EventType::DisputeWon).await.len(), 1);
    // The whole amount may be refunded or disputed again.
    assert_eq!(shop.charge(&id).await.refundable().cents(), 20_000);
    shop.drain().await;
    shop.assert_books().await;
}

/// A paid (immediate) split's part comes from `available` while the dispute is open; lost,
/// it becomes the recipient's debt, recovered from its next payouts; won, it is `available`
/// again and nobody owes anything.
async fn a_paid_split_s_part_is_a_debt_only_when_lost(backend: Backend) {
    for outcome in ["LOST", "WON"] {
        let shop = Shop::open(backend).await;
        proportional(&shop).await;
        // R$ 350, 80 % (280.00) paid at once; the account keeps 70.00.
        let id = shop
            .paid(&immediate_split(&format!("MED-PAID-{outcome}")))
            .await;
        assert_eq!(shop.splits(&id).await[0].state, SplitState::Paid);
        assert_eq!(buckets(&shop).await, (7_000, 0, 0, 0));
        // R$ 35 disputed: the split's part 28.00 (a debt if lost), the account's 7.00.
        let dispute = shop.disputed(&id, Some(3_500)).await;
        assert_eq!(
            dispute
                .split_parts
                .iter()
                .map(|p| (p.amount.cents(), p.kind))
                .collect::<Vec<_>>(),
            vec![(2_800, SplitPartKind::Debt)]
        );
        assert_eq!(buckets(&shop).await, (3_500, 0, 3_500, 0));
        assert_eq!(debt_of(&shop, &id, 0).await, 0, "no debt while open");
        let decided = shop.decide(&dispute.id, outcome).await;
        assert_eq!(decided.status, 200, "{:?}", decided.body_json());
        if outcome == "LOST" {
            assert_eq!(buckets(&shop).await, (3_500, 0, 0, 0));
            assert_eq!(debt_of(&shop, &id, 0).await, 2_800);
            assert_eq!(shop.balance().await.recipient_debts.cents(), 2_800);
        } else {
            assert_eq!(buckets(&shop).await, (7_000, 0, 0, 0));
            assert_eq!(debt_of(&shop, &id, 0).await, 0);
        }
        shop.drain().await;
        shop.assert_books().await;
    }
}

/// A scheduled split in a payout run when the dispute opens bears its part as a debt (it is
/// being paid); one whose payout run comes after the opening is paid reduced. Both orders,
/// lost.
async fn a_dispute_and_a_payout_run_in_both_orders(backend: Backend) {
    // Payout run first: the splits are in their payouts (being paid) when the infraction
    // arrives, so their parts are debts-to-be; the payouts then complete, and the loss
    // makes the debts.
    let shop = Shop::open(backend).await;
    proportional(&shop).await;
    let id = shop.paid(&marketplace("MED-RUN-FIRST")).await;
    shop.advance(Duration::days(1));
    assert!(shop.run_scheduler().await.payouts > 0);
    assert!(
        shop.splits(&id).await.iter().all(|s| s.payout_id.is_some()),
        "the run attached every split"
    );
    let dispute = shop.disputed(&id, Some(5_000)).await;
    assert!(
        dispute
            .split_parts
            .iter()
            .all(|p| p.kind == SplitPartKind::Debt),
        "{dispute:?}"
    );
    // The account's part and the splits' parts (fronted) all from `available`, which holds
    // only 10.00: 40.00 is owed.
    assert_eq!(dispute.hold.owed, 4_000, "{dispute:?}");
    shop.drain().await;
    assert!(
        shop.splits(&id)
            .await
            .iter()
            .all(|s| s.state == SplitState::Paid)
    );
    assert_eq!(shop.decide(&dispute.id, "LOST").await.status, 200);
    assert_eq!(debt_of(&shop, &id, 0).await, 3_500);
    shop.drain().await;
    shop.assert_books().await;

    // Dispute first: the payout run pays the reduced splits.
    let shop = Shop::open(backend).await;
    proportional(&shop).await;
    let id = shop.paid(&marketplace("MED-DISPUTE-FIRST")).await;
    let dispute = shop.disputed(&id, Some(5_000)).await;
    shop.advance(Duration::days(1));
    shop.run_scheduler().await;
    shop.drain().await;
    let paid: Vec<(SplitState, i64)> = shop
        .splits(&id)
        .await
        .iter()
        .map(|s| (s.state, s.payable().cents()))
        .collect();
    assert_eq!(
        paid,
        vec![
            (SplitState::Paid, 10_500),
            (SplitState::Paid, 3_000),
            (SplitState::Paid, 750)
        ]
    );
    assert_eq!(shop.decide(&dispute.id, "LOST").await.status, 200);
    assert_eq!(buckets(&shop).await, (750, 0, 0, 0));
    shop.drain().await;
    shop.assert_books().await;
}

/// A dispute larger than `available` (MERCHANT: `available` pays it all): what it cannot
/// cover is `owed`, never a negative `available`; the next charge's credit pays `owed` first;
/// won, what is still owed is cleared and `available` gets back what it paid.
async fn a_dispute_larger_than_available_is_owed_and_paid_by_the_next_credit(backend: Backend) {
    let shop = Shop::open(backend).await;
    let id = shop.paid(&plain_charge("MED-OWED", 10_000)).await;
    let out = shop
        .cash_out("MED-OUT", cents(8_000), to_pix_key("conta@loja.com"))
        .await;
    assert!(out.is_ok(), "{out:?}");
    shop.drain().await;
    assert_eq!(buckets(&shop).await, (2_000, 0, 0, 0));

    let dispute = shop.disputed(&id, None).await;
    assert_eq!(dispute.amount.cents(), 10_000);
    assert_eq!(
        (dispute.hold.from_available, dispute.hold.owed),
        (2_000, 8_000)
    );
    assert_eq!(buckets(&shop).await, (0, 0, 10_000, 8_000));
    assert_eq!(shop.dispute_view(&dispute.id).await["owed"], 80.0);

    // The next credit (R$ 30) pays owed first: available stays 0.
    shop.paid(&plain_charge("MED-OWED-2", 3_000)).await;
    assert_eq!(buckets(&shop).await, (0, 0, 10_000, 5_000));
    assert_eq!(shop.dispute(&dispute.id).await.still_owed, 5_000);
    // Cash-out cannot spend what is owed.
    let refused = shop
        .cash_out("MED-OUT-2", cents(1), to_pix_key("conta@loja.com"))
        .await;
    assert!(refused.is_err(), "{refused:?}");

    // Won: held back, what is still owed cleared, available gets what it and the credit paid.
    assert_eq!(shop.decide(&dispute.id, "WON").await.status, 200);
    assert_eq!(buckets(&shop).await, (5_000, 0, 0, 0));
    assert_eq!(shop.dispute(&dispute.id).await.still_owed, 0);
    shop.drain().await;
    shop.assert_books().await;

    // Lost instead: the rest stays owed, paid by the following credits.
    let shop = Shop::open(backend).await;
    let id = shop.paid(&plain_charge("MED-OWED-L", 10_000)).await;
    assert!(
        shop.cash_out("MED-OUT-L", cents(8_000), to_pix_key("conta@loja.com"))
            .await
            .is_ok()
    );
    shop.drain().await;
    let dispute = shop.disputed(&id, None).await;
    assert_eq!(shop.decide(&dispute.id, "LOST").await.status, 200);
    assert_eq!(buckets(&shop).await, (0, 0, 0, 8_000));
    shop.paid(&plain_charge("MED-OWED-L2", 10_000)).await;
    assert_eq!(buckets(&shop).await, (2_000, 0, 0, 0));
    assert_eq!(shop.dispute(&dispute.id).await.still_owed, 0);
    shop.drain().await;
    shop.assert_books().await;
}

/// A defence is accepted up to `respondBy` and refused after (409 DISPUTE_DEADLINE_PASSED,
/// nothing changed); bad bodies are 400 with every error; a decided dispute takes none.
async fn a_defence_after_the_deadline_is_refused(backend: Backend) {
    let shop = Shop::open(backend).await;
    let id = shop.paid(&plain_charge("MED-LATE", 10_000)).await;
    let dispute = shop.disputed(&id, Some(1_000)).await;
    assert_eq!(dispute.respond_by, dispute.opened_at + Duration::days(7));
    let empty = shop.defend(&dispute.id, "   ").await;
    assert_eq!(empty.status, 400, "{:?}", empty.body_json());
    assert_eq!(empty.body_json()["code"], "PUB_VALIDATION_ERROR");
    shop.set_clock(dispute.respond_by);
    let in_time = shop.defend(&dispute.id, "Entregue").await;
    assert_eq!(in_time.status, 200, "{:?}", in_time.body_json());
    shop.advance(Duration::milliseconds(1));
    let before = shop.snapshot().await;
    let late = shop.defend(&dispute.id, "Tarde demais").await;
    assert_eq!(late.status, 409, "{:?}", late.body_json());
    assert_eq!(late.body_json()["code"], "DISPUTE_DEADLINE_PASSED");
    assert_eq!(shop.snapshot().await, before);
    assert_eq!(
        shop.dispute(&dispute.id).await.defence.map(|d| d.text),
        Some("Entregue".to_owned())
    );
    // Decided without regard to the deadline; then no defence at all.
    assert_eq!(shop.decide(&dispute.id, "WON").await.status, 200);
    let decided = shop.defend(&dispute.id, "Depois").await;
    assert_eq!(decided.status, 409);
    assert_eq!(decided.body_json()["code"], "DISPUTE_DECIDED");
    let unknown = shop
        .defend(&DisputeId::derive("sandbox", "nao-existe"), "x")
        .await;
    assert_eq!(unknown.status, 404);
    shop.assert_books().await;
}

/// A provider that repeats or reorders its notices changes nothing twice: a decision before
/// its opening is refused (404, nothing stored) and applies once redelivered after it; the
/// opening and the decision delivered twice answer DUPLICATE.
async fn duplicate_and_reordered_notices_change_nothing_twice(backend: Backend) {
    let shop = Shop::open(backend).await;
    proportional(&shop).await;
    let id = shop.paid(&marketplace("MED-ORDER")).await;
    let notice = shop.gw.sandbox.open_infraction(&SandboxInfraction {
        transaction_id: id.clone(),
        reason: DisputeReason::OperationalFlaw,
        amount: None,
        respond_by: None,
    });
    let decision =
        shop.gw
            .sandbox
            .decide_infraction(&notice.infraction_id, &id, DisputeOutcome::Lost);
    let before = shop.snapshot().await;
    let early = shop.deliver(&decision).await;
    assert_eq!(early.status, 404, "{:?}", early.body_json());
    assert_eq!(shop.snapshot().await, before);

    let opened = shop.deliver(&notice.webhook).await;
    assert_eq!(opened.status, 200, "{:?}", opened.body_json());
    assert_eq!(opened.body_json()["outcome"], "DISPUTE_CHANGED");
    let after_open = shop.snapshot().await;
    let again = shop.deliver(&notice.webhook).await;
    assert_eq!(again.body_json()["outcome"], "DUPLICATE");
    assert_eq!(shop.snapshot().await, after_open);

    let decided = shop.deliver(&decision).await;
    assert_eq!(decided.body_json()["outcome"], "DISPUTE_CHANGED");
    let after_decision = shop.snapshot().await;
    for webhook in [&decision, &notice.webhook] {
        let again = shop.deliver(webhook).await;
        assert_eq!(again.status, 200);
        assert_eq!(again.body_json()["outcome"], "DUPLICATE");
    }
    assert_eq!(shop.snapshot().await, after_decision);
    let dispute_id = DisputeId::derive(SANDBOX_PROVIDER, &notice.infraction_id);
    let dispute = shop.dispute(&dispute_id).await;
    assert_eq!(dispute.state, DisputeState::Lost);
    assert_eq!(
        shop.dispute_view(&dispute_id).await["devolution"]["nature"],
        "MED_OPERACIONAL"
    );
    // The whole charge was disputed and lost: REFUNDED, every split cancelled.
    let charge = shop.charge(&id).await;
    assert_eq!(charge.status, ChargeStatus::Refunded);
    assert!(
        shop.splits(&id)
            .await
            .iter()
            .all(|s| s.state == SplitState::Cancelled)
    );
    assert_eq!(shop.events(EventType::DisputeOpened).await.len(), 1);
    assert_eq!(shop.events(EventType::DisputeLost).await.len(), 1);
    assert!(
        shop.movement(MovementKind::DisputeLost, dispute_id.as_str())
            .await
            .is_some()
    );
    shop.assert_books().await;
}

/// An infraction on a charge whose refunds and disputes already cover its amount is refused
/// with 409 DISPUTE_EXCEEDS_REMAINING and changes nothing; so is one larger than what is left.
async fn an_infraction_beyond_what_is_left_is_refused(backend: Backend) {
    let shop = Shop::open(backend).await;
    let id = shop.paid(&plain_charge("MED-FULL", 10_000)).await;
    shop.refund_part(&id, Some(6_000), None)
        .await
        .expect("refund");
    shop.drain().await;
    let first = shop.disputed(&id, Some(3_000)).await;
    let before = shop.snapshot().await;
    let too_much = shop.infraction(&id, "FRAUD", Some(1_001)).await;
    assert_eq!(too_much.status, 409, "{:?}", too_much.body_json());
    assert_eq!(too_much.body_json()["code"], "DISPUTE_EXCEEDS_REMAINING");
    assert_eq!(too_much.body_json()["details"]["remaining"], 10.0);
    shop.disputed(&id, None).await;
    let nothing_left = shop.infraction(&id, "FRAUD", None).await;
    assert_eq!(nothing_left.status, 409);
    assert_eq!(shop.dispute(&first.id).await.state, DisputeState::Open);
    let _ = before;
    // Refunds cannot take held money either.
    assert!(shop.refund_part(&id, Some(1), None).await.is_err());
    let unpaid = shop.create(&plain_charge("MED-UNPAID", 1_000)).await;
    let refused = shop.infraction(&unpaid, "FRAUD", None).await;
    assert_eq!(refused.status, 409, "{:?}", refused.body_json());
    let bad = shop.infraction(&id, "GOLPE", Some(0)).await;
    assert_eq!(bad.status, 400, "{:?}", bad.body_json());
    assert_eq!(
        bad.body_json()["details"]["errors"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    shop.assert_books().await;
}

/// `GET /api/disputes` pages newest first by status, one at a time (every page boundary),
/// and never shows another account's disputes.
async fn disputes_are_listed_by_status_across_pages(backend: Backend) {
    let shop = Shop::open(backend).await;
    let id = shop.paid(&plain_charge("MED-LIST", 10_000)).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(shop.disputed(&id, Some(1_000)).await.id);
        shop.advance(Duration::milliseconds(5));
    }
    assert_eq!(shop.decide(&ids[1], "WON").await.status, 200);
    let token = shop.token().await;
    let walk = |status: Option<&'static str>| {
        let shop = &shop;
        let token = token.clone();
        async move {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut path = "/api/disputes?limit=1".to_owned();
                if let Some(s) = status {
                    path.push_str(&format!("&status={s}"));
                }
                if let Some(c) = &cursor {
                    path.push_str(&format!("&cursor={c}"));
                }
                let page = shop.gw.get(&path, &token).await;
                assert_eq!(page.status, 200, "{:?}", page.body_json());
                let body = page.body_json();
                for item in body["items"].as_array().unwrap() {
                    seen.push(item["disputeId"].as_str().unwrap().to_owned());
                }
                match body["nextCursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break seen,
                }
            }
        }
    };
    let all = walk(None).await;
    let newest_first: Vec<String> = ids.iter().rev().map(ToString::to_string).collect();
    assert_eq!(all, newest_first);
    assert_eq!(
        walk(Some("OPEN")).await,
        vec![ids[2].to_string(), ids[0].to_string()]
    );
    assert_eq!(walk(Some("WON")).await, vec![ids[1].to_string()]);
    assert!(walk(Some("LOST")).await.is_empty());
    let bad = shop
        .gw
        .get("/api/disputes?status=CLOSED&limit=0", &token)
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.body_json()["details"]["errors"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // Another account sees none of them.
    let other = shop.gw.new_account("Outra Loja").await;
    let other_token = shop.gw.token_for(&other).await;
    let theirs = shop.gw.get("/api/disputes", &other_token).await;
    assert_eq!(
        theirs.body_json()["items"].as_array().map(Vec::len),
        Some(0)
    );
    let peek = shop
        .gw
        .get(&format!("/api/disputes/{}", ids[0]), &other_token)
        .await;
    assert_eq!(peek.status, 404);
    shop.assert_books().await;
}

on_both_backends!(
    a_lost_dispute_returns_the_held_money_with_scheduled_splits_reduced,
    a_won_dispute_gives_everything_back,
    a_paid_split_s_part_is_a_debt_only_when_lost,
    a_dispute_and_a_payout_run_in_both_orders,
    a_dispute_larger_than_available_is_owed_and_paid_by_the_next_credit,
    a_defence_after_the_deadline_is_refused,
    duplicate_and_reordered_notices_change_nothing_twice,
    an_infraction_beyond_what_is_left_is_refused,
    disputes_are_listed_by_status_across_pages,
);
