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
//! - `PIXGW_PUBLIC_HOST` — this API's public host (a custom domain): real providers call
//!   `https://{host}/webhooks/provider/{name}`, so it is required when one is listed; sandbox BR
//!   Codes point at `{host}/pix/loc/…`. Optional in a sandbox stage on the sandbox provider
//!   alone: the API's own execute-api host is too long for a BR Code, so without a custom
//!   domain sandbox BR Codes carry [`SANDBOX_LOCATION_HOST_WITHOUT_DOMAIN`], a reserved name
//!   that never resolves.
//! - `PIXGW_PROVIDERS` — the PIX providers in the deployment's default order, e.g.
//!   `connectpsp,pagfast` (`sandbox`, `connectpsp`, `pagfast`); defaults to `sandbox` when
//!   `PIXGW_SANDBOX=true`, required otherwise. `sandbox` is only allowed with `PIXGW_SANDBOX=true`.
//! - `PIXGW_FAILOVER_THRESHOLD`, `PIXGW_FAILOVER_WINDOW_SECONDS`,
//!   `PIXGW_FAILOVER_COOL_DOWN_SECONDS`, `PIXGW_PROVIDER_TIMEOUT_MS` — optional tuning.
//! - `CONNECTPSP_*`, `PAGFAST_*` — each listed provider's settings and credentials (secrets
//!   resolved from Secrets Manager); see [`pixgw_providers::env`] and the README.
//! - `DYNAMODB_ENDPOINT` — optional, to point at DynamoDB Local (`sam local`).
//!
//! The sandbox PIX network delivers its signed webhooks in-process
//! ([`SandboxDelivery::InProcess`]): `POST /api/sandbox/cash-in/{transactionId}/pay` hands the
//! signed request to the provider-webhook handler, which verifies it exactly as the
//! `POST /webhooks/provider/{provider}` route does. An HTTPS call to our own public host would
//! need a custom domain (see above) and an internet round trip through a second function.
//!
//! Queue consumers (the webhook dispatcher among them) and the outbox relay live in
//! [`pipeline`]; the payout scheduler and the charge-expiry sweeper (both invoked by EventBridge
//! Scheduler) in [`scheduler`] and [`expiry`]; the AWS SDK clients in [`aws`].

pub mod aws;
pub mod expiry;
pub mod pipeline;
pub mod scheduler;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use lambda_http::{Body, Request, Response, service_fn};
use pixgw_api::auth::AuthKeys;
use pixgw_api::state::{SandboxConfig, SandboxDelivery};
use pixgw_api::store::DynStore;
use pixgw_api::{ApiRequest, ApiResponse, AppState, Route, dispatch_route};
use pixgw_domain::pix::clock::{Clock, SystemClock};
use pixgw_domain::provider::PixProvider;
use pixgw_domain::provider::directory::ProviderDirectory;
use pixgw_providers::env::{
    ProviderConfigError, failover_policy_from_env, process_env, provider_from_env,
    provider_names_from_env,
};
use pixgw_providers::sandbox::SandboxProvider;

use crate::aws::{AwsClients, Env, optional, required};

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

/// Builds the application state from the Lambda environment.
pub async fn bootstrap() -> Result<AppState, BootstrapError> {
    bootstrap_with(&process_env, &AwsClients::load().await).await
}

/// [`bootstrap`] with the environment read through `env` and the store's client built by
/// `aws`.
pub async fn bootstrap_with(env: Env<'_>, aws: &AwsClients) -> Result<AppState, BootstrapError> {
    let keys = AuthKeys::from_hex(
        &required(env, "PIXGW_JWT_SECRET")?,
        &required(env, "PIXGW_DATA_KEY")?,
    )
    .map_err(|e| BootstrapError::Invalid(e.to_string()))?;
    let sandbox_enabled = env("PIXGW_SANDBOX").is_some_and(|v| v == "true");
    let names = configured_providers(env, sandbox_enabled)?;
    let host = optional(env, "PIXGW_PUBLIC_HOST");
    // Everything that can be refused for a configuration mistake is checked before the store
    // is touched, so a wrong setting fails the cold start with its own message.
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut providers: Vec<Arc<dyn PixProvider>> = Vec::with_capacity(names.len());
    let mut sandbox = None;
    for name in names {
        if name == SANDBOX {
            let location_host = host
                .as_deref()
                .unwrap_or(SANDBOX_LOCATION_HOST_WITHOUT_DOMAIN);
            let provider =
                SandboxProvider::new(location_host, clock.clone(), keys.sandbox_webhook_secret())
                    .map_err(|e| BootstrapError::Invalid(e.to_string()))?;
            providers.push(Arc::new(provider.clone()));
            sandbox = Some(SandboxConfig {
                provider,
                delivery: SandboxDelivery::InProcess,
            });
            continue;
        }
        // A real PSP is told where to send its webhooks: never a guess.
        let host = host
            .as_deref()
            .ok_or(BootstrapError::Missing("PIXGW_PUBLIC_HOST"))?;
        let public_base_url = format!("https://{}", host.trim_end_matches('/'));
        // `None` is the sandbox's answer, handled above.
        providers.extend(provider_from_env(name, &public_base_url, env)?);
    }
    let policy = failover_policy_from_env(env)?;
    let directory = ProviderDirectory::new(providers, policy, clock.clone())
        .map_err(|e| BootstrapError::Invalid(e.to_string()))?;
    let store: DynStore = Arc::new(aws.store(env)?);
    Ok(AppState::with_providers(
        store,
        Arc::new(directory),
        clock,
        keys,
        sandbox,
    ))
}

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
