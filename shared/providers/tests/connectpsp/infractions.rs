//! MED infraction webhooks in the shape we assume ConnectPSP sends (its documents say nothing
//! of MED; see the adapter's module doc): the URL token authenticates them, nothing is read
//! back, synonyms are understood, malformed ones are refused naming the field.

use chrono::{DateTime, TimeZone, Utc};
use pixgw_domain::dispute::{DisputeOutcome, DisputeReason};
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::EndToEndId;
use pixgw_domain::provider::PixProvider;
use pixgw_domain::provider::{
    InboundWebhook, InfractionDecided, InfractionOpened, ProviderEvent, ProviderWebhookError,
};
use serde_json::{Value, json};

use super::mock::{self, ConnectPspMock};
use super::{STATUS_PATH, start_clock};

const OUR_TX: &str = "0123456789abcdef0123456789abcdef";
const D_ID: &str = "D00416968202603151000abcdefghijk";
const E_ID: &str = "E00416968202603101827cemeFscF6AG";

fn received() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 20, 12, 0, 0).unwrap()
}

fn tx() -> TransactionId {
    TransactionId::parse(OUR_TX).unwrap()
}

async fn deliver_with(
    mock: &ConnectPspMock,
    token: &str,
    body: &Value,
) -> Result<ProviderEvent, ProviderWebhookError> {
    let provider = mock.provider(start_clock());
    let query = vec![("token".to_owned(), token.to_owned())];
    let body = body.to_string();
    provider
        .verify_webhook(&InboundWebhook {
            headers: &[],
            query: &query,
            body: body.as_bytes(),
            now: received(),
        })
        .await
}

async fn deliver(
    mock: &ConnectPspMock,
    body: &Value,
) -> Result<ProviderEvent, ProviderWebhookError> {
    deliver_with(mock, mock::WEBHOOK_TOKEN, body).await
}

/// The documented (assumed) `INFRACTION_OPENED`.
fn opened() -> Value {
    json!({
        "eventType": "INFRACTION_OPENED",
        "eventAt": "2026-03-12T10:00:00Z",
        "data": {
            "infractionId": "med_8c1f2a",
            "transactionId": "kk6g232xel65a0daee4dd13kk2912714964",
            "internalCode": "US7B1JQ",
            "externalReference": OUR_TX,
            "endToEndId": E_ID,
            "reason": "FRAUD",
            "amount": number("10.00"),
            "respondBy": "2026-03-19T10:00:00Z",
            "openedAt": "2026-03-12T07:00:00-03:00",
        }
    })
}

/// The documented (assumed) `INFRACTION_DECIDED`.
fn decided() -> Value {
    json!({
        "eventType": "INFRACTION_DECIDED",
        "eventAt": "2026-03-15T10:00:00Z",
        "data": {
            "infractionId": "med_8c1f2a",
            "transactionId": "kk6g232xel65a0daee4dd13kk2912714964",
            "internalCode": "US7B1JQ",
            "externalReference": OUR_TX,
            "outcome": "LOST",
            "returnEndToEndId": D_ID,
            "decidedAt": "2026-03-15T10:00:00.250Z",
        }
    })
}

fn number(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// `body` with `data.{field}` set (`None`: removed).
fn with(mut body: Value, field: &str, value: Option<Value>) -> Value {
    let data = body["data"].as_object_mut().unwrap();
    match value {
        Some(value) => data.insert(field.to_owned(), value),
        None => data.remove(field),
    };
    body
}

fn with_type(mut body: Value, event_type: &str) -> Value {
    body["eventType"] = Value::from(event_type);
    body
}

async fn opened_event(mock: &ConnectPspMock, body: &Value) -> InfractionOpened {
    match deliver(mock, body).await {
        Ok(ProviderEvent::InfractionOpened(opened)) => opened,
        other => panic!("{body}: expected an opened infraction, got {other:?}"),
    }
}

async fn decided_event(mock: &ConnectPspMock, body: &Value) -> InfractionDecided {
    match deliver(mock, body).await {
        Ok(ProviderEvent::InfractionDecided(decided)) => decided,
        other => panic!("{body}: expected a decision, got {other:?}"),
    }
}

#[tokio::test]
async fn the_assumed_shapes_become_the_domain_events_without_asking_connectpsp() {
    let mock = ConnectPspMock::start().await;
    assert_eq!(
        deliver(&mock, &opened()).await,
        Ok(ProviderEvent::InfractionOpened(InfractionOpened {
            event_id: "INFRACTION_OPENED:med_8c1f2a".into(),
            infraction_id: "med_8c1f2a".into(),
            transaction_id: tx(),
            reason: DisputeReason::Fraud,
            amount: Some(Money::from_cents(1_000)),
            respond_by: Some(Utc.with_ymd_and_hms(2026, 3, 19, 10, 0, 0).unwrap()),
            opened_at: Utc.with_ymd_and_hms(2026, 3, 12, 10, 0, 0).unwrap(),
        }))
    );
    assert_eq!(
        deliver(&mock, &decided()).await,
        Ok(ProviderEvent::InfractionDecided(InfractionDecided {
            event_id: "INFRACTION_DECIDED:med_8c1f2a".into(),
            infraction_id: "med_8c1f2a".into(),
            transaction_id: tx(),
            outcome: DisputeOutcome::Lost,
            end_to_end_id: Some(EndToEndId::parse(D_ID).unwrap()),
            decided_at: Utc.with_ymd_and_hms(2026, 3, 15, 10, 0, 0).unwrap()
                + chrono::Duration::milliseconds(250),
        }))
    );
    // No documented GET of an infraction: the token is all that authenticates it.
    assert_eq!(mock.token_requests().await, 0);
    assert!(mock.requests_to(STATUS_PATH).await.is_empty());
}

#[tokio::test]
async fn a_wrong_token_is_refused_before_the_body_is_read() {
    let mock = ConnectPspMock::start().await;
    for body in [opened(), decided(), json!("not an event")] {
        let result = deliver_with(&mock, "whk_guess", &body).await;
        assert!(
            matches!(result, Err(ProviderWebhookError::Unauthenticated(_))),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn event_type_reason_and_field_synonyms_are_understood() {
    let mock = ConnectPspMock::start().await;
    for event_type in [
        "INFRACTION_CREATED",
        "CASHIN_INFRACTION_OPENED",
        "MED_OPENED",
        "infraction.opened",
    ] {
        let event = opened_event(&mock, &with_type(opened(), event_type)).await;
        assert_eq!(
            event.event_id, "INFRACTION_OPENED:med_8c1f2a",
            "{event_type}"
        );
    }
    for (reason, expected) in [
        ("FRAUDE", DisputeReason::Fraud),
        ("MED_FRAUDE", DisputeReason::Fraud),
        ("fraud", DisputeReason::Fraud),
        ("OPERATIONAL_FLAW", DisputeReason::OperationalFlaw),
        ("FALHA_OPERACIONAL", DisputeReason::OperationalFlaw),
        ("MED_OPERACIONAL", DisputeReason::OperationalFlaw),
    ] {
        let event = opened_event(&mock, &with(opened(), "reason", Some(reason.into()))).await;
        assert_eq!(event.reason, expected, "{reason}");
    }
    // Other names of the fields; the amount as a string.
    let renamed = json!({
        "eventType": "INFRACTION_OPENED",
        "eventAt": "2026-03-12T10:00:00Z",
        "data": {
            "infractionReportId": "med_2",
            "externalReference": OUR_TX,
            "infractionReason": "MED_OPERACIONAL",
            "disputedAmount": "7.5",
            "deadline": "2026-03-18T23:59:59-03:00",
            "createdAt": "2026-03-12T09:59:00Z",
        }
    });
    let event = opened_event(&mock, &renamed).await;
    assert_eq!(event.infraction_id, "med_2");
    assert_eq!(event.reason, DisputeReason::OperationalFlaw);
    assert_eq!(event.amount, Some(Money::from_cents(750)));
    assert_eq!(
        event.respond_by,
        Some(Utc.with_ymd_and_hms(2026, 3, 19, 2, 59, 59).unwrap())
    );
    assert_eq!(
        event.opened_at,
        Utc.with_ymd_and_hms(2026, 3, 12, 9, 59, 0).unwrap()
    );
}

#[tokio::test]
async fn missing_optional_fields_take_the_domain_defaults_and_the_event_time() {
    let mock = ConnectPspMock::start().await;
    let minimal = json!({
        "eventType": "INFRACTION_OPENED",
        "eventAt": "2026-03-12T10:00:00Z",
        "data": {"infractionId": "med_3", "externalReference": OUR_TX, "reason": "FRAUD",
                 "amount": null, "respondBy": ""}
    });
    let event = opened_event(&mock, &minimal).await;
    assert_eq!(event.amount, None, "the whole charge");
    assert_eq!(event.respond_by, None, "the domain's default deadline");
    assert_eq!(
        event.opened_at,
        Utc.with_ymd_and_hms(2026, 3, 12, 10, 0, 0).unwrap()
    );
    // No eventAt either: when we received it.
    let mut bare = minimal.clone();
    bare.as_object_mut().unwrap().remove("eventAt");
    assert_eq!(opened_event(&mock, &bare).await.opened_at, received());

    let mut decided_bare = with(with(decided(), "decidedAt", None), "returnEndToEndId", None);
    decided_bare.as_object_mut().unwrap().remove("eventAt");
    let event = decided_event(&mock, &decided_bare).await;
    assert_eq!(event.decided_at, received());
    assert_eq!(
        event.end_to_end_id, None,
        "a lost decision may not name the devolução"
    );
}

#[tokio::test]
async fn outcome_synonyms_and_the_devolution_id_are_read_from_the_infractions_side() {
    let mock = ConnectPspMock::start().await;
    for (outcome, expected) in [
        ("WON", DisputeOutcome::Won),
        ("REJECTED", DisputeOutcome::Won),
        ("DISAGREED", DisputeOutcome::Won),
        ("INFRACTION_REJECTED", DisputeOutcome::Won),
        ("LOST", DisputeOutcome::Lost),
        ("ACCEPTED", DisputeOutcome::Lost),
        ("ACCEPTED_BY_RECEIVER", DisputeOutcome::Lost),
        ("AGREED", DisputeOutcome::Lost),
        ("TOTALLY_ACCEPTED", DisputeOutcome::Lost),
    ] {
        let event = decided_event(&mock, &with(decided(), "outcome", Some(outcome.into()))).await;
        assert_eq!(event.outcome, expected, "{outcome}");
        let e2e = (expected == DisputeOutcome::Lost).then(|| EndToEndId::parse(D_ID).unwrap());
        assert_eq!(event.end_to_end_id, e2e, "{outcome}");
    }
    // Other names of the fields.
    let renamed = json!({
        "eventType": "MED_CLOSED",
        "data": {"medId": "med_4", "externalReference": OUR_TX, "result": "ACCEPTED",
                 "endToEndId": D_ID, "closedAt": "2026-03-16T00:00:00Z"}
    });
    let event = decided_event(&mock, &renamed).await;
    assert_eq!(event.event_id, "INFRACTION_DECIDED:med_4");
    assert_eq!(event.end_to_end_id, Some(EndToEndId::parse(D_ID).unwrap()));
    assert_eq!(
        event.decided_at,
        Utc.with_ymd_and_hms(2026, 3, 16, 0, 0, 0).unwrap()
    );
    // An E… beside it is the original payment, not the devolução.
    let original_only = with(
        with(decided(), "returnEndToEndId", None),
        "endToEndId",
        Some(E_ID.into()),
    );
    assert_eq!(
        decided_event(&mock, &original_only).await.end_to_end_id,
        None
    );
    let both = with(decided(), "endToEndId", Some(E_ID.into()));
    assert_eq!(
        decided_event(&mock, &both).await.end_to_end_id,
        Some(EndToEndId::parse(D_ID).unwrap())
    );
    // A won decision's end-to-end fields are not read at all.
    let won = with(
        with(decided(), "outcome", Some("WON".into())),
        "returnEndToEndId",
        Some("garbage".into()),
    );
    assert_eq!(decided_event(&mock, &won).await.end_to_end_id, None);
}

#[tokio::test]
async fn malformed_infraction_events_are_refused_naming_the_field() {
    let mock = ConnectPspMock::start().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            with(opened(), "infractionId", None),
            "data.infractionId is missing",
        ),
        (
            with(opened(), "infractionId", Some("".into())),
            "data.infractionId is missing",
        ),
        (
            with(opened(), "infractionId", Some("x".repeat(129).into())),
            "data.infractionId must be",
        ),
        (
            with(opened(), "infractionId", Some(12.into())),
            "data.infractionId must be a string",
        ),
        (
            with(opened(), "externalReference", None),
            "data.externalReference is missing",
        ),
        (
            with(opened(), "externalReference", Some("test-order-001".into())),
            "data.externalReference is not one of our transaction ids",
        ),
        (with(opened(), "reason", None), "data.reason is missing"),
        (
            with(opened(), "reason", Some("CHARGEBACK".into())),
            "data.reason \"CHARGEBACK\" is not a MED reason",
        ),
        (
            with(opened(), "reason", Some("REFUND_CANCELLED".into())),
            "data.reason",
        ),
        (
            with(opened(), "amount", Some(number("10.001"))),
            "data.amount must have at most two decimal places",
        ),
        (
            with(opened(), "amount", Some(number("0"))),
            "data.amount must be positive",
        ),
        (
            with(opened(), "amount", Some("-1.00".into())),
            "data.amount must be positive",
        ),
        (
            with(opened(), "amount", Some("ten".into())),
            "data.amount is not a representable amount",
        ),
        (
            with(opened(), "amount", Some(json!({"value": 10}))),
            "data.amount must be a number or a decimal string",
        ),
        (
            with(opened(), "amount", Some(number("100000000.01"))),
            "data.amount exceeds the maximum",
        ),
        (
            with(opened(), "respondBy", Some("tomorrow".into())),
            "data.respondBy must be an RFC 3339",
        ),
        (
            with(opened(), "openedAt", Some("2026-03-12 10:00".into())),
            "data.openedAt must be an RFC 3339",
        ),
        (
            json!({"eventType": "INFRACTION_OPENED", "data": [1]}),
            "data must be an object",
        ),
        (
            json!({"eventType": "INFRACTION_DECIDED"}),
            "data must be an object",
        ),
        (with(decided(), "outcome", None), "data.outcome is missing"),
        (
            with(decided(), "outcome", Some("MAYBE".into())),
            "data.outcome \"MAYBE\" is not a MED decision",
        ),
        (
            with(decided(), "outcome", Some("PARTIALLY_ACCEPTED".into())),
            "is a partial decision, which the gateway does not support",
        ),
        (
            with(decided(), "returnEndToEndId", Some("D123".into())),
            "data.returnEndToEndId is not a PIX end-to-end id",
        ),
        (
            with(decided(), "decidedAt", Some("soon".into())),
            "data.decidedAt must be an RFC 3339",
        ),
        (
            with(decided(), "externalReference", Some("order_abc123".into())),
            "data.externalReference",
        ),
    ];
    for (body, expected) in cases {
        match deliver(&mock, &body).await {
            Err(ProviderWebhookError::Malformed(why)) => {
                assert!(
                    why.contains(expected),
                    "{body}\n=> {why:?}, wanted {expected:?}"
                );
            }
            other => panic!("{body}: expected Malformed, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn other_infraction_like_event_types_stay_ignored() {
    let mock = ConnectPspMock::start().await;
    for event_type in ["INFRACTION_UPDATED", "INFRACTION_DEFENCE_RECEIVED", "MED"] {
        let result = deliver(&mock, &with_type(opened(), event_type)).await;
        assert!(
            matches!(&result, Ok(ProviderEvent::Ignored { kind, .. }) if kind == event_type),
            "{event_type}: {result:?}"
        );
    }
}
