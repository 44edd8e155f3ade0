//! Glue between Lambda's event sources and the pipeline in `pixgw-domain`: SQS consumers
//! (split calculator, payout executor, webhook dispatcher) and the DynamoDB Stream outbox
//! relay.
//!
//! Environment (besides what [`crate::bootstrap`] reads):
//! - `PIXGW_QUEUE_PREFIX` — queues are `<prefix>-<queue>` (the stack name, in `template.yaml`).
//! - `SQS_ENDPOINT` — optional, to point at an SQS emulator.
//!
//! Each consumer binary picks its handler with one of the functions here ([`split_calculator`],
//! [`payout_executor`], [`webhook_dispatcher`]), so the policy test drives exactly what the
//! binary runs.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures::future::join_all;
use lambda_runtime::{LambdaEvent, service_fn};
use pixgw_api::AppState;
use pixgw_domain::messaging::consumer::{HandlerError, MessageHandler, process_batch};
use pixgw_domain::messaging::outbox::OutboxMessage;
use pixgw_domain::messaging::queue::MessageQueue;
use pixgw_domain::messaging::relay::send_outbox_messages;
use pixgw_domain::webhooks::WebhookSender;
use pixgw_domain::webhooks::dispatcher::WebhookDispatcher;
use pixgw_providers::env::process_env;
use pixgw_queue_sqs::SqsQueues;
use pixgw_store_dynamodb::stream_feed::outbox_message_from_image;
use pixgw_webhook_http::ReqwestSender;
use tracing::{error, warn};

use crate::aws::{AwsClients, Env};
use crate::{BootstrapError, bootstrap, bootstrap_with, init_tracing};

/// The pipeline's queues, from `PIXGW_QUEUE_PREFIX` (and `SQS_ENDPOINT`, for emulators).
pub async fn queues_from_env() -> Result<SqsQueues, BootstrapError> {
    AwsClients::load().await.queues(&process_env)
}

/// The handler of `split-calculator` (queue `charge-confirmed`).
pub fn split_calculator(state: &AppState) -> Arc<dyn MessageHandler> {
    Arc::new(state.split_calculator.clone())
}

/// The handler of `payout-executor` (queue `payout-requests`): payouts, cash-outs and refunds.
pub fn payout_executor(state: &AppState) -> Arc<dyn MessageHandler> {
    Arc::new(state.money_out.clone())
}

/// One SQS batch: each message is handled on its own, and only the failed ones are reported
/// (`ReportBatchItemFailures`), so the queue redelivers exactly those.
pub async fn handle_sqs(handler: &dyn MessageHandler, event: SqsEvent) -> SqsBatchResponse {
    let messages = event
        .records
        .into_iter()
        .map(|m| (m.message_id.unwrap_or_default(), m.body.unwrap_or_default()));
    let outcome = process_batch(handler, messages).await;
    batch_response(outcome.failed_message_ids)
}

/// [`handle_sqs`] with the batch's messages handled concurrently rather than one after the
/// other: for consumers whose messages wait on the outside world (the webhook dispatcher: up
/// to a DNS lookup and a 10 s POST each), so a batch takes as long as its slowest message,
/// not the sum of them. The handler must tolerate two messages of a batch racing for the same
/// record (the dispatcher does: one claims the attempt, the other fails and is redelivered).
pub async fn handle_sqs_concurrently(
    handler: &dyn MessageHandler,
    event: SqsEvent,
) -> SqsBatchResponse {
    let handled = event.records.into_iter().map(|m| async move {
        let id = m.message_id.unwrap_or_default();
        let body = m.body.unwrap_or_default();
        match handler.handle(&body).await {
            Ok(()) => None,
            Err(e) => {
                match &e {
                    HandlerError::Transient(_) => {
                        warn!(message_id = %id, error = %e, "message will be retried")
                    }
                    HandlerError::Poison(_) => {
                        error!(message_id = %id, error = %e, "message cannot be processed")
                    }
                }
                Some(id)
            }
        }
    });
    batch_response(join_all(handled).await.into_iter().flatten().collect())
}

fn batch_response(failed_message_ids: Vec<String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed_message_ids
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// Runs a queue consumer built from the application state until the runtime stops it.
pub async fn serve_consumer(
    pick: fn(&AppState) -> Arc<dyn MessageHandler>,
) -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let state = bootstrap().await?;
    let handler = pick(&state);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let handler = handler.clone();
        async move { Ok::<_, lambda_runtime::Error>(handle_sqs(handler.as_ref(), event.payload).await) }
    }))
    .await
}

/// One batch of stream records: every inserted outbox item is sent to its queue. If anything
/// fails, the first record not known to be sent is reported, so Lambda retries the batch from
/// there (records before it are done; after it, they are re-sent, which consumers tolerate).
pub async fn handle_stream(queues: &dyn MessageQueue, event: StreamEvent) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    // `None` marks an unreadable outbox record: nothing at or after it is sent this time.
    let mut pending: Vec<(Option<String>, Option<OutboxMessage>)> = Vec::new();
    for record in event.records {
        let sequence = record.change.sequence_number.clone();
        if record.event_name != "INSERT" {
            continue;
        }
        match outbox_message_from_image(record.change.new_image) {
            Ok(Some(message)) => pending.push((sequence, Some(message))),
            Ok(None) => {}
            Err(e) => {
                // Not silently dropped: reported, the batch is bisected down to this record
                // and, once retries run out, it lands in the failure destination.
                error!(error = %e, ?sequence, "unreadable outbox record");
                pending.push((sequence, None));
            }
        }
    }
    let first_bad = pending.iter().position(|(_, m)| m.is_none());
    let sendable: Vec<OutboxMessage> = pending
        .iter()
        .take(first_bad.unwrap_or(pending.len()))
        .filter_map(|(_, m)| m.clone())
        .collect();
    let failed_at = match send_outbox_messages(queues, &sendable).await {
        Ok(()) => first_bad,
        Err(e) => {
            error!(error = %e, "relaying outbox messages failed; the batch will be retried");
            Some(0)
        }
    };
    if let Some(index) = failed_at
        && let Some((sequence, _)) = pending.get(index)
    {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = sequence.clone();
        response.batch_item_failures.push(failure);
    }
    response
}

/// Runs the outbox relay until the runtime stops it.
pub async fn serve_relay() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let queues = Arc::new(queues_from_env().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<StreamEvent>| {
        let queues = queues.clone();
        async move {
            Ok::<_, lambda_runtime::Error>(handle_stream(queues.as_ref(), event.payload).await)
        }
    }))
    .await
}

/// The `webhook-deliveries` consumer over the Lambda environment: the shared state (table,
/// data key for the sealed signing secrets, system DNS resolver, production URL policy), the
/// queues and the HTTP sender.
pub async fn webhook_dispatcher_from_env() -> Result<WebhookDispatcher, BootstrapError> {
    let aws = AwsClients::load().await;
    let state = bootstrap_with(&process_env, &aws).await?;
    let sender = ReqwestSender::new().map_err(|e| BootstrapError::Invalid(e.to_string()))?;
    webhook_dispatcher(&state, &process_env, &aws, Arc::new(sender))
}

/// The dispatcher on a bootstrapped `state`, with the queues (a retry due after SQS's
/// 15-minute delay limit is sent on in hops, and a delivery whose retries ran out is parked in
/// the dead-letter queue) and `sender` for the POSTs.
pub fn webhook_dispatcher(
    state: &AppState,
    env: Env<'_>,
    aws: &AwsClients,
    sender: Arc<dyn WebhookSender>,
) -> Result<WebhookDispatcher, BootstrapError> {
    let queues: Arc<dyn MessageQueue> = Arc::new(aws.queues(env)?);
    Ok(state.webhook_dispatcher(queues, sender))
}

/// Runs the webhook dispatcher until the runtime stops it: each SQS batch's messages are
/// delivered concurrently ([`handle_sqs_concurrently`]).
pub async fn serve_webhook_dispatcher() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let dispatcher = Arc::new(webhook_dispatcher_from_env().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let dispatcher = dispatcher.clone();
        async move {
            Ok::<_, lambda_runtime::Error>(
                handle_sqs_concurrently(dispatcher.as_ref(), event.payload).await,
            )
        }
    }))
    .await
}
