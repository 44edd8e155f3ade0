//! [`SplitStore`] on redb: a charge's split entries, booked in ONE write transaction with the
//! payouts of its immediate splits, the movement that reserves their money and the outbox
//! messages.
//!
//! | table              | key                                               | value                |
//! |--------------------|---------------------------------------------------|----------------------|
//! | `splits`           | transaction id, index (3 digits)                  | [`SplitEntryRecord`] |
//! | `splits_scheduled` | `{accountId}#{createdAtMs:015}#{txid}#{index:02}` | `splits` key         |
//!
//! `splits_scheduled` holds exactly the splits whose state is SCHEDULED (the payout
//! scheduler's index, read page by page by [`crate::payout_run`]): [`put_split`] is the only
//! writer of `splits` and keeps it exact on every split write.

use async_trait::async_trait;
use redb::{ReadableDatabase, TableDefinition, WriteTransaction};

use pixgw_domain::charge::{ChargeStatus, HoldState};
use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use pixgw_domain::split::ports::{BookSplits, SplitStore};
use pixgw_domain::split::record::SplitEntryRecord;

use crate::EmbeddedStore;
use crate::charge::load_charge;
use crate::dispute::{check_booking, put_repayments, repayments_hold};
use crate::keys;
use crate::ledger::{movement_exists, put_movement};
use crate::outbox::put_outbox;
use crate::payout::{payout_exists, put_payout};
use crate::recipient::add_totals;
use crate::tables::{Bytes, contains, db_err, decode, encode, get_decoded};
use crate::transact::conditional_write;

pub(crate) const SPLITS: TableDefinition<&str, Bytes> = TableDefinition::new("splits");
pub(crate) const SPLITS_SCHEDULED: TableDefinition<&str, &str> =
    TableDefinition::new("splits_scheduled");

/// Creates the split tables (called by [`EmbeddedStore::open`]).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(SPLITS).map_err(db_err)?;
    txn.open_table(SPLITS_SCHEDULED).map_err(db_err)?;
    Ok(())
}

pub(crate) fn load_split(
    txn: &WriteTransaction,
    key: &str,
) -> Result<Option<SplitEntryRecord>, StoreError> {
    let splits = txn.open_table(SPLITS).map_err(db_err)?;
    get_decoded(&splits, key, |bytes, key| decode(bytes, "split entry", key))
}

pub(crate) fn split_key(r: &SplitEntryRecord) -> String {
    keys::split(&r.transaction_id, r.index)
}

/// A split's entry in `splits_scheduled`, if its state is SCHEDULED.
fn scheduled_entry(r: &SplitEntryRecord) -> Option<String> {
    (r.state == SplitState::Scheduled.as_str())
        .then(|| keys::scheduled_split(&r.account_id, r.created_at_ms, &r.transaction_id, r.index))
}

/// Writes a split entry, replacing `previous` (the stored version) and keeping
/// `splits_scheduled` exact.
pub(crate) fn put_split(
    txn: &WriteTransaction,
    record: &SplitEntryRecord,
    previous: Option<&SplitEntryRecord>,
) -> Result<(), StoreError> {
    let key = split_key(record);
    let value = encode(record, "split entry")?;
    {
        let mut scheduled = txn.open_table(SPLITS_SCHEDULED).map_err(db_err)?;
        if let Some(old) = previous.and_then(scheduled_entry) {
            scheduled.remove(old.as_str()).map_err(db_err)?;
        }
        if let Some(new) = scheduled_entry(record) {
            scheduled
                .insert(new.as_str(), key.as_str())
                .map_err(db_err)?;
        }
    }
    let mut splits = txn.open_table(SPLITS).map_err(db_err)?;
    splits
        .insert(key.as_str(), value.as_slice())
        .map_err(db_err)?;
    Ok(())
}

fn book_in(txn: &WriteTransaction, write: &BookSplits) -> Result<WriteOutcome, StoreError> {
    check_booking(write)?;
    // The charge must be CONFIRMED and the booking's account its owner (as DynamoDB's
    // condition on `accountId`): one merchant's money is never booked into another's ledger.
    // A held payment is not the merchant's yet: only its release books it.
    let confirmed = load_charge(txn, write.transaction_id.as_str())?.is_some_and(|c| {
        c.status == ChargeStatus::Confirmed.as_str()
            && c.account_id == write.account_id.as_str()
            && c.hold
                .as_ref()
                .is_none_or(|h| h.state != HoldState::Held.as_str())
    });
    if !confirmed || movement_exists(txn, &write.movement.id)? {
        return Ok(WriteOutcome::Conflict);
    }
    let records: Vec<SplitEntryRecord> = write.splits.iter().map(SplitEntryRecord::from).collect();
    {
        let splits = txn.open_table(SPLITS).map_err(db_err)?;
        for record in &records {
            if contains(&splits, &split_key(record))? {
                return Ok(WriteOutcome::Conflict);
            }
        }
    }
    for payout in &write.payouts {
        if payout_exists(txn, payout.id.as_str())? {
            return Ok(WriteOutcome::Conflict);
        }
    }
    if !repayments_hold(txn, &write.repayments)? {
        return Ok(WriteOutcome::Conflict);
    }

    for record in &records {
        put_split(txn, record, None)?;
    }
    for payout in &write.payouts {
        put_payout(txn, payout, None)?;
    }
    put_movement(txn, &write.movement)?;
    put_outbox(txn, &write.outbox)?;
    for totals in &write.recipients {
        add_totals(txn, &write.account_id, totals)?;
    }
    put_repayments(txn, &write.repayments)?;
    Ok(WriteOutcome::Applied)
}

#[async_trait]
impl SplitStore for EmbeddedStore {
    async fn book_splits(&self, write: &BookSplits) -> Result<WriteOutcome, StoreError> {
        let write = write.clone();
        self.blocking("book_splits", move |db| {
            conditional_write(db, |txn| book_in(txn, &write))
        })
        .await
    }

    async fn get_splits(&self, id: &TransactionId) -> Result<Vec<SplitEntry>, StoreError> {
        let prefix = keys::splits_prefix(id.as_str());
        self.blocking("get_splits", move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let splits = txn.open_table(SPLITS).map_err(db_err)?;
            let end = keys::prefix_end(&prefix);
            let mut entries = Vec::new();
            for entry in splits
                .range::<&str>(prefix.as_str()..end.as_str())
                .map_err(db_err)?
            {
                let (key, value) = entry.map_err(db_err)?;
                let record: SplitEntryRecord = decode(value.value(), "split entry", key.value())?;
                entries.push(SplitEntry::try_from(record)?);
            }
            Ok(entries)
        })
        .await
    }
}

#[cfg(test)]
mod tests;
