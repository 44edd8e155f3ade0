//! In-process [`MessageQueue`] for the local gateway and the tests: the same semantics as an
//! SQS standard queue with a redrive policy (see [`pixgw_domain::messaging::queue`]), with no external
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
//! - Two ways to keep messages: [`LocalQueues::new`] keeps them in memory only (a restart
//!   loses them; for tests, and the baseline of the queue benchmark), and [`LocalQueues::open`]
//!   also keeps them in a journal file (`journal` module) until they are acked, so the local
//!   gateway resumes every accepted piece of work after a crash or restart: a message leaves
//!   durable storage only when its consumer acks it. Delivery order is arrival order, but
//!   consumers must not rely on it (SQS does not keep it).
//! - A receipt is `<instance>.<queue>.<receive number>.<message id>`: acking a receipt of
//!   this instance and queue whose message is gone (acked before, or moved to the dead-letter
//!   queue) is `Ok`; anything else not matching a delivery of the message is `InvalidReceipt`.
//!   Like moto, a receipt from an earlier delivery of a message still acks/retries it.
//! - A poisoned lock is reported as [`QueueError::Unavailable`], never a panic.

mod journal;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use pixgw_domain::messaging::queue::{
    MessageQueue, OutgoingMessage, QueueError, QueueLimits, QueueName, Receipt, ReceivedMessage,
    validate_receive_max, validate_retry_after,
};
use pixgw_domain::pix::clock::Clock;
use tokio::sync::Notify;

use crate::journal::{Change, Journal, Pending, Record};

/// The limits of the local queues: Amazon SQS's, number for number (a message the local gateway
/// accepts is one SQS accepts), kept here rather than borrowed from `pixgw-queue-sqs` so the local
/// gateway does not link the AWS SDK; the queue contract suite checks both adapters against them.
pub const LOCAL_LIMITS: QueueLimits = QueueLimits {
    max_body_bytes: 256 * 1024,
    max_delay: Duration::from_secs(15 * 60),
    max_batch: 10,
    max_wait: Duration::from_secs(20),
    max_visibility: Duration::from_secs(12 * 60 * 60),
};

/// The journal file [`LocalQueues::open_dir`] keeps in a data directory.
pub const JOURNAL_FILE: &str = "queues.redb";

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
    /// `None`: memory only.
    journal: Option<Journal>,
}

#[derive(Default)]
struct State {
    queues: HashMap<QueueName, Queue>,
    receives: u64,
    /// The arrival number of the next message sent.
    next_seq: u64,
}

#[derive(Default)]
struct Queue {
    config: LocalQueueConfig,
    main: Vec<Stored>,
    dead: Vec<Stored>,
}

struct Stored {
    id: String,
    seq: u64,
    body: String,
    visible_at: DateTime<Utc>,
    receive_count: u32,
    /// Receive numbers of every delivery of this message from its current lane.
    receipts: Vec<u64>,
    /// Received, and neither acked nor retried since.
    in_flight: bool,
}

impl Stored {
    fn new(id: String, seq: u64, body: String, visible_at: DateTime<Utc>) -> Stored {
        Stored {
            id,
            seq,
            body,
            visible_at,
            receive_count: 0,
            receipts: Vec::new(),
            in_flight: false,
        }
    }

    /// The journal's copy of this message as it is now.
    fn put(&self, queue: QueueName, dead: bool) -> Change {
        Change::Put {
            id: self.id.clone(),
            record: Record {
                seq: self.seq,
                queue: queue.as_str().to_owned(),
                dead,
                body: self.body.clone(),
                visible_at_ms: self.visible_at.timestamp_millis(),
                receive_count: self.receive_count,
                in_flight: self.in_flight,
            },
        }
    }
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
                next_seq: 0,
            }),
            arrivals: Notify::new(),
            journal: None,
        }
    }

    /// Durable queues kept in `dir/`[`JOURNAL_FILE`] (created if missing), every queue with
    /// `config`. Messages found there are back in their lanes: due ones at once, and those a
    /// dead process had received without acking too (with their receive counts).
    ///
    /// Blocking (it reads the file); call it at startup. One process may hold the file.
    pub fn open_dir(
        dir: &Path,
        clock: Arc<dyn Clock>,
        config: LocalQueueConfig,
    ) -> Result<LocalQueues, QueueError> {
        let (journal, messages) = Journal::open(&dir.join(JOURNAL_FILE))?;
        let mut queues = LocalQueues::with_default_config(clock, config);
        let now = queues.clock.now();
        let state = queues
            .state
            .get_mut()
            .map_err(|_| QueueError::Unavailable("local queue state is poisoned".into()))?;
        for (id, record) in messages {
            let Some(name) = QueueName::parse(&record.queue) else {
                tracing::warn!(queue = %record.queue, message_id = %id, "journal message of an unknown queue left alone");
                continue;
            };
            let visible_at = match DateTime::from_timestamp_millis(record.visible_at_ms) {
                Some(at) if !record.in_flight => at,
                _ => now,
            };
            let mut stored = Stored::new(id, record.seq, record.body, visible_at);
            stored.receive_count = record.receive_count;
            state.next_seq = state.next_seq.max(record.seq + 1);
            let queue = state.queue(name);
            if record.dead {
                queue.dead.push(stored);
            } else {
                queue.main.push(stored);
            }
        }
        queues.journal = Some(journal);
        Ok(queues)
    }

    /// How many messages wait in each lane (main, dead-letter), delivered or not.
    pub fn depth(&self, queue: QueueName) -> Result<(usize, usize), QueueError> {
        let mut state = self.lock()?;
        let q = state.queue(queue);
        Ok((q.main.len(), q.dead.len()))
    }

    /// Hands `changes` to the journal (call under the state lock, see the `journal` module).
    fn record(&self, changes: Vec<Change>) -> Option<Pending> {
        self.journal.as_ref().map(|journal| journal.submit(changes))
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

    /// Delivers up to `max` due messages of one lane; returns them, the journal write of their
    /// new receive counts and, when there are none, how long until the next one is due by the
    /// clock.
    fn take(&self, queue: QueueName, max: usize, dead: bool) -> Result<Taken, QueueError> {
        let now = self.clock.now();
        let mut state = self.lock()?;
        let State {
            queues, receives, ..
        } = &mut *state;
        let q = queues.entry(queue).or_default();
        let visibility = delta(q.config.visibility_timeout)?;
        let mut out = Vec::new();
        // The memory-only adapter (the benchmark's baseline) must not pay for journal copies.
        let journaled = self.journal.is_some();
        let mut changes = Vec::new();
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
                moved.in_flight = false;
                if journaled {
                    changes.push(moved.put(queue, true));
                }
                q.dead.push(moved);
                continue;
            }
            *receives += 1;
            let msg = &mut lane[i];
            msg.receive_count = msg.receive_count.saturating_add(1);
            msg.receipts.push(*receives);
            msg.visible_at = now + visibility;
            msg.in_flight = true;
            if journaled {
                changes.push(msg.put(queue, dead));
            }
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
        let written = self.record(changes);
        drop(state);
        Ok(Taken {
            messages: out,
            next_due,
            written,
        })
    }

    /// Runs `change` on the message a receipt delivered, if it is still in its lane, and
    /// journals what `change` returns.
    fn with_delivered(
        &self,
        queue: QueueName,
        receipt: &Receipt,
        change: impl FnOnce(&mut Vec<Stored>, usize) -> Change,
    ) -> Result<Option<Option<Pending>>, QueueError> {
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
            None => Ok(None),
            Some(i) if lane[i].receipts.contains(&number) => {
                let journaled = change(lane, i);
                Ok(Some(self.record(vec![journaled])))
            }
            Some(_) => Err(QueueError::InvalidReceipt),
        }
    }
}

/// What [`LocalQueues::take`] delivered.
struct Taken {
    messages: Vec<ReceivedMessage>,
    next_due: Option<Duration>,
    written: Option<Pending>,
}

/// Waits until a journal write (if any) is on disk.
async fn durable(written: Option<Pending>) -> Result<(), QueueError> {
    match written {
        Some(pending) => pending.durable().await,
        None => Ok(()),
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
    fn limits(&self) -> QueueLimits {
        LOCAL_LIMITS
    }

    async fn send(&self, queue: QueueName, message: OutgoingMessage) -> Result<(), QueueError> {
        self.send_batch(queue, vec![message]).await
    }

    async fn send_batch(
        &self,
        queue: QueueName,
        messages: Vec<OutgoingMessage>,
    ) -> Result<(), QueueError> {
        for message in &messages {
            message.validate(&LOCAL_LIMITS)?;
        }
        let now = self.clock.now();
        let mut visible_at = Vec::with_capacity(messages.len());
        for message in &messages {
            visible_at.push(now + delta(message.delay)?);
        }
        let written = {
            let mut state = self.lock()?;
            let first_seq = state.next_seq;
            state.next_seq += messages.len() as u64;
            let lane = &mut state.queue(queue).main;
            let journaled = self.journal.is_some();
            let mut changes = Vec::with_capacity(messages.len());
            for ((message, visible_at), seq) in
                messages.into_iter().zip(visible_at).zip(first_seq..)
            {
                let id = uuid::Uuid::new_v4().to_string();
                let stored = Stored::new(id, seq, message.body, visible_at);
                if journaled {
                    changes.push(stored.put(queue, false));
                }
                lane.push(stored);
            }
            self.record(changes)
        };
        self.wake();
        durable(written).await
    }

    async fn send_dead_letter(
        &self,
        queue: QueueName,
        message: OutgoingMessage,
    ) -> Result<(), QueueError> {
        message.validate(&LOCAL_LIMITS)?;
        let now = self.clock.now();
        let written = {
            let mut state = self.lock()?;
            let seq = state.next_seq;
            state.next_seq += 1;
            let stored = Stored::new(uuid::Uuid::new_v4().to_string(), seq, message.body, now);
            let change = stored.put(queue, true);
            state.queue(queue).dead.push(stored);
            self.record(vec![change])
        };
        durable(written).await
    }

    async fn receive(
        &self,
        queue: QueueName,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        validate_receive_max(max, &LOCAL_LIMITS)?;
        let deadline = tokio::time::Instant::now() + wait.min(LOCAL_LIMITS.max_wait);
        loop {
            // Registered before looking, so a send between the look and the wait still wakes us.
            let arrival = self.arrivals.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            let taken = self.take(queue, max, false)?;
            // The receive counts are on disk before anyone acts on a delivery.
            durable(taken.written).await?;
            let now = tokio::time::Instant::now();
            if !taken.messages.is_empty() || now >= deadline {
                return Ok(taken.messages);
            }
            let mut nap = deadline - now;
            if let Some(due) = taken.next_due {
                nap = nap.min(due.max(Duration::from_millis(1)));
            }
            tokio::select! {
                _ = arrival => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn ack(&self, queue: QueueName, receipt: &Receipt) -> Result<(), QueueError> {
        let written = self.with_delivered(queue, receipt, |lane, i| Change::Delete {
            id: lane.remove(i).id,
        })?;
        durable(written.flatten()).await
    }

    async fn retry_later(
        &self,
        queue: QueueName,
        receipt: &Receipt,
        after: Duration,
    ) -> Result<(), QueueError> {
        validate_retry_after(after, &LOCAL_LIMITS)?;
        let visible_at = self.clock.now() + delta(after)?;
        let dead = receipt.is_dead_letter();
        let written = self.with_delivered(queue, receipt, |lane, i| {
            lane[i].visible_at = visible_at;
            lane[i].in_flight = false;
            lane[i].put(queue, dead)
        })?;
        match written {
            Some(written) => {
                self.wake();
                durable(written).await
            }
            None => Err(QueueError::InvalidReceipt),
        }
    }

    async fn dead_letters(
        &self,
        queue: QueueName,
        max: usize,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        validate_receive_max(max, &LOCAL_LIMITS)?;
        // Messages reach the dead-letter queue only when a receive moves them, so look once.
        let taken = self.take(queue, max.min(LOCAL_LIMITS.max_batch), true)?;
        durable(taken.written).await?;
        Ok(taken.messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pixgw_domain::pix::clock::SystemClock;

    const Q: QueueName = QueueName::PayoutRequests;

    fn open(dir: &Path, max_receives: u32) -> LocalQueues {
        let config = LocalQueueConfig {
            visibility_timeout: Duration::from_secs(30),
            max_receives,
        };
        LocalQueues::open_dir(dir, Arc::new(SystemClock), config).unwrap()
    }

    async fn bodies(queues: &LocalQueues) -> Vec<(String, u32)> {
        let got = queues
            .receive(Q, LOCAL_LIMITS.max_batch, Duration::ZERO)
            .await
            .unwrap();
        let mut out: Vec<_> = got.into_iter().map(|m| (m.body, m.receive_count)).collect();
        out.sort();
        out
    }

    #[tokio::test]
    async fn a_reopened_journal_holds_every_unacked_message_and_no_acked_one() {
        let dir = tempfile::tempdir().unwrap();
        {
            let queues = open(dir.path(), 5);
            let sent = ["a", "b", "c"].map(OutgoingMessage::new).to_vec();
            queues.send_batch(Q, sent).await.unwrap();
            queues
                .send(
                    QueueName::ChargeConfirmed,
                    OutgoingMessage::new("other queue"),
                )
                .await
                .unwrap();
            let got = queues.receive(Q, 2, Duration::ZERO).await.unwrap();
            // "a" is acked; "b" is in the hands of a consumer that dies with the process.
            queues.ack(Q, &got[0].receipt).await.unwrap();
            assert_eq!(got[1].body, "b");
        }
        let queues = open(dir.path(), 5);
        // "b" is visible at once (its holder is gone), with the receive it already had.
        assert_eq!(
            bodies(&queues).await,
            vec![("b".to_owned(), 2), ("c".to_owned(), 1)]
        );
        let other = queues
            .receive(QueueName::ChargeConfirmed, 10, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].body, "other queue");
    }

    #[tokio::test]
    async fn receive_counts_survive_restarts_so_a_message_that_kills_its_consumer_dead_letters() {
        let dir = tempfile::tempdir().unwrap();
        {
            let queues = open(dir.path(), 2);
            queues
                .send(Q, OutgoingMessage::new("poison"))
                .await
                .unwrap();
        }
        for expected_count in 1..=2 {
            let queues = open(dir.path(), 2);
            assert_eq!(
                bodies(&queues).await,
                vec![("poison".to_owned(), expected_count)]
            );
            // The process dies holding it.
        }
        let queues = open(dir.path(), 2);
        assert!(bodies(&queues).await.is_empty());
        let dead = queues.dead_letters(Q, 10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].body, "poison");
        drop(queues);
        // Still dead-lettered after another restart, and gone once acked there.
        let queues = open(dir.path(), 2);
        let dead = queues.dead_letters(Q, 10).await.unwrap();
        assert_eq!(dead.len(), 1);
        queues.ack(Q, &dead[0].receipt).await.unwrap();
        drop(queues);
        let queues = open(dir.path(), 2);
        assert!(queues.dead_letters(Q, 10).await.unwrap().is_empty());
        assert_eq!(queues.depth(Q).unwrap(), (0, 0));
    }

    #[tokio::test]
    async fn delays_and_retries_keep_their_due_time_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let queues = open(dir.path(), 5);
            queues
                .send(
                    Q,
                    OutgoingMessage::new("later").with_delay(Duration::from_secs(600)),
                )
                .await
                .unwrap();
            queues
                .send(Q, OutgoingMessage::new("retried"))
                .await
                .unwrap();
            let got = queues.receive(Q, 10, Duration::ZERO).await.unwrap();
            assert_eq!(got.len(), 1);
            queues
                .retry_later(Q, &got[0].receipt, Duration::from_secs(600))
                .await
                .unwrap();
        }
        let queues = open(dir.path(), 5);
        assert!(bodies(&queues).await.is_empty());
        assert_eq!(queues.depth(Q).unwrap(), (2, 0));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_journal_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let _queues = open(dir.path(), 5);
        let mode = std::fs::metadata(dir.path().join(JOURNAL_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

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
