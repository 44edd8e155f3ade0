//! Values in redb tables: every value is JSON (`serde_json`) under a string key spelled by
//! [`crate::keys`]. Encoding, decoding, the reads every module shares, and redb failures as
//! [`StoreError`].

use std::fmt;

use redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition};
use serde::{Deserialize, Serialize};

use pixgw_domain::error::StoreError;

/// The value type of the tables that hold records (their JSON); index tables hold `&str`.
pub(crate) type Bytes = &'static [u8];

/// Any redb failure: I/O, a full disk, a closed database. The caller cannot fix it.
pub(crate) fn db_err(e: impl fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("redb: {e}"))
}

pub(crate) fn encode<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>, StoreError> {
    // Serialising our own plain structs cannot fail in practice; if it ever does, nothing was
    // written, so "unavailable" is the honest answer.
    serde_json::to_vec(value)
        .map_err(|e| StoreError::Unavailable(format!("cannot encode {what}: {e}")))
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    what: &str,
    key: &str,
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| {
        StoreError::Corrupt(format!("{what} {key:?} is not valid JSON of its type: {e}"))
    })
}

/// The value under `key`, decoded with `decode(bytes, key)`; `None` when there is none.
pub(crate) fn get_decoded<T>(
    table: &impl ReadableTable<&'static str, Bytes>,
    key: &str,
    decode: impl FnOnce(&[u8], &str) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    match table.get(key).map_err(db_err)? {
        Some(value) => decode(value.value(), key).map(Some),
        None => Ok(None),
    }
}

/// [`get_decoded`] in a read transaction of its own: one snapshot read of one value.
pub(crate) fn read_one<T>(
    db: &Database,
    definition: TableDefinition<&str, Bytes>,
    key: &str,
    decode: impl FnOnce(&[u8], &str) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let txn = db.begin_read().map_err(db_err)?;
    let table = txn.open_table(definition).map_err(db_err)?;
    get_decoded(&table, key, decode)
}

pub(crate) fn contains<V: redb::Value + 'static>(
    table: &Table<'_, &'static str, V>,
    key: &str,
) -> Result<bool, StoreError> {
    Ok(table.get(key).map_err(db_err)?.is_some())
}
