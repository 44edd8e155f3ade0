//! The durable side of [`LocalQueues`](crate::LocalQueues): every message, with its lane,
//! receive count and visibility, kept in a redb file until its consumer acks it.
//!
//! # Why a journal beside the in-memory lanes
//! Receives must be fast and never scan a file, so the lanes stay in memory, exactly as in the
//! in-memory adapter. Every change to a lane is also written here *before the call that made it
//! returns*: a `send` that returned `Ok` survives a crash, and so does the receive count of a
//! delivery (a message that kills the process on every delivery still reaches the dead-letter
//! queue after `max_receives`). On open, the lanes are rebuilt from the journal.
//!
//! # Group commit
//! redb has one writer at a time and a durable commit costs an fsync. One writer thread takes
//! every change waiting in its channel, applies them all in ONE write transaction and commits
//! once, then answers each caller. Under load many sends, receives and acks share one fsync.
//!
//! # What must be on disk, and what may wait
//! A send must be durable before it returns (the relay deletes the outbox row on that `Ok`),
//! and so must a receive count (else a message that kills the process on every delivery would
//! never reach the dead-letter queue). An ack need not: an ack lost in a crash only means the
//! message is delivered once more, which at-least-once delivery and idempotent consumers
//! already allow (SQS itself may do it). A group of acks alone therefore commits without an
//! fsync (redb's `Durability::None`); the next durable commit, or a clean close, writes it.
//!
//! # Ordering
//! Callers submit their changes while still holding the lanes' lock, so the writer sees the
//! changes to one message in the order they happened in memory (send, receive, ack), and the
//! file never holds an older state than the one written last.
//!
//! Its own file (`queues.redb`), not the store's: the store's writer is the API's hot path, and
//! queue traffic must not queue behind it (nor the other way round).

use std::path::Path;
use std::sync::mpsc;
use std::thread;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use pixgw_domain::messaging::queue::QueueError;

/// message id → [`Record`] as JSON.
const MESSAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("queue_messages");

/// The most callers one commit answers (bounds the transaction, not the throughput).
const MAX_GROUP: usize = 512;

/// A message as the journal keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Record {
    /// Arrival order across every queue: lanes are rebuilt in this order.
    pub seq: u64,
    pub queue: String,
    pub dead: bool,
    pub body: String,
    pub visible_at_ms: i64,
    pub receive_count: u32,
    /// Received and neither acked nor retried: whoever held it died with the process, so on
    /// open it is visible at once instead of after the rest of its visibility timeout.
    pub in_flight: bool,
}

/// One change to the journal.
#[derive(Debug)]
pub(crate) enum Change {
    Put { id: String, record: Record },
    Delete { id: String },
}

struct Request {
    changes: Vec<Change>,
    done: oneshot::Sender<Result<(), QueueError>>,
}

/// The handle to the writer thread. Dropping it commits what was submitted, ends the thread and
/// closes the file (so the same process may open it again at once).
pub(crate) struct Journal {
    requests: Option<mpsc::Sender<Request>>,
    writer: Option<thread::JoinHandle<()>>,
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// A submitted group of changes; await it to know they are on disk.
pub(crate) struct Pending(oneshot::Receiver<Result<(), QueueError>>);

impl Pending {
    pub async fn durable(self) -> Result<(), QueueError> {
        self.0.await.unwrap_or_else(|_| {
            Err(QueueError::Unavailable(
                "local queue journal writer stopped".into(),
            ))
        })
    }
}

impl Journal {
    /// Opens (or creates) the journal file and returns it with every message it holds, in
    /// arrival order.
    pub fn open(path: &Path) -> Result<(Journal, Vec<(String, Record)>), QueueError> {
        let db = Database::create(path)
            .map_err(|e| QueueError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        restrict_to_owner(path)?;
        let txn = db.begin_write().map_err(unavailable)?;
        txn.open_table(MESSAGES).map_err(unavailable)?;
        txn.commit().map_err(unavailable)?;
        let mut messages = Vec::new();
        {
            let read = db.begin_read().map_err(unavailable)?;
            let table = read.open_table(MESSAGES).map_err(unavailable)?;
            for entry in table.iter().map_err(unavailable)? {
                let (id, value) = entry.map_err(unavailable)?;
                let record: Record = serde_json::from_slice(value.value()).map_err(|e| {
                    QueueError::Unavailable(format!("unreadable queue message {}: {e}", id.value()))
                })?;
                messages.push((id.value().to_owned(), record));
            }
        }
        messages.sort_by_key(|(_, record)| record.seq);
        let (requests, inbox) = mpsc::channel();
        let writer = thread::Builder::new()
            .name("pixgw-queue-journal".into())
            .spawn(move || write_loop(db, inbox))
            .map_err(|e| QueueError::Unavailable(format!("cannot start journal writer: {e}")))?;
        let journal = Journal {
            requests: Some(requests),
            writer: Some(writer),
        };
        Ok((journal, messages))
    }

    /// Hands `changes` to the writer. Call it while holding the lock under which the changes
    /// were made in memory (see the module docs on ordering); await the result after.
    pub fn submit(&self, changes: Vec<Change>) -> Pending {
        let (done, result) = oneshot::channel();
        if changes.is_empty() {
            let _ = done.send(Ok(()));
            return Pending(result);
        }
        let request = Request { changes, done };
        let refused = match &self.requests {
            Some(requests) => requests.send(request).err().map(|e| e.0),
            None => Some(request),
        };
        if let Some(request) = refused {
            let _ = request.done.send(Err(QueueError::Unavailable(
                "local queue journal writer stopped".into(),
            )));
        }
        Pending(result)
    }
}

fn write_loop(db: Database, inbox: mpsc::Receiver<Request>) {
    let mut unsynced = false;
    while let Ok(first) = inbox.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match inbox.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        let result = commit(&db, &group);
        for request in group {
            let _ = request.done.send(result.clone());
        }
        unsynced = true;
    }
    // Closing: make the last relaxed commits (acks) durable too.
    if unsynced && let Ok(txn) = db.begin_write() {
        let _ = txn.commit();
    }
}

fn commit(db: &Database, group: &[Request]) -> Result<(), QueueError> {
    let mut txn = db.begin_write().map_err(unavailable)?;
    let acks_only = group
        .iter()
        .flat_map(|r| &r.changes)
        .all(|change| matches!(change, Change::Delete { .. }));
    if acks_only {
        txn.set_durability(Durability::None).map_err(unavailable)?;
    }
    {
        let mut table = txn.open_table(MESSAGES).map_err(unavailable)?;
        for change in group.iter().flat_map(|r| &r.changes) {
            match change {
                Change::Put { id, record } => {
                    let bytes = serde_json::to_vec(record).map_err(|e| {
                        QueueError::Unavailable(format!("cannot encode queue message: {e}"))
                    })?;
                    table
                        .insert(id.as_str(), bytes.as_slice())
                        .map_err(unavailable)?;
                }
                Change::Delete { id } => {
                    table.remove(id.as_str()).map_err(unavailable)?;
                }
            }
        }
    }
    txn.commit().map_err(unavailable)
}

fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(format!("local queue journal: {e}"))
}

/// The journal holds message bodies (payers' names and documents among them): owner only.
#[cfg(unix)]
fn restrict_to_owner(path: &Path) -> Result<(), QueueError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| QueueError::Unavailable(format!("cannot restrict {}: {e}", path.display())))
}

#[cfg(not(unix))]
fn restrict_to_owner(_path: &Path) -> Result<(), QueueError> {
    Ok(())
}
