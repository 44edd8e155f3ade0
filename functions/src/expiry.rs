//! The expiry-sweeper function: EventBridge Scheduler invokes it every minute
//! (`template.yaml`, `ExpirySweeperFunction`), and each invocation stores PENDING → EXPIRED
//! (with `CASHIN_EXPIRED`) for the charges whose `expirationDate` has come
//! ([`ExpirySweeper::sweep`], at most [`SWEEP_MAX`] per tick; the rest wait for the next one).
//!
//! It needs only the table and the clock. Overlapping invocations are safe: each transition is
//! conditioned on the charge still being PENDING, so a charge is never expired twice and a
//! payment landing first always wins. A failed invocation needs no retry of its own: the next
//! tick is the retry.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use pixgw_api::store::DynStore;
use pixgw_domain::error::DomainError;
use pixgw_domain::flows::expire::{ExpirySweeper, SweepReport};
use pixgw_domain::pix::clock::SystemClock;
use pixgw_providers::env::process_env;
use serde_json::{Value, json};
use tracing::{error, info};

use crate::aws::{AwsClients, Env};
use crate::{BootstrapError, init_tracing};

/// Charges expired per invocation at most.
pub const SWEEP_MAX: usize = 10_000;

/// The sweeper over the table named by `PIXGW_TABLE` (and `DYNAMODB_ENDPOINT`), on the system
/// clock.
pub async fn sweeper_from_env() -> Result<ExpirySweeper, BootstrapError> {
    sweeper_with(&process_env, &AwsClients::load().await)
}

/// [`sweeper_from_env`] with the environment read through `env` and the store's client built
/// by `aws`.
pub fn sweeper_with(env: Env<'_>, aws: &AwsClients) -> Result<ExpirySweeper, BootstrapError> {
    let store: DynStore = Arc::new(aws.store(env)?);
    Ok(ExpirySweeper::new(
        pixgw_api::store::expiry_ports(&store),
        Arc::new(SystemClock),
    ))
}

/// One tick. The payload carries nothing the sweep needs; its `source` is only logged.
/// Answers the sweep's report as JSON; an error (the index could not be read, a write failed)
/// fails the invocation.
pub async fn handle_tick(sweeper: &ExpirySweeper, event: Value) -> Result<Value, DomainError> {
    let started = std::time::Instant::now();
    let source = event
        .get("source")
        .and_then(|s| s.as_str())
        .unwrap_or("unknown")
        .to_owned();
    match sweeper.sweep(SWEEP_MAX).await {
        Ok(report) => {
            info!(
                expired = report.expired,
                skipped = report.skipped,
                elapsed_ms = started.elapsed().as_millis() as u64,
                source,
                "expiry sweeper tick"
            );
            Ok(report_json(&report))
        }
        Err(e) => {
            error!(error = %e, "expiry sweeper tick failed; the next tick retries");
            Err(e)
        }
    }
}

/// `{expired, skipped}`.
pub fn report_json(report: &SweepReport) -> Value {
    json!({
        "expired": report.expired,
        "skipped": report.skipped,
    })
}

/// Runs the expiry sweeper function until the runtime stops it.
pub async fn serve_expiry_sweeper() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let sweeper = Arc::new(sweeper_from_env().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let sweeper = sweeper.clone();
        async move {
            handle_tick(&sweeper, event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
