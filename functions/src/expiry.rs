//! The expiry-sweeper function: EventBridge Scheduler invokes it every minute
//! (`template.yaml`, `ExpirySweeperFunction`), and each invocation stores PENDING → EXPIRED
//! (with `CASHIN_EXPIRED`) for the charges whose `expirationDate` has come
//! ([`ExpirySweeper::sweep`], at most [`SWEEP_MAX`] per tick; the rest wait for the next one).
//!
//! It needs only the table and the clock. Overlapping invocations are safe: each transition is
//! conditioned on the charge still being PENDING, so a charge is never expired twice and a
//! payment landing first always wins. A failed invocation needs no retry of its own: the next
//! tick is the retry ([`crate::runner::serve_ticks`]).

use std::sync::Arc;

use pixgw_api::store::DynStore;
use pixgw_domain::error::DomainError;
use pixgw_domain::flows::expire::{ExpirySweeper, SweepReport};
use pixgw_domain::pix::clock::SystemClock;
use serde_json::{Value, json};

use crate::BootstrapError;
use crate::aws::{AwsClients, Env};
use crate::runner::Tick;

/// Charges expired per invocation at most.
pub const SWEEP_MAX: usize = 10_000;

/// The sweeper over the table named by `PIXGW_TABLE` (and `DYNAMODB_ENDPOINT`), on the system
/// clock.
pub fn sweeper(env: Env<'_>, aws: &AwsClients) -> Result<ExpirySweeper, BootstrapError> {
    let store: DynStore = Arc::new(aws.store(env)?);
    Ok(ExpirySweeper::new(
        pixgw_api::store::expiry_ports(&store),
        Arc::new(SystemClock),
    ))
}

/// One tick sweeps; an error (the index could not be read, a write failed) fails it.
impl Tick for ExpirySweeper {
    fn name(&self) -> &'static str {
        "expiry sweeper"
    }

    async fn run(&self) -> Result<Value, DomainError> {
        self.sweep(SWEEP_MAX)
            .await
            .map(|report| report_json(&report))
    }
}

/// `{expired, skipped, holdsReleased}`.
pub fn report_json(report: &SweepReport) -> Value {
    json!({
        "expired": report.expired,
        "skipped": report.skipped,
        "holdsReleased": report.holds_released,
    })
}
