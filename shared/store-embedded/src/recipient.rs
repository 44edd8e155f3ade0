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
use std::ops::Bound;

use redb::{Database, ReadableDatabase, TableDefinition, WriteTransaction};

use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::payout::PayoutRecipient;
use pixgw_domain::payout::ports::DebtSettlement;
use pixgw_domain::pix::ids::{AccountId, RecipientId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::recipient::ports::MAX_RECIPIENTS_PER_PAGE;
use pixgw_domain::recipient::ports::{RecipientStore, WriteOffDebts};
use pixgw_domain::recipient::record::RecipientRecord;
use pixgw_domain::recipient::{DebtForgiveness, Recipient, RecipientTotals, total};
use pixgw_domain::refund::liability::DebtIncrease;

use crate::EmbeddedStore;
use crate::ledger::{movement_exists, put_movement};
use crate::ledger_write::check_no_draw;
use crate::tables::{Bytes, db_err, decode, encode, get_decoded, read_one};
use crate::transact::conditional_write;

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

/// The stored recipient `id` of `account`, or a new one (nothing owed, nothing scheduled).
fn load_or_new(
    txn: &WriteTransaction,
    account: &AccountId,
    id: &RecipientId,
    recipient: &PayoutRecipient,
) -> Result<Recipient, StoreError> {
    let table = txn.open_table(RECIPIENTS).map_err(db_err)?;
    let stored = get_decoded(
        &table,
        &key(account.as_str(), id.as_str()),
        decode_recipient,
    )?;
    Ok(stored.unwrap_or_else(|| Recipient {
        id: id.clone(),
        account_id: account.clone(),
        recipient: recipient.clone(),
        debt: Money::ZERO,
        open_debts: Vec::new(),
        recovering: Money::ZERO,
        version: 0,
        scheduled: Money::ZERO,
        paid: Money::ZERO,
    }))
}

/// Adds `change` to its recipient's running totals, creating the recipient on its first
/// change; an error (a programming error: nothing must be written) if a total would go
/// below zero.
pub(crate) fn add_totals(
    txn: &WriteTransaction,
    account: &AccountId,
    change: &RecipientTotals,
) -> Result<(), StoreError> {
    let mut recipient = load_or_new(txn, account, &change.recipient_id, &change.recipient)?;
    let scheduled = recipient.scheduled.cents() + change.scheduled;
    let paid = recipient.paid.cents() + change.paid;
    if scheduled < 0 || paid < 0 {
        return Err(StoreError::Corrupt(format!(
            "totals of recipient {} would go negative",
            change.recipient_id
        )));
    }
    recipient.scheduled = Money::from_cents(scheduled);
    recipient.paid = Money::from_cents(paid);
    replace_recipient(txn, &recipient)
}

/// Adds `debt` to its recipient of `account` (its part at the back of the queue), creating
/// the recipient on its first debt.
pub(crate) fn add_debt(
    txn: &WriteTransaction,
    account: &AccountId,
    debt: &DebtIncrease,
) -> Result<(), StoreError> {
    let key = key(account.as_str(), debt.recipient_id.as_str());
    let mut recipient = load_or_new(txn, account, &debt.recipient_id, &debt.recipient)?;
    let mut table = txn.open_table(RECIPIENTS).map_err(db_err)?;
    recipient.debt = recipient
        .debt
        .checked_add(debt.amount)
        .ok_or_else(|| StoreError::Corrupt(format!("debt of {key} overflows")))?;
    recipient.open_debts.push(debt.part());
    recipient.version += 1;
    let value = encode(&RecipientRecord::from(&recipient), "recipient")?;
    table
        .insert(key.as_str(), value.as_slice())
        .map_err(db_err)?;
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

/// Stores the debt queue of `recipient` as given (the caller checked the version it replaces)
/// and adds `taken` to what the stored recipient is recovering; its running totals and its
/// `recovering` change by addition without the version (a payout settling meanwhile), so
/// they are kept as stored, never overwritten with what the netting read.
pub(crate) fn replace_debt_queue(
    txn: &WriteTransaction,
    recipient: &Recipient,
    taken: Money,
) -> Result<(), StoreError> {
    let key = key(recipient.account_id.as_str(), recipient.id.as_str());
    let table = txn.open_table(RECIPIENTS).map_err(db_err)?;
    let stored = get_decoded(&table, &key, decode_recipient)?;
    drop(table);
    let merged = match stored {
        Some(stored) => Recipient {
            debt: recipient.debt,
            open_debts: recipient.open_debts.clone(),
            recovering: Money::from_cents(stored.recovering.cents() + taken.cents()),
            version: recipient.version,
            ..stored
        },
        None => {
            return Err(StoreError::Corrupt(format!(
                "netting of recipient {} that is not stored",
                recipient.id
            )));
        }
    };
    replace_recipient(txn, &merged)
}

/// Whether `forgiveness`'s recipient of `account` is stored at the version it was read at.
pub(crate) fn forgiveness_holds(
    txn: &WriteTransaction,
    account: &AccountId,
    forgiveness: &DebtForgiveness,
) -> Result<bool, StoreError> {
    let key = key(account.as_str(), forgiveness.recipient_id.as_str());
    let table = txn.open_table(RECIPIENTS).map_err(db_err)?;
    let stored = get_decoded(&table, &key, decode_recipient)?;
    Ok(stored.is_some_and(|r| r.version == forgiveness.version_read))
}

/// Applies `forgiveness` (checked with [`forgiveness_holds`]): its queue and debt, the version
/// bumped; the rest of the recipient as stored.
pub(crate) fn forgive(
    txn: &WriteTransaction,
    account: &AccountId,
    forgiveness: &DebtForgiveness,
) -> Result<(), StoreError> {
    let key = key(account.as_str(), forgiveness.recipient_id.as_str());
    let table = txn.open_table(RECIPIENTS).map_err(db_err)?;
    let stored = get_decoded(&table, &key, decode_recipient)?
        .ok_or_else(|| StoreError::Corrupt(format!("forgiving recipient {key} not stored")))?;
    drop(table);
    replace_recipient(
        txn,
        &Recipient {
            debt: forgiveness.debt,
            open_debts: forgiveness.open_debts.clone(),
            version: forgiveness.version_read + 1,
            ..stored
        },
    )
}

/// Stores `recipient` as given.
fn replace_recipient(txn: &WriteTransaction, recipient: &Recipient) -> Result<(), StoreError> {
    let key = key(recipient.account_id.as_str(), recipient.id.as_str());
    let mut table = txn.open_table(RECIPIENTS).map_err(db_err)?;
    let value = encode(&RecipientRecord::from(recipient), "recipient")?;
    table
        .insert(key.as_str(), value.as_slice())
        .map_err(db_err)?;
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
    table
        .insert(key.as_str(), value.as_slice())
        .map_err(db_err)?;
    Ok(true)
}

/// A page of the account's recipients in id order, strictly after `after`, and whether one
/// follows.
fn list_in(
    db: &Database,
    account: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<Recipient>, Option<RecipientId>), StoreError> {
    let prefix = format!("{account}/");
    // Every key of the account sorts below "{account}0" ('0' follows '/').
    let end = format!("{account}0");
    let start = match after {
        Some(id) => Bound::Excluded(key(account, id)),
        None => Bound::Included(prefix.clone()),
    };
    let txn = db.begin_read().map_err(db_err)?;
    let table = txn.open_table(RECIPIENTS).map_err(db_err)?;
    let start_ref = match &start {
        Bound::Included(k) => Bound::Included(k.as_str()),
        Bound::Excluded(k) => Bound::Excluded(k.as_str()),
        Bound::Unbounded => Bound::Unbounded,
    };
    let mut page = Vec::new();
    let mut more = false;
    for entry in table
        .range::<&str>((start_ref, Bound::Excluded(end.as_str())))
        .map_err(db_err)?
    {
        if page.len() == limit {
            more = true;
            break;
        }
        let (key, value) = entry.map_err(db_err)?;
        page.push(decode_recipient(value.value(), key.value())?);
    }
    let next = more.then(|| page.last().map(|r| r.id.clone())).flatten();
    Ok((page, next))
}

/// A write-off (see [`WriteOffDebts`]): the recipient at the version read, the movement new.
fn write_off_in(txn: &WriteTransaction, write: &WriteOffDebts) -> Result<WriteOutcome, StoreError> {
    let account = &write.movement.account_id;
    if !forgiveness_holds(txn, account, &write.forgiveness)?
        || movement_exists(txn, &write.movement.id)?
    {
        return Ok(WriteOutcome::Conflict);
    }
    forgive(txn, account, &write.forgiveness)?;
    put_movement(txn, &write.movement)?;
    Ok(WriteOutcome::Applied)
}

#[async_trait]
impl RecipientStore for EmbeddedStore {
    async fn write_off_debts(&self, write: &WriteOffDebts) -> Result<WriteOutcome, StoreError> {
        check_no_draw(Some(&write.movement))?;
        let write = write.clone();
        self.blocking("write_off_debts", move |db| {
            conditional_write(db, |txn| write_off_in(txn, &write))
        })
        .await
    }

    async fn list_recipients(
        &self,
        account: &AccountId,
        after: Option<&RecipientId>,
        limit: usize,
    ) -> Result<(Vec<Recipient>, Option<RecipientId>), StoreError> {
        let account = account.to_string();
        let after = after.map(ToString::to_string);
        let limit = limit.clamp(1, MAX_RECIPIENTS_PER_PAGE);
        self.blocking("list_recipients", move |db| {
            list_in(db, &account, after.as_deref(), limit)
        })
        .await
    }

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
