//! PagFast webhooks: custom-header authentication and the `Done` envelope (our assumption,
//! documented in the adapter's module doc).

use chrono::{TimeZone, Utc};
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::{EndToEndId, Ispb, PaidBy, PayerBankData};
use pixgw_domain::provider::PixProvider;
use pixgw_domain::provider::{ChargePaid, InboundWebhook, ProviderEvent, ProviderWebhookError};
use pixgw_providers::pagfast::PagFastProvider;
use serde_json::{Value, json};

use super::pagfast::*;

const E2E: &str = "E00416968202603101827cemeFscF6AG";

fn provider() -> PagFastProvider {
    // Webhooks need no server.
    PagFastProvider::new(config("http://127.0.0.1:9")).unwrap()
}

async fn deliver(
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<ProviderEvent, ProviderWebhookError> {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    let webhook = InboundWebhook {
        headers: &headers,
        query: &[],
        body,
        now: Utc::now(),
    };
    provider().verify_webhook(&webhook).await
}

async fn authentic(body: &Value) -> Result<ProviderEvent, ProviderWebhookError> {
    deliver(&[(HOOK_HEADER, HOOK_VALUE)], body.to_string().as_bytes()).await
}

/// The seed's create response, turned into the Paid event we assume PagFast sends.
fn paid(order_id: &TransactionId) -> Value {
    let mut body = response_for("full_response_201.json", order_id);
    body["data"]["transaction"]["state"] = Value::from("Paid");
    let payment = body["data"]["payment"].as_object_mut().unwrap();
    payment.insert("endToEndId".into(), Value::from(E2E));
    payment.insert("paidAt".into(), Value::from("2026-03-10T18:27:59.123456Z"));
    payment.insert("value".into(), Value::from("50.00"));
    payment.insert(
        "payer".into(),
        json!({"name": SEED_NAME, "cpf": SEED_CPF, "ispb": "00416968", "branch": "0001", "account": "1234567"}),
    );
    body
}

#[tokio::test]
async fn a_missing_or_wrong_custom_header_is_unauthenticated_before_the_body_is_read() {
    let body = paid(&TransactionId::generate()).to_string();
    for headers in [
        vec![],
        vec![(HOOK_HEADER, "whk-secret-124")],
        vec![(HOOK_HEADER, "")],
        vec![("authorization", HOOK_VALUE)],
    ] {
        let outcome = deliver(&headers, body.as_bytes()).await;
        assert!(
            matches!(outcome, Err(ProviderWebhookError::Unauthenticated(_))),
            "{headers:?}: {outcome:?}"
        );
    }
    // Not Malformed: the header is checked first.
    let outcome = deliver(&[(HOOK_HEADER, "nope")], b"not json").await;
    assert!(
        matches!(outcome, Err(ProviderWebhookError::Unauthenticated(_))),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn paid_becomes_charge_paid() {
    let order_id = TransactionId::generate();

    // The header name is matched case-insensitively (`deliver` lowercases it).
    let event = authentic(&paid(&order_id)).await.unwrap();

    assert_eq!(
        event,
        ProviderEvent::ChargePaid(ChargePaid {
            event_id: "pagfast:625a913f-ac58-499a-8f91-4917aa8fedda:Paid".to_owned(),
            transaction_id: order_id,
            end_to_end_id: EndToEndId::parse(E2E).unwrap(),
            amount: Money::from_cents(5000),
            paid_at: Utc.with_ymd_and_hms(2026, 3, 10, 18, 27, 59).unwrap()
                + chrono::Duration::milliseconds(123),
            paid_by: PaidBy {
                name: SEED_NAME.into(),
                document: SEED_CPF.into(),
                bank: PayerBankData::new(Ispb::parse("00416968").unwrap(), "0001", "1234567")
                    .unwrap(),
            },
            hold_until: None,
        })
    );
}

#[tokio::test]
async fn registered_and_other_states_are_ignored() {
    // The seed's create response, verbatim, is a valid (Registered) event.
    let event = deliver(
        &[(HOOK_HEADER, HOOK_VALUE)],
        fixture_text("full_response_201.json").as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(
        event,
        ProviderEvent::Ignored {
            event_id: "pagfast:625a913f-ac58-499a-8f91-4917aa8fedda:Registered".to_owned(),
            kind: "Registered".to_owned(),
        }
    );
    let mut expired = fixture("anonymous_response_201.json");
    expired["data"]["transaction"]["state"] = Value::from("Expired");
    let event = authentic(&expired).await.unwrap();
    assert!(
        matches!(event, ProviderEvent::Ignored { ref kind, .. } if kind == "Expired"),
        "{event:?}"
    );
}

#[tokio::test]
async fn unreadable_payloads_are_malformed() {
    let order_id = TransactionId::generate();
    let mut no_e2e = paid(&order_id);
    no_e2e["data"]["payment"]
        .as_object_mut()
        .unwrap()
        .remove("endToEndId");
    let mut foreign_order = paid(&order_id);
    foreign_order["data"]["transaction"]["orderId"] = Value::from("in-1414870875-158709817091784");
    let mut no_payer = paid(&order_id);
    no_payer["data"]["payment"]
        .as_object_mut()
        .unwrap()
        .remove("payer");
    let mut bad_paid_at = paid(&order_id);
    bad_paid_at["data"]["payment"]["paidAt"] = Value::from("yesterday");
    let mut no_state = paid(&order_id);
    no_state["data"]["transaction"]
        .as_object_mut()
        .unwrap()
        .remove("state");

    for (body, what) in [
        (no_e2e.to_string(), "endToEndId"),
        (foreign_order.to_string(), "orderId"),
        (no_payer.to_string(), "payer"),
        (bad_paid_at.to_string(), "paidAt"),
        (no_state.to_string(), "state"),
        (
            format!("{{\"statusCode\":\"Done\",\"data\":{{\"payer\":\"{SEED_CPF}\""),
            "envelope",
        ),
        (fixture_text("counterparty_service_error_409.json"), "Done"),
    ] {
        let outcome = deliver(&[(HOOK_HEADER, HOOK_VALUE)], body.as_bytes()).await;
        match outcome {
            Err(ProviderWebhookError::Malformed(message)) => {
                assert!(message.contains(what), "{what}: {message}");
                assert!(!message.contains(SEED_CPF), "{message}");
            }
            other => panic!("{what}: expected Malformed, got {other:?}"),
        }
    }
}
