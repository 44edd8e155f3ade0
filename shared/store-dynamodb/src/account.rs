//! [`AccountStore`]: accounts and their client credentials.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use pixgw_domain::account::ports::{AccountStore, AccountUpdateError, CreateAccountError};
use pixgw_domain::account::{Account, ClientCredential};
use pixgw_domain::error::StoreError;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::refund::RefundLiability;
use pixgw_domain::schedule::ports::ScheduleState;
use serde::Serialize;
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_attribute_value, to_item};
use tracing::{debug, instrument};

use crate::DynamoStore;
use crate::errors::{self, SingleWrite, write_retrying_conflicts};
use crate::keys::{
    ENTITY, Item, PK, SK, SK_ACCOUNT, SK_CLIENT, account_pk, client_pk, fits_partition_key,
    primary_key, s,
};
use crate::schedule::put_new_schedule;
use crate::transact::{TransactFailure, put_new, transact_write};

/// The account item's attribute holding [`Account::providers`] (serde's field name). Absent
/// when the list is empty, as `skip_serializing_if` writes it, so items written before the
/// field existed and items whose list was cleared read the same.
const PROVIDERS: &str = "providers";
/// The account item's attribute holding [`Account::refund_liability`] (serde's field name,
/// the liability's API name as value). Items written before the field existed lack it and
/// read as `MERCHANT` (serde default).
const REFUND_LIABILITY: &str = "refund_liability";

/// Serialises a domain object and adds its key attributes.
fn keyed_item<T: Serialize>(
    what: &str,
    value: &T,
    pk: String,
    sk: &str,
) -> Result<Item, StoreError> {
    let mut item: Item = to_item(value).map_err(|e| errors::corrupt(what, &e))?;
    item.insert(PK.to_owned(), s(pk));
    item.insert(SK.to_owned(), s(sk));
    item.insert(ENTITY.to_owned(), s(sk));
    Ok(item)
}

#[async_trait]
impl AccountStore for DynamoStore {
    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account.id, client_id = %credential.client_id))]
    async fn create_account(
        &self,
        account: &Account,
        credential: &ClientCredential,
    ) -> Result<(), CreateAccountError> {
        let client_pk = client_pk(&credential.client_id);
        if !fits_partition_key(&client_pk) {
            return Err(StoreError::Unavailable("client id too long for a key".into()).into());
        }
        let items = vec![
            put_new(
                &self.table,
                keyed_item("account", account, account_pk(&account.id), SK_ACCOUNT)?,
            )?,
            put_new(
                &self.table,
                keyed_item("client credential", credential, client_pk, SK_CLIENT)?,
            )?,
            // In the same transaction, so no account ever exists without a schedule for the
            // payout scheduler's index to find.
            put_new_schedule(
                &self.table,
                &ScheduleState::initial(&account.id, account.created_at),
            )?,
        ];
        match transact_write(&self.client, items).await {
            Ok(()) => {
                debug!("account created");
                return Ok(());
            }
            Err(TransactFailure::Cancelled { .. }) => {
                debug!("account or client id already exists");
                return Err(CreateAccountError::AlreadyExists);
            }
            Err(TransactFailure::Store(err)) => return Err(err.into()),
            Err(TransactFailure::StillConflicting) => {}
        }
        // Still conflicting: someone else is writing one of these ids right now.
        if self.get_account(&account.id).await?.is_some()
            || self.find_client(&credential.client_id).await?.is_some()
        {
            return Err(CreateAccountError::AlreadyExists);
        }
        Err(StoreError::Unavailable("account creation kept conflicting".into()).into())
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %id))]
    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        let item = self.get_item(account_pk(id), SK_ACCOUNT).await?;
        item.map(|item| from_item(item).map_err(|e| errors::corrupt("account", &e)))
            .transpose()
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, client_id = %client_id))]
    async fn find_client(&self, client_id: &str) -> Result<Option<ClientCredential>, StoreError> {
        let pk = client_pk(client_id);
        // Whatever a caller sends as a client id, an impossible one is simply unknown.
        if client_id.is_empty() || !fits_partition_key(&pk) {
            return Ok(None);
        }
        let item = self.get_item(pk, SK_CLIENT).await?;
        item.map(|item| from_item(item).map_err(|e| errors::corrupt("client credential", &e)))
            .transpose()
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %id, providers = ?providers))]
    async fn set_account_providers(
        &self,
        id: &AccountId,
        providers: &[String],
    ) -> Result<(), AccountUpdateError> {
        // An empty list is absent, as `skip_serializing_if` writes it.
        let change = if providers.is_empty() {
            AttributeChange::Remove
        } else {
            AttributeChange::Set(
                to_attribute_value(providers)
                    .map_err(|e| errors::corrupt("account providers", &e))?,
            )
        };
        self.update_account_attribute(id, PROVIDERS, change, "account providers")
            .await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %id, liability = liability.as_str()))]
    async fn set_refund_liability(
        &self,
        id: &AccountId,
        liability: RefundLiability,
    ) -> Result<(), AccountUpdateError> {
        let value =
            to_attribute_value(liability).map_err(|e| errors::corrupt("refund liability", &e))?;
        self.update_account_attribute(
            id,
            REFUND_LIABILITY,
            AttributeChange::Set(value),
            "account refund liability",
        )
        .await
    }
}

/// What an account update does to its one attribute.
enum AttributeChange {
    Set(AttributeValue),
    Remove,
}

impl DynamoStore {
    /// One UpdateItem touching only `attribute` of the account: the rest of the account stays
    /// as it is, and the condition keeps the update from creating a half item for an unknown
    /// id.
    async fn update_account_attribute(
        &self,
        id: &AccountId,
        attribute: &str,
        change: AttributeChange,
        what: &str,
    ) -> Result<(), AccountUpdateError> {
        let (update, values) = match change {
            AttributeChange::Remove => ("REMOVE #attr", None),
            AttributeChange::Set(value) => (
                "SET #attr = :value",
                Some(Item::from([(":value".to_owned(), value)])),
            ),
        };
        let outcome = write_retrying_conflicts("UpdateItem", || {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(primary_key(account_pk(id), SK_ACCOUNT)))
                .update_expression(update)
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#attr", attribute)
                .set_expression_attribute_values(values.clone())
                .send()
        })
        .await?;
        match outcome {
            SingleWrite::Written => {
                debug!(what, "account updated");
                Ok(())
            }
            SingleWrite::ConditionFailed => Err(AccountUpdateError::AccountNotFound),
            SingleWrite::StillConflicting => {
                Err(StoreError::Unavailable(format!("setting {what} kept conflicting")).into())
            }
        }
    }
}
