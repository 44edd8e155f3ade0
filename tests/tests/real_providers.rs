//! The whole gateway on the real provider adapters (ConnectPSP, PagFast) talking to mock PSPs
//! on 127.0.0.1, on both backends: a charge's whole life at ConnectPSP (splits, refund,
//! cash-out, webhooks read back), failover on 5xx and timeouts and back after the cool-down,
//! refusals answered to the merchant without failover, everything down, operations PagFast
//! cannot do, webhook authentication end to end, and one provider's events naming another's
//! work.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "real_providers/foreign_events.rs"]
mod foreign_events;
#[path = "real_providers/lifecycle.rs"]
mod lifecycle;
#[path = "real_providers/rig.rs"]
mod rig;

use chrono::Duration;
use pixgw_domain::charge::ChargeStatus;
use pixgw_domain::ledger::MovementKind;
use pixgw_domain::messaging::events::EventType;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::split::entry::SplitState;
use pixgw_tests::harness::Backend;
use pixgw_tests::mock_psps::{
    Fault, PF_HOOK_VALUE, PF_INVALID_FORMAT, PF_TAX_NUMBER_INVALID, connectpsp_webhook,
    pagfast_webhook,
};
use pixgw_tests::money_lifecycle::{SplitSpec, charge_body, plain_charge};
use pixgw_tests::on_both_backends;
use serde_json::{Value, json};

use foreign_events::another_providers_events_move_nothing;
use lifecycle::a_connectpsp_charge_lives_its_whole_life_at_connectpsp;
use rig::{
    ATTEMPTS, assert_envelope, cents, expected_idempotency_key, header, json_of, rig, rig_with,
};

// ---------------------------------------------------------------------------------------------
// 2–3. Failover: 5xx and timeouts, then back after the cool-down

async fn charges_fail_over_to_pagfast_and_return_after_the_cool_down(backend: Backend) {
    // The deployment prefers PagFast; the account's own list puts ConnectPSP first.
    let rig = rig(
        backend,
        &["pagfast", "connectpsp"],
        &["connectpsp", "pagfast"],
    )
    .await;
    let shop = &rig.shop;
    rig.cp
        .fail_cash_in(Fault::Status(503, json!({"code": "SERVICE_UNAVAILABLE"})));

    let split = SplitSpec {
        fixed: true,
        value: 3_000,
        immediate: false,
        pix_key: "parceiro@example.com".into(),
    };
    let mut ids = vec![
        shop.create(&charge_body("FO-1", 10_000, &[split], 86_400))
            .await,
    ];
    for n in 2..=3 {
        ids.push(shop.create(&plain_charge(&format!("FO-{n}"), 1_000)).await);
    }
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(rig.provider_of(id).await, "pagfast", "charge {i}");
    }
    // Each was offered to ConnectPSP with the adapter's retries, one key per charge.
    let offered = rig.cp_cash_ins().await;
    assert_eq!(offered.len(), 3 * ATTEMPTS as usize);
    for id in &ids {
        let key = expected_idempotency_key(id.as_str());
        let same: Vec<_> = offered
            .iter()
            .filter(|r| header(r, "X-Idempotency-Key") == Some(key.as_str()))
            .collect();
        assert_eq!(same.len(), ATTEMPTS as usize, "attempts of {id}");
        assert!(
            same.iter()
                .all(|r| json_of(r)["externalReference"] == id.as_str())
        );
    }
    assert!(rig.directory.is_down("connectpsp"));

    // Down: the next charge goes straight to PagFast.
    let straight = shop.create(&plain_charge("FO-4", 1_000)).await;
    assert_eq!(rig.provider_of(&straight).await, "pagfast");
    assert_eq!(rig.cp_cash_ins().await.len(), 3 * ATTEMPTS as usize);
    assert_eq!(rig.pf.cash_ins().await.len(), 4);

    // After the cool-down ConnectPSP is probed again and, healthy now, takes the charge.
    rig.cp.heal();
    shop.advance(Duration::seconds(31));
    let back = shop.create(&plain_charge("FO-5", 1_000)).await;
    assert_eq!(rig.provider_of(&back).await, "connectpsp");
    assert_eq!(rig.cp_cash_ins().await.len(), 3 * ATTEMPTS as usize + 1);
    assert!(!rig.directory.is_down("connectpsp"));
    assert_eq!(rig.pf.cash_ins().await.len(), 4);

    // PagFast's webhook confirms its charges; splits and ledger as usual.
    rig.pf_pay(&ids[0]).await;
    rig.pf_pay(&straight).await;
    shop.drain().await;
    assert_eq!(shop.charge(&ids[0]).await.status, ChargeStatus::Confirmed);
    assert_eq!(shop.splits(&ids[0]).await[0].state, SplitState::Scheduled);
    let balance = shop.balance().await;
    assert_eq!(balance.reserved_for_splits, cents(3_000));
    assert_eq!(balance.available, cents(7_000 + 1_000));
    shop.assert_books().await;
}

async fn timeouts_count_like_server_errors(backend: Backend) {
    let rig = rig_with(backend, &["connectpsp", "pagfast"], &[], 2).await;
    let shop = &rig.shop;
    rig.cp
        .fail_cash_in(Fault::Delay(std::time::Duration::from_millis(900)));
    for n in 1..=3 {
        let id = shop.create(&plain_charge(&format!("TO-{n}"), 1_000)).await;
        assert_eq!(rig.provider_of(&id).await, "pagfast");
    }
    assert_eq!(rig.cp_cash_ins().await.len(), 6);
    assert!(rig.directory.is_down("connectpsp"));
    let id = shop.create(&plain_charge("TO-4", 1_000)).await;
    assert_eq!(rig.provider_of(&id).await, "pagfast");
    assert_eq!(
        rig.cp_cash_ins().await.len(),
        6,
        "no request to a provider that is down"
    );
}

// ---------------------------------------------------------------------------------------------
// 4–5. Refusals are the merchant's answer; everything down is a 503

async fn a_refusal_is_the_merchants_answer_not_a_failover(backend: Backend) {
    let rig = rig(backend, &["pagfast", "connectpsp"], &[]).await;
    let restricted: Value = serde_json::from_str(PF_TAX_NUMBER_INVALID).expect("fixture");
    rig.pf.answer(Fault::Status(409, restricted));
    let key = "5b0f3e2a-8c1d-4e7f-9a6b-2c3d4e5f6a7b";
    for attempt in 1..=3 {
        let response = rig
            .post_charge(&plain_charge("REF-1", 5_000), Some(key))
            .await;
        let body = assert_envelope(&response, 422, "PAYER_DOCUMENT_RESTRICTED");
        assert_eq!(body["path"], "/api/pix/cash-in");
        assert_eq!(body["method"], "POST");
        assert_eq!(
            body["details"]["providerReason"], "CounterpartyTaxNumberInvalid",
            "{body}"
        );
        assert!(
            !body.to_string().contains("50194184190"),
            "the refused CPF leaks: {body}"
        );
        assert_eq!(
            rig.pf.cash_ins().await.len(),
            attempt,
            "asked PagFast each time"
        );
    }
    assert!(
        rig.cp_cash_ins().await.is_empty(),
        "no failover on a refusal"
    );
    assert!(
        !rig.directory.is_down("pagfast"),
        "a refusal shows PagFast is up"
    );
    assert_eq!(rig.listed_charges().await, 0);

    let invalid: Value = serde_json::from_str(PF_INVALID_FORMAT).expect("fixture");
    rig.pf.answer(Fault::Status(400, invalid));
    let response = rig.post_charge(&plain_charge("REF-2", 5_000), None).await;
    let body = assert_envelope(&response, 422, "PUB_PROVIDER_INVALID_REQUEST");
    assert_eq!(
        body["details"]["providerReason"],
        "InvalidRequestFormatError"
    );
    assert_eq!(
        body["details"]["providerErrors"],
        json!(["/payment/payer: must have required property 'cpf'"])
    );
    assert!(rig.cp_cash_ins().await.is_empty());
    assert_eq!(rig.listed_charges().await, 0);

    // Nothing was kept under the key: a good payer later succeeds with it.
    rig.pf.answer(Fault::None);
    let response = rig
        .post_charge(&plain_charge("REF-1", 5_000), Some(key))
        .await;
    assert_eq!(response.status, 201, "{:?}", response.body_json());
    let id = TransactionId::parse(response.body_json()["transactionId"].as_str().expect("id"))
        .expect("transaction id");
    assert_eq!(rig.provider_of(&id).await, "pagfast");
    assert_eq!(rig.listed_charges().await, 1);
    assert!(rig.cp_cash_ins().await.is_empty());
}

async fn every_provider_down_is_a_503_and_nothing_is_stored(backend: Backend) {
    let rig = rig_with(backend, &["connectpsp", "pagfast"], &[], 2).await;
    rig.cp
        .fail_cash_in(Fault::Status(503, json!({"code": "DOWN"})));
    rig.pf
        .answer(Fault::Status(503, json!({"statusCode": "Error"})));
    let response = rig.post_charge(&plain_charge("DOWN-1", 5_000), None).await;
    assert_envelope(&response, 503, "PUB_PROVIDER_UNAVAILABLE");
    assert_eq!(rig.cp_cash_ins().await.len(), 2);
    assert_eq!(rig.pf.cash_ins().await.len(), 2);
    assert_eq!(rig.listed_charges().await, 0);
    assert!(rig.shop.movements().await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// 6. What PagFast cannot do is refused before anything moves

async fn pagfast_refunds_and_cash_outs_are_unsupported(backend: Backend) {
    let rig = rig(backend, &["pagfast", "connectpsp"], &[]).await;
    let shop = &rig.shop;
    let id = shop.create(&plain_charge("PF-1", 8_000)).await;
    assert_eq!(rig.provider_of(&id).await, "pagfast");
    rig.pf_pay(&id).await;
    shop.drain().await;
    let before = shop.snapshot().await;

    let response = rig
        .signed_post(
            &format!("/api/pix/cash-in/{id}/refund"),
            &json!({"reason": "CUSTOMER_REQUEST", "description": "Desistência"}),
        )
        .await;
    let body = assert_envelope(&response, 409, "PROVIDER_OPERATION_UNSUPPORTED");
    assert_eq!(body["details"]["provider"], "pagfast", "{body}");
    shop.drain().await;
    assert_eq!(shop.snapshot().await, before);

    // An account whose only provider is PagFast cannot send money out.
    shop.gw
        .state
        .store
        .set_account_providers(&shop.account, &["pagfast".to_owned()])
        .await
        .expect("set providers");
    let response = rig
        .signed_post(
            "/api/pix/cash-out",
            &json!({"value": 10.00, "description": "Saque", "externalId": "CO-PF",
                    "pixKey": "maria@example.com", "pixKeyType": "EMAIL"}),
        )
        .await;
    assert_envelope(&response, 409, "PROVIDER_OPERATION_UNSUPPORTED");
    shop.drain().await;
    assert_eq!(shop.snapshot().await, before);
    assert_eq!(shop.balance().await.available, cents(8_000));
    assert!(rig.cp.requests("POST", "/cash-out").await.is_empty());
    assert!(
        rig.cp
            .server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .all(|r| !r.url.path().ends_with("/refund"))
    );
    shop.assert_books().await;
}

// ---------------------------------------------------------------------------------------------
// 7. Webhook authentication end to end

async fn connectpsp_webhooks_are_authenticated_and_read_back(backend: Backend) {
    let rig = rig_with(backend, &["connectpsp", "pagfast"], &[], 2).await;
    let shop = &rig.shop;
    let id = shop.create(&plain_charge("HOOK-1", 6_000)).await;
    let code = rig.cp.charge_for(id.as_str()).internal_code;
    let read_back = format!("/cash-in/{code}");
    let delivery = rig.cp.pay(&code, shop.now());

    // A wrong (or no) token: 401, ConnectPSP not even asked.
    for token in ["wrong-token", ""] {
        let response = shop.gw.call(connectpsp_webhook(token, &delivery)).await;
        assert_envelope(&response, 401, "PROVIDER_WEBHOOK_UNAUTHENTICATED");
    }
    assert!(rig.cp.requests("GET", &read_back).await.is_empty());
    assert_eq!(shop.charge(&id).await.status, ChargeStatus::Pending);

    // The read-back fails: 503 so ConnectPSP delivers again; the charge waits.
    rig.cp
        .fail_read_back(Fault::Status(503, json!({"code": "DOWN"})));
    let response = rig.cp_deliver(&delivery).await;
    assert_envelope(&response, 503, "PROVIDER_WEBHOOK_UNCONFIRMED");
    assert_eq!(shop.charge(&id).await.status, ChargeStatus::Pending);
    assert_eq!(rig.cp.requests("GET", &read_back).await.len(), 2);

    // The redelivery confirms once; a duplicate changes nothing.
    rig.cp.heal();
    let response = rig.cp_deliver(&delivery).await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    assert_eq!(response.body_json()["outcome"], "CONFIRMED");
    let response = rig.cp_deliver(&delivery).await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    assert_eq!(response.body_json()["outcome"], "DUPLICATE");
    shop.drain().await;
    assert_eq!(shop.charge(&id).await.status, ChargeStatus::Confirmed);
    assert_eq!(shop.events(EventType::CashinConfirmed).await.len(), 1);

    // A PagFast webhook for a charge ConnectPSP holds changes nothing.
    let other = shop.create(&plain_charge("HOOK-2", 2_000)).await;
    let forged = rig.pf.paid_body(other.as_str(), shop.now());
    let response = shop
        .gw
        .call(pagfast_webhook(Some(PF_HOOK_VALUE), &forged))
        .await;
    // PagFast holds no such charge, so to its route the charge does not exist.
    let body = assert_envelope(&response, 404, "PUB_NOT_FOUND");
    assert_eq!(body["message"], "Charge not found");
    assert_eq!(shop.charge(&other).await.status, ChargeStatus::Pending);
    assert!(
        shop.movement(MovementKind::ChargeConfirmed, other.as_str())
            .await
            .is_none()
    );
    // And PagFast's own header is required at its route.
    let response = shop.gw.call(pagfast_webhook(None, &forged)).await;
    assert_envelope(&response, 401, "PROVIDER_WEBHOOK_UNAUTHENTICATED");
    shop.drain().await;
    shop.assert_books().await;
}

on_both_backends!(
    a_connectpsp_charge_lives_its_whole_life_at_connectpsp,
    charges_fail_over_to_pagfast_and_return_after_the_cool_down,
    timeouts_count_like_server_errors,
    a_refusal_is_the_merchants_answer_not_a_failover,
    every_provider_down_is_a_503_and_nothing_is_stored,
    pagfast_refunds_and_cash_outs_are_unsupported,
    connectpsp_webhooks_are_authenticated_and_read_back,
    another_providers_events_move_nothing,
);
