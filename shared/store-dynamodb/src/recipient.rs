//! [`RecipientStore`]: split recipients and their debts.
//!
//! A recipient item lives in its account's recipients partition
//! (`ACCOUNT#{accountId}#RECIPIENTS` / `RECIPIENT#{recipientId}`) and holds the shared
//! [`RecipientRecord`]: `debtCents` (what it owes and no payout is recovering yet), its queue of
//! debt parts `openDebts` (oldest first; Σ = `debtCents`), `recoveringCents` (taken into
//! payouts' deductions not settled yet) and `version`. Three writes change it, each inside the
//! transaction of the change that causes it:
//!
//! - a booking, a refund or a payout's settlement ([`recipient_change_update`], one update per
//!   recipient per write) creates it on its first change (descriptive attributes set only if
//!   absent) and changes it only by appending and `ADD`ing, so concurrent writes never lose
//!   each other's change: a refund appends its debt part at the END of the queue
//!   (`debtCents`, `version` grow); a FAILED payout's settlement puts its deductions back at
//!   the FRONT; `scheduledCents` / `paidCents` move with bookings, reductions and payouts;
//! - a payout's netting ([`netting_update`]) takes parts off the FRONT of the queue: it sets the
//!   queue and `debtCents` as the executor computed them, so it requires the `version` it read
//!   (any refund or restore in between bumps it and makes it a Conflict), and `ADD`s what it
//!   took to `recoveringCents`;
//! - a settlement `ADD`s minus its deductions to `recoveringCents`.
//!
//! `recoveringCents` only ever changes by `ADD`, so the netting and a settlement of another
//! payout of the same recipient commute without either bumping the version for it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::ledger::{AvailableDraw, Bucket, LedgerAccount};
use pixgw_domain::payout::PayoutRecipient;
use pixgw_domain::payout::ports::DebtSettlement;
use pixgw_domain::pix::ids::{AccountId, RecipientId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::recipient::RecipientTotals;
use pixgw_domain::recipient::ports::{MAX_RECIPIENTS_PER_PAGE, RecipientStore, WriteOffDebts};
use pixgw_domain::recipient::record::{DebtPartRecord, RecipientRecord};
use pixgw_domain::recipient::{DebtForgiveness, DebtPart, Recipient, total};
use pixgw_domain::refund::liability::DebtIncrease;
use serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value;
use tracing::instrument;

use crate::DynamoStore;
use crate::errors;
use crate::items::{ACCOUNT_ID, decode, record_item};
use crate::keys::{
    ENTITY, ENTITY_RECIPIENT, Item, PK, SK, n, primary_key, recipient_sk, recipients_pk, s,
};
use crate::ledger_write::{ledger_half, witnesses};

/// Record attributes the expressions name (as `serde` writes them, camelCase).
const RECIPIENT_ID: &str = "recipientId";
const DEBT: &str = "debtCents";
const OPEN_DEBTS: &str = "openDebts";
const RECOVERING: &str = "recoveringCents";
/// Absent on items written before the queue existed: such an item is at version 0.
const VERSION: &str = "version";
const SCHEDULED: &str = "scheduledCents";
const PAID: &str = "paidCents";

const UPDATE: &str = "UpdateItem";

/// The identity of a recipient (key, names, ids, entity): what every change sets only if
/// absent, so the first change of a recipient creates its item.
fn identity_item(
    account: &AccountId,
    id: &RecipientId,
    recipient: &PayoutRecipient,
) -> Result<Item, StoreError> {
    let record = RecipientRecord::from(&Recipient {
        id: id.clone(),
        account_id: account.clone(),
        recipient: recipient.clone(),
        debt: Money::ZERO,
        open_debts: Vec::new(),
        recovering: Money::ZERO,
        version: 0,
        scheduled: Money::ZERO,
        paid: Money::ZERO,
    });
    let mut item = record_item(
        "recipient",
        &record,
        [
            (PK, s(recipients_pk(account))),
            (SK, s(recipient_sk(id))),
            (ENTITY, s(ENTITY_RECIPIENT)),
        ],
    )?;
    // Changed by the update's own clauses, never set-if-absent.
    for changed in [DEBT, OPEN_DEBTS, VERSION, RECOVERING, SCHEDULED, PAID] {
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

/// Everything one write does to one recipient's item (a transaction may touch an item only
/// once, so a refund that both indebts and un-schedules a recipient, or a settlement that
/// recovers its debt and pays it, is ONE update). Every part changes by appending or `ADD`ing,
/// so changes of concurrent writes commute.
#[derive(Debug)]
pub(crate) struct RecipientChange<'a> {
    pub id: &'a RecipientId,
    pub recipient: &'a PayoutRecipient,
    /// Refund debts: appended at the END of the queue; `debtCents`, `version` grow.
    pub append: Vec<DebtPart>,
    /// A settled payout's deductions (see [`DebtSettlement`]).
    pub settlement: Option<&'a DebtSettlement>,
    /// Running totals: `ADD`ed.
    pub scheduled: i64,
    pub paid: i64,
}

impl<'a> RecipientChange<'a> {
    pub(crate) fn new(id: &'a RecipientId, recipient: &'a PayoutRecipient) -> Self {
        RecipientChange {
            id,
            recipient,
            append: Vec::new(),
            settlement: None,
            scheduled: 0,
            paid: 0,
        }
    }
}

/// One change of a recipient's item, creating it on its first change. Conditioned on the item
/// being absent or this recipient of this account; with a settlement, on its existing with
/// `recoveringCents` ≥ the settlement's Σ. The queue: debts appended at the END (newer than
/// anything queued), a FAILED payout's deductions put back at the FRONT (older than anything
/// a refund added meanwhile); either bumps `version` (a netting planned before must conflict).
pub(crate) fn recipient_change_update(
    table: &str,
    account: &AccountId,
    change: &RecipientChange<'_>,
) -> Result<TransactWriteItem, StoreError> {
    let mut sets: Vec<String> = Vec::new();
    let mut adds: Vec<String> = Vec::new();
    let mut builder = recipient_update(account, change.id, table)
        .expression_attribute_names("#open", OPEN_DEBTS)
        .expression_attribute_names("#debt", DEBT)
        .expression_attribute_values(":empty", empty_list());
    let restored = change.settlement.filter(|s| s.restore);
    let queued: i64 =
        total(&change.append).cents() + restored.map_or(0, |s| total(&s.parts).cents());
    if !change.append.is_empty() {
        sets.push("#open = list_append(if_not_exists(#open, :empty), :appended)".to_owned());
        builder = builder.expression_attribute_values(":appended", parts_value(&change.append)?);
    } else if let Some(settlement) = restored {
        sets.push("#open = list_append(:restored, if_not_exists(#open, :empty))".to_owned());
        builder = builder.expression_attribute_values(":restored", parts_value(&settlement.parts)?);
    } else {
        sets.push("#open = if_not_exists(#open, :empty)".to_owned());
    }
    if queued != 0 {
        adds.push("#debt :queued".to_owned());
        adds.push("#ver :one".to_owned());
        builder = builder
            .expression_attribute_names("#ver", VERSION)
            .expression_attribute_values(":queued", n(queued))
            .expression_attribute_values(":one", n(1));
    } else {
        sets.push("#debt = if_not_exists(#debt, :zero)".to_owned());
        builder = builder.expression_attribute_values(":zero", n(0));
    }
    let mut condition = "attribute_not_exists(#pk) OR (#acc = :acc AND #rid = :rid)".to_owned();
    if let Some(settlement) = change.settlement {
        let sum = total(&settlement.parts).cents();
        condition = format!("{SAME_RECIPIENT} AND #rec >= :recovered");
        adds.push("#rec :minus".to_owned());
        builder = builder
            .expression_attribute_names("#rec", RECOVERING)
            .expression_attribute_values(":recovered", n(sum))
            .expression_attribute_values(":minus", n(-sum));
    }
    if change.scheduled != 0 {
        adds.push("#sch :scheduled".to_owned());
        builder = builder
            .expression_attribute_names("#sch", SCHEDULED)
            .expression_attribute_values(":scheduled", n(change.scheduled));
    }
    if change.paid != 0 {
        adds.push("#paid :paid".to_owned());
        builder = builder
            .expression_attribute_names("#paid", PAID)
            .expression_attribute_values(":paid", n(change.paid));
    }
    let identity = identity_item(account, change.id, change.recipient)?;
    let mut names: Vec<&String> = identity.keys().filter(|k| *k != PK && *k != SK).collect();
    names.sort();
    for (i, name) in names.into_iter().enumerate() {
        sets.push(format!("#a{i} = if_not_exists(#a{i}, :v{i})"));
        builder = builder
            .expression_attribute_names(format!("#a{i}"), name.as_str())
            .expression_attribute_values(format!(":v{i}"), identity[name].clone());
    }
    let mut expression = format!("SET {}", sets.join(", "));
    if !adds.is_empty() {
        expression.push_str(&format!(" ADD {}", adds.join(", ")));
    }
    let update = builder
        .condition_expression(condition)
        .update_expression(expression)
        .build()
        .map_err(|e| errors::build_failed(UPDATE, &e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// A replacement of the recipient's debt queue planned on the item as read at version
/// `version_read`: conditioned on it being stored at that version (an item without `version`
/// is at 0), it sets the queue to `open`, `debtCents` to `debt` and `version` to the next —
/// the update's `SET` clause is returned to start the caller's expression. Netting and
/// forgiveness both replace the queue this way: any change of the queue since the read bumped
/// the version, so a stale plan fails instead of overwriting it.
fn queue_replacement(
    builder: UpdateBuilder,
    version_read: u64,
    open: &[DebtPart],
    debt: Money,
) -> Result<(UpdateBuilder, &'static str), StoreError> {
    let read_at =
        i64::try_from(version_read).map_err(|_| refusing("recipient version out of range"))?;
    let at_read = if read_at == 0 {
        "(attribute_not_exists(#ver) OR #ver = :read)"
    } else {
        "#ver = :read"
    };
    let builder = builder
        .condition_expression(format!("{SAME_RECIPIENT} AND {at_read}"))
        .expression_attribute_names("#open", OPEN_DEBTS)
        .expression_attribute_names("#debt", DEBT)
        .expression_attribute_names("#ver", VERSION)
        .expression_attribute_values(":open", parts_value(open)?)
        .expression_attribute_values(":debt", n(debt.cents()))
        .expression_attribute_values(":ver", n(read_at + 1))
        .expression_attribute_values(":read", n(read_at));
    Ok((builder, "SET #open = :open, #debt = :debt, #ver = :ver"))
}

/// A payout's netting on its recipient's item: the queue and `debtCents` as `after` has them
/// (the parts `taken` off its front), `version` = `after.version`, and `taken`'s Σ `ADD`ed to
/// `recoveringCents`; conditioned on the item being stored at `after.version − 1`.
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
    let (builder, set) = queue_replacement(
        recipient_update(&after.account_id, &after.id, table),
        read_at,
        &after.open_debts,
        after.debt,
    )?;
    let update = builder
        .update_expression(format!("{set} ADD #rec :taken"))
        .expression_attribute_names("#rec", RECOVERING)
        .expression_attribute_values(":taken", n(total(taken).cents()))
        .build()
        .map_err(|e| errors::build_failed(UPDATE, &e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// A forgiveness (see [`DebtForgiveness`]) on its recipient's item, with `scheduled` `ADD`ed
/// (a refused refund also gives the recipient's reduced splits back, and a transaction may
/// touch the item once): a queue replacement planned at `version_read`.
pub(crate) fn forgiveness_update(
    table: &str,
    account: &AccountId,
    forgiveness: &DebtForgiveness,
    scheduled: i64,
) -> Result<TransactWriteItem, StoreError> {
    let (mut builder, set) = queue_replacement(
        recipient_update(account, &forgiveness.recipient_id, table),
        forgiveness.version_read,
        &forgiveness.open_debts,
        forgiveness.debt,
    )?;
    let mut expression = set.to_owned();
    if scheduled != 0 {
        expression.push_str(" ADD #sch :scheduled");
        builder = builder
            .expression_attribute_names("#sch", SCHEDULED)
            .expression_attribute_values(":scheduled", n(scheduled));
    }
    let update = builder
        .update_expression(expression)
        .build()
        .map_err(|e| errors::build_failed(UPDATE, &e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// The changes of one write, one per recipient (ascending id): `debts` appended, `totals`
/// added, `settlement` applied.
pub(crate) fn changes_of<'a>(
    debts: &'a [DebtIncrease],
    totals: impl IntoIterator<Item = &'a RecipientTotals>,
    settlement: Option<(&'a DebtSettlement, &'a PayoutRecipient)>,
) -> Vec<RecipientChange<'a>> {
    let mut changes: BTreeMap<&RecipientId, RecipientChange<'a>> = BTreeMap::new();
    for debt in debts {
        changes
            .entry(&debt.recipient_id)
            .or_insert_with(|| RecipientChange::new(&debt.recipient_id, &debt.recipient))
            .append
            .push(debt.part());
    }
    for t in totals {
        let change = changes
            .entry(&t.recipient_id)
            .or_insert_with(|| RecipientChange::new(&t.recipient_id, &t.recipient));
        change.scheduled += t.scheduled;
        change.paid += t.paid;
    }
    if let Some((settlement, recipient)) = settlement {
        changes
            .entry(&settlement.recipient_id)
            .or_insert_with(|| RecipientChange::new(&settlement.recipient_id, recipient))
            .settlement = Some(settlement);
    }
    changes.into_values().collect()
}

fn refusing(why: &str) -> StoreError {
    StoreError::Unavailable(format!("refusing to write: {why}"))
}

fn recipient_from_item(item: Item) -> Result<Recipient, StoreError> {
    Recipient::try_from(decode::<RecipientRecord>("recipient", item)?)
}

#[async_trait]
impl RecipientStore for DynamoStore {
    #[instrument(level = "debug", skip_all, fields(table = %self.table, movement_id = %write.movement.id))]
    async fn write_off_debts(&self, write: &WriteOffDebts) -> Result<WriteOutcome, StoreError> {
        let account = &write.movement.account_id;
        let legs_agree = write.movement.legs.iter().all(|leg| match &leg.account {
            LedgerAccount::Recipient(owner, id) => {
                owner == account
                    && id == &write.forgiveness.recipient_id
                    && leg.amount == write.forgiveness.forgiven
            }
            LedgerAccount::Merchant(owner, Bucket::RecipientDebts) => {
                owner == account && leg.amount.cents() == -write.forgiveness.forgiven.cents()
            }
            _ => false,
        });
        if !legs_agree {
            return Err(refusing(
                "a write-off's movement must book exactly its forgiveness",
            ));
        }
        let no_draw = AvailableDraw::default();
        let mut items = vec![forgiveness_update(
            &self.table,
            account,
            &write.forgiveness,
            0,
        )?];
        items.extend(
            ledger_half(&self.table, Some((&write.movement, &no_draw)), &[], &[])?
                .into_iter()
                .map(|(item, _)| item),
        );
        let witnesses = witnesses(Some(&write.movement), &[]);
        self.settlement_write("write_off_debts", items, witnesses)
            .await
    }

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

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account, limit))]
    async fn list_recipients(
        &self,
        account: &AccountId,
        after: Option<&RecipientId>,
        limit: usize,
    ) -> Result<(Vec<Recipient>, Option<RecipientId>), StoreError> {
        let limit = limit.clamp(1, MAX_RECIPIENTS_PER_PAGE);
        let mut start =
            after.map(|after| primary_key(recipients_pk(account), &recipient_sk(after)));
        let mut page = Vec::with_capacity(limit + 1);
        // Until one past the page: whether anything follows is known, not guessed.
        loop {
            let wanted = limit + 1 - page.len();
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s(recipients_pk(account)))
                .consistent_read(true)
                .limit(i32::try_from(wanted).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| errors::unavailable("Query", &err))?;
            for item in out.items.unwrap_or_default() {
                let recipient = recipient_from_item(item)?;
                if &recipient.account_id != account {
                    return Err(StoreError::Corrupt(format!(
                        "recipient {} stored under account {account}",
                        recipient.id
                    )));
                }
                page.push(recipient);
            }
            match out.last_evaluated_key {
                Some(key) if page.len() <= limit && !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        let more = page.len() > limit;
        page.truncate(limit);
        let next = more.then(|| page.last().map(|r| r.id.clone())).flatten();
        Ok((page, next))
    }
}
