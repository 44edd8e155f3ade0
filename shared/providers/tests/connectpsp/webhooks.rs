//! Webhooks: the URL token, then (for cash-ins) ConnectPSP's own word through
//! `GET /cash-in/{internalCode}`.
//!
//! The seed's GET example is not JSON (`"bankData": { … }`), so the mock answers the GET with
//! the `CASHIN_PAID` webhook fixture's `data`: the same shape, with full bank data. Its
//! `externalReference` (`test-order-001`) is replaced with one of our transaction ids.

use chrono::{TimeZone, Utc};
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::{EndToEndId, Ispb, PaidBy, PayerBankData};
use pixgw_domain::provider::PixProvider;
use pixgw_domain::provider::{
    ChargePaid, InboundWebhook, ProviderEvent, ProviderWebhookError, RefundOutcome,
    RefundReference, TransferOutcome,
};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::mock::{self, ConnectPspMock, fixture, fixture_json};
use super::{STATUS_PATH, start_clock};

const OUR_TX: &str = "0123456789abcdef0123456789abcdef";

fn deliver<'a>(query: &'a [(String, String)], body: &'a [u8]) -> InboundWebhook<'a> {
    InboundWebhook {
        headers: &[],
        query,
        body,
        now: Utc.with_ymd_and_hms(2026, 3, 10, 14, 22, 20).unwrap(),
    }
}

fn token_query() -> Vec<(String, String)> {
    vec![("token".to_owned(), mock::WEBHOOK_TOKEN.to_owned())]
}

/// The fixture's `data` as ConnectPSP's GET answer, with our reference and `changes`.
async fn serve_status(mock: &ConnectPspMock, changes: Value) {
    let mut answer = fixture_json("webhook_cashin_paid.json")["data"].clone();
    answer["externalReference"] = json!(OUR_TX);
    for (field, value) in changes.as_object().unwrap() {
        answer[field] = value.clone();
    }
    mock.serve("GET", STATUS_PATH, false, move |_| {
        ResponseTemplate::new(200).set_body_json(answer.clone())
    })
    .await;
}

async fn verify(mock: &ConnectPspMock, body: &str) -> Result<ProviderEvent, ProviderWebhookError> {
    let provider = mock.provider(start_clock());
    let query = token_query();
    provider
        .verify_webhook(&deliver(&query, body.as_bytes()))
        .await
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_refused_without_asking_connectpsp() {
    let mock = ConnectPspMock::start().await;
    serve_status(&mock, json!({})).await;
    let provider = mock.provider(start_clock());
    let body = fixture("webhook_cashin_paid.json");
    let wrong = vec![("token".to_owned(), "whk_guess".to_owned())];
    let empty = vec![("token".to_owned(), String::new())];
    for query in [&wrong, &empty, &Vec::new()] {
        let result = provider
            .verify_webhook(&deliver(query, body.as_bytes()))
            .await;
        assert!(
            matches!(result, Err(ProviderWebhookError::Unauthenticated(_))),
            "{query:?}: {result:?}"
        );
    }
    assert!(mock.requests_to(STATUS_PATH).await.is_empty());
    assert_eq!(mock.token_requests().await, 0);
}

#[tokio::test]
async fn cashin_paid_is_confirmed_by_reading_the_charge_back() {
    let mock = ConnectPspMock::start().await;
    serve_status(&mock, json!({})).await;

    let event = verify(&mock, &fixture("webhook_cashin_paid.json"))
        .await
        .unwrap();

    assert_eq!(
        event,
        ProviderEvent::ChargePaid(ChargePaid {
            event_id: "CASHIN_PAID:kk6g232xel65a0daee4dd13kk2912714964".into(),
            transaction_id: TransactionId::parse(OUR_TX).unwrap(),
            end_to_end_id: EndToEndId::parse("E00416968202603101827cemeFscF6AG").unwrap(),
            amount: Money::from_cents(1000),
            paid_at: Utc.with_ymd_and_hms(2026, 3, 10, 14, 22, 15).unwrap(),
            paid_by: PaidBy {
                name: "Test User".into(),
                document: "12345678909".into(),
                bank: PayerBankData::new(Ispb::parse("00000000").unwrap(), "0001", "123456")
                    .unwrap(),
            },
            hold_until: None,
        })
    );
    assert_eq!(mock.requests_to(STATUS_PATH).await.len(), 1);
}

#[tokio::test]
async fn the_get_answer_is_authoritative() {
    let mock = ConnectPspMock::start().await;
    serve_status(&mock, json!({"amount": 9.99})).await;
    let Ok(ProviderEvent::ChargePaid(paid)) =
        verify(&mock, &fixture("webhook_cashin_paid.json")).await
    else {
        panic!("expected a payment");
    };
    // The delivery says 10.00; ConnectPSP's GET says 9.99, and that is what we record.
    assert_eq!(paid.amount, Money::from_cents(999));
}

#[tokio::test]
async fn a_charge_connectpsp_does_not_report_paid_is_refused() {
    let mock = ConnectPspMock::start().await;
    serve_status(
        &mock,
        json!({"status": "AWAITING_PAYMENT", "endToEndId": null}),
    )
    .await;
    let result = verify(&mock, &fixture("webhook_cashin_paid.json")).await;
    assert_eq!(
        result,
        Err(ProviderWebhookError::Unauthenticated(
            "not confirmed by ConnectPSP"
        ))
    );

    let mock = ConnectPspMock::start().await;
    mock.serve("GET", STATUS_PATH, false, |_| ResponseTemplate::new(404))
        .await;
    let result = verify(&mock, &fixture("webhook_cashin_paid.json")).await;
    assert_eq!(
        result,
        Err(ProviderWebhookError::Unauthenticated(
            "not confirmed by ConnectPSP"
        ))
    );
}

#[tokio::test]
async fn connectpsp_not_answering_the_read_back_is_unconfirmed() {
    let mock = ConnectPspMock::start().await;
    mock.fail_next("GET", STATUS_PATH, 10, ResponseTemplate::new(503))
        .await;
    let result = verify(&mock, &fixture("webhook_cashin_paid.json")).await;
    assert!(
        matches!(result, Err(ProviderWebhookError::Unconfirmed(_))),
        "{result:?}"
    );
    assert_eq!(
        mock.requests_to(STATUS_PATH).await.len(),
        3,
        "retried first"
    );
}

#[tokio::test]
async fn a_reference_that_is_not_our_transaction_id_is_malformed() {
    let mock = ConnectPspMock::start().await;
    // The seed's data verbatim: `test-order-001`.
    serve_status(&mock, json!({"externalReference": "test-order-001"})).await;
    let result = verify(&mock, &fixture("webhook_cashin_paid.json")).await;
    assert!(
        matches!(result, Err(ProviderWebhookError::Malformed(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn bank_data_that_is_not_digits_is_malformed() {
    let mock = ConnectPspMock::start().await;
    let mut data = fixture_json("webhook_cashin_paid.json")["data"]["payer"].clone();
    data["bankData"]["account"] = json!("12345-6");
    serve_status(&mock, json!({"payer": data})).await;
    let result = verify(&mock, &fixture("webhook_cashin_paid.json")).await;
    assert!(
        matches!(result, Err(ProviderWebhookError::Malformed(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn cashin_refunded_settles_the_current_refund_attempt() {
    let mock = ConnectPspMock::start().await;
    serve_status(
        &mock,
        json!({
            "status": "REFUNDED",
            "endToEndId": "D00416968202603101830cemeFscF6AH",
            "originalEndToEndId": "E00416968202603101827cemeFscF6AG",
        }),
    )
    .await;
    let body = json!({
        "eventType": "CASHIN_REFUNDED",
        "eventAt": "2026-03-10T13:31:00-03:00",
        "data": {"transactionId": "kk6g232xel65a0daee4dd13kk2912714964", "internalCode": "US7B1JQ"}
    })
    .to_string();

    let event = verify(&mock, &body).await.unwrap();

    assert_eq!(
        event,
        ProviderEvent::RefundSettled {
            event_id: "CASHIN_REFUNDED:kk6g232xel65a0daee4dd13kk2912714964".into(),
            refund: RefundReference::CurrentAttempt(TransactionId::parse(OUR_TX).unwrap()),
            outcome: RefundOutcome::Completed {
                provider_refund_id: "kk6g232xel65a0daee4dd13kk2912714964".into(),
                end_to_end_id: EndToEndId::parse("D00416968202603101830cemeFscF6AH").unwrap(),
                settled_at: Utc.with_ymd_and_hms(2026, 3, 10, 16, 31, 0).unwrap(),
            },
        }
    );
}

#[tokio::test]
async fn cashin_refunded_while_connectpsp_still_says_paid_is_refused() {
    let mock = ConnectPspMock::start().await;
    serve_status(&mock, json!({})).await;
    let body = json!({"eventType": "CASHIN_REFUNDED", "data": {"internalCode": "US7B1JQ"}});
    let result = verify(&mock, &body.to_string()).await;
    assert_eq!(
        result,
        Err(ProviderWebhookError::Unauthenticated(
            "not confirmed by ConnectPSP"
        ))
    );
}

#[tokio::test]
async fn cash_out_events_settle_the_transfer_by_our_key() {
    let mock = ConnectPspMock::start().await;
    let paid = json!({
        "eventType": "CASHOUT_PAID",
        "eventAt": "2026-03-10T15:00:05Z",
        "data": {
            "transactionId": "co7g232xel65a0daee4dd13kk2912714999",
            "externalReference": "po_0123456789abcdef0123456789abcdef",
            "endToEndId": "E99999999202603101500abcdefghijk",
            "status": "PAID",
            "paidAt": "2026-03-10T12:00:03-03:00"
        }
    });
    assert_eq!(
        verify(&mock, &paid.to_string()).await.unwrap(),
        ProviderEvent::TransferSettled {
            event_id: "CASHOUT_PAID:co7g232xel65a0daee4dd13kk2912714999".into(),
            idempotency_key: "po_0123456789abcdef0123456789abcdef".into(),
            outcome: TransferOutcome::Completed {
                provider_transfer_id: "co7g232xel65a0daee4dd13kk2912714999".into(),
                end_to_end_id: EndToEndId::parse("E99999999202603101500abcdefghijk").unwrap(),
                settled_at: Utc.with_ymd_and_hms(2026, 3, 10, 15, 0, 3).unwrap(),
            },
        }
    );

    let failed = json!({
        "eventType": "CASHOUT_FAILED",
        "data": {
            "transactionId": "co7g232xel65a0daee4dd13kk2912714999",
            "externalReference": "co_0123456789abcdef0123456789abcdef",
            "reason": "PIX key not found"
        }
    });
    assert_eq!(
        verify(&mock, &failed.to_string()).await.unwrap(),
        ProviderEvent::TransferSettled {
            event_id: "CASHOUT_FAILED:co7g232xel65a0daee4dd13kk2912714999".into(),
            idempotency_key: "co_0123456789abcdef0123456789abcdef".into(),
            outcome: TransferOutcome::Failed {
                provider_transfer_id: Some("co7g232xel65a0daee4dd13kk2912714999".into()),
                reason: "PIX key not found".into(),
            },
        }
    );
    // No documented GET for cash-outs: nothing was asked.
    assert_eq!(mock.token_requests().await, 0);
}

#[tokio::test]
async fn unknown_events_are_ignored_and_garbage_is_malformed() {
    let mock = ConnectPspMock::start().await;
    let other = json!({"eventType": "ACCOUNT_REBALANCED", "data": {"transactionId": "rb1"}});
    assert_eq!(
        verify(&mock, &other.to_string()).await.unwrap(),
        ProviderEvent::Ignored {
            event_id: "ACCOUNT_REBALANCED:rb1".into(),
            kind: "ACCOUNT_REBALANCED".into(),
        }
    );
    for garbage in ["{not json", "[]", r#"{"data": {}}"#] {
        let result = verify(&mock, garbage).await;
        assert!(
            matches!(result, Err(ProviderWebhookError::Malformed(_))),
            "{garbage}: {result:?}"
        );
    }
    let no_code = json!({"eventType": "CASHIN_PAID", "data": {}});
    assert!(matches!(
        verify(&mock, &no_code.to_string()).await,
        Err(ProviderWebhookError::Malformed(_))
    ));
}
