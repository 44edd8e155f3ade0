//! How the queue stages are hosted: a [`MessageHandler`] processes one message body; the
//! hosts deliver them (Lambda's SQS event source in AWS, [`drain`] locally and in tests).

use std::time::Duration;

use async_trait::async_trait;
use tracing::{error, warn};

use crate::error::DomainError;
use crate::messaging::queue::{BatchOutcome, MessageQueue, QueueError, QueueName, ReceivedMessage};

/// Why a message could not be processed now. Either way it is reported as a failure, so the
/// queue delivers it again and, after the redrive policy's receives, dead-letters it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// Storage or the provider is unavailable: a later delivery should succeed.
    #[error("transient failure: {0}")]
    Transient(String),
    /// The message can never be processed (unreadable, refers to nothing): it will end in the
    /// dead-letter queue for an operator.
    #[error("poison message: {0}")]
    Poison(String),
}

impl From<DomainError> for HandlerError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Store(crate::error::StoreError::Unavailable(_))
            | DomainError::Provider(crate::error::ProviderError::Unavailable(_)) => {
                HandlerError::Transient(e.to_string())
            }
            other => HandlerError::Poison(other.to_string()),
        }
    }
}

#[async_trait]
pub trait MessageHandler: Send + Sync {
    async fn handle(&self, body: &str) -> Result<(), HandlerError>;
}

/// Runs `handler` over a batch, returning the ids of the messages that failed (what Lambda's
/// `ReportBatchItemFailures` expects). Messages are independent, so one failure does not stop
/// the others.
pub async fn process_batch(
    handler: &dyn MessageHandler,
    messages: impl IntoIterator<Item = (String, String)>,
) -> BatchOutcome {
    let mut outcome = BatchOutcome::default();
    for (id, body) in messages {
        if let Err(e) = handler.handle(&body).await {
            log_failure(&id, &e);
            outcome.fail(id);
        }
    }
    outcome
}

fn log_failure(message_id: &str, e: &HandlerError) {
    match e {
        HandlerError::Transient(_) => warn!(message_id, error = %e, "message will be retried"),
        HandlerError::Poison(_) => error!(message_id, error = %e, "message cannot be processed"),
    }
}

/// What one [`drain`] pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    pub received: usize,
    pub failed: usize,
}

/// One receive-and-process pass over `queue` (the local stand-in for Lambda's event source
/// mapping): successes are acked, failures are made visible again after `retry_after`.
pub async fn drain(
    queue: &dyn MessageQueue,
    name: QueueName,
    handler: &dyn MessageHandler,
    wait: Duration,
    retry_after: Duration,
) -> Result<DrainReport, QueueError> {
    let messages: Vec<ReceivedMessage> =
        queue.receive(name, queue.limits().max_batch, wait).await?;
    let mut report = DrainReport {
        received: messages.len(),
        failed: 0,
    };
    for message in messages {
        match handler.handle(&message.body).await {
            Ok(()) => queue.ack(name, &message.receipt).await?,
            Err(e) => {
                log_failure(&message.message_id, &e);
                report.failed += 1;
                // The message may have been deleted meanwhile; nothing to retry then.
                match queue.retry_later(name, &message.receipt, retry_after).await {
                    Ok(()) | Err(QueueError::InvalidReceipt) => {}
                    Err(other) => return Err(other),
                }
            }
        }
    }
    Ok(report)
}
