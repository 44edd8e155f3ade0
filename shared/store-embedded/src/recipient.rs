//! [`RecipientStore`] on redb: one record per recipient that ever owed its account anything.
//!
//! | table        | key                       | value               |
//! |--------------|---------------------------|---------------------|
//! | `recipients` | `{accountId}/{recipientId}` | [`RecipientRecord`] |
//!
//! A debt grows in the write of the refund that creates it ([`add_debt`]: its part goes to the
//! back of the queue); a payout takes parts off the front when its deductions are decided
//! ([`replace_recipient`]) and settles them with itself ([`settle_debt`]).

use async_trait::async_trait;
use redb::{TableDefinition, WriteTransaction};

use pixgw_domain::error::StoreError;
use pixgw_domain::pix::ids::{AccountId, RecipientId};
use pixgw_domain::payout::ports::DebtSettlement;
use pixgw_domain::pix::money::Money;
use pixgw_domain::recipient::{Recipient, total};
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

/// Adds `debt` to its recipient of `account` (its part at the back of the queue), creating
/// the recipient on its first debt.
pub(crate) fn add_debt(
    txn: &WriteTransaction,
    account: &AccountId,
    debt: &DebtIncrease,
) -> Result<(), StoreError> {
    let key = key(account.as_str(), debt.recipient_id.as_str());
    let mut table = txn.open_table(RECIPIENTS).map_err(db_err)?;
    let stored = get_decoded(&table, &key, decode_recipient)?;
    let mut recipient = stored.unwrap_or_else(|| Recipient {
        id: debt.recipient_id.clone(),
        account_id: account.clone(),
        recipient: debt.recipient.clone(),
        debt: Money::ZERO,
        open_debts: Vec::new(),
        recovering: Money::ZERO,
        version: 0,
    });
    recipient.debt = recipient
        .debt
        .checked_add(debt.amount)
        .ok_or_else(|| StoreError::Corrupt(format!("debt of {key} overflows")))?;
    recipient.open_debts.push(debt.part());
    recipient.version += 1;
    let value = encode(&RecipientRecord::from(&recipient), "recipient")?;
    table.insert(key.as_str(), value.as_slice()).map_err(db_err)?;
    Ok(())
}

/// The stored version of `recipient`'s item, if it exists.
pub(crate) fn stored_version(
    txn: &WriteTransaction,
    recipient: &Recipient,
) -> Result<Option<u64>, StoreError> {
    let key = key(recipient.account_id.as_str(), recipient.id.as_str());
    let table = txn.open_table(RECIPIENTS).map_err(db_err)?;
    Ok(get_decoded(&table, &key, decode_recipient)?.map(|r| r.version))
}

/// Stores `recipient` as given (the caller checked the version it replaces).
pub(crate) fn replace_recipient(
    txn: &WriteTransaction,
    recipient: &Recipient,
) -> Result<(), StoreError> {
    let key = key(recipient.account_id.as_str(), recipient.id.as_str());
    let mut table = txn.open_table(RECIPIENTS).map_err(db_err)?;
    let value = encode(&RecipientRecord::from(recipient), "recipient")?;
    table.insert(key.as_str(), value.as_slice()).map_err(db_err)?;
    Ok(())
}

/// Settles a payout's deductions on its recipient: `false` (nothing written) when the
/// recipient is not recovering that much.
pub(crate) fn settle_debt(
    txn: &WriteTransaction,
    account: &AccountId,
    settlement: &DebtSettlement,
) -> Result<bool, StoreError> {
    let key = key(account.as_str(), settlement.recipient_id.as_str());
    let mut table = txn.open_table(RECIPIENTS).map_err(db_err)?;
    let Some(mut recipient) = get_decoded(&table, &key, decode_recipient)? else {
        return Ok(false);
    };
    let parts = total(&settlement.parts);
    if recipient.recovering.cents() < parts.cents() {
        return Ok(false);
    }
    recipient.recovering = Money::from_cents(recipient.recovering.cents() - parts.cents());
    if settlement.restore {
        recipient.debt = Money::from_cents(recipient.debt.cents() + parts.cents());
        let mut open = settlement.parts.clone();
        open.append(&mut recipient.open_debts);
        recipient.open_debts = open;
        recipient.version += 1;
    }
    let value = encode(&RecipientRecord::from(&recipient), "recipient")?;
    table.insert(key.as_str(), value.as_slice()).map_err(db_err)?;
    Ok(true)
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
