//! Items and transaction parts of the money-lifecycle writes (refunds, cash-outs, charge
//! transitions): balance shard updates with their per-shard `available` conditions, the
//! whole-charge replacement, the refund's split cancellations, cash-out items and guards, and
//! the decoding of a cancelled money-out transaction by item position. Pure: nothing here
//! talks to DynamoDB.

use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem, Update};
use pixgw_domain::cash_out::record::CashOutRecord;
use pixgw_domain::cash_out::{CashOut, CashOutState};
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::error::StoreError;
use pixgw_domain::ledger::ports::MoneyOutOutcome;
use pixgw_domain::ledger::{AvailableDraw, Movement, MovementKind, ShardUpdate, shard_updates};
use pixgw_domain::messaging::events::AccountEvent;
use pixgw_domain::messaging::outbox::OutboxMessage;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::split::entry::{SplitEntry, SplitState};

use crate::charges::charge_item;
use crate::errors::{self, Reason};
use crate::keys::{
    ENTITY, GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK, Item, PK, SK, SK_BALANCE, SK_CASHOUT,
    SK_CASHOUT_EXTID, SK_CHARGE, SK_MOVEMENT, balance_pk, cash_out_external_id_pk, cash_out_pk,
    cash_outs_by_account_pk, cash_outs_by_state_pk, charge_pk, created_id_sort_key, movement_pk, n,
    primary_key, s,
};
use crate::settlement_items::{
    ACCOUNT_ID, BALANCE_ACCOUNT_ID, BALANCE_AVAILABLE, BALANCE_INCOMING, BALANCE_RESERVED, PAYMENT,
    PAYOUT_ID, STATE, STATUS, decode, event_item, movement_item, outbox_item, record_item,
    split_item,
};
use crate::transact::put_new;

const UPDATE: &str = "UpdateItem";
const PUT: &str = "PutItem";
const CONDITION_CHECK: &str = "ConditionCheck";

/// `ChargeRecord` attributes that may be absent (`skip_serializing_if`), plus the expiry index
/// keys: a replacement REMOVEs those the new charge does not have.
const CHARGE_OPTIONAL: [&str; 4] = [PAYMENT, "refund", GSI3PK, GSI3SK];

/// Attribute of the cash-out `externalId` guard naming the cash-out it protects.
pub const GUARD_CASH_OUT_ID: &str = "cashOutId";

/// What an item of a money-out transaction is, for decoding its cancellation reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A balance shard update conditioned on holding its part of the draw.
    Shard,
    /// The cash-out `externalId` guard.
    ExternalId,
    /// The idempotency completion.
    Claim,
    /// Anything else (the charge, a split, the movement, an outbox message, the cash-out).
    Other,
}

/// What a cancelled money-out transaction whose conditions failed means, decided by the
/// failed items' roles: ClaimLost > DuplicateExternalId > Conflict > BalanceChanged (a state
/// that changed makes re-planning the draw pointless, so it wins over a stale draw).
pub fn decode_money_out(roles: &[Role], reasons: &[Reason]) -> MoneyOutOutcome {
    let failed = |role: Role| {
        roles
            .iter()
            .zip(reasons)
            .any(|(r, reason)| *r == role && *reason == Reason::ConditionFailed)
    };
    if failed(Role::Claim) {
        MoneyOutOutcome::ClaimLost
    } else if failed(Role::ExternalId) {
        MoneyOutOutcome::DuplicateExternalId
    } else if failed(Role::Other) {
        MoneyOutOutcome::Conflict
    } else if failed(Role::Shard) {
        MoneyOutOutcome::BalanceChanged
    } else {
        // One reason per item: a failed condition is always one of ours.
        MoneyOutOutcome::Conflict
    }
}

/// One balance shard's change: `ADD` its delta, conditioned on the
/// shard's `available` covering `requires_available` when set (an absent shard or attribute
/// holds nothing, so it fails).
pub fn shard_update(
    table: &str,
    account: &AccountId,
    update: &ShardUpdate,
) -> Result<TransactWriteItem, StoreError> {
    let delta = update.delta;
    let mut builder = Update::builder()
        .table_name(table)
        .set_key(Some(primary_key(
            balance_pk(account, update.shard),
            SK_BALANCE,
        )))
        .update_expression(
            "ADD #inc :inc, #avail :avail, #res :res SET #entity = :entity, #acc = :acc",
        )
        .expression_attribute_names("#inc", BALANCE_INCOMING)
        .expression_attribute_names("#avail", BALANCE_AVAILABLE)
        .expression_attribute_names("#res", BALANCE_RESERVED)
        .expression_attribute_names("#entity", ENTITY)
        .expression_attribute_names("#acc", BALANCE_ACCOUNT_ID)
        .expression_attribute_values(":inc", n(delta.incoming.cents()))
        .expression_attribute_values(":avail", n(delta.available.cents()))
        .expression_attribute_values(":res", n(delta.reserved_for_splits.cents()))
        .expression_attribute_values(":entity", s(SK_BALANCE))
        .expression_attribute_values(":acc", s(account.to_string()));
    if let Some(need) = update.requires_available {
        builder = builder
            .condition_expression("#avail >= :need")
            .expression_attribute_values(":need", n(need.cents()));
    }
    let update = builder
        .build()
        .map_err(|e| errors::build_failed(UPDATE, &e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// The ledger half of a lifecycle write: the movement (created only if absent) with its
/// shard updates (the `available` debit as `draw` says), the events and the outbox messages
/// (created only if absent), each with its [`Role`].
pub fn ledger_half(
    table: &str,
    movement: Option<(&Movement, &AvailableDraw)>,
    events: &[AccountEvent],
    outbox: &[OutboxMessage],
) -> Result<Vec<(TransactWriteItem, Role)>, StoreError> {
    let mut items = Vec::with_capacity(2 + events.len() + outbox.len());
    if let Some((movement, draw)) = movement {
        let updates = shard_updates(movement, draw)
            .map_err(|e| StoreError::Unavailable(format!("refusing to write: {e}")))?;
        items.push((put_new(table, movement_item(movement)?)?, Role::Other));
        for update in &updates {
            let role = if update.requires_available.is_some() {
                Role::Shard
            } else {
                Role::Other
            };
            items.push((shard_update(table, &movement.account_id, update)?, role));
        }
    }
    for event in events {
        items.push((put_new(table, event_item(event)?)?, Role::Other));
    }
    for message in outbox {
        items.push((put_new(table, outbox_item(message)?)?, Role::Other));
    }
    Ok(items)
}

/// Replaces the charge stored with status `from` (and of the same account) by `charge`: every
/// attribute of its item is SET (status and both index keys follow the new status, the expiry
/// keys exist only while PENDING), the optional ones it lacks are REMOVEd, and attributes
/// outside the record (`confirmedAtMs`) are kept.
pub fn charge_replace_update(
    table: &str,
    charge: &Charge,
    from: ChargeStatus,
) -> Result<TransactWriteItem, StoreError> {
    let item = charge_item(charge)?;
    let mut builder = Update::builder()
        .table_name(table)
        .set_key(Some(primary_key(
            charge_pk(&charge.transaction_id),
            SK_CHARGE,
        )))
        .condition_expression("attribute_exists(#pk) AND #status = :from AND #acc = :acc")
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#status", STATUS)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_values(":from", s(from.as_str()))
        .expression_attribute_values(":acc", s(charge.account_id.to_string()));
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

/// The charge's splits were not booked: its `SplitsBooked` movement does not exist.
pub fn splits_not_booked_check(
    table: &str,
    charge: &Charge,
) -> Result<TransactWriteItem, StoreError> {
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
pub fn cancelled_split_put(
    table: &str,
    entry: &SplitEntry,
) -> Result<TransactWriteItem, StoreError> {
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

/// A cash-out with its listing keys: `gsi1` (all of the account's cash-outs) and `gsi2` (those
/// in its state), both sorted by `{createdAtMs:015}#{id}`.
pub fn cash_out_item(cash_out: &CashOut) -> Result<Item, StoreError> {
    let record = CashOutRecord::from(cash_out);
    let sort =
        created_id_sort_key(record.created_at_ms, cash_out.id.as_str()).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "createdAt of cash-out {} is outside the sortable range",
                cash_out.id
            ))
        })?;
    record_item(
        "cash-out",
        &record,
        [
            (PK, s(cash_out_pk(&cash_out.id))),
            (SK, s(SK_CASHOUT)),
            (ENTITY, s(SK_CASHOUT)),
            (GSI1PK, s(cash_outs_by_account_pk(&cash_out.account_id))),
            (GSI1SK, s(sort.clone())),
            (
                GSI2PK,
                s(cash_outs_by_state_pk(&cash_out.account_id, cash_out.state)),
            ),
            (GSI2SK, s(sort)),
        ],
    )
}

pub fn cash_out_from_item(item: Item) -> Result<CashOut, StoreError> {
    CashOut::try_from(decode::<CashOutRecord>("cash-out", item)?)
}

/// The per-account `externalId` guard of a cash-out.
pub fn cash_out_guard_item(cash_out: &CashOut) -> Item {
    Item::from([
        (
            PK.to_owned(),
            s(cash_out_external_id_pk(
                &cash_out.account_id,
                &cash_out.external_id,
            )),
        ),
        (SK.to_owned(), s(SK_CASHOUT_EXTID)),
        (ENTITY.to_owned(), s(SK_CASHOUT_EXTID)),
        (ACCOUNT_ID.to_owned(), s(cash_out.account_id.to_string())),
        ("externalId".to_owned(), s(cash_out.external_id.clone())),
        (GUARD_CASH_OUT_ID.to_owned(), s(cash_out.id.to_string())),
    ])
}

/// Replaces the cash-out stored in state `from` (of the same account) by `cash_out`, whole:
/// its `gsi2pk` follows the new state.
pub fn cash_out_replace_put(
    table: &str,
    cash_out: &CashOut,
    from: CashOutState,
) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(cash_out_item(cash_out)?))
        .condition_expression("#state = :from AND #acc = :acc")
        .expression_attribute_names("#state", STATE)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_values(":from", s(from.as_str()))
        .expression_attribute_values(":acc", s(cash_out.account_id.to_string()))
        .build()
        .map_err(|e| errors::build_failed(PUT, &e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_out_reasons_decode_by_role() {
        use Reason::*;
        let roles = [
            Role::Other,
            Role::ExternalId,
            Role::Other,
            Role::Shard,
            Role::Shard,
            Role::Claim,
        ];
        let decode = |reasons: &[Reason]| decode_money_out(&roles, reasons);
        assert_eq!(
            decode(&[Fine, Fine, Fine, ConditionFailed, Fine, Fine]),
            MoneyOutOutcome::BalanceChanged
        );
        assert_eq!(
            decode(&[Fine, ConditionFailed, Fine, ConditionFailed, Fine, Fine]),
            MoneyOutOutcome::DuplicateExternalId
        );
        assert_eq!(
            decode(&[Fine, ConditionFailed, Fine, Fine, Fine, ConditionFailed]),
            MoneyOutOutcome::ClaimLost
        );
        assert_eq!(
            decode(&[ConditionFailed, Fine, Fine, Fine, ConditionFailed, Fine]),
            MoneyOutOutcome::Conflict
        );
        assert_eq!(decode(&[Fine; 6]), MoneyOutOutcome::Conflict);
    }
}
