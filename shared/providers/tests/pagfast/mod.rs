//! A wiremock PagFast that follows seed 003: it wants `Authorization: Bearer <token>` (else the
//! seed's 401 body) and answers with the seed's own payloads, kept verbatim in
//! `tests/fixtures/pagfast/`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use pixgw_domain::pix::document::TaxDocument;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::provider::ProviderChargeRequest;
use pixgw_providers::http::RetryPolicy;
use pixgw_providers::pagfast::{CASHIN_PATH, PagFastConfig, PagFastProvider};
use pixgw_providers::secret::Secret;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

pub const TOKEN: &str = "pf-test-token";
pub const HOOK_HEADER: &str = "X-PagFast-Token";
pub const HOOK_VALUE: &str = "whk-secret-123";
pub const HOOK_URL: &str = "https://gateway.example.com/webhooks/pagfast";
/// The seed's test CPF and payer name (scenario 1).
pub const SEED_CPF: &str = "13600642650";
pub const SEED_NAME: &str = "CHRISTINE IGNACIO";

pub fn fixture_text(name: &str) -> String {
    let file = format!(
        "{}/tests/fixtures/pagfast/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"))
}

pub fn fixture(name: &str) -> Value {
    serde_json::from_str(&fixture_text(name)).unwrap()
}

/// A seed response with our order id in place of the seed's `in-1414870875-…`, which is not a
/// `TransactionId` (32 lowercase hex) and so cannot be ours.
pub fn response_for(name: &str, order_id: &TransactionId) -> Value {
    let mut value = fixture(name);
    value["data"]["transaction"]["orderId"] = Value::from(order_id.as_str());
    value
}

pub fn config(base_url: &str) -> PagFastConfig {
    PagFastConfig {
        base_url: base_url.to_owned(),
        api_token: Secret::new(TOKEN),
        webhook_url: HOOK_URL.to_owned(),
        webhook_header_name: HOOK_HEADER.to_owned(),
        webhook_header_value: Secret::new(HOOK_VALUE),
        timeout: Duration::from_millis(300),
        retry: RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
        },
    }
}

pub fn provider(server: &MockServer) -> PagFastProvider {
    PagFastProvider::new(config(&server.uri())).unwrap()
}

/// A R$ 50.00 charge for the seed's payer and description.
pub fn charge(document: &str) -> ProviderChargeRequest {
    let created_at = Utc.with_ymd_and_hms(2026, 3, 10, 14, 0, 0).unwrap();
    let transaction_id = TransactionId::generate();
    ProviderChargeRequest {
        idempotency_key: format!("charge:{transaction_id}"),
        transaction_id,
        amount: Money::from_cents(5000),
        description: "This is a test order.".to_owned(),
        payer_name: SEED_NAME.into(),
        payer_document: TaxDocument::parse(document).unwrap(),
        created_at,
        expires_at: created_at + chrono::Duration::hours(24),
        merchant_name: "Loja Teste".to_owned(),
        merchant_city: "Sao Paulo".to_owned(),
    }
}

/// Starts the server with the seed's 401 for any call without our bearer token.
pub async fn pagfast() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CASHIN_PATH))
        .and(NotBearer)
        .respond_with(json(401, fixture("authentication_error_401.json")))
        .mount(&server)
        .await;
    server
}

/// An authenticated cash-in carrying the seed's three objects, shaped like `shape`.
pub fn cash_in(shape: Shape) -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path(CASHIN_PATH))
        .and(wiremock::matchers::header(
            "authorization",
            format!("Bearer {TOKEN}").as_str(),
        ))
        .and(shape)
}

pub fn json(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

pub async fn bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

struct NotBearer;

impl Match for NotBearer {
    fn matches(&self, request: &Request) -> bool {
        let expected = format!("Bearer {TOKEN}");
        request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            != Some(expected.as_str())
    }
}

/// Matches a JSON body with the key structure of a seed request: every path of the fixture
/// present with the same JSON type, and no path beyond the fixture's and `extra`.
pub struct Shape {
    fixture: BTreeMap<String, &'static str>,
    extra: Vec<String>,
}

impl Shape {
    pub fn of(fixture_name: &str, extra: &[&str]) -> Shape {
        let mut paths = BTreeMap::new();
        collect(&fixture(fixture_name), String::new(), &mut paths);
        Shape {
            fixture: paths,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl Match for Shape {
    fn matches(&self, request: &Request) -> bool {
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return false;
        };
        let mut paths = BTreeMap::new();
        collect(&body, String::new(), &mut paths);
        let has_all = self.fixture.iter().all(|(p, t)| paths.get(p) == Some(t));
        let nothing_else = paths
            .keys()
            .all(|p| self.fixture.contains_key(p) || self.extra.contains(p));
        has_all && nothing_else
    }
}

fn collect(value: &Value, prefix: String, out: &mut BTreeMap<String, &'static str>) {
    let kind = match value {
        Value::Object(map) => {
            for (k, v) in map {
                collect(v, format!("{prefix}/{k}"), out);
            }
            "object"
        }
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::Array(_) => "array",
        Value::Null => "null",
    };
    if !prefix.is_empty() {
        out.insert(prefix, kind);
    }
}
