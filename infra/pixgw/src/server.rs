//! The HTTP server: every request goes, unchanged, to the same router the Lambda functions
//! use (`pixgw_api::dispatch`).

use std::future::IntoFuture;
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
use pixgw_domain::pix::clock::Clock;
use pixgw_domain::provider::PixProvider;
use pixgw_domain::provider::directory::ProviderDirectory;
use pixgw_domain::webhooks::url_policy::UrlPolicy;
use pixgw_providers::env::{
    failover_policy_from_env, parse_provider_names, process_env, provider_from_env,
};
use pixgw_providers::sandbox::SandboxProvider;
use pixgw_queue_local::{LocalQueueConfig, LocalQueues};
use pixgw_webhook_http::ReqwestSender;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{AnyError, demo_account, load_keys, open_store_with_outbox};
use crate::{ServeArgs, StoreKind, quickstart, workers};

/// The sandbox PIX network's memory, in the data dir (see `pixgw_providers::sandbox::journal`).
pub const SANDBOX_JOURNAL_FILE: &str = "sandbox-network.jsonl";

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
                // The simulated network remembers its transfers in the data dir, as a real
                // PSP remembers idempotency keys across our restarts.
                let provider = SandboxProvider::new(
                    &public_host,
                    clock.clone(),
                    keys.sandbox_webhook_secret()?,
                )?
                .with_journal(&args.storage.data_dir.join(SANDBOX_JOURNAL_FILE))
                .map_err(|e| format!("cannot open the sandbox network's journal: {e}"))?;
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
    // Journaled: what was sent and not yet acked is still there after a crash or restart, and
    // the workers resume it as soon as they start.
    let queues = LocalQueues::open_dir(&args.storage.data_dir, clock, LocalQueueConfig::default())
        .map_err(|e| format!("cannot open the local queues: {e}"))?;
    let workers = workers::spawn(
        state.clone(),
        feed,
        Arc::new(queues),
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
    let (stopping, stop) = watch::channel(false);
    let server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let mut stop = stop;
                let _ = stop.wait_for(|stop| *stop).await;
            })
            .into_future(),
    );
    let signal = shutdown_signal().await?;
    info!(
        signal,
        grace_seconds = args.shutdown_grace,
        "shutting down: no new requests; finishing the work in hand"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.shutdown_grace);
    let _ = stopping.send(true);
    // Requests in flight finish (the listener is closed at once), alongside the workers.
    let workers = tokio::spawn(workers.shutdown(Duration::from_secs(args.shutdown_grace)));
    match tokio::time::timeout_at(deadline, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => warn!(error = %e, "HTTP server ended with an error"),
        Ok(Err(e)) => warn!(error = %e, "HTTP server task failed"),
        Err(_) => warn!("requests still running at the shutdown deadline were cut"),
    }
    match workers.await {
        Ok(0) => info!("stopped cleanly"),
        Ok(cut) => warn!(
            cut,
            "workers still busy at the shutdown deadline were cut; their messages are delivered again at the next start"
        ),
        Err(e) => warn!(error = %e, "workers task failed"),
    }
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

/// Waits for Ctrl-C (SIGINT) or SIGTERM (what `kill`, systemd and container runtimes send);
/// returns its name.
async fn shutdown_signal() -> Result<&'static str, AnyError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => Ok("SIGTERM"),
            _ = int.recv() => Ok("SIGINT"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await?;
        Ok("Ctrl-C")
    }
}
