//! Lambda function consuming SQS `payout-requests`: one PIX transfer per payout.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    pixgw_functions::runner::serve_sqs(pixgw_functions::pipeline::payout_executor).await
}
