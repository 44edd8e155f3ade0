//! In-process [`MessageQueue`] for the local gateway and the tests: the same semantics as an
//! SQS standard queue with a redrive policy (see [`pixgw_domain::queue`]), with no external
//! process.
//!
//! - Every [`QueueName`] exists from the start, each with its own dead-letter queue and a
//!   [`LocalQueueConfig`]: visibility timeout (default 30 s, SQS's default) and `max_receives`
//!   (default 5).
//! - All times (delays, visibility, retry-after) are read from the injected
//!   [`Clock`], so a test or the sandbox clock can move them. Only the *long-poll wait* of
//!   `receive` is real time: a receiver parks on a [`Notify`] (woken by sends, releases and
//!   [`LocalQueues::wake`]) and, at most, sleeps until the next message is due by the clock; it
//!   never spins.
//! - Messages live in memory only: a restart of the process loses them. Delivery order is
//!   arrival order, but consumers must not rely on it (SQS does not keep it).
//! - A receipt is `<instance>.<queue>.<receive number>.<message id>`: acking a receipt of
//!   this instance and queue whose message is gone (acked before, or moved to the dead-letter
//!   queue) is `Ok`; anything else not matching a delivery of the message is `InvalidReceipt`.
//!   Like moto, a receipt from an earlier delivery of a message still acks/retries it.
//! - A poisoned lock is reported as [`QueueError::Unavailable`], never a panic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use pixgw_domain::ports::Clock;
use pixgw_domain::queue::{
    MAX_BATCH, MAX_WAIT, MessageQueue, OutgoingMessage, QueueError, QueueName, Receipt,
    ReceivedMessage, validate_receive_max, validate_retry_after,
};
use tokio::sync::Notify;

/// Per-queue settings, the local equivalents of the SQS queue attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalQueueConfig {
    /// How long a received message stays invisible unless acked or retried.
    pub visibility_timeout: Duration,
    /// Receives without an ack before the message moves to the dead-letter queue (≥ 1).
    pub max_receives: u32,
}

impl Default for LocalQueueConfig {
    fn default() -> LocalQueueConfig {
        LocalQueueConfig {
            visibility_timeout: Duration::from_secs(30),
            max_receives: 5,
        }
    }
}

/// The in-process queues. Cheap to share behind an `Arc`.
pub struct LocalQueues {
    clock: Arc<dyn Clock>,
    /// Tells receipts of this instance from anything else.
    instance: String,
    state: Mutex<State>,
    arrivals: Notify,
}

#[derive(Default)]
struct State {
    queues: HashMap<QueueName, Queue>,
    receives: u64,
}

#[derive(Default)]
struct Queue {
    config: LocalQueueConfig,
    main: Vec<Stored>,
    dead: Vec<Stored>,
}

struct Stored {
    id: String,
    body: String,
    visible_at: DateTime<Utc>,
    receive_count: u32,
    /// Receive numbers of every delivery of this message from its current lane.
    receipts: Vec<u64>,
}

impl LocalQueues {
    /// Every queue with the default [`LocalQueueConfig`].
    pub fn new(clock: Arc<dyn Clock>) -> LocalQueues {
        LocalQueues::with_default_config(clock, LocalQueueConfig::default())
    }

    /// Every queue with `config`.
    pub fn with_default_config(clock: Arc<dyn Clock>, config: LocalQueueConfig) -> LocalQueues {
        let queues = QueueName::ALL
            .into_iter()
            .map(|name| {
                let queue = Queue {
                    config: sane(config),
                    ..Queue::default()
                };
                (name, queue)
            })
            .collect();
        LocalQueues {
            clock,
            instance: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            state: Mutex::new(State {
                queues,
                receives: 0,
            }),
            arrivals: Notify::new(),
        }
    }

    /// Changes one queue's settings (messages already in flight keep their deadlines).
    pub fn configure(&self, queue: QueueName, config: LocalQueueConfig) -> Result<(), QueueError> {
        self.lock()?.queue(queue).config = sane(config);
        Ok(())
    }

    /// Wakes parked receivers, e.g. after the clock was moved, so they look again.
    pub fn wake(&self) {
        self.arrivals.notify_waiters();
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, QueueError> {
        self.state
            .lock()
            .map_err(|_| QueueError::Unavailable("local queue state is poisoned".into()))
    }

    fn receipt(&self, queue: QueueName, number: u64, id: &str, dead: bool) -> Receipt {
        Receipt::new(format!("{}.{queue}.{number}.{id}", self.instance), dead)
    }

    /// `(receive number, message id)` of a receipt this instance issued for `queue`.
    fn parse_receipt<'r>(&self, queue: QueueName, receipt: &'r Receipt) -> Option<(u64, &'r str)> {
        let rest = receipt.handle().strip_prefix(self.instance.as_str())?;
        let rest = rest.strip_prefix('.')?.strip_prefix(queue.as_str())?;
        let (number, id) = rest.strip_prefix('.')?.split_once('.')?;
        Some((number.parse().ok()?, id))
    }

    /// Delivers up to `max` due messages of one lane; returns them and, when there are none,
    /// how long until the next one is due by the clock.
    fn take(
        &self,
        queue: QueueName,
        max: usize,
        dead: bool,
    ) -> Result<(Vec<ReceivedMessage>, Option<Duration>), QueueError> {
        let now = self.clock.now();
        let mut state = self.lock()?;
        let State { queues, receives } = &mut *state;
        let q = queues.entry(queue).or_default();
        let visibility = delta(q.config.visibility_timeout)?;
        let mut out = Vec::new();
        let mut i = 0;
        let lane_len = |q: &Queue| if dead { q.dead.len() } else { q.main.len() };
        while i < lane_len(q) && out.len() < max {
            let lane = if dead { &mut q.dead } else { &mut q.main };
            if lane[i].visible_at > now {
                i += 1;
                continue;
            }
            if !dead && lane[i].receive_count >= q.config.max_receives {
                let mut moved = q.main.remove(i);
                moved.receipts.clear();
                moved.visible_at = now;
                q.dead.push(moved);
                continue;
            }
            *receives += 1;
            let msg = &mut lane[i];
            msg.receive_count = msg.receive_count.saturating_add(1);
            msg.receipts.push(*receives);
            msg.visible_at = now + visibility;
            out.push(ReceivedMessage {
                message_id: msg.id.clone(),
                body: msg.body.clone(),
                receipt: self.receipt(queue, *receives, &msg.id, dead),
                receive_count: msg.receive_count,
            });
            i += 1;
        }
        let next_due = if out.is_empty() {
            let lane = if dead { &q.dead } else { &q.main };
            lane.iter()
                .map(|m| (m.visible_at - now).to_std().unwrap_or(Duration::ZERO))
                .min()
        } else {
            None
        };
        Ok((out, next_due))
    }

    /// Runs `change` on the message a receipt delivered, if it is still in its lane.
    fn with_delivered(
        &self,
        queue: QueueName,
        receipt: &Receipt,
        change: impl FnOnce(&mut Vec<Stored>, usize),
    ) -> Result<bool, QueueError> {
        let (number, id) = self
            .parse_receipt(queue, receipt)
            .ok_or(QueueError::InvalidReceipt)?;
        let mut state = self.lock()?;
        if number > state.receives {
            return Err(QueueError::InvalidReceipt);
        }
        let q = state.queue(queue);
        let lane = if receipt.is_dead_letter() {
            &mut q.dead
        } else {
            &mut q.main
        };
        match lane.iter().position(|m| m.id == id) {
            None => Ok(false),
            Some(i) if lane[i].receipts.contains(&number) => {
                change(lane, i);
                Ok(true)
            }
            Some(_) => Err(QueueError::InvalidReceipt),
        }
    }
}

impl State {
    fn queue(&mut self, name: QueueName) -> &mut Queue {
        self.queues.entry(name).or_default()
    }
}

fn sane(config: LocalQueueConfig) -> LocalQueueConfig {
    LocalQueueConfig {
        max_receives: config.max_receives.max(1),
        ..config
    }
}

fn delta(d: Duration) -> Result<TimeDelta, QueueError> {
    TimeDelta::from_std(d).map_err(|_| QueueError::InvalidRequest(format!("{d:?} is too long")))
}

#[async_trait]
impl MessageQueue for LocalQueues {
    async fn send(&self, queue: QueueName, message: OutgoingMessage) -> Result<(), QueueError> {
        self.send_batch(queue, vec![message]).await
    }

    async fn send_batch(
        &self,
        queue: QueueName,
        messages: Vec<OutgoingMessage>,
    ) -> Result<(), QueueError> {
        for message in &messages {
            message.validate()?;
        }
        let now = self.clock.now();
        let mut stored = Vec::with_capacity(messages.len());
        for message in messages {
            stored.push(Stored {
                id: uuid::Uuid::new_v4().to_string(),
                body: message.body,
                visible_at: now + delta(message.delay)?,
                receive_count: 0,
                receipts: Vec::new(),
            });
        }
        self.lock()?.queue(queue).main.extend(stored);
        self.wake();
        Ok(())
    }

    async fn send_dead_letter(
        &self,
        queue: QueueName,
        message: OutgoingMessage,
    ) -> Result<(), QueueError> {
        message.validate()?;
        let stored = Stored {
            id: uuid::Uuid::new_v4().to_string(),
            body: message.body,
            visible_at: self.clock.now(),
            receive_count: 0,
            receipts: Vec::new(),
        };
        self.lock()?.queue(queue).dead.push(stored);
        Ok(())
    }

    async fn receive(
        &self,
        queue: QueueName,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        validate_receive_max(max)?;
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        loop {
            // Registered before looking, so a send between the look and the wait still wakes us.
            let arrival = self.arrivals.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            let (messages, next_due) = self.take(queue, max, false)?;
            let now = tokio::time::Instant::now();
            if !messages.is_empty() || now >= deadline {
                return Ok(messages);
            }
            let mut nap = deadline - now;
            if let Some(due) = next_due {
                nap = nap.min(due.max(Duration::from_millis(1)));
            }
            tokio::select! {
                _ = arrival => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn ack(&self, queue: QueueName, receipt: &Receipt) -> Result<(), QueueError> {
        self.with_delivered(queue, receipt, |lane, i| {
            lane.remove(i);
        })?;
        Ok(())
    }

    async fn retry_later(
        &self,
        queue: QueueName,
        receipt: &Receipt,
        after: Duration,
    ) -> Result<(), QueueError> {
        validate_retry_after(after)?;
        let visible_at = self.clock.now() + delta(after)?;
        if self.with_delivered(queue, receipt, |lane, i| lane[i].visible_at = visible_at)? {
            self.wake();
            Ok(())
        } else {
            Err(QueueError::InvalidReceipt)
        }
    }

    async fn dead_letters(
        &self,
        queue: QueueName,
        max: usize,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        validate_receive_max(max)?;
        // Messages reach the dead-letter queue only when a receive moves them, so look once.
        Ok(self.take(queue, max.min(MAX_BATCH), true)?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pixgw_domain::ports::SystemClock;

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_send() {
        let queues = Arc::new(LocalQueues::new(Arc::new(SystemClock)));
        let receiver = {
            let queues = queues.clone();
            tokio::spawn(async move {
                queues
                    .receive(QueueName::ChargeConfirmed, 1, Duration::from_secs(10))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        queues
            .send(QueueName::ChargeConfirmed, OutgoingMessage::new("hi"))
            .await
            .unwrap();
        let got = receiver.await.unwrap().unwrap();
        assert_eq!(got.len(), 1);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn receipts_of_other_queues_and_instances_are_invalid() {
        let a = LocalQueues::new(Arc::new(SystemClock));
        let b = LocalQueues::new(Arc::new(SystemClock));
        a.send(QueueName::PayoutRequests, OutgoingMessage::new("x"))
            .await
            .unwrap();
        let got = a
            .receive(QueueName::PayoutRequests, 1, Duration::ZERO)
            .await
            .unwrap();
        let receipt = &got[0].receipt;
        assert_eq!(
            a.ack(QueueName::ChargeConfirmed, receipt).await,
            Err(QueueError::InvalidReceipt)
        );
        assert_eq!(
            b.ack(QueueName::PayoutRequests, receipt).await,
            Err(QueueError::InvalidReceipt)
        );
        assert_eq!(a.ack(QueueName::PayoutRequests, receipt).await, Ok(()));
    }
}
