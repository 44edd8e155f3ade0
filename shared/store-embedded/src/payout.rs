//! The `payouts` table and the two indexes that list an account's payouts.
//!
//! | table                | key                                                       | value            |
//! |----------------------|-----------------------------------------------------------|------------------|
//! | `payouts`            | payout id                                                 | [`PayoutRecord`] |
//! | `payouts_by_account` | account, sortable created-at ms, payout id                | payout id        |
//! | `payouts_by_state`   | account, state, sortable created-at ms, payout id         | payout id        |
//!
//! The indexes hold exactly the LISTABLE payouts: every state but ASSEMBLING (a scheduled
//! payout still being filled is not a payout yet). [`put_payout`] is the only writer of the
//! `payouts` table and moves the index entries in the same write transaction, so an immediate
//! payout is listed from the moment it is booked, a scheduled one from the moment it is
//! released, and a settlement moves its state entry. A listing page is one reverse range read
//! of one index, bounded by `from`/`to`/the cursor: never a full scan.

use redb::{Database, ReadableDatabase, TableDefinition, WriteTransaction};

use pixgw_domain::error::StoreError;
use pixgw_domain::payout::ports::{PayoutCursor, PayoutPage, PayoutQuery};
use pixgw_domain::payout::record::PayoutRecord;
use pixgw_domain::payout::{Payout, PayoutState};

use crate::{Bytes, db_err, decode, encode, get_decoded, keys, newest_ids};

pub(crate) const PAYOUTS: TableDefinition<&str, Bytes> = TableDefinition::new("payouts");
const PAYOUTS_BY_ACCOUNT: TableDefinition<&str, &str> = TableDefinition::new("payouts_by_account");
const PAYOUTS_BY_STATE: TableDefinition<&str, &str> = TableDefinition::new("payouts_by_state");

/// The most payouts one page may hold, whatever the query asks.
const MAX_PAGE: u32 = 100;

/// Creates the payout tables (called by [`EmbeddedStore::open`](crate::EmbeddedStore::open)).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(PAYOUTS).map_err(db_err)?;
    txn.open_table(PAYOUTS_BY_ACCOUNT).map_err(db_err)?;
    txn.open_table(PAYOUTS_BY_STATE).map_err(db_err)?;
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
    crate::contains(&payouts, id)
}

/// One snapshot read of one payout.
pub(crate) fn read_payout(db: &Database, id: &str) -> Result<Option<Payout>, StoreError> {
    crate::read_one(db, PAYOUTS, id, decode_record)?
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
pub(crate) fn list_payouts_in(
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

#[cfg(test)]
mod tests;
