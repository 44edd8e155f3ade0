//! Glue between AWS Lambda (`lambda_http`, `lambda_runtime`) and the host-neutral code in
//! `pixgw-api` and `pixgw-domain`.
//!
//! Each HTTP binary in `src/bin/` is one API route: it calls [`serve`] with its [`Route`]. All the
//! work happens in `pixgw-api`; this crate only converts events and builds, once per cold start,
//! what the function's flow uses and nothing else ([`bootstrap::api_state`], after
//! [`needs::Needs`]): a function is given (in `template.yaml`) and reads only its own secrets,
//! fails its cold start naming a variable it needs and lacks, and never reads one it does not
//! need, so a missing unrelated secret cannot break it.
//!
//! Environment (set by `template.yaml`, each function only what it reads):
//! - `PIXGW_TABLE` — the DynamoDB table; `DYNAMODB_ENDPOINT` — optional, to point at DynamoDB
//!   Local (`sam local`).
//! - `PIXGW_JWT_SECRET`, `PIXGW_DATA_KEY` — hex secrets (resolved from Secrets Manager): the
//!   token key where tokens are issued or verified, the data key where stored secrets are
//!   opened or sealed and where the sandbox provider is built (its signing key derives from it).
//! - `PIXGW_SANDBOX` — `true` enables the sandbox provider and sandbox-only routes.
//! - `PIXGW_PUBLIC_HOST` — this API's public host (a custom domain): real providers call
//!   `https://{host}/webhooks/provider/{name}`, so it is required when one is built; sandbox BR
//!   Codes point at `{host}/pix/loc/…`. Optional in a sandbox stage on the sandbox provider
//!   alone: the API's own execute-api host is too long for a BR Code, so without a custom
//!   domain sandbox BR Codes carry [`SANDBOX_LOCATION_HOST_WITHOUT_DOMAIN`], a reserved name
//!   that never resolves.
//! - `PIXGW_PROVIDERS` — the PIX providers in the deployment's default order, e.g.
//!   `connectpsp,pagfast` (`sandbox`, `connectpsp`, `pagfast`); defaults to `sandbox` when
//!   `PIXGW_SANDBOX=true`, required otherwise. `sandbox` is only allowed with `PIXGW_SANDBOX=true`.
//! - `PIXGW_FAILOVER_THRESHOLD`, `PIXGW_FAILOVER_WINDOW_SECONDS`,
//!   `PIXGW_FAILOVER_COOL_DOWN_SECONDS`, `PIXGW_PROVIDER_TIMEOUT_MS` — optional tuning.
//! - `CONNECTPSP_*`, `PAGFAST_*` — a provider's settings and credentials (secrets resolved from
//!   Secrets Manager), only where the function talks to it; see [`providers`],
//!   [`pixgw_providers::env`] and the README.
//! - `PIXGW_QUEUE_PREFIX`, `SQS_ENDPOINT` — the queues, where a function sends ([`aws`]).
//!
//! The sandbox PIX network delivers its signed webhooks in-process
//! ([`SandboxDelivery::InProcess`](pixgw_api::state::SandboxDelivery::InProcess)):
//! `POST /api/sandbox/cash-in/{transactionId}/pay` hands the signed request to the
//! provider-webhook handler, which verifies it exactly as the
//! `POST /webhooks/provider/{provider}` route does. An HTTPS call to our own public host would
//! need a custom domain (see above) and an internet round trip through a second function.
//!
//! Queue consumers (the webhook dispatcher among them) and the outbox relay live in
//! [`pipeline`]; the payout scheduler and the charge-expiry sweeper (both invoked by EventBridge
//! Scheduler) in [`scheduler`] and [`expiry`]; the scheduled tick and the SQS batch are run by
//! [`runner`]; the AWS SDK clients in [`aws`].

pub mod aws;
pub mod bootstrap;
pub mod expiry;
pub mod needs;
pub mod pipeline;
pub mod providers;
pub mod runner;
pub mod scheduler;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use lambda_http::{Body, Request, Response, service_fn};
use pixgw_api::{ApiRequest, ApiResponse, AppState, Route, dispatch_route};
use pixgw_providers::env::{ProviderConfigError, provider_names_from_env};

use crate::aws::Env;
use crate::runner::cold_start;

/// The built-in sandbox provider's name in `PIXGW_PROVIDERS`.
const SANDBOX: &str = "sandbox";

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("PIX provider configuration: {0}")]
    Provider(#[from] ProviderConfigError),
    #[error("the sandbox provider is listed in PIXGW_PROVIDERS but PIXGW_SANDBOX is not true")]
    SandboxDisabled,
}

/// A reserved name (RFC 6761 `.invalid`: it never resolves) for the location of sandbox BR
/// Codes when the deployment has no custom domain (`PIXGW_PUBLIC_HOST` unset): a BR Code
/// location holds at most [`MAX_LOCATION_HOST_LEN`](pixgw_providers::sandbox::MAX_LOCATION_HOST_LEN)
/// characters of host, and the API's own
/// execute-api host is longer. Nobody reads a sandbox location but the sandbox itself.
pub const SANDBOX_LOCATION_HOST_WITHOUT_DOMAIN: &str = "pix-sandbox.invalid";

/// `PIXGW_PROVIDERS` as this deployment may use it: `sandbox` by default in a sandbox stage,
/// required in production, and the sandbox provider (which confirms charges nobody paid) never
/// outside a sandbox stage.
pub fn configured_providers(
    env: Env<'_>,
    sandbox_enabled: bool,
) -> Result<Vec<&'static str>, BootstrapError> {
    let default = sandbox_enabled.then_some(SANDBOX);
    let names = provider_names_from_env(env, default)?;
    if !sandbox_enabled && names.contains(&SANDBOX) {
        return Err(BootstrapError::SandboxDisabled);
    }
    Ok(names)
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
    let state = cold_start(|env, aws| bootstrap::api_state(route, env, aws)).await?;
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
