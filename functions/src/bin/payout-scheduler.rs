//! Lambda function invoked by EventBridge Scheduler (every 5 minutes): runs the due accounts'
//! payout windows, one payout per recipient.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    pixgw_functions::runner::serve_ticks(pixgw_functions::scheduler::payout_scheduler).await
}
