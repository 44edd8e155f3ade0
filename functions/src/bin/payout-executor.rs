//! Lambda function consuming SQS `payout-requests`: one PIX transfer per payout.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    pixgw_functions::pipeline::serve_consumer(|state| std::sync::Arc::new(state.money_out.clone()))
        .await
}
