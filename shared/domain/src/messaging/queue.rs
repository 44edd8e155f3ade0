//! The queue port: how the stages of the gateway hand work to each other
//! (charge-confirmed → split calculator → payout-requests → payout executor; webhook deliveries).
//!
//! Two adapters implement [`MessageQueue`]: `pixgw-queue-sqs` (Amazon SQS standard queues, in
//! production) and `pixgw-queue-local` (in-process, for the local gateway and tests). The
//! contract suite in `tests/src/contract/queue.rs` holds both to the semantics below, which are
//! those of an SQS standard queue with a redrive policy:
//!
//! - **At least once.** A sent message is delivered one or more times until it is acked.
//!   Consumers must therefore be idempotent: processing the same message twice changes nothing
//!   the second time.
//! - **Visibility timeout.** A received message is invisible to other receivers for the queue's
//!   visibility timeout. If it is not [acked](MessageQueue::ack) in that time it reappears and is
//!   delivered again (with a new receipt). [`MessageQueue::retry_later`] replaces the remaining
//!   invisibility of a received message with `after` (e.g. a backoff before the next attempt).
//! - **Receive count.** [`ReceivedMessage::receive_count`] is 1 on the first delivery and grows
//!   by one on every receive.
//! - **Dead letters.** Each queue has a dead-letter queue and a `max_receives` (configured when
//!   the queue is created). A message already received `max_receives` times without an ack is
//!   moved to the dead-letter queue the next time it would be delivered, instead of being
//!   delivered; [`MessageQueue::dead_letters`] reads from there.
//! - **No ordering.** Messages may arrive in any order. Nothing may depend on it.
//! - **Delays.** [`OutgoingMessage::delay`] (at most 15 minutes) hides a new message until due.
//!   SQS counts delays in whole seconds; its adapter rounds up, so a message never appears early.
//! - **Limits** (SQS's, enforced by every adapter *before* anything is sent, so the local gateway
//!   rejects what production would): a body of at most [`MAX_BODY_BYTES`] (256 KiB, UTF-8
//!   bytes); at most [`MAX_BATCH`] messages per SQS call (`send_batch` chunks larger inputs);
//!   1..=[`MAX_BATCH`] messages per receive; long polls of at most [`MAX_WAIT`];
//!   `retry_later` of at most [`MAX_VISIBILITY`].
//!
//! Receipts: [`Receipt`] is an opaque handle to one delivery. Acking a receipt twice, or acking
//! after the message was already deleted, is harmless (`Ok`). A receipt this queue never issued
//! is [`QueueError::InvalidReceipt`]. Acking with the receipt of an *earlier* delivery of a
//! message that has since been delivered again deletes the message on both tested adapters
//! (moto behaves the same); real SQS documents that such an ack "succeeds, but the message might
//! not be deleted", in which case it is simply delivered again: one more reason for idempotency.

use std::time::Duration;

use async_trait::async_trait;

/// What one queue adapter accepts. The numbers are the adapter's (SQS's are
/// `pixgw_queue_sqs::SQS_LIMITS`); the port only says what each bounds, and checks a request
/// against the adapter's [`MessageQueue::limits`] before anything is sent, so every adapter
/// fails the same way on a request over its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// The largest message body, in bytes of UTF-8.
    pub max_body_bytes: usize,
    /// The longest delay on a message.
    pub max_delay: Duration,
    /// The most messages one batch send takes or one receive returns.
    pub max_batch: usize,
    /// The longest long poll; longer waits are cut to this.
    pub max_wait: Duration,
    /// The longest a received message may stay invisible (`retry_later`).
    pub max_visibility: Duration,
}

/// The queues of the gateway. Each has a dead-letter queue named `<name>-dlq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueueName {
    /// A charge was paid: the split calculator books its splits.
    ChargeConfirmed,
    /// A split or payout is due: the payout executor transfers it.
    PayoutRequests,
    /// A merchant webhook is to be delivered.
    WebhookDeliveries,
}

impl QueueName {
    pub const ALL: [QueueName; 3] = [
        QueueName::ChargeConfirmed,
        QueueName::PayoutRequests,
        QueueName::WebhookDeliveries,
    ];

    /// The stable name (deployed queues are `<prefix>-<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::ChargeConfirmed => "charge-confirmed",
            QueueName::PayoutRequests => "payout-requests",
            QueueName::WebhookDeliveries => "webhook-deliveries",
        }
    }

    pub fn parse(name: &str) -> Option<QueueName> {
        QueueName::ALL.into_iter().find(|q| q.as_str() == name)
    }
}

impl std::fmt::Display for QueueName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub body: String,
    /// Hidden from receivers until this much time has passed; at most [`MAX_DELAY`].
    pub delay: Duration,
    /// A caller-chosen id for logs now and FIFO deduplication later. Standard queues do NOT
    /// deduplicate: two sends with the same id are two messages.
    pub dedup_id: Option<String>,
}

impl OutgoingMessage {
    pub fn new(body: impl Into<String>) -> OutgoingMessage {
        OutgoingMessage {
            body: body.into(),
            delay: Duration::ZERO,
            dedup_id: None,
        }
    }

    pub fn with_delay(mut self, delay: Duration) -> OutgoingMessage {
        self.delay = delay;
        self
    }

    pub fn with_dedup_id(mut self, id: impl Into<String>) -> OutgoingMessage {
        self.dedup_id = Some(id.into());
        self
    }

    /// Checks the adapter's limits: body size and delay.
    pub fn validate(&self, limits: &QueueLimits) -> Result<(), QueueError> {
        if self.body.len() > limits.max_body_bytes {
            return Err(QueueError::TooLarge {
                bytes: self.body.len(),
            });
        }
        if self.delay > limits.max_delay {
            return Err(QueueError::InvalidRequest(format!(
                "delay {:?} is over the {:?} maximum",
                self.delay, limits.max_delay
            )));
        }
        Ok(())
    }
}

/// An opaque handle to one delivery of a message, used to ack it or delay its retry. Only
/// adapters look inside.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Receipt {
    handle: String,
    dead_letter: bool,
}

impl Receipt {
    /// For adapters: `dead_letter` marks a delivery from the queue's dead-letter queue.
    pub fn new(handle: impl Into<String>, dead_letter: bool) -> Receipt {
        Receipt {
            handle: handle.into(),
            dead_letter,
        }
    }

    /// For adapters: the underlying handle (an SQS `ReceiptHandle`).
    pub fn handle(&self) -> &str {
        &self.handle
    }

    /// Whether this delivery came from the dead-letter queue ([`MessageQueue::dead_letters`]);
    /// acking it removes the message from the dead-letter queue.
    pub fn is_dead_letter(&self) -> bool {
        self.dead_letter
    }
}

/// One delivery of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// Assigned by the queue when the message was sent; the same on every delivery and in the
    /// dead-letter queue.
    pub message_id: String,
    pub body: String,
    pub receipt: Receipt,
    /// 1 on the first delivery, +1 on each later one.
    pub receive_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The queue service could not be reached or failed; retrying later may succeed.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// The queue does not exist (not created, or a wrong prefix).
    #[error("queue does not exist: {0}")]
    NoSuchQueue(String),
    /// The receipt was never issued by this queue, or its message can no longer be moved.
    #[error("invalid receipt")]
    InvalidReceipt,
    /// A body over [`MAX_BODY_BYTES`].
    #[error("message body of {bytes} bytes is over the 256 KiB limit")]
    TooLarge { bytes: usize },
    /// An argument outside the queue's limits (delay, batch size, wait, visibility).
    #[error("invalid queue request: {0}")]
    InvalidRequest(String),
}

/// Checks `max` of a receive: 1..=[`QueueLimits::max_batch`].
pub fn validate_receive_max(max: usize, limits: &QueueLimits) -> Result<(), QueueError> {
    if (1..=limits.max_batch).contains(&max) {
        Ok(())
    } else {
        Err(QueueError::InvalidRequest(format!(
            "can receive 1 to {} messages at once, not {max}",
            limits.max_batch
        )))
    }
}

/// Checks the `after` of a `retry_later`: at most [`QueueLimits::max_visibility`].
pub fn validate_retry_after(after: Duration, limits: &QueueLimits) -> Result<(), QueueError> {
    if after <= limits.max_visibility {
        Ok(())
    } else {
        Err(QueueError::InvalidRequest(format!(
            "retry after {after:?} is over the {:?} maximum",
            limits.max_visibility
        )))
    }
}

/// The port. Every method may fail with [`QueueError::Unavailable`].
#[async_trait]
pub trait MessageQueue: Send + Sync {
    /// What this adapter accepts (SQS's limits on both adapters, so local behaves as AWS).
    fn limits(&self) -> QueueLimits;

    /// Sends one message. Fails with [`QueueError::TooLarge`] or
    /// [`QueueError::InvalidRequest`] (delay) without sending anything.
    async fn send(&self, queue: QueueName, message: OutgoingMessage) -> Result<(), QueueError>;

    /// Sends many messages, [`MAX_BATCH`] per underlying call. Every message is validated
    /// first: if one is invalid, nothing is sent. If a later call fails, the messages of
    /// earlier calls were sent; resending the whole input is safe (at-least-once).
    async fn send_batch(
        &self,
        queue: QueueName,
        messages: Vec<OutgoingMessage>,
    ) -> Result<(), QueueError>;

    /// Up to `max` (1..=[`MAX_BATCH`]) visible messages, making them invisible for the
    /// queue's visibility timeout. Waits up to `wait` (cut to [`MAX_WAIT`]) for the first one
    /// when none is visible; returns an empty list when the wait ends empty.
    async fn receive(
        &self,
        queue: QueueName,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError>;

    /// Deletes the delivered message (from the dead-letter queue for a receipt from
    /// [`MessageQueue::dead_letters`]). Harmless when already deleted.
    async fn ack(&self, queue: QueueName, receipt: &Receipt) -> Result<(), QueueError>;

    /// Makes a received message invisible for `after` from now (≤ [`MAX_VISIBILITY`]),
    /// instead of what was left of its visibility timeout; `Duration::ZERO` releases it at
    /// once. [`QueueError::InvalidReceipt`] if the message was already deleted.
    async fn retry_later(
        &self,
        queue: QueueName,
        receipt: &Receipt,
        after: Duration,
    ) -> Result<(), QueueError>;

    /// Puts a message straight into the queue's dead-letter queue: a consumer that gave up on
    /// something for good (e.g. a webhook whose retries ran out) parks it there for operators,
    /// beside the messages the redrive policy moved.
    async fn send_dead_letter(
        &self,
        queue: QueueName,
        message: OutgoingMessage,
    ) -> Result<(), QueueError>;

    /// Up to `max` (1..=[`MAX_BATCH`]) messages of the queue's dead-letter queue. This is a
    /// receive: they stay in the dead-letter queue, invisible for a visibility timeout, until
    /// acked (e.g. by a redrive tool that re-sends them first).
    async fn dead_letters(
        &self,
        queue: QueueName,
        max: usize,
    ) -> Result<Vec<ReceivedMessage>, QueueError>;
}

pub type DynQueue = std::sync::Arc<dyn MessageQueue>;

/// What a batch consumer reports back: the messages it could not process, which the queue
/// will deliver again. Mirrors Lambda's `SQSBatchResponse.batchItemFailures[].itemIdentifier`;
/// an empty list means every message of the batch is done (Lambda deletes them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub failed_message_ids: Vec<String>,
}

impl BatchOutcome {
    /// Builds the outcome from each message's id and processing result.
    pub fn from_results<E>(
        results: impl IntoIterator<Item = (String, Result<(), E>)>,
    ) -> BatchOutcome {
        BatchOutcome {
            failed_message_ids: results
                .into_iter()
                .filter(|(_, result)| result.is_err())
                .map(|(id, _)| id)
                .collect(),
        }
    }

    pub fn fail(&mut self, message_id: impl Into<String>) {
        self.failed_message_ids.push(message_id.into());
    }

    pub fn all_succeeded(&self) -> bool {
        self.failed_message_ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_are_stable_and_round_trip() {
        let names: Vec<_> = QueueName::ALL.iter().map(|q| q.as_str()).collect();
        assert_eq!(
            names,
            ["charge-confirmed", "payout-requests", "webhook-deliveries"]
        );
        for q in QueueName::ALL {
            assert_eq!(QueueName::parse(q.as_str()), Some(q));
        }
        assert_eq!(QueueName::parse("nope"), None);
    }

    #[test]
    fn requests_are_checked_against_the_adapters_limits() {
        let limits = QueueLimits {
            max_body_bytes: 8,
            max_delay: Duration::from_secs(60),
            max_batch: 3,
            max_wait: Duration::from_secs(1),
            max_visibility: Duration::from_secs(120),
        };
        assert!(
            OutgoingMessage::new("x".repeat(8))
                .validate(&limits)
                .is_ok()
        );
        assert_eq!(
            OutgoingMessage::new("x".repeat(9)).validate(&limits),
            Err(QueueError::TooLarge { bytes: 9 })
        );
        let at_most = OutgoingMessage::new("x").with_delay(limits.max_delay);
        assert!(at_most.validate(&limits).is_ok());
        let over =
            OutgoingMessage::new("x").with_delay(limits.max_delay + Duration::from_millis(1));
        assert!(matches!(
            over.validate(&limits),
            Err(QueueError::InvalidRequest(_))
        ));
        assert!(validate_receive_max(0, &limits).is_err());
        assert!(
            validate_receive_max(1, &limits).is_ok() && validate_receive_max(3, &limits).is_ok()
        );
        assert!(validate_receive_max(4, &limits).is_err());
        assert!(validate_retry_after(limits.max_visibility, &limits).is_ok());
        assert!(validate_retry_after(Duration::from_secs(121), &limits).is_err());
    }

    #[test]
    fn batch_outcome_lists_only_failures() {
        let outcome = BatchOutcome::from_results([
            ("a".to_string(), Ok(())),
            ("b".to_string(), Err("boom")),
            ("c".to_string(), Ok(())),
        ]);
        assert_eq!(outcome.failed_message_ids, ["b"]);
        assert!(!outcome.all_succeeded());
        assert!(BatchOutcome::default().all_succeeded());
    }
}
