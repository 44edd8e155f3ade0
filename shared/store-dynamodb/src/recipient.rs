//! [`RecipientStore`]: split recipients and their debts.
//!
//! A recipient item lives in its account's recipients partition
//! (`ACCOUNT#{accountId}#RECIPIENTS` / `RECIPIENT#{recipientId}`) and holds the shared
//! [`RecipientRecord`]: `debtCents` (what it owes and no payout is recovering yet), its queue of
//! debt parts `openDebts` (oldest first; Σ = `debtCents`), `recoveringCents` (taken into
//! payouts' deductions not settled yet) and `version`. Three writes change it, each inside the
//! transaction of the change that causes it:
//!
//! - a refund ([`debt_increase_update`]) creates it on the first debt and grows it: its
//!   descriptive attributes are set only if absent, the part is appended at the END of the
//!   queue, `debtCents` and `version` change only by `ADD`, so two refunds adding to one
//!   recipient never lose each other's increase (and need no condition on what they read);
//! - a payout's netting ([`netting_update`]) takes parts off the FRONT of the queue: it sets the
//!   queue and `debtCents` as the executor computed them, so it requires the `version` it read
//!   (any refund or restore in between bumps it and makes it a Conflict), and `ADD`s what it
//!   took to `recoveringCents`;
//! - a payout's settlement ([`debt_settlement_update`]) `ADD`s minus its deductions to
//!   `recoveringCents` and, when the payout FAILED, puts them back at the front of the queue.
//!
//! `recoveringCents` only ever changes by `ADD`, so the netting and a settlement of another
//! payout of the same recipient commute without either bumping the version for it.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use pixgw_domain::error::StoreError;
use pixgw_domain::payout::ports::DebtSettlement;
use pixgw_domain::pix::ids::{AccountId, RecipientId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::recipient::ports::RecipientStore;
use pixgw_domain::recipient::record::{DebtPartRecord, RecipientRecord};
use pixgw_domain::recipient::{DebtPart, Recipient, total};
use pixgw_domain::refund::liability::DebtIncrease;
use serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value;
use tracing::instrument;

use crate::DynamoStore;
use crate::errors;
use crate::items::{ACCOUNT_ID, decode, record_item};
use crate::keys::{
    ENTITY, ENTITY_RECIPIENT, Item, PK, SK, n, primary_key, recipient_sk, recipients_pk, s,
};

/// Record attributes the expressions name (as `serde` writes them, camelCase).
const RECIPIENT_ID: &str = "recipientId";
const DEBT: &str = "debtCents";
const OPEN_DEBTS: &str = "openDebts";
const RECOVERING: &str = "recoveringCents";
/// Absent on items written before the queue existed: such an item is at version 0.
const VERSION: &str = "version";

const UPDATE: &str = "UpdateItem";

/// The recipient `debt` is about, as its item will first be written (no debt yet: the debt
/// itself is only ever `ADD`ed).
fn recipient_item(account: &AccountId, debt: &DebtIncrease) -> Result<Item, StoreError> {
    let record = RecipientRecord::from(&Recipient {
        id: debt.recipient_id.clone(),
        account_id: account.clone(),
        recipient: debt.recipient.clone(),
        debt: Money::ZERO,
        open_debts: Vec::new(),
        recovering: Money::ZERO,
        version: 0,
    });
    let mut item = record_item(
        "recipient",
        &record,
        [
            (PK, s(recipients_pk(account))),
            (SK, s(recipient_sk(&debt.recipient_id))),
            (ENTITY, s(ENTITY_RECIPIENT)),
        ],
    )?;
    // Changed by the update's own clauses, never set-if-absent.
    for changed in [DEBT, OPEN_DEBTS, VERSION] {
        item.remove(changed);
    }
    Ok(item)
}

/// Debt parts as the record stores them: a list of `{refundId, transactionId, amountCents}`.
fn parts_value(parts: &[DebtPart]) -> Result<AttributeValue, StoreError> {
    let records: Vec<DebtPartRecord> = parts.iter().map(DebtPartRecord::from).collect();
    to_attribute_value(records).map_err(|e| errors::corrupt("debt parts", &e))
}

fn empty_list() -> AttributeValue {
    AttributeValue::L(Vec::new())
}

/// The condition every change of an existing recipient item starts with: it exists and is
/// that recipient of that account (its key already says so; the condition keeps a damaged
/// item from silently absorbing a change).
const SAME_RECIPIENT: &str = "attribute_exists(#pk) AND #acc = :acc AND #rid = :rid";

fn recipient_update(account: &AccountId, id: &RecipientId, table: &str) -> UpdateBuilder {
    Update::builder()
        .table_name(table)
        .set_key(Some(primary_key(recipients_pk(account), &recipient_sk(id))))
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_names("#rid", RECIPIENT_ID)
        .expression_attribute_values(":acc", s(account.to_string()))
        .expression_attribute_values(":rid", s(id.to_string()))
}

/// Grows the debt of the account's recipient by `debt.amount`, creating its item on the first
/// debt: every descriptive attribute `SET … = if_not_exists(…)`, the part appended at the end
/// of `openDebts`, `ADD debtCents, version`. Conditioned on the item being absent or the same
/// recipient of the same account (its key already says so; the condition keeps a damaged item
/// from silently absorbing a debt). Appends and `ADD`s commute, so concurrent refunds need no
/// condition on what they read; the version bump is what makes a netting planned before this
/// refund a Conflict (it would overwrite the queue without this part).
pub(crate) fn debt_increase_update(
    table: &str,
    account: &AccountId,
    debt: &DebtIncrease,
) -> Result<TransactWriteItem, StoreError> {
    let item = recipient_item(account, debt)?;
    let mut builder = recipient_update(account, &debt.recipient_id, table)
        .condition_expression("attribute_not_exists(#pk) OR (#acc = :acc AND #rid = :rid)")
        .expression_attribute_names("#debt", DEBT)
        .expression_attribute_names("#open", OPEN_DEBTS)
        .expression_attribute_names("#ver", VERSION)
        .expression_attribute_values(":debt", n(debt.amount.cents()))
        .expression_attribute_values(":part", parts_value(&[debt.part()])?)
        .expression_attribute_values(":empty", empty_list())
        .expression_attribute_values(":one", n(1));
    let mut names: Vec<&String> = item.keys().filter(|k| *k != PK && *k != SK).collect();
    names.sort();
    let mut sets = vec!["#open = list_append(if_not_exists(#open, :empty), :part)".to_owned()];
    for (i, name) in names.into_iter().enumerate() {
        sets.push(format!("#a{i} = if_not_exists(#a{i}, :v{i})"));
        builder = builder
            .expression_attribute_names(format!("#a{i}"), name.as_str())
            .expression_attribute_values(format!(":v{i}"), item[name].clone());
    }
    let update = builder
        .update_expression(format!(
            "SET {} ADD #debt :debt, #ver :one",
            sets.join(", ")
        ))
        .build()
        .map_err(|e| errors::build_failed(UPDATE, &e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// A payout's netting on its recipient's item: the queue and `debtCents` as `after` has them
/// (the parts `taken` off its front), `version` = `after.version`, and `taken`'s Σ `ADD`ed to
/// `recoveringCents`; conditioned on the item being stored at `after.version − 1` (an item
/// without `version` is at 0).
///
/// `recoveringCents` is `ADD`ed rather than set to `after.recovering`: a settlement of another
/// payout of this recipient lowers it without bumping the version (see the module docs), and
/// setting it from the executor's read would undo that.
pub(crate) fn netting_update(
    table: &str,
    after: &Recipient,
    taken: &[DebtPart],
) -> Result<TransactWriteItem, StoreError> {
    let read_at = after
        .version
        .checked_sub(1)
        .ok_or_else(|| refusing("a netting must bump the recipient's version"))?;
    let read_at = i64::try_from(read_at).map_err(|_| refusing("recipient version out of range"))?;
    let version_read = if read_at == 0 {
        "(attribute_not_exists(#ver) OR #ver = :read)"
    } else {
        "#ver = :read"
    };
    let update = recipient_update(&after.account_id, &after.id, table)
        .condition_expression(format!("{SAME_RECIPIENT} AND {version_read}"))
        .update_expression("SET #open = :open, #debt = :debt, #ver = :ver ADD #rec :taken")
        .expression_attribute_names("#open", OPEN_DEBTS)
        .expression_attribute_names("#debt", DEBT)
        .expression_attribute_names("#ver", VERSION)
        .expression_attribute_names("#rec", RECOVERING)
        .expression_attribute_values(":open", parts_value(&after.open_debts)?)
        .expression_attribute_values(":debt", n(after.debt.cents()))
        .expression_attribute_values(":ver", n(read_at + 1))
        .expression_attribute_values(":read", n(read_at))
        .expression_attribute_values(":taken", n(total(taken).cents()))
        .build()
        .map_err(|e| errors::build_failed(UPDATE, &e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// A settled payout's deductions on its recipient's item ([`DebtSettlement`]): conditioned on
/// `recoveringCents` ≥ their Σ, `ADD recoveringCents −Σ`; when `restore` (the payout FAILED),
/// also the parts back at the FRONT of the queue (they are older than anything a refund added
/// meanwhile), `ADD debtCents Σ, version 1`. No version is required: both commute with a
/// refund appending to the queue's end.
pub(crate) fn debt_settlement_update(
    table: &str,
    account: &AccountId,
    settlement: &DebtSettlement,
) -> Result<TransactWriteItem, StoreError> {
    let sum = total(&settlement.parts).cents();
    let builder = recipient_update(account, &settlement.recipient_id, table)
        .condition_expression(format!("{SAME_RECIPIENT} AND #rec >= :sum"))
        .expression_attribute_names("#rec", RECOVERING)
        .expression_attribute_values(":sum", n(sum))
        .expression_attribute_values(":minus", n(-sum));
    let builder = if settlement.restore {
        builder
            .update_expression(
                "SET #open = list_append(:parts, if_not_exists(#open, :empty)) \
                 ADD #rec :minus, #debt :sum, #ver :one",
            )
            .expression_attribute_names("#open", OPEN_DEBTS)
            .expression_attribute_names("#debt", DEBT)
            .expression_attribute_names("#ver", VERSION)
            .expression_attribute_values(":parts", parts_value(&settlement.parts)?)
            .expression_attribute_values(":empty", empty_list())
            .expression_attribute_values(":one", n(1))
    } else {
        builder.update_expression("ADD #rec :minus")
    };
    let update = builder
        .build()
        .map_err(|e| errors::build_failed(UPDATE, &e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

fn refusing(why: &str) -> StoreError {
    StoreError::Unavailable(format!("refusing to write: {why}"))
}

fn recipient_from_item(item: Item) -> Result<Recipient, StoreError> {
    Recipient::try_from(decode::<RecipientRecord>("recipient", item)?)
}

#[async_trait]
impl RecipientStore for DynamoStore {
    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account, recipient_id = %id))]
    async fn get_recipient(
        &self,
        account: &AccountId,
        id: &RecipientId,
    ) -> Result<Option<Recipient>, StoreError> {
        let Some(item) = self
            .get_item(recipients_pk(account), &recipient_sk(id))
            .await?
        else {
            return Ok(None);
        };
        let recipient = recipient_from_item(item)?;
        if &recipient.account_id != account || &recipient.id != id {
            return Err(StoreError::Corrupt(format!(
                "recipient {id} of {account} stored as {} of {}",
                recipient.id, recipient.account_id
            )));
        }
        Ok(Some(recipient))
    }
}
