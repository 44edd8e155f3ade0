//! Lambda function on the table's DynamoDB Stream: relays committed outbox messages to SQS.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    pixgw_functions::pipeline::serve_relay().await
}
