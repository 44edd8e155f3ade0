//! Account writes beyond creation: the operator's per-account provider order.

use pixgw_domain::account::Account;
use pixgw_domain::account::ports::SetProvidersError;
use redb::Database;
use serde_json::Value;

use crate::{ACCOUNTS, abort, db_err, decode, encode, get_decoded};

/// The JSON field of [`Account::providers`]; absent when empty, as serde writes it.
const PROVIDERS: &str = "providers";

/// Replaces the stored account's provider order in one write transaction (the read and the
/// write cannot be split by another writer). Only that field of the stored JSON changes, so a
/// field this version does not know survives too.
pub(crate) fn set_providers(
    db: &Database,
    account_id: &str,
    providers: &[String],
) -> Result<(), SetProvidersError> {
    let txn = db.begin_write().map_err(db_err)?;
    let updated = {
        let accounts = txn.open_table(ACCOUNTS).map_err(db_err)?;
        // Decoded twice: as an account, so a corrupt value is reported rather than rewritten,
        // and as plain JSON, which is what gets edited.
        let stored = get_decoded(&accounts, account_id, |bytes, key| {
            decode::<Account>(bytes, "account", key)?;
            decode::<serde_json::Map<String, Value>>(bytes, "account", key)
        })?;
        stored.map(|mut fields| {
            if providers.is_empty() {
                fields.remove(PROVIDERS);
            } else {
                let list = providers.iter().cloned().map(Value::String).collect();
                fields.insert(PROVIDERS.to_owned(), Value::Array(list));
            }
            fields
        })
    };
    let Some(fields) = updated else {
        abort(txn);
        return Err(SetProvidersError::AccountNotFound);
    };
    let value = encode(&fields, "account")?;
    {
        let mut accounts = txn.open_table(ACCOUNTS).map_err(db_err)?;
        accounts
            .insert(account_id, value.as_slice())
            .map_err(db_err)?;
    }
    txn.commit().map_err(db_err)?;
    Ok(())
}

#[cfg(test)]
#[path = "accounts_tests.rs"]
mod tests;
