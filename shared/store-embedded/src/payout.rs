//! [`PayoutStore`] on redb: payouts, the indexes that list an account's payouts, the manifest
//! of a scheduled payout, and the writes that settle them.
//!
//! | table                | key                                               | value               |
//! |----------------------|---------------------------------------------------|---------------------|
//! | `payouts`            | payout id                                         | [`PayoutRecord`]    |
//! | `payouts_by_account` | account, sortable created-at ms, payout id        | payout id           |
//! | `payouts_by_state`   | account, state, sortable created-at ms, payout id | payout id           |
//! | `payout_splits`      | payout id, `\0`, transaction id, `\0`, index      | `""` (the manifest) |
//!
//! The indexes hold exactly the LISTABLE payouts: every state but ASSEMBLING (a scheduled
//! payout still being filled is not a payout yet). [`put_payout`] is the only writer of the
//! `payouts` table and moves the index entries in the same write transaction, so an immediate
//! payout is listed from the moment it is booked, a scheduled one from the moment it is
//! released, and a settlement moves its state entry. A listing page is one reverse range read
//! of one index, bounded by `from`/`to`/the cursor: never a full scan ([`crate::listing`]).
//!
//! `payout_splits` is a scheduled payout's manifest: its splits, added as the payout scheduler
//! attaches them ([`crate::payout_run`]) and read page by page by the executor. Settling a
//! payout writes it, its splits, its movement, events and outbox messages in ONE write
//! transaction, checked first; settling a scheduled payout's manifest chunk by chunk is the
//! `settle_splits` submodule.

use std::collections::BTreeSet;
use std::ops::Bound;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, TableDefinition, WriteTransaction};

use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::payout::ports::{
    DecideNetting, PayoutCursor, PayoutPage, PayoutQuery, PayoutStore, SettlePayout,
};
use pixgw_domain::payout::record::PayoutRecord;
use pixgw_domain::payout::runs::SettleSplits;
use pixgw_domain::payout::{Payout, PayoutId, PayoutState, SplitRef};
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::split::entry::SplitState;
use pixgw_domain::split::record::SplitEntryRecord;

use crate::EmbeddedStore;
use crate::events::{events_absent, put_events};
use crate::keys;
use crate::ledger::{movement_absent, put_movement};
use crate::listing::{MAX_PAGE, newest_ids};
use crate::outbox::put_outbox;
use crate::recipient::{add_totals, replace_debt_queue, settle_debt, stored_version};
use crate::split::{load_split, put_split, split_key};
use crate::tables::{Bytes, contains, db_err, decode, encode, get_decoded, read_one};
use crate::transact::conditional_write;

/// The most splits one `SettleSplits` may carry here: DynamoDB's (48), for the same reason as
/// [`crate::payout_run::MAX_SPLITS_PER_ATTACH`].
pub const MAX_SPLITS_PER_SETTLE: usize = 48;

mod settle_splits;

const PAYOUTS: TableDefinition<&str, Bytes> = TableDefinition::new("payouts");
const PAYOUTS_BY_ACCOUNT: TableDefinition<&str, &str> = TableDefinition::new("payouts_by_account");
const PAYOUTS_BY_STATE: TableDefinition<&str, &str> = TableDefinition::new("payouts_by_state");
pub(crate) const PAYOUT_SPLITS: TableDefinition<&str, &str> = TableDefinition::new("payout_splits");

/// Creates the payout tables (called by [`EmbeddedStore::open`](crate::EmbeddedStore::open)).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(PAYOUTS).map_err(db_err)?;
    txn.open_table(PAYOUTS_BY_ACCOUNT).map_err(db_err)?;
    txn.open_table(PAYOUTS_BY_STATE).map_err(db_err)?;
    txn.open_table(PAYOUT_SPLITS).map_err(db_err)?;
    Ok(())
}

fn decode_record(bytes: &[u8], key: &str) -> Result<PayoutRecord, StoreError> {
    decode(bytes, "payout", key)
}

/// The stored payout `id`, read inside the write transaction that may replace it.
pub(crate) fn load_payout(
    txn: &WriteTransaction,
    id: &str,
) -> Result<Option<PayoutRecord>, StoreError> {
    let payouts = txn.open_table(PAYOUTS).map_err(db_err)?;
    get_decoded(&payouts, id, decode_record)
}

/// Whether a payout exists, read inside a write transaction.
pub(crate) fn payout_exists(txn: &WriteTransaction, id: &str) -> Result<bool, StoreError> {
    let payouts = txn.open_table(PAYOUTS).map_err(db_err)?;
    contains(&payouts, id)
}

/// One snapshot read of one payout.
fn read_payout(db: &Database, id: &str) -> Result<Option<Payout>, StoreError> {
    read_one(db, PAYOUTS, id, decode_record)?
        .map(Payout::try_from)
        .transpose()
}

/// A payout's two index entries, if it is listable (not ASSEMBLING).
fn index_entries(r: &PayoutRecord) -> Option<(String, String)> {
    (r.state != PayoutState::Assembling.as_str()).then(|| {
        (
            keys::payout_entry(&r.account_id, r.created_at_ms, &r.payout_id),
            keys::payout_state_entry(&r.account_id, &r.state, r.created_at_ms, &r.payout_id),
        )
    })
}

/// Writes a payout, replacing `previous` (the stored version of the same payout) and keeping
/// both listing indexes exact.
pub(crate) fn put_payout_record(
    txn: &WriteTransaction,
    record: &PayoutRecord,
    previous: Option<&PayoutRecord>,
) -> Result<(), StoreError> {
    let id = record.payout_id.as_str();
    let value = encode(record, "payout")?;
    {
        let mut by_account = txn.open_table(PAYOUTS_BY_ACCOUNT).map_err(db_err)?;
        let mut by_state = txn.open_table(PAYOUTS_BY_STATE).map_err(db_err)?;
        if let Some((account_key, state_key)) = previous.and_then(index_entries) {
            by_account.remove(account_key.as_str()).map_err(db_err)?;
            by_state.remove(state_key.as_str()).map_err(db_err)?;
        }
        if let Some((account_key, state_key)) = index_entries(record) {
            by_account
                .insert(account_key.as_str(), id)
                .map_err(db_err)?;
            by_state.insert(state_key.as_str(), id).map_err(db_err)?;
        }
    }
    let mut payouts = txn.open_table(PAYOUTS).map_err(db_err)?;
    payouts.insert(id, value.as_slice()).map_err(db_err)?;
    Ok(())
}

/// [`put_payout_record`] of a domain payout.
pub(crate) fn put_payout(
    txn: &WriteTransaction,
    payout: &Payout,
    previous: Option<&PayoutRecord>,
) -> Result<(), StoreError> {
    put_payout_record(txn, &PayoutRecord::from(payout), previous)
}

/// The index and its key range `[lower, upper)` of one listing page, before the limit;
/// `None` when the query can match nothing.
fn listing_bounds(
    account: &str,
    query: &PayoutQuery,
) -> Option<(
    TableDefinition<'static, &'static str, &'static str>,
    String,
    String,
)> {
    let (index, prefix) = match query.state {
        // Never listed: not a payout yet.
        Some(PayoutState::Assembling) => return None,
        Some(state) => (
            PAYOUTS_BY_STATE,
            keys::status_prefix(account, state.as_str()),
        ),
        None => (PAYOUTS_BY_ACCOUNT, keys::account_prefix(account)),
    };
    let lower = match query.from {
        Some(from) => keys::index_at(&prefix, from.timestamp_millis()),
        None => prefix.clone(),
    };
    let mut upper = keys::prefix_end(&prefix);
    // `to` is inclusive: everything below the first key of `to + 1 ms`.
    if let Some(next_ms) = query.to.and_then(|to| to.timestamp_millis().checked_add(1)) {
        upper = upper.min(keys::index_at(&prefix, next_ms));
    }
    if let Some(after) = &query.after {
        // Strictly older than the cursor: the cursor's own entry is the exclusive bound.
        let cursor = keys::index_entry(
            &prefix,
            after.created_at.timestamp_millis(),
            after.payout_id.as_str(),
        );
        upper = upper.min(cursor);
    }
    (lower < upper).then_some((index, lower, upper))
}

/// An account's listable payouts, newest first (created_at, then id, both descending).
fn list_payouts_in(
    db: &Database,
    account: &str,
    query: &PayoutQuery,
) -> Result<PayoutPage, StoreError> {
    let empty = PayoutPage {
        items: Vec::new(),
        next: None,
    };
    let Some((index_definition, lower, upper)) = listing_bounds(account, query) else {
        return Ok(empty);
    };
    let limit = query.limit.clamp(1, MAX_PAGE) as usize;
    let txn = db.begin_read().map_err(db_err)?;
    let index = txn.open_table(index_definition).map_err(db_err)?;
    let payouts = txn.open_table(PAYOUTS).map_err(db_err)?;
    let (ids, more) = newest_ids(&index, &lower, &upper, limit)?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        let record = get_decoded(&payouts, &id, decode_record)?.ok_or_else(|| {
            StoreError::Corrupt(format!("payout index names missing payout {id}"))
        })?;
        items.push(Payout::try_from(record)?);
    }
    let next = if more {
        items.last().map(PayoutCursor::of)
    } else {
        None
    };
    Ok(PayoutPage { items, next })
}

const SEP: char = keys::SEP;

fn manifest_prefix(payout: &str) -> String {
    format!("{payout}{SEP}")
}

pub(crate) fn manifest_entry(payout: &str, transaction_id: &str, index: u8) -> String {
    format!("{payout}{SEP}{transaction_id}{SEP}{index:03}")
}

fn parse_manifest_key(prefix: &str, key: &str) -> Result<SplitRef, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("payout manifest key {key:?}"));
    let rest = key.strip_prefix(prefix).ok_or_else(corrupt)?;
    let (txid, index) = rest.split_once(SEP).ok_or_else(corrupt)?;
    Ok(SplitRef {
        transaction_id: TransactionId::parse(txid).ok_or_else(corrupt)?,
        index: index.parse().map_err(|_| corrupt())?,
    })
}

fn settle_in(txn: &WriteTransaction, write: &SettlePayout) -> Result<WriteOutcome, StoreError> {
    let payout_id = write.payout.id.as_str();
    // PROCESSING, with the deductions the settlement was computed with (a settlement read
    // before the netting must not wipe them and leave the debt recovering for ever).
    let deductions = PayoutRecord::from(&write.payout).deductions;
    let stored_payout = load_payout(txn, payout_id)?
        .filter(|p| p.state == PayoutState::Processing.as_str() && p.deductions == deductions);
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

    // The deductions' settlement on the recipient; refused, the whole transaction aborts
    // (`conditional_write`), so nothing of it is written.
    if let Some(settlement) = &write.recipient
        && !settle_debt(txn, &write.payout.account_id, settlement)?
    {
        return Ok(WriteOutcome::Conflict);
    }
    if let Some(totals) = &write.totals {
        add_totals(txn, &write.payout.account_id, totals)?;
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

/// Stores a PROCESSING payout's deductions, once, with its recipient's queue taken from.
fn decide_netting_in(
    txn: &WriteTransaction,
    write: &DecideNetting,
) -> Result<WriteOutcome, StoreError> {
    let id = write.payout.id.as_str();
    let stored = load_payout(txn, id)?
        .filter(|p| p.state == PayoutState::Processing.as_str() && p.deductions.is_none());
    let Some(stored) = stored else {
        return Ok(WriteOutcome::Conflict);
    };
    if let Some(recipient) = &write.recipient {
        let expected = recipient.version.checked_sub(1);
        if expected.is_none() || stored_version(txn, recipient)? != expected {
            return Ok(WriteOutcome::Conflict);
        }
        replace_debt_queue(txn, recipient, write.payout.deducted())?;
    }
    let record = PayoutRecord {
        deductions: PayoutRecord::from(&write.payout).deductions,
        ..stored.clone()
    };
    put_payout_record(txn, &record, Some(&stored))?;
    Ok(WriteOutcome::Applied)
}

#[async_trait]
impl PayoutStore for EmbeddedStore {
    async fn decide_netting(&self, write: &DecideNetting) -> Result<WriteOutcome, StoreError> {
        let write = write.clone();
        self.blocking("decide_netting", move |db| {
            conditional_write(db, |txn| decide_netting_in(txn, &write))
        })
        .await
    }

    fn max_splits_per_settle(&self) -> usize {
        MAX_SPLITS_PER_SETTLE
    }

    async fn payout_splits_page(
        &self,
        payout: &PayoutId,
        after: Option<&SplitRef>,
        limit: usize,
    ) -> Result<(Vec<SplitRef>, Option<SplitRef>), StoreError> {
        // At least one per page, so a walk always moves on.
        let limit = limit.max(1);
        let payout = payout.to_string();
        let prefix = manifest_prefix(&payout);
        let start = match after {
            Some(r) => Bound::Excluded(manifest_entry(&payout, r.transaction_id.as_str(), r.index)),
            None => Bound::Included(prefix.clone()),
        };
        self.blocking("payout_splits_page", move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let manifest = txn.open_table(PAYOUT_SPLITS).map_err(db_err)?;
            let end = keys::prefix_end(&prefix);
            let start_ref = match &start {
                Bound::Included(k) => Bound::Included(k.as_str()),
                Bound::Excluded(k) => Bound::Excluded(k.as_str()),
                Bound::Unbounded => Bound::Unbounded,
            };
            let mut refs = Vec::new();
            let mut more = false;
            for entry in manifest
                .range::<&str>((start_ref, Bound::Excluded(end.as_str())))
                .map_err(db_err)?
            {
                if refs.len() == limit {
                    // A key past the page: the cursor is given only when something follows.
                    more = true;
                    break;
                }
                let (key, _) = entry.map_err(db_err)?;
                let key = key.value();
                refs.push(parse_manifest_key(&prefix, key)?);
            }
            let next = more.then(|| refs.last().cloned()).flatten();
            Ok((refs, next))
        })
        .await
    }

    async fn settle_payout_splits(&self, write: &SettleSplits) -> Result<WriteOutcome, StoreError> {
        let write = write.clone();
        self.blocking("settle_payout_splits", move |db| {
            conditional_write(db, |txn| settle_splits::settle_splits_in(txn, &write))
        })
        .await
    }

    async fn list_payouts(
        &self,
        account: &AccountId,
        query: &PayoutQuery,
    ) -> Result<PayoutPage, StoreError> {
        let account = account.to_string();
        let query = query.clone();
        self.blocking("list_payouts", move |db| {
            list_payouts_in(db, &account, &query)
        })
        .await
    }

    async fn settle_payout(&self, write: &SettlePayout) -> Result<WriteOutcome, StoreError> {
        let write = write.clone();
        self.blocking("settle_payout", move |db| {
            conditional_write(db, |txn| settle_in(txn, &write))
        })
        .await
    }

    async fn get_payout(&self, id: &PayoutId) -> Result<Option<Payout>, StoreError> {
        let id = id.to_string();
        self.blocking("get_payout", move |db| read_payout(db, &id))
            .await
    }
}

#[cfg(test)]
mod tests;
