//! MED infraction webhooks in the state-based shape we assume PagFast sends (seed 003 says
//! nothing of MED; see the adapter's module doc): the `Done` envelope whose transaction enters
//! an infraction state, with the infraction in `data.infraction`.

use chrono::{DateTime, TimeZone, Utc};
use pixgw_domain::dispute::{DisputeOutcome, DisputeReason};
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::EndToEndId;
use pixgw_domain::provider::PixProvider;
use pixgw_domain::provider::{
    InboundWebhook, InfractionDecided, InfractionOpened, ProviderEvent, ProviderWebhookError,
};
use pixgw_providers::pagfast::PagFastProvider;
use serde_json::{Value, json};

use super::pagfast::*;

const TRANSACTION: &str = "625a913f-ac58-499a-8f91-4917aa8fedda";
const D_ID: &str = "D00416968202603151000abcdefghijk";
const E_ID: &str = "E00416968202603101827cemeFscF6AG";

fn received() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 20, 12, 0, 0).unwrap() + chrono::Duration::microseconds(1_500)
}

async fn deliver(header_value: &str, body: &Value) -> Result<ProviderEvent, ProviderWebhookError> {
    let provider = PagFastProvider::new(config("http://127.0.0.1:9")).unwrap();
    let headers = vec![(HOOK_HEADER.to_ascii_lowercase(), header_value.to_owned())];
    let body = body.to_string();
    provider
        .verify_webhook(&InboundWebhook {
            headers: &headers,
            query: &[],
            body: body.as_bytes(),
            now: received(),
        })
        .await
}

async fn authentic(body: &Value) -> Result<ProviderEvent, ProviderWebhookError> {
    deliver(HOOK_VALUE, body).await
}

/// The seed's create response in `state`, with `infraction` beside the transaction.
fn event(order_id: &TransactionId, state: &str, infraction: Value) -> Value {
    let mut body = response_for("full_response_201.json", order_id);
    body["data"]["transaction"]["state"] = Value::from(state);
    body["data"]
        .as_object_mut()
        .unwrap()
        .insert("infraction".into(), infraction);
    body
}

fn opened(order_id: &TransactionId) -> Value {
    event(
        order_id,
        "InfractionOpened",
        json!({"id": "inf-77", "reason": "Fraud", "value": "50.00",
               "respondBy": "2026-03-19T23:59:59-03:00", "openedAt": "2026-03-12T10:00:00.123456Z"}),
    )
}

fn decided(order_id: &TransactionId) -> Value {
    event(
        order_id,
        "InfractionDecided",
        json!({"id": "inf-77", "outcome": "Lost", "endToEndId": D_ID,
               "decidedAt": "2026-03-15T10:00:00Z"}),
    )
}

/// `body` with `data.infraction.{field}` set (`None`: removed).
fn with(mut body: Value, field: &str, value: Option<Value>) -> Value {
    let infraction = body["data"]["infraction"].as_object_mut().unwrap();
    match value {
        Some(value) => infraction.insert(field.to_owned(), value),
        None => infraction.remove(field),
    };
    body
}

fn with_state(mut body: Value, state: &str) -> Value {
    body["data"]["transaction"]["state"] = Value::from(state);
    body
}

async fn opened_event(body: &Value) -> InfractionOpened {
    match authentic(body).await {
        Ok(ProviderEvent::InfractionOpened(opened)) => opened,
        other => panic!("{body}: expected an opened infraction, got {other:?}"),
    }
}

async fn decided_event(body: &Value) -> InfractionDecided {
    match authentic(body).await {
        Ok(ProviderEvent::InfractionDecided(decided)) => decided,
        other => panic!("{body}: expected a decision, got {other:?}"),
    }
}

#[tokio::test]
async fn the_assumed_shapes_become_the_domain_events() {
    let order_id = TransactionId::generate();
    assert_eq!(
        authentic(&opened(&order_id)).await,
        Ok(ProviderEvent::InfractionOpened(InfractionOpened {
            event_id: format!("pagfast:{TRANSACTION}:InfractionOpened:inf-77"),
            infraction_id: "inf-77".into(),
            transaction_id: order_id.clone(),
            reason: DisputeReason::Fraud,
            amount: Some(Money::from_cents(5_000)),
            respond_by: Some(Utc.with_ymd_and_hms(2026, 3, 20, 2, 59, 59).unwrap()),
            opened_at: Utc.with_ymd_and_hms(2026, 3, 12, 10, 0, 0).unwrap()
                + chrono::Duration::milliseconds(123),
        }))
    );
    assert_eq!(
        authentic(&decided(&order_id)).await,
        Ok(ProviderEvent::InfractionDecided(InfractionDecided {
            event_id: format!("pagfast:{TRANSACTION}:InfractionDecided:inf-77"),
            infraction_id: "inf-77".into(),
            transaction_id: order_id,
            outcome: DisputeOutcome::Lost,
            end_to_end_id: Some(EndToEndId::parse(D_ID).unwrap()),
            decided_at: Utc.with_ymd_and_hms(2026, 3, 15, 10, 0, 0).unwrap(),
        }))
    );
}

#[tokio::test]
async fn the_custom_header_is_checked_first() {
    let order_id = TransactionId::generate();
    for body in [opened(&order_id), decided(&order_id)] {
        let result = deliver("whk-guess", &body).await;
        assert!(
            matches!(result, Err(ProviderWebhookError::Unauthenticated(_))),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn state_reason_outcome_and_field_synonyms_are_understood() {
    let order_id = TransactionId::generate();
    for state in [
        "INFRACTION_OPENED",
        "UnderDispute",
        "MedOpened",
        "infraction-registered",
    ] {
        let event = opened_event(&with_state(opened(&order_id), state)).await;
        // The event id names the canonical state, whatever PagFast called it.
        assert_eq!(
            event.event_id,
            format!("pagfast:{TRANSACTION}:InfractionOpened:inf-77"),
            "{state}"
        );
    }
    for state in ["INFRACTION_DECIDED", "InfractionClosed", "MedDecided"] {
        decided_event(&with_state(decided(&order_id), state)).await;
    }
    for (reason, expected) in [
        ("FRAUD", DisputeReason::Fraud),
        ("Fraude", DisputeReason::Fraud),
        ("MedFraude", DisputeReason::Fraud),
        ("MED_FRAUDE", DisputeReason::Fraud),
        ("OperationalFlaw", DisputeReason::OperationalFlaw),
        ("FalhaOperacional", DisputeReason::OperationalFlaw),
        ("MED_OPERACIONAL", DisputeReason::OperationalFlaw),
    ] {
        let event = opened_event(&with(opened(&order_id), "reason", Some(reason.into()))).await;
        assert_eq!(event.reason, expected, "{reason}");
    }
    for (outcome, expected) in [
        ("Won", DisputeOutcome::Won),
        ("Rejected", DisputeOutcome::Won),
        ("Disagreed", DisputeOutcome::Won),
        ("Lost", DisputeOutcome::Lost),
        ("Accepted", DisputeOutcome::Lost),
        ("AcceptedByReceiver", DisputeOutcome::Lost),
        ("ACCEPTED_BY_RECEIVER", DisputeOutcome::Lost),
        ("Agreed", DisputeOutcome::Lost),
    ] {
        let event = decided_event(&with(decided(&order_id), "outcome", Some(outcome.into()))).await;
        assert_eq!(event.outcome, expected, "{outcome}");
        let e2e = (expected == DisputeOutcome::Lost).then(|| EndToEndId::parse(D_ID).unwrap());
        assert_eq!(event.end_to_end_id, e2e, "{outcome}");
    }
    // PagFast writes amounts with up to six decimals; whole centavos are fine.
    for (value, cents) in [
        (json!("50"), 5_000),
        (json!("15.000000"), 1_500),
        (json!("12.5"), 1_250),
        (serde_json::from_str::<Value>("12.50").unwrap(), 1_250),
    ] {
        let event = opened_event(&with(opened(&order_id), "value", Some(value.clone()))).await;
        assert_eq!(event.amount, Some(Money::from_cents(cents)), "{value}");
    }
    // Other names of the fields.
    let renamed = event(
        &order_id,
        "InfractionOpened",
        json!({"infractionId": "inf-78", "type": "MedOperacional", "amount": "9.90",
               "deadline": "2026-03-19T10:00:00Z", "date": "2026-03-12T10:00:00Z"}),
    );
    let event_opened = opened_event(&renamed).await;
    assert_eq!(event_opened.infraction_id, "inf-78");
    assert_eq!(event_opened.reason, DisputeReason::OperationalFlaw);
    assert_eq!(event_opened.amount, Some(Money::from_cents(990)));
    assert_eq!(
        event_opened.respond_by,
        Some(Utc.with_ymd_and_hms(2026, 3, 19, 10, 0, 0).unwrap())
    );
    let renamed = event(
        &order_id,
        "InfractionDecided",
        json!({"id": "inf-78", "result": "Accepted", "returnEndToEndId": D_ID,
               "closedAt": "2026-03-16T10:00:00Z"}),
    );
    let event_decided = decided_event(&renamed).await;
    assert_eq!(event_decided.outcome, DisputeOutcome::Lost);
    assert_eq!(
        event_decided.end_to_end_id,
        Some(EndToEndId::parse(D_ID).unwrap())
    );
    assert_eq!(
        event_decided.decided_at,
        Utc.with_ymd_and_hms(2026, 3, 16, 10, 0, 0).unwrap()
    );
}

#[tokio::test]
async fn missing_optional_fields_take_the_domain_defaults_and_the_receipt_time() {
    let order_id = TransactionId::generate();
    let minimal = event(
        &order_id,
        "InfractionOpened",
        json!({"id": "inf-79", "reason": "Fraud"}),
    );
    let opened = opened_event(&minimal).await;
    assert_eq!(opened.amount, None);
    assert_eq!(opened.respond_by, None);
    assert_eq!(
        opened.opened_at,
        Utc.with_ymd_and_hms(2026, 3, 20, 12, 0, 0).unwrap() + chrono::Duration::milliseconds(1)
    );
    let minimal = event(
        &order_id,
        "InfractionDecided",
        json!({"id": "inf-79", "outcome": "Lost", "endToEndId": E_ID}),
    );
    let decided = decided_event(&minimal).await;
    // An E… is the original payment: the devolução is unnamed.
    assert_eq!(decided.end_to_end_id, None);
    assert_eq!(decided.decided_at, opened.opened_at);
}

#[tokio::test]
async fn malformed_infraction_events_are_refused_naming_the_field() {
    let order_id = TransactionId::generate();
    let mut foreign = opened(&order_id);
    foreign["data"]["transaction"]["orderId"] = Value::from("in-1414870875-158709817091784");
    let mut no_infraction = decided(&order_id);
    no_infraction["data"]
        .as_object_mut()
        .unwrap()
        .remove("infraction");
    let null_infraction = event(&order_id, "InfractionOpened", Value::Null);
    let cases: Vec<(Value, &str)> = vec![
        (
            foreign,
            "transaction.orderId is not one of our transaction ids",
        ),
        (
            no_infraction,
            "missing data.infraction on an InfractionDecided event",
        ),
        (
            null_infraction,
            "missing data.infraction on an InfractionOpened event",
        ),
        (
            event(&order_id, "InfractionOpened", json!("inf-1")),
            "data.infraction must be an object",
        ),
        (
            with(opened(&order_id), "id", None),
            "data.infraction.id is missing",
        ),
        (
            with(opened(&order_id), "id", Some("inf 77".into())),
            "data.infraction.id must be",
        ),
        (
            with(opened(&order_id), "reason", None),
            "data.infraction.reason is missing",
        ),
        (
            with(opened(&order_id), "reason", Some("Chargeback".into())),
            "data.infraction.reason \"Chargeback\" is not a MED reason",
        ),
        (
            with(opened(&order_id), "value", Some("50.001000".into())),
            "data.infraction.value must have at most two decimal places",
        ),
        (
            with(opened(&order_id), "value", Some("0.00".into())),
            "data.infraction.value must be positive",
        ),
        (
            with(opened(&order_id), "value", Some("fifty".into())),
            "data.infraction.value is not a representable amount",
        ),
        (
            with(opened(&order_id), "respondBy", Some("19/03/2026".into())),
            "data.infraction.respondBy must be an RFC 3339",
        ),
        (
            with(opened(&order_id), "openedAt", Some(17.into())),
            "data.infraction.openedAt must be a string",
        ),
        (
            with(decided(&order_id), "outcome", None),
            "data.infraction.outcome is missing",
        ),
        (
            with(decided(&order_id), "outcome", Some("Pending".into())),
            "data.infraction.outcome \"Pending\" is not a MED decision",
        ),
        (
            with(
                decided(&order_id),
                "outcome",
                Some("PartiallyAccepted".into()),
            ),
            "is a partial decision, which the gateway does not support",
        ),
        (
            with(decided(&order_id), "endToEndId", Some("D123".into())),
            "data.infraction.endToEndId is not a PIX end-to-end id",
        ),
        (
            with(decided(&order_id), "decidedAt", Some("yesterday".into())),
            "data.infraction.decidedAt must be an RFC 3339",
        ),
    ];
    for (body, expected) in cases {
        match authentic(&body).await {
            Err(ProviderWebhookError::Malformed(why)) => {
                assert!(why.starts_with("PagFast webhook: "), "{why}");
                assert!(
                    why.contains(expected),
                    "{body}\n=> {why:?}, wanted {expected:?}"
                );
                assert!(!why.contains(SEED_CPF), "{why}");
            }
            other => panic!("{body}: expected Malformed, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn other_states_stay_ignored_even_beside_an_infraction() {
    let order_id = TransactionId::generate();
    for state in ["Registered", "InfractionUpdated", "Refunded"] {
        let body = with_state(opened(&order_id), state);
        let result = authentic(&body).await;
        assert!(
            matches!(&result, Ok(ProviderEvent::Ignored { kind, .. }) if kind == state),
            "{state}: {result:?}"
        );
    }
}
