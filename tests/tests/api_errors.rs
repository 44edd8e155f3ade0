//! Bad input and bad credentials: always the seed-004 envelope with a 4xx, never a 500.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Duration;
use http::Method;
use pixgw_api::ApiRequest;
use pixgw_api::http_types::MAX_BODY_BYTES;
use pixgw_tests::harness::{Backend, Gateway};
use serde_json::{Value, json};

fn assert_envelope(body: &Value, status: u16, code: &str, path: &str, method: &str) {
    assert_eq!(body["statusCode"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["path"], path);
    assert_eq!(body["method"], method);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(body["userMessage"].as_str().is_some_and(|m| !m.is_empty()));
    let ts = body["timestamp"].as_str().expect("timestamp");
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok() && ts.ends_with('Z'));
}

fn raw(method: Method, path: &str, token: Option<&str>, body: &[u8]) -> ApiRequest {
    let mut request = ApiRequest::new(method, path).with_header("content-type", "application/json");
    request.body = bytes::Bytes::copy_from_slice(body);
    match token {
        Some(t) => request.with_header("authorization", &format!("Bearer {t}")),
        None => request,
    }
}

#[tokio::test]
async fn malformed_empty_oversized_and_mistyped_bodies_are_400_envelopes() {
    let gw = Gateway::start(Backend::Embedded).await;
    let (_, token) = gw.merchant("Errors").await;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "PUB_EMPTY_BODY"),
        (b"   ".to_vec(), "PUB_EMPTY_BODY"),
        (b"{\"transaction\": ".to_vec(), "PUB_MALFORMED_JSON"),
        (b"not json".to_vec(), "PUB_MALFORMED_JSON"),
        (vec![0xff, 0xfe, 0x00], "PUB_MALFORMED_JSON"),
        (b"[]".to_vec(), "PUB_VALIDATION_ERROR"),
        (
            b"{\"transaction\":{\"value\":\"49.90\"}}".to_vec(),
            "PUB_VALIDATION_ERROR",
        ),
        (vec![b' '; MAX_BODY_BYTES + 1], "PUB_PAYLOAD_TOO_LARGE"),
    ];
    for (body, code) in cases {
        let response = gw
            .call(raw(Method::POST, "/api/pix/cash-in", Some(&token), &body))
            .await;
        assert_eq!(response.status, 400, "{code}");
        assert_envelope(&response.body_json(), 400, code, "/api/pix/cash-in", "POST");
    }
    // Nothing was stored by any of them.
    let list = gw.get("/api/pix/cash-in", &token).await.body_json();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn validation_lists_every_error_with_portuguese_user_message() {
    let gw = Gateway::start(Backend::Embedded).await;
    let (_, token) = gw.merchant("Errors").await;
    let body = json!({
        "transaction": {"value": 0, "description": "", "externalId": "E", "generateQRCode": true},
        "payer": {"fullName": "Maria", "document": "12345678901"}
    });
    let response = gw.post("/api/pix/cash-in", &token, &body, None).await;
    let json = response.body_json();
    assert_envelope(
        &json,
        400,
        "PUB_VALIDATION_ERROR",
        "/api/pix/cash-in",
        "POST",
    );
    assert_eq!(json["message"], "Validation failed");
    assert_eq!(json["userMessage"], "Dados da requisição inválidos");
    let errors: Vec<&str> = json["details"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        errors.contains(&"transaction.value must not be less than 0.01"),
        "{errors:?}"
    );
    assert!(
        errors.contains(&"transaction.description should not be empty"),
        "{errors:?}"
    );
    assert!(
        errors.contains(&"property transaction.generateQRCode should not exist"),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("payer.document must be a valid CPF")),
        "{errors:?}"
    );
    assert_eq!(errors.len(), 4, "{errors:?}");
}

#[tokio::test]
async fn bearer_tokens_missing_forged_expired_or_other_algorithm_are_401() {
    let gw = Gateway::start(Backend::Embedded).await;
    let (credentials, token) = gw.merchant("Auth").await;
    let get = |t: Option<String>| {
        let mut request = ApiRequest::new(Method::GET, "/api/pix/cash-in");
        if let Some(t) = t {
            request = request.with_header("authorization", &t);
        }
        request
    };
    let missing = gw.call(get(None)).await;
    assert_envelope(
        &missing.body_json(),
        401,
        "PUB_UNAUTHORIZED",
        "/api/pix/cash-in",
        "GET",
    );
    assert_eq!(
        gw.call(get(Some("Basic abc".into()))).await.body_json()["code"],
        "PUB_UNAUTHORIZED"
    );

    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(
        gw.call(get(Some(format!("Bearer {forged}"))))
            .await
            .body_json()["code"],
        "PUB_INVALID_TOKEN"
    );

    // alg=none and HS512 with the same claims are refused.
    let parts: Vec<&str> = token.split('.').collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none_header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let none_token = format!("{none_header}.{}.", parts[1]);
    assert_eq!(
        gw.call(get(Some(format!("Bearer {none_token}"))))
            .await
            .body_json()["code"],
        "PUB_INVALID_TOKEN"
    );
    let hs512_header = b64.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
    let hs512_token = format!("{hs512_header}.{}.{}", parts[1], parts[2]);
    assert_eq!(
        gw.call(get(Some(format!("Bearer {hs512_token}"))))
            .await
            .body_json()["code"],
        "PUB_INVALID_TOKEN"
    );

    // A token signed by another gateway's key.
    let other_keys = pixgw_api::auth::AuthKeys::new(vec![1u8; 48], [2u8; 32]).unwrap();
    let account = pixgw_domain::pix::ids::AccountId::parse(&credentials.account_id).unwrap();
    let foreign = pixgw_api::auth::issue_token(&other_keys, &account, gw.clock_now()).unwrap();
    assert_eq!(
        gw.call(get(Some(format!("Bearer {}", foreign.access_token))))
            .await
            .body_json()["code"],
        "PUB_INVALID_TOKEN"
    );

    // Valid now, expired after one hour.
    assert_eq!(
        gw.call(get(Some(format!("Bearer {token}")))).await.status,
        200
    );
    gw.clock.advance(Duration::seconds(3599));
    assert_eq!(
        gw.call(get(Some(format!("Bearer {token}")))).await.status,
        200
    );
    gw.clock.advance(Duration::seconds(1));
    let expired = gw.call(get(Some(format!("Bearer {token}")))).await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.body_json()["code"], "PUB_INVALID_TOKEN");
}

#[tokio::test]
async fn token_endpoint_checks_credentials_and_body() {
    let gw = Gateway::start(Backend::Embedded).await;
    let credentials = gw.new_account("Tokens").await;
    let ask =
        |body: Value| gw.call(ApiRequest::new(Method::POST, "/api/auth/token").with_json(&body));
    let ok =
        ask(json!({"clientId": credentials.client_id, "clientSecret": credentials.client_secret}))
            .await;
    assert_eq!(ok.status, 200);
    let body = ok.body_json();
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["expiresIn"], 3600);
    assert!(body["accessToken"].as_str().unwrap().split('.').count() == 3);

    let wrong = ask(json!({"clientId": credentials.client_id, "clientSecret": "nope"})).await;
    assert_envelope(
        &wrong.body_json(),
        401,
        "PUB_INVALID_CREDENTIALS",
        "/api/auth/token",
        "POST",
    );
    let unknown = ask(json!({"clientId": "who", "clientSecret": credentials.client_secret})).await;
    assert_eq!(
        unknown.body_json(),
        {
            let mut w = wrong.body_json();
            w["timestamp"] = unknown.body_json()["timestamp"].clone();
            w
        },
        "unknown client and wrong secret are indistinguishable"
    );
    let bad = ask(json!({"clientId": 5, "clientSecretX": "a"})).await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.body_json()["details"]["errors"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_get_envelopes() {
    let gw = Gateway::start(Backend::Embedded).await;
    let not_found = gw.call(ApiRequest::new(Method::GET, "/api/nothing")).await;
    assert_envelope(
        &not_found.body_json(),
        404,
        "PUB_ROUTE_NOT_FOUND",
        "/api/nothing",
        "GET",
    );
    let wrong_method = gw
        .call(ApiRequest::new(Method::DELETE, "/api/pix/cash-in"))
        .await;
    assert_envelope(
        &wrong_method.body_json(),
        405,
        "PUB_METHOD_NOT_ALLOWED",
        "/api/pix/cash-in",
        "DELETE",
    );
    let openapi = gw
        .call(ApiRequest::new(Method::GET, "/api/openapi.json"))
        .await;
    assert_eq!(
        openapi.status, 401,
        "every /api route but the token needs a token"
    );
}
