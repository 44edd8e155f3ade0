//! How a non-HTTP function runs, written once: its cold start ([`cold_start`]), the
//! EventBridge Scheduler tick ([`serve_ticks`], for the payout scheduler and the expiry sweeper)
//! and the SQS batch ([`serve_sqs`], for every queue consumer). The DynamoDB Stream has a single
//! consumer, the outbox relay (`pipeline.rs`).
//!
//! A binary's `main` hands the runner the function that builds its job from the environment
//! and the AWS clients; the policy test (`functions/tests/aws/world.rs`) calls the same builders
//! on the environment `template.yaml` gives each function.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures::future::join_all;
use lambda_runtime::{LambdaEvent, service_fn};
use pixgw_domain::error::DomainError;
use pixgw_domain::messaging::consumer::{HandlerError, MessageHandler, process_batch};
use pixgw_providers::env::process_env;
use pixgw_providers::sandbox::SandboxProvider;
use serde_json::Value;
use tracing::{error, info, warn};

use crate::aws::{AwsClients, Env};
use crate::{BootstrapError, init_tracing};

/// Logging on, then `build` on the process environment and the runtime's AWS configuration.
pub async fn cold_start<T>(
    build: impl FnOnce(Env<'_>, &AwsClients) -> Result<T, BootstrapError>,
) -> Result<T, BootstrapError> {
    init_tracing();
    build(&process_env, &AwsClients::load().await)
}

// ---------------------------------------------------------------------------------------------
// Scheduled ticks

/// A job EventBridge Scheduler runs on every tick. A failed run needs no retry of its own: the
/// next tick is the retry.
pub trait Tick: Send + Sync + 'static {
    /// What the logs call it ("payout scheduler").
    fn name(&self) -> &'static str;

    /// One run; its report is the invocation's answer.
    fn run(&self) -> impl Future<Output = Result<Value, DomainError>> + Send;
}

/// One tick. The payload (EventBridge Scheduler's `Input`, `{}` by default) carries nothing the
/// job needs; its `source` is only logged. Answers the job's report; an error fails the
/// invocation.
pub async fn handle_tick(job: &impl Tick, event: Value) -> Result<Value, DomainError> {
    let started = Instant::now();
    let source = event
        .get("source")
        .and_then(|s| s.as_str())
        .unwrap_or("unknown")
        .to_owned();
    match job.run().await {
        Ok(report) => {
            info!(
                job = job.name(),
                %report,
                elapsed_ms = started.elapsed().as_millis() as u64,
                source,
                "tick"
            );
            Ok(report)
        }
        Err(e) => {
            error!(job = job.name(), error = %e, "tick failed; the next tick retries");
            Err(e)
        }
    }
}

/// Runs a scheduled function until the runtime stops it: `build` once, then one
/// [`handle_tick`] per invocation.
pub async fn serve_ticks<J: Tick>(
    build: fn(Env<'_>, &AwsClients) -> Result<J, BootstrapError>,
) -> Result<(), lambda_runtime::Error> {
    let job = Arc::new(cold_start(build).await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let job = job.clone();
        async move {
            handle_tick(job.as_ref(), event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

// ---------------------------------------------------------------------------------------------
// SQS batches

/// How a consumer goes through a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOrder {
    /// One message after the other ([`handle_sqs`]).
    OneAfterAnother,
    /// All at once ([`handle_sqs_concurrently`]): for messages that wait on the outside world.
    Concurrently,
}

/// A queue consumer as its binary builds it.
pub struct Consumer {
    pub handler: Arc<dyn MessageHandler>,
    pub order: BatchOrder,
    /// The sandbox PIX network the consumer talks to, when it built one (tests make it fail).
    pub sandbox: Option<SandboxProvider>,
}

impl Consumer {
    /// A consumer that talks to no PIX provider.
    pub fn new(handler: Arc<dyn MessageHandler>, order: BatchOrder) -> Consumer {
        Consumer {
            handler,
            order,
            sandbox: None,
        }
    }

    /// One SQS batch, in the consumer's [`BatchOrder`].
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        match self.order {
            BatchOrder::OneAfterAnother => handle_sqs(self.handler.as_ref(), event).await,
            BatchOrder::Concurrently => handle_sqs_concurrently(self.handler.as_ref(), event).await,
        }
    }
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

/// Runs a queue consumer until the runtime stops it: `build` once, then one batch per
/// invocation, answering the failed messages (partial batch failure).
pub async fn serve_sqs(
    build: fn(Env<'_>, &AwsClients) -> Result<Consumer, BootstrapError>,
) -> Result<(), lambda_runtime::Error> {
    let consumer = Arc::new(cold_start(build).await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let consumer = consumer.clone();
        async move { Ok::<_, lambda_runtime::Error>(consumer.handle(event.payload).await) }
    }))
    .await
}
