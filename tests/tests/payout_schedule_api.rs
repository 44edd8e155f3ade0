//! `GET/PUT /api/account/payout-schedule` end to end, through the router every host uses, on
//! both backends: the default schedule, changes signed with `DigitalSignature`, validation,
//! isolation between accounts and idempotent retries.
//!
//! The gateway's clock is pinned to Monday 2031-02-10 10:30:00Z (07:30 in São Paulo, UTC−3 all
//! year since 2019), so every `nextRunAt` is a known instant; it is in the future of any test
//! run, so no stored record is ever old enough for a storage TTL to remove it.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use http::Method;
use pixgw_api::accounts::NewAccountCredentials;
use pixgw_api::{ApiRequest, ApiResponse};
use pixgw_tests::harness::{Backend, Gateway, ManualClock, fresh_pipeline};
use pixgw_tests::on_both_backends;
use serde_json::{Value, json};

const PATH: &str = "/api/account/payout-schedule";

fn pinned_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2031-02-10T10:30:00Z")
        .expect("instant")
        .with_timezone(&Utc)
}

async fn gateway(backend: Backend) -> Gateway {
    let clock = Arc::new(ManualClock::new(pinned_now()));
    let parts = fresh_pipeline(backend, clock.clone()).await;
    Gateway::start_with(backend, clock, parts)
}

/// `hex(HMAC-SHA256(key = cryptoToken, message = bearer token))`, as a client computes it.
fn sign(credentials: &NewAccountCredentials, token: &str) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(credentials.crypto_token.as_bytes())
        .expect("any key length");
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn put_request(token: Option<&str>, signature: Option<&str>, body: &[u8]) -> ApiRequest {
    let mut request =
        ApiRequest::new(Method::PUT, PATH).with_header("content-type", "application/json");
    request.body = bytes::Bytes::copy_from_slice(body);
    if let Some(token) = token {
        request = request.with_header("authorization", &format!("Bearer {token}"));
    }
    if let Some(signature) = signature {
        request = request.with_header("digitalsignature", signature);
    }
    request
}

/// A PUT signed correctly for this account and token.
async fn put_signed(
    gw: &Gateway,
    credentials: &NewAccountCredentials,
    token: &str,
    body: &Value,
    idempotency_key: Option<&str>,
) -> ApiResponse {
    let signature = sign(credentials, token);
    let mut request = put_request(Some(token), Some(&signature), body.to_string().as_bytes());
    if let Some(key) = idempotency_key {
        request = request.with_header("x-idempotency-key", key);
    }
    gw.call(request).await
}

async fn get_schedule(gw: &Gateway, token: &str) -> Value {
    let response = gw.get(PATH, token).await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    response.body_json()
}

fn assert_error(response: &ApiResponse, status: u16, code: &str) {
    let body = response.body_json();
    assert_eq!(response.status, status, "{body}");
    assert_eq!(body["statusCode"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["path"], PATH);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(body["userMessage"].as_str().is_some_and(|m| !m.is_empty()));
}

fn default_schedule() -> Value {
    // 09:00 in São Paulo on the same day (it is 07:30 there) = 12:00Z.
    json!({"frequency": "DAILY", "time": "09:00", "nextRunAt": "2031-02-10T12:00:00.000Z"})
}

fn weekly_friday() -> Value {
    json!({"frequency": "WEEKLY", "weekday": "FRIDAY", "time": "18:00"})
}

async fn new_account_gets_daily_at_nine(backend: Backend) {
    let gw = gateway(backend).await;
    let (_, token) = gw.merchant("Padaria Central").await;
    assert_eq!(get_schedule(&gw, &token).await, default_schedule());

    // A GET needs the bearer token, but no signature.
    let anonymous = gw.call(ApiRequest::new(Method::GET, PATH)).await;
    assert_error(&anonymous, 401, "PUB_UNAUTHORIZED");
}

async fn signed_weekly_change_applies(backend: Backend) {
    let gw = gateway(backend).await;
    let (credentials, token) = gw.merchant("Marketplace Sul").await;
    let response = put_signed(&gw, &credentials, &token, &weekly_friday(), None).await;
    // Monday 07:30 local → Friday 18:00 local = 21:00Z.
    let expected = json!({
        "frequency": "WEEKLY", "time": "18:00", "weekday": "FRIDAY",
        "nextRunAt": "2031-02-14T21:00:00.000Z"
    });
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    assert_eq!(response.body_json(), expected);
    assert_eq!(get_schedule(&gw, &token).await, expected);

    // Hex is case-insensitive; back to DAILY drops the weekday.
    let upper = sign(&credentials, &token).to_uppercase();
    let body = json!({"frequency": "DAILY", "time": "09:00"});
    let response = gw
        .call(put_request(
            Some(&token),
            Some(&upper),
            body.to_string().as_bytes(),
        ))
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    assert_eq!(get_schedule(&gw, &token).await, default_schedule());
}

async fn unsigned_or_wrongly_signed_put_changes_nothing(backend: Backend) {
    let gw = gateway(backend).await;
    let (credentials, token) = gw.merchant("Loja Assinada").await;
    let (other, other_token) = gw.merchant("Outra Loja").await;
    let body = weekly_friday().to_string();
    let body = body.as_bytes();

    let missing = gw.call(put_request(Some(&token), None, body)).await;
    assert_error(&missing, 401, "PUB_SIGNATURE_REQUIRED");
    assert_eq!(
        missing.body_json()["userMessage"],
        "Assinatura digital obrigatória para esta operação"
    );
    let blank = gw.call(put_request(Some(&token), Some("  "), body)).await;
    assert_error(&blank, 401, "PUB_SIGNATURE_REQUIRED");

    let wrong = [
        // Another account's cryptoToken over this token.
        sign(&other, &token),
        // This account's cryptoToken over another token (the signature is per token).
        sign(&credentials, &other_token),
        "zz".repeat(32),
        sign(&credentials, &token)[..63].to_owned(),
    ];
    for signature in &wrong {
        let response = gw
            .call(put_request(Some(&token), Some(signature), body))
            .await;
        assert_error(&response, 401, "PUB_INVALID_SIGNATURE");
        assert_eq!(
            response.body_json()["userMessage"],
            "Assinatura digital inválida"
        );
    }

    // The bearer token is checked first: a valid signature does not replace it.
    let signature = sign(&credentials, &token);
    let no_token = gw.call(put_request(None, Some(&signature), body)).await;
    assert_error(&no_token, 401, "PUB_UNAUTHORIZED");

    // The signature is checked before the body: an unsigned bad body is still a 401.
    let unsigned_garbage = gw.call(put_request(Some(&token), None, b"{")).await;
    assert_error(&unsigned_garbage, 401, "PUB_SIGNATURE_REQUIRED");

    assert_eq!(get_schedule(&gw, &token).await, default_schedule());
}

async fn bad_bodies_list_every_error(backend: Backend) {
    let gw = gateway(backend).await;
    let (credentials, token) = gw.merchant("Loja Validada").await;
    let body = json!({"frequency": "WEEKLY", "time": "25:00", "dayOfMonth": 0, "extra": 1});
    let response = put_signed(&gw, &credentials, &token, &body, None).await;
    assert_error(&response, 400, "PUB_VALIDATION_ERROR");
    assert_eq!(
        response.body_json()["details"]["errors"],
        json!([
            "property extra should not exist",
            "time must be a valid time in HH:MM format",
            "weekday is required when frequency is WEEKLY",
            "dayOfMonth should not be set when frequency is WEEKLY",
        ])
    );
    let response = put_signed(&gw, &credentials, &token, &json!({}), None).await;
    assert_error(&response, 400, "PUB_VALIDATION_ERROR");
    assert_eq!(
        response.body_json()["details"]["errors"],
        json!(["frequency should not be empty", "time should not be empty"])
    );
    let response = put_signed(&gw, &credentials, &token, &json!([]), None).await;
    assert_error(&response, 400, "PUB_VALIDATION_ERROR");

    let signature = sign(&credentials, &token);
    let cases: [(&[u8], &str); 3] = [
        (b"", "PUB_EMPTY_BODY"),
        (b"{\"frequency\": ", "PUB_MALFORMED_JSON"),
        (&[0xff, 0xfe], "PUB_MALFORMED_JSON"),
    ];
    for (raw, code) in cases {
        let response = gw
            .call(put_request(Some(&token), Some(&signature), raw))
            .await;
        assert_error(&response, 400, code);
    }
    assert_eq!(get_schedule(&gw, &token).await, default_schedule());
}

async fn monthly_day_31_runs_on_the_last_day_of_february(backend: Backend) {
    let gw = gateway(backend).await;
    let (credentials, token) = gw.merchant("Loja Mensal").await;
    let body = json!({"frequency": "MONTHLY", "dayOfMonth": 31, "time": "10:00"});
    let response = put_signed(&gw, &credentials, &token, &body, None).await;
    let expected = json!({
        "frequency": "MONTHLY", "time": "10:00", "dayOfMonth": 31,
        "nextRunAt": "2031-02-28T13:00:00.000Z"
    });
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    assert_eq!(response.body_json(), expected);
    assert_eq!(get_schedule(&gw, &token).await, expected);
}

async fn each_account_sees_its_own_schedule(backend: Backend) {
    let gw = gateway(backend).await;
    let (a, a_token) = gw.merchant("Conta A").await;
    let (_, b_token) = gw.merchant("Conta B").await;
    let response = put_signed(&gw, &a, &a_token, &weekly_friday(), None).await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    assert_eq!(get_schedule(&gw, &a_token).await["frequency"], "WEEKLY");
    assert_eq!(get_schedule(&gw, &b_token).await, default_schedule());
}

async fn idempotent_retries_replay_the_first_answer(backend: Backend) {
    let gw = gateway(backend).await;
    let (credentials, token) = gw.merchant("Loja Idempotente").await;
    let key = uuid::Uuid::new_v4().to_string();
    // 07:45 local is 15 minutes away: a re-run 30 minutes later would say tomorrow.
    let body = json!({"frequency": "DAILY", "time": "07:45"});
    let first = put_signed(&gw, &credentials, &token, &body, Some(&key)).await;
    assert_eq!(first.status, 200, "{:?}", first.body_json());
    assert_eq!(first.body_json()["nextRunAt"], "2031-02-10T10:45:00.000Z");
    assert!(first.headers.get("idempotent-replayed").is_none());

    gw.clock.advance(Duration::minutes(30));
    let replay = put_signed(&gw, &credentials, &token, &body, Some(&key)).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.body_json(), first.body_json(), "the stored answer");
    assert_eq!(
        replay
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );

    let other_body = json!({"frequency": "DAILY", "time": "08:00"});
    let reused = put_signed(&gw, &credentials, &token, &other_body, Some(&key)).await;
    assert_error(&reused, 422, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(get_schedule(&gw, &token).await, first.body_json());

    // A new key is a new change, computed from the new now.
    let fresh_key = uuid::Uuid::new_v4().to_string();
    let again = put_signed(&gw, &credentials, &token, &body, Some(&fresh_key)).await;
    assert_eq!(again.status, 200, "{:?}", again.body_json());
    assert_eq!(again.body_json()["nextRunAt"], "2031-02-11T10:45:00.000Z");
    assert_eq!(get_schedule(&gw, &token).await, again.body_json());
}

/// Concurrent changes each answer 200 with what they wrote, or 409 with nothing written; the
/// schedule ends as one of the answered ones, never a mix.
async fn concurrent_changes_never_mix(backend: Backend) {
    let gw = Arc::new(gateway(backend).await);
    let (credentials, token) = gw.merchant("Loja Concorrida").await;
    let credentials = Arc::new(credentials);
    let tasks = (0..10).map(|i| {
        let gw = gw.clone();
        let credentials = credentials.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let body = json!({"frequency": "DAILY", "time": format!("{:02}:30", 8 + i)});
            put_signed(&gw, &credentials, &token, &body, None).await
        })
    });
    let mut applied = Vec::new();
    for joined in futures::future::join_all(tasks).await {
        let response = joined.expect("task");
        match response.status.as_u16() {
            200 => applied.push(response.body_json()),
            _ => assert_error(&response, 409, "SCHEDULE_CHANGED_CONCURRENTLY"),
        }
    }
    assert!(!applied.is_empty());
    let last = get_schedule(&gw, &token).await;
    assert!(applied.contains(&last), "{last} is one of {applied:?}");
}

on_both_backends!(
    new_account_gets_daily_at_nine,
    signed_weekly_change_applies,
    unsigned_or_wrongly_signed_put_changes_nothing,
    bad_bodies_list_every_error,
    monthly_day_31_runs_on_the_last_day_of_february,
    each_account_sees_its_own_schedule,
    idempotent_retries_replay_the_first_answer,
    concurrent_changes_never_mix,
);
