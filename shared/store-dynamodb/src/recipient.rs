//! [`RecipientStore`]: split recipients and their debts.
//!
//! A recipient item lives in its account's recipients partition
//! (`ACCOUNT#{accountId}#RECIPIENTS` / `RECIPIENT#{recipientId}`) and holds the shared
//! [`RecipientRecord`]. It is created by the first refund that gives the recipient a debt and
//! grown by later ones, always inside the refund's transaction ([`debt_increase_update`]): its
//! descriptive attributes are set only if absent, and `debtCents` changes only by `ADD`, so two
//! refunds adding to one recipient never lose each other's increase.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use pixgw_domain::error::StoreError;
use pixgw_domain::pix::ids::{AccountId, RecipientId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::recipient::Recipient;
use pixgw_domain::recipient::ports::RecipientStore;
use pixgw_domain::recipient::record::RecipientRecord;
use pixgw_domain::refund::liability::DebtIncrease;
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

const UPDATE: &str = "UpdateItem";

/// The recipient `debt` is about, as its item will first be written (no debt yet: the debt
/// itself is only ever `ADD`ed).
fn recipient_item(account: &AccountId, debt: &DebtIncrease) -> Result<Item, StoreError> {
    let record = RecipientRecord::from(&Recipient {
        id: debt.recipient_id.clone(),
        account_id: account.clone(),
        recipient: debt.recipient.clone(),
        debt: Money::ZERO,
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
    item.remove(DEBT);
    Ok(item)
}

/// Grows the debt of the account's recipient by `debt.amount`, creating its item on the first
/// debt: every descriptive attribute `SET … = if_not_exists(…)`, `ADD debtCents`. Conditioned
/// on the item being absent or the same recipient of the same account (its key already says
/// so; the condition keeps a damaged item from silently absorbing a debt).
pub(crate) fn debt_increase_update(
    table: &str,
    account: &AccountId,
    debt: &DebtIncrease,
) -> Result<TransactWriteItem, StoreError> {
    let item = recipient_item(account, debt)?;
    let mut builder = Update::builder()
        .table_name(table)
        .set_key(Some(primary_key(
            recipients_pk(account),
            &recipient_sk(&debt.recipient_id),
        )))
        .condition_expression("attribute_not_exists(#pk) OR (#acc = :acc AND #rid = :rid)")
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_names("#rid", RECIPIENT_ID)
        .expression_attribute_names("#debt", DEBT)
        .expression_attribute_values(":acc", s(account.to_string()))
        .expression_attribute_values(":rid", s(debt.recipient_id.to_string()))
        .expression_attribute_values(":debt", n(debt.amount.cents()));
    let mut names: Vec<&String> = item.keys().filter(|k| *k != PK && *k != SK).collect();
    names.sort();
    let mut sets = Vec::with_capacity(names.len());
    for (i, name) in names.into_iter().enumerate() {
        sets.push(format!("#a{i} = if_not_exists(#a{i}, :v{i})"));
        builder = builder
            .expression_attribute_names(format!("#a{i}"), name.as_str())
            .expression_attribute_values(format!(":v{i}"), item[name].clone());
    }
    let update = builder
        .update_expression(format!("SET {} ADD #debt :debt", sets.join(", ")))
        .build()
        .map_err(|e| errors::build_failed(UPDATE, &e))?;
    Ok(TransactWriteItem::builder().update(update).build())
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
