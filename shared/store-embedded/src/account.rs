//! [`AccountStore`] on redb: merchant accounts and their API client credentials.
//!
//! | table      | key        | value                |
//! |------------|------------|----------------------|
//! | `accounts` | account id | [`Account`]          |
//! | `clients`  | client id  | [`ClientCredential`] |
//!
//! An account is created in ONE write transaction with its first credential and its default
//! payout schedule ([`crate::schedule`]), so no account ever exists without a schedule for the
//! payout scheduler's index to find. Beyond creation, an account's settings change one field
//! at a time: the operator's provider order, the merchant's refund policy.

use async_trait::async_trait;
use redb::{Database, TableDefinition, WriteTransaction};
use serde_json::Value;

use pixgw_domain::account::ports::{AccountStore, AccountUpdateError, CreateAccountError};
use pixgw_domain::account::{Account, ClientCredential};
use pixgw_domain::error::StoreError;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::refund::RefundLiability;
use pixgw_domain::schedule::ports::ScheduleState;
use pixgw_domain::schedule::record::ScheduleRecord;

use crate::EmbeddedStore;
use crate::schedule::{load_schedule, put_schedule_record};
use crate::tables::{Bytes, contains, db_err, decode, encode, get_decoded, read_one};
use crate::transact::abort;

pub(crate) const ACCOUNTS: TableDefinition<&str, Bytes> = TableDefinition::new("accounts");
const CLIENTS: TableDefinition<&str, Bytes> = TableDefinition::new("clients");

/// Creates the account tables (called by [`EmbeddedStore::open`]).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(ACCOUNTS).map_err(db_err)?;
    txn.open_table(CLIENTS).map_err(db_err)?;
    Ok(())
}

/// The JSON field of [`Account::providers`]; absent when empty, as serde writes it.
const PROVIDERS: &str = "providers";
/// The JSON field of [`Account::refund_liability`].
const REFUND_LIABILITY: &str = "refund_liability";

/// Sets (or, `None`, removes) one field of the stored account in one write transaction (the
/// read and the write cannot be split by another writer). Only that field of the stored JSON
/// changes, so a field this version does not know survives too.
fn set_field(
    db: &Database,
    account_id: &str,
    field: &str,
    value: Option<Value>,
) -> Result<(), AccountUpdateError> {
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
            match value {
                Some(value) => fields.insert(field.to_owned(), value),
                None => fields.remove(field),
            };
            fields
        })
    };
    let Some(fields) = updated else {
        abort(txn);
        return Err(AccountUpdateError::AccountNotFound);
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

#[async_trait]
impl AccountStore for EmbeddedStore {
    async fn create_account(
        &self,
        account: &Account,
        credential: &ClientCredential,
    ) -> Result<(), CreateAccountError> {
        let account_value = encode(account, "account")?;
        let credential_value = encode(credential, "client credential")?;
        let account_id = account.id.to_string();
        let client_id = credential.client_id.clone();
        // Written with the account, so no account ever exists without a schedule for the
        // payout scheduler's index to find.
        let schedule =
            ScheduleRecord::from(&ScheduleState::initial(&account.id, account.created_at));
        self.blocking("create_account", move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let taken = {
                let accounts = txn.open_table(ACCOUNTS).map_err(db_err)?;
                let clients = txn.open_table(CLIENTS).map_err(db_err)?;
                contains(&accounts, &account_id)?
                    || contains(&clients, &client_id)?
                    || load_schedule(&txn, &account_id)?.is_some()
            };
            if taken {
                abort(txn);
                return Err(CreateAccountError::AlreadyExists);
            }
            {
                let mut accounts = txn.open_table(ACCOUNTS).map_err(db_err)?;
                accounts
                    .insert(account_id.as_str(), account_value.as_slice())
                    .map_err(db_err)?;
                let mut clients = txn.open_table(CLIENTS).map_err(db_err)?;
                clients
                    .insert(client_id.as_str(), credential_value.as_slice())
                    .map_err(db_err)?;
            }
            put_schedule_record(&txn, &schedule, None)?;
            txn.commit().map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        let id = id.to_string();
        self.blocking("get_account", move |db| {
            read_one(db, ACCOUNTS, &id, |bytes, key| {
                decode(bytes, "account", key)
            })
        })
        .await
    }

    async fn find_client(&self, client_id: &str) -> Result<Option<ClientCredential>, StoreError> {
        let client_id = client_id.to_owned();
        self.blocking("find_client", move |db| {
            read_one(db, CLIENTS, &client_id, |bytes, key| {
                decode(bytes, "client credential", key)
            })
        })
        .await
    }

    async fn set_account_providers(
        &self,
        id: &AccountId,
        providers: &[String],
    ) -> Result<(), AccountUpdateError> {
        let id = id.to_string();
        let value = (!providers.is_empty())
            .then(|| Value::Array(providers.iter().cloned().map(Value::String).collect()));
        self.blocking("set_account_providers", move |db| {
            set_field(db, &id, PROVIDERS, value)
        })
        .await
    }

    async fn set_refund_liability(
        &self,
        id: &AccountId,
        liability: RefundLiability,
    ) -> Result<(), AccountUpdateError> {
        let id = id.to_string();
        let value = Value::String(liability.as_str().to_owned());
        self.blocking("set_refund_liability", move |db| {
            set_field(db, &id, REFUND_LIABILITY, Some(value))
        })
        .await
    }
}

#[cfg(test)]
mod tests;
