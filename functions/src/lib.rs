//! Glue between AWS Lambda (`lambda_http`) and the host-neutral API in `pixgw-api`.
//!
//! Each HTTP binary in `src/bin/` is one API route: it calls [`serve`] with its [`Route`]. All the
//! work happens in `pixgw-api`; this crate only converts events and builds the state from the
//! environment once per cold start.
//!
//! Environment (set by `template.yaml`):
//! - `PIXGW_TABLE` — the DynamoDB table.
//! - `PIXGW_JWT_SECRET`, `PIXGW_DATA_KEY` — hex secrets (resolved from Secrets Manager).
//! - `PIXGW_SANDBOX` — `true` enables the sandbox provider and sandbox-only routes.
//! - `PIXGW_PUBLIC_HOST` — host serving `/pix/loc/…` for sandbox BR Codes.
//! - `DYNAMODB_ENDPOINT` — optional, to point at DynamoDB Local (`sam local`).
//!
//! Queue consumers (the webhook dispatcher among them) and the outbox relay live in
//! [`pipeline`]; the payout scheduler and the charge-expiry sweeper (both invoked by EventBridge
//! Scheduler) in [`scheduler`] and [`expiry`].

pub mod expiry;
pub mod pipeline;
pub mod scheduler;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use lambda_http::{Body, Request, Response, service_fn};
use pixgw_api::auth::AuthKeys;
use pixgw_api::state::{SandboxConfig, SandboxDelivery};
use pixgw_api::{ApiRequest, ApiResponse, AppState, Route, dispatch_route};
use pixgw_domain::ports::{DynStore, PixProvider, SystemClock};
use pixgw_providers::sandbox::SandboxProvider;
use pixgw_store_dynamodb::DynamoStore;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("only the sandbox provider exists in this build; set PIXGW_SANDBOX=true")]
    NoProvider,
}

fn env(name: &'static str) -> Result<String, BootstrapError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or(BootstrapError::Missing(name))
}

/// Builds the application state from the Lambda environment.
pub async fn bootstrap() -> Result<AppState, BootstrapError> {
    let keys = AuthKeys::from_hex(&env("PIXGW_JWT_SECRET")?, &env("PIXGW_DATA_KEY")?)
        .map_err(|e| BootstrapError::Invalid(e.to_string()))?;
    let sandbox = std::env::var("PIXGW_SANDBOX").is_ok_and(|v| v == "true");
    let store: DynStore = Arc::new(
        DynamoStore::from_env()
            .await
            .map_err(|e| BootstrapError::Invalid(e.to_string()))?,
    );
    if !sandbox {
        return Err(BootstrapError::NoProvider);
    }
    let clock = Arc::new(SystemClock);
    let host = env("PIXGW_PUBLIC_HOST")?;
    let provider = SandboxProvider::new(&host, clock.clone(), keys.sandbox_webhook_secret())
        .map_err(|e| BootstrapError::Invalid(e.to_string()))?;
    let sandbox = SandboxConfig {
        provider: provider.clone(),
        // The sandbox PIX network calls our public webhook endpoint over HTTPS, through API
        // Gateway, exactly like a real PSP.
        delivery: SandboxDelivery::Http {
            base_url: format!("https://{}", host.trim_end_matches('/')),
        },
    };
    let provider: Arc<dyn PixProvider> = Arc::new(provider);
    Ok(AppState::new(store, provider, clock, keys, Some(sandbox)))
}

/// JSON logs to stdout (CloudWatch), level from `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time()
        .try_init();
}

/// Runs one route as a Lambda function until the runtime stops it.
pub async fn serve(route: Route) -> Result<(), lambda_http::Error> {
    init_tracing();
    let state = bootstrap().await?;
    let state = Arc::new(state);
    lambda_http::run(service_fn(move |event: Request| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(&state, route, event).await) }
    }))
    .await
}

/// One invocation: convert, dispatch, convert back. Public so tests can call it without a
/// Lambda runtime.
pub async fn handle(state: &AppState, route: Route, event: Request) -> Response<Body> {
    let response = dispatch_route(state, route, to_api_request(event)).await;
    to_lambda_response(response)
}

pub fn to_api_request(event: Request) -> ApiRequest {
    let (parts, body) = event.into_parts();
    let body = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    ApiRequest::from_http(parts, body)
}

pub fn to_lambda_response(response: ApiResponse) -> Response<Body> {
    let mut out = Response::new(Body::Text(
        String::from_utf8_lossy(&response.body).into_owned(),
    ));
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    out
}
