//! The account event log ([`EventLog`]) on redb.
//!
//! | table               | key                                          | value                   |
//! |---------------------|----------------------------------------------|-------------------------|
//! | `events`            | event id                                     | [`AccountEventRecord`]  |
//! | `events_by_account` | account, sortable occurred-at ms, event id   | event id                |
//!
//! Events are written only inside the state-changing writes that cause them, each on the
//! condition that its id is absent ([`events_absent`] before anything is written, then
//! [`put_events`]), so the same fact reported twice is recorded once. They are never changed
//! or deleted. An account's events are one range of `events_by_account`, oldest first.
//!
//! Every event is also a message for the merchant's webhook: [`put_events`] stores
//! [`WebhookMessage::for_event`] in the `outbox` table in the same write transaction (the
//! embedded counterpart of DynamoDB relaying the event item from its stream), so the relay
//! loop sends it to the `webhook-deliveries` queue, and an event is never recorded without its
//! message nor a message sent for an event that was not. A write whose events already exist
//! fails [`events_absent`] and writes neither, so a retried write sends no second message.

use std::collections::BTreeSet;
use std::ops::Bound;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, TableDefinition, WriteTransaction};

use pixgw_domain::error::StoreError;
use pixgw_domain::messaging::events::{AccountEvent, AccountEventRecord, EventLog};
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::webhooks::WebhookMessage;

use crate::EmbeddedStore;
use crate::keys;
use crate::outbox::put_outbox_if_absent;
use crate::tables::{Bytes, contains, db_err, decode, encode, get_decoded, read_one};

const EVENTS: TableDefinition<&str, Bytes> = TableDefinition::new("events");
const EVENTS_BY_ACCOUNT: TableDefinition<&str, &str> = TableDefinition::new("events_by_account");

/// Creates the event tables (called by [`EmbeddedStore::open`]).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(EVENTS).map_err(db_err)?;
    txn.open_table(EVENTS_BY_ACCOUNT).map_err(db_err)?;
    Ok(())
}

fn decode_record(bytes: &[u8], key: &str) -> Result<AccountEventRecord, StoreError> {
    decode(bytes, "event", key)
}

fn index_entry(r: &AccountEventRecord) -> String {
    keys::event_entry(&r.account_id, r.occurred_at_ms, &r.event_id)
}

/// The condition every write with events checks: no event id is stored yet, and none is
/// listed twice.
pub(crate) fn events_absent(
    txn: &WriteTransaction,
    events: &[AccountEvent],
) -> Result<bool, StoreError> {
    let table = txn.open_table(EVENTS).map_err(db_err)?;
    let mut seen = BTreeSet::new();
    for event in events {
        if !seen.insert(event.id.as_str()) || contains(&table, &event.id)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Stores events (whose absence [`events_absent`] checked), their index entries, and the
/// webhook outbox message of each.
pub(crate) fn put_events(
    txn: &WriteTransaction,
    events: &[AccountEvent],
) -> Result<(), StoreError> {
    {
        let mut table = txn.open_table(EVENTS).map_err(db_err)?;
        let mut by_account = txn.open_table(EVENTS_BY_ACCOUNT).map_err(db_err)?;
        for event in events {
            let record = AccountEventRecord::from(event);
            let value = encode(&record, "event")?;
            table
                .insert(record.event_id.as_str(), value.as_slice())
                .map_err(db_err)?;
            by_account
                .insert(index_entry(&record).as_str(), record.event_id.as_str())
                .map_err(db_err)?;
        }
    }
    // The message id is derived from the event id, so none waits for a new event; should one
    // ever exist it is the same message, and keeping it keeps its place in the queue.
    let messages: Vec<_> = events.iter().map(WebhookMessage::for_event).collect();
    put_outbox_if_absent(txn, &messages)
}

/// One of `account`'s events, in a read transaction of its own; `None` for an unknown id or
/// another account's event.
pub(crate) fn read_event(
    db: &Database,
    account: &str,
    event_id: &str,
) -> Result<Option<AccountEvent>, StoreError> {
    match read_one(db, EVENTS, event_id, decode_record)? {
        Some(record) if record.account_id == account => AccountEvent::try_from(record).map(Some),
        _ => Ok(None),
    }
}

#[async_trait]
impl EventLog for EmbeddedStore {
    /// An `after` that names no event of this account (unknown, or another account's) has
    /// nothing after it: the answer is empty, never the log from its start again.
    async fn list_events(
        &self,
        account: &AccountId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AccountEvent>, StoreError> {
        let account = account.to_string();
        let after = after.map(str::to_owned);
        self.blocking("list_events", move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let table = txn.open_table(EVENTS).map_err(db_err)?;
            let by_account = txn.open_table(EVENTS_BY_ACCOUNT).map_err(db_err)?;
            let prefix = keys::account_prefix(&account);
            let start = match &after {
                Some(id) => match get_decoded(&table, id, decode_record)? {
                    Some(r) if r.account_id == account => Bound::Excluded(index_entry(&r)),
                    _ => return Ok(Vec::new()),
                },
                None => Bound::Included(prefix.clone()),
            };
            let end = keys::prefix_end(&prefix);
            let mut events = Vec::new();
            for entry in by_account
                .range::<&str>((
                    start.as_ref().map(String::as_str),
                    Bound::Excluded(end.as_str()),
                ))
                .map_err(db_err)?
                .take(limit)
            {
                let (_, id) = entry.map_err(db_err)?;
                let id = id.value();
                let record = get_decoded(&table, id, decode_record)?.ok_or_else(|| {
                    StoreError::Corrupt(format!("event index names missing event {id:?}"))
                })?;
                events.push(AccountEvent::try_from(record)?);
            }
            Ok(events)
        })
        .await
    }
}

#[cfg(test)]
mod tests;
