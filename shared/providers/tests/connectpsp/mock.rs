//! A ConnectPSP that follows seeds 000–002: it issues JWTs from `POST /auth/token` and, on
//! every other endpoint, refuses calls without the documented headers (a valid Bearer token
//! it issued, the `ApplicationToken`, a UUID v4 `X-Idempotency-Key` on POSTs, and on refunds
//! and cash-outs a `DigitalSignature` equal to HMAC-SHA256 of that exact JWT with the crypto
//! token). Header complaints are 400s with a `MOCK_…` code, so they surface in test failures
//! as rejections naming what was missing.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use pixgw_domain::pix::clock::Clock;
use pixgw_providers::connectpsp::{ConnectPspConfig, ConnectPspProvider};
use pixgw_providers::http::RetryPolicy;
use pixgw_providers::secret::Secret;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const CLIENT_ID: &str = "client-123";
pub const CLIENT_SECRET: &str = "client-secret-456";
pub const APP_TOKEN: &str = "5f0c6a57-3a0e-4c1e-9d55-0c7d0b7f1a11";
pub const CRYPTO_TOKEN: &str = "crypto-token-789";
pub const WEBHOOK_TOKEN: &str = "whk_0123456789abcdef";
pub const WEBHOOK_URL: &str = "https://gw.example.com/webhooks/connectpsp";

/// A fixture file, verbatim.
pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/connectpsp/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

/// A clock the tests move by hand.
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn new(at: DateTime<Utc>) -> Arc<TestClock> {
        Arc::new(TestClock(Mutex::new(at)))
    }
    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

#[derive(Default)]
struct State {
    issued: Vec<String>,
    valid: HashSet<String>,
}

pub struct ConnectPspMock {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

/// What the token endpoint answers.
#[derive(Clone, Copy)]
pub struct TokenBehaviour {
    pub expires_in: Option<u64>,
    pub delay: Duration,
}

impl Default for TokenBehaviour {
    fn default() -> Self {
        TokenBehaviour {
            expires_in: Some(3600),
            delay: Duration::ZERO,
        }
    }
}

impl ConnectPspMock {
    pub async fn start() -> ConnectPspMock {
        ConnectPspMock::start_with(TokenBehaviour::default()).await
    }

    pub async fn start_with(token: TokenBehaviour) -> ConnectPspMock {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        let issuer = state.clone();
        Mock::given(method("POST"))
            .and(path("/auth/token"))
            .respond_with(move |req: &Request| {
                let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                if body["clientId"] != CLIENT_ID || body["clientSecret"] != CLIENT_SECRET {
                    return ResponseTemplate::new(401)
                        .set_body_json(json!({"code": "INVALID_CLIENT"}));
                }
                let mut state = issuer.lock().unwrap();
                let n = state.issued.len() + 1;
                let jwt = format!("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0b2tlbi17bn0ifQ.sig{n}");
                state.issued.push(jwt.clone());
                state.valid.insert(jwt.clone());
                let mut answer = json!({"accessToken": jwt});
                if let Some(expires_in) = token.expires_in {
                    answer["expiresIn"] = json!(expires_in);
                }
                ResponseTemplate::new(200)
                    .set_body_json(answer)
                    .set_delay(token.delay)
            })
            .mount(&server)
            .await;
        ConnectPspMock { server, state }
    }

    pub fn config(&self) -> ConnectPspConfig {
        ConnectPspConfig {
            base_url: self.server.uri(),
            client_id: CLIENT_ID.into(),
            client_secret: Secret::new(CLIENT_SECRET),
            application_token: Secret::new(APP_TOKEN),
            crypto_token: Secret::new(CRYPTO_TOKEN),
            webhook_url: WEBHOOK_URL.into(),
            webhook_token: Secret::new(WEBHOOK_TOKEN),
            timeout: Duration::from_secs(2),
            retry: RetryPolicy {
                attempts: 3,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(40),
            },
        }
    }

    pub fn provider(&self, clock: Arc<TestClock>) -> ConnectPspProvider {
        ConnectPspProvider::with_clock(self.config(), clock).unwrap()
    }

    /// ConnectPSP forgets every token it issued (they now get 401).
    pub fn revoke_tokens(&self) {
        self.state.lock().unwrap().valid.clear();
    }

    pub fn issued_tokens(&self) -> Vec<String> {
        self.state.lock().unwrap().issued.clone()
    }

    /// Serves `method path` behind the documented header checks.
    pub async fn serve<F>(&self, verb: &str, route: &str, signed: bool, answer: F)
    where
        F: Fn(&Request) -> ResponseTemplate + Send + Sync + 'static,
    {
        let checked = Authed {
            state: self.state.clone(),
            signed,
            answer,
        };
        Mock::given(method(verb))
            .and(path(route))
            .respond_with(checked)
            .mount(&self.server)
            .await;
    }

    /// Answers `method path` with `template` (no checks) the next `times` calls, ahead of
    /// anything served for it.
    pub async fn fail_next(&self, verb: &str, route: &str, times: u64, template: ResponseTemplate) {
        Mock::given(method(verb))
            .and(path(route))
            .respond_with(template)
            .up_to_n_times(times)
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    pub async fn requests_to(&self, route: &str) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == route)
            .collect()
    }

    pub async fn token_requests(&self) -> usize {
        self.requests_to("/auth/token").await.len()
    }
}

pub fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

pub fn body_json(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

/// What the seeds say `DigitalSignature` is, computed independently of the adapter.
pub fn expected_signature(jwt: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(CRYPTO_TOKEN.as_bytes()).unwrap();
    mac.update(jwt.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `X-Idempotency-Key` the brief prescribes for our key.
pub fn expected_idempotency_key(key: &str) -> String {
    let digest = Sha256::digest(format!("connectpsp:{key}").as_bytes());
    let bytes: [u8; 16] = digest[..16].try_into().unwrap();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

struct Authed<F> {
    state: Arc<Mutex<State>>,
    signed: bool,
    answer: F,
}

fn complaint(status: u16, code: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"code": code, "message": code}))
}

impl<F> Respond for Authed<F>
where
    F: Fn(&Request) -> ResponseTemplate + Send + Sync + 'static,
{
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let jwt = header(request, "Authorization").and_then(|v| v.strip_prefix("Bearer "));
        let Some(jwt) = jwt.filter(|j| self.state.lock().unwrap().valid.contains(*j)) else {
            return complaint(401, "UNAUTHORIZED");
        };
        if header(request, "ApplicationToken") != Some(APP_TOKEN) {
            return complaint(400, "MOCK_APPLICATION_TOKEN_MISSING");
        }
        if request.method.as_str() == "POST" {
            let key =
                header(request, "X-Idempotency-Key").and_then(|k| uuid::Uuid::parse_str(k).ok());
            if key.is_none_or(|k| k.get_version_num() != 4) {
                return complaint(400, "MOCK_IDEMPOTENCY_KEY_NOT_UUID_V4");
            }
        }
        if self.signed
            && header(request, "DigitalSignature") != Some(expected_signature(jwt).as_str())
        {
            return complaint(400, "MOCK_DIGITAL_SIGNATURE_INVALID");
        }
        (self.answer)(request)
    }
}
