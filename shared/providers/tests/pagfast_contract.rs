//! PagFast's contract (seed 003) against a wiremock server answering with the seed's payloads.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pagfast;

use std::time::Duration;

use pixgw_domain::error::{ProviderError, ProviderRejection, RejectionKind};
use pixgw_domain::provider::PixProvider;
use pixgw_domain::provider::ProviderCapabilities;
use pixgw_providers::pagfast::{CASHIN_PATH, PagFastProvider};
use serde_json::{Value, json};
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, ResponseTemplate};

use pagfast::*;

fn rejection(result: Result<impl std::fmt::Debug, ProviderError>) -> ProviderRejection {
    match result {
        Err(ProviderError::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn unavailable(result: Result<impl std::fmt::Debug, ProviderError>) -> String {
    match result {
        Err(ProviderError::Unavailable(m)) => m,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn full_request_carries_every_documented_field_and_the_201_maps_to_the_charge() {
    let server = pagfast().await;
    let request = charge(SEED_CPF);
    cash_in(Shape::of("full_request.json", &[]))
        .respond_with(json(
            201,
            response_for("full_response_201.json", &request.transaction_id),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let provider = provider(&server);
    assert_eq!(provider.name(), "pagfast");
    assert_eq!(provider.capabilities(), ProviderCapabilities::CHARGES_ONLY);

    let created = provider.create_charge(&request).await.unwrap();

    let seed_response = fixture("full_response_201.json");
    assert_eq!(
        created.provider_charge_id,
        "625a913f-ac58-499a-8f91-4917aa8fedda"
    );
    assert_eq!(
        created.pix_code,
        seed_response["data"]["payment"]["qrCode"].as_str().unwrap()
    );
    let seed_request = fixture("full_request.json");
    let sent = &bodies(&server).await[0];
    assert_eq!(sent["payment"]["payer"], seed_request["payment"]["payer"]);
    assert_eq!(
        sent["payment"]["value"],
        json!({"original": "50.00", "editable": false})
    );
    assert_eq!(
        sent["transaction"],
        json!({"orderId": request.transaction_id.as_str(), "orderDescription": "This is a test order."})
    );
    assert_eq!(
        sent["webhook"],
        json!({"url": HOOK_URL, "customHeaderName": HOOK_HEADER, "customHeaderValue": HOOK_VALUE})
    );
}

#[tokio::test]
async fn an_empty_description_is_replaced_because_pagfast_requires_one() {
    let server = pagfast().await;
    let mut request = charge(SEED_CPF);
    request.description = "  ".to_owned();
    cash_in(Shape::of("full_request.json", &[]))
        .respond_with(json(
            201,
            response_for("full_response_201.json", &request.transaction_id),
        ))
        .mount(&server)
        .await;

    provider(&server).create_charge(&request).await.unwrap();

    let sent = &bodies(&server).await[0];
    let expected = format!("Charge {}", request.transaction_id);
    assert_eq!(
        sent["transaction"]["orderDescription"],
        Value::from(expected)
    );
}

#[tokio::test]
async fn a_cnpj_payer_is_sent_as_the_anonymous_payer_variant() {
    let server = pagfast().await;
    let request = charge("11222333000181");
    cash_in(Shape::of(
        "anonymous_request.json",
        &["/payment/value/editable"],
    ))
    .respond_with(json(
        201,
        response_for("anonymous_response_201.json", &request.transaction_id),
    ))
    .expect(1)
    .mount(&server)
    .await;

    let created = provider(&server).create_charge(&request).await.unwrap();

    assert_eq!(
        created.provider_charge_id,
        "9947b80a-8107-4264-938d-56a7f43593f5"
    );
    let sent = &bodies(&server).await[0];
    assert!(sent["payment"].get("payer").is_none(), "{sent}");
    assert!(!sent.to_string().contains("11222333000181"));
    assert_eq!(sent["payment"]["value"]["editable"], Value::Bool(false));
}

#[tokio::test]
async fn a_request_that_breaks_the_schema_is_refused_locally_and_never_sent() {
    let server = pagfast().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let mut config = config(&server.uri());
    config.webhook_url = "/webhooks/pagfast".to_owned();
    config.webhook_header_name = "X PagFast".to_owned();
    let provider = PagFastProvider::new(config).unwrap();
    let mut request = charge(SEED_CPF);
    request.amount = pixgw_domain::pix::money::Money::ZERO;

    let refused = rejection(provider.create_charge(&request).await);

    assert_eq!(refused.kind, RejectionKind::InvalidRequest);
    assert_eq!(refused.errors.len(), 3, "{:?}", refused.errors);
    for field in [
        "/payment/value/original",
        "/webhook/url",
        "/webhook/customHeaderName",
    ] {
        assert!(
            refused.errors.iter().any(|e| e.starts_with(field)),
            "{field}: {:?}",
            refused.errors
        );
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_500_is_retried_with_the_same_order_id_and_the_next_201_wins() {
    let server = pagfast().await;
    let request = charge(SEED_CPF);
    cash_in(Shape::of("full_request.json", &[]))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    cash_in(Shape::of("full_request.json", &[]))
        .respond_with(json(
            201,
            response_for("full_response_201.json", &request.transaction_id),
        ))
        .mount(&server)
        .await;

    let created = provider(&server).create_charge(&request).await.unwrap();

    assert_eq!(
        created.provider_charge_id,
        "625a913f-ac58-499a-8f91-4917aa8fedda"
    );
    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0], sent[1],
        "the retry must be the same request (orderId is the idempotency key)"
    );
    assert_eq!(
        sent[1]["transaction"]["orderId"],
        Value::from(request.transaction_id.as_str())
    );
}

#[tokio::test]
async fn persistent_500s_are_unavailable_after_the_policys_attempts() {
    let server = pagfast().await;
    cash_in(Shape::of("full_request.json", &[]))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount(&server)
        .await;

    let message = unavailable(provider(&server).create_charge(&charge(SEED_CPF)).await);

    assert!(message.contains("500"), "{message}");
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let server = pagfast().await;
    let request = charge(SEED_CPF);
    let slow = response_for("full_response_201.json", &request.transaction_id);
    cash_in(Shape::of("full_request.json", &[]))
        .respond_with(json(201, slow).set_delay(Duration::from_secs(2)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    cash_in(Shape::of("full_request.json", &[]))
        .respond_with(json(
            201,
            response_for("full_response_201.json", &request.transaction_id),
        ))
        .mount(&server)
        .await;

    let created = provider(&server).create_charge(&request).await.unwrap();

    assert_eq!(
        created.provider_charge_id,
        "625a913f-ac58-499a-8f91-4917aa8fedda"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_201_that_does_not_match_our_charge_is_unavailable() {
    let request = charge(SEED_CPF);
    let mut other_order = fixture("full_response_201.json"); // the seed's orderId, not ours
    other_order["data"]["transaction"]["amount"] = Value::from("50");
    let mut other_amount = response_for("full_response_201.json", &request.transaction_id);
    other_amount["data"]["transaction"]["amount"] = Value::from("50.010000");
    for (body, why) in [
        (
            ResponseTemplate::new(201).set_body_json(other_order),
            "orderId",
        ),
        (
            ResponseTemplate::new(201).set_body_json(other_amount),
            "amount",
        ),
        (
            ResponseTemplate::new(201).set_body_string("<html>"),
            "unreadable",
        ),
    ] {
        let server = pagfast().await;
        cash_in(Shape::of("full_request.json", &[]))
            .respond_with(body)
            .mount(&server)
            .await;

        let message = unavailable(provider(&server).create_charge(&request).await);

        assert!(message.contains(why), "{why}: {message}");
    }
}

#[tokio::test]
async fn an_amount_with_six_decimals_is_the_same_amount() {
    let server = pagfast().await;
    let request = charge(SEED_CPF);
    let mut body = response_for("full_response_201.json", &request.transaction_id);
    body["data"]["transaction"]["amount"] = Value::from("50.000000");
    cash_in(Shape::of("full_request.json", &[]))
        .respond_with(json(201, body))
        .mount(&server)
        .await;

    assert!(provider(&server).create_charge(&request).await.is_ok());
}

#[tokio::test]
async fn transfers_and_refunds_are_not_allowed_and_call_nothing() {
    let server = pagfast().await;
    Mock::given(method("POST"))
        .and(path(CASHIN_PATH))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let provider = provider(&server);
    let transfer = pixgw_domain::provider::TransferRequest {
        idempotency_key: "payout:1".to_owned(),
        amount: pixgw_domain::pix::money::Money::from_cents(100),
        destination: pixgw_domain::provider::TransferDestination::PixKey {
            key: "a@example.com".into(),
            key_type: pixgw_domain::pix::pix_key::PixKeyType::Email,
        },
        recipient_name: None,
        recipient_document: None,
        description: "payout".to_owned(),
    };
    let refund = pixgw_domain::provider::RefundRequest {
        idempotency_key: "refund:1".to_owned(),
        transaction_id: pixgw_domain::pix::ids::TransactionId::generate(),
        provider_charge_id: "625a913f".to_owned(),
        end_to_end_id: pixgw_domain::pix::payment::EndToEndId::parse(
            "E00416968202603101827cemeFscF6AG",
        )
        .unwrap(),
        amount: pixgw_domain::pix::money::Money::from_cents(100),
        reason: "MD06".to_owned(),
        description: "refund".to_owned(),
    };

    let t = rejection(provider.transfer(&transfer).await);
    let r = rejection(provider.refund(&refund).await);

    assert_eq!(
        (t.kind, t.reason.as_str()),
        (
            RejectionKind::NotAllowed,
            "PagFast does not support transfers"
        )
    );
    assert_eq!(
        (r.kind, r.reason.as_str()),
        (
            RejectionKind::NotAllowed,
            "PagFast does not support refunds"
        )
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[path = "pagfast/errors.rs"]
mod errors;
#[path = "pagfast/holds.rs"]
mod holds;
#[path = "pagfast/infractions.rs"]
mod infractions;
#[path = "pagfast/webhooks.rs"]
mod webhooks;
