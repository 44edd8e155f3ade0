//! The payout-scheduler function: EventBridge Scheduler invokes it every few minutes
//! (`template.yaml`, `PayoutSchedulerFunction`), and each invocation runs the due accounts'
//! payout windows ([`PayoutScheduler::run_now`]) and reports what it did.
//!
//! It needs only the table and the clock: no keys, no provider, no queues (the payouts' queue
//! messages go out through the outbox, like every other stage's). Overlapping invocations are
//! safe — each window is claimed with a conditional write — and a window an invocation could
//! not finish is continued by a later one once its lease expires, so a failed invocation needs
//! no retry of its own: the next tick is the retry.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use pixgw_domain::error::DomainError;
use pixgw_domain::flows::run_payout_windows::{PayoutScheduler, RunReport};
use pixgw_domain::payout::runs::PayoutRunStore;
use pixgw_domain::pix::clock::SystemClock;
use pixgw_providers::env::process_env;
use serde_json::{Value, json};
use tracing::{error, info};

use crate::aws::{AwsClients, Env};
use crate::{BootstrapError, init_tracing};

/// The scheduler over the table named by `PIXGW_TABLE` (and `DYNAMODB_ENDPOINT`), on the
/// system clock.
pub async fn scheduler_from_env() -> Result<PayoutScheduler, BootstrapError> {
    scheduler_with(&process_env, &AwsClients::load().await)
}

/// [`scheduler_from_env`] with the environment read through `env` and the store's client
/// built by `aws`.
pub fn scheduler_with(env: Env<'_>, aws: &AwsClients) -> Result<PayoutScheduler, BootstrapError> {
    let store: Arc<dyn PayoutRunStore> = Arc::new(aws.store(env)?);
    Ok(PayoutScheduler::new(store, Arc::new(SystemClock)))
}

/// One tick. The payload (EventBridge Scheduler's `Input`, `{}` by default) carries nothing
/// the run needs; it is only logged. Answers the run's report as JSON; an error (the due index
/// could not be read) fails the invocation.
pub async fn handle_tick(scheduler: &PayoutScheduler, event: Value) -> Result<Value, DomainError> {
    let started = std::time::Instant::now();
    let source = event
        .get("source")
        .and_then(|s| s.as_str())
        .unwrap_or("unknown")
        .to_owned();
    match scheduler.run_now().await {
        Ok(report) => {
            info!(
                accounts = report.accounts,
                payouts = report.payouts,
                splits = report.splits,
                amount = %report.amount,
                skipped = report.skipped,
                elapsed_ms = started.elapsed().as_millis() as u64,
                source,
                "payout scheduler tick"
            );
            Ok(report_json(&report))
        }
        Err(e) => {
            error!(error = %e, "payout scheduler tick failed; the next tick retries");
            Err(e)
        }
    }
}

/// `{accounts, payouts, splits, amount, skipped}` (`amount` with two decimals, like the API).
pub fn report_json(report: &RunReport) -> Value {
    json!({
        "accounts": report.accounts,
        "payouts": report.payouts,
        "splits": report.splits,
        "amount": report.amount,
        "skipped": report.skipped,
    })
}

/// Runs the payout scheduler function until the runtime stops it.
pub async fn serve_scheduler() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let scheduler = Arc::new(scheduler_from_env().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let scheduler = scheduler.clone();
        async move {
            handle_tick(&scheduler, event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
