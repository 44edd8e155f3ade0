//! Fault injection at the HTTP layer, in front of a real DynamoDB Local.
//!
//! DynamoDB Local serialises every write, so it never answers `TransactionConflict` — which
//! real DynamoDB does under concurrent transactions on one item. This wraps the SDK's own HTTP
//! client and, for chosen operations, answers with DynamoDB's exact wire-format error instead
//! of forwarding the request; everything else reaches DynamoDB Local untouched. The SDK's real
//! deserialiser turns the injected bytes into the error the adapter must handle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;

const ERROR_PREFIX: &str = "com.amazonaws.dynamodb.v20120810#";

#[derive(Debug, Clone)]
struct Fault {
    operation: &'static str,
    /// `None` = every call from now on.
    remaining: Option<usize>,
    status: u16,
    body: String,
}

#[derive(Debug, Default)]
struct State {
    faults: Vec<Fault>,
    injected: HashMap<String, usize>,
    forwarded: HashMap<String, usize>,
}

/// Shared handle: arm faults, read counters.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<State>>);

impl Faults {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn arm(&self, operation: &'static str, times: Option<usize>, body: String) {
        self.answer(operation, times, 400, body);
    }

    /// `operation` is answered with `status` and `body` (JSON) instead of being forwarded:
    /// a success the emulator cannot produce (e.g. a closed stream shard), or any error.
    pub fn answer(&self, operation: &'static str, times: Option<usize>, status: u16, body: String) {
        self.state().faults.push(Fault {
            operation,
            remaining: times,
            status,
            body,
        });
    }

    /// `TransactWriteItems` cancelled with these per-item reason codes.
    pub fn cancel_transactions(&self, times: Option<usize>, reasons: &[&str]) {
        let reasons: Vec<String> = reasons
            .iter()
            .map(|code| format!(r#"{{"Code":"{code}","Message":"injected"}}"#))
            .collect();
        let body = format!(
            r#"{{"__type":"{ERROR_PREFIX}TransactionCanceledException","Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [{}]","CancellationReasons":[{}]}}"#,
            reasons.len(),
            reasons.join(",")
        );
        self.arm("TransactWriteItems", times, body);
    }

    /// `operation` fails with the error `code` (e.g. `TransactionConflictException`).
    pub fn fail(&self, operation: &'static str, times: Option<usize>, code: &str) {
        let body = format!(r#"{{"__type":"{ERROR_PREFIX}{code}","message":"injected {code}"}}"#);
        self.arm(operation, times, body);
    }

    pub fn clear(&self) {
        self.state().faults.clear();
    }

    pub fn injected(&self, operation: &str) -> usize {
        self.state().injected.get(operation).copied().unwrap_or(0)
    }

    pub fn forwarded(&self, operation: &str) -> usize {
        self.state().forwarded.get(operation).copied().unwrap_or(0)
    }

    /// The status and body to answer `operation` with instead of forwarding it, if a fault is
    /// armed.
    fn take(&self, operation: &str) -> Option<(u16, String)> {
        let mut state = self.state();
        let index = state
            .faults
            .iter()
            .position(|f| f.operation == operation && f.remaining != Some(0))?;
        let fault = &mut state.faults[index];
        if let Some(n) = fault.remaining.as_mut() {
            *n -= 1;
        }
        let answer = (fault.status, fault.body.clone());
        *state.injected.entry(operation.to_owned()).or_default() += 1;
        Some(answer)
    }
}

#[derive(Debug)]
struct Injector {
    inner: SharedHttpClient,
    faults: Faults,
}

#[derive(Debug)]
struct InjectingConnector {
    inner: SharedHttpConnector,
    faults: Faults,
}

impl HttpClient for Injector {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(InjectingConnector {
            inner: self.inner.http_connector(settings, components),
            faults: self.faults.clone(),
        })
    }
}

impl HttpConnector for InjectingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        // `X-Amz-Target: DynamoDB_20120810.TransactWriteItems` (Streams:
        // `DynamoDBStreams_20120810.GetRecords`)
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.split('.').nth(1))
            .unwrap_or_default()
            .to_owned();
        if let Some((status, body)) = self.faults.take(&operation) {
            let status = StatusCode::try_from(status).expect("status");
            let mut response = Response::new(status, SdkBody::from(body));
            response
                .headers_mut()
                .insert("content-type", "application/x-amz-json-1.0");
            return HttpConnectorFuture::ready(Ok(response));
        }
        *self.faults.state().forwarded.entry(operation).or_default() += 1;
        self.inner.call(request)
    }
}

/// A client to `endpoint` whose requests pass through `faults`.
pub async fn faulty_client(endpoint: &str, faults: &Faults) -> Client {
    Client::new(&faulty_config(endpoint, faults).await)
}

/// An SDK configuration whose clients (DynamoDB, DynamoDB Streams) send through `faults`.
pub async fn faulty_config(endpoint: &str, faults: &Faults) -> SdkConfig {
    let inner = aws_smithy_http_client::Builder::new().build_http();
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .http_client(Injector {
            inner,
            faults: faults.clone(),
        })
        .load()
        .await
}
