//! The Lambda glue without a Lambda runtime: real API Gateway HTTP API (v2) events in, the
//! function's responses out.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{body_json, event_with_params, sandbox_state};

use pixgw_api::Route;
use pixgw_api::accounts::create_account;
use pixgw_domain::pix::clock::{Clock, SystemClock};
use serde_json::json;

#[tokio::test]
async fn token_create_get_and_list_through_lambda_events() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, state) = sandbox_state(dir.path());
    let account = create_account(
        &state.store,
        &state.keys,
        "Lambda Ltda",
        "RECIFE",
        SystemClock.now(),
    )
    .await
    .expect("account");

    let token_body =
        json!({"clientId": account.client_id, "clientSecret": account.client_secret}).to_string();
    let response = pixgw_functions::handle(
        &state,
        Route::AuthToken,
        event_with_params(
            "POST",
            "/api/auth/token",
            "",
            json!({"content-type": "application/json"}),
            Some(&token_body),
            json!(null),
        ),
    )
    .await;
    assert_eq!(response.status(), 200);
    let token = body_json(&response)["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let auth =
        json!({"content-type": "application/json", "authorization": format!("Bearer {token}")});

    let charge_body = json!({
        "transaction": {"value": 49.90, "description": "Assinatura", "externalId": "SUB-1"},
        "payer": {"fullName": "Maria Silva", "document": "12345678909"}
    })
    .to_string();
    let created = pixgw_functions::handle(
        &state,
        Route::CashInCreate,
        event_with_params(
            "POST",
            "/api/pix/cash-in",
            "",
            auth.clone(),
            Some(&charge_body),
            json!(null),
        ),
    )
    .await;
    assert_eq!(created.status(), 201);
    assert_eq!(
        created.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let charge = body_json(&created);
    let id = charge["transactionId"].as_str().expect("id");
    assert!(
        charge["pixCode"]
            .as_str()
            .expect("pixCode")
            .contains("sandbox-pix.example.com/pix/loc/")
    );

    let path = format!("/api/pix/cash-in/{id}");
    let fetched = pixgw_functions::handle(
        &state,
        Route::CashInGet,
        event_with_params(
            "GET",
            &path,
            "",
            auth.clone(),
            None,
            json!({"transactionId": id}),
        ),
    )
    .await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(body_json(&fetched), charge);

    let listed = pixgw_functions::handle(
        &state,
        Route::CashInList,
        event_with_params(
            "GET",
            "/api/pix/cash-in",
            "externalId=SUB-1&limit=5",
            auth.clone(),
            None,
            json!(null),
        ),
    )
    .await;
    assert_eq!(listed.status(), 200);
    assert_eq!(body_json(&listed)["items"][0]["transactionId"], id);

    // A function only answers its own route.
    let wrong = pixgw_functions::handle(
        &state,
        Route::CashInGet,
        event_with_params("GET", "/api/pix/cash-in", "", auth, None, json!(null)),
    )
    .await;
    assert_eq!(wrong.status(), 404);
    assert_eq!(body_json(&wrong)["code"], "PUB_ROUTE_NOT_FOUND");
}

#[tokio::test]
async fn malformed_body_through_lambda_is_a_400_envelope() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, state) = sandbox_state(dir.path());
    let response = pixgw_functions::handle(
        &state,
        Route::AuthToken,
        event_with_params(
            "POST",
            "/api/auth/token",
            "",
            json!({"content-type": "application/json"}),
            Some("{oops"),
            json!(null),
        ),
    )
    .await;
    assert_eq!(response.status(), 400);
    let body = body_json(&response);
    assert_eq!(body["code"], "PUB_MALFORMED_JSON");
    assert_eq!(body["path"], "/api/auth/token");
}
