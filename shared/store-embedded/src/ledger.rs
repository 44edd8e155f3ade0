//! [`LedgerStore`] on redb: the movements, their account index and the balance rows.
//!
//! | table                  | key                                          | value                     |
//! |------------------------|----------------------------------------------|---------------------------|
//! | `movements`            | movement id                                  | [`MovementRecord`]        |
//! | `movements_by_account` | account, sortable created-at ms, movement id | movement id               |
//! | `balances`             | account id                                   | running totals (centavos) |
//!
//! redb has no per-item write limit, so one balance row per account suffices (the DynamoDB
//! adapter shards it): [`LedgerStore::balance_shards`] reports it as shard 0. It is only ever
//! changed in the transaction that stores a movement ([`put_movement`]), so it always equals
//! the sum of the account's movements. A statement page is one range read of
//! `movements_by_account`, oldest first.

use std::ops::Bound;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use pixgw_domain::error::StoreError;
use pixgw_domain::ledger::ports::{
    LedgerStore, MAX_MOVEMENTS_PER_PAGE, MovementPage, MovementQuery,
};
use pixgw_domain::ledger::record::MovementRecord;
use pixgw_domain::ledger::{Balance, Movement};
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::money::Money;

use crate::EmbeddedStore;
use crate::keys;
use crate::tables::{Bytes, contains, db_err, decode, encode, get_decoded, read_one};

const MOVEMENTS: TableDefinition<&str, Bytes> = TableDefinition::new("movements");
const MOVEMENTS_BY_ACCOUNT: TableDefinition<&str, &str> =
    TableDefinition::new("movements_by_account");
const BALANCES: TableDefinition<&str, Bytes> = TableDefinition::new("balances");

/// Creates the ledger tables (called by [`EmbeddedStore::open`]).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(MOVEMENTS).map_err(db_err)?;
    txn.open_table(MOVEMENTS_BY_ACCOUNT).map_err(db_err)?;
    txn.open_table(BALANCES).map_err(db_err)?;
    Ok(())
}

/// An account's running totals in the `balances` table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BalanceRecord {
    incoming_cents: i64,
    available_cents: i64,
    reserved_for_splits_cents: i64,
    /// Absent on balances written before recipient debts existed.
    #[serde(default)]
    recipient_debts_cents: i64,
    /// Absent on balances written before disputes and holds existed.
    #[serde(default)]
    held_cents: i64,
    #[serde(default)]
    owed_cents: i64,
}

impl From<BalanceRecord> for Balance {
    fn from(r: BalanceRecord) -> Balance {
        Balance {
            incoming: Money::from_cents(r.incoming_cents),
            available: Money::from_cents(r.available_cents),
            reserved_for_splits: Money::from_cents(r.reserved_for_splits_cents),
            recipient_debts: Money::from_cents(r.recipient_debts_cents),
            held: Money::from_cents(r.held_cents),
            owed: Money::from_cents(r.owed_cents),
        }
    }
}

impl From<Balance> for BalanceRecord {
    fn from(b: Balance) -> BalanceRecord {
        BalanceRecord {
            incoming_cents: b.incoming.cents(),
            available_cents: b.available.cents(),
            reserved_for_splits_cents: b.reserved_for_splits.cents(),
            recipient_debts_cents: b.recipient_debts.cents(),
            held_cents: b.held.cents(),
            owed_cents: b.owed.cents(),
        }
    }
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
fn decode_movement(bytes: &[u8], key: &str) -> Result<Movement, StoreError> {
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

/// One statement page: the account's movements per `query`, oldest first, and whether more
/// follow (one entry read past the page tells).
fn movements_page_in(
    db: &Database,
    account: &str,
    query: &MovementQuery,
) -> Result<MovementPage, StoreError> {
    let prefix = keys::account_prefix(account);
    let mut lower = match query.from {
        Some(from) => keys::index_at(&prefix, from.timestamp_millis()),
        None => prefix.clone(),
    };
    let mut lower_included = true;
    let mut upper = keys::prefix_end(&prefix);
    if let Some(to) = query.to {
        // `to` is exclusive: everything below the first key of its millisecond.
        upper = upper.min(keys::index_at(&prefix, to.timestamp_millis()));
    }
    if let Some(start) = &query.start {
        let cursor = keys::movement_entry(
            account,
            start.created_at.timestamp_millis(),
            &start.movement_id,
        );
        if cursor >= lower {
            lower = cursor;
            lower_included = query.inclusive;
        }
    }
    if lower >= upper {
        return Ok(MovementPage::default());
    }
    let limit = query.limit.clamp(1, MAX_MOVEMENTS_PER_PAGE) as usize;
    let txn = db.begin_read().map_err(db_err)?;
    let index = txn.open_table(MOVEMENTS_BY_ACCOUNT).map_err(db_err)?;
    let movements = txn.open_table(MOVEMENTS).map_err(db_err)?;
    let lower_bound = if lower_included {
        Bound::Included(lower.as_str())
    } else {
        Bound::Excluded(lower.as_str())
    };
    let mut page = MovementPage {
        movements: Vec::with_capacity(limit),
        more: false,
    };
    for entry in index
        .range::<&str>((lower_bound, Bound::Excluded(upper.as_str())))
        .map_err(db_err)?
    {
        if page.movements.len() == limit {
            page.more = true;
            break;
        }
        let (_, id) = entry.map_err(db_err)?;
        let id = id.value();
        let movement = get_decoded(&movements, id, decode_movement)?
            .ok_or_else(|| StoreError::Corrupt(format!("movement index names missing {id:?}")))?;
        page.movements.push(movement);
    }
    Ok(page)
}

#[async_trait]
impl LedgerStore for EmbeddedStore {
    async fn movement_exists(&self, movement_id: &str) -> Result<bool, StoreError> {
        let id = movement_id.to_owned();
        self.blocking("movement_exists", move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let movements = txn.open_table(MOVEMENTS).map_err(db_err)?;
            Ok(movements.get(id.as_str()).map_err(db_err)?.is_some())
        })
        .await
    }

    async fn balance_shards(&self, account: &AccountId) -> Result<Vec<(u32, Balance)>, StoreError> {
        let account = account.to_string();
        self.blocking("balance_shards", move |db| {
            let record: Option<BalanceRecord> = read_one(db, BALANCES, &account, |bytes, key| {
                decode(bytes, "balance", key)
            })?;
            Ok(record
                .map(|r| vec![(0, Balance::from(r))])
                .unwrap_or_default())
        })
        .await
    }

    async fn movements_page(
        &self,
        account: &AccountId,
        query: &MovementQuery,
    ) -> Result<MovementPage, StoreError> {
        let account = account.to_string();
        let query = query.clone();
        self.blocking("movements_page", move |db| {
            movements_page_in(db, &account, &query)
        })
        .await
    }

    async fn get_balance(&self, account: &AccountId) -> Result<Balance, StoreError> {
        let account = account.to_string();
        self.blocking("get_balance", move |db| {
            let record: Option<BalanceRecord> = read_one(db, BALANCES, &account, |bytes, key| {
                decode(bytes, "balance", key)
            })?;
            Ok(record.map(Balance::from).unwrap_or_default())
        })
        .await
    }

    async fn list_movements(&self, account: &AccountId) -> Result<Vec<Movement>, StoreError> {
        let prefix = keys::account_prefix(account.as_str());
        self.blocking("list_movements", move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let index = txn.open_table(MOVEMENTS_BY_ACCOUNT).map_err(db_err)?;
            let movements = txn.open_table(MOVEMENTS).map_err(db_err)?;
            let end = keys::prefix_end(&prefix);
            let mut listed = Vec::new();
            for entry in index
                .range::<&str>(prefix.as_str()..end.as_str())
                .map_err(db_err)?
            {
                let (_, id) = entry.map_err(db_err)?;
                let id = id.value();
                let record: MovementRecord =
                    get_decoded(&movements, id, |bytes, key| decode(bytes, "movement", key))?
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!("movement index names missing {id:?}"))
                        })?;
                listed.push(Movement::try_from(record)?);
            }
            Ok(listed)
        })
        .await
    }
}

#[cfg(test)]
mod tests;
