//! Charges, refunds and cash-outs: request shapes, mappings, retries and refusals.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use pixgw_domain::error::{ProviderError, RejectionKind};
use pixgw_domain::pix::document::TaxDocument;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::{EndToEndId, Ispb};
use pixgw_domain::pix::pix_key::PixKeyType;
use pixgw_domain::provider::{PixProvider, ProviderChargeRequest};
use pixgw_domain::provider::{
    RefundOutcome, RefundRequest, TransferDestination, TransferOutcome, TransferRequest,
};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::mock::{
    self, ConnectPspMock, body_json, expected_idempotency_key, expected_signature, fixture_json,
    header,
};
use super::start_clock;

fn created_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 14, 20, 0).unwrap()
}

/// The seed's example charge (150.50, João Silva, 60 minutes) as one of ours.
fn charge(expires_in: chrono::Duration) -> ProviderChargeRequest {
    let transaction_id = TransactionId::generate();
    ProviderChargeRequest {
        idempotency_key: format!("charge:{transaction_id}"),
        transaction_id,
        amount: Money::from_cents(15050),
        description: "order".into(),
        payer_name: "João Silva".into(),
        payer_document: TaxDocument::parse("12345678909").unwrap(),
        created_at: created_at(),
        expires_at: created_at() + expires_in,
        merchant_name: "Loja".into(),
        merchant_city: "Sao Paulo".into(),
    }
}

/// The seed's 201 with our `externalReference` (its amount, `150.5`, stays verbatim).
async fn serve_created(mock: &ConnectPspMock) {
    mock.serve("POST", "/cash-in", false, |request| {
        let mut answer = fixture_json("cash_in_created.json");
        answer["externalReference"] = body_json(request)["externalReference"].clone();
        ResponseTemplate::new(201).set_body_json(answer)
    })
    .await;
}

/// A JSON number exactly as written (`json!(25.00)` would go through `f64` and become `25.0`).
fn num(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn our_webhook_url() -> String {
    format!("{}?token={}", mock::WEBHOOK_URL, mock::WEBHOOK_TOKEN)
}

#[tokio::test]
async fn create_charge_sends_the_seed_shape_and_maps_the_seed_answer() {
    let mock = ConnectPspMock::start().await;
    serve_created(&mock).await;
    let provider = mock.provider(start_clock());
    let request = charge(chrono::Duration::minutes(60));

    let created = provider.create_charge(&request).await.unwrap();

    assert_eq!(created.provider_charge_id, "US7B1JQ");
    assert_eq!(created.pix_code, "00020101021226...");
    let sent = mock.requests_to("/cash-in").await;
    assert_eq!(sent.len(), 1);
    let mut expected = fixture_json("cash_in_request.json");
    expected["externalReference"] = json!(request.transaction_id.as_str());
    expected["webhookUrl"] = json!(our_webhook_url());
    assert_eq!(body_json(&sent[0]), expected);
    // 150.50 as a number with two decimals, as the seed writes it.
    let raw = String::from_utf8(sent[0].body.clone()).unwrap();
    assert!(raw.contains(r#""amount":150.50"#), "{raw}");
    assert_eq!(
        header(&sent[0], "X-Idempotency-Key"),
        Some(expected_idempotency_key(&request.idempotency_key).as_str())
    );
}

#[tokio::test]
async fn expiration_is_rounded_up_to_whole_minutes() {
    let mock = ConnectPspMock::start().await;
    serve_created(&mock).await;
    let provider = mock.provider(start_clock());
    for (lifetime, minutes) in [
        (chrono::Duration::seconds(90 * 60 + 1), 91),
        (chrono::Duration::seconds(61), 2),
        (chrono::Duration::seconds(20), 1),
    ] {
        provider.create_charge(&charge(lifetime)).await.unwrap();
        let last = mock.requests_to("/cash-in").await.pop().unwrap();
        assert_eq!(
            body_json(&last)["expirationInMinutes"],
            json!(minutes),
            "{lifetime}"
        );
    }
}

#[tokio::test]
async fn an_answer_for_another_reference_or_amount_is_not_recorded() {
    let mock = ConnectPspMock::start().await;
    // The seed's answer verbatim: `order_abc123` is not our charge.
    mock.serve("POST", "/cash-in", false, |_| {
        ResponseTemplate::new(201).set_body_json(fixture_json("cash_in_created.json"))
    })
    .await;
    let provider = mock.provider(start_clock());
    let error = provider
        .create_charge(&charge(chrono::Duration::minutes(60)))
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");

    let mut other_amount = charge(chrono::Duration::minutes(60));
    other_amount.amount = Money::from_cents(15051);
    let mock = ConnectPspMock::start().await;
    serve_created(&mock).await;
    let provider = mock.provider(start_clock());
    let error = provider.create_charge(&other_amount).await.unwrap_err();
    assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn a_5xx_is_retried_with_the_same_idempotency_key() {
    let mock = ConnectPspMock::start().await;
    mock.fail_next("POST", "/cash-in", 1, ResponseTemplate::new(503))
        .await;
    serve_created(&mock).await;
    let provider = mock.provider(start_clock());
    let request = charge(chrono::Duration::minutes(30));

    let created = provider.create_charge(&request).await.unwrap();

    assert_eq!(created.provider_charge_id, "US7B1JQ");
    let sent = mock.requests_to("/cash-in").await;
    assert_eq!(sent.len(), 2);
    let expected = expected_idempotency_key(&request.idempotency_key);
    for attempt in &sent {
        assert_eq!(
            header(attempt, "X-Idempotency-Key"),
            Some(expected.as_str())
        );
    }
    assert_eq!(sent[0].body, sent[1].body);
}

#[tokio::test]
async fn persistent_5xx_ends_unavailable_after_the_policy_attempts() {
    let mock = ConnectPspMock::start().await;
    mock.fail_next("POST", "/cash-in", 10, ResponseTemplate::new(502))
        .await;
    let provider = mock.provider(start_clock());
    let error = provider
        .create_charge(&charge(chrono::Duration::minutes(30)))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ProviderError::Unavailable(m) if m.contains("502")),
        "{error:?}"
    );
    assert_eq!(mock.requests_to("/cash-in").await.len(), 3);
}

#[tokio::test]
async fn timeouts_are_retried_then_unavailable() {
    let mock = ConnectPspMock::start().await;
    mock.fail_next(
        "POST",
        "/cash-in",
        10,
        ResponseTemplate::new(201).set_delay(Duration::from_secs(2)),
    )
    .await;
    let mut config = mock.config();
    config.timeout = Duration::from_millis(200);
    let provider =
        pixgw_providers::connectpsp::ConnectPspProvider::with_clock(config, start_clock()).unwrap();

    let error = provider
        .create_charge(&charge(chrono::Duration::minutes(30)))
        .await
        .unwrap_err();

    assert!(
        matches!(&error, ProviderError::Unavailable(m) if m.contains("timed out")),
        "{error:?}"
    );
    assert_eq!(mock.requests_to("/cash-in").await.len(), 3);
}

#[tokio::test]
async fn forbidden_and_throttled_are_ours_to_fix_not_the_merchants() {
    // 403: our integration is not allowed; 429: throttled. Neither is about the request's
    // content, so both are Unavailable (failover), not a rejection shown to the merchant.
    for status in [403, 429] {
        let mock = ConnectPspMock::start().await;
        mock.serve("POST", "/cash-in", false, move |_| {
            ResponseTemplate::new(status)
        })
        .await;
        let provider = mock.provider(start_clock());
        let error = provider
            .create_charge(&charge(chrono::Duration::minutes(30)))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ProviderError::Unavailable(m) if m.contains(&status.to_string())),
            "{status}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_4xx_is_a_rejection_with_connectpsps_words_and_no_retry() {
    let mock = ConnectPspMock::start().await;
    mock.serve("POST", "/cash-in", false, |_| {
        ResponseTemplate::new(422).set_body_json(json!({
            "code": "INVALID_PAYER_DOCUMENT",
            "message": "Payer document 12345678909 is not valid",
            "details": [{"field": "payer.document", "message": "invalid check digits"}]
        }))
    })
    .await;
    let provider = mock.provider(start_clock());

    let error = provider
        .create_charge(&charge(chrono::Duration::minutes(30)))
        .await
        .unwrap_err();

    let ProviderError::Rejected(rejection) = error else {
        panic!("{error:?}");
    };
    assert_eq!(rejection.kind, RejectionKind::InvalidRequest);
    assert_eq!(rejection.reason, "INVALID_PAYER_DOCUMENT");
    assert_eq!(
        rejection.message.as_deref(),
        Some("Payer document ***.***.***-** is not valid")
    );
    assert_eq!(
        rejection.errors,
        vec!["payer.document: invalid check digits".to_owned()]
    );
    assert_eq!(mock.requests_to("/cash-in").await.len(), 1);
}

fn refund_request() -> RefundRequest {
    let transaction_id = TransactionId::generate();
    let seed = fixture_json("refund_request.json");
    RefundRequest {
        idempotency_key: format!("refund:{transaction_id}#1"),
        transaction_id,
        provider_charge_id: "US7B1JQ".into(),
        end_to_end_id: EndToEndId::parse("E00416968202603101827cemeFscF6AG").unwrap(),
        amount: Money::from_cents(15050),
        reason: seed["reason"].as_str().unwrap().into(),
        description: seed["description"].as_str().unwrap().into(),
    }
}

#[tokio::test]
async fn refund_is_signed_and_pending_with_the_devolution_id() {
    let mock = ConnectPspMock::start().await;
    mock.serve("POST", "/cash-in/US7B1JQ/refund", true, |_| {
        ResponseTemplate::new(202).set_body_json(fixture_json("refund_accepted.json"))
    })
    .await;
    let provider = mock.provider(start_clock());
    let request = refund_request();

    let outcome = provider.refund(&request).await.unwrap();

    assert_eq!(
        outcome,
        RefundOutcome::Pending {
            provider_refund_id: "kk6g232xel65a0daee4dd13kk2912714964".into(),
            end_to_end_id: EndToEndId::parse("D00416968202603101827cemeFscF6AG").unwrap(),
        }
    );
    let sent = mock.requests_to("/cash-in/US7B1JQ/refund").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(body_json(&sent[0]), fixture_json("refund_request.json"));
    let jwt = &mock.issued_tokens()[0];
    assert_eq!(
        header(&sent[0], "DigitalSignature"),
        Some(expected_signature(jwt).as_str())
    );
    assert_eq!(
        header(&sent[0], "X-Idempotency-Key"),
        Some(expected_idempotency_key(&request.idempotency_key).as_str())
    );
}

#[tokio::test]
async fn the_signature_follows_the_renewed_token() {
    let mock = ConnectPspMock::start().await;
    mock.serve("POST", "/cash-in/US7B1JQ/refund", true, |_| {
        ResponseTemplate::new(202).set_body_json(fixture_json("refund_accepted.json"))
    })
    .await;
    let provider = mock.provider(start_clock());
    let request = refund_request();
    provider.refund(&request).await.unwrap();

    mock.revoke_tokens();
    provider.refund(&request).await.unwrap();

    let sent = mock.requests_to("/cash-in/US7B1JQ/refund").await;
    assert_eq!(sent.len(), 3);
    let tokens = mock.issued_tokens();
    assert_eq!(
        header(&sent[2], "DigitalSignature"),
        Some(expected_signature(&tokens[1]).as_str())
    );
    assert_ne!(
        header(&sent[0], "DigitalSignature"),
        header(&sent[2], "DigitalSignature")
    );
}

#[tokio::test]
async fn refund_of_a_charge_connectpsp_does_not_consider_paid_is_not_allowed() {
    let mock = ConnectPspMock::start().await;
    mock.serve("POST", "/cash-in/US7B1JQ/refund", true, |_| {
        ResponseTemplate::new(409).set_body_json(
            json!({"error": "TRANSACTION_NOT_PAID", "message": "Only PAID cash-ins can be refunded"}),
        )
    })
    .await;
    let provider = mock.provider(start_clock());
    let ProviderError::Rejected(rejection) = provider.refund(&refund_request()).await.unwrap_err()
    else {
        panic!("expected a rejection");
    };
    assert_eq!(rejection.kind, RejectionKind::NotAllowed);
    assert_eq!(rejection.reason, "TRANSACTION_NOT_PAID");
    assert_eq!(
        rejection.message.as_deref(),
        Some("Only PAID cash-ins can be refunded")
    );
}

/// `202` echoing the request's `externalReference` (our assumed cash-out answer).
async fn serve_cash_out(mock: &ConnectPspMock) {
    mock.serve("POST", "/cash-out", true, |request| {
        ResponseTemplate::new(202).set_body_json(json!({
            "transactionId": "co7g232xel65a0daee4dd13kk2912714999",
            "externalReference": body_json(request)["externalReference"],
            "status": "PROCESSING",
            "amount": body_json(request)["amount"],
        }))
    })
    .await;
}

fn transfer(destination: TransferDestination) -> TransferRequest {
    TransferRequest {
        idempotency_key: "co_0123456789abcdef0123456789abcdef".into(),
        amount: Money::from_cents(2500),
        destination,
        recipient_name: None,
        recipient_document: None,
        description: "cash-out".into(),
    }
}

async fn sent_cash_out(mock: &ConnectPspMock) -> Value {
    let sent = mock.requests_to("/cash-out").await;
    assert_eq!(sent.len(), 1);
    let jwt = &mock.issued_tokens()[0];
    assert_eq!(
        header(&sent[0], "DigitalSignature"),
        Some(expected_signature(jwt).as_str())
    );
    assert_eq!(
        header(&sent[0], "X-Idempotency-Key"),
        Some(expected_idempotency_key("co_0123456789abcdef0123456789abcdef").as_str())
    );
    assert!(
        String::from_utf8(sent[0].body.clone())
            .unwrap()
            .contains(r#""amount":25.00"#)
    );
    body_json(&sent[0])
}

#[tokio::test]
async fn transfer_to_a_pix_key_is_pending() {
    let mock = ConnectPspMock::start().await;
    serve_cash_out(&mock).await;
    let provider = mock.provider(start_clock());
    let key = "123e4567-e89b-42d3-a456-426614174000";
    let request = transfer(TransferDestination::PixKey {
        key: key.into(),
        key_type: PixKeyType::Random,
    });

    let outcome = provider.transfer(&request).await.unwrap();

    assert_eq!(
        outcome,
        TransferOutcome::Pending {
            provider_transfer_id: "co7g232xel65a0daee4dd13kk2912714999".into()
        }
    );
    assert_eq!(
        sent_cash_out(&mock).await,
        json!({
            "amount": num("25.00"),
            "externalReference": "co_0123456789abcdef0123456789abcdef",
            "description": "cash-out",
            "webhookUrl": our_webhook_url(),
            "pixKey": key,
            "pixKeyType": "EVP",
        })
    );
}

#[tokio::test]
async fn transfer_to_a_bank_account_names_the_recipient() {
    let mock = ConnectPspMock::start().await;
    serve_cash_out(&mock).await;
    let provider = mock.provider(start_clock());
    let mut request = transfer(TransferDestination::BankAccount {
        ispb: Ispb::parse("00000000").unwrap(),
        branch: "0001".into(),
        account: "1234567".into(),
        account_type: "CACC".into(),
    });
    request.recipient_name = Some("Maria Souza".into());
    request.recipient_document = Some(TaxDocument::parse("12345678909").unwrap());

    let outcome = provider.transfer(&request).await.unwrap();

    assert!(
        matches!(outcome, TransferOutcome::Pending { .. }),
        "{outcome:?}"
    );
    let body = sent_cash_out(&mock).await;
    assert_eq!(
        body["bankData"],
        json!({"ispb": "00000000", "branch": "0001", "account": "1234567", "accountType": "CACC"})
    );
    assert_eq!(
        body["recipient"],
        json!({"name": "Maria Souza", "document": "12345678909"})
    );
    assert!(body.get("pixKey").is_none());
}

#[tokio::test]
async fn a_refused_transfer_is_a_rejection() {
    let mock = ConnectPspMock::start().await;
    mock.serve("POST", "/cash-out", true, |_| {
        ResponseTemplate::new(400).set_body_json(json!({"name": "INSUFFICIENT_FUNDS"}))
    })
    .await;
    let provider = mock.provider(start_clock());
    let error = provider
        .transfer(&transfer(TransferDestination::PixKey {
            key: "maria@example.com".into(),
            key_type: PixKeyType::Email,
        }))
        .await
        .unwrap_err();
    let ProviderError::Rejected(rejection) = error else {
        panic!("{error:?}");
    };
    assert_eq!(rejection.kind, RejectionKind::InvalidRequest);
    assert_eq!(rejection.reason, "INSUFFICIENT_FUNDS");
    assert_eq!(mock.requests_to("/cash-out").await.len(), 1);
}
