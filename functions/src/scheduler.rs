//! The payout-scheduler function: EventBridge Scheduler invokes it every few minutes
//! (`template.yaml`, `PayoutSchedulerFunction`), and each invocation runs the due accounts'
//! payout windows ([`PayoutScheduler::run_now`]) and reports what it did.
//!
//! It needs only the table and the clock: no keys, no provider, no queues (the payouts' queue
//! messages go out through the outbox, like every other stage's). Overlapping invocations are
//! safe — each window is claimed with a conditional write — and a window an invocation could
//! not finish is continued by a later one once its lease expires, so a failed invocation needs
//! no retry of its own: the next tick is the retry ([`crate::runner::serve_ticks`]).

use std::sync::Arc;

use pixgw_domain::error::DomainError;
use pixgw_domain::flows::run_payout_windows::{PayoutScheduler, RunReport};
use pixgw_domain::payout::runs::PayoutRunStore;
use pixgw_domain::pix::clock::SystemClock;
use serde_json::{Value, json};

use crate::BootstrapError;
use crate::aws::{AwsClients, Env};
use crate::runner::Tick;

/// The scheduler over the table named by `PIXGW_TABLE` (and `DYNAMODB_ENDPOINT`), on the
/// system clock.
pub fn payout_scheduler(env: Env<'_>, aws: &AwsClients) -> Result<PayoutScheduler, BootstrapError> {
    let store: Arc<dyn PayoutRunStore> = Arc::new(aws.store(env)?);
    Ok(PayoutScheduler::new(store, Arc::new(SystemClock)))
}

/// One tick runs the due windows; an error (the due index could not be read) fails it.
impl Tick for PayoutScheduler {
    fn name(&self) -> &'static str {
        "payout scheduler"
    }

    async fn run(&self) -> Result<Value, DomainError> {
        self.run_now().await.map(|report| report_json(&report))
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
