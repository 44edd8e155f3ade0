//! The settlement writes on redb: confirmation, booking splits, settling payouts.
//!
//! | table                  | key                                                   | value                         |
//! |------------------------|-------------------------------------------------------|-------------------------------|
//! | `end_to_end_ids`       | end-to-end id                                         | transaction id (the guard)    |
//! | `splits`               | transaction id, index (3 digits)                      | [`SplitEntryRecord`]          |
//! | `splits_scheduled`     | `{accountId}#{createdAtMs:015}#{txid}#{index:02}`     | `splits` key                  |
//! | `movements`            | movement id                                           | [`MovementRecord`]            |
//! | `movements_by_account` | account, sortable created-at ms, movement id          | movement id                   |
//! | `balances`             | account id                                            | running totals (centavos)     |
//!
//! Payouts (and their listing indexes) live in the `payouts` module, account events in the
//! `events` module, outbox messages in the `outbox` module; the writes here store them through
//! those modules. A confirmation records its `CASHIN_CONFIRMED` event and a payout settlement
//! its `PAYOUT_*`/`SPLIT_*` events, each with the webhook outbox message `events` adds to it.
//!
//! Each command is one write transaction that first checks every condition of the command
//! (aborting with [`WriteOutcome::Conflict`] and writing nothing if one fails) and then writes
//! everything. redb has no per-item write limit, so one balance row per account suffices (the
//! DynamoDB adapter shards it); it is only ever changed in the transaction that stores the
//! movement, so it always equals the sum of the account's movements. `splits_scheduled` holds
//! exactly the splits whose state is SCHEDULED, kept exact on every split write.
//!
//! A confirmation accepts a charge stored PENDING or EXPIRED (a payment settled after the expiry
//! sweeper ran); [`crate::put_charge`] drops it from the expiry index either way. The
//! money-lifecycle writes (`lifecycle` module) reuse these helpers and check a debit of
//! `available` against the balance row ([`load_balance`]) in the same transaction.

use pixgw_domain::split::ports::SplitStore;
use std::collections::BTreeSet;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use pixgw_domain::charge::ChargeStatus;
use pixgw_domain::charge::ports::ConfirmCharge;
use pixgw_domain::charge::record::ChargeRecord;
use pixgw_domain::charge::record::PaymentRecord;
use pixgw_domain::error::StoreError;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::ledger::record::MovementRecord;
use pixgw_domain::ledger::{Balance, Movement};
use pixgw_domain::payout::PayoutState;
use pixgw_domain::payout::ports::SettlePayout;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use pixgw_domain::split::ports::BookSplits;
use pixgw_domain::split::record::SplitEntryRecord;

use crate::events::{events_absent, put_events};
use crate::outbox::put_outbox;
use crate::payouts::{load_payout, payout_exists, put_payout};
use crate::{Bytes, CHARGES, EmbeddedStore, contains, db_err, decode, encode, get_decoded, keys};

pub(crate) const END_TO_END_IDS: TableDefinition<&str, &str> =
    TableDefinition::new("end_to_end_ids");
pub(crate) const SPLITS: TableDefinition<&str, Bytes> = TableDefinition::new("splits");
pub(crate) const SPLITS_SCHEDULED: TableDefinition<&str, &str> =
    TableDefinition::new("splits_scheduled");
pub(crate) const MOVEMENTS: TableDefinition<&str, Bytes> = TableDefinition::new("movements");
pub(crate) const MOVEMENTS_BY_ACCOUNT: TableDefinition<&str, &str> =
    TableDefinition::new("movements_by_account");
pub(crate) const BALANCES: TableDefinition<&str, Bytes> = TableDefinition::new("balances");

/// Creates the settlement tables (called by [`EmbeddedStore::open`]).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(END_TO_END_IDS).map_err(db_err)?;
    txn.open_table(SPLITS).map_err(db_err)?;
    txn.open_table(SPLITS_SCHEDULED).map_err(db_err)?;
    txn.open_table(MOVEMENTS).map_err(db_err)?;
    txn.open_table(MOVEMENTS_BY_ACCOUNT).map_err(db_err)?;
    txn.open_table(BALANCES).map_err(db_err)?;
    Ok(())
}

/// An account's running totals in the `balances` table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BalanceRecord {
    incoming_cents: i64,
    available_cents: i64,
    reserved_for_splits_cents: i64,
}

impl From<BalanceRecord> for Balance {
    fn from(r: BalanceRecord) -> Balance {
        Balance {
            incoming: Money::from_cents(r.incoming_cents),
            available: Money::from_cents(r.available_cents),
            reserved_for_splits: Money::from_cents(r.reserved_for_splits_cents),
        }
    }
}

impl From<Balance> for BalanceRecord {
    fn from(b: Balance) -> BalanceRecord {
        BalanceRecord {
            incoming_cents: b.incoming.cents(),
            available_cents: b.available.cents(),
            reserved_for_splits_cents: b.reserved_for_splits.cents(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Transactions

/// Runs one command: `op` checks its conditions and, only if all hold, writes and returns
/// `Applied` (then the transaction commits). `Conflict` or an error abort it: nothing written.
pub(crate) fn conditional_write(
    db: &Database,
    op: impl FnOnce(&WriteTransaction) -> Result<WriteOutcome, StoreError>,
) -> Result<WriteOutcome, StoreError> {
    let txn = db.begin_write().map_err(db_err)?;
    // On an error `txn` is dropped, which aborts it.
    match op(&txn)? {
        WriteOutcome::Applied => {
            txn.commit().map_err(db_err)?;
            Ok(WriteOutcome::Applied)
        }
        WriteOutcome::Conflict => {
            crate::abort(txn);
            Ok(WriteOutcome::Conflict)
        }
    }
}

pub(crate) fn load_charge(
    txn: &WriteTransaction,
    id: &str,
) -> Result<Option<ChargeRecord>, StoreError> {
    let charges = txn.open_table(CHARGES).map_err(db_err)?;
    get_decoded(&charges, id, |bytes, key| decode(bytes, "charge", key))
}

pub(crate) fn load_split(
    txn: &WriteTransaction,
    key: &str,
) -> Result<Option<SplitEntryRecord>, StoreError> {
    let splits = txn.open_table(SPLITS).map_err(db_err)?;
    get_decoded(&splits, key, |bytes, key| decode(bytes, "split entry", key))
}

pub(crate) fn movement_exists(txn: &WriteTransaction, id: &str) -> Result<bool, StoreError> {
    let movements = txn.open_table(MOVEMENTS).map_err(db_err)?;
    contains(&movements, id)
}

/// The condition of a write with an optional movement: none, or one not stored yet.
pub(crate) fn movement_absent(
    txn: &WriteTransaction,
    movement: Option<&Movement>,
) -> Result<bool, StoreError> {
    match movement {
        Some(m) => Ok(!movement_exists(txn, &m.id)?),
        None => Ok(true),
    }
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

/// The account's balance row, read inside the write transaction that may change it; `None`
/// before its first movement.
pub(crate) fn load_balance(
    txn: &WriteTransaction,
    account: &str,
) -> Result<Option<Balance>, StoreError> {
    let balances = txn.open_table(BALANCES).map_err(db_err)?;
    let record: Option<BalanceRecord> = get_decoded(&balances, account, |bytes, key| {
        decode(bytes, "balance", key)
    })?;
    Ok(record.map(Balance::from))
}

/// Decodes a stored movement.
pub(crate) fn decode_movement(bytes: &[u8], key: &str) -> Result<Movement, StoreError> {
    let record: MovementRecord = decode(bytes, "movement", key)?;
    Movement::try_from(record)
}

/// Stores a movement, its account index entry, and adds it to the account's balance.
pub(crate) fn put_movement(txn: &WriteTransaction, movement: &Movement) -> Result<(), StoreError> {
    let record = MovementRecord::from(movement);
    let value = encode(&record, "movement")?;
    let account = record.account_id.as_str();
    {
        let mut movements = txn.open_table(MOVEMENTS).map_err(db_err)?;
        movements
            .insert(record.movement_id.as_str(), value.as_slice())
            .map_err(db_err)?;
        let mut by_account = txn.open_table(MOVEMENTS_BY_ACCOUNT).map_err(db_err)?;
        let entry = keys::movement_entry(account, record.created_at_ms, &record.movement_id);
        by_account
            .insert(entry.as_str(), record.movement_id.as_str())
            .map_err(db_err)?;
    }
    let mut balances = txn.open_table(BALANCES).map_err(db_err)?;
    let current: BalanceRecord = get_decoded(&balances, account, |bytes, key| {
        decode(bytes, "balance", key)
    })?
    .unwrap_or_default();
    let next = BalanceRecord::from(Balance::from(current).plus(movement.balance_delta()));
    let value = encode(&next, "balance")?;
    balances.insert(account, value.as_slice()).map_err(db_err)?;
    Ok(())
}

pub(crate) fn confirm_in(
    txn: &WriteTransaction,
    write: &ConfirmCharge,
) -> Result<WriteOutcome, StoreError> {
    let id = write.transaction_id.as_str();
    let e2e = write.payment.end_to_end_id.as_str();
    let Some(charge) = load_charge(txn, id)? else {
        return Ok(WriteOutcome::Conflict);
    };
    let guard_taken = {
        let guards = txn.open_table(END_TO_END_IDS).map_err(db_err)?;
        contains(&guards, e2e)?
    };
    // The events (CASHIN_CONFIRMED) are created only if absent, like a settlement's: an event id
    // derives from the fact it reports, so a retried confirmation cannot record (or announce
    // through the webhook outbox) the same fact twice.
    // EXPIRED too: a payment the PIX network settled after the sweeper ran is money we hold.
    let confirmable = [ChargeStatus::Pending, ChargeStatus::Expired]
        .iter()
        .any(|s| charge.status == s.as_str());
    if !confirmable
        || guard_taken
        || movement_exists(txn, &write.movement.id)?
        || !events_absent(txn, &write.events)?
    {
        return Ok(WriteOutcome::Conflict);
    }

    let confirmed = ChargeRecord {
        status: ChargeStatus::Confirmed.as_str().to_owned(),
        payment: Some(PaymentRecord::from(&write.payment)),
        ..charge.clone()
    };
    crate::put_charge(txn, &confirmed, Some(&charge))?;
    {
        let mut guards = txn.open_table(END_TO_END_IDS).map_err(db_err)?;
        guards.insert(e2e, id).map_err(db_err)?;
    }
    put_movement(txn, &write.movement)?;
    put_events(txn, &write.events)?;
    put_outbox(txn, &write.outbox)?;
    Ok(WriteOutcome::Applied)
}

fn book_in(txn: &WriteTransaction, write: &BookSplits) -> Result<WriteOutcome, StoreError> {
    let confirmed = load_charge(txn, write.transaction_id.as_str())?
        .is_some_and(|c| c.status == ChargeStatus::Confirmed.as_str());
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

    for record in &records {
        put_split(txn, record, None)?;
    }
    for payout in &write.payouts {
        put_payout(txn, payout, None)?;
    }
    put_movement(txn, &write.movement)?;
    put_outbox(txn, &write.outbox)?;
    Ok(WriteOutcome::Applied)
}

pub(crate) fn settle_in(
    txn: &WriteTransaction,
    write: &SettlePayout,
) -> Result<WriteOutcome, StoreError> {
    let payout_id = write.payout.id.as_str();
    let stored_payout =
        load_payout(txn, payout_id)?.filter(|p| p.state == PayoutState::Processing.as_str());
    let Some(stored_payout) = stored_payout else {
        return Ok(WriteOutcome::Conflict);
    };
    if !movement_absent(txn, write.movement.as_ref())? || !events_absent(txn, &write.events)? {
        return Ok(WriteOutcome::Conflict);
    }
    let mut seen = BTreeSet::new();
    let mut updates = Vec::with_capacity(write.splits.len());
    for split in &write.splits {
        let record = SplitEntryRecord::from(split);
        let key = split_key(&record);
        if !seen.insert(key.clone()) {
            return Ok(WriteOutcome::Conflict);
        }
        let stored = load_split(txn, &key)?;
        let Some(stored) = stored.filter(|s| {
            s.state == SplitState::Processing.as_str() && s.payout_id.as_deref() == Some(payout_id)
        }) else {
            return Ok(WriteOutcome::Conflict);
        };
        updates.push((record, stored));
    }

    put_payout(txn, &write.payout, Some(&stored_payout))?;
    for (record, stored) in &updates {
        put_split(txn, record, Some(stored))?;
    }
    if let Some(movement) = &write.movement {
        put_movement(txn, movement)?;
    }
    put_events(txn, &write.events)?;
    put_outbox(txn, &write.outbox)?;
    Ok(WriteOutcome::Applied)
}

// ---------------------------------------------------------------------------------------------
// Ports

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
