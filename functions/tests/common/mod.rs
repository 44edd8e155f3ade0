//! What the Lambda-level tests share: the state the functions build (on an embedded store and
//! the sandbox provider), API Gateway HTTP API payload v2.0 events as Lambda receives them, and
//! reading the JSON a handler answered.

// Each test binary uses its own subset.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use pixgw_api::AppState;
use pixgw_api::auth::AuthKeys;
use pixgw_api::state::{SandboxConfig, SandboxDelivery};
use pixgw_domain::pix::clock::{Clock, SystemClock};
use pixgw_providers::sandbox::SandboxProvider;
use pixgw_store_embedded::EmbeddedStore;
use serde_json::{Value, json};

/// The API state a sandbox deployment's functions build, on an embedded store in `dir`
/// (returned too, for tests that read it directly) and the system clock.
pub fn sandbox_state(dir: &Path) -> (Arc<EmbeddedStore>, AppState) {
    let store = Arc::new(EmbeddedStore::open(dir).expect("store"));
    let keys = AuthKeys::new(vec![3u8; 48], [4u8; 32]).expect("keys");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let provider = SandboxProvider::new(
        "sandbox-pix.example.com",
        clock.clone(),
        keys.sandbox_webhook_secret().expect("a data key"),
    )
    .expect("host");
    let sandbox = SandboxConfig {
        provider: provider.clone(),
        delivery: SandboxDelivery::InProcess,
    };
    let state = AppState::new(
        store.clone(),
        Arc::new(provider),
        clock,
        keys,
        Some(sandbox),
    );
    (store, state)
}

/// An event for `method raw_path?raw_query` with `headers` and an optional body.
pub fn event(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: Value,
    body: Option<&str>,
) -> lambda_http::Request {
    event_with_params(method, raw_path, raw_query, headers, body, Value::Null)
}

/// [`event`] with the `pathParameters` API Gateway extracted from the route.
pub fn event_with_params(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: Value,
    body: Option<&str>,
    params: Value,
) -> lambda_http::Request {
    let event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {raw_path}"),
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.sa-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.1", "userAgent": "test"},
            "requestId": "id",
            "routeKey": format!("{method} {raw_path}"),
            "stage": "$default",
            "time": "12/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390u64
        },
        "pathParameters": params,
        "body": body,
        "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).expect("valid API Gateway v2 event")
}

pub fn body_json(response: &lambda_http::Response<lambda_http::Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).expect("JSON body")
}
