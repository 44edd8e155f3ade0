//! The HTTP server: every request goes, unchanged, to the same router the Lambda functions
//! use (`pixgw_api::dispatch`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use pixgw_api::error::ApiError;
use pixgw_api::http_types::MAX_BODY_BYTES;
use pixgw_api::sandbox_clock::SandboxClock;
use pixgw_api::state::{SandboxConfig, SandboxDelivery};
use pixgw_api::{ApiRequest, ApiResponse, AppState, dispatch};
use pixgw_domain::ports::{Clock, PixProvider};
use pixgw_domain::provider_directory::ProviderDirectory;
use pixgw_domain::webhooks::url_policy::UrlPolicy;
use pixgw_providers::env::{
    failover_policy_from_env, parse_provider_names, process_env, provider_from_env,
};
use pixgw_providers::sandbox::SandboxProvider;
use pixgw_queue_local::LocalQueues;
use pixgw_webhook_http::ReqwestSender;

use crate::config::{AnyError, demo_account, load_keys, open_store_with_outbox};
use crate::{ServeArgs, StoreKind, quickstart, workers};

pub async fn serve(args: ServeArgs) -> Result<(), AnyError> {
    init_tracing();
    // A wrong provider list fails before anything is opened.
    let names = parse_provider_names(&args.providers)?;
    let keys = load_keys(&args.storage.data_dir)?;
    let (store, feed) = open_store_with_outbox(&args.storage).await?;
    let public_host = args
        .public_host
        .clone()
        .unwrap_or_else(|| format!("127.0.0.1:{}", args.port));
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    // The sandbox's test clock: real time until `POST /api/sandbox/clock/advance` moves it.
    // Every service of the gateway runs on this one instance (the API, the payout scheduler,
    // the queues and their workers, the sandbox PIX network), so they all move together.
    let sandbox_clock = Arc::new(SandboxClock::system());
    let clock: Arc<dyn Clock> = sandbox_clock.clone();
    // Where real providers send their webhooks: this gateway directly, or the public tunnel in
    // front of it (`--public-host`), which a provider on the internet needs to reach us.
    let public_base_url = match &args.public_host {
        Some(host) => format!("https://{}", host.trim_end_matches('/')),
        None => format!("http://{addr}"),
    };
    let mut providers: Vec<Arc<dyn PixProvider>> = Vec::with_capacity(names.len());
    let mut sandbox = None;
    for name in &names {
        match provider_from_env(name, &public_base_url, &process_env)? {
            Some(provider) => providers.push(provider),
            None => {
                let provider = SandboxProvider::new(
                    &public_host,
                    clock.clone(),
                    keys.sandbox_webhook_secret(),
                )?;
                providers.push(Arc::new(provider.clone()));
                sandbox = Some(SandboxConfig {
                    provider,
                    // The sandbox PIX network calls this gateway's webhook endpoint over HTTP,
                    // like a real PSP would.
                    delivery: SandboxDelivery::Http {
                        base_url: format!("http://{addr}"),
                    },
                });
            }
        }
    }
    let policy = failover_policy_from_env(&process_env)?;
    let directory = Arc::new(ProviderDirectory::new(providers, policy, clock.clone())?);
    // Merchant webhooks may go to http://localhost / http://127.0.0.1 here (a developer's
    // receiver on this machine); every other non-public address stays refused, as on AWS.
    let state = Arc::new(
        AppState::with_providers_on_sandbox_clock(
            store.clone(),
            directory,
            sandbox_clock,
            keys.clone(),
            sandbox,
        )
        .with_webhook_policy(UrlPolicy::LOCAL),
    );
    let demo = demo_account(&store, &keys, &args.storage.data_dir).await?;
    workers::spawn(
        state.clone(),
        feed,
        Arc::new(LocalQueues::new(clock)),
        Arc::new(ReqwestSender::new()?),
        Duration::from_secs(args.scheduler_interval),
    );

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let app = axum::Router::new().fallback(handle).with_state(state);
    let store_label = match args.storage.store {
        StoreKind::Embedded => format!(
            "embedded ({})",
            args.storage.data_dir.join("pixgw.redb").display()
        ),
        StoreKind::Dynamodb => format!("dynamodb (table {})", args.storage.table),
    };
    // Names only: the providers' settings include credentials.
    quickstart::print(
        &format!("http://{addr}"),
        &store_label,
        &names.join(", "),
        args.scheduler_interval,
        &demo,
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

async fn handle(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // Never buffer more than the limit: a longer body is answered with the 400 envelope.
    let api_request = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => ApiRequest::from_http(parts, bytes),
        Err(_) => {
            let request = ApiRequest::from_http(parts, Default::default());
            let error = ApiError::BodyTooLarge;
            return into_axum(error.to_response(&request, state.clock.now()));
        }
    };
    into_axum(dispatch(&state, api_request).await)
}

fn into_axum(response: ApiResponse) -> Response {
    let mut out = Response::new(Body::from(response.body));
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    out
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
