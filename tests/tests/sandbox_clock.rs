//! `POST /api/sandbox/clock/advance` on a gateway built like the local one (every part on one
//! adjustable sandbox clock), on both backends: advancing the clock makes a DAILY or WEEKLY
//! payout window due and the scheduler's next tick pays it; a pending charge passes its
//! expiry; bad bodies are 400 envelopes. And the route exists nowhere else.
//!
//! The clock starts on Monday 2031-02-10 10:30:00Z (07:30 in São Paulo, UTC−3 all year since
//! 2019), so every window is a known instant: the default DAILY 09:00 is 12:00Z.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use http::Method;
use pixgw_api::accounts::NewAccountCredentials;
use pixgw_api::openapi::documented_local_operations;
use pixgw_api::routes::{LOCAL_GATEWAY, LOCAL_ROUTES, ROUTES};
use pixgw_api::{ApiRequest, ApiResponse};
use pixgw_tests::bodies::marketplace;
use pixgw_tests::harness::{Backend, Gateway};
use pixgw_tests::on_both_backends;
use serde_json::{Value, json};

const ADVANCE: &str = "/api/sandbox/clock/advance";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("instant")
        .with_timezone(&Utc)
}

fn monday() -> DateTime<Utc> {
    at("2031-02-10T10:30:00Z")
}

async fn gateway(backend: Backend) -> Gateway {
    Gateway::start_sandbox(backend, monday()).await
}

async fn advance(gw: &Gateway, token: &str, seconds: i64) -> Value {
    let response = gw
        .post(ADVANCE, token, &json!({"seconds": seconds}), None)
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    response.body_json()
}

/// One tick of the payout scheduler, exactly what the local gateway's loop runs.
async fn tick(gw: &Gateway) -> pixgw_domain::flows::run_payout_windows::RunReport {
    gw.state.payout_scheduler.run_now().await.expect("tick")
}

async fn ok(gw: &Gateway, path: &str, token: &str) -> Value {
    let response = gw.get(path, token).await;
    assert_eq!(response.status, 200, "{path}: {:?}", response.body_json());
    response.body_json()
}

/// A paid seed-004 marketplace charge (R$ 140 + 40 + 10 to three recipients, scheduled),
/// its splits booked.
async fn paid_marketplace(gw: &Gateway, token: &str, external_id: &str) -> String {
    let id = gw.create_and_pay(token, &marketplace(external_id)).await;
    gw.run_pipeline().await;
    id
}

fn sign(credentials: &NewAccountCredentials, token: &str) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(credentials.crypto_token.as_bytes())
        .expect("any key length");
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn daily_window_comes_due_and_the_tick_pays(backend: Backend) {
    let gw = gateway(backend).await;
    let (credentials, token) = gw.merchant("Marketplace Ltda").await;
    let charge = paid_marketplace(&gw, &token, "MKT-DAILY").await;
    assert_eq!(tick(&gw).await.payouts, 0, "07:30 in São Paulo: not due");

    // One second before 09:00 São Paulo: still nothing.
    let moved = advance(&gw, &token, 5_399).await;
    assert_eq!(moved, json!({"now": "2031-02-10T11:59:59.000Z"}));
    assert_eq!(gw.clock_now(), at("2031-02-10T11:59:59Z"));
    assert_eq!(tick(&gw).await.payouts, 0);

    // Tokens age with the sandbox clock: the 10:30 token expired at 11:30.
    let stale = gw.post(ADVANCE, &token, &json!({"seconds": 1}), None).await;
    assert_eq!(stale.status, 401);
    assert_eq!(stale.body_json()["code"], "PUB_INVALID_TOKEN");
    let token = gw.token_for(&credentials).await;
    assert_eq!(
        advance(&gw, &token, 1).await,
        json!({"now": "2031-02-10T12:00:00.000Z"})
    );

    let report = tick(&gw).await;
    assert_eq!((report.accounts, report.payouts, report.splits), (1, 3, 3));
    assert_eq!(report.amount.to_string(), "190.00");
    assert_eq!(tick(&gw).await.payouts, 0, "the window is paid once");
    gw.run_pipeline().await;

    let paid = ok(&gw, "/api/payouts?status=PAID", &token).await;
    let payouts = paid["items"].as_array().expect("items");
    assert_eq!(payouts.len(), 3);
    assert!(
        payouts
            .iter()
            .all(|p| p["createdAt"] == "2031-02-10T12:00:00.000Z" && p["trigger"] == "SCHEDULED")
    );
    let view = ok(&gw, &format!("/api/pix/cash-in/{charge}"), &token).await;
    assert!(
        view["splits"]
            .as_array()
            .expect("splits")
            .iter()
            .all(|s| s["status"] == "PAID")
    );
    // The schedule moved on to the next day's window.
    let schedule = ok(&gw, "/api/account/payout-schedule", &token).await;
    assert_eq!(schedule["nextRunAt"], "2031-02-11T12:00:00.000Z");
}

async fn weekly_window_comes_due_and_the_tick_pays(backend: Backend) {
    let gw = gateway(backend).await;
    let (credentials, token) = gw.merchant("Marketplace Semanal").await;
    let signature = sign(&credentials, &token);
    let mut put = ApiRequest::new(Method::PUT, "/api/account/payout-schedule")
        .with_json(&json!({"frequency": "WEEKLY", "weekday": "FRIDAY", "time": "18:00"}))
        .with_header("authorization", &format!("Bearer {token}"));
    put = put.with_header("digitalsignature", &signature);
    let response = gw.call(put).await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    // Friday 18:00 in São Paulo = 21:00Z.
    assert_eq!(
        response.body_json()["nextRunAt"],
        "2031-02-14T21:00:00.000Z"
    );
    paid_marketplace(&gw, &token, "MKT-WEEKLY").await;

    // Thursday: not yet.
    advance(&gw, &token, 3 * 86_400).await;
    assert_eq!(tick(&gw).await.payouts, 0);
    let token = gw.token_for(&credentials).await;
    // Saturday: Friday's window has passed; the next tick pays it (once).
    let moved = advance(&gw, &token, 2 * 86_400).await;
    assert_eq!(moved["now"], "2031-02-15T10:30:00.000Z");
    let token = gw.token_for(&credentials).await;
    let report = tick(&gw).await;
    assert_eq!((report.payouts, report.splits), (3, 3));
    assert_eq!(report.amount.to_string(), "190.00");
    assert_eq!(tick(&gw).await.payouts, 0);
    gw.run_pipeline().await;
    let paid = ok(&gw, "/api/payouts?status=PAID", &token).await;
    assert_eq!(paid["items"].as_array().map(Vec::len), Some(3));
    let schedule = ok(&gw, "/api/account/payout-schedule", &token).await;
    assert_eq!(schedule["nextRunAt"], "2031-02-21T21:00:00.000Z");
}

async fn a_pending_charge_expires_when_the_clock_passes_it(backend: Backend) {
    let gw = gateway(backend).await;
    let (_, token) = gw.merchant("Loja").await;
    let create = |external_id: &'static str, seconds: u32| {
        let gw = &gw;
        let token = &token;
        async move {
            let body = json!({
                "transaction": {"value": 15.00, "description": "Pedido", "externalId": external_id, "expirationTime": seconds},
                "payer": {"fullName": "Maria Silva", "document": "12345678909"}
            });
            let response = gw.post("/api/pix/cash-in", token, &body, None).await;
            assert_eq!(response.status, 201, "{:?}", response.body_json());
            let charge = response.body_json();
            (
                charge["transactionId"].as_str().expect("id").to_owned(),
                charge["expirationDate"].clone(),
            )
        }
    };
    let (short, expires) = create("EXP-5MIN", 300).await;
    assert_eq!(expires, "2031-02-10T10:35:00.000Z");
    let (long, _) = create("EXP-1H", 3_600).await;

    advance(&gw, &token, 301).await;
    let pay = |id: String| {
        let gw = &gw;
        let token = &token;
        async move {
            gw.post(
                &format!("/api/sandbox/cash-in/{id}/pay"),
                token,
                &json!({}),
                None,
            )
            .await
        }
    };
    let refused = pay(short.clone()).await;
    assert_eq!(refused.status, 409, "{:?}", refused.body_json());
    assert_eq!(refused.body_json()["code"], "CHARGE_EXPIRED");
    let charge = ok(&gw, &format!("/api/pix/cash-in/{short}"), &token).await;
    assert!(charge.get("paidAt").is_none(), "{charge}");

    // The other one is still payable, and is paid at sandbox time.
    let paid = pay(long).await;
    assert_eq!(paid.status, 200, "{:?}", paid.body_json());
    let paid = paid.body_json();
    assert_eq!(paid["status"], "CONFIRMED");
    assert_eq!(paid["paidAt"], "2031-02-10T10:35:01.000Z");
}

fn assert_validation(response: &ApiResponse, errors: Value) {
    let body = response.body_json();
    assert_eq!(response.status, 400, "{body}");
    assert_eq!(body["statusCode"], 400);
    assert_eq!(body["code"], "PUB_VALIDATION_ERROR");
    assert_eq!(body["message"], "Validation failed");
    assert_eq!(body["userMessage"], "Dados da requisição inválidos");
    assert_eq!(body["path"], ADVANCE);
    assert_eq!(body["method"], "POST");
    assert_eq!(body["details"]["errors"], errors, "{body}");
}

async fn bad_bodies_are_400_envelopes(backend: Backend) {
    let gw = gateway(backend).await;
    let (_, token) = gw.merchant("Loja").await;
    let raw = |body: &str| {
        let mut request = ApiRequest::new(Method::POST, ADVANCE)
            .with_header("authorization", &format!("Bearer {token}"))
            .with_header("content-type", "application/json");
        request.body = bytes::Bytes::copy_from_slice(body.as_bytes());
        request
    };
    for (body, errors) in [
        ("{}", json!(["seconds should not be empty"])),
        (
            r#"{"seconds": null}"#,
            json!(["seconds should not be empty"]),
        ),
        (
            r#"{"seconds": 0, "minutes": 5}"#,
            json!([
                "property minutes should not exist",
                "seconds must not be less than 1"
            ]),
        ),
        (
            r#"{"seconds": -60}"#,
            json!(["seconds must not be less than 1"]),
        ),
        (
            r#"{"seconds": 31536001}"#,
            json!(["seconds must not be greater than 31536000"]),
        ),
        (
            r#"{"seconds": 1e400}"#,
            json!(["seconds must be an integer number"]),
        ),
        (
            r#"{"seconds": "60"}"#,
            json!(["seconds must be an integer number"]),
        ),
        (
            r#"{"seconds": 1.5}"#,
            json!(["seconds must be an integer number"]),
        ),
        ("[60]", json!(["body must be a JSON object"])),
    ] {
        assert_validation(&gw.call(raw(body)).await, errors);
    }
    let malformed = gw.call(raw(r#"{"seconds": 60"#)).await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.body_json()["code"], "PUB_MALFORMED_JSON");
    let empty = gw.call(raw("  ")).await;
    assert_eq!(empty.status, 400);
    assert_eq!(empty.body_json()["code"], "PUB_EMPTY_BODY");
    let anonymous = gw
        .call(ApiRequest::new(Method::POST, ADVANCE).with_json(&json!({"seconds": 60})))
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.body_json()["code"], "PUB_UNAUTHORIZED");
    let wrong_method = gw.get(ADVANCE, &token).await;
    assert_eq!(wrong_method.status, 405);
    // Nothing above moved the clock.
    assert_eq!(gw.clock_now(), monday());

    // An advance replayed with the same key moves the clock once; then the largest advance.
    let key = uuid::Uuid::new_v4().to_string();
    let once = gw
        .post(ADVANCE, &token, &json!({"seconds": 60}), Some(&key))
        .await;
    assert_eq!(once.status, 200);
    let replay = gw
        .post(ADVANCE, &token, &json!({"seconds": 60}), Some(&key))
        .await;
    assert_eq!(replay.body_json(), once.body_json());
    assert_eq!(
        replay
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert_eq!(gw.clock_now(), at("2031-02-10T10:31:00Z"));
    let moved = advance(&gw, &token, 31_536_000).await;
    assert_eq!(moved["now"], "2032-02-10T10:31:00.000Z");
}

/// Only a host with an adjustable clock serves the route: a gateway without one answers 404,
/// and the Lambda build has neither a function nor a template route for it, while the
/// OpenAPI document describes it as local-gateway only.
async fn the_route_exists_only_with_an_adjustable_clock(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (_, token) = gw.merchant("Loja").await;
    let response = gw
        .post(ADVANCE, &token, &json!({"seconds": 60}), None)
        .await;
    assert_eq!(response.status, 404, "{:?}", response.body_json());
    assert_eq!(response.body_json()["code"], "PUB_ROUTE_NOT_FOUND");
    assert!(gw.state.sandbox_clock.is_none());
}

#[test]
fn the_clock_route_is_local_gateway_only() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let template = std::fs::read_to_string(format!("{root}/template.yaml")).expect("template");
    let mut documented = Vec::new();
    for spec in LOCAL_ROUTES {
        assert_eq!(spec.function, LOCAL_GATEWAY);
        assert!(spec.access.sandbox_only());
        assert!(!ROUTES.iter().any(|r| r.path == spec.path));
        assert!(
            !template
                .lines()
                .any(|l| l.trim().strip_prefix("Path:").map(str::trim) == Some(spec.path)),
            "{} must not be deployed",
            spec.path
        );
        documented.push((spec.method.as_str().to_owned(), spec.path.to_owned()));
    }
    assert_eq!(documented, [("POST".to_owned(), ADVANCE.to_owned())]);
    assert_eq!(documented_local_operations(), documented);
    for entry in std::fs::read_dir(format!("{root}/functions/src/bin")).expect("bins") {
        let name = entry.expect("entry").file_name();
        assert!(
            !name.to_string_lossy().contains("clock"),
            "no Lambda binary for the sandbox clock: {name:?}"
        );
    }
}

on_both_backends!(
    daily_window_comes_due_and_the_tick_pays,
    weekly_window_comes_due_and_the_tick_pays,
    a_pending_charge_expires_when_the_clock_passes_it,
    bad_bodies_are_400_envelopes,
    the_route_exists_only_with_an_adjustable_clock,
);
