//! The queue contract: one suite of cases every [`MessageQueue`] adapter must pass (in-process
//! and SQS), so the local gateway's queues behave like production's. The semantics are those
//! documented in [`pixgw_domain::messaging::queue`].
//!
//! Each case is an `async fn(&dyn QueueFixture)` that panics on a violation;
//! `tests/queue_contract.rs` runs each against a fresh fixture of each adapter. Time is the
//! fixture's business: the local adapter runs on a manual clock that [`QueueFixture::advance`]
//! moves instantly; SQS (moto) has real time only, so its fixture uses a 2 s visibility timeout
//! and really sleeps. Cases are written in multiples of [`QueueFixture::visibility`], with half
//! a visibility timeout of margin on each side of every deadline.
//!
//! Positive checks ("it is there") long-poll for [`POLL`], which returns as soon as a message is
//! visible; negative checks ("it is hidden") receive without waiting.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use pixgw_domain::messaging::queue::{
    DynQueue, OutgoingMessage, QueueError, QueueName, Receipt, ReceivedMessage,
};
use pixgw_queue_sqs::SQS_LIMITS;

/// A fresh set of queues plus control over the time they see.
#[async_trait]
pub trait QueueFixture: Send + Sync {
    fn queue(&self) -> DynQueue;
    /// The visibility timeout every queue of the fixture was created with.
    fn visibility(&self) -> Duration;
    /// The `max_receives` every queue of the fixture was created with.
    fn max_receives(&self) -> u32;
    /// Lets `by` pass as far as the queues can tell (moves a clock, or sleeps).
    async fn advance(&self, by: Duration);
}

/// Calls `$callback!($($args)*; sequential: [...], concurrent: [...])` with every case.
/// `concurrent` cases need a multi-threaded runtime.
#[macro_export]
macro_rules! queue_contract_cases {
    ($callback:ident ! ( $($args:tt)* )) => {
        $callback! {
            $($args)*;
            sequential: [
                send_receive_ack_round_trip,
                unacked_message_reappears_after_the_visibility_timeout,
                retry_later_hides_the_message_for_that_long,
                max_receives_without_ack_moves_the_message_to_the_dead_letter_queue,
                send_dead_letter_parks_a_message_beside_the_redriven_ones,
                delay_hides_a_message_until_due,
                stale_and_invalid_receipts,
                batch_of_25_arrives_exactly_once,
                messages_over_256_kib_are_too_large,
                arguments_outside_sqs_limits_are_rejected,
                queues_are_independent,
            ],
            concurrent: [
                four_consumers_drain_100_messages_exactly_once,
            ],
        }
    };
}

/// How long positive checks long-poll.
pub const POLL: Duration = Duration::from_secs(3);
const Q: QueueName = QueueName::ChargeConfirmed;

// =============================================================================================
// Helpers

fn margin(f: &dyn QueueFixture) -> Duration {
    f.visibility() / 2
}

async fn wait_past_visibility(f: &dyn QueueFixture) {
    f.advance(f.visibility() + margin(f)).await;
}

async fn receive_one(f: &dyn QueueFixture, queue: QueueName, what: &str) -> ReceivedMessage {
    let mut got = f.queue().receive(queue, 10, POLL).await.expect("receive");
    assert_eq!(got.len(), 1, "{what}: expected one message, got {got:?}");
    got.remove(0)
}

async fn assert_hidden(f: &dyn QueueFixture, queue: QueueName, what: &str) {
    let got = f
        .queue()
        .receive(queue, 10, Duration::ZERO)
        .await
        .expect("receive");
    assert!(
        got.is_empty(),
        "{what}: expected no visible message, got {got:?}"
    );
}

async fn send(f: &dyn QueueFixture, body: &str) {
    f.queue()
        .send(Q, OutgoingMessage::new(body))
        .await
        .expect("send");
}

/// Receives and acks until `expected` messages were acked or 60 s passed; returns the bodies
/// in the order acked (duplicates kept).
async fn drain(queue: DynQueue, acked: Arc<AtomicUsize>, expected: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut bodies = Vec::new();
    while acked.load(Ordering::SeqCst) < expected && tokio::time::Instant::now() < deadline {
        let batch = queue
            .receive(Q, 10, Duration::from_secs(1))
            .await
            .expect("receive");
        for message in batch {
            queue.ack(Q, &message.receipt).await.expect("ack");
            acked.fetch_add(1, Ordering::SeqCst);
            bodies.push(message.body);
        }
    }
    bodies
}

fn assert_exactly_once(bodies: &[String], sent: &[String]) {
    let unique: BTreeSet<&String> = bodies.iter().collect();
    assert_eq!(
        unique.len(),
        bodies.len(),
        "duplicate deliveries: {bodies:?}"
    );
    assert_eq!(unique, sent.iter().collect::<BTreeSet<_>>());
}

// =============================================================================================
// Cases

pub async fn send_receive_ack_round_trip(f: &dyn QueueFixture) {
    let q = f.queue();
    q.send(
        Q,
        OutgoingMessage::new("{\"chargeId\":\"c1\"}").with_dedup_id("c1"),
    )
    .await
    .expect("send");
    let m = receive_one(f, Q, "first receive").await;
    assert_eq!(m.body, "{\"chargeId\":\"c1\"}");
    assert_eq!(m.receive_count, 1);
    assert!(!m.message_id.is_empty());
    assert!(!m.receipt.is_dead_letter());
    q.ack(Q, &m.receipt).await.expect("ack");
    wait_past_visibility(f).await;
    assert_hidden(f, Q, "an acked message never comes back").await;
}

pub async fn unacked_message_reappears_after_the_visibility_timeout(f: &dyn QueueFixture) {
    send(f, "again").await;
    let first = receive_one(f, Q, "first receive").await;
    assert_hidden(f, Q, "in flight").await;
    wait_past_visibility(f).await;
    let second = receive_one(f, Q, "after the visibility timeout").await;
    assert_eq!(second.message_id, first.message_id);
    assert_eq!(second.body, "again");
    assert_eq!(second.receive_count, 2);
    assert_ne!(
        second.receipt, first.receipt,
        "each delivery has its own receipt"
    );
    f.queue().ack(Q, &second.receipt).await.expect("ack");
}

pub async fn retry_later_hides_the_message_for_that_long(f: &dyn QueueFixture) {
    let v = f.visibility();
    send(f, "backoff").await;
    let first = receive_one(f, Q, "first receive").await;
    f.queue()
        .retry_later(Q, &first.receipt, 3 * v)
        .await
        .expect("retry_later");
    f.advance(v + margin(f)).await;
    assert_hidden(f, Q, "past the visibility timeout but before retry_later's").await;
    f.advance(2 * v).await;
    let second = receive_one(f, Q, "after retry_later's delay").await;
    assert_eq!(
        (second.message_id.as_str(), second.receive_count),
        (first.message_id.as_str(), 2)
    );
    // Zero releases it at once.
    f.queue()
        .retry_later(Q, &second.receipt, Duration::ZERO)
        .await
        .expect("retry_later(0)");
    let third = receive_one(f, Q, "after retry_later(0)").await;
    assert_eq!(third.receive_count, 3);
    f.queue().ack(Q, &third.receipt).await.expect("ack");
}

pub async fn max_receives_without_ack_moves_the_message_to_the_dead_letter_queue(
    f: &dyn QueueFixture,
) {
    send(f, "poison").await;
    let mut id = String::new();
    for n in 1..=f.max_receives() {
        let m = receive_one(f, Q, &format!("receive #{n}")).await;
        assert_eq!(m.receive_count, n);
        id = m.message_id;
        wait_past_visibility(f).await;
    }
    // The next receive moves it instead of delivering it.
    assert_hidden(f, Q, "past max_receives").await;
    let dead = f.queue().dead_letters(Q, 10).await.expect("dead_letters");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(
        (dead[0].message_id.as_str(), dead[0].body.as_str()),
        (id.as_str(), "poison")
    );
    assert!(dead[0].receipt.is_dead_letter());
    wait_past_visibility(f).await;
    assert_hidden(f, Q, "no longer in the queue").await;
    // Acking a dead letter removes it from the dead-letter queue.
    f.queue()
        .ack(Q, &dead[0].receipt)
        .await
        .expect("ack dead letter");
    wait_past_visibility(f).await;
    let left = f.queue().dead_letters(Q, 10).await.expect("dead_letters");
    assert!(left.is_empty(), "{left:?}");
}

pub async fn send_dead_letter_parks_a_message_beside_the_redriven_ones(f: &dyn QueueFixture) {
    f.queue()
        .send_dead_letter(Q, OutgoingMessage::new("given up"))
        .await
        .expect("send_dead_letter");
    // Never delivered to consumers of the queue itself...
    assert_hidden(f, Q, "a dead letter is not in the main queue").await;
    // ...but readable (and ackable) by operators, like a redriven message.
    let dead = f.queue().dead_letters(Q, 10).await.expect("dead_letters");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].body, "given up");
    assert!(dead[0].receipt.is_dead_letter());
    f.queue()
        .ack(Q, &dead[0].receipt)
        .await
        .expect("ack dead letter");
    wait_past_visibility(f).await;
    let left = f.queue().dead_letters(Q, 10).await.expect("dead_letters");
    assert!(left.is_empty(), "{left:?}");
    // The limits apply as to any send.
    let huge = OutgoingMessage::new("x".repeat(SQS_LIMITS.max_body_bytes + 1));
    assert!(matches!(
        f.queue().send_dead_letter(Q, huge).await,
        Err(QueueError::TooLarge { .. })
    ));
}

pub async fn delay_hides_a_message_until_due(f: &dyn QueueFixture) {
    let v = f.visibility();
    f.queue()
        .send(Q, OutgoingMessage::new("later").with_delay(2 * v))
        .await
        .expect("send delayed");
    assert_hidden(f, Q, "just sent").await;
    f.advance(v).await;
    assert_hidden(f, Q, "half-way through the delay").await;
    f.advance(v + margin(f)).await;
    let m = receive_one(f, Q, "after the delay").await;
    assert_eq!((m.body.as_str(), m.receive_count), ("later", 1));
    f.queue().ack(Q, &m.receipt).await.expect("ack");
}

/// Never issued → `InvalidReceipt`. Acking twice → `Ok`. The receipt of an earlier delivery
/// of a message delivered again since → `Ok`, and it deletes the message on both adapters
/// tested here (moto and the local one; real SQS documents it "might not" delete, which
/// leaves one more, harmless, delivery). Retrying an acked message → `InvalidReceipt`.
pub async fn stale_and_invalid_receipts(f: &dyn QueueFixture) {
    let q = f.queue();
    let forged = Receipt::new("not-a-receipt", false);
    assert_eq!(q.ack(Q, &forged).await, Err(QueueError::InvalidReceipt));
    assert_eq!(
        q.retry_later(Q, &forged, Duration::ZERO).await,
        Err(QueueError::InvalidReceipt)
    );
    send(f, "stale").await;
    let first = receive_one(f, Q, "first receive").await;
    wait_past_visibility(f).await;
    let second = receive_one(f, Q, "second receive").await;
    assert_eq!(q.ack(Q, &first.receipt).await, Ok(()), "stale receipt");
    wait_past_visibility(f).await;
    assert_hidden(f, Q, "deleted through the stale receipt").await;
    assert_eq!(
        q.ack(Q, &second.receipt).await,
        Ok(()),
        "current receipt, already deleted"
    );
    assert_eq!(q.ack(Q, &first.receipt).await, Ok(()), "acking twice");
    assert_eq!(
        q.retry_later(Q, &second.receipt, Duration::ZERO).await,
        Err(QueueError::InvalidReceipt),
        "retrying a deleted message"
    );
}

pub async fn batch_of_25_arrives_exactly_once(f: &dyn QueueFixture) {
    let sent: Vec<String> = (0..25).map(|i| format!("batch-{i}")).collect();
    let batch = sent.iter().map(OutgoingMessage::new).collect();
    f.queue().send_batch(Q, batch).await.expect("send_batch");
    let bodies = drain(f.queue(), Arc::new(AtomicUsize::new(0)), sent.len()).await;
    assert_exactly_once(&bodies, &sent);
    wait_past_visibility(f).await;
    assert_hidden(f, Q, "every message acked").await;
}

/// Four consumers share 100 messages. Each acks right after receiving, well within the
/// visibility timeout, so no message becomes visible again and none may be delivered twice:
/// a duplicate here would mean a receive handed out an in-flight message. (Real SQS standard
/// queues may, rarely, still deliver a duplicate; consumers are idempotent for that reason.)
pub async fn four_consumers_drain_100_messages_exactly_once(f: &dyn QueueFixture) {
    let sent: Vec<String> = (0..100).map(|i| format!("msg-{i:03}")).collect();
    let batch = sent.iter().map(OutgoingMessage::new).collect();
    f.queue().send_batch(Q, batch).await.expect("send_batch");
    let acked = Arc::new(AtomicUsize::new(0));
    let consumers: Vec<_> = (0..4)
        .map(|_| tokio::spawn(drain(f.queue(), acked.clone(), sent.len())))
        .collect();
    let mut bodies = Vec::new();
    for consumer in consumers {
        bodies.extend(consumer.await.expect("consumer task"));
    }
    assert_exactly_once(&bodies, &sent);
    assert_hidden(f, Q, "drained").await;
}

pub async fn messages_over_256_kib_are_too_large(f: &dyn QueueFixture) {
    let q = f.queue();
    let too_big = "x".repeat(SQS_LIMITS.max_body_bytes + 1);
    assert_eq!(
        q.send(Q, OutgoingMessage::new(too_big.clone())).await,
        Err(QueueError::TooLarge {
            bytes: SQS_LIMITS.max_body_bytes + 1
        })
    );
    // Multi-byte characters count as bytes, not characters.
    let accented = "é".repeat(SQS_LIMITS.max_body_bytes / 2 + 1);
    assert!(matches!(
        q.send(Q, OutgoingMessage::new(accented)).await,
        Err(QueueError::TooLarge { .. })
    ));
    let batch = vec![OutgoingMessage::new("fine"), OutgoingMessage::new(too_big)];
    assert!(matches!(
        q.send_batch(Q, batch).await,
        Err(QueueError::TooLarge { .. })
    ));
    assert_hidden(f, Q, "a rejected batch sends nothing").await;
    // Exactly the limit is fine, and arrives intact.
    let max = "y".repeat(SQS_LIMITS.max_body_bytes);
    q.send(Q, OutgoingMessage::new(max.clone()))
        .await
        .expect("send 256 KiB");
    let m = receive_one(f, Q, "the 256 KiB message").await;
    assert!(m.body == max, "the 256 KiB body changed in transit");
    q.ack(Q, &m.receipt).await.expect("ack");
}

pub async fn arguments_outside_sqs_limits_are_rejected(f: &dyn QueueFixture) {
    let q = f.queue();
    // Every adapter takes SQS's limits, so what works locally works on AWS.
    assert_eq!(q.limits(), SQS_LIMITS);
    let invalid = |r: Result<_, QueueError>| matches!(r, Err(QueueError::InvalidRequest(_)));
    assert!(invalid(q.receive(Q, 0, Duration::ZERO).await));
    assert!(invalid(q.receive(Q, 11, Duration::ZERO).await));
    assert!(invalid(q.dead_letters(Q, 0).await));
    let late = OutgoingMessage::new("x").with_delay(SQS_LIMITS.max_delay + Duration::from_secs(1));
    assert!(invalid(q.send(Q, late).await.map(|_| Vec::new())));
    let receipt = Receipt::new("whatever", false);
    let too_long = SQS_LIMITS.max_visibility + Duration::from_secs(1);
    assert!(invalid(
        q.retry_later(Q, &receipt, too_long)
            .await
            .map(|_| Vec::new())
    ));
    assert_hidden(f, Q, "nothing was sent").await;
}

pub async fn queues_are_independent(f: &dyn QueueFixture) {
    send(f, "only here").await;
    for other in [QueueName::PayoutRequests, QueueName::WebhookDeliveries] {
        assert_hidden(f, other, other.as_str()).await;
    }
    let m = receive_one(f, Q, "its own queue").await;
    assert_eq!(m.body, "only here");
    f.queue().ack(Q, &m.receipt).await.expect("ack");
}
