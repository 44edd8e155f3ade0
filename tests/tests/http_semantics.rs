//! What HTTP clients, proxies and caches rely on, through the router every host uses: `Allow`
//! on every 405 (RFC 9110 §15.5.6), a `WWW-Authenticate` challenge on every 401 (RFC 9110
//! §15.5.2, RFC 6750 §3), `Cache-Control: no-store` on every response that shows a credential
//! or secret (RFC 6749 §5.1), the `Bearer` scheme in any case (RFC 9110 §11.1), and listing
//! cursors: every value `openapi.json` allows is a page, never a 400.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use hmac::{Hmac, Mac};
use http::{Method, header};
use pixgw_api::accounts::NewAccountCredentials;
use pixgw_api::openapi::{CURSOR_PARAMETERS, query_parameter_schema};
use pixgw_api::routes::{Access, Route, all_routes};
use pixgw_api::{ApiRequest, ApiResponse, dispatch_route};
use pixgw_tests::bodies::immediate_split;
use pixgw_tests::harness::{Backend, Gateway};
use pixgw_tests::on_both_backends;
use proptest::strategy::{Strategy, ValueTree};
use proptest::string::string_regex;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

/// Every method a client may try.
const METHODS: [Method; 8] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
    Method::TRACE,
];

/// A concrete path for a route template (any non-empty segment routes).
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|part| if part.starts_with('{') { "x1" } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

fn allow_header(response: &ApiResponse) -> BTreeSet<String> {
    response
        .headers
        .get(header::ALLOW)
        .unwrap_or_else(|| panic!("405 without Allow: {:?}", response.body_json()))
        .to_str()
        .expect("ASCII")
        .split(',')
        .map(|m| m.trim().to_owned())
        .collect()
}

fn challenge(response: &ApiResponse) -> String {
    response
        .headers
        .get(header::WWW_AUTHENTICATE)
        .unwrap_or_else(|| panic!("401 without WWW-Authenticate: {:?}", response.body_json()))
        .to_str()
        .expect("ASCII")
        .to_owned()
}

/// `hex(HMAC-SHA256(key = cryptoToken, message = bearer token))`, as a client computes it.
fn sign(credentials: &NewAccountCredentials, token: &str) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(credentials.crypto_token.as_bytes())
        .expect("any key length");
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn request(method: Method, path: &str, authorization: Option<&str>) -> ApiRequest {
    let request = ApiRequest::from_uri(method, path);
    match authorization {
        Some(value) => request.with_header("authorization", value),
        None => request,
    }
}

#[tokio::test]
async fn every_405_lists_the_methods_its_path_accepts() {
    // The sandbox gateway serves every route, the local-only ones included.
    let gw = Gateway::start_sandbox(Backend::Embedded, chrono::Utc::now()).await;
    let templates: BTreeSet<&str> = all_routes().map(|spec| spec.path).collect();
    for template in templates {
        let expected: BTreeSet<String> = all_routes()
            .filter(|spec| spec.path == template)
            .map(|spec| spec.method.to_string())
            .collect();
        let path = concrete(template);
        for method in METHODS {
            if expected.contains(method.as_str()) {
                continue;
            }
            let response = gw.call(request(method.clone(), &path, None)).await;
            assert_eq!(response.status, 405, "{method} {path}");
            assert_eq!(response.body_json()["code"], "PUB_METHOD_NOT_ALLOWED");
            assert_eq!(allow_header(&response), expected, "{method} {path}");
        }
    }

    // A single-route Lambda function lists the path's other methods too: they are other
    // functions behind the same API.
    let response = dispatch_route(
        &gw.state,
        Route::WebhookEndpointGet,
        request(Method::DELETE, "/api/account/webhook", None),
    )
    .await;
    assert_eq!(response.status, 405);
    assert_eq!(
        allow_header(&response),
        BTreeSet::from(["GET".to_owned(), "PUT".to_owned()])
    );
}

#[tokio::test]
async fn every_401_carries_a_challenge() {
    let gw = Gateway::start_sandbox(Backend::Embedded, chrono::Utc::now()).await;
    let (credentials, token) = gw.merchant("Desafios").await;
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });

    for spec in all_routes() {
        let path = concrete(spec.path);
        let needs_token = matches!(
            spec.access,
            Access::Bearer | Access::BearerSigned | Access::SandboxBearer
        );
        if !needs_token {
            continue;
        }
        let what = format!("{} {path}", spec.method);
        // No token, or no bearer token: a bare challenge (RFC 6750 §3).
        for authorization in [None, Some("Basic dXNlcjpwYXNz"), Some("Bearer ")] {
            let response = gw
                .call(request(spec.method.clone(), &path, authorization))
                .await;
            assert_eq!(response.status, 401, "{what} {authorization:?}");
            assert_eq!(response.body_json()["code"], "PUB_UNAUTHORIZED", "{what}");
            let value = challenge(&response);
            assert!(value.starts_with("Bearer "), "{what}: {value}");
            assert!(!value.contains("error="), "{what}: {value}");
        }
        // A token that is not valid: invalid_token.
        let response = gw
            .call(request(
                spec.method.clone(),
                &path,
                Some(&format!("Bearer {forged}")),
            ))
            .await;
        assert_eq!(response.status, 401, "{what}");
        assert_eq!(response.body_json()["code"], "PUB_INVALID_TOKEN", "{what}");
        let value = challenge(&response);
        assert!(value.starts_with("Bearer "), "{what}: {value}");
        assert!(
            value.contains(r#"error="invalid_token""#),
            "{what}: {value}"
        );

        // A valid token without its DigitalSignature, or with a wrong one: still Bearer, and
        // no invalid_token (the token is fine; the envelope's code says what is missing).
        if spec.access == Access::BearerSigned {
            let bearer = format!("Bearer {token}");
            let unsigned = request(spec.method.clone(), &path, Some(&bearer));
            let wrong = unsigned
                .clone()
                .with_header("digitalsignature", &"00".repeat(32));
            for (request, code) in [
                (unsigned, "PUB_SIGNATURE_REQUIRED"),
                (wrong, "PUB_INVALID_SIGNATURE"),
            ] {
                let response = gw.call(request).await;
                assert_eq!(response.status, 401, "{what}");
                assert_eq!(response.body_json()["code"], code, "{what}");
                let value = challenge(&response);
                assert!(value.starts_with("Bearer "), "{what}: {value}");
                assert!(!value.contains("error="), "{what}: {value}");
            }
        }
    }

    // The token endpoint refusing credentials.
    let response = gw
        .call(
            ApiRequest::new(Method::POST, "/api/auth/token").with_json(&json!({
                "clientId": credentials.client_id,
                "clientSecret": "wrong",
            })),
        )
        .await;
    assert_eq!(response.status, 401);
    assert_eq!(response.body_json()["code"], "PUB_INVALID_CREDENTIALS");
    assert!(challenge(&response).starts_with("Bearer "));

    // A provider webhook that is not signed: a challenge, but not Bearer (the route takes no
    // bearer token).
    let now = gw.clock_now().timestamp().to_string();
    let webhook = ApiRequest::new(Method::POST, "/webhooks/provider/sandbox")
        .with_json(&json!({"eventId": "evt_1", "eventType": "CASHIN_PAID"}))
        .with_header("webhook-id", "evt_1")
        .with_header("webhook-timestamp", &now)
        .with_header("webhook-signature", "v1,AAAA");
    let response = gw.call(webhook).await;
    assert_eq!(response.status, 401, "{:?}", response.body_json());
    assert_eq!(
        response.body_json()["code"],
        "PROVIDER_WEBHOOK_UNAUTHENTICATED"
    );
    assert!(challenge(&response).starts_with("Signature "));

    // Nothing else carries one.
    let ok = gw.get("/api/account/balance", &token).await;
    assert_eq!(ok.status, 200);
    assert!(!ok.headers.contains_key(header::WWW_AUTHENTICATE));
}

fn assert_not_cacheable(response: &ApiResponse, what: &str) {
    assert_eq!(
        response
            .headers
            .get(header::CACHE_CONTROL)
            .map(|v| v.as_bytes()),
        Some(&b"no-store"[..]),
        "{what}: {:?}",
        response.headers
    );
    assert_eq!(
        response.headers.get(header::PRAGMA).map(|v| v.as_bytes()),
        Some(&b"no-cache"[..]),
        "{what}"
    );
}

#[tokio::test]
async fn responses_with_a_credential_or_secret_are_never_cached() {
    let gw = Gateway::start(Backend::Embedded)
        .await
        .with_webhook_hosts(&[("hooks.merchant.example", &["93.184.216.34"])]);
    let credentials = gw.new_account("Segredos").await;

    // The bearer token, and the token endpoint's refusal.
    let ask = |secret: &str| {
        ApiRequest::new(Method::POST, "/api/auth/token").with_json(&json!({
            "clientId": credentials.client_id,
            "clientSecret": secret,
        }))
    };
    let issued = gw.call(ask(&credentials.client_secret)).await;
    assert_eq!(issued.status, 200);
    assert_not_cacheable(&issued, "token");
    assert_not_cacheable(&gw.call(ask("wrong")).await, "token refused");
    let token = issued.body_json()["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();

    // The webhook signing secret: on creation and on rotation, and on their idempotent
    // replays (the stored response shows the secret again).
    let body = json!({"url": "https://hooks.merchant.example/pix"});
    let key = "5b2e8f4e-8b8c-4a4e-9a53-3f1f6f0f9a11";
    for attempt in ["created", "replayed"] {
        let response = gw
            .put("/api/account/webhook", &token, &body, Some(key))
            .await;
        assert_eq!(response.status, 201, "{:?}", response.body_json());
        assert!(response.body_json()["secret"].is_string());
        assert_not_cacheable(&response, attempt);
    }
    let key = "0c6e2b9a-61a4-4b8e-8f25-7f0d2c1e5b33";
    for attempt in ["rotated", "rotation replayed"] {
        let response = gw
            .post(
                "/api/account/webhook/rotate-secret",
                &token,
                &json!({}),
                Some(key),
            )
            .await;
        assert_eq!(response.status, 200, "{:?}", response.body_json());
        assert!(response.body_json()["secret"].is_string());
        assert_not_cacheable(&response, attempt);
    }

    // Responses without secrets stay ordinary.
    let balance = gw.get("/api/account/balance", &token).await;
    assert_eq!(balance.status, 200);
    assert!(!balance.headers.contains_key(header::CACHE_CONTROL));
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let gw = Gateway::start(Backend::Embedded).await;
    let (credentials, token) = gw.merchant("Maiusculas").await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let authorization = format!("{scheme} {token}");
        let response = gw
            .call(request(
                Method::GET,
                "/api/account/balance",
                Some(&authorization),
            ))
            .await;
        assert_eq!(response.status, 200, "{scheme}: {:?}", response.body_json());

        // Signed calls too: the signature covers the token, not the scheme's spelling.
        let cash_out = request(Method::POST, "/api/pix/cash-out", Some(&authorization))
            .with_header("digitalsignature", &sign(&credentials, &token))
            .with_json(&json!({
                "value": 1.00,
                "pixKey": "financeiro@lojaexemplo.com.br",
                "pixKeyType": "EMAIL",
                "description": "Saque",
                "externalId": format!("CO-{scheme}"),
            }));
        let response = gw.call(cash_out).await;
        // Authenticated: refused for the (empty) balance, not for the credentials.
        assert_eq!(
            response.body_json()["code"],
            "INSUFFICIENT_BALANCE",
            "{scheme}: {:?}",
            response.body_json()
        );
    }
}

/// Cursors generated from each listing's documented pattern, a fixed sequence per run.
fn documented_cursors(path: &str, name: &str, count: usize) -> Vec<String> {
    let schema = query_parameter_schema(path, name).expect("documented");
    let pattern = schema["pattern"].as_str().expect("pattern");
    let unanchored = pattern.trim_start_matches('^').trim_end_matches('$');
    let strategy = string_regex(unanchored).expect("generator");
    let mut runner = TestRunner::deterministic();
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).expect("value").current())
        .collect()
}

/// A paid charge whose immediate split the pipeline paid out: a charge, a payout with a
/// manifest, and statement entries to page through. Returns the payout's id.
async fn something_to_list(gw: &Gateway, token: &str) -> String {
    gw.create_and_pay(token, &immediate_split("CUR-1")).await;
    gw.run_pipeline().await;
    let payouts = gw.get("/api/payouts", token).await.body_json();
    payouts["items"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a payout: {payouts}"))
        .to_owned()
}

async fn every_documented_cursor_gets_a_page(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (_, token) = gw.merchant("Cursores").await;
    let payout = something_to_list(&gw, &token).await;
    for cursor in CURSOR_PARAMETERS {
        let path = cursor.path.replace("{payoutId}", &payout);
        for value in documented_cursors(cursor.path, cursor.name, 16) {
            // The patterns use URL-safe characters only: no escaping needed.
            let query = format!("{path}?{}={value}", cursor.name);
            let response = gw.get(&query, &token).await;
            let body: Value = response.body_json();
            assert_eq!(response.status, 200, "{query}: {body}");
        }
    }
}

on_both_backends!(every_documented_cursor_gets_a_page);
