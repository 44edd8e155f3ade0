//! [`RecipientStore`] on redb: one record per recipient that ever owed its account anything.
//!
//! | table        | key                       | value               |
//! |--------------|---------------------------|---------------------|
//! | `recipients` | `{accountId}/{recipientId}` | [`RecipientRecord`] |
//!
//! A debt grows in the write of the refund that creates it ([`add_debt`]).

use async_trait::async_trait;
use redb::{TableDefinition, WriteTransaction};

use pixgw_domain::error::StoreError;
use pixgw_domain::pix::ids::{AccountId, RecipientId};
use pixgw_domain::recipient::Recipient;
use pixgw_domain::recipient::ports::RecipientStore;
use pixgw_domain::recipient::record::RecipientRecord;
use pixgw_domain::refund::liability::DebtIncrease;

use crate::EmbeddedStore;
use crate::tables::{Bytes, db_err, decode, encode, get_decoded, read_one};

const RECIPIENTS: TableDefinition<&str, Bytes> = TableDefinition::new("recipients");

/// Creates the recipient table (called by [`EmbeddedStore::open`]).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(RECIPIENTS).map_err(db_err)?;
    Ok(())
}

fn key(account: &str, recipient: &str) -> String {
    format!("{account}/{recipient}")
}

fn decode_recipient(bytes: &[u8], key: &str) -> Result<Recipient, StoreError> {
    Recipient::try_from(decode::<RecipientRecord>(bytes, "recipient", key)?)
}

/// Adds `debt` to its recipient of `account`, creating the recipient on its first debt.
pub(crate) fn add_debt(
    txn: &WriteTransaction,
    account: &AccountId,
    debt: &DebtIncrease,
) -> Result<(), StoreError> {
    let key = key(account.as_str(), debt.recipient_id.as_str());
    let mut table = txn.open_table(RECIPIENTS).map_err(db_err)?;
    let stored = get_decoded(&table, &key, decode_recipient)?;
    let recipient = match stored {
        Some(r) => Recipient {
            debt: r
                .debt
                .checked_add(debt.amount)
                .ok_or_else(|| StoreError::Corrupt(format!("debt of {key} overflows")))?,
            ..r
        },
        None => Recipient {
            id: debt.recipient_id.clone(),
            account_id: account.clone(),
            recipient: debt.recipient.clone(),
            debt: debt.amount,
        },
    };
    let value = encode(&RecipientRecord::from(&recipient), "recipient")?;
    table
        .insert(key.as_str(), value.as_slice())
        .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl RecipientStore for EmbeddedStore {
    async fn get_recipient(
        &self,
        account: &AccountId,
        id: &RecipientId,
    ) -> Result<Option<Recipient>, StoreError> {
        let key = key(account.as_str(), id.as_str());
        self.blocking("get_recipient", move |db| {
            read_one(db, RECIPIENTS, &key, decode_recipient)
        })
        .await
    }
}
