//! The transactional outbox on redb: messages stored by the state-changing writes
//! ([`put_outbox`]) and read by the relay through [`OutboxFeed`].
//!
//! | table            | key                               | value            |
//! |------------------|-----------------------------------|------------------|
//! | `outbox`         | message id                        | [`OutboxRecord`] |
//! | `outbox_by_time` | `{createdAtMs:015}#{messageId}`   | message id       |

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use pixgw_domain::error::StoreError;
use pixgw_domain::messaging::outbox::OutboxFeed;
use pixgw_domain::messaging::outbox::OutboxMessage;
use pixgw_domain::messaging::outbox::OutboxRecord;

use crate::EmbeddedStore;
use crate::keys;
use crate::tables::{Bytes, db_err, decode, encode, get_decoded};

pub(crate) const OUTBOX: TableDefinition<&str, Bytes> = TableDefinition::new("outbox");
pub(crate) const OUTBOX_BY_TIME: TableDefinition<&str, &str> =
    TableDefinition::new("outbox_by_time");

/// Creates the outbox tables (called by [`EmbeddedStore::open`]).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(OUTBOX).map_err(db_err)?;
    txn.open_table(OUTBOX_BY_TIME).map_err(db_err)?;
    Ok(())
}

/// Stores outbox messages. A message id already waiting (never the case for the deterministic
/// ids of a first write) is replaced, index entry included.
pub(crate) fn put_outbox(
    txn: &WriteTransaction,
    messages: &[OutboxMessage],
) -> Result<(), StoreError> {
    insert_messages(txn, messages, true)
}

/// Stores the outbox messages whose id is not waiting already, and leaves the others as they
/// are: for writes that may legitimately name a message twice (a retried webhook attempt, the
/// message of an event), where the first one stored must keep its place in the queue.
pub(crate) fn put_outbox_if_absent(
    txn: &WriteTransaction,
    messages: &[OutboxMessage],
) -> Result<(), StoreError> {
    insert_messages(txn, messages, false)
}

fn insert_messages(
    txn: &WriteTransaction,
    messages: &[OutboxMessage],
    replace: bool,
) -> Result<(), StoreError> {
    let mut outbox = txn.open_table(OUTBOX).map_err(db_err)?;
    let mut by_time = txn.open_table(OUTBOX_BY_TIME).map_err(db_err)?;
    for message in messages {
        let record = OutboxRecord::from(message);
        let id = record.message_id.as_str();
        let previous: Option<OutboxRecord> = get_decoded(&outbox, id, |bytes, key| {
            decode(bytes, "outbox message", key)
        })?;
        if let Some(previous) = previous {
            if !replace {
                continue;
            }
            by_time
                .remove(keys::outbox_entry(previous.created_at_ms, id).as_str())
                .map_err(db_err)?;
        }
        let value = encode(&record, "outbox message")?;
        outbox.insert(id, value.as_slice()).map_err(db_err)?;
        by_time
            .insert(keys::outbox_entry(record.created_at_ms, id).as_str(), id)
            .map_err(db_err)?;
    }
    Ok(())
}

#[async_trait]
impl OutboxFeed for EmbeddedStore {
    async fn poll_outbox(&self, max: usize) -> Result<Vec<OutboxMessage>, StoreError> {
        self.blocking("poll_outbox", move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let by_time = txn.open_table(OUTBOX_BY_TIME).map_err(db_err)?;
            let outbox = txn.open_table(OUTBOX).map_err(db_err)?;
            let mut messages = Vec::new();
            for entry in by_time.iter().map_err(db_err)?.take(max) {
                let (_, id) = entry.map_err(db_err)?;
                let id = id.value();
                let record: OutboxRecord = get_decoded(&outbox, id, |bytes, key| {
                    decode(bytes, "outbox message", key)
                })?
                .ok_or_else(|| StoreError::Corrupt(format!("outbox index names missing {id:?}")))?;
                messages.push(OutboxMessage::try_from(record)?);
            }
            Ok(messages)
        })
        .await
    }

    async fn ack_outbox(&self, ids: &[String]) -> Result<(), StoreError> {
        let ids = ids.to_vec();
        self.blocking("ack_outbox", move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            {
                let mut outbox = txn.open_table(OUTBOX).map_err(db_err)?;
                let mut by_time = txn.open_table(OUTBOX_BY_TIME).map_err(db_err)?;
                for id in &ids {
                    let record: Option<OutboxRecord> = get_decoded(&outbox, id, |bytes, key| {
                        decode(bytes, "outbox message", key)
                    })?;
                    if let Some(record) = record {
                        by_time
                            .remove(keys::outbox_entry(record.created_at_ms, id).as_str())
                            .map_err(db_err)?;
                        outbox.remove(id.as_str()).map_err(db_err)?;
                    }
                }
            }
            txn.commit().map_err(db_err)?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests;
