//! Scenario 8, a provider's events touch only its own work. The deployment has ConnectPSP
//! first and the sandbox second: ConnectPSP holds the charges and makes the account's
//! transfers; one charge failed over to the sandbox. Each provider then reports on the other's
//! work — authentic reports (the sandbox's are signed with its key, ConnectPSP's are read
//! back from it), naming ids that exist, but held by the other provider — and nothing moves:
//! every report is answered 404 as an unknown id would be, the ledger, states and merchant
//! events stay as they were, and the holders' own reports still settle everything afterwards.

use pixgw_api::ApiResponse;
use pixgw_domain::cash_out::CashOutState;
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::payout::{Payout, PayoutId, PayoutState};
use pixgw_domain::split::entry::SplitState;
use pixgw_tests::harness::Backend;
use pixgw_tests::mock_psps::Fault;
use pixgw_tests::money_lifecycle::{SplitSpec, charge_body, plain_charge, to_pix_key};
use serde_json::{Value, json};

use super::rig::{Rig, assert_envelope, cents, rig};

/// What the sandbox network says about a transfer (its `TRANSFER_*` event), signed with its
/// key: authentic, whatever it names.
fn sandbox_transfer_report(rig: &Rig, idempotency_key: &str, completed: bool) -> Value {
    let at = rig.shop.now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let data = if completed {
        json!({"idempotencyKey": idempotency_key, "transferId": "sbx_tr_forged",
               "endToEndId": "E99999999202603101827abcdefghijk", "settledAt": at})
    } else {
        json!({"idempotencyKey": idempotency_key, "transferId": "sbx_tr_forged",
               "reason": "PIX key not found in DICT", "settledAt": at})
    };
    let event_type = if completed {
        "TRANSFER_COMPLETED"
    } else {
        "TRANSFER_FAILED"
    };
    json!({"eventId": format!("evt_forged_{event_type}_{idempotency_key}"),
           "eventType": event_type, "eventAt": at, "data": data})
}

async fn deliver_from_sandbox(rig: &Rig, body: &Value) -> ApiResponse {
    let id = body["eventId"].as_str().expect("eventId");
    let signed = rig
        .shop
        .gw
        .sandbox
        .sign_webhook(id, body.to_string().into_bytes());
    rig.shop.deliver(&signed).await
}

async fn payout(rig: &Rig, id: &PayoutId) -> Payout {
    rig.shop
        .gw
        .state
        .store
        .get_payout(id)
        .await
        .expect("get payout")
        .expect("payout exists")
}

async fn charge_at(
    rig: &Rig,
    id: &pixgw_domain::pix::ids::TransactionId,
    provider: &str,
) -> Charge {
    let charge = rig.shop.charge(id).await;
    assert_eq!(charge.provider, provider, "{id}");
    charge
}

pub async fn another_providers_events_move_nothing(backend: Backend) {
    let rig = rig(backend, &["connectpsp", "sandbox"], &[]).await;
    let shop = &rig.shop;

    // At ConnectPSP: a paid charge whose immediate split's payout is in flight …
    let split = SplitSpec {
        fixed: true,
        value: 2_500,
        immediate: true,
        pix_key: "recebedor@example.com".into(),
    };
    let paid = shop
        .create(&charge_body("XP-PAID", 10_000, &[split], 3_600))
        .await;
    let code = rig.cp.charge_for(paid.as_str()).internal_code;
    assert_eq!(
        rig.cp_deliver(&rig.cp.pay(&code, shop.now())).await.status,
        200
    );
    shop.drain().await;
    let entry = shop.splits(&paid).await.remove(0);
    assert_eq!(entry.state, SplitState::Processing, "pending at ConnectPSP");
    let payout_id = entry.payout_id.expect("in a payout");
    // … a cash-out in flight, and a charge not paid yet.
    let cash_out = shop
        .cash_out("XP-CO", cents(5_000), to_pix_key("maria@example.com"))
        .await
        .expect("cash-out");
    shop.drain().await;
    assert_eq!(cash_out.provider, "connectpsp");
    assert_eq!(
        shop.get_cash_out(&cash_out.id).await.state,
        CashOutState::Processing
    );
    let unpaid = shop.create(&plain_charge("XP-UNPAID", 3_000)).await;
    let unpaid = charge_at(&rig, &unpaid, "connectpsp").await;

    // At the sandbox: a charge whose creation timed out at ConnectPSP (which kept the cash-in),
    // paid, and refunded while the sandbox is unreachable: REFUND_PROCESSING, money set aside.
    rig.cp
        .fail_cash_in(Fault::Status(503, json!({"code": "DOWN"})));
    let failed_over = shop.create(&plain_charge("XP-SANDBOX", 4_000)).await;
    rig.cp.heal();
    charge_at(&rig, &failed_over, "sandbox").await;
    shop.pay(&failed_over).await;
    shop.drain().await;
    shop.gw.sandbox.fail_next_calls(1);
    let refunding = shop.refund(&failed_over).await.expect("refund requested");
    assert_eq!(refunding.status, ChargeStatus::RefundProcessing);

    let before = shop.snapshot().await;
    let payout_before = payout(&rig, &payout_id).await;
    assert_eq!(payout_before.state, PayoutState::Processing);

    // The sandbox reports ConnectPSP's transfers settled, failed (which would give money back
    // that did leave) and completed; and ConnectPSP's unpaid charge paid.
    for (key, what) in [
        (payout_id.as_str(), "Payout not found"),
        (cash_out.id.as_str(), "Cash-out not found"),
    ] {
        for completed in [false, true] {
            let report = sandbox_transfer_report(&rig, key, completed);
            let response = deliver_from_sandbox(&rig, &report).await;
            let body = assert_envelope(&response, 404, "PUB_NOT_FOUND");
            assert_eq!(body["message"], what, "{report}");
        }
    }
    let response = shop.deliver(&shop.payment_webhook(&unpaid)).await;
    let body = assert_envelope(&response, 404, "PUB_NOT_FOUND");
    assert_eq!(body["message"], "Charge not found");

    // ConnectPSP reports a devolution of the charge the sandbox holds (read back from
    // ConnectPSP's orphan cash-in for it, so authentic too).
    let report = rig.cp.refund_unasked(failed_over.as_str(), shop.now());
    let response = rig.cp_deliver(&report).await;
    let body = assert_envelope(&response, 404, "PUB_NOT_FOUND");
    assert_eq!(body["message"], "Charge not found");

    // Nothing moved: ledger, balance, charges, splits, cash-outs, merchant events, payout.
    assert_eq!(shop.snapshot().await, before);
    assert_eq!(payout(&rig, &payout_id).await, payout_before);
    assert!(
        shop.gw.sandbox.transfers().is_empty(),
        "the sandbox moved no money"
    );

    // The holders' own reports still settle everything.
    for key in [payout_id.as_str(), cash_out.id.as_str()] {
        let response = rig.cp_deliver(&rig.cp.cash_out_paid(key, shop.now())).await;
        assert_eq!(response.status, 200, "{:?}", response.body_json());
    }
    shop.drain().await;
    assert_eq!(payout(&rig, &payout_id).await.state, PayoutState::Paid);
    assert_eq!(shop.splits(&paid).await[0].state, SplitState::Paid);
    assert_eq!(
        shop.get_cash_out(&cash_out.id).await.state,
        CashOutState::Completed
    );
    // The sandbox reachable again, the queued refund request settles at the sandbox.
    assert_eq!(
        shop.charge(&failed_over).await.status,
        ChargeStatus::Refunded
    );
    shop.assert_books().await;
}
