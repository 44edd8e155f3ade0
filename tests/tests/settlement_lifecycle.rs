//! The guarantee of the settlement pipeline: whatever the queues do — deliver every message
//! twice, in reverse order, again after a crash between "wrote" and "acknowledged", or long
//! after the work is done — the final charges, splits, ledger, balances and PIX transfers are
//! exactly those of a clean run. On both adapter sets.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use pixgw_domain::flows::execute_payout::transfer_request;
use pixgw_domain::ledger::{Balance, LedgerAccount};
use pixgw_domain::messaging::queue::{OutgoingMessage, QueueName};
use pixgw_domain::messaging::relay::send_outbox_messages;
use pixgw_domain::payout::PayoutId;
use pixgw_domain::pix::ids::AccountId;
use pixgw_tests::bodies::{immediate_split, marketplace, no_splits, rejected_immediate_split};
use pixgw_tests::harness::{Backend, Gateway};
use pixgw_tests::on_both_backends;
use serde_json::{Value, json};

/// What must come out identical: everything but random ids and timestamps.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    charges: BTreeMap<String, Value>,
    balance: Value,
    /// (kind, legs) of every movement, sorted.
    movements: Vec<String>,
    /// (amount, completed?) of every distinct transfer, sorted.
    transfers: Vec<String>,
}

struct Run {
    gw: Gateway,
    token: String,
    account: AccountId,
    ids: BTreeMap<String, String>,
}

async fn paid_charges(backend: Backend) -> Run {
    let gw = Gateway::start(backend).await;
    let (credentials, token) = gw.merchant("Marketplace Ltda").await;
    let mut ids = BTreeMap::new();
    for body in [
        marketplace("A-MARKETPLACE"),
        immediate_split("B-IMMEDIATE"),
        rejected_immediate_split("C-REJECTED"),
        no_splits("D-NO-SPLITS"),
    ] {
        let external = body["transaction"]["externalId"]
            .as_str()
            .unwrap()
            .to_owned();
        let created = gw.post("/api/pix/cash-in", &token, &body, None).await;
        assert_eq!(created.status, 201, "{:?}", created.body_json());
        let id = created.body_json()["transactionId"]
            .as_str()
            .unwrap()
            .to_owned();
        let paid = gw
            .post(
                &format!("/api/sandbox/cash-in/{id}/pay"),
                &token,
                &json!({}),
                None,
            )
            .await;
        assert_eq!(paid.status, 200, "{:?}", paid.body_json());
        ids.insert(external, id);
    }
    Run {
        gw,
        token,
        account: AccountId::parse(&credentials.account_id).unwrap(),
        ids,
    }
}

async fn outcome(run: &Run) -> Outcome {
    let mut charges = BTreeMap::new();
    for (external, id) in &run.ids {
        let c = run
            .gw
            .get(&format!("/api/pix/cash-in/{id}"), &run.token)
            .await
            .body_json();
        let splits: Vec<Value> = c["splits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                json!({
                    "amount": s["amount"].to_string(), "status": s["status"],
                    "paid": s.get("endToEndId").is_some(), "failure": s.get("failureReason"),
                })
            })
            .collect();
        charges.insert(
            external.clone(),
            json!({"status": c["status"], "paid": c.get("endToEndId").is_some(), "splits": splits}),
        );
    }
    let balance = run
        .gw
        .get("/api/account/balance", &run.token)
        .await
        .body_json();
    let movements = run
        .gw
        .state
        .store
        .list_movements(&run.account)
        .await
        .unwrap();
    // Shards must agree with the movements they summarise.
    assert_eq!(
        run.gw.state.store.get_balance(&run.account).await.unwrap(),
        Balance::from_movements(&run.account, &movements)
    );
    let mut movements: Vec<String> = movements
        .iter()
        .map(|m| {
            let legs: Vec<String> = m
                .legs
                .iter()
                .map(|l| match &l.account {
                    LedgerAccount::PixNetwork => format!("PIX_NETWORK={}", l.amount),
                    LedgerAccount::Merchant(_, bucket) => {
                        format!("{}={}", bucket.as_str(), l.amount)
                    }
                    LedgerAccount::Recipient(_, recipient) => {
                        format!("RECIPIENT:{recipient}={}", l.amount)
                    }
                })
                .collect();
            format!("{} {}", m.kind.as_str(), legs.join(","))
        })
        .collect();
    movements.sort();
    let mut transfers: Vec<String> = run
        .gw
        .sandbox
        .transfers()
        .iter()
        .map(|t| format!("{} {:?}", t.amount, std::mem::discriminant(&t.outcome)))
        .collect();
    transfers.sort();
    Outcome {
        charges,
        balance,
        movements,
        transfers,
    }
}

fn expected_charges() -> Value {
    json!({
        "A-MARKETPLACE": {"status": "CONFIRMED", "paid": true, "splits": [
            {"amount": "140.00", "status": "SCHEDULED", "paid": false, "failure": null},
            {"amount": "40.00", "status": "SCHEDULED", "paid": false, "failure": null},
            {"amount": "10.00", "status": "SCHEDULED", "paid": false, "failure": null}]},
        "B-IMMEDIATE": {"status": "CONFIRMED", "paid": true, "splits": [
            {"amount": "280.00", "status": "PAID", "paid": true, "failure": null}]},
        "C-REJECTED": {"status": "CONFIRMED", "paid": true, "splits": [
            {"amount": "25.50", "status": "FAILED", "paid": false, "failure": "PIX key not found in DICT"}]},
        "D-NO-SPLITS": {"status": "CONFIRMED", "paid": true, "splits": []},
    })
}

async fn clean_run(backend: Backend) -> Outcome {
    let run = paid_charges(backend).await;
    run.gw.run_pipeline().await;
    let out = outcome(&run).await;
    assert_eq!(
        serde_json::to_value(&out.charges).unwrap(),
        expected_charges(),
        "clean run"
    );
    // 10.00 + 70.00 + 100.00 + 33.33 available; 190.00 owed to scheduled recipients.
    assert_eq!(out.balance["available"].to_string(), "213.33");
    assert_eq!(out.balance["reservedForSplits"].to_string(), "190.00");
    assert_eq!(out.transfers.len(), 2, "one transfer per immediate payout");
    out
}

/// Delivers everything visible on `queue` in reverse order, each message twice, and "crashes"
/// before acking every other one, so those come back and are handled a third time.
async fn deliver_badly(gw: &Gateway, queue: QueueName) -> Vec<String> {
    let mut messages = gw.receive_all(queue).await;
    messages.reverse();
    let bodies: Vec<String> = messages.iter().map(|m| m.body.clone()).collect();
    for (i, m) in messages.iter().enumerate() {
        gw.handle(queue, m).await.expect("first delivery");
        gw.handle(queue, m).await.expect("duplicate delivery");
        if i % 2 == 0 {
            gw.crash_before_ack(queue, m).await;
        } else {
            gw.ack(queue, m).await;
        }
    }
    for m in gw.receive_all(queue).await {
        gw.handle(queue, &m).await.expect("redelivery after crash");
        gw.ack(queue, &m).await;
    }
    bodies
}

async fn messy_run(backend: Backend) -> Outcome {
    let run = paid_charges(backend).await;
    let gw = &run.gw;

    // The relay crashes after sending, before acking: every message goes out twice.
    let pending = gw.feed.poll_outbox(100).await.unwrap();
    assert_eq!(
        pending.len(),
        8,
        "per confirmed charge: its hand-off to the split calculator and its CASHIN_CONFIRMED webhook"
    );
    send_outbox_messages(gw.queues.as_ref(), &pending)
        .await
        .unwrap();
    gw.relay().await;

    let confirmed = deliver_badly(gw, QueueName::ChargeConfirmed).await;
    assert_eq!(confirmed.len(), 8, "each charge-confirmed message twice");

    // The payout executor of B crashed after its transfer went out, before it stored the
    // outcome: the provider already holds a transfer under the payout's idempotency key.
    let b = &run.ids["B-IMMEDIATE"];
    let charge = gw
        .get(&format!("/api/pix/cash-in/{b}"), &run.token)
        .await
        .body_json();
    let payout_id = PayoutId::parse(charge["splits"][0]["payoutId"].as_str().unwrap()).unwrap();
    let payout = gw
        .state
        .store
        .get_payout(&payout_id)
        .await
        .unwrap()
        .unwrap();
    gw.state
        .provider
        .transfer(&transfer_request(&payout))
        .await
        .unwrap();

    gw.relay().await;
    let payouts = deliver_badly(gw, QueueName::PayoutRequests).await;
    assert_eq!(payouts.len(), 2, "one payout request per immediate split");

    // Long after everything is done, stale copies of every message arrive again.
    for (queue, bodies) in [
        (QueueName::ChargeConfirmed, confirmed),
        (QueueName::PayoutRequests, payouts),
    ] {
        let batch = bodies.into_iter().map(OutgoingMessage::new).collect();
        gw.queues.send_batch(queue, batch).await.unwrap();
    }
    gw.run_pipeline().await;
    assert!(
        gw.sandbox.transfer_calls() > gw.sandbox.transfers().len(),
        "the executor retried transfers with the same idempotency keys"
    );
    outcome(&run).await
}

async fn redeliveries_reordering_and_crashes_change_nothing(backend: Backend) {
    let clean = clean_run(backend).await;
    let messy = messy_run(backend).await;
    assert_eq!(messy, clean);
}

async fn a_poison_message_ends_in_the_dead_letter_queue(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let queue = QueueName::ChargeConfirmed;
    gw.queues
        .send(
            queue,
            OutgoingMessage::new("{\"type\":\"CHARGE_CONFIRMED\"}"),
        )
        .await
        .unwrap();
    let mut attempts = 0;
    loop {
        let messages = gw.receive_all(queue).await;
        if messages.is_empty() {
            break;
        }
        for m in messages {
            attempts += 1;
            assert!(
                gw.handle(queue, &m).await.is_err(),
                "poison is never accepted"
            );
            gw.crash_before_ack(queue, &m).await;
        }
        assert!(attempts <= 10, "the message must dead-letter");
    }
    assert_eq!(attempts, pixgw_tests::harness::TEST_MAX_RECEIVES as usize);
    let dead = gw.queues.dead_letters(queue, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
}

on_both_backends!(
    redeliveries_reordering_and_crashes_change_nothing,
    a_poison_message_ends_in_the_dead_letter_queue,
);
