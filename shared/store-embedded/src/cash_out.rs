//! [`CashOutStore`] on redb: cash-outs, the per-account `externalId` guard, the two listing
//! indexes (newest first like `payouts_by_*`), and the writes that request and settle them.
//!
//! | table                   | key                                                  | value             |
//! |-------------------------|------------------------------------------------------|-------------------|
//! | `cash_outs`             | cash-out id                                          | [`CashOutRecord`] |
//! | `cash_out_external_ids` | account, `externalId`                                | cash-out id       |
//! | `cash_outs_by_account`  | account, sortable created-at ms, cash-out id         | cash-out id       |
//! | `cash_outs_by_state`    | account, state, sortable created-at ms, cash-out id  | cash-out id       |
//!
//! [`put_cash_out`] is the only writer of `cash_outs` and moves the index entries in the same
//! write transaction, so a listing page (one reverse range read of one index, bounded by
//! `from`/`to`/the cursor) always agrees with the stored states. Requesting a cash-out is a
//! money-out write ([`crate::ledger_write`]): the cash-out and its guard, its movement (a debit
//! of `available` checked against the balance row), the outbox messages and the idempotency
//! completion, in ONE write transaction. Settling one is conditioned on its stored state.

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, TableDefinition, WriteTransaction};

use pixgw_domain::cash_out::ports::{
    CashOutCursor, CashOutPage, CashOutQuery, CashOutStore, RequestCashOut, UpdateCashOut,
};
use pixgw_domain::cash_out::record::CashOutRecord;
use pixgw_domain::cash_out::{CashOut, CashOutId};
use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::ledger::ports::MoneyOutOutcome;
use pixgw_domain::pix::ids::AccountId;

use crate::EmbeddedStore;
use crate::events::{events_absent, put_events};
use crate::keys;
use crate::ledger::{movement_absent, movement_exists, put_movement};
use crate::ledger_write::{
    Claim, check_draw_matches, check_no_draw, claim_of, complete, draw_holds, money_out_write,
};
use crate::listing::{MAX_PAGE, newest_ids};
use crate::outbox::put_outbox;
use crate::tables::{Bytes, contains, db_err, decode, encode, get_decoded, read_one};
use crate::transact::conditional_write;

const CASH_OUTS: TableDefinition<&str, Bytes> = TableDefinition::new("cash_outs");
const CASH_OUT_EXTERNAL_IDS: TableDefinition<&str, &str> =
    TableDefinition::new("cash_out_external_ids");
const CASH_OUTS_BY_ACCOUNT: TableDefinition<&str, &str> =
    TableDefinition::new("cash_outs_by_account");
const CASH_OUTS_BY_STATE: TableDefinition<&str, &str> = TableDefinition::new("cash_outs_by_state");

/// Creates the cash-out tables (called by [`EmbeddedStore::open`](crate::EmbeddedStore::open)).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(CASH_OUTS).map_err(db_err)?;
    txn.open_table(CASH_OUT_EXTERNAL_IDS).map_err(db_err)?;
    txn.open_table(CASH_OUTS_BY_ACCOUNT).map_err(db_err)?;
    txn.open_table(CASH_OUTS_BY_STATE).map_err(db_err)?;
    Ok(())
}

fn decode_record(bytes: &[u8], key: &str) -> Result<CashOutRecord, StoreError> {
    decode(bytes, "cash-out", key)
}

/// The stored cash-out `id`, read inside the write transaction that may replace it.
fn load_cash_out(txn: &WriteTransaction, id: &str) -> Result<Option<CashOutRecord>, StoreError> {
    let table = txn.open_table(CASH_OUTS).map_err(db_err)?;
    get_decoded(&table, id, decode_record)
}

/// Whether the account already has a cash-out with this `externalId`, read inside a write
/// transaction.
fn external_id_taken(
    txn: &WriteTransaction,
    account: &str,
    external_id: &str,
) -> Result<bool, StoreError> {
    let guards = txn.open_table(CASH_OUT_EXTERNAL_IDS).map_err(db_err)?;
    contains(&guards, &keys::cash_out_external_id(account, external_id))
}

/// A cash-out's two listing index entries.
fn index_entries(r: &CashOutRecord) -> (String, String) {
    (
        keys::cash_out_entry(&r.account_id, r.created_at_ms, &r.cash_out_id),
        keys::cash_out_state_entry(&r.account_id, &r.state, r.created_at_ms, &r.cash_out_id),
    )
}

/// Writes a cash-out, replacing `previous` (the stored version of the same cash-out) and
/// keeping both listing indexes exact. A new one (no `previous`) also gets its `externalId`
/// guard, whose absence the caller checked ([`external_id_taken`]); a replacement keeps it.
fn put_cash_out(
    txn: &WriteTransaction,
    cash_out: &CashOut,
    previous: Option<&CashOutRecord>,
) -> Result<(), StoreError> {
    let record = CashOutRecord::from(cash_out);
    let id = record.cash_out_id.as_str();
    let value = encode(&record, "cash-out")?;
    {
        let mut by_account = txn.open_table(CASH_OUTS_BY_ACCOUNT).map_err(db_err)?;
        let mut by_state = txn.open_table(CASH_OUTS_BY_STATE).map_err(db_err)?;
        if let Some((account_key, state_key)) = previous.map(index_entries) {
            by_account.remove(account_key.as_str()).map_err(db_err)?;
            by_state.remove(state_key.as_str()).map_err(db_err)?;
        }
        let (account_key, state_key) = index_entries(&record);
        by_account
            .insert(account_key.as_str(), id)
            .map_err(db_err)?;
        by_state.insert(state_key.as_str(), id).map_err(db_err)?;
    }
    let guard = keys::cash_out_external_id(&record.account_id, &record.external_id);
    let old_guard = previous.map(|p| keys::cash_out_external_id(&p.account_id, &p.external_id));
    if old_guard.as_ref() != Some(&guard) {
        let mut guards = txn.open_table(CASH_OUT_EXTERNAL_IDS).map_err(db_err)?;
        if let Some(old_guard) = old_guard {
            guards.remove(old_guard.as_str()).map_err(db_err)?;
        }
        guards.insert(guard.as_str(), id).map_err(db_err)?;
    }
    let mut table = txn.open_table(CASH_OUTS).map_err(db_err)?;
    table.insert(id, value.as_slice()).map_err(db_err)?;
    Ok(())
}

/// One snapshot read of one cash-out.
fn read_cash_out(db: &Database, id: &str) -> Result<Option<CashOut>, StoreError> {
    read_one(db, CASH_OUTS, id, decode_record)?
        .map(CashOut::try_from)
        .transpose()
}

/// The account's cash-out with this `externalId`, through its guard.
fn find_by_external_id(
    db: &Database,
    account: &str,
    external_id: &str,
) -> Result<Option<CashOut>, StoreError> {
    let key = keys::cash_out_external_id(account, external_id);
    let txn = db.begin_read().map_err(db_err)?;
    let guards = txn.open_table(CASH_OUT_EXTERNAL_IDS).map_err(db_err)?;
    let Some(id) = guards.get(key.as_str()).map_err(db_err)? else {
        return Ok(None);
    };
    let id = id.value().to_owned();
    let table = txn.open_table(CASH_OUTS).map_err(db_err)?;
    match get_decoded(&table, &id, decode_record)? {
        Some(record) => CashOut::try_from(record).map(Some),
        None => Err(StoreError::Corrupt(format!(
            "cash-out externalId guard {key:?} names missing cash-out {id}"
        ))),
    }
}

/// The index and its key range `[lower, upper)` of one listing page, before the limit;
/// `None` when the query can match nothing.
fn listing_bounds(
    account: &str,
    query: &CashOutQuery,
) -> Option<(
    TableDefinition<'static, &'static str, &'static str>,
    String,
    String,
)> {
    let (index, prefix) = match query.state {
        Some(state) => (
            CASH_OUTS_BY_STATE,
            keys::status_prefix(account, state.as_str()),
        ),
        None => (CASH_OUTS_BY_ACCOUNT, keys::account_prefix(account)),
    };
    let lower = match query.from {
        Some(from) => keys::index_at(&prefix, from.timestamp_millis()),
        None => prefix.clone(),
    };
    let mut upper = keys::prefix_end(&prefix);
    // `to` is exclusive: everything below the first key of its millisecond.
    if let Some(to) = query.to {
        upper = upper.min(keys::index_at(&prefix, to.timestamp_millis()));
    }
    if let Some(after) = &query.after {
        // Strictly older than the cursor: the cursor's own entry is the exclusive bound.
        let cursor = keys::index_entry(&prefix, after.created_at_ms, after.id.as_str());
        upper = upper.min(cursor);
    }
    (lower < upper).then_some((index, lower, upper))
}

/// An account's cash-outs, newest first (created_at, then id, both descending).
fn list_in(db: &Database, account: &str, query: &CashOutQuery) -> Result<CashOutPage, StoreError> {
    let Some((index_definition, lower, upper)) = listing_bounds(account, query) else {
        return Ok(CashOutPage {
            items: Vec::new(),
            next: None,
        });
    };
    let limit = query.limit.clamp(1, MAX_PAGE) as usize;
    let txn = db.begin_read().map_err(db_err)?;
    let index = txn.open_table(index_definition).map_err(db_err)?;
    let table = txn.open_table(CASH_OUTS).map_err(db_err)?;
    let (ids, more) = newest_ids(&index, &lower, &upper, limit)?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        let record = get_decoded(&table, &id, decode_record)?.ok_or_else(|| {
            StoreError::Corrupt(format!("cash-out index names missing cash-out {id}"))
        })?;
        items.push(CashOut::try_from(record)?);
    }
    let next = if more {
        items.last().map(CashOutCursor::of)
    } else {
        None
    };
    Ok(CashOutPage { items, next })
}

fn request_cash_out_in(
    txn: &WriteTransaction,
    write: &RequestCashOut,
) -> Result<MoneyOutOutcome, StoreError> {
    check_draw_matches(&write.movement, &write.draw)?;
    let claim = claim_of(txn, write.completion.as_ref())?;
    if matches!(claim, Claim::Lost) {
        return Ok(MoneyOutOutcome::ClaimLost);
    }
    let cash_out = &write.cash_out;
    let account = cash_out.account_id.as_str();
    if external_id_taken(txn, account, &cash_out.external_id)? {
        return Ok(MoneyOutOutcome::DuplicateExternalId);
    }
    if load_cash_out(txn, cash_out.id.as_str())?.is_some()
        || movement_exists(txn, &write.movement.id)?
    {
        return Ok(MoneyOutOutcome::Conflict);
    }
    if !draw_holds(txn, write.movement.account_id.as_str(), &write.draw)? {
        return Ok(MoneyOutOutcome::BalanceChanged);
    }

    put_cash_out(txn, cash_out, None)?;
    put_movement(txn, &write.movement)?;
    put_outbox(txn, &write.outbox)?;
    complete(txn, &claim, write.completion.as_ref())?;
    Ok(MoneyOutOutcome::Applied)
}

fn update_cash_out_in(
    txn: &WriteTransaction,
    write: &UpdateCashOut,
) -> Result<WriteOutcome, StoreError> {
    check_no_draw(write.movement.as_ref())?;
    let stored =
        load_cash_out(txn, write.cash_out.id.as_str())?.filter(|c| c.state == write.from.as_str());
    let Some(stored) = stored else {
        return Ok(WriteOutcome::Conflict);
    };
    if !movement_absent(txn, write.movement.as_ref())? || !events_absent(txn, &write.events)? {
        return Ok(WriteOutcome::Conflict);
    }

    put_cash_out(txn, &write.cash_out, Some(&stored))?;
    if let Some(movement) = &write.movement {
        put_movement(txn, movement)?;
    }
    put_events(txn, &write.events)?;
    Ok(WriteOutcome::Applied)
}

#[async_trait]
impl CashOutStore for EmbeddedStore {
    async fn request_cash_out(
        &self,
        write: &RequestCashOut,
    ) -> Result<MoneyOutOutcome, StoreError> {
        let write = write.clone();
        self.blocking("request_cash_out", move |db| {
            money_out_write(db, |txn| request_cash_out_in(txn, &write))
        })
        .await
    }

    async fn update_cash_out(&self, write: &UpdateCashOut) -> Result<WriteOutcome, StoreError> {
        let write = write.clone();
        self.blocking("update_cash_out", move |db| {
            conditional_write(db, |txn| update_cash_out_in(txn, &write))
        })
        .await
    }

    async fn get_cash_out(&self, id: &CashOutId) -> Result<Option<CashOut>, StoreError> {
        let id = id.to_string();
        self.blocking("get_cash_out", move |db| read_cash_out(db, &id))
            .await
    }

    async fn find_cash_out_by_external_id(
        &self,
        account: &AccountId,
        external_id: &str,
    ) -> Result<Option<CashOut>, StoreError> {
        let account = account.to_string();
        let external_id = external_id.to_owned();
        self.blocking("find_cash_out_by_external_id", move |db| {
            find_by_external_id(db, &account, &external_id)
        })
        .await
    }

    async fn list_cash_outs(
        &self,
        account: &AccountId,
        query: &CashOutQuery,
    ) -> Result<CashOutPage, StoreError> {
        let account = account.to_string();
        let query = query.clone();
        self.blocking("list_cash_outs", move |db| list_in(db, &account, &query))
            .await
    }
}

#[cfg(test)]
mod tests;
