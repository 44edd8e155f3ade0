//! Lambda function consuming SQS `webhook-deliveries`: signed POSTs of account events to the
//! merchant's webhook endpoint, with retries.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    pixgw_functions::runner::serve_sqs(pixgw_functions::pipeline::webhook_dispatcher).await
}
