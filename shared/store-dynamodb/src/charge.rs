//! [`ChargeStore`]: charges, their per-account `externalId` guards, and the charge insert
//! transaction (charge + guard + idempotency completion).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use pixgw_domain::charge::ports::{ChargeQuery, ChargeStore, InsertChargeError, Page};
use pixgw_domain::charge::record::ChargeRecord;
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::error::StoreError;
use pixgw_domain::idempotency::IdempotencyCompletion;
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};
use tracing::{debug, instrument};

use crate::DynamoStore;
use crate::errors::{self, Reason};
use crate::idempotency::{IdempotencyItem, STATE_IN_PROGRESS, completion_update};
use crate::keys::{
    ENTITY, GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK, Item, PK, SK, SK_CHARGE, SK_EXTID,
    SK_IDEM, charge_pk, charges_by_account_pk, charges_by_status_pk, created_sort_key, expiry_pk,
    expiry_sort_key, external_id_pk, fits_partition_key, idempotency_pk, s,
};
use crate::transact::{TransactFailure, put_new, transact_write};

/// Attribute of the `externalId` guard naming the charge it protects.
const GUARD_TRANSACTION_ID: &str = "transactionId";

/// Positions of the items in the insert transaction; cancellation reasons come back in the
/// same order.
const CHARGE_POS: usize = 0;
const GUARD_POS: usize = 1;
const IDEM_POS: usize = 2;

/// The charge item: the shared [`ChargeRecord`] plus table and index keys.
pub fn charge_item(charge: &Charge) -> Result<Item, StoreError> {
    let record = ChargeRecord::from(charge);
    let sort = created_sort_key(record.created_at_ms, &charge.transaction_id).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "createdAt of {} is outside the sortable range",
            charge.transaction_id
        ))
    })?;
    let mut item: Item = to_item(&record).map_err(|e| errors::corrupt("charge", &e))?;
    for (name, value) in [
        (PK, charge_pk(&charge.transaction_id)),
        (SK, SK_CHARGE.to_owned()),
        (ENTITY, SK_CHARGE.to_owned()),
        (GSI1PK, charges_by_account_pk(&charge.account_id)),
        (GSI1SK, sort.clone()),
        (
            GSI2PK,
            charges_by_status_pk(&charge.account_id, charge.status),
        ),
        (GSI2SK, sort),
    ] {
        item.insert(name.to_owned(), s(value));
    }
    // The expiry index is sparse: only a PENDING charge is in it.
    if charge.status == ChargeStatus::Pending {
        item.insert(GSI3PK.to_owned(), s(expiry_pk(&charge.transaction_id)));
        item.insert(
            GSI3SK.to_owned(),
            s(expiry_sort_key(
                record.expires_at_ms,
                &charge.transaction_id,
            )),
        );
    }
    Ok(item)
}

/// Reads a charge item back into the domain (re-validating every field).
pub fn charge_from_item(item: Item) -> Result<Charge, StoreError> {
    let record: ChargeRecord = from_item(item).map_err(|e| errors::corrupt("charge", &e))?;
    Charge::try_from(record)
}

fn guard_item(charge: &Charge, pk: String) -> Item {
    Item::from([
        (PK.to_owned(), s(pk)),
        (SK.to_owned(), s(SK_EXTID)),
        (ENTITY.to_owned(), s(SK_EXTID)),
        ("accountId".to_owned(), s(charge.account_id.to_string())),
        ("externalId".to_owned(), s(charge.external_id.clone())),
        (
            GUARD_TRANSACTION_ID.to_owned(),
            s(charge.transaction_id.to_string()),
        ),
    ])
}

/// What a cancelled insert whose conditions failed means, decided by item position:
/// ClaimLost > DuplicateExternalId > IdCollision.
fn decode_insert(reasons: &[Reason]) -> InsertChargeError {
    let at = |i: usize| reasons.get(i).copied().unwrap_or(Reason::Fine);
    if at(IDEM_POS) == Reason::ConditionFailed {
        InsertChargeError::ClaimLost
    } else if at(GUARD_POS) == Reason::ConditionFailed {
        InsertChargeError::DuplicateExternalId
    } else if at(CHARGE_POS) == Reason::ConditionFailed {
        InsertChargeError::IdCollision
    } else {
        // DynamoDB gives one reason per item, so a failed condition is always one of ours.
        InsertChargeError::Store(StoreError::Unavailable("charge insert cancelled".into()))
    }
}

impl DynamoStore {
    /// After conflicts outlasted our retries: look at what the competitors left behind.
    async fn reevaluate_insert(
        &self,
        charge: &Charge,
        guard_pk: String,
        completion: Option<&IdempotencyCompletion>,
    ) -> Result<(), InsertChargeError> {
        let guard = self.get_item(guard_pk, SK_EXTID).await?;
        let guard_owner = guard
            .as_ref()
            .and_then(|g| g.get(GUARD_TRANSACTION_ID))
            .and_then(|v| v.as_s().ok());
        if guard_owner.map(String::as_str) == Some(charge.transaction_id.as_str()) {
            debug!("an earlier attempt committed after all");
            return Ok(());
        }
        if let Some(completion) = completion {
            let claim = &completion.claim;
            let pk = idempotency_pk(&claim.account_id, &claim.key);
            let ours = match self.get_item(pk, SK_IDEM).await? {
                Some(item) => from_item::<IdempotencyItem>(item)
                    .map(|r| r.state == STATE_IN_PROGRESS && r.lock_token == claim.lock_token)
                    .map_err(|e| errors::corrupt("idempotency record", &e))?,
                None => false,
            };
            if !ours {
                return Err(InsertChargeError::ClaimLost);
            }
        }
        if guard.is_some() {
            return Err(InsertChargeError::DuplicateExternalId);
        }
        if self.get_charge(&charge.transaction_id).await?.is_some() {
            return Err(InsertChargeError::IdCollision);
        }
        Err(StoreError::Unavailable("charge insert kept conflicting".into()).into())
    }
}

#[async_trait]
impl ChargeStore for DynamoStore {
    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %charge.account_id, transaction_id = %charge.transaction_id, idempotent = completion.is_some()))]
    async fn insert_charge(
        &self,
        charge: &Charge,
        completion: Option<&IdempotencyCompletion>,
    ) -> Result<(), InsertChargeError> {
        let guard_pk = external_id_pk(&charge.account_id, &charge.external_id);
        if !fits_partition_key(&guard_pk) {
            return Err(StoreError::Unavailable("externalId too long for a key".into()).into());
        }
        let mut items = vec![
            put_new(&self.table, charge_item(charge)?)?,
            put_new(&self.table, guard_item(charge, guard_pk.clone()))?,
        ];
        if let Some(completion) = completion {
            let update = completion_update(&self.table, completion)?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        match transact_write(&self.client, items).await {
            Ok(()) => {
                debug!("charge inserted");
                Ok(())
            }
            Err(TransactFailure::Cancelled { reasons, codes }) => {
                let refused = decode_insert(&reasons);
                debug!(reasons = %codes, error = %refused, "charge insert refused");
                Err(refused)
            }
            Err(TransactFailure::Store(err)) => Err(err.into()),
            Err(TransactFailure::StillConflicting) => {
                self.reevaluate_insert(charge, guard_pk, completion).await
            }
        }
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, transaction_id = %id))]
    async fn get_charge(&self, id: &TransactionId) -> Result<Option<Charge>, StoreError> {
        self.get_item(charge_pk(id), SK_CHARGE)
            .await?
            .map(charge_from_item)
            .transpose()
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account_id))]
    async fn find_charge_by_external_id(
        &self,
        account_id: &AccountId,
        external_id: &str,
    ) -> Result<Option<Charge>, StoreError> {
        let pk = external_id_pk(account_id, external_id);
        if !fits_partition_key(&pk) {
            return Ok(None);
        }
        let Some(guard) = self.get_item(pk, SK_EXTID).await? else {
            return Ok(None);
        };
        let id = guard
            .get(GUARD_TRANSACTION_ID)
            .and_then(|v| v.as_s().ok())
            .and_then(|text| TransactionId::parse(text))
            .ok_or_else(|| StoreError::Corrupt("externalId guard without a charge id".into()))?;
        // Guard and charge are written in one transaction, and strongly consistent reads are
        // serialisable with it: a guard without its charge is damage, not a race.
        match self.get_charge(&id).await? {
            Some(charge) if &charge.account_id == account_id => Ok(Some(charge)),
            Some(_) => Err(StoreError::Corrupt(format!(
                "externalId guard of {account_id} points to another account's charge {id}"
            ))),
            None => Err(StoreError::Corrupt(format!(
                "externalId guard points to missing charge {id}"
            ))),
        }
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account_id, status = ?query.status, limit = query.limit))]
    async fn list_charges(
        &self,
        account_id: &AccountId,
        query: &ChargeQuery,
    ) -> Result<Page<Charge>, StoreError> {
        self.query_charges(account_id, query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::TTL;

    #[test]
    fn positions_decide_with_claim_lost_first() {
        use Reason::*;
        assert_eq!(
            decode_insert(&[Fine, ConditionFailed, ConditionFailed]),
            InsertChargeError::ClaimLost
        );
        assert_eq!(
            decode_insert(&[ConditionFailed, ConditionFailed, Fine]),
            InsertChargeError::DuplicateExternalId
        );
        assert_eq!(
            decode_insert(&[ConditionFailed, Fine]),
            InsertChargeError::IdCollision
        );
        assert_eq!(
            decode_insert(&[Conflict, ConditionFailed]),
            InsertChargeError::DuplicateExternalId
        );
        assert_eq!(
            decode_insert(&[Other, Fine, ConditionFailed]),
            InsertChargeError::ClaimLost
        );
        assert!(matches!(
            decode_insert(&[Fine, Fine, Fine, ConditionFailed]),
            InsertChargeError::Store(_)
        ));
    }

    #[test]
    fn record_fields_never_collide_with_key_attributes() {
        let names = [
            PK, SK, ENTITY, GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK, TTL,
        ];
        let json = serde_json::to_value(sample_record()).unwrap_or_default();
        let fields = json
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>());
        let fields = fields.unwrap_or_default();
        assert!(!fields.is_empty());
        for name in names {
            assert!(!fields.iter().any(|f| f == name), "{name} collides");
        }
    }

    fn sample_record() -> ChargeRecord {
        ChargeRecord {
            transaction_id: String::new(),
            account_id: String::new(),
            correlation_id: String::new(),
            external_id: String::new(),
            status: String::new(),
            amount_cents: 0,
            description: String::new(),
            payer_name: String::new(),
            payer_document: String::new(),
            additional_info: Default::default(),
            splits: vec![],
            remainder_cents: 0,
            pix_code: String::new(),
            generate_qr_code: false,
            provider: String::new(),
            provider_charge_id: String::new(),
            expiration_seconds: 0,
            created_at_ms: 0,
            expires_at_ms: 0,
            payment: None,
            refund: None,
        }
    }
}
