//! The outbox relay: moves committed outbox messages to their queues (see [`crate::messaging::outbox`]).

use std::collections::BTreeMap;

use crate::error::StoreError;
use crate::messaging::outbox::OutboxFeed;
use crate::messaging::outbox::OutboxMessage;
use crate::messaging::queue::{MessageQueue, OutgoingMessage, QueueError, QueueName};

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Sends `messages` to their queues. Sends are at-least-once: a failure part-way leaves some
/// sent, and the caller retries all of them (consumers are idempotent).
pub async fn send_outbox_messages(
    queues: &dyn MessageQueue,
    messages: &[OutboxMessage],
) -> Result<(), QueueError> {
    let mut by_queue: BTreeMap<QueueName, Vec<OutgoingMessage>> = BTreeMap::new();
    for m in messages {
        by_queue
            .entry(m.queue)
            .or_default()
            .push(OutgoingMessage::new(m.body.clone()).with_dedup_id(m.id.clone()));
    }
    for (queue, batch) in by_queue {
        queues.send_batch(queue, batch).await?;
    }
    Ok(())
}

/// One relay pass over up to `max` messages: read, send, then ack. A crash between send and
/// ack sends them again on the next pass (duplicates are harmless; losses are impossible).
/// Returns how many messages were relayed.
pub async fn relay_outbox(
    feed: &dyn OutboxFeed,
    queues: &dyn MessageQueue,
    max: usize,
) -> Result<usize, RelayError> {
    let messages = feed.poll_outbox(max).await?;
    if messages.is_empty() {
        return Ok(0);
    }
    send_outbox_messages(queues, &messages).await?;
    let ids: Vec<String> = messages.iter().map(|m| m.id.clone()).collect();
    feed.ack_outbox(&ids).await?;
    Ok(messages.len())
}
