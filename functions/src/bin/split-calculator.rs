//! Lambda function consuming SQS `charge-confirmed`: books each confirmed charge's splits.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    pixgw_functions::runner::serve_sqs(pixgw_functions::pipeline::split_calculator).await
}
