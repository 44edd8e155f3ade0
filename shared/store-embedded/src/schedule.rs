//! The payout-schedule port ([`ScheduleStore`]) on redb.
//!
//! | table            | key                                        | value               |
//! |------------------|--------------------------------------------|---------------------|
//! | `schedules`      | account id                                 | [`ScheduleRecord`]  |
//! | `schedules_due`  | sortable `nextRunAtMs`, `\0`, account id    | account id          |
//!
//! `schedules_due` is the payout scheduler's index: the accounts due at or before `t` are the
//! range below [`keys::index_at`]`("", t + 1)`, oldest window first. It holds exactly one entry
//! per schedule, moved in the same write transaction that changes `nextRunAtMs`. redb has no
//! per-partition throughput limit, so unlike DynamoDB it needs no shards.

use async_trait::async_trait;
use redb::{TableDefinition, WriteTransaction};

use pixgw_domain::error::StoreError;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::schedule::ports::{ScheduleState, ScheduleStore};
use pixgw_domain::schedule::record::ScheduleRecord;

use crate::EmbeddedStore;
use crate::keys;
use crate::tables::{Bytes, db_err, decode, encode, get_decoded, read_one};
use crate::transact::conditional_write;

pub(crate) const SCHEDULES: TableDefinition<&str, Bytes> = TableDefinition::new("schedules");
pub(crate) const SCHEDULES_DUE: TableDefinition<&str, &str> = TableDefinition::new("schedules_due");

/// Creates the schedule tables (called by [`EmbeddedStore::open`]).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(SCHEDULES).map_err(db_err)?;
    txn.open_table(SCHEDULES_DUE).map_err(db_err)?;
    Ok(())
}

pub(crate) fn decode_record(bytes: &[u8], key: &str) -> Result<ScheduleRecord, StoreError> {
    decode(bytes, "payout schedule", key)
}

fn due_entry(record: &ScheduleRecord) -> String {
    keys::due_schedule(record.next_run_at_ms, &record.account_id)
}

/// The stored schedule of `account_id`, read inside the write transaction that may replace it.
pub(crate) fn load_schedule(
    txn: &WriteTransaction,
    account_id: &str,
) -> Result<Option<ScheduleRecord>, StoreError> {
    let table = txn.open_table(SCHEDULES).map_err(db_err)?;
    get_decoded(&table, account_id, decode_record)
}

/// Writes `record`, replacing `previous` (the stored version) and moving its due entry.
pub(crate) fn put_schedule_record(
    txn: &WriteTransaction,
    record: &ScheduleRecord,
    previous: Option<&ScheduleRecord>,
) -> Result<(), StoreError> {
    let value = encode(record, "payout schedule")?;
    {
        let mut due = txn.open_table(SCHEDULES_DUE).map_err(db_err)?;
        if let Some(previous) = previous {
            due.remove(due_entry(previous).as_str()).map_err(db_err)?;
        }
        due.insert(due_entry(record).as_str(), record.account_id.as_str())
            .map_err(db_err)?;
    }
    let mut schedules = txn.open_table(SCHEDULES).map_err(db_err)?;
    schedules
        .insert(record.account_id.as_str(), value.as_slice())
        .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl ScheduleStore for EmbeddedStore {
    async fn get_schedule(&self, account: &AccountId) -> Result<Option<ScheduleState>, StoreError> {
        let id = account.to_string();
        self.blocking("get_schedule", move |db| {
            read_one(db, SCHEDULES, &id, decode_record)?
                .map(ScheduleState::try_from)
                .transpose()
        })
        .await
    }

    async fn put_schedule(
        &self,
        state: &ScheduleState,
        expected_version: Option<u64>,
    ) -> Result<WriteOutcome, StoreError> {
        let record = ScheduleRecord::from(state);
        self.blocking("put_schedule", move |db| {
            conditional_write(db, |txn| {
                let previous = load_schedule(txn, &record.account_id)?;
                if previous.as_ref().map(|p| p.version) != expected_version {
                    return Ok(WriteOutcome::Conflict);
                }
                // The lease is the payout scheduler's, not the schedule's: a replacement keeps
                // it, so a run under way (or a crashed one) still finishes its window.
                let record = ScheduleRecord {
                    lease_run_id: previous.as_ref().and_then(|p| p.lease_run_id.clone()),
                    lease_window_ms: previous.as_ref().and_then(|p| p.lease_window_ms),
                    lease_until_ms: previous.as_ref().and_then(|p| p.lease_until_ms),
                    ..record.clone()
                };
                put_schedule_record(txn, &record, previous.as_ref())?;
                Ok(WriteOutcome::Applied)
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveTime, TimeZone, Utc, Weekday};
    use redb::{ReadableDatabase, ReadableTable};
    use tempfile::TempDir;

    use super::*;
    use pixgw_domain::schedule::PayoutSchedule;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
    }

    /// Every `(key, account)` of the due index, in key order.
    fn due_entries(store: &EmbeddedStore) -> Vec<(String, String)> {
        let txn = store.db.begin_read().expect("read");
        let due = txn.open_table(SCHEDULES_DUE).expect("table");
        due.iter()
            .expect("iter")
            .map(|entry| {
                let (k, v) = entry.expect("entry");
                (k.value().to_owned(), v.value().to_owned())
            })
            .collect()
    }

    #[tokio::test]
    async fn the_due_index_follows_every_write_and_orders_by_next_run() {
        let dir = TempDir::new().expect("temp dir");
        let store = EmbeddedStore::open(dir.path()).expect("open");
        let early = AccountId::generate();
        let late = AccountId::generate();
        let first = ScheduleState::initial(&late, at(200_000_000));
        assert_eq!(
            store.put_schedule(&first, None).await,
            Ok(WriteOutcome::Applied)
        );
        let other = ScheduleState::initial(&early, at(0));
        assert_eq!(
            store.put_schedule(&other, None).await,
            Ok(WriteOutcome::Applied)
        );
        let accounts: Vec<String> = due_entries(&store).into_iter().map(|(_, a)| a).collect();
        assert_eq!(accounts, vec![early.to_string(), late.to_string()]);

        // Moving `late`'s next run moves its entry (exactly one per schedule) …
        let six = NaiveTime::from_hms_opt(18, 0, 0).unwrap_or_default();
        let moved = ScheduleState {
            schedule: PayoutSchedule::weekly(Weekday::Fri, six),
            next_run_at: at(5_000_000_000),
            version: 2,
            ..first.clone()
        };
        assert_eq!(
            store.put_schedule(&moved, Some(1)).await,
            Ok(WriteOutcome::Applied)
        );
        let entries = due_entries(&store);
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[1],
            (
                keys::due_schedule(5_000_000_000, late.as_str()),
                late.to_string()
            )
        );

        // … and a refused write leaves it where it was.
        let stale = ScheduleState {
            next_run_at: at(1),
            version: 2,
            ..first
        };
        assert_eq!(
            store.put_schedule(&stale, Some(1)).await,
            Ok(WriteOutcome::Conflict)
        );
        assert_eq!(due_entries(&store), entries);
    }
}
