//! [`RefundStore`]: a refund request is ONE money-out transaction (see
//! [`crate::ledger_write`]):
//!
//! 1. the charge replaced by its version with the refund ([`charge_replace_update`]),
//!    conditioned on the status and refund revision it was read with — concurrent refunds of
//!    one charge serialise there, so Σ refunds ≤ amount;
//! 2. each split the refund reduces (or cancels) replaced whole, conditioned on being stored
//!    SCHEDULED, in no payout, of the charge's account, with the `refundedCents` it was read
//!    with ([`reduced_split_put`]) — the payout scheduler's attach requires the same of the
//!    splits it takes, so a split is either reduced here or paid there, never both;
//! 3. each recipient debt the refund creates added to its recipient's item (its part queued at
//!    the end), created on the first debt ([`recipient_change_update`]), with the totals of the splits it reduces;
//! 4. the movement with its balance shard updates (each shard the draw takes from conditioned
//!    on holding its part), the outbox messages and the idempotency completion.
//!
//! A refused refund ([`FailRefund`]) is one transaction too: the charge (status and revision
//! as read), each split it restores (stored SCHEDULED or CANCELLED, in no payout, with the
//! `refundedCents` read), each recipient it forgives (at the version read, with its restored
//! `scheduledCents` in the same update) or whose totals it restores, the movement and its
//! shard updates.
//!
//! # Size
//!
//! A charge has at most [`MAX_SPLITS`] splits, hence at most that many reduced splits and that
//! many recipients; with the charge, the movement, at most [`BALANCE_SHARDS`] shard updates,
//! the outbox message and the completion, a refund needs at most 56 items, well within the
//! 100 of one transaction ([`MAX_TRANSACT_ITEMS`], asserted at compile time below). A larger
//! write (out of contract) is refused before sending by [`DynamoStore::money_out_write`].

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::ledger::ports::MoneyOutOutcome;
use pixgw_domain::ledger::{AvailableDraw, BALANCE_SHARDS};
use pixgw_domain::pix::ids::RecipientId;
use pixgw_domain::recipient::RecipientTotals;
use pixgw_domain::refund::ports::{FailRefund, ReducedSplit, RefundStore, RequestRefund};
use pixgw_domain::split::MAX_SPLITS;
use pixgw_domain::split::entry::SplitState;
use tracing::instrument;

use crate::DynamoStore;
use crate::charge::charge_replace_update;
use crate::errors;
use crate::items::{ACCOUNT_ID, PAYOUT_ID, REFUNDED, STATE};
use crate::keys::s;
use crate::ledger_write::{
    MAX_TRANSACT_ITEMS, Role, completion_item, distinct_events, ledger_half, witnesses,
};
use crate::recipient::{changes_of, forgiveness_update, recipient_change_update};
use crate::split::{refunded_condition, split_item};

const PUT: &str = "PutItem";

/// The most items one refund request writes: the charge, each split reduced, each recipient
/// indebted, the movement, every balance shard, one outbox message, the completion.
const MAX_REFUND_ITEMS: usize = 1 + MAX_SPLITS + MAX_SPLITS + 1 + BALANCE_SHARDS as usize + 1 + 1;
const _: () = assert!(MAX_REFUND_ITEMS <= MAX_TRANSACT_ITEMS);

/// Replaces a split stored SCHEDULED, in no payout, of the charge's account and with
/// `refunded_before`, by its reduced (or CANCELLED) version, whole: [`split_item`] gives a
/// SCHEDULED entry its scheduled-index keys and any other none.
pub(crate) fn reduced_split_put(
    table: &str,
    reduced: &ReducedSplit,
) -> Result<TransactWriteItem, StoreError> {
    let entry = &reduced.entry;
    let (refunded, refunded_value) = refunded_condition(reduced.refunded_before.cents());
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(split_item(entry)?))
        .condition_expression(format!(
            "#state = :scheduled AND attribute_not_exists(#pid) AND #acc = :acc AND {refunded}"
        ))
        .expression_attribute_names("#state", STATE)
        .expression_attribute_names("#pid", PAYOUT_ID)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_names("#ref", REFUNDED)
        .expression_attribute_values(":scheduled", s(SplitState::Scheduled.as_str()))
        .expression_attribute_values(":acc", s(entry.account_id.to_string()))
        .expression_attribute_values(":ref", refunded_value)
        .build()
        .map_err(|e| errors::build_failed(PUT, &e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Replaces a split stored SCHEDULED or CANCELLED, in no payout, of the charge's account and
/// with `refunded_before`, by its restored (SCHEDULED) version.
pub(crate) fn restored_split_put(
    table: &str,
    restored: &ReducedSplit,
) -> Result<TransactWriteItem, StoreError> {
    let entry = &restored.entry;
    let (refunded, refunded_value) = refunded_condition(restored.refunded_before.cents());
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(split_item(entry)?))
        .condition_expression(format!(
            "#state IN (:scheduled, :cancelled) AND attribute_not_exists(#pid) AND #acc = :acc AND {refunded}"
        ))
        .expression_attribute_names("#state", STATE)
        .expression_attribute_names("#pid", PAYOUT_ID)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_names("#ref", REFUNDED)
        .expression_attribute_values(":scheduled", s(SplitState::Scheduled.as_str()))
        .expression_attribute_values(":cancelled", s(SplitState::Cancelled.as_str()))
        .expression_attribute_values(":acc", s(entry.account_id.to_string()))
        .expression_attribute_values(":ref", refunded_value)
        .build()
        .map_err(|e| errors::build_failed(PUT, &e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// The recipient items of a refused refund, one per recipient: a forgiveness (with the
/// recipient's restored `scheduled`), or the totals alone.
fn failure_recipient_items(
    table: &str,
    write: &FailRefund,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let account = &write.transition.charge.account_id;
    let mut totals: BTreeMap<&RecipientId, &RecipientTotals> = write
        .recipients
        .iter()
        .map(|t| (&t.recipient_id, t))
        .collect();
    let mut items = Vec::new();
    let mut forgiven = HashSet::new();
    for forgiveness in &write.forgiven {
        if !forgiven.insert(&forgiveness.recipient_id) {
            return Err(refusing("a recipient forgiven twice"));
        }
        let scheduled = totals
            .remove(&forgiveness.recipient_id)
            .map_or(0, |t| t.scheduled);
        items.push(forgiveness_update(table, account, forgiveness, scheduled)?);
    }
    for change in changes_of(&[], totals.into_values(), None) {
        items.push(recipient_change_update(table, account, &change)?);
    }
    Ok(items)
}

fn refusing(why: &str) -> StoreError {
    StoreError::Unavailable(format!("refusing to write: {why}"))
}

#[async_trait]
impl RefundStore for DynamoStore {
    #[instrument(level = "debug", skip_all, fields(table = %self.table, transaction_id = %write.charge.transaction_id, movement_id = %write.movement.id, reduced = write.reduced.len(), debts = write.debts.len()))]
    async fn request_refund(&self, write: &RequestRefund) -> Result<MoneyOutOutcome, StoreError> {
        write
            .check()
            .map_err(|why| StoreError::Unavailable(format!("refusing to write: {why}")))?;
        let mut items = vec![(
            charge_replace_update(&self.table, &write.charge, write.from, write.from_revision)?,
            Role::Other,
        )];
        for reduced in &write.reduced {
            items.push((reduced_split_put(&self.table, reduced)?, Role::Other));
        }
        for change in changes_of(&write.debts, &write.recipients, None) {
            items.push((
                recipient_change_update(&self.table, &write.charge.account_id, &change)?,
                Role::Other,
            ));
        }
        items.extend(ledger_half(
            &self.table,
            Some((&write.movement, &write.draw)),
            &[],
            &write.outbox,
        )?);
        items.extend(completion_item(&self.table, write.completion.as_ref())?);
        self.money_out_write(
            "request_refund",
            items,
            write.completion.as_ref(),
            None,
            &write.movement,
        )
        .await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, transaction_id = %write.transition.charge.transaction_id, restored = write.restored.len(), forgiven = write.forgiven.len()))]
    async fn fail_refund(&self, write: &FailRefund) -> Result<WriteOutcome, StoreError> {
        let transition = &write.transition;
        let charge = &transition.charge;
        let mut indexes = HashSet::new();
        for restored in &write.restored {
            let entry = &restored.entry;
            if entry.transaction_id != charge.transaction_id || !indexes.insert(entry.index) {
                return Err(refusing("a restored split not of the charge, or twice"));
            }
        }
        if !distinct_events(&transition.events) {
            return Ok(WriteOutcome::Conflict);
        }
        let no_draw = AvailableDraw::default();
        let mut items = vec![charge_replace_update(
            &self.table,
            charge,
            transition.from,
            transition.from_revision,
        )?];
        for restored in &write.restored {
            items.push(restored_split_put(&self.table, restored)?);
        }
        items.extend(failure_recipient_items(&self.table, write)?);
        items.extend(
            ledger_half(
                &self.table,
                transition.movement.as_ref().map(|m| (m, &no_draw)),
                &transition.events,
                &transition.outbox,
            )?
            .into_iter()
            .map(|(item, _)| item),
        );
        let witnesses = witnesses(transition.movement.as_ref(), &transition.events);
        self.settlement_write("fail_refund", items, witnesses).await
    }
}
