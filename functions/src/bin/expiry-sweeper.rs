//! Lambda function invoked by EventBridge Scheduler (every minute): stores PENDING → EXPIRED
//! for the charges whose `expirationDate` has come, with `CASHIN_EXPIRED`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    pixgw_functions::runner::serve_ticks(pixgw_functions::expiry::sweeper).await
}
