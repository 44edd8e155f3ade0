//! Cautelar holds in the shapes we assume ConnectPSP sends (its documents say nothing of holds;
//! see the adapter's module doc): a held payment is a cash-in confirmed by the GET, its hold
//! read from the GET answer, else the delivery, else the event type; releases and returns are
//! authenticated by the URL token alone; synonyms are understood; malformed ones name the
//! field.

use chrono::{DateTime, Duration, TimeZone, Utc};
use pixgw_domain::dispute::DevolutionNature;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::payment::EndToEndId;
use pixgw_domain::provider::PixProvider;
use pixgw_domain::provider::{InboundWebhook, ProviderEvent, ProviderWebhookError};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::mock::{self, ConnectPspMock, fixture_json};
use super::{STATUS_PATH, start_clock};

const OUR_TX: &str = "0123456789abcdef0123456789abcdef";
const D_ID: &str = "D00416968202603111000abcdefghijk";
const E_ID: &str = "E00416968202603101827cemeFscF6AG";

fn tx() -> TransactionId {
    TransactionId::parse(OUR_TX).unwrap()
}

/// The fixture's `paidAt`, `2026-03-10T11:22:15-03:00`.
fn paid_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 14, 22, 15).unwrap()
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
            now: Utc.with_ymd_and_hms(2026, 3, 11, 12, 0, 0).unwrap(),
        })
        .await
}

async fn deliver(
    mock: &ConnectPspMock,
    body: &Value,
) -> Result<ProviderEvent, ProviderWebhookError> {
    deliver_with(mock, mock::WEBHOOK_TOKEN, body).await
}

/// A mock whose `GET /cash-in/US7B1JQ` answers the fixture's `data` with our reference and
/// `changes` (a `null` removes the field).
async fn connectpsp(changes: Value) -> ConnectPspMock {
    let mock = ConnectPspMock::start().await;
    let mut answer = fixture_json("webhook_cashin_paid.json")["data"].clone();
    answer["externalReference"] = json!(OUR_TX);
    for (field, value) in changes.as_object().unwrap() {
        if value.is_null() {
            answer.as_object_mut().unwrap().remove(field);
        } else {
            answer[field] = value.clone();
        }
    }
    mock.serve("GET", STATUS_PATH, false, move |_| {
        ResponseTemplate::new(200).set_body_json(answer.clone())
    })
    .await;
    mock
}

/// The documented `CASHIN_PAID`, with `changes` to its `data`.
fn paid(changes: Value) -> Value {
    let mut body = fixture_json("webhook_cashin_paid.json");
    body["data"]["externalReference"] = json!(OUR_TX);
    for (field, value) in changes.as_object().unwrap() {
        body["data"][field] = value.clone();
    }
    body
}

fn with_type(mut body: Value, event_type: &str) -> Value {
    body["eventType"] = Value::from(event_type);
    body
}

async fn hold_until(mock: &ConnectPspMock, body: &Value) -> Option<DateTime<Utc>> {
    match deliver(mock, body).await {
        Ok(ProviderEvent::ChargePaid(paid)) => {
            assert_eq!(
                paid.event_id,
                "CASHIN_PAID:kk6g232xel65a0daee4dd13kk2912714964"
            );
            assert_eq!(paid.transaction_id, tx());
            assert_eq!(paid.paid_at, paid_at());
            paid.hold_until
        }
        other => panic!("{body}: expected a payment, got {other:?}"),
    }
}

/// The documented (assumed) `CASHIN_HOLD_RELEASED`.
fn released() -> Value {
    json!({
        "eventType": "CASHIN_HOLD_RELEASED",
        "eventAt": "2026-03-11T10:00:00Z",
        "data": {
            "transactionId": "kk6g232xel65a0daee4dd13kk2912714964",
            "internalCode": "US7B1JQ",
            "externalReference": OUR_TX,
            "releasedAt": "2026-03-11T07:00:00-03:00",
        }
    })
}

/// The documented (assumed) `CASHIN_HOLD_RETURNED`.
fn returned() -> Value {
    json!({
        "eventType": "CASHIN_HOLD_RETURNED",
        "eventAt": "2026-03-11T10:00:00Z",
        "data": {
            "transactionId": "kk6g232xel65a0daee4dd13kk2912714964",
            "internalCode": "US7B1JQ",
            "externalReference": OUR_TX,
            "nature": "MED_FRAUDE",
            "returnEndToEndId": D_ID,
            "returnedAt": "2026-03-11T07:00:00-03:00",
        }
    })
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

fn returned_event(
    nature: Option<DevolutionNature>,
    end_to_end_id: Option<&str>,
) -> Result<ProviderEvent, ProviderWebhookError> {
    Ok(ProviderEvent::HoldReturned {
        event_id: format!("CASHIN_HOLD_RETURNED:{OUR_TX}"),
        transaction_id: tx(),
        nature,
        end_to_end_id: end_to_end_id.map(|id| EndToEndId::parse(id).unwrap()),
    })
}

// --- the held payment ---------------------------------------------------------------------------

#[tokio::test]
async fn a_cashin_paid_delivery_carrying_a_hold_is_held_until_then() {
    let mock = connectpsp(json!({})).await;
    let body = paid(json!({"hold": {"until": "2026-03-13T11:22:15-03:00"}}));
    assert_eq!(
        hold_until(&mock, &body).await,
        Some(Utc.with_ymd_and_hms(2026, 3, 13, 14, 22, 15).unwrap())
    );
    // Confirmed by the GET like every cash-in.
    assert_eq!(mock.requests_to(STATUS_PATH).await.len(), 1);
    // The documented payment, without a hold, is not held.
    assert_eq!(hold_until(&mock, &paid(json!({}))).await, None);
}

#[tokio::test]
async fn synonyms_of_the_until_and_a_held_status_are_understood() {
    let until = Some(Utc.with_ymd_and_hms(2026, 3, 12, 13, 0, 0).unwrap());
    let max = Some(paid_at() + Duration::hours(72));
    let mock = connectpsp(json!({})).await;
    for (changes, expected) in [
        (json!({"blockedUntil": "2026-03-12T13:00:00Z"}), until),
        (json!({"cautelarUntil": "2026-03-12T10:00:00-03:00"}), until),
        (json!({"holdUntil": "2026-03-12T13:00:00.000Z"}), until),
        (
            json!({"hold": {"blockedUntil": "2026-03-12T13:00:00Z"}}),
            until,
        ),
        (
            json!({"status": "HELD", "heldUntil": "2026-03-12T13:00:00Z"}),
            until,
        ),
        // Held without an until: the longest hold allowed, 72 h after payment.
        (json!({"status": "BLOCKED"}), max),
        (json!({"status": "blocked_cautelar"}), max),
        (json!({"hold": true}), max),
        (json!({"hold": {}}), max),
        // Without an offset ConnectPSP writes Brasília time.
        (json!({"hold": {"until": "2026-03-12T10:00:00"}}), until),
        (json!({"blockedUntil": "2026-03-12 10:00:00"}), until),
        // Not held.
        (json!({"hold": false}), None),
        (json!({"hold": null}), None),
    ] {
        assert_eq!(
            hold_until(&mock, &paid(changes.clone())).await,
            expected,
            "{changes}"
        );
    }
}

#[tokio::test]
async fn an_until_in_the_past_or_beyond_72_hours_is_taken_as_given() {
    let mock = connectpsp(json!({})).await;
    for until in ["2026-03-01T00:00:00Z", "2026-04-30T00:00:00Z"] {
        let body = paid(json!({"hold": {"until": until}}));
        assert_eq!(
            hold_until(&mock, &body).await,
            Some(DateTime::parse_from_rfc3339(until).unwrap().to_utc()),
            "{until}"
        );
    }
}

#[tokio::test]
async fn the_get_answer_says_first_whether_and_until_when_the_payment_is_held() {
    // The GET reports a held status with an until: that is the hold, whatever the delivery.
    let mock =
        connectpsp(json!({"status": "HELD", "hold": {"until": "2026-03-12T13:00:00Z"}})).await;
    let body = paid(json!({"hold": {"until": "2026-03-13T13:00:00Z"}}));
    assert_eq!(
        hold_until(&mock, &body).await,
        Some(Utc.with_ymd_and_hms(2026, 3, 12, 13, 0, 0).unwrap())
    );
    // A held status alone in the GET: held 72 h, though the delivery says nothing.
    let mock = connectpsp(json!({"status": "ON_HOLD"})).await;
    assert_eq!(
        hold_until(&mock, &paid(json!({}))).await,
        Some(paid_at() + Duration::hours(72))
    );
    // The GET saying explicitly it is not held wins over the delivery.
    let mock = connectpsp(json!({"hold": false})).await;
    let body = paid(json!({"hold": {"until": "2026-03-13T13:00:00Z"}}));
    assert_eq!(hold_until(&mock, &body).await, None);
    // A status the GET does not report as paid or held is still not confirmed.
    let mock = connectpsp(json!({"status": "AWAITING_PAYMENT"})).await;
    assert_eq!(
        deliver(&mock, &paid(json!({"status": "HELD"}))).await,
        Err(ProviderWebhookError::Unauthenticated(
            "not confirmed by ConnectPSP"
        ))
    );
}

#[tokio::test]
async fn held_payment_event_types_are_read_back_and_held() {
    for event_type in [
        "CASHIN_HELD",
        "CASHIN_BLOCKED",
        "cashin.on_hold",
        "CASHIN_PAID_HELD",
    ] {
        let mock = connectpsp(json!({})).await;
        let body = with_type(paid(json!({})), event_type);
        assert_eq!(
            hold_until(&mock, &body).await,
            Some(paid_at() + Duration::hours(72)),
            "{event_type}"
        );
        assert_eq!(mock.requests_to(STATUS_PATH).await.len(), 1, "{event_type}");
        // With an until in the delivery, that one.
        let body = with_type(
            paid(json!({"hold": {"until": "2026-03-11T00:00:00Z"}})),
            event_type,
        );
        assert_eq!(
            hold_until(&mock, &body).await,
            Some(Utc.with_ymd_and_hms(2026, 3, 11, 0, 0, 0).unwrap())
        );
    }
}

#[tokio::test]
async fn a_malformed_hold_on_a_payment_is_refused_naming_the_field() {
    let mock = connectpsp(json!({})).await;
    for (changes, expected) in [
        (
            json!({"hold": {"until": "in three days"}}),
            "data.hold.until must be a timestamp",
        ),
        (
            json!({"hold": {"until": 1773411735}}),
            "data.hold.until must be a string",
        ),
        (json!({"hold": "yes"}), "data.hold must be an object"),
        (
            json!({"blockedUntil": "2026-03-12"}),
            "data.blockedUntil must be a timestamp",
        ),
    ] {
        let result = deliver(&mock, &paid(changes.clone())).await;
        let Err(ProviderWebhookError::Malformed(why)) = result else {
            panic!("{changes}: {result:?}");
        };
        assert!(why.contains(expected), "{changes}: {why:?}");
    }
    // The GET's own hold, named as the GET's.
    let mock = connectpsp(json!({"status": "HELD", "hold": {"until": "soon"}})).await;
    let result = deliver(&mock, &paid(json!({}))).await;
    let Err(ProviderWebhookError::Malformed(why)) = result else {
        panic!("{result:?}");
    };
    assert!(
        why.contains("cash-in lookup: hold.until must be a timestamp"),
        "{why:?}"
    );
}

// --- release and return -------------------------------------------------------------------------

#[tokio::test]
async fn a_release_and_a_return_become_the_domain_events_without_asking_connectpsp() {
    let mock = ConnectPspMock::start().await;
    assert_eq!(
        deliver(&mock, &released()).await,
        Ok(ProviderEvent::HoldReleased {
            event_id: format!("CASHIN_HOLD_RELEASED:{OUR_TX}"),
            transaction_id: tx(),
        })
    );
    assert_eq!(
        deliver(&mock, &returned()).await,
        returned_event(Some(DevolutionNature::MedFraud), Some(D_ID))
    );
    // No documented GET of a hold: the token is all that authenticates these.
    assert_eq!(mock.token_requests().await, 0);
    assert!(mock.requests_to(STATUS_PATH).await.is_empty());
}

#[tokio::test]
async fn a_wrong_token_is_refused_before_a_hold_event_is_read() {
    let mock = ConnectPspMock::start().await;
    for body in [released(), returned(), json!("not an event")] {
        let result = deliver_with(&mock, "whk_guess", &body).await;
        assert!(
            matches!(result, Err(ProviderWebhookError::Unauthenticated(_))),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn event_type_synonyms_keep_one_event_id_per_hold() {
    let mock = ConnectPspMock::start().await;
    for event_type in [
        "CASHIN_UNBLOCKED",
        "CASHIN_RELEASED",
        "BLOCK_RELEASED",
        "HOLD_RELEASED",
        "cashin.hold.released",
        "CautelarReleased",
    ] {
        assert_eq!(
            deliver(&mock, &with_type(released(), event_type)).await,
            Ok(ProviderEvent::HoldReleased {
                event_id: format!("CASHIN_HOLD_RELEASED:{OUR_TX}"),
                transaction_id: tx(),
            }),
            "{event_type}"
        );
    }
    for event_type in [
        "CASHIN_RETURNED",
        "BLOCK_RETURNED",
        "HOLD_RETURNED",
        "cashin.block.returned",
    ] {
        assert_eq!(
            deliver(&mock, &with_type(returned(), event_type)).await,
            returned_event(Some(DevolutionNature::MedFraud), Some(D_ID)),
            "{event_type}"
        );
    }
    // A release needs nothing but our reference.
    let bare = json!({"eventType": "CASHIN_HOLD_RELEASED", "data": {"externalReference": OUR_TX}});
    assert!(matches!(
        deliver(&mock, &bare).await,
        Ok(ProviderEvent::HoldReleased { .. })
    ));
    // Something hold-like we do not know stays ignored.
    let unknown = with_type(released(), "CASHIN_HOLD_EXTENDED");
    assert!(matches!(
        deliver(&mock, &unknown).await,
        Ok(ProviderEvent::Ignored { ref kind, .. }) if kind == "CASHIN_HOLD_EXTENDED"
    ));
}

#[tokio::test]
async fn natures_codes_and_devolution_ids_are_read_from_their_synonyms() {
    let mock = ConnectPspMock::start().await;
    for (field, value, expected) in [
        ("nature", "MED_FRAUDE", DevolutionNature::MedFraud),
        ("nature", "FR01", DevolutionNature::MedFraud),
        ("nature", "fraud", DevolutionNature::MedFraud),
        (
            "nature",
            "MED_OPERACIONAL",
            DevolutionNature::MedOperational,
        ),
        (
            "nature",
            "med-operacional",
            DevolutionNature::MedOperational,
        ),
        ("nature", "BE08", DevolutionNature::MedOperational),
        ("nature", "ORIGINAL", DevolutionNature::Original),
        ("nature", "MD06", DevolutionNature::Original),
        ("nature", "RETIRADA", DevolutionNature::Withdrawal),
        ("nature", "SL02", DevolutionNature::Withdrawal),
        ("returnReason", "FR01", DevolutionNature::MedFraud),
        ("returnReason", "BE08", DevolutionNature::MedOperational),
        ("returnReasonCode", "MD06", DevolutionNature::Original),
        ("devolutionNature", "Retirada", DevolutionNature::Withdrawal),
    ] {
        let body = with(with(returned(), "nature", None), field, Some(value.into()));
        assert_eq!(
            deliver(&mock, &body).await,
            returned_event(Some(expected), Some(D_ID)),
            "{field}: {value}"
        );
    }
    // No nature: the domain's default (MED_FRAUDE); no devolução id: none.
    let bare = with(with(returned(), "nature", None), "returnEndToEndId", None);
    assert_eq!(deliver(&mock, &bare).await, returned_event(None, None));
    // The devolução id under another name; an E… is the payment's and is passed over.
    let renamed = with(
        with(returned(), "returnEndToEndId", None),
        "endToEndId",
        Some(D_ID.into()),
    );
    assert_eq!(
        deliver(&mock, &renamed).await,
        returned_event(Some(DevolutionNature::MedFraud), Some(D_ID))
    );
    let original_only = with(
        with(returned(), "returnEndToEndId", None),
        "endToEndId",
        Some(E_ID.into()),
    );
    assert_eq!(
        deliver(&mock, &original_only).await,
        returned_event(Some(DevolutionNature::MedFraud), None)
    );
    let both = with(returned(), "endToEndId", Some(E_ID.into()));
    assert_eq!(
        deliver(&mock, &both).await,
        returned_event(Some(DevolutionNature::MedFraud), Some(D_ID))
    );
}

#[tokio::test]
async fn malformed_hold_endings_are_refused_naming_the_field() {
    let mock = ConnectPspMock::start().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            with(released(), "externalReference", None),
            "data.externalReference is missing",
        ),
        (
            with(
                released(),
                "externalReference",
                Some("test-order-001".into()),
            ),
            "data.externalReference is not one of our transaction ids",
        ),
        (
            json!({"eventType": "CASHIN_UNBLOCKED", "data": [1]}),
            "data must be an object",
        ),
        (
            json!({"eventType": "CASHIN_HOLD_RETURNED"}),
            "data must be an object",
        ),
        (
            with(returned(), "externalReference", Some(7.into())),
            "data.externalReference must be a string",
        ),
        (
            with(returned(), "nature", Some("CHARGEBACK".into())),
            "data.nature \"CHARGEBACK\" is not a devolução nature",
        ),
        (
            with(
                with(returned(), "nature", None),
                "returnReason",
                Some("AM05".into()),
            ),
            "data.returnReason \"AM05\" is not a devolução nature",
        ),
        (
            with(returned(), "nature", Some(json!({"code": "FR01"}))),
            "data.nature must be a string",
        ),
        (
            with(returned(), "returnEndToEndId", Some("D123".into())),
            "data.returnEndToEndId is not a PIX end-to-end id",
        ),
    ];
    for (body, expected) in cases {
        let result = deliver(&mock, &body).await;
        let Err(ProviderWebhookError::Malformed(why)) = result else {
            panic!("{body}: expected Malformed, got {result:?}");
        };
        assert!(
            why.contains(expected),
            "{body}\n=> {why:?}, wanted {expected:?}"
        );
    }
}
