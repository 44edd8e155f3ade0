//! [`DisputeStore`] on redb. Opening and deciding a dispute are each ONE write transaction
//! that checks every condition first and writes only when all hold (see
//! [`crate::ledger_write`]).
//!
//! | table                 | key                                                    | value           |
//! |-----------------------|--------------------------------------------------------|-----------------|
//! | `disputes`            | dispute id                                             | [`DisputeRecord`] |
//! | `disputes_by_account` | `{accountId}\0{openedAtMs sortable}\0{disputeId}`      | dispute id      |
//! | `disputes_by_state`   | `{accountId}\0{STATE}\0{openedAtMs sortable}\0{id}`    | dispute id      |
//! | `disputes_owing`      | `{accountId}\0{openedAtMs sortable}\0{disputeId}`      | dispute id      |
//!
//! `disputes_owing` holds exactly the disputes whose `stillOwedCents` > 0; [`put_dispute`] is
//! the only writer of `disputes` and keeps the three indexes exact on every write.
//!
//! # Malformed writes
//!
//! A write that does not mean what its port says (the flows never build one) is refused with
//! `StoreError::Unavailable("refusing to write: …")` before any condition is read, exactly
//! where and as the DynamoDB adapter refuses it (`shared/store-dynamodb/src/dispute.rs`; the
//! storage contract asserts both): a dispute not of its charge, or whose charge does not carry
//! exactly its claim; a reduced or restored split of another charge or named twice; an
//! opening, or a won decision, that books recipient debts, a lost decision that restores
//! splits, debts the movement does not book; a decision that decides nothing; a dispute write
//! that does not raise the version it requires; a movement whose debit of `available` is not
//! what the write draws; a repayment paying ≤ 0, naming a dispute twice or not raising its
//! version.

use std::collections::BTreeSet;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, TableDefinition, WriteTransaction};

use pixgw_domain::charge::record::ChargeRecord;
use pixgw_domain::dispute::Dispute;
use pixgw_domain::dispute::checks::{check_bump, check_repayments};
use pixgw_domain::dispute::ports::{
    DecideDispute, DefendDispute, DisputeCursor, DisputePage, DisputeQuery, DisputeStore,
    MAX_REPAID_PER_CREDIT, OpenDispute, OwedRepayment,
};
use pixgw_domain::dispute::record::DisputeRecord;
use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::ledger::ports::MoneyOutOutcome;
use pixgw_domain::ledger::{AvailableDraw, Movement, shard_updates};
use pixgw_domain::pix::ids::{AccountId, DisputeId};
use pixgw_domain::refund::ports::ReducedSplit;
use pixgw_domain::split::entry::SplitState;
use pixgw_domain::split::ports::BookSplits;
use pixgw_domain::split::record::SplitEntryRecord;

use crate::EmbeddedStore;
use crate::charge::{load_charge, put_charge};
use crate::events::{events_absent, put_events};
use crate::keys;
use crate::ledger::{movement_exists, put_movement};
use crate::ledger_write::{draw_holds, money_out_write};
use crate::listing::{MAX_PAGE, newest_ids};
use crate::recipient::{add_debt, add_totals};
use crate::split::{load_split, put_split, split_key};
use crate::tables::{Bytes, db_err, decode, encode, get_decoded, read_one};
use crate::transact::conditional_write;

pub(crate) const DISPUTES: TableDefinition<&str, Bytes> = TableDefinition::new("disputes");
const DISPUTES_BY_ACCOUNT: TableDefinition<&str, &str> =
    TableDefinition::new("disputes_by_account");
const DISPUTES_BY_STATE: TableDefinition<&str, &str> = TableDefinition::new("disputes_by_state");
const DISPUTES_OWING: TableDefinition<&str, &str> = TableDefinition::new("disputes_owing");

/// Creates the dispute tables (called by [`EmbeddedStore::open`]).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(DISPUTES).map_err(db_err)?;
    txn.open_table(DISPUTES_BY_ACCOUNT).map_err(db_err)?;
    txn.open_table(DISPUTES_BY_STATE).map_err(db_err)?;
    txn.open_table(DISPUTES_OWING).map_err(db_err)?;
    Ok(())
}

fn decode_record(bytes: &[u8], key: &str) -> Result<DisputeRecord, StoreError> {
    decode(bytes, "dispute", key)
}

fn load_dispute(txn: &WriteTransaction, id: &str) -> Result<Option<DisputeRecord>, StoreError> {
    let table = txn.open_table(DISPUTES).map_err(db_err)?;
    get_decoded(&table, id, decode_record)
}

/// The index keys of a stored dispute: (by account, by state, owing if it owes).
fn index_keys(r: &DisputeRecord) -> (String, String, Option<String>) {
    let by_account = keys::index_entry(
        &keys::account_prefix(&r.account_id),
        r.opened_at_ms,
        &r.dispute_id,
    );
    let by_state = keys::index_entry(
        &keys::status_prefix(&r.account_id, &r.state),
        r.opened_at_ms,
        &r.dispute_id,
    );
    let owing = (r.still_owed_cents > 0).then(|| by_account.clone());
    (by_account, by_state, owing)
}

/// Writes a dispute, replacing `previous` (the stored version) and keeping the indexes exact.
fn put_dispute(
    txn: &WriteTransaction,
    record: &DisputeRecord,
    previous: Option<&DisputeRecord>,
) -> Result<(), StoreError> {
    let value = encode(record, "dispute")?;
    {
        let mut by_account = txn.open_table(DISPUTES_BY_ACCOUNT).map_err(db_err)?;
        let mut by_state = txn.open_table(DISPUTES_BY_STATE).map_err(db_err)?;
        let mut owing = txn.open_table(DISPUTES_OWING).map_err(db_err)?;
        if let Some(old) = previous {
            let (a, s, o) = index_keys(old);
            by_account.remove(a.as_str()).map_err(db_err)?;
            by_state.remove(s.as_str()).map_err(db_err)?;
            if let Some(o) = o {
                owing.remove(o.as_str()).map_err(db_err)?;
            }
        }
        let id = record.dispute_id.as_str();
        let (a, s, o) = index_keys(record);
        by_account.insert(a.as_str(), id).map_err(db_err)?;
        by_state.insert(s.as_str(), id).map_err(db_err)?;
        if let Some(o) = o {
            owing.insert(o.as_str(), id).map_err(db_err)?;
        }
    }
    let mut table = txn.open_table(DISPUTES).map_err(db_err)?;
    table
        .insert(record.dispute_id.as_str(), value.as_slice())
        .map_err(db_err)?;
    Ok(())
}

/// The stored dispute `dispute.id` if it is at `version` (and of the dispute's account).
fn dispute_at(
    txn: &WriteTransaction,
    dispute: &Dispute,
    version: u32,
) -> Result<Option<DisputeRecord>, StoreError> {
    Ok(load_dispute(txn, dispute.id.as_str())?
        .filter(|d| d.version == version && d.account_id == dispute.account_id.as_str()))
}

/// The stored charge of `write` if it is at `from` and `from_revision`, of the same account.
fn charge_at(
    txn: &WriteTransaction,
    charge: &pixgw_domain::charge::Charge,
    from: &str,
    from_revision: u32,
) -> Result<Option<ChargeRecord>, StoreError> {
    Ok(
        load_charge(txn, charge.transaction_id.as_str())?.filter(|c| {
            c.status == from
                && c.refund_revision == from_revision
                && c.account_id == charge.account_id.as_str()
        }),
    )
}

/// The splits to replace, each checked stored in one of `states`, in no payout, of the
/// charge's account, with the `refunded` it was read with; `None` when one is not.
fn splits_as_read(
    txn: &WriteTransaction,
    transaction_id: &str,
    splits: &[ReducedSplit],
    states: &[SplitState],
) -> Result<Option<Vec<(SplitEntryRecord, SplitEntryRecord)>>, StoreError> {
    let mut seen = BTreeSet::new();
    let mut checked = Vec::with_capacity(splits.len());
    for split in splits {
        let record = SplitEntryRecord::from(&split.entry);
        let key = split_key(&record);
        if record.transaction_id != transaction_id || !seen.insert(key.clone()) {
            return Ok(None);
        }
        let stored = load_split(txn, &key)?.filter(|s| {
            states.iter().any(|st| st.as_str() == s.state)
                && s.payout_id.is_none()
                && s.account_id == record.account_id
                && s.refunded_cents == split.refunded_before.cents()
        });
        let Some(stored) = stored else {
            return Ok(None);
        };
        checked.push((record, stored));
    }
    Ok(Some(checked))
}

// ---------------------------------------------------------------------------------------------
// Refusals: the same checks, in the same places, as the DynamoDB adapter's (see the module
// docs). Each is a programming error of the caller, so it is an error, not a Conflict.

fn refusing(why: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("refusing to write: {why}"))
}

/// The movement debits `available` exactly as `draw` takes (a decision: not at all).
fn check_draw(movement: &Movement, draw: &AvailableDraw) -> Result<(), String> {
    shard_updates(movement, draw)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn open_in(txn: &WriteTransaction, write: &OpenDispute) -> Result<MoneyOutOutcome, StoreError> {
    write.check().map_err(refusing)?;
    check_draw(&write.movement, &write.draw).map_err(refusing)?;
    let charge = &write.charge;
    if load_dispute(txn, write.dispute.id.as_str())?.is_some() {
        return Ok(MoneyOutOutcome::Conflict);
    }
    let Some(stored) = charge_at(txn, charge, write.from.as_str(), write.from_revision)? else {
        return Ok(MoneyOutOutcome::Conflict);
    };
    let id = charge.transaction_id.as_str();
    let Some(reductions) = splits_as_read(txn, id, &write.reduced, &[SplitState::Scheduled])?
    else {
        return Ok(MoneyOutOutcome::Conflict);
    };
    if movement_exists(txn, &write.movement.id)? || !events_absent(txn, &write.events)? {
        return Ok(MoneyOutOutcome::Conflict);
    }
    if !draw_holds(txn, write.movement.account_id.as_str(), &write.draw)? {
        return Ok(MoneyOutOutcome::BalanceChanged);
    }

    put_dispute(txn, &DisputeRecord::from(&write.dispute), None)?;
    put_charge(txn, &ChargeRecord::from(charge), Some(&stored))?;
    for (record, stored_split) in &reductions {
        put_split(txn, record, Some(stored_split))?;
    }
    for totals in &write.recipients {
        add_totals(txn, &charge.account_id, totals)?;
    }
    put_movement(txn, &write.movement)?;
    put_events(txn, &write.events)?;
    Ok(MoneyOutOutcome::Applied)
}

fn defend_in(txn: &WriteTransaction, write: &DefendDispute) -> Result<WriteOutcome, StoreError> {
    check_bump(&write.dispute, write.from_version).map_err(refusing)?;
    let Some(stored) = dispute_at(txn, &write.dispute, write.from_version)? else {
        return Ok(WriteOutcome::Conflict);
    };
    put_dispute(txn, &DisputeRecord::from(&write.dispute), Some(&stored))?;
    Ok(WriteOutcome::Applied)
}

fn decide_in(txn: &WriteTransaction, write: &DecideDispute) -> Result<WriteOutcome, StoreError> {
    write.check().map_err(refusing)?;
    check_draw(&write.movement, &AvailableDraw::default()).map_err(refusing)?;
    let charge = &write.charge;
    let Some(stored_dispute) = dispute_at(txn, &write.dispute, write.from_version)? else {
        return Ok(WriteOutcome::Conflict);
    };
    let Some(stored) = charge_at(txn, charge, write.from.as_str(), write.from_revision)? else {
        return Ok(WriteOutcome::Conflict);
    };
    let unpaid = [SplitState::Scheduled, SplitState::Cancelled];
    let id = charge.transaction_id.as_str();
    let Some(restorations) = splits_as_read(txn, id, &write.restored, &unpaid)? else {
        return Ok(WriteOutcome::Conflict);
    };
    if movement_exists(txn, &write.movement.id)? || !events_absent(txn, &write.events)? {
        return Ok(WriteOutcome::Conflict);
    }

    put_dispute(
        txn,
        &DisputeRecord::from(&write.dispute),
        Some(&stored_dispute),
    )?;
    put_charge(txn, &ChargeRecord::from(charge), Some(&stored))?;
    for (record, stored_split) in &restorations {
        put_split(txn, record, Some(stored_split))?;
    }
    for debt in &write.debts {
        add_debt(txn, &charge.account_id, debt)?;
    }
    for totals in &write.recipients {
        add_totals(txn, &charge.account_id, totals)?;
    }
    put_movement(txn, &write.movement)?;
    put_events(txn, &write.events)?;
    Ok(WriteOutcome::Applied)
}

/// Refuses (an error, before anything is read) a booking whose repayments are malformed (see
/// [`check_repayments`]).
pub(crate) fn check_booking(write: &BookSplits) -> Result<(), StoreError> {
    check_repayments(write).map_err(refusing)
}

/// Whether every repaid dispute is stored at the version the booking read.
pub(crate) fn repayments_hold(
    txn: &WriteTransaction,
    repayments: &[OwedRepayment],
) -> Result<bool, StoreError> {
    for repayment in repayments {
        if dispute_at(txn, &repayment.dispute, repayment.from_version)?.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Writes each repaid dispute (checked by [`repayments_hold`] first).
pub(crate) fn put_repayments(
    txn: &WriteTransaction,
    repayments: &[OwedRepayment],
) -> Result<(), StoreError> {
    for repayment in repayments {
        let previous = load_dispute(txn, repayment.dispute.id.as_str())?;
        put_dispute(
            txn,
            &DisputeRecord::from(&repayment.dispute),
            previous.as_ref(),
        )?;
    }
    Ok(())
}

fn read_dispute(db: &Database, id: &str) -> Result<Option<Dispute>, StoreError> {
    read_one(db, DISPUTES, id, decode_record)?
        .map(Dispute::try_from)
        .transpose()
}

/// An account's disputes per `query`, newest opened first.
fn list_in(db: &Database, account: &str, query: &DisputeQuery) -> Result<DisputePage, StoreError> {
    let (definition, prefix) = match query.status {
        Some(state) => (
            DISPUTES_BY_STATE,
            keys::status_prefix(account, state.as_str()),
        ),
        None => (DISPUTES_BY_ACCOUNT, keys::account_prefix(account)),
    };
    let mut upper = keys::prefix_end(&prefix);
    if let Some(after) = &query.after {
        // Strictly older than the cursor: its own entry is the exclusive bound.
        upper = upper.min(keys::index_entry(
            &prefix,
            after.opened_at_ms,
            after.dispute_id.as_str(),
        ));
    }
    if prefix >= upper {
        return Ok(DisputePage::default());
    }
    let limit = query.limit.clamp(1, MAX_PAGE) as usize;
    let txn = db.begin_read().map_err(db_err)?;
    let index = txn.open_table(definition).map_err(db_err)?;
    let disputes = txn.open_table(DISPUTES).map_err(db_err)?;
    let (ids, more) = newest_ids(&index, &prefix, &upper, limit)?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        let record = get_decoded(&disputes, &id, decode_record)?.ok_or_else(|| {
            StoreError::Corrupt(format!("dispute index names missing dispute {id}"))
        })?;
        items.push(Dispute::try_from(record)?);
    }
    let next = if more {
        items.last().map(DisputeCursor::of)
    } else {
        None
    };
    Ok(DisputePage { items, next })
}

/// The account's oldest disputes that still owe.
fn owing_in(db: &Database, account: &str) -> Result<Vec<Dispute>, StoreError> {
    let prefix = keys::account_prefix(account);
    let upper = keys::prefix_end(&prefix);
    let txn = db.begin_read().map_err(db_err)?;
    let index = txn.open_table(DISPUTES_OWING).map_err(db_err)?;
    let disputes = txn.open_table(DISPUTES).map_err(db_err)?;
    let mut owing = Vec::new();
    for entry in index
        .range::<&str>(prefix.as_str()..upper.as_str())
        .map_err(db_err)?
        .take(MAX_REPAID_PER_CREDIT)
    {
        let (_, id) = entry.map_err(db_err)?;
        let id = id.value();
        let record = get_decoded(&disputes, id, decode_record)?.ok_or_else(|| {
            StoreError::Corrupt(format!("owing index names missing dispute {id}"))
        })?;
        owing.push(Dispute::try_from(record)?);
    }
    Ok(owing)
}

#[async_trait]
impl DisputeStore for EmbeddedStore {
    async fn open_dispute(&self, write: &OpenDispute) -> Result<MoneyOutOutcome, StoreError> {
        let write = write.clone();
        self.blocking("open_dispute", move |db| {
            money_out_write(db, |txn| open_in(txn, &write))
        })
        .await
    }

    async fn defend_dispute(&self, write: &DefendDispute) -> Result<WriteOutcome, StoreError> {
        let write = write.clone();
        self.blocking("defend_dispute", move |db| {
            conditional_write(db, |txn| defend_in(txn, &write))
        })
        .await
    }

    async fn decide_dispute(&self, write: &DecideDispute) -> Result<WriteOutcome, StoreError> {
        let write = write.clone();
        self.blocking("decide_dispute", move |db| {
            conditional_write(db, |txn| decide_in(txn, &write))
        })
        .await
    }

    async fn get_dispute(&self, id: &DisputeId) -> Result<Option<Dispute>, StoreError> {
        let id = id.to_string();
        self.blocking("get_dispute", move |db| read_dispute(db, &id))
            .await
    }

    async fn list_disputes(
        &self,
        account: &AccountId,
        query: &DisputeQuery,
    ) -> Result<DisputePage, StoreError> {
        let account = account.to_string();
        let query = query.clone();
        self.blocking("list_disputes", move |db| list_in(db, &account, &query))
            .await
    }

    async fn owing_disputes(&self, account: &AccountId) -> Result<Vec<Dispute>, StoreError> {
        let account = account.to_string();
        self.blocking("owing_disputes", move |db| owing_in(db, &account))
            .await
    }
}
