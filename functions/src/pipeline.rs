//! Glue between Lambda's event sources and the pipeline in `pixgw-domain`: the SQS consumers
//! (split calculator, payout executor, webhook dispatcher), each built with only what its flow
//! uses and run by [`crate::runner::serve_sqs`], and the DynamoDB Stream outbox relay.
//!
//! Each consumer binary hands the runner one of the builders here ([`split_calculator`],
//! [`payout_executor`], [`webhook_dispatcher`]), so the policy test drives exactly what the
//! binary runs.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::{LambdaEvent, service_fn};
use pixgw_api::store::{self, DynStore};
use pixgw_domain::flows::book_splits::SplitCalculator;
use pixgw_domain::flows::cash_out::CashOutService;
use pixgw_domain::flows::execute_payout::PayoutExecutor;
use pixgw_domain::flows::money_out::MoneyOutExecutor;
use pixgw_domain::flows::refund::RefundService;
use pixgw_domain::messaging::outbox::OutboxMessage;
use pixgw_domain::messaging::queue::MessageQueue;
use pixgw_domain::messaging::relay::send_outbox_messages;
use pixgw_domain::pix::clock::{Clock, SystemClock};
use pixgw_domain::webhooks::WebhookSender;
use pixgw_domain::webhooks::dispatcher::{DispatcherParts, WebhookDispatcher};
use pixgw_domain::webhooks::url_policy::{HostResolver, UrlPolicy};
use pixgw_queue_sqs::SqsQueues;
use pixgw_store_dynamodb::outbox::outbox_message_from_image;
use pixgw_webhook_http::{ReqwestSender, SystemResolver};
use tracing::error;

use crate::BootstrapError;
use crate::aws::{AwsClients, Env};
use crate::bootstrap::auth_keys;
use crate::needs::PspUse;
use crate::providers::ProviderPlan;
use crate::runner::{BatchOrder, Consumer, cold_start};

/// `split-calculator` (queue `charge-confirmed`): books each confirmed charge's splits. The
/// table and the clock; no key, no provider.
pub fn split_calculator(env: Env<'_>, aws: &AwsClients) -> Result<Consumer, BootstrapError> {
    let store: DynStore = Arc::new(aws.store(env)?);
    let handler =
        SplitCalculator::new(store::split_calculator_ports(&store), Arc::new(SystemClock));
    Ok(Consumer::new(
        Arc::new(handler),
        BatchOrder::OneAfterAnother,
    ))
}

/// `payout-executor` (queue `payout-requests`): payouts, cash-outs and refunds, sent through
/// the providers able to move money out ([`PspUse::MovesMoneyOut`]). No token key; the data
/// key only when it builds the sandbox provider (its signing key derives from it).
pub fn payout_executor(env: Env<'_>, aws: &AwsClients) -> Result<Consumer, BootstrapError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let plan = ProviderPlan::read(PspUse::MovesMoneyOut, env)?;
    let keys = auth_keys(env, false, plan.builds_sandbox())?;
    let providers = plan.build(env, &keys, &clock)?;
    let store: DynStore = Arc::new(aws.store(env)?);
    let directory = providers.directory;
    let handler = MoneyOutExecutor {
        payouts: PayoutExecutor::new(
            store::payout_executor_ports(&store),
            directory.clone(),
            clock.clone(),
        ),
        cash_outs: CashOutService::new(
            store::cash_out_ports(&store),
            directory.clone(),
            clock.clone(),
        ),
        refunds: RefundService::new(store::refund_ports(&store), directory, clock),
    };
    Ok(Consumer {
        handler: Arc::new(handler),
        order: BatchOrder::OneAfterAnother,
        sandbox: providers.sandbox.map(|sandbox| sandbox.provider),
    })
}

/// `webhook-dispatcher` (queue `webhook-deliveries`): signed POSTs of account events over
/// HTTPS, to hosts the system DNS resolver says are public (production URL policy).
pub fn webhook_dispatcher(env: Env<'_>, aws: &AwsClients) -> Result<Consumer, BootstrapError> {
    let sender = ReqwestSender::new().map_err(|e| BootstrapError::Invalid(e.to_string()))?;
    webhook_dispatcher_with(env, aws, Arc::new(sender), Arc::new(SystemResolver::new()))
}

/// [`webhook_dispatcher`] with the POSTs made by `sender` and hosts resolved by `resolver`
/// (tests: no internet). It reads the data key (the endpoints' signing secrets are sealed under
/// it), not the token key, and uses the queues: a retry due after SQS's 15-minute delay limit
/// is sent on in hops, and a delivery whose retries ran out is parked in the dead-letter queue.
/// Each batch's messages are delivered concurrently ([`BatchOrder::Concurrently`]).
pub fn webhook_dispatcher_with(
    env: Env<'_>,
    aws: &AwsClients,
    sender: Arc<dyn WebhookSender>,
    resolver: Arc<dyn HostResolver>,
) -> Result<Consumer, BootstrapError> {
    let sealer = Arc::new(auth_keys(env, false, true)?);
    let queue: Arc<dyn MessageQueue> = Arc::new(aws.queues(env)?);
    let handler = WebhookDispatcher::new(DispatcherParts {
        store: Arc::new(aws.store(env)?),
        queue,
        sender,
        resolver,
        sealer,
        clock: Arc::new(SystemClock),
        policy: UrlPolicy::PRODUCTION,
    });
    Ok(Consumer::new(Arc::new(handler), BatchOrder::Concurrently))
}

/// `outbox-relay`'s queues, `<PIXGW_QUEUE_PREFIX>-<queue>` (and `SQS_ENDPOINT`, for
/// emulators): nothing else, not even the table (the stream brings the items).
pub fn relay_queues(env: Env<'_>, aws: &AwsClients) -> Result<SqsQueues, BootstrapError> {
    aws.queues(env)
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
    let queues = Arc::new(cold_start(relay_queues).await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<StreamEvent>| {
        let queues = queues.clone();
        async move {
            Ok::<_, lambda_runtime::Error>(handle_stream(queues.as_ref(), event.payload).await)
        }
    }))
    .await
}
