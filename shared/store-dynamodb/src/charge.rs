//! [`ChargeStore`] and [`ChargeTransitions`]: charges, their per-account `externalId` guards
//! and end-to-end id guards, and every write that changes a charge.
//!
//! - Inserting a charge is ONE transaction: the charge, its `externalId` guard and the
//!   idempotency completion; cancellation reasons are decoded by position.
//! - A confirmation and a transition (expiry, a refund's settlement) are ONE transaction each:
//!   the charge's conditional update plus the ledger half of [`crate::ledger_write`] (movement,
//!   balance shard, events, outbox). Every status change rewrites the status index key
//!   (`gsi2pk`) in the same write, and every write of a charge gives it the `gsi3` keys of
//!   what it is: the expiry index's while PENDING, the hold index's while its cautelar hold is
//!   HELD, none otherwise.
//! - Listing is a newest-first read of `gsi1` (all) or `gsi2` (one status), see
//!   [`crate::listing`]; the PENDING charges due to expire and the holds due to be released
//!   are the `due` submodule.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use pixgw_domain::charge::ports::{
    ChargeCursor, ChargeQuery, ChargeStore, ChargeTransition, ChargeTransitions, ConfirmCharge,
    InsertChargeError, Page,
};
use pixgw_domain::charge::record::{ChargeRecord, HoldRecord, PaymentRecord};
use pixgw_domain::charge::{Charge, ChargeHold, ChargeStatus, HoldState};
use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::idempotency::IdempotencyCompletion;
use pixgw_domain::ledger::AvailableDraw;
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::pix::payment::EndToEndId;
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_attribute_value, to_item};
use tracing::{debug, instrument};

use crate::DynamoStore;
use crate::errors::{self, Reason};
use crate::idempotency::completion_update;
use crate::items::{ACCOUNT_ID, STATUS};
use crate::keys::{
    ENTITY, GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK, Item, PK, SK, SK_CHARGE, SK_E2E,
    SK_EXTID, SortRange, charge_pk, charges_by_account_pk, charges_by_status_pk, created_sort_key,
    end_to_end_pk, expiry_pk, expiry_sort_key, external_id_pk, fits_partition_key, hold_pk,
    hold_sort_key, n, primary_key, s, sort_range,
};
use crate::ledger_write::{distinct_events, ledger_events_outbox, ledger_half, witnesses};
use crate::listing::{MAX_LIMIT, NewestFirst};
use crate::table::{GSI1, GSI2};
use crate::transact::{TransactFailure, put_new, transact_write};

mod due;

/// Attribute of the `externalId` guard and of the end-to-end id guard naming the charge it
/// protects.
const GUARD_TRANSACTION_ID: &str = "transactionId";
/// Attribute of the end-to-end id guard naming the charge's account.
const GUARD_ACCOUNT_ID: &str = "accountId";

/// The charge's payment (a map: `PaymentRecord`), present once confirmed.
const PAYMENT: &str = "payment";
/// The charge's cautelar hold (a map: `HoldRecord`), present when its payment was held.
pub(crate) const HOLD: &str = "hold";
/// When the gateway recorded the confirmation (the payment's own `paidAtMs` is the
/// provider's clock). Kept for audits; `ChargeRecord` does not read it back.
const CONFIRMED_AT: &str = "confirmedAtMs";

/// The charge's refunds (a list of `RefundRecord`), absent while it has none.
const REFUNDS: &str = "refunds";
/// How many refund writes the charge has seen (N), absent while 0: every refund write and
/// every transition conditions on the revision it read.
const REFUND_REVISION: &str = "refundRevision";
/// The one refund a charge could have before partial refunds: read (it becomes the first of
/// `refunds`), never written, so the first rewrite of such a charge REMOVEs it.
const LEGACY_REFUND: &str = "refund";

/// `ChargeRecord` attributes that may be absent (`skip_serializing_if`), plus the `gsi3` keys
/// (expiry or hold index): a replacement REMOVEs those the new charge does not have (a unit
/// test below checks the list covers every optional field of the record).
const CHARGE_OPTIONAL: [&str; 9] = [
    PAYMENT,
    HOLD,
    LEGACY_REFUND,
    REFUNDS,
    "disputes",
    REFUND_REVISION,
    "additionalInfo",
    GSI3PK,
    GSI3SK,
];

const UPDATE: &str = "UpdateItem";

/// Positions of the items in the insert transaction; cancellation reasons come back in the
/// same order.
const CHARGE_POS: usize = 0;
const GUARD_POS: usize = 1;
const IDEM_POS: usize = 2;

/// The charge item: the shared [`ChargeRecord`] plus table and index keys.
fn charge_item(charge: &Charge) -> Result<Item, StoreError> {
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
    if let Some((pk, sk)) = due_index_keys(charge) {
        item.insert(GSI3PK.to_owned(), s(pk));
        item.insert(GSI3SK.to_owned(), s(sk));
    }
    Ok(item)
}

/// The charge's `gsi3` keys (both indexes are sparse): the expiry index's while PENDING, the
/// hold index's while its cautelar hold is HELD, none otherwise.
fn due_index_keys(charge: &Charge) -> Option<(String, String)> {
    let id = &charge.transaction_id;
    if charge.status == ChargeStatus::Pending {
        return Some((
            expiry_pk(id),
            expiry_sort_key(charge.expires_at.timestamp_millis(), id),
        ));
    }
    charge
        .hold
        .as_ref()
        .and_then(|hold| hold_index_keys(id, hold))
}

/// The hold index keys of a charge with `hold`, if it is HELD.
fn hold_index_keys(id: &TransactionId, hold: &ChargeHold) -> Option<(String, String)> {
    (hold.state == HoldState::Held).then(|| {
        (
            hold_pk(id),
            hold_sort_key(hold.until.timestamp_millis(), id),
        )
    })
}

/// Reads a charge item back into the domain (re-validating every field).
fn charge_from_item(item: Item) -> Result<Charge, StoreError> {
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

/// PENDING (or EXPIRED) → CONFIRMED of the charge, with the status index key, the payment and
/// (a held payment) the hold; the charge leaves the expiry index, and enters the hold index
/// when its hold is HELD (its `gsi3` keys are replaced by the hold's).
fn confirm_charge_update(
    table: &str,
    write: &ConfirmCharge,
) -> Result<TransactWriteItem, StoreError> {
    let payment = to_attribute_value(PaymentRecord::from(&write.payment))
        .map_err(|e| errors::corrupt("payment", &e))?;
    let mut sets = "SET #status = :confirmed, #gsi2pk = :gsi2pk, #payment = :payment, \
                    #confirmedAt = :at"
        .to_owned();
    let mut builder = Update::builder();
    if let Some(hold) = &write.hold {
        let record =
            to_attribute_value(HoldRecord::from(hold)).map_err(|e| errors::corrupt("hold", &e))?;
        sets.push_str(", #hold = :hold");
        builder = builder
            .expression_attribute_names("#hold", HOLD)
            .expression_attribute_values(":hold", record);
    }
    let index_keys = write
        .hold
        .as_ref()
        .and_then(|hold| hold_index_keys(&write.transaction_id, hold));
    let expression = match index_keys {
        Some((pk, sk)) => {
            builder = builder
                .expression_attribute_values(":gsi3pk", s(pk))
                .expression_attribute_values(":gsi3sk", s(sk));
            format!("{sets}, #gsi3pk = :gsi3pk, #gsi3sk = :gsi3sk")
        }
        None => format!("{sets} REMOVE #gsi3pk, #gsi3sk"),
    };
    let update = builder
        .table_name(table)
        .set_key(Some(primary_key(
            charge_pk(&write.transaction_id),
            SK_CHARGE,
        )))
        .update_expression(expression)
        // The account check keeps a command naming the wrong account from moving the charge
        // into another account's status index. An EXPIRED charge is accepted too: the PIX
        // network settled it after the sweeper ran, and the money is ours to account for.
        // Leaving PENDING leaves the expiry index (`gsi3`, sparse); a HELD hold's keys replace
        // the expiry keys instead of removing them.
        .condition_expression(
            "attribute_exists(#pk) AND (#status = :pending OR #status = :expired) AND #acc = :acc",
        )
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#gsi3pk", GSI3PK)
        .expression_attribute_names("#gsi3sk", GSI3SK)
        .expression_attribute_values(":expired", s(ChargeStatus::Expired.as_str()))
        .expression_attribute_names("#status", STATUS)
        .expression_attribute_names("#gsi2pk", GSI2PK)
        .expression_attribute_names("#payment", PAYMENT)
        .expression_attribute_names("#confirmedAt", CONFIRMED_AT)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_values(":confirmed", s(ChargeStatus::Confirmed.as_str()))
        .expression_attribute_values(":pending", s(ChargeStatus::Pending.as_str()))
        .expression_attribute_values(
            ":gsi2pk",
            s(charges_by_status_pk(
                &write.account_id,
                ChargeStatus::Confirmed,
            )),
        )
        .expression_attribute_values(":payment", payment)
        .expression_attribute_values(":at", n(write.confirmed_at.timestamp_millis()))
        .expression_attribute_values(":acc", s(write.account_id.to_string()))
        .build()
        .map_err(|e| errors::build_failed(UPDATE, &e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// The end-to-end id guard of a confirmation.
fn end_to_end_guard_item(write: &ConfirmCharge) -> Item {
    Item::from([
        (
            PK.to_owned(),
            s(end_to_end_pk(&write.payment.end_to_end_id)),
        ),
        (SK.to_owned(), s(SK_E2E)),
        (ENTITY.to_owned(), s(SK_E2E)),
        (
            GUARD_TRANSACTION_ID.to_owned(),
            s(write.transaction_id.to_string()),
        ),
        (GUARD_ACCOUNT_ID.to_owned(), s(write.account_id.to_string())),
    ])
}

/// Replaces the charge stored with status `from`, refund revision `from_revision` (and of the
/// same account) by `charge`: every attribute of its item is SET (status and both index keys
/// follow the new status; the `gsi3` keys are the expiry index's only while PENDING, the hold
/// index's only while its hold is HELD), the optional ones it lacks are REMOVEd (the legacy
/// `refund` always, the `gsi3` keys when it is in neither index: a released or returned hold
/// leaves the hold index), and attributes outside the record (`confirmedAtMs`) are kept.
///
/// The revision is what serialises writes of a charge's refunds: two refunds planned from the
/// same read both require it, and only the first finds it (the second plans again).
pub(crate) fn charge_replace_update(
    table: &str,
    charge: &Charge,
    from: ChargeStatus,
    from_revision: u32,
) -> Result<TransactWriteItem, StoreError> {
    let item = charge_item(charge)?;
    let (revision_condition, revision_value) = revision_condition(from_revision);
    let mut builder = Update::builder()
        .table_name(table)
        .set_key(Some(primary_key(
            charge_pk(&charge.transaction_id),
            SK_CHARGE,
        )))
        .condition_expression(format!(
            "attribute_exists(#pk) AND #status = :from AND #acc = :acc AND {revision_condition}"
        ))
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#status", STATUS)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_names("#rev", REFUND_REVISION)
        .expression_attribute_values(":from", s(from.as_str()))
        .expression_attribute_values(":acc", s(charge.account_id.to_string()))
        .expression_attribute_values(":rev", revision_value);
    let mut names: Vec<&String> = item.keys().filter(|k| *k != PK && *k != SK).collect();
    names.sort();
    let mut sets = Vec::with_capacity(names.len());
    for (i, name) in names.into_iter().enumerate() {
        sets.push(format!("#a{i} = :v{i}"));
        builder = builder
            .expression_attribute_names(format!("#a{i}"), name.as_str())
            .expression_attribute_values(format!(":v{i}"), item[name].clone());
    }
    let mut removes = Vec::new();
    for (i, name) in CHARGE_OPTIONAL.iter().enumerate() {
        if !item.contains_key(*name) {
            removes.push(format!("#r{i}"));
            builder = builder.expression_attribute_names(format!("#r{i}"), *name);
        }
    }
    let mut expression = format!("SET {}", sets.join(", "));
    if !removes.is_empty() {
        expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    let update = builder
        .update_expression(expression)
        .build()
        .map_err(|e| errors::build_failed(UPDATE, &e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// The condition (on `#rev`, with `:rev`) that the stored refund revision is `revision`. The
/// record leaves a revision of 0 out, so 0 is an absent attribute (or, written by hand, a 0).
fn revision_condition(revision: u32) -> (&'static str, AttributeValue) {
    if revision == 0 {
        ("(attribute_not_exists(#rev) OR #rev = :rev)", n(0))
    } else {
        ("#rev = :rev", n(i64::from(revision)))
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
        if let Some(completion) = completion
            && !self.claim_still_held(&completion.claim).await?
        {
            return Err(InsertChargeError::ClaimLost);
        }
        if guard.is_some() {
            return Err(InsertChargeError::DuplicateExternalId);
        }
        if self.get_charge(&charge.transaction_id).await?.is_some() {
            return Err(InsertChargeError::IdCollision);
        }
        Err(StoreError::Unavailable("charge insert kept conflicting".into()).into())
    }

    async fn query_charges(
        &self,
        account_id: &AccountId,
        query: &ChargeQuery,
    ) -> Result<Page<Charge>, StoreError> {
        let (index, pk_attr, sk_attr, pk) = match query.status {
            None => (GSI1, GSI1PK, GSI1SK, charges_by_account_pk(account_id)),
            Some(status) => (
                GSI2,
                GSI2PK,
                GSI2SK,
                charges_by_status_pk(account_id, status),
            ),
        };
        let (lower, upper) = match sort_range(query.from, query.to, query.after.as_ref()) {
            SortRange::Empty => {
                debug!("empty range, no query");
                return Ok(Page {
                    items: vec![],
                    next: None,
                });
            }
            SortRange::Bounds { lower, upper } => (lower, upper),
        };
        let q = NewestFirst {
            index,
            pk_attr,
            sk_attr,
            pk,
            lower,
            upper,
            limit: query.limit.clamp(1, MAX_LIMIT) as usize,
        };
        let (charges, more) = self
            .query_newest_first(q, |item| {
                let charge = charge_from_item(item)?;
                if &charge.account_id != account_id {
                    return Err(StoreError::Corrupt(format!(
                        "charge {} listed under the wrong account",
                        charge.transaction_id
                    )));
                }
                Ok(Some(charge))
            })
            .await?;
        let next = if more {
            charges.last().map(ChargeCursor::of)
        } else {
            None
        };
        debug!(count = charges.len(), more, "listed charges");
        Ok(Page {
            items: charges,
            next,
        })
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

#[async_trait]
impl ChargeTransitions for DynamoStore {
    #[instrument(level = "debug", skip_all, fields(table = %self.table, transaction_id = %write.charge.transaction_id, from = write.from.as_str(), to = write.charge.status.as_str()))]
    async fn transition_charge(
        &self,
        write: &ChargeTransition,
    ) -> Result<WriteOutcome, StoreError> {
        if !distinct_events(&write.events) {
            return Ok(WriteOutcome::Conflict);
        }
        let no_draw = AvailableDraw::default();
        let mut items = vec![charge_replace_update(
            &self.table,
            &write.charge,
            write.from,
            write.from_revision,
        )?];
        items.extend(
            ledger_half(
                &self.table,
                write.movement.as_ref().map(|m| (m, &no_draw)),
                &write.events,
                &write.outbox,
            )?
            .into_iter()
            .map(|(item, _)| item),
        );
        let witnesses = witnesses(write.movement.as_ref(), &write.events);
        self.settlement_write("transition_charge", items, witnesses)
            .await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, limit))]
    async fn expired_pending_charges(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Charge>, StoreError> {
        self.read_due(due::EXPIRY, now, limit).await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, limit))]
    async fn held_charges_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Charge>, StoreError> {
        self.read_due(due::HOLD, now, limit).await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %write.account_id, transaction_id = %write.transaction_id))]
    async fn confirm_charge(&self, write: &ConfirmCharge) -> Result<WriteOutcome, StoreError> {
        if !distinct_events(&write.events) {
            return Ok(WriteOutcome::Conflict);
        }
        let mut items = vec![
            confirm_charge_update(&self.table, write)?,
            put_new(&self.table, end_to_end_guard_item(write))?,
        ];
        // The CASHIN_CONFIRMED event exactly like a payout settlement's events: created only
        // if absent, in this transaction, so it exists if and only if the charge confirmed
        // (its insert is also what takes it to the merchant's webhook, see `outbox`).
        items.extend(ledger_events_outbox(
            &self.table,
            Some(&write.movement),
            &write.events,
            &write.outbox,
        )?);
        let witnesses = witnesses(Some(&write.movement), &write.events);
        self.settlement_write("confirm_charge", items, witnesses)
            .await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table))]
    async fn find_charge_by_end_to_end_id(
        &self,
        id: &EndToEndId,
    ) -> Result<Option<TransactionId>, StoreError> {
        let Some(guard) = self.get_item(end_to_end_pk(id), SK_E2E).await? else {
            return Ok(None);
        };
        guard
            .get(GUARD_TRANSACTION_ID)
            .and_then(|v| v.as_s().ok())
            .and_then(|text| TransactionId::parse(text))
            .map(Some)
            .ok_or_else(|| {
                StoreError::Corrupt(format!("end-to-end guard {id} without a charge id"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::TTL;
    use chrono::TimeZone;
    use pixgw_domain::charge::Payer;
    use pixgw_domain::charge::record::DisputeClaimRecord;
    use pixgw_domain::pix::document::TaxDocument;
    use pixgw_domain::pix::money::Money;
    use pixgw_domain::refund::record::{RefundRecord, SplitPartRecord};

    const T0_MS: i64 = 1_705_314_600_000;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
    }

    fn pending_charge() -> Charge {
        Charge {
            transaction_id: TransactionId::generate(),
            account_id: AccountId::generate(),
            correlation_id: uuid::Uuid::nil(),
            external_id: "ext".to_owned(),
            status: ChargeStatus::Pending,
            amount: Money::from_cents(10_000),
            description: String::new(),
            payer: Payer {
                full_name: "Maria da Silva".into(),
                document: TaxDocument::parse("12345678909").expect("test fixture"),
            },
            additional_info: Default::default(),
            splits: Vec::new(),
            remainder: Money::from_cents(10_000),
            pix_code: String::new(),
            generate_qr_code: false,
            provider: "sandbox".to_owned(),
            provider_charge_id: "p".to_owned(),
            expiration_seconds: 3_600,
            created_at: at(T0_MS),
            expires_at: at(T0_MS + 3_600_000),
            payment: None,
            refunds: Vec::new(),
            hold: None,
            disputes: Vec::new(),
            refund_revision: 0,
        }
    }

    fn hold(state: HoldState) -> ChargeHold {
        ChargeHold {
            until: at(T0_MS + 7_200_000),
            state,
            settled_at: None,
            return_nature: None,
            return_end_to_end_id: None,
        }
    }

    fn gsi3(item: &Item) -> (Option<String>, Option<String>) {
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        (text(GSI3PK), text(GSI3SK))
    }

    /// `gsi3` is the expiry index while PENDING, the hold index while HELD, nothing otherwise.
    #[test]
    fn a_charge_item_carries_the_gsi3_keys_of_what_it_is() {
        let pending = pending_charge();
        let id = pending.transaction_id.clone();
        let item = charge_item(&pending).unwrap_or_default();
        assert_eq!(
            gsi3(&item),
            (
                Some(expiry_pk(&id)),
                Some(expiry_sort_key(T0_MS + 3_600_000, &id))
            )
        );

        let confirmed = Charge {
            status: ChargeStatus::Confirmed,
            ..pending.clone()
        };
        assert_eq!(
            gsi3(&charge_item(&confirmed).unwrap_or_default()),
            (None, None)
        );

        let held = Charge {
            hold: Some(hold(HoldState::Held)),
            ..confirmed.clone()
        };
        let item = charge_item(&held).unwrap_or_default();
        assert_eq!(
            gsi3(&item),
            (
                Some(hold_pk(&id)),
                Some(hold_sort_key(T0_MS + 7_200_000, &id))
            )
        );
        assert!(item.contains_key(HOLD));

        for (state, status) in [
            (HoldState::Released, ChargeStatus::Confirmed),
            (HoldState::Returned, ChargeStatus::Refunded),
        ] {
            let ended = Charge {
                status,
                hold: Some(hold(state)),
                ..confirmed.clone()
            };
            let item = charge_item(&ended).unwrap_or_default();
            assert_eq!(gsi3(&item), (None, None), "{state:?}");
            assert!(item.contains_key(HOLD));
        }
    }

    fn confirm(charge: &Charge, hold: Option<ChargeHold>) -> ConfirmCharge {
        use pixgw_domain::ledger::{Bucket, LedgerAccount, Movement, MovementKind};
        use pixgw_domain::pix::payment::{EndToEndKind, Ispb, PaidBy, PayerBankData, Payment};
        let ispb = Ispb::parse("00416968").expect("test fixture");
        let now = at(T0_MS + 1_000);
        ConfirmCharge {
            transaction_id: charge.transaction_id.clone(),
            account_id: charge.account_id.clone(),
            payment: Payment {
                end_to_end_id: EndToEndId::generate(EndToEndKind::Payment, &ispb, now),
                paid_at: now,
                paid_by: PaidBy {
                    name: "Maria da Silva".into(),
                    document: "12345678909".into(),
                    bank: PayerBankData::new(ispb, "0001", "123456").expect("test fixture"),
                },
                provider: "sandbox".to_owned(),
                provider_event_id: "evt".to_owned(),
            },
            confirmed_at: now,
            hold,
            movement: Movement::transfer(
                MovementKind::ChargeConfirmed,
                &charge.account_id,
                charge.transaction_id.as_str(),
                LedgerAccount::PixNetwork,
                LedgerAccount::Merchant(charge.account_id.clone(), Bucket::Held),
                charge.amount,
                now,
            )
            .expect("test fixture"),
            events: Vec::new(),
            outbox: Vec::new(),
        }
    }

    /// A held confirmation SETs the hold and the hold index keys (replacing the expiry ones);
    /// any other REMOVEs the `gsi3` keys and leaves `hold` alone.
    #[test]
    fn a_held_confirmation_enters_the_hold_index() {
        let charge = pending_charge();
        let id = &charge.transaction_id;
        let write = confirm_charge_update("t", &confirm(&charge, Some(hold(HoldState::Held))))
            .expect("test fixture");
        let update = write.update().expect("test fixture");
        let expression = update.update_expression();
        assert!(!expression.contains("REMOVE"), "{expression}");
        assert!(expression.contains("#hold = :hold"), "{expression}");
        assert!(expression.contains("#gsi3pk = :gsi3pk, #gsi3sk = :gsi3sk"));
        let values = update
            .expression_attribute_values()
            .cloned()
            .unwrap_or_default();
        assert_eq!(values.get(":gsi3pk"), Some(&s(hold_pk(id))));
        assert_eq!(
            values.get(":gsi3sk"),
            Some(&s(hold_sort_key(T0_MS + 7_200_000, id)))
        );
        let stored = values
            .get(":hold")
            .and_then(|v| v.as_m().ok())
            .and_then(|m| m.get("state"))
            .and_then(|v| v.as_s().ok());
        assert_eq!(stored.map(String::as_str), Some("HELD"));

        let write = confirm_charge_update("t", &confirm(&charge, None)).expect("test fixture");
        let update = write.update().expect("test fixture");
        assert!(
            update
                .update_expression()
                .ends_with("REMOVE #gsi3pk, #gsi3sk")
        );
        assert!(!update.update_expression().contains("#hold"));
        let names = update
            .expression_attribute_names()
            .cloned()
            .unwrap_or_default();
        assert!(!names.contains_key("#hold"));
    }

    /// A replacement of a charge whose hold ended REMOVEs the hold index keys.
    #[test]
    fn a_replacement_after_the_hold_removes_the_hold_keys() {
        let released = Charge {
            status: ChargeStatus::Confirmed,
            hold: Some(hold(HoldState::Released)),
            ..pending_charge()
        };
        let write = charge_replace_update("t", &released, ChargeStatus::Confirmed, 0)
            .expect("test fixture");
        let update = write.update().expect("test fixture");
        let names = update
            .expression_attribute_names()
            .cloned()
            .unwrap_or_default();
        let (_, removes) = update
            .update_expression()
            .split_once(" REMOVE ")
            .unwrap_or_default();
        let removed: Vec<&str> = removes
            .split(", ")
            .filter_map(|p| names.get(p).map(String::as_str))
            .collect();
        assert!(
            removed.contains(&GSI3PK) && removed.contains(&GSI3SK),
            "{removed:?}"
        );
        assert!(!removed.contains(&HOLD));
    }

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
            payer_name: Default::default(),
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
            refunds: vec![],
            hold: None,
            disputes: Vec::new(),
            refund_revision: 0,
        }
    }

    fn field_names(record: &ChargeRecord) -> Vec<String> {
        serde_json::to_value(record)
            .ok()
            .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
            .unwrap_or_default()
    }

    /// A replacement SETs what the new charge has and REMOVEs only the names in
    /// `CHARGE_OPTIONAL`: an optional field missing there would survive a rewrite that
    /// dropped it (e.g. the legacy `refund` next to the `refunds` it became).
    #[test]
    fn every_optional_record_field_is_removed_when_absent() {
        let refund = RefundRecord {
            refund_id: Some(String::new()),
            amount_cents: Some(1),
            liability: Some(String::new()),
            split_parts: vec![SplitPartRecord {
                index: 0,
                amount_cents: 1,
                kind: String::new(),
            }],
            attempt: Some(1),
            state: String::new(),
            reason: String::new(),
            description: String::new(),
            end_to_end_id: None,
            provider_refund_id: None,
            failure_reason: None,
            requested_at_ms: 0,
            settled_at_ms: None,
            idempotency_key: None,
        };
        let full = ChargeRecord {
            additional_info: [("k".to_owned(), "v".to_owned())].into(),
            payment: Some(PaymentRecord {
                end_to_end_id: String::new(),
                paid_at_ms: 0,
                payer_name: Default::default(),
                payer_document: Default::default(),
                payer_ispb: String::new(),
                payer_branch: Default::default(),
                payer_account: Default::default(),
                provider: String::new(),
                provider_event_id: String::new(),
            }),
            refund: Some(refund.clone()),
            refunds: vec![refund],
            hold: Some(HoldRecord {
                until_ms: 0,
                state: String::new(),
                settled_at_ms: None,
                return_nature: None,
                return_end_to_end_id: None,
            }),
            disputes: vec![DisputeClaimRecord {
                dispute_id: String::new(),
                amount_cents: 1,
                state: String::new(),
                split_parts: Vec::new(),
            }],
            refund_revision: 2,
            ..sample_record()
        };
        let bare = field_names(&sample_record());
        let optional: Vec<String> = field_names(&full)
            .into_iter()
            .filter(|f| !bare.contains(f))
            .collect();
        assert!(optional.len() >= 7, "{optional:?}");
        for field in optional {
            assert!(
                CHARGE_OPTIONAL.contains(&field.as_str()),
                "{field} is optional but never removed"
            );
        }
        assert!(CHARGE_OPTIONAL.contains(&GSI3PK) && CHARGE_OPTIONAL.contains(&GSI3SK));
    }
}
