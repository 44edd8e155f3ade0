//! [`PayoutStore`]: payouts (reads, the listing, the manifest of a scheduled payout) and the
//! writes that settle them.
//!
//! - A payout is one item under its own id (`PAYOUT#{payoutId}`). Every state but ASSEMBLING is
//!   listable ([`payout_item`]): `gsi1` (all of the account's payouts) and `gsi2` (those in one
//!   state), newest first through [`crate::listing`]; an ASSEMBLING payout (being filled by the
//!   payout scheduler, [`crate::payout_run`]) is never listed.
//! - A scheduled payout's manifest is its splits' `gsi1` partition `PAYOUT#{payoutId}#SPLITS`
//!   (the keys [`split_item_in`] gives a split of it), read page by page in
//!   `(transactionId, index)` order.
//! - Deciding a payout's deductions (the recipient debt it recovers, just before its transfer)
//!   is ONE `TransactWriteItems` of at most 2 items: the payout's `deductions` set on a
//!   PROCESSING payout that has none, and the recipient's queue taken from at the version it was
//!   read with ([`netting_update`]).
//! - Settling a payout is ONE `TransactWriteItems`: the payout, PROCESSING with the deductions
//!   it was settled from, replaced whole by its settled version (its listing keys follow the
//!   new state; its `deductions` kept), each of its splits likewise, the ledger half of
//!   [`crate::ledger_write`], and its deductions settled on its recipient's item
//!   ([`recipient_change_update`]: one more item, with the recipient's totals).
//! - Settling a chunk of a settled scheduled payout's splits is ONE `TransactWriteItems`
//!   (payout `unsettledSplits` count-down + ≤ 48 whole-item split Puts + optional movement and
//!   balance shard + events): each split's index keys follow its new state (PAID/FAILED stay in
//!   the manifest, SCHEDULED re-enters the scheduled index like a freshly booked split).

use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::ledger::{Bucket, LedgerAccount};
use pixgw_domain::payout::ports::{
    DebtSettlement, DecideNetting, PayoutCursor, PayoutPage, PayoutQuery, PayoutStore, SettlePayout,
};
use pixgw_domain::payout::record::PayoutRecord;
use pixgw_domain::payout::runs::SettleSplits;
use pixgw_domain::payout::{Payout, PayoutId, PayoutState, PayoutTrigger, SplitRef};
use pixgw_domain::pix::ids::{AccountId, RecipientId, TransactionId};
use pixgw_domain::recipient::record::DebtPartRecord;
use pixgw_domain::recipient::total;
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value;
use tracing::{debug, instrument};

use crate::DynamoStore;
use crate::errors::{self, still_conflicting};
use crate::items::{
    ACCOUNT_ID, DEDUCTIONS, PAYOUT_ID, STATE, UNSETTLED_SPLITS, UPDATED_AT, decode, num,
    out_of_range, record_item, string_attr,
};
use crate::keys::{
    ENTITY, GSI1PK, GSI1SK, GSI2PK, GSI2SK, Item, PK, SK, SK_PAYOUT, SortRange, charge_pk,
    created_id_sort_key, n, payout_manifest_pk, payout_manifest_sort_key, payout_pk,
    payout_sort_range, payouts_by_account_pk, payouts_by_state_pk, primary_key, s, split_sk,
};
use crate::ledger_write::{MAX_TRANSACT_ITEMS, distinct_events, ledger_events_outbox, witnesses};
use crate::listing::{MAX_LIMIT, NewestFirst};
use crate::recipient::{changes_of, netting_update, recipient_change_update};
use crate::split::{split_from_item, split_item_in};
use crate::table::{GSI1, GSI2};
use crate::transact::{TransactFailure, transact_write};

/// The most splits one `SettleSplits` may carry here: each split may bring its own event (2
/// items per split), plus the payout, a movement, its balance shard and the recipient's
/// totals, within DynamoDB's 100-item transaction limit (48 × 2 + 4 = 100).
pub const MAX_SPLITS_PER_SETTLE: usize = 48;

/// Attributes of a manifest entry (a split item in the payout's `gsi1` partition).
const TRANSACTION_ID: &str = "transactionId";
const INDEX: &str = "index";

const UPDATE: &str = "UpdateItem";
const PUT: &str = "PutItem";
const QUERY: &str = "Query";

/// A payout. Every state but ASSEMBLING is listable: `gsi1` (all of the account's payouts)
/// and `gsi2` (the account's payouts in this state), both sorted by `{createdAtMs:015}#{id}`.
/// An ASSEMBLING payout is only ever written by the scheduler's attach (with its window's
/// `gsi2` keys instead); should one come through here, it gets no index keys.
pub(crate) fn payout_item(payout: &Payout) -> Result<Item, StoreError> {
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

pub(crate) fn payout_from_item(item: Item) -> Result<Payout, StoreError> {
    Payout::try_from(decode::<PayoutRecord>("payout", item)?)
}

/// A payout's deductions as its record stores them (a list, maybe empty).
fn deductions_value(payout: &Payout) -> Result<Option<AttributeValue>, StoreError> {
    let Some(parts) = &payout.deductions else {
        return Ok(None);
    };
    let records: Vec<DebtPartRecord> = parts.iter().map(DebtPartRecord::from).collect();
    to_attribute_value(records)
        .map(Some)
        .map_err(|e| errors::corrupt("payout deductions", &e))
}

/// Replaces a PROCESSING payout (of the same account) by its settled version, if it was
/// settled from the deductions stored: a settlement computed from a read older than the
/// netting would otherwise erase the deductions and leave the recipient's debt `recovering`
/// forever.
fn settled_payout_put(table: &str, payout: &Payout) -> Result<TransactWriteItem, StoreError> {
    let builder = Put::builder()
        .table_name(table)
        .set_item(Some(payout_item(payout)?))
        .expression_attribute_names("#state", STATE)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_names("#ded", DEDUCTIONS)
        .expression_attribute_values(":processing", s(PayoutState::Processing.as_str()))
        .expression_attribute_values(":acc", s(payout.account_id.to_string()));
    let builder = match deductions_value(payout)? {
        // DynamoDB compares lists (and maps) for equality element by element.
        Some(deductions) => builder
            .condition_expression("#state = :processing AND #acc = :acc AND #ded = :ded")
            .expression_attribute_values(":ded", deductions),
        None => builder.condition_expression(
            "#state = :processing AND #acc = :acc AND attribute_not_exists(#ded)",
        ),
    };
    let put = builder.build().map_err(|e| errors::build_failed(PUT, &e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Sets a PROCESSING payout's (of the same account) deductions, if none are decided yet. Only
/// that attribute: the rest of the item (a scheduled payout's index keys, its counts) stays.
fn deductions_update(table: &str, payout: &Payout) -> Result<TransactWriteItem, StoreError> {
    let deductions = deductions_value(payout)?
        .ok_or_else(|| refusing("a netting must decide the payout's deductions"))?;
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(primary_key(payout_pk(&payout.id), SK_PAYOUT)))
        .update_expression("SET #ded = :ded")
        .condition_expression("#state = :processing AND #acc = :acc AND attribute_not_exists(#ded)")
        .expression_attribute_names("#state", STATE)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_names("#ded", DEDUCTIONS)
        .expression_attribute_values(":processing", s(PayoutState::Processing.as_str()))
        .expression_attribute_values(":acc", s(payout.account_id.to_string()))
        .expression_attribute_values(":ded", deductions)
        .build()
        .map_err(|e| errors::build_failed(UPDATE, &e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

fn refusing(why: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("refusing to write: {why}"))
}

/// The recipient a payout pays, as its account's recipients know it.
fn recipient_of(payout: &Payout) -> RecipientId {
    RecipientId::derive(&payout.account_id, payout.recipient.grouping_key())
}

/// What a netting must be for its items to mean what [`DecideNetting`] says (the executor
/// builds it so; one that is not is refused before anything is sent): the deductions decided;
/// when some are taken, the payout's own recipient given, its queue still summing to its
/// debt; deductions never more than the payout pays.
fn check_netting(write: &DecideNetting) -> Result<(), String> {
    let payout = &write.payout;
    let deductions = payout
        .deductions
        .as_deref()
        .ok_or("no deductions decided")?;
    if total(deductions).cents() > payout.amount.cents() {
        return Err(format!("payout {} deducts more than it pays", payout.id));
    }
    match &write.recipient {
        None if deductions.is_empty() => Ok(()),
        None => Err(format!("payout {} deducts from no recipient", payout.id)),
        Some(r) if r.account_id != payout.account_id || r.id != recipient_of(payout) => {
            Err(format!("recipient {} is not payout {}'s", r.id, payout.id))
        }
        Some(r) if total(&r.open_debts) != r.debt => {
            Err(format!("recipient {}'s debt is not its queue", r.id))
        }
        Some(_) => Ok(()),
    }
}

/// What a settlement must be for its recipient item and its ledger to tell the same story
/// (the domain's `settle_payout` builds it so; one that is not is refused before anything is
/// sent): the recipient's debt settlement is exactly the payout's deductions, for its own
/// recipient, restored unless PAID; and the movement's recipient legs (and `recipientDebts`)
/// move exactly what a PAID payout recovered, nothing otherwise.
fn check_settlement(write: &SettlePayout) -> Result<(), String> {
    let payout = &write.payout;
    let deductions = payout.deductions.as_deref().unwrap_or_default();
    let paid = payout.state == PayoutState::Paid;
    let recovered = match &write.recipient {
        None if deductions.is_empty() => 0,
        None => return Err(format!("payout {}'s deductions are not settled", payout.id)),
        Some(DebtSettlement {
            recipient_id,
            parts,
            restore,
        }) => {
            if recipient_id != &recipient_of(payout) || parts.as_slice() != deductions {
                return Err(format!("payout {} settles other deductions", payout.id));
            }
            if *restore == paid {
                return Err(format!("payout {} restores what it recovered", payout.id));
            }
            if *restore { 0 } else { total(parts).cents() }
        }
    };
    let (mut recipient_legs, mut debts_legs) = (0_i64, 0_i64);
    for leg in write.movement.iter().flat_map(|m| &m.legs) {
        match &leg.account {
            LedgerAccount::Recipient(account, id)
                if account == &payout.account_id && id == &recipient_of(payout) =>
            {
                recipient_legs += leg.amount.cents();
            }
            LedgerAccount::Recipient(..) => {
                return Err(format!(
                    "payout {} moves another recipient's debt",
                    payout.id
                ));
            }
            LedgerAccount::Merchant(_, Bucket::RecipientDebts) => debts_legs += leg.amount.cents(),
            _ => {}
        }
    }
    if recipient_legs != recovered || debts_legs != -recovered {
        return Err(format!(
            "the movement of payout {} does not book what it recovered",
            payout.id
        ));
    }
    Ok(())
}

/// Replaces a split entry that is PROCESSING in payout `payout` by its settled version.
fn settled_split_put(
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
fn split_replace_put(
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

/// The payout half of a [`SettleSplits`]: `unsettledSplits` drops by the chunk's size (and
/// `updatedAtMs` becomes the chunk's `now`, as in the embedded adapter), on a payout stored in
/// the settled state the chunk was computed from, of the splits' account, with at least that
/// many splits still unsettled.
fn unsettled_splits_update(
    table: &str,
    write: &SettleSplits,
    account: &AccountId,
    count: u64,
) -> Result<TransactWriteItem, StoreError> {
    let minus = i64::try_from(count)
        .map(|c| -c)
        .map_err(|_| StoreError::Corrupt("settle chunk size".into()))?;
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(primary_key(payout_pk(&write.payout_id), SK_PAYOUT)))
        // ADD, not SET: it never evaluates a missing attribute (the condition already refused
        // a payout without `unsettledSplits`, whose count is 0).
        .update_expression("ADD #unsettled :minus SET #updated = :now")
        .condition_expression("#state = :state AND #acc = :acc AND #unsettled >= :count")
        .expression_attribute_names("#updated", UPDATED_AT)
        .expression_attribute_names("#state", STATE)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_names("#unsettled", UNSETTLED_SPLITS)
        .expression_attribute_values(":now", n(write.now.timestamp_millis()))
        .expression_attribute_values(":state", s(write.payout_state.as_str()))
        .expression_attribute_values(":acc", s(account.to_string()))
        .expression_attribute_values(":count", num(count))
        .expression_attribute_values(":minus", n(minus))
        .build()
        .map_err(|e| errors::build_failed(UPDATE, &e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

impl DynamoStore {
    /// Whether a settle chunk can no longer apply because someone else wrote part of it: its
    /// movement or an event exists, or one of its splits (read strongly consistent) is no
    /// longer PROCESSING in the payout.
    async fn chunk_taken(&self, write: &SettleSplits) -> Result<bool, StoreError> {
        for (pk, sk) in witnesses(write.movement.as_ref(), &write.events) {
            if self.get_item(pk, sk).await?.is_some() {
                return Ok(true);
            }
        }
        for split in &write.splits {
            let item = self
                .get_item(charge_pk(&split.transaction_id), &split_sk(split.index))
                .await?;
            let pending = match item {
                Some(item) => {
                    let stored = split_from_item(item)?;
                    stored.state == SplitState::Processing
                        && stored.payout_id.as_ref() == Some(&write.payout_id)
                }
                None => false,
            };
            if !pending {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// An account's payouts, newest first: `gsi1` (every listable payout) or, with a state,
    /// `gsi2` (that state's partition). ASSEMBLING payouts carry neither key (they enter both
    /// at their release), so asking for them lists nothing; one that still carries `gsi1`
    /// keys (written before the release set them) is skipped, and the page still fills up.
    async fn query_payouts(
        &self,
        account_id: &AccountId,
        query: &PayoutQuery,
    ) -> Result<PayoutPage, StoreError> {
        let empty = PayoutPage {
            items: Vec::new(),
            next: None,
        };
        let (index, pk_attr, sk_attr, pk) = match query.state {
            Some(PayoutState::Assembling) => {
                debug!("ASSEMBLING payouts are never listed");
                return Ok(empty);
            }
            None => (GSI1, GSI1PK, GSI1SK, payouts_by_account_pk(account_id)),
            Some(state) => (GSI2, GSI2PK, GSI2SK, payouts_by_state_pk(account_id, state)),
        };
        let (lower, upper) = match payout_sort_range(query.from, query.to, query.after.as_ref()) {
            SortRange::Empty => {
                debug!("empty range, no query");
                return Ok(empty);
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
        let wanted_state = query.state;
        let (payouts, more) = self
            .query_newest_first(q, |item| {
                let payout: Payout = payout_from_item(item)?;
                if &payout.account_id != account_id {
                    return Err(StoreError::Corrupt(format!(
                        "payout {} listed under the wrong account",
                        payout.id
                    )));
                }
                if let Some(state) = wanted_state
                    && payout.state != state
                {
                    return Err(StoreError::Corrupt(format!(
                        "payout {} is {} but listed as {}",
                        payout.id,
                        payout.state.as_str(),
                        state.as_str()
                    )));
                }
                Ok((payout.state != PayoutState::Assembling).then_some(payout))
            })
            .await?;
        let next = if more {
            payouts.last().map(PayoutCursor::of)
        } else {
            None
        };
        debug!(count = payouts.len(), more, "listed payouts");
        Ok(PayoutPage {
            items: payouts,
            next,
        })
    }
}

#[async_trait]
impl PayoutStore for DynamoStore {
    fn max_splits_per_settle(&self) -> usize {
        MAX_SPLITS_PER_SETTLE
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, payout_id = %payout, limit))]
    async fn payout_splits_page(
        &self,
        payout: &PayoutId,
        after: Option<&SplitRef>,
        limit: usize,
    ) -> Result<(Vec<SplitRef>, Option<SplitRef>), StoreError> {
        // At least one per page, so a walk always moves on; one key past the page shows
        // whether another follows (a full page may be the last, a short read may not be).
        let limit = limit.max(1);
        let mut refs = Vec::new();
        let mut start: Option<Item> = None;
        let lower = after.map(|r| payout_manifest_sort_key(&r.transaction_id, r.index));
        while refs.len() <= limit {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .expression_attribute_names("#pk", GSI1PK)
                .expression_attribute_values(":pk", s(payout_manifest_pk(payout)))
                .limit(i32::try_from(limit + 1 - refs.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            let query = match &lower {
                Some(lower) => query
                    .key_condition_expression("#pk = :pk AND #sk > :lower")
                    .expression_attribute_names("#sk", GSI1SK)
                    .expression_attribute_values(":lower", s(lower.clone())),
                None => query.key_condition_expression("#pk = :pk"),
            };
            let out = query
                .send()
                .await
                .map_err(|err| errors::unavailable(QUERY, &err))?;
            for item in out.items.unwrap_or_default() {
                let txid = string_attr(&item, TRANSACTION_ID, "manifest entry")?;
                let corrupt = || StoreError::Corrupt(format!("manifest entry of {payout}"));
                let index = match item.get(INDEX) {
                    Some(AttributeValue::N(index)) => index.parse().map_err(|_| corrupt())?,
                    _ => return Err(corrupt()),
                };
                refs.push(SplitRef {
                    transaction_id: TransactionId::parse(txid).ok_or_else(corrupt)?,
                    index,
                });
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        let more = refs.len() > limit;
        refs.truncate(limit);
        let next = more.then(|| refs.last().cloned()).flatten();
        Ok((refs, next))
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, payout_id = %write.payout_id, state = write.payout_state.as_str(), splits = write.splits.len()))]
    async fn settle_payout_splits(&self, write: &SettleSplits) -> Result<WriteOutcome, StoreError> {
        // The port's conditions that need no read: a chunk of 1..=48 distinct splits of one
        // account, distinct events, for a payout settled PAID or FAILED.
        let Some(first) = write.splits.first() else {
            return Ok(WriteOutcome::Conflict);
        };
        let account = &first.account_id;
        let mut seen = HashSet::new();
        let valid = write.splits.len() <= MAX_SPLITS_PER_SETTLE
            && matches!(write.payout_state, PayoutState::Paid | PayoutState::Failed)
            && write.splits.iter().all(|split| {
                &split.account_id == account && seen.insert((&split.transaction_id, split.index))
            })
            && distinct_events(&write.events);
        if !valid {
            debug!("not a settleable chunk; nothing written");
            return Ok(WriteOutcome::Conflict);
        }
        let count = u64::try_from(write.splits.len())
            .map_err(|_| StoreError::Corrupt("settle chunk size".into()))?;
        let mut items = Vec::with_capacity(MAX_TRANSACT_ITEMS);
        items.push(unsettled_splits_update(&self.table, write, account, count)?);
        for split in &write.splits {
            // PAID and FAILED splits stay in the payout's manifest; one back in SCHEDULED
            // belongs to no payout and is written exactly like a freshly booked one (scheduled
            // index keys, no manifest keys).
            let manifest = (split.state != SplitState::Scheduled).then_some(&write.payout_id);
            items.push(split_replace_put(
                &self.table,
                split,
                &write.payout_id,
                manifest,
            )?);
        }
        items.extend(ledger_events_outbox(
            &self.table,
            write.movement.as_ref(),
            &write.events,
            &[],
        )?);
        for change in changes_of(&[], write.recipient.iter(), None) {
            items.push(recipient_change_update(&self.table, account, &change)?);
        }
        if items.len() > MAX_TRANSACT_ITEMS {
            return Err(StoreError::Unavailable(format!(
                "settle_payout_splits needs {} items, more than one transaction holds \
                 ({MAX_TRANSACT_ITEMS})",
                items.len()
            )));
        }
        match transact_write(&self.client, items).await {
            Ok(()) => {
                debug!("applied");
                Ok(WriteOutcome::Applied)
            }
            Err(TransactFailure::Cancelled { codes, .. }) => {
                debug!(reasons = %codes, "condition failed, nothing written");
                Ok(WriteOutcome::Conflict)
            }
            Err(TransactFailure::Store(err)) => Err(err),
            // Nothing of ours was written. If a competitor settled any of these splits (or
            // made our movement or events), our conditions can no longer hold: a Conflict.
            Err(TransactFailure::StillConflicting) => {
                if self.chunk_taken(write).await? {
                    Ok(WriteOutcome::Conflict)
                } else {
                    Err(still_conflicting("settle_payout_splits"))
                }
            }
        }
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account, limit = query.limit))]
    async fn list_payouts(
        &self,
        account: &AccountId,
        query: &PayoutQuery,
    ) -> Result<PayoutPage, StoreError> {
        self.query_payouts(account, query).await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %write.payout.account_id, payout_id = %write.payout.id, state = write.payout.state.as_str()))]
    async fn settle_payout(&self, write: &SettlePayout) -> Result<WriteOutcome, StoreError> {
        if !distinct_events(&write.events) {
            return Ok(WriteOutcome::Conflict);
        }
        check_settlement(write).map_err(refusing)?;
        let mut items = vec![settled_payout_put(&self.table, &write.payout)?];
        for entry in &write.splits {
            items.push(settled_split_put(&self.table, entry, &write.payout)?);
        }
        items.extend(ledger_events_outbox(
            &self.table,
            write.movement.as_ref(),
            &write.events,
            &write.outbox,
        )?);
        let settlement = write
            .recipient
            .as_ref()
            .map(|settlement| (settlement, &write.payout.recipient));
        for change in changes_of(&[], write.totals.iter(), settlement) {
            items.push(recipient_change_update(
                &self.table,
                &write.payout.account_id,
                &change,
            )?);
        }
        let witnesses = witnesses(write.movement.as_ref(), &write.events);
        self.settlement_write("settle_payout", items, witnesses)
            .await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %write.payout.account_id, payout_id = %write.payout.id, recipient = write.recipient.is_some()))]
    async fn decide_netting(&self, write: &DecideNetting) -> Result<WriteOutcome, StoreError> {
        check_netting(write).map_err(refusing)?;
        let mut items = vec![deductions_update(&self.table, &write.payout)?];
        if let Some(recipient) = &write.recipient {
            let taken = write.payout.deductions.as_deref().unwrap_or_default();
            items.push(netting_update(&self.table, recipient, taken)?);
        }
        // No witness: nothing but this payout's own item says the netting was made, and its
        // deductions may be an empty list. After persistent conflicts the caller re-reads the
        // payout (as after any Conflict) and finds them decided or not.
        self.settlement_write("decide_netting", items, Vec::new())
            .await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, payout_id = %id))]
    async fn get_payout(&self, id: &PayoutId) -> Result<Option<Payout>, StoreError> {
        let Some(item) = self.get_item(payout_pk(id), SK_PAYOUT).await? else {
            return Ok(None);
        };
        let payout = payout_from_item(item)?;
        if &payout.id != id {
            return Err(StoreError::Corrupt(format!(
                "payout {} stored under {id}",
                payout.id
            )));
        }
        Ok(Some(payout))
    }
}
