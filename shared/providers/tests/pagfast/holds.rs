//! Cautelar holds in the state-based shape we assume PagFast sends (seed 003 says nothing of
//! holds; see the adapter's module doc): a held state with the settlement and `data.hold`,
//! then `HoldReleased` / `HoldReturned`; synonyms understood, malformed ones named.

use chrono::{DateTime, Duration, TimeZone, Utc};
use pixgw_domain::dispute::DevolutionNature;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::payment::EndToEndId;
use pixgw_domain::provider::PixProvider;
use pixgw_domain::provider::{InboundWebhook, ProviderEvent, ProviderWebhookError};
use pixgw_providers::pagfast::PagFastProvider;
use serde_json::{Value, json};

use super::pagfast::*;

const TRANSACTION: &str = "625a913f-ac58-499a-8f91-4917aa8fedda";
const E2E: &str = "E00416968202603101827cemeFscF6AG";
const D_ID: &str = "D00416968202603111000abcdefghijk";

/// `payment.paidAt` below, at millisecond precision.
fn paid_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 18, 27, 59).unwrap() + Duration::milliseconds(123)
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
            now: Utc.with_ymd_and_hms(2026, 3, 11, 12, 0, 0).unwrap(),
        })
        .await
}

async fn authentic(body: &Value) -> Result<ProviderEvent, ProviderWebhookError> {
    deliver(HOOK_VALUE, body).await
}

/// The seed's create response in `state`, settled (as a `Paid` event is), with `hold` as
/// `data.hold` unless `None`.
fn held(order_id: &TransactionId, state: &str, hold: Option<Value>) -> Value {
    let mut body = response_for("full_response_201.json", order_id);
    body["data"]["transaction"]["state"] = Value::from(state);
    let payment = body["data"]["payment"].as_object_mut().unwrap();
    payment.insert("endToEndId".into(), Value::from(E2E));
    payment.insert("paidAt".into(), Value::from("2026-03-10T18:27:59.123456Z"));
    payment.insert("value".into(), Value::from("50.00"));
    payment.insert(
        "payer".into(),
        json!({"name": SEED_NAME, "cpf": SEED_CPF, "ispb": "00416968", "branch": "0001", "account": "1234567"}),
    );
    if let Some(hold) = hold {
        body["data"]
            .as_object_mut()
            .unwrap()
            .insert("hold".into(), hold);
    }
    body
}

/// The seed's create response in `state` (no settlement), with `hold` as `data.hold`.
fn ended(order_id: &TransactionId, state: &str, hold: Option<Value>) -> Value {
    let mut body = response_for("full_response_201.json", order_id);
    body["data"]["transaction"]["state"] = Value::from(state);
    body["data"].as_object_mut().unwrap().remove("payment");
    if let Some(hold) = hold {
        body["data"]
            .as_object_mut()
            .unwrap()
            .insert("hold".into(), hold);
    }
    body
}

async fn hold_of(body: &Value) -> (String, Option<DateTime<Utc>>) {
    match authentic(body).await {
        Ok(ProviderEvent::ChargePaid(paid)) => {
            assert_eq!(paid.paid_at, paid_at());
            assert_eq!(paid.end_to_end_id, EndToEndId::parse(E2E).unwrap());
            (paid.event_id, paid.hold_until)
        }
        other => panic!("{body}: expected a payment, got {other:?}"),
    }
}

fn returned_event(
    order_id: &TransactionId,
    nature: Option<DevolutionNature>,
    end_to_end_id: Option<&str>,
) -> Result<ProviderEvent, ProviderWebhookError> {
    Ok(ProviderEvent::HoldReturned {
        event_id: format!("pagfast:{TRANSACTION}:HoldReturned"),
        transaction_id: order_id.clone(),
        nature,
        end_to_end_id: end_to_end_id.map(|id| EndToEndId::parse(id).unwrap()),
    })
}

#[tokio::test]
async fn a_held_payment_becomes_charge_paid_with_its_until() {
    let order_id = TransactionId::generate();
    let body = held(
        &order_id,
        "Held",
        Some(json!({"until": "2026-03-13T18:27:59.123Z"})),
    );
    let Ok(ProviderEvent::ChargePaid(paid)) = authentic(&body).await else {
        panic!("not a payment");
    };
    assert_eq!(paid.event_id, format!("pagfast:{TRANSACTION}:Held"));
    assert_eq!(paid.transaction_id, order_id);
    assert_eq!(paid.hold_until, Some(paid_at() + Duration::hours(72)));
    // The same without a hold is a plain payment.
    let (event_id, until) = hold_of(&held(&order_id, "Paid", None)).await;
    assert_eq!(event_id, format!("pagfast:{TRANSACTION}:Paid"));
    assert_eq!(until, None);
}

#[tokio::test]
async fn held_states_and_until_synonyms_are_understood() {
    let order_id = TransactionId::generate();
    let until = Some(Utc.with_ymd_and_hms(2026, 3, 12, 10, 0, 0).unwrap());
    let max = Some(paid_at() + Duration::hours(72));
    let held_id = format!("pagfast:{TRANSACTION}:Held");
    let paid_id = format!("pagfast:{TRANSACTION}:Paid");
    for (state, hold, expected_id, expected) in [
        (
            "Blocked",
            json!({"until": "2026-03-12T10:00:00Z"}),
            &held_id,
            until,
        ),
        (
            "OnHold",
            json!({"until": "2026-03-12T07:00:00-03:00"}),
            &held_id,
            until,
        ),
        (
            "BLOCKED_CAUTELAR",
            json!({"blockedUntil": "2026-03-12T10:00:00Z"}),
            &held_id,
            until,
        ),
        (
            "paid-held",
            json!({"releaseAt": "2026-03-12T10:00:00.000Z"}),
            &held_id,
            until,
        ),
        // Without an offset PagFast writes UTC.
        (
            "Held",
            json!({"until": "2026-03-12T10:00:00"}),
            &held_id,
            until,
        ),
        // Held without an until: the longest hold allowed, 72 h after payment.
        ("Held", json!({}), &held_id, max),
        ("Held", json!(true), &held_id, max),
        ("Held", Value::Null, &held_id, max),
        // The state says held, whatever data.hold says.
        ("Held", json!(false), &held_id, max),
        // A Paid event carrying a hold is held too.
        (
            "Paid",
            json!({"until": "2026-03-12T10:00:00Z"}),
            &paid_id,
            until,
        ),
        ("Paid", json!(true), &paid_id, max),
        ("Paid", json!(false), &paid_id, None),
    ] {
        let body = held(&order_id, state, Some(hold.clone()));
        assert_eq!(
            hold_of(&body).await,
            (expected_id.clone(), expected),
            "{state} {hold}"
        );
    }
    // A flat until field beside the payment.
    let mut body = held(&order_id, "Held", None);
    body["data"]["blockedUntil"] = json!("2026-03-12T10:00:00Z");
    assert_eq!(hold_of(&body).await.1, until);
    // Past or beyond 72 h: as given (the domain caps it).
    for at in ["2026-03-01T00:00:00Z", "2026-04-30T00:00:00Z"] {
        let body = held(&order_id, "Held", Some(json!({ "until": at })));
        assert_eq!(
            hold_of(&body).await.1,
            Some(DateTime::parse_from_rfc3339(at).unwrap().to_utc()),
            "{at}"
        );
    }
}

#[tokio::test]
async fn releases_and_returns_become_the_domain_events() {
    let order_id = TransactionId::generate();
    for state in [
        "HoldReleased",
        "Unblocked",
        "Released",
        "BlockReleased",
        "HOLD_RELEASED",
    ] {
        assert_eq!(
            authentic(&ended(&order_id, state, None)).await,
            Ok(ProviderEvent::HoldReleased {
                event_id: format!("pagfast:{TRANSACTION}:HoldReleased"),
                transaction_id: order_id.clone(),
            }),
            "{state}"
        );
    }
    let documented = json!({"nature": "MED_FRAUDE", "endToEndId": D_ID,
                            "returnedAt": "2026-03-11T10:00:00Z"});
    for state in ["HoldReturned", "Returned", "BlockReturned", "hold-returned"] {
        assert_eq!(
            authentic(&ended(&order_id, state, Some(documented.clone()))).await,
            returned_event(&order_id, Some(DevolutionNature::MedFraud), Some(D_ID)),
            "{state}"
        );
    }
    // Nothing said of the return: the domain's default nature, no id.
    assert_eq!(
        authentic(&ended(&order_id, "HoldReturned", None)).await,
        returned_event(&order_id, None, None)
    );
}

#[tokio::test]
async fn return_natures_codes_and_devolution_ids_are_read_from_their_synonyms() {
    let order_id = TransactionId::generate();
    for (field, value, expected) in [
        ("nature", "MedFraude", DevolutionNature::MedFraud),
        ("nature", "FR01", DevolutionNature::MedFraud),
        ("nature", "MedOperacional", DevolutionNature::MedOperational),
        ("returnReason", "BE08", DevolutionNature::MedOperational),
        ("nature", "Original", DevolutionNature::Original),
        ("returnReason", "MD06", DevolutionNature::Original),
        ("nature", "Retirada", DevolutionNature::Withdrawal),
        ("returnReasonCode", "SL02", DevolutionNature::Withdrawal),
    ] {
        let hold = json!({ field: value, "returnEndToEndId": D_ID });
        assert_eq!(
            authentic(&ended(&order_id, "Returned", Some(hold))).await,
            returned_event(&order_id, Some(expected), Some(D_ID)),
            "{field}: {value}"
        );
    }
    // An E… is the payment's and is passed over.
    let hold = json!({"endToEndId": E2E, "devolutionEndToEndId": D_ID});
    assert_eq!(
        authentic(&ended(&order_id, "Returned", Some(hold))).await,
        returned_event(&order_id, None, Some(D_ID))
    );
    let hold = json!({"endToEndId": E2E});
    assert_eq!(
        authentic(&ended(&order_id, "Returned", Some(hold))).await,
        returned_event(&order_id, None, None)
    );
}

#[tokio::test]
async fn hold_events_need_the_custom_header() {
    let order_id = TransactionId::generate();
    for body in [
        held(
            &order_id,
            "Held",
            Some(json!({"until": "2026-03-12T10:00:00Z"})),
        ),
        ended(&order_id, "HoldReleased", None),
        ended(&order_id, "HoldReturned", None),
    ] {
        let result = deliver("whk-wrong", &body).await;
        assert!(
            matches!(result, Err(ProviderWebhookError::Unauthenticated(_))),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn unknown_hold_like_states_stay_ignored() {
    let order_id = TransactionId::generate();
    let result = authentic(&ended(&order_id, "HoldExtended", None)).await;
    assert!(
        matches!(result, Ok(ProviderEvent::Ignored { ref kind, .. }) if kind == "HoldExtended"),
        "{result:?}"
    );
}

#[tokio::test]
async fn malformed_hold_events_are_refused_naming_the_field() {
    let order_id = TransactionId::generate();
    let mut bad_order = ended(&order_id, "HoldReleased", None);
    bad_order["data"]["transaction"]["orderId"] = json!("in-1414870875");
    let mut no_payment = held(&order_id, "Held", Some(json!({})));
    no_payment["data"]
        .as_object_mut()
        .unwrap()
        .remove("payment");
    let mut flat = held(&order_id, "Held", None);
    flat["data"]["cautelarUntil"] = json!("someday");
    let cases: Vec<(Value, &str)> = vec![
        (
            held(&order_id, "Held", Some(json!({"until": "in three days"}))),
            "data.hold.until must be a timestamp",
        ),
        (
            held(&order_id, "Paid", Some(json!({"until": "2026-03-12"}))),
            "data.hold.until must be a timestamp",
        ),
        (
            held(&order_id, "Held", Some(json!({"until": 1773411735}))),
            "data.hold.until must be a string",
        ),
        (
            held(&order_id, "Held", Some(json!("2026-03-12T10:00:00Z"))),
            "data.hold must be an object",
        ),
        (flat, "data.cautelarUntil must be a timestamp"),
        (no_payment, "missing data.payment on a Held event"),
        (
            bad_order,
            "transaction.orderId is not one of our transaction ids",
        ),
        (
            ended(
                &order_id,
                "HoldReturned",
                Some(json!({"nature": "Chargeback"})),
            ),
            "data.hold.nature \"Chargeback\" is not a devolução nature",
        ),
        (
            ended(&order_id, "Returned", Some(json!({"returnReason": "AM05"}))),
            "data.hold.returnReason \"AM05\" is not a devolução nature",
        ),
        (
            ended(&order_id, "Returned", Some(json!({"endToEndId": "D123"}))),
            "data.hold.endToEndId is not a PIX end-to-end id",
        ),
        (
            ended(&order_id, "Returned", Some(json!([D_ID]))),
            "data.hold must be an object",
        ),
    ];
    for (body, expected) in cases {
        let result = authentic(&body).await;
        let Err(ProviderWebhookError::Malformed(why)) = result else {
            panic!("{body}: expected Malformed, got {result:?}");
        };
        assert!(
            why.contains(expected),
            "{body}\n=> {why:?}, wanted {expected:?}"
        );
    }
}
