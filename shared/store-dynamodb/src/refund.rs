//! [`RefundStore`]: a refund request is ONE money-out transaction (see
//! [`crate::ledger_write`]): the charge, CONFIRMED, replaced by its refunding version
//! ([`charge_replace_update`]); its splits either not booked (a check that the booking movement
//! does not exist, so the split calculator cannot book them any more) or, booked, each one to
//! cancel replaced by its CANCELLED version while still SCHEDULED outside any payout; then the
//! movement with its balance shard updates, the outbox messages and the idempotency completion.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem};
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::error::StoreError;
use pixgw_domain::ledger::MovementKind;
use pixgw_domain::ledger::ports::MoneyOutOutcome;
use pixgw_domain::refund::ports::{RefundSplits, RefundStore, RequestRefund};
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use tracing::instrument;

use crate::DynamoStore;
use crate::charge::charge_replace_update;
use crate::errors;
use crate::items::{ACCOUNT_ID, PAYOUT_ID, STATE};
use crate::keys::{PK, SK_MOVEMENT, movement_pk, primary_key, s};
use crate::ledger_write::{Role, completion_item, ledger_half};
use crate::split::split_item;

const PUT: &str = "PutItem";
const CONDITION_CHECK: &str = "ConditionCheck";

/// The charge's splits were not booked: its `SplitsBooked` movement does not exist.
fn splits_not_booked_check(table: &str, charge: &Charge) -> Result<TransactWriteItem, StoreError> {
    let id = MovementKind::SplitsBooked.movement_id(charge.transaction_id.as_str());
    let check = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(primary_key(movement_pk(&id), SK_MOVEMENT)))
        .condition_expression("attribute_not_exists(#pk)")
        .expression_attribute_names("#pk", PK)
        .build()
        .map_err(|e| errors::build_failed(CONDITION_CHECK, &e))?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}

/// Replaces a split stored SCHEDULED with no payout (of the same account) by its CANCELLED
/// version, whole: [`split_item`] gives a non-SCHEDULED entry no scheduled-index keys.
fn cancelled_split_put(table: &str, entry: &SplitEntry) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(split_item(entry)?))
        .condition_expression("#state = :scheduled AND attribute_not_exists(#pid) AND #acc = :acc")
        .expression_attribute_names("#state", STATE)
        .expression_attribute_names("#pid", PAYOUT_ID)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_values(":scheduled", s(SplitState::Scheduled.as_str()))
        .expression_attribute_values(":acc", s(entry.account_id.to_string()))
        .build()
        .map_err(|e| errors::build_failed(PUT, &e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

#[async_trait]
impl RefundStore for DynamoStore {
    #[instrument(level = "debug", skip_all, fields(table = %self.table, transaction_id = %write.charge.transaction_id, movement_id = %write.movement.id))]
    async fn request_refund(&self, write: &RequestRefund) -> Result<MoneyOutOutcome, StoreError> {
        let mut items = vec![(
            charge_replace_update(&self.table, &write.charge, ChargeStatus::Confirmed)?,
            Role::Other,
        )];
        match &write.splits {
            RefundSplits::NotBooked => items.push((
                splits_not_booked_check(&self.table, &write.charge)?,
                Role::Other,
            )),
            RefundSplits::Booked { cancelled } => {
                for entry in cancelled {
                    items.push((cancelled_split_put(&self.table, entry)?, Role::Other));
                }
            }
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
}
