//! Amazon SQS adapter of the [`MessageQueue`] port: standard queues, each with a dead-letter
//! queue and a redrive policy. The semantics are the port's (see [`pixgw_domain::messaging::queue`]); this
//! page says how each maps onto SQS.
//!
//! | port | SQS |
//! |---|---|
//! | queue `q` | queue `<prefix>-<q>` (just `<q>` with an empty prefix); its URL from `GetQueueUrl`, cached |
//! | dead-letter queue | `<prefix>-<q>-dlq`, the `deadLetterTargetArn` of `q`'s `RedrivePolicy` |
//! | `send` / `send_batch` | `SendMessage` / `SendMessageBatch` (≤ 10 entries and ≤ 256 KiB of bodies per call), `DelaySeconds` rounded **up** to whole seconds |
//! | `receive` | `ReceiveMessage` with `MaxNumberOfMessages`, `WaitTimeSeconds` (rounded up, ≤ 20) and `MessageSystemAttributeNames = [ApproximateReceiveCount]` |
//! | `ack` | `DeleteMessage` (on the dead-letter queue for its receipts) |
//! | `retry_later` | `ChangeMessageVisibility` (`VisibilityTimeout` rounded up) |
//! | `dead_letters` | `ReceiveMessage` on the dead-letter queue, long-polling 1 s |
//!
//! Errors: `ReceiptHandleIsInvalid`, `MessageNotInflight` and a receipt-related
//! `InvalidParameterValue` are [`QueueError::InvalidReceipt`]; a missing queue is
//! [`QueueError::NoSuchQueue`]; everything else is [`QueueError::Unavailable`]. Body size and
//! delay are checked before any call, so SQS's own `InvalidParameterValue` for them is never
//! the first line of defence. (SQS raised its own body limit to 1 MiB in 2025; the port keeps
//! 256 KiB, which every SQS and moto version accepts.)
//!
//! `dedup_id` is logged, not sent: standard queues reject `MessageDeduplicationId`.
//!
//! Behaviour checked against moto 5.2.5 (the test emulator) and where it differs from SQS:
//! - moto redrives exactly like SQS: on a receive, a visible message whose
//!   `ApproximateReceiveCount` has reached `maxReceiveCount` moves to the dead-letter queue
//!   instead of being delivered, keeping its message id.
//! - moto deletes a message for *any* receipt handle it ever had; SQS documents that an old
//!   handle's delete "succeeds, but the message might not be deleted". Both return success.
//! - moto's `ChangeMessageVisibility` on a message that is not in flight succeeds; SQS answers
//!   `MessageNotInflight` (→ `InvalidReceipt`). The contract suite does not depend on either.
//! - moto's long poll re-checks about once a second; SQS returns as soon as a message arrives.

mod setup;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sqs::types::{MessageSystemAttributeName, SendMessageBatchRequestEntry};
use pixgw_domain::messaging::queue::{
    MessageQueue, OutgoingMessage, QueueError, QueueLimits, QueueName, Receipt, ReceivedMessage,
    validate_receive_max, validate_retry_after,
};
use tracing::debug;

/// Amazon SQS's limits (standard queues, default settings): 256 KiB bodies, 15-minute delays,
/// batches of 10, 20-second long polls, 12-hour visibility timeouts.
pub const SQS_LIMITS: QueueLimits = QueueLimits {
    max_body_bytes: 256 * 1024,
    max_delay: Duration::from_secs(15 * 60),
    max_batch: 10,
    max_wait: Duration::from_secs(20),
    max_visibility: Duration::from_secs(12 * 60 * 60),
};

pub use setup::{create_queues, dead_letter_queue_name, queue_name};

/// The SQS implementation of [`MessageQueue`].
#[derive(Debug)]
pub struct SqsQueues {
    client: Client,
    prefix: String,
    /// Queue name → URL.
    urls: Mutex<HashMap<String, String>>,
}

impl SqsQueues {
    pub fn new(client: Client, prefix: impl Into<String>) -> SqsQueues {
        SqsQueues {
            client,
            prefix: prefix.into(),
            urls: Mutex::new(HashMap::new()),
        }
    }

    /// A client from the default AWS configuration chain, pointing at `endpoint` when one is
    /// given (e.g. moto).
    pub async fn connect(endpoint: Option<String>, prefix: impl Into<String>) -> SqsQueues {
        SqsQueues::new(sdk_client(endpoint).await, prefix)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    async fn url(&self, queue: QueueName, dead: bool) -> Result<String, QueueError> {
        let name = if dead {
            dead_letter_queue_name(&self.prefix, queue)
        } else {
            queue_name(&self.prefix, queue)
        };
        if let Some(url) = self.cache()?.get(&name) {
            return Ok(url.clone());
        }
        let out = self
            .client
            .get_queue_url()
            .queue_name(&name)
            .send()
            .await
            .map_err(|e| match e.code() {
                Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist") => {
                    QueueError::NoSuchQueue(name.clone())
                }
                _ => unavailable(e),
            })?;
        let url = out
            .queue_url()
            .ok_or_else(|| QueueError::Unavailable(format!("no URL for queue {name}")))?
            .to_string();
        self.cache()?.insert(name, url.clone());
        Ok(url)
    }

    fn cache(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, String>>, QueueError> {
        self.urls
            .lock()
            .map_err(|_| QueueError::Unavailable("queue URL cache is poisoned".into()))
    }

    async fn receive_from(
        &self,
        queue: QueueName,
        dead: bool,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        validate_receive_max(max, &SQS_LIMITS)?;
        let out = self
            .client
            .receive_message()
            .queue_url(self.url(queue, dead).await?)
            .max_number_of_messages(max as i32)
            .wait_time_seconds(ceil_secs(wait.min(SQS_LIMITS.max_wait)))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(classify)?;
        out.messages()
            .iter()
            .map(|m| {
                let missing =
                    |what: &str| QueueError::Unavailable(format!("message without {what}"));
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| missing("ApproximateReceiveCount"))?;
                Ok(ReceivedMessage {
                    message_id: m
                        .message_id()
                        .ok_or_else(|| missing("MessageId"))?
                        .to_string(),
                    body: m.body().unwrap_or_default().to_string(),
                    receipt: Receipt::new(
                        m.receipt_handle().ok_or_else(|| missing("ReceiptHandle"))?,
                        dead,
                    ),
                    receive_count,
                })
            })
            .collect()
    }

    async fn send_chunk(&self, url: &str, chunk: &[OutgoingMessage]) -> Result<(), QueueError> {
        let mut request = self.client.send_message_batch().queue_url(url);
        for (i, message) in chunk.iter().enumerate() {
            debug!(dedup_id = ?message.dedup_id, "sqs send");
            let entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(&message.body)
                .delay_seconds(ceil_secs(message.delay))
                .build()
                .map_err(|e| QueueError::InvalidRequest(e.to_string()))?;
            request = request.entries(entry);
        }
        let out = request.send().await.map_err(classify)?;
        let failed = out.failed();
        if failed.is_empty() {
            return Ok(());
        }
        let codes: Vec<_> = failed
            .iter()
            .map(|f| format!("{}: {}", f.id(), f.code()))
            .collect();
        let text = format!(
            "{} of {} batch entries failed ({})",
            failed.len(),
            chunk.len(),
            codes.join(", ")
        );
        if failed.iter().any(|f| f.sender_fault()) {
            Err(QueueError::InvalidRequest(text))
        } else {
            Err(QueueError::Unavailable(text))
        }
    }
}

/// An SDK client from the default configuration chain, with an optional endpoint override.
pub async fn sdk_client(endpoint: Option<String>) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    Client::new(&loader.load().await)
}

/// Whole seconds, rounded up, as SQS wants them.
fn ceil_secs(d: Duration) -> i32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(secs).unwrap_or(i32::MAX)
}

fn unavailable(e: impl std::error::Error) -> QueueError {
    QueueError::Unavailable(DisplayErrorContext(e).to_string())
}

/// Maps an SDK error of a data-plane call onto the port's errors.
fn classify<E>(e: E) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match e.code() {
        Some("ReceiptHandleIsInvalid" | "MessageNotInflight") => QueueError::InvalidReceipt,
        Some("InvalidParameterValue")
            if e.message()
                .unwrap_or_default()
                .to_lowercase()
                .contains("receipt") =>
        {
            QueueError::InvalidReceipt
        }
        Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist") => {
            QueueError::NoSuchQueue(e.message().unwrap_or_default().to_string())
        }
        _ => unavailable(e),
    }
}

#[async_trait]
impl MessageQueue for SqsQueues {
    fn limits(&self) -> QueueLimits {
        SQS_LIMITS
    }

    async fn send(&self, queue: QueueName, message: OutgoingMessage) -> Result<(), QueueError> {
        message.validate(&SQS_LIMITS)?;
        debug!(dedup_id = ?message.dedup_id, %queue, "sqs send");
        self.client
            .send_message()
            .queue_url(self.url(queue, false).await?)
            .message_body(message.body)
            .delay_seconds(ceil_secs(message.delay))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn send_dead_letter(
        &self,
        queue: QueueName,
        message: OutgoingMessage,
    ) -> Result<(), QueueError> {
        message.validate(&SQS_LIMITS)?;
        debug!(dedup_id = ?message.dedup_id, %queue, "sqs send to the dead-letter queue");
        self.client
            .send_message()
            .queue_url(self.url(queue, true).await?)
            .message_body(message.body)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn send_batch(
        &self,
        queue: QueueName,
        messages: Vec<OutgoingMessage>,
    ) -> Result<(), QueueError> {
        for message in &messages {
            message.validate(&SQS_LIMITS)?;
        }
        if messages.is_empty() {
            return Ok(());
        }
        let url = self.url(queue, false).await?;
        // Chunks of ≤ 10 entries whose bodies add up to ≤ 256 KiB (a batch's own limit).
        let mut start = 0;
        while start < messages.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < messages.len()
                && end - start < SQS_LIMITS.max_batch
                && (end == start || bytes + messages[end].body.len() <= SQS_LIMITS.max_body_bytes)
            {
                bytes += messages[end].body.len();
                end += 1;
            }
            self.send_chunk(&url, &messages[start..end]).await?;
            start = end;
        }
        Ok(())
    }

    async fn receive(
        &self,
        queue: QueueName,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        self.receive_from(queue, false, max, wait).await
    }

    async fn ack(&self, queue: QueueName, receipt: &Receipt) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(self.url(queue, receipt.is_dead_letter()).await?)
            .receipt_handle(receipt.handle())
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn retry_later(
        &self,
        queue: QueueName,
        receipt: &Receipt,
        after: Duration,
    ) -> Result<(), QueueError> {
        validate_retry_after(after, &SQS_LIMITS)?;
        self.client
            .change_message_visibility()
            .queue_url(self.url(queue, receipt.is_dead_letter()).await?)
            .receipt_handle(receipt.handle())
            .visibility_timeout(ceil_secs(after))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn dead_letters(
        &self,
        queue: QueueName,
        max: usize,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        // A short poll may sample only some SQS servers and miss a message; a 1 s long poll
        // asks all of them and returns at once when something is there.
        self.receive_from(queue, true, max, Duration::from_secs(1))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_secs(Duration::ZERO), 0);
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::from_millis(2001)), 3);
    }
}
