//! [`SplitStore`]: a charge's split entries, booked in one transaction with the payouts of its
//! immediate splits and the ledger movement that reserves their money.
//!
//! The same transaction pays what the account's disputes owe from the account's part of the
//! credit: each repaid dispute replaced whole at the version its booking read
//! ([`repayment_items`]), so a repayment planned from a stale read makes the whole booking a
//! Conflict.
//!
//! A split entry lives in its charge's partition (`CHARGE#{transactionId}` / `SPLIT#{index:02}`),
//! so a charge's splits are one strongly consistent Query. Its index keys follow its state:
//! only a SCHEDULED entry is in the payout scheduler's sparse index (`gsi2`), and from its
//! attachment to a scheduled payout on it is in that payout's manifest (`gsi1`). A whole-item
//! write ([`split_item_in`]: booking, a refund's reduction or cancellation, a settlement) gives it the keys
//! of its state; the scheduler's attach ([`crate::payout_run`]) moves them in an UpdateItem.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem};
use pixgw_domain::charge::{ChargeStatus, HoldState};
use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::payout::PayoutId;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use pixgw_domain::split::ports::{BookSplits, SplitStore};
use pixgw_domain::split::record::SplitEntryRecord;
use tracing::{debug, instrument};

use crate::charge::HOLD;
use crate::dispute::repayment_items;
use crate::errors;
use crate::items::{ACCOUNT_ID, STATUS, decode, out_of_range, record_item};
use crate::keys::{
    ENTITY, ENTITY_SPLIT, GSI1PK, GSI1SK, GSI2PK, GSI2SK, Item, PK, SK, SK_CHARGE, SPLIT_SK_PREFIX,
    charge_pk, n, payout_manifest_pk, payout_manifest_sort_key, primary_key, s,
    scheduled_split_sort_key, scheduled_splits_pk, split_sk,
};
use crate::ledger_write::{ledger_events_outbox, witnesses};
use crate::payout::payout_item;
use crate::recipient::{changes_of, recipient_change_update};
use crate::transact::put_new;
use crate::{DynamoStore, query_all};

const CONDITION_CHECK: &str = "ConditionCheck";
/// The state inside the charge's `hold` map (`HoldRecord`).
const HOLD_STATE: &str = "state";

/// A split entry. Only a SCHEDULED entry carries `gsi2pk`/`gsi2sk` (the payout scheduler's
/// sparse index); because every state change rewrites the whole item, leaving SCHEDULED
/// removes it from the index.
pub(crate) fn split_item(entry: &SplitEntry) -> Result<Item, StoreError> {
    split_item_in(entry, None)
}

/// [`split_item`] of a split that belongs to a scheduled payout's manifest (`gsi1`, see
/// [`crate::payout_run`]): a whole-item rewrite of such a split (settling it) must keep the
/// manifest keys, or the payout's manifest would lose the splits it already paid.
pub(crate) fn split_item_in(
    entry: &SplitEntry,
    manifest: Option<&PayoutId>,
) -> Result<Item, StoreError> {
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

/// The condition (on `#ref`, with `:ref`) that a split's stored `refundedCents` is `cents`.
/// The record leaves 0 out, so 0 is an absent attribute (or, written by hand, a 0). A refund
/// reducing a split and the payout scheduler attaching it both require the value they read.
pub(crate) fn refunded_condition(cents: i64) -> (&'static str, AttributeValue) {
    if cents == 0 {
        ("(attribute_not_exists(#ref) OR #ref = :ref)", n(0))
    } else {
        ("#ref = :ref", n(cents))
    }
}

pub(crate) fn split_from_item(item: Item) -> Result<SplitEntry, StoreError> {
    SplitEntry::try_from(decode::<SplitEntryRecord>("split entry", item)?)
}

/// Booking splits requires the charge to be CONFIRMED (and the command's account to own it)
/// and not under a HELD cautelar hold: a held payment is CONFIRMED but not the merchant's yet
/// (its release books it), so a booking planned from any read of it is refused here too.
fn charge_confirmed_check(
    table: &str,
    write: &BookSplits,
) -> Result<TransactWriteItem, StoreError> {
    let check = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(primary_key(
            charge_pk(&write.transaction_id),
            SK_CHARGE,
        )))
        .condition_expression(
            "#status = :confirmed AND #acc = :acc \
             AND (attribute_not_exists(#hold) OR #hold.#holdState <> :held)",
        )
        .expression_attribute_names("#status", STATUS)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_names("#hold", HOLD)
        .expression_attribute_names("#holdState", HOLD_STATE)
        .expression_attribute_values(":held", s(HoldState::Held.as_str()))
        .expression_attribute_values(":confirmed", s(ChargeStatus::Confirmed.as_str()))
        .expression_attribute_values(":acc", s(write.account_id.to_string()))
        .build()
        .map_err(|e| errors::build_failed(CONDITION_CHECK, &e))?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}

#[async_trait]
impl SplitStore for DynamoStore {
    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %write.account_id, transaction_id = %write.transaction_id, splits = write.splits.len(), payouts = write.payouts.len()))]
    async fn book_splits(&self, write: &BookSplits) -> Result<WriteOutcome, StoreError> {
        let mut items = vec![charge_confirmed_check(&self.table, write)?];
        for entry in &write.splits {
            items.push(put_new(&self.table, split_item(entry)?)?);
        }
        for payout in &write.payouts {
            items.push(put_new(&self.table, payout_item(payout)?)?);
        }
        items.extend(ledger_events_outbox(
            &self.table,
            Some(&write.movement),
            &[],
            &write.outbox,
        )?);
        for change in changes_of(&[], &write.recipients, None) {
            items.push(recipient_change_update(
                &self.table,
                &write.account_id,
                &change,
            )?);
        }
        // What the account's part pays of what its disputes owe: each one at the version read.
        items.extend(repayment_items(&self.table, write)?);
        let witnesses = witnesses(Some(&write.movement), &[]);
        self.settlement_write("book_splits", items, witnesses).await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, transaction_id = %id))]
    async fn get_splits(&self, id: &TransactionId) -> Result<Vec<SplitEntry>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(charge_pk(id)))
            .expression_attribute_values(":prefix", s(SPLIT_SK_PREFIX))
            .consistent_read(true);
        let mut entries = Vec::new();
        for item in query_all(query).await? {
            let entry = split_from_item(item)?;
            if &entry.transaction_id != id {
                return Err(StoreError::Corrupt(format!(
                    "split {}/{} stored under charge {id}",
                    entry.transaction_id, entry.index
                )));
            }
            entries.push(entry);
        }
        // The sort key already orders by index; sorting again makes that independent of the
        // key's digit count.
        entries.sort_by_key(|e| e.index);
        debug!(count = entries.len(), "read splits");
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use pixgw_domain::charge::ChargeHold;
    use pixgw_domain::charge::record::HoldRecord;

    use super::*;

    /// The booking's hold condition names the record's fields: a rename in the domain must
    /// fail here, not silently let a held charge be booked.
    #[test]
    fn the_hold_condition_names_the_record_fields() {
        let hold = ChargeHold {
            until: Utc.timestamp_millis_opt(1_000).single().unwrap_or_default(),
            state: HoldState::Held,
            settled_at: None,
            return_nature: None,
            return_end_to_end_id: None,
        };
        let json = serde_json::to_value(HoldRecord::from(&hold)).unwrap_or_default();
        assert_eq!(
            json.get(HOLD_STATE).and_then(|v| v.as_str()),
            Some(HoldState::Held.as_str())
        );
    }
}
