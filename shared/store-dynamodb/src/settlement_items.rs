//! Items and transaction parts of the settlement pipeline (see the crate docs for the
//! layout): the stored forms of the domain's `record` modules plus table and index keys,
//! and the conditional writes the settlement transactions are made of. Pure: nothing here
//! talks to DynamoDB, so every layout rule is unit-tested.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
use pixgw_domain::charge::ChargeStatus;
use pixgw_domain::charge::ports::ConfirmCharge;
use pixgw_domain::charge::record::PaymentRecord;
use pixgw_domain::error::StoreError;
use pixgw_domain::ledger::Movement;
use pixgw_domain::ledger::record::MovementRecord;
use pixgw_domain::messaging::events::{AccountEvent, AccountEventRecord};
use pixgw_domain::messaging::outbox::OutboxMessage;
use pixgw_domain::messaging::outbox::OutboxRecord;
use pixgw_domain::payout::record::PayoutRecord;
use pixgw_domain::payout::{Payout, PayoutId, PayoutState, PayoutTrigger};
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use pixgw_domain::split::ports::BookSplits;
use pixgw_domain::split::record::SplitEntryRecord;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_attribute_value, to_item};

use crate::errors;
use crate::keys::{
    ENTITY, ENTITY_SPLIT, GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK, Item, OUTBOX_TTL_SECONDS,
    PK, SK, SK_CHARGE, SK_E2E, SK_EVENT, SK_MOVEMENT, SK_OUTBOX, SK_PAYOUT, TTL, charge_pk,
    charges_by_status_pk, created_id_sort_key, end_to_end_pk, event_pk, events_pk, ledger_pk,
    movement_pk, n, outbox_pk, payout_manifest_pk, payout_manifest_sort_key, payout_pk,
    payouts_by_account_pk, payouts_by_state_pk, primary_key, s, scheduled_split_sort_key,
    scheduled_splits_pk, split_sk,
};

/// Attributes of the end-to-end id guard.
pub const GUARD_TRANSACTION_ID: &str = "transactionId";
pub const GUARD_ACCOUNT_ID: &str = "accountId";

/// Attributes of a balance shard: running totals in integer centavos (`N`), so `ADD` is exact.
pub const BALANCE_INCOMING: &str = "incomingCents";
pub const BALANCE_AVAILABLE: &str = "availableCents";
pub const BALANCE_RESERVED: &str = "reservedForSplitsCents";
pub const BALANCE_ACCOUNT_ID: &str = "accountId";

/// Record attributes the conditions below look at (names as `serde` writes them).
pub(crate) const STATUS: &str = "status";
pub(crate) const STATE: &str = "state";
pub(crate) const ACCOUNT_ID: &str = "accountId";
pub(crate) const PAYOUT_ID: &str = "payoutId";
/// The payout's count of splits still to settle (see `Payout::unsettled_splits`).
pub const UNSETTLED_SPLITS: &str = "unsettledSplits";
pub(crate) const PAYMENT: &str = "payment";
/// When the gateway recorded the confirmation (the payment's own `paidAtMs` is the
/// provider's clock). Kept for audits; `ChargeRecord` does not read it back.
const CONFIRMED_AT: &str = "confirmedAtMs";

const UPDATE: &str = "UpdateItem";
const PUT: &str = "PutItem";
const CONDITION_CHECK: &str = "ConditionCheck";

/// A record as attributes, plus the table keys (`extra`). Record fields never share a name
/// with a key attribute (unit-tested below), so nothing is overwritten.
pub(crate) fn record_item<T: Serialize>(
    what: &str,
    record: &T,
    extra: impl IntoIterator<Item = (&'static str, AttributeValue)>,
) -> Result<Item, StoreError> {
    let mut item: Item = to_item(record).map_err(|e| errors::corrupt(what, &e))?;
    item.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
    Ok(item)
}

pub(crate) fn decode<T: DeserializeOwned>(what: &str, item: Item) -> Result<T, StoreError> {
    from_item(item).map_err(|e| errors::corrupt(what, &e))
}

fn out_of_range(what: &str, id: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "createdAt of {what} {id} is outside the sortable range"
    ))
}

/// PENDING (or EXPIRED) → CONFIRMED of the charge, with the status index key and the payment;
/// the charge leaves the expiry index.
pub fn confirm_charge_update(
    table: &str,
    write: &ConfirmCharge,
) -> Result<TransactWriteItem, StoreError> {
    let payment = to_attribute_value(PaymentRecord::from(&write.payment))
        .map_err(|e| errors::corrupt("payment", &e))?;
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(primary_key(
            charge_pk(&write.transaction_id),
            SK_CHARGE,
        )))
        .update_expression(
            "SET #status = :confirmed, #gsi2pk = :gsi2pk, #payment = :payment, #confirmedAt = :at \
             REMOVE #gsi3pk, #gsi3sk",
        )
        // The account check keeps a command naming the wrong account from moving the charge
        // into another account's status index. An EXPIRED charge is accepted too: the PIX
        // network settled it after the sweeper ran, and the money is ours to account for.
        // Leaving PENDING leaves the expiry index (`gsi3`, sparse).
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
pub fn end_to_end_guard_item(write: &ConfirmCharge) -> Item {
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

/// Booking splits requires the charge to be CONFIRMED (and the command's account to own it).
pub fn charge_confirmed_check(
    table: &str,
    write: &BookSplits,
) -> Result<TransactWriteItem, StoreError> {
    let check = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(primary_key(
            charge_pk(&write.transaction_id),
            SK_CHARGE,
        )))
        .condition_expression("#status = :confirmed AND #acc = :acc")
        .expression_attribute_names("#status", STATUS)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_values(":confirmed", s(ChargeStatus::Confirmed.as_str()))
        .expression_attribute_values(":acc", s(write.account_id.to_string()))
        .build()
        .map_err(|e| errors::build_failed(CONDITION_CHECK, &e))?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}

/// A movement, indexed in its account's ledger shard (the shard its balance delta goes to).
pub fn movement_item(movement: &Movement) -> Result<Item, StoreError> {
    let record = MovementRecord::from(movement);
    let sort = created_id_sort_key(record.created_at_ms, &movement.id)
        .ok_or_else(|| out_of_range("movement", &movement.id))?;
    record_item(
        "movement",
        &record,
        [
            (PK, s(movement_pk(&movement.id))),
            (SK, s(SK_MOVEMENT)),
            (ENTITY, s(SK_MOVEMENT)),
            (
                GSI1PK,
                s(ledger_pk(&movement.account_id, movement.balance_shard())),
            ),
            (GSI1SK, s(sort)),
        ],
    )
}

pub fn movement_from_item(item: Item) -> Result<Movement, StoreError> {
    Movement::try_from(decode::<MovementRecord>("movement", item)?)
}

/// Adds a movement's balance delta to its balance shard. Only ever sent in the same
/// transaction as the movement's `attribute_not_exists` Put, which is what makes it count once.
pub fn balance_update(table: &str, movement: &Movement) -> Result<TransactWriteItem, StoreError> {
    crate::lifecycle_items::shard_update(
        table,
        &movement.account_id,
        &pixgw_domain::ledger::ShardUpdate {
            shard: movement.balance_shard(),
            delta: movement.balance_delta(),
            requires_available: None,
        },
    )
}

/// A split entry. Only a SCHEDULED entry carries `gsi2pk`/`gsi2sk` (the payout scheduler's
/// sparse index); because every state change rewrites the whole item, leaving SCHEDULED
/// removes it from the index.
pub fn split_item(entry: &SplitEntry) -> Result<Item, StoreError> {
    split_item_in(entry, None)
}

/// [`split_item`] of a split that belongs to a scheduled payout's manifest (`gsi1`, see
/// [`crate::payout_runs`]): a whole-item rewrite of such a split (settling it) must keep the
/// manifest keys, or the payout's manifest would lose the splits it already paid.
pub fn split_item_in(entry: &SplitEntry, manifest: Option<&PayoutId>) -> Result<Item, StoreError> {
    let record = SplitEntryRecord::from(entry);
    let mut keys = vec![
        (PK, s(charge_pk(&entry.transaction_id))),
        (SK, s(split_sk(entry.index))),
        (ENTITY, s(ENTITY_SPLIT)),
    ];
    if let Some(payout) = manifest {
        keys.push((GSI1PK, s(payout_manifest_pk(payout))));
        keys.push((
            GSI1SK,
            s(payout_manifest_sort_key(&entry.transaction_id, entry.index)),
        ));
    }
    if entry.state == SplitState::Scheduled {
        let sort =
            scheduled_split_sort_key(record.created_at_ms, &entry.transaction_id, entry.index)
                .ok_or_else(|| out_of_range("split of", entry.transaction_id.as_str()))?;
        keys.push((
            GSI2PK,
            s(scheduled_splits_pk(
                &entry.account_id,
                &entry.transaction_id,
            )),
        ));
        keys.push((GSI2SK, s(sort)));
    }
    record_item("split entry", &record, keys)
}

pub fn split_from_item(item: Item) -> Result<SplitEntry, StoreError> {
    SplitEntry::try_from(decode::<SplitEntryRecord>("split entry", item)?)
}

/// A payout. Every state but ASSEMBLING is listable: `gsi1` (all of the account's payouts)
/// and `gsi2` (the account's payouts in this state), both sorted by `{createdAtMs:015}#{id}`.
/// An ASSEMBLING payout is only ever written by the scheduler's attach (with its window's
/// `gsi2` keys instead); should one come through here, it gets no index keys.
pub fn payout_item(payout: &Payout) -> Result<Item, StoreError> {
    let record = PayoutRecord::from(payout);
    let mut keys = vec![
        (PK, s(payout_pk(&payout.id))),
        (SK, s(SK_PAYOUT)),
        (ENTITY, s(SK_PAYOUT)),
    ];
    if payout.state != PayoutState::Assembling {
        let sort = created_id_sort_key(record.created_at_ms, payout.id.as_str())
            .ok_or_else(|| out_of_range("payout", payout.id.as_str()))?;
        keys.push((GSI1PK, s(payouts_by_account_pk(&payout.account_id))));
        keys.push((GSI1SK, s(sort.clone())));
        keys.push((
            GSI2PK,
            s(payouts_by_state_pk(&payout.account_id, payout.state)),
        ));
        keys.push((GSI2SK, s(sort)));
    }
    record_item("payout", &record, keys)
}

pub fn payout_from_item(item: Item) -> Result<Payout, StoreError> {
    Payout::try_from(decode::<PayoutRecord>("payout", item)?)
}

/// An outbox message. Its TTL only cleans up after the relay (the stream keeps an insert for
/// 24 h; the item lives 7 days).
pub fn outbox_item(message: &OutboxMessage) -> Result<Item, StoreError> {
    record_item(
        "outbox message",
        &OutboxRecord::from(message),
        [
            (PK, s(outbox_pk(&message.id))),
            (SK, s(SK_OUTBOX)),
            (ENTITY, s(SK_OUTBOX)),
            (TTL, n(message.created_at.timestamp() + OUTBOX_TTL_SECONDS)),
        ],
    )
}

/// An account event under its own id (created with `attribute_not_exists`: a fact is recorded
/// once), indexed in one of its account's event partitions by `{occurredAtMs:015}#{eventId}`.
pub fn event_item(event: &AccountEvent) -> Result<Item, StoreError> {
    let record = AccountEventRecord::from(event);
    let sort = created_id_sort_key(record.occurred_at_ms, &event.id).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "occurredAt of event {} is outside the sortable range",
            event.id
        ))
    })?;
    record_item(
        "event",
        &record,
        [
            (PK, s(event_pk(&event.id))),
            (SK, s(SK_EVENT)),
            (ENTITY, s(SK_EVENT)),
            (GSI1PK, s(events_pk(&event.account_id, &event.id))),
            (GSI1SK, s(sort)),
        ],
    )
}

pub fn event_from_item(item: Item) -> Result<AccountEvent, StoreError> {
    AccountEvent::try_from(decode::<AccountEventRecord>("event", item)?)
}

/// Replaces a PROCESSING payout (of the same account) by its settled version.
pub fn settled_payout_put(table: &str, payout: &Payout) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(payout_item(payout)?))
        .condition_expression("#state = :processing AND #acc = :acc")
        .expression_attribute_names("#state", STATE)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_values(":processing", s(PayoutState::Processing.as_str()))
        .expression_attribute_values(":acc", s(payout.account_id.to_string()))
        .build()
        .map_err(|e| errors::build_failed(PUT, &e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Replaces a split entry that is PROCESSING in payout `payout` by its settled version.
pub fn settled_split_put(
    table: &str,
    entry: &SplitEntry,
    payout: &Payout,
) -> Result<TransactWriteItem, StoreError> {
    // A scheduled payout's splits stay in its manifest once settled.
    let manifest = (payout.trigger == PayoutTrigger::Scheduled).then_some(&payout.id);
    split_replace_put(table, entry, &payout.id, manifest)
}

/// Replaces a split entry that is PROCESSING in payout `payout` (of the entry's account) by
/// `entry`, whole: its index keys follow the new state ([`split_item_in`]), so a split back in
/// SCHEDULED re-enters the scheduled index exactly like a freshly booked one.
pub fn split_replace_put(
    table: &str,
    entry: &SplitEntry,
    payout: &PayoutId,
    manifest: Option<&PayoutId>,
) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(split_item_in(entry, manifest)?))
        .condition_expression("#state = :processing AND #pid = :pid AND #acc = :acc")
        .expression_attribute_names("#state", STATE)
        .expression_attribute_names("#pid", PAYOUT_ID)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_values(":processing", s(SplitState::Processing.as_str()))
        .expression_attribute_values(":pid", s(payout.to_string()))
        .expression_attribute_values(":acc", s(entry.account_id.to_string()))
        .build()
        .map_err(|e| errors::build_failed(PUT, &e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

#[cfg(test)]
mod tests {
    use pixgw_domain::ledger::record::LegRecord;
    use pixgw_domain::payout::record::SplitRefRecord;
    use pixgw_domain::split::record::SplitRecord;

    use super::*;

    fn field_names<T: Serialize>(value: &T) -> Vec<String> {
        serde_json::to_value(value)
            .ok()
            .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
            .unwrap_or_default()
    }

    #[test]
    fn record_fields_never_collide_with_key_attributes() {
        let split = SplitRecord {
            pix_key: Default::default(),
            pix_key_type: String::new(),
            name: Default::default(),
            document: String::new(),
            kind: String::new(),
            value: 0,
            immediate: false,
            amount_cents: 0,
        };
        let records = [
            field_names(&SplitEntryRecord {
                transaction_id: String::new(),
                account_id: String::new(),
                index: 0,
                split,
                state: String::new(),
                payout_id: Some(String::new()),
                end_to_end_id: Some(String::new()),
                failure_reason: Some(String::new()),
                attempts: 0,
                created_at_ms: 0,
                updated_at_ms: 0,
            }),
            field_names(&PayoutRecord {
                payout_id: String::new(),
                account_id: String::new(),
                trigger: String::new(),
                recipient_pix_key: Default::default(),
                recipient_pix_key_type: String::new(),
                recipient_name: Default::default(),
                recipient_document: String::new(),
                amount_cents: 0,
                splits: vec![SplitRefRecord {
                    transaction_id: String::new(),
                    index: 0,
                }],
                split_count: Some(0),
                unsettled_splits: 0,
                state: String::new(),
                end_to_end_id: Some(String::new()),
                provider_transfer_id: Some(String::new()),
                failure_reason: Some(String::new()),
                created_at_ms: 0,
                updated_at_ms: 0,
            }),
            field_names(&MovementRecord {
                movement_id: String::new(),
                account_id: String::new(),
                kind: String::new(),
                reference: String::new(),
                legs: vec![LegRecord {
                    account: String::new(),
                    amount_cents: 0,
                }],
                created_at_ms: 0,
            }),
            field_names(&OutboxRecord {
                message_id: String::new(),
                queue: String::new(),
                body: String::new(),
                created_at_ms: 0,
            }),
            field_names(&AccountEventRecord {
                event_id: String::new(),
                account_id: String::new(),
                event_type: String::new(),
                occurred_at_ms: 0,
                data: String::new(),
            }),
        ];
        let keys = [PK, SK, ENTITY, GSI1PK, GSI1SK, GSI2PK, GSI2SK, TTL];
        for fields in &records {
            assert!(!fields.is_empty());
            for key in keys {
                assert!(!fields.iter().any(|f| f == key), "{key} collides");
            }
        }
        // The conditions name record fields; a rename in the domain must fail here.
        assert!(records[0].iter().any(|f| f == STATE));
        assert!(records[0].iter().any(|f| f == PAYOUT_ID));
        assert!(records[0].iter().any(|f| f == ACCOUNT_ID));
        assert!(records[1].iter().any(|f| f == STATE));
        assert!(records[1].iter().any(|f| f == ACCOUNT_ID));
        assert!(records[1].iter().any(|f| f == UNSETTLED_SPLITS));
    }
}
