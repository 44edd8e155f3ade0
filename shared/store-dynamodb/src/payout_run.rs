//! [`PayoutRunStore`] on the single table (see the crate docs for the items and indexes).
//!
//! - The run lease lives on the schedule item (`leaseRunId`, `leaseWindowMs`, `leaseUntilMs`);
//!   claiming and finishing a window are conditional UpdateItems on it, each adding 1 to
//!   `version` (so a racing `put_schedule` fails its version check and re-reads, and
//!   `put_schedule` never writes the lease attributes).
//! - SCHEDULED splits are read from their 32 `gsi2` shards of the account, merged in index
//!   order `(createdAt, transactionId, index)` = `gsi2sk` order. That order is global, so the
//!   port's cursor (the last split returned) is also every shard's position: each shard is
//!   read strictly after it.
//! - Attaching is ONE `TransactWriteItems` (≤ 99 split Updates + 1 payout Update): the payout
//!   is created or grows through `ADD` + `if_not_exists`, and each split moves SCHEDULED →
//!   PROCESSING, leaving `gsi2` (the scheduled index) and entering `gsi1` (the payout's
//!   manifest). Every item is conditioned on what the embedded adapter checks; any failed
//!   condition is [`WriteOutcome::Conflict`].
//! - An ASSEMBLING payout carries `gsi2` keys of its window (sparse) and no listing keys. The
//!   release reads the payout (its account and creation time make the listing keys), then one
//!   transaction (payout Update + outbox Puts) moves it to PROCESSING and replaces the
//!   assembling keys by the listing keys (`gsi1`: all the account's payouts, `gsi2`: its
//!   PROCESSING ones), so an ASSEMBLING payout is never listed.
//! - Reading a scheduled payout's manifest, settling it chunk by chunk and listing payouts are
//!   [`PayoutStore`](pixgw_domain::payout::ports::PayoutStore) ([`crate::payout`]).

use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::messaging::outbox::OutboxMessage;
use pixgw_domain::payout::runs::{AttachSplits, PayoutRunStore, ScheduledSplitCursor};
use pixgw_domain::payout::{Payout, PayoutId, PayoutState, PayoutTrigger};
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::schedule::ports::ScheduleState;
use pixgw_domain::schedule::record::ScheduleRecord;
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use serde_dynamo::aws_sdk_dynamodb_1::from_item;
use tracing::{debug, instrument};

use crate::DynamoStore;
use crate::errors::{self, SingleWrite, still_conflicting};
use crate::items::{ACCOUNT_ID, PAYOUT_ID, REFUNDED, STATE, UPDATED_AT, num, string_attr};
use crate::keys::{
    ENTITY, GSI1PK, GSI1SK, GSI2PK, GSI2SK, Item, PK, SCHEDULE_SHARDS, SK_PAYOUT, SK_SCHEDULE,
    account_pk, assembling_payouts_pk, charge_pk, created_id_sort_key, due_schedule_sort_key,
    due_schedules_pk, due_schedules_upper_bound, n, payout_manifest_pk, payout_manifest_sort_key,
    payout_pk, payouts_by_account_pk, payouts_by_state_pk, primary_key, s,
    scheduled_split_sort_key, scheduled_splits_pks, scheduled_splits_upper_bound, split_sk,
};
use crate::ledger_write::MAX_TRANSACT_ITEMS;
use crate::merge::ShardedRange;
use crate::outbox::outbox_item;
use crate::payout::payout_from_item;
use crate::schedule::{LEASE_RUN_ID, LEASE_UNTIL, LEASE_WINDOW};
use crate::split::{refunded_condition, split_from_item};
use crate::table::{GSI1, GSI2};
use crate::transact::{TransactFailure, put_new, transact_write};

/// The most splits one `AttachSplits` may carry here: DynamoDB's 100-item transaction limit
/// minus the payout item.
pub const MAX_SPLITS_PER_ATTACH: usize = 99;

/// How many index partitions are queried at once (the 16 due partitions, the 32 split shards).
const QUERY_CONCURRENCY: usize = 8;

/// Record attributes the expressions name (as `serde` writes them, camelCase).
const CREATED_AT: &str = "createdAtMs";
const VERSION: &str = "version";
const NEXT_RUN_AT: &str = "nextRunAtMs";
const SPLIT: &str = "split";
const SPLIT_PIX_KEY: &str = "pixKey";
const SPLIT_PIX_KEY_TYPE: &str = "pixKeyType";
const SPLIT_DOCUMENT: &str = "document";
const SPLIT_AMOUNT: &str = "amountCents";

const UPDATE: &str = "UpdateItem";
const QUERY: &str = "Query";

/// The payout Update of an attach: created ASSEMBLING (every descriptive attribute set only if
/// absent) or grown (`ADD`); conditioned like the embedded adapter: absent, or ASSEMBLING of
/// the same account and recipient.
fn payout_attach_update(
    table: &str,
    write: &AttachSplits,
    total_cents: i64,
    count: u64,
) -> Result<TransactWriteItem, StoreError> {
    let header = &write.payout;
    let now_ms = write.now.timestamp_millis();
    // Checked here although the listing keys are only written at the release: a payout that
    // could never be listed must not be created.
    if created_id_sort_key(now_ms, header.id.as_str()).is_none() {
        return Err(StoreError::Corrupt(format!(
            "payout {} created outside the sortable range",
            header.id
        )));
    }
    let (key_type, key, document) = header.recipient.grouping_key();
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(primary_key(payout_pk(&header.id), SK_PAYOUT)))
        .update_expression(
            "ADD #amount :amount, #count :count \
             SET #state = :assembling, #updated = :now, \
             #entity = if_not_exists(#entity, :entity), \
             #pid = if_not_exists(#pid, :pid), #acc = if_not_exists(#acc, :acc), \
             #trigger = if_not_exists(#trigger, :trigger), \
             #rkey = if_not_exists(#rkey, :rkey), #rtype = if_not_exists(#rtype, :rtype), \
             #rname = if_not_exists(#rname, :rname), #rdoc = if_not_exists(#rdoc, :rdoc), \
             #splits = if_not_exists(#splits, :nosplits), \
             #created = if_not_exists(#created, :now), \
             #g2pk = :g2pk, #g2sk = :g2sk",
        )
        .condition_expression(
            "attribute_not_exists(#pk) OR (#state = :assembling AND #acc = :acc \
             AND #rkey = :rkey AND #rtype = :rtype AND #rdoc = :rdoc)",
        )
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#amount", "amountCents")
        .expression_attribute_names("#count", "splitCount")
        .expression_attribute_names("#state", STATE)
        .expression_attribute_names("#updated", UPDATED_AT)
        .expression_attribute_names("#entity", ENTITY)
        .expression_attribute_names("#pid", PAYOUT_ID)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_names("#trigger", "trigger")
        .expression_attribute_names("#rkey", "recipientPixKey")
        .expression_attribute_names("#rtype", "recipientPixKeyType")
        .expression_attribute_names("#rname", "recipientName")
        .expression_attribute_names("#rdoc", "recipientDocument")
        .expression_attribute_names("#splits", "splits")
        .expression_attribute_names("#created", "createdAtMs")
        .expression_attribute_names("#g2pk", GSI2PK)
        .expression_attribute_names("#g2sk", GSI2SK)
        .expression_attribute_values(":amount", n(total_cents))
        .expression_attribute_values(":count", num(count))
        .expression_attribute_values(":assembling", s(PayoutState::Assembling.as_str()))
        .expression_attribute_values(":now", n(now_ms))
        .expression_attribute_values(":entity", s(SK_PAYOUT))
        .expression_attribute_values(":pid", s(header.id.to_string()))
        .expression_attribute_values(":acc", s(header.account_id.to_string()))
        .expression_attribute_values(":trigger", s(PayoutTrigger::Scheduled.as_str()))
        .expression_attribute_values(":rkey", s(key))
        .expression_attribute_values(":rtype", s(key_type))
        .expression_attribute_values(":rname", s(header.recipient.name.clone()))
        .expression_attribute_values(":rdoc", s(document))
        .expression_attribute_values(":nosplits", AttributeValue::L(Vec::new()))
        .expression_attribute_values(
            ":g2pk",
            s(assembling_payouts_pk(
                &header.account_id,
                header.window.timestamp_millis(),
            )),
        )
        .expression_attribute_values(":g2sk", s(header.id.to_string()))
        .build()
        .map_err(|e| errors::build_failed(UPDATE, &e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// SCHEDULED → PROCESSING of one split: into the payout and its manifest, out of the
/// scheduled index. The condition re-checks, on the STORED split, everything the embedded
/// adapter checks (state, account, recipient) plus what the caller summed into the payout —
/// the share and what refunds took of it (`refundedCents`, absent while 0: a refund may reduce
/// a SCHEDULED split between the read and this write) — so the payout's total is the stored
/// splits' payable total.
fn split_attach_update(
    table: &str,
    write: &AttachSplits,
    split: &SplitEntry,
) -> Result<TransactWriteItem, StoreError> {
    let (key_type, key, document) = write.payout.recipient.grouping_key();
    let (refunded, refunded_value) = refunded_condition(split.refunded.cents());
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(primary_key(
            charge_pk(&split.transaction_id),
            &split_sk(split.index),
        )))
        .update_expression(
            "SET #state = :processing, #pid = :pid, #updated = :now, \
             #g1pk = :g1pk, #g1sk = :g1sk REMOVE #g2pk, #g2sk",
        )
        .condition_expression(format!(
            "#state = :scheduled AND #acc = :acc AND #split.#key = :key \
             AND #split.#type = :type AND #split.#doc = :doc AND #split.#amount = :amount \
             AND {refunded}"
        ))
        .expression_attribute_names("#state", STATE)
        .expression_attribute_names("#pid", PAYOUT_ID)
        .expression_attribute_names("#updated", UPDATED_AT)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_names("#split", SPLIT)
        .expression_attribute_names("#key", SPLIT_PIX_KEY)
        .expression_attribute_names("#type", SPLIT_PIX_KEY_TYPE)
        .expression_attribute_names("#doc", SPLIT_DOCUMENT)
        .expression_attribute_names("#amount", SPLIT_AMOUNT)
        .expression_attribute_names("#ref", REFUNDED)
        .expression_attribute_names("#g1pk", GSI1PK)
        .expression_attribute_names("#g1sk", GSI1SK)
        .expression_attribute_names("#g2pk", GSI2PK)
        .expression_attribute_names("#g2sk", GSI2SK)
        .expression_attribute_values(":processing", s(SplitState::Processing.as_str()))
        .expression_attribute_values(":scheduled", s(SplitState::Scheduled.as_str()))
        .expression_attribute_values(":pid", s(write.payout.id.to_string()))
        .expression_attribute_values(":now", n(write.now.timestamp_millis()))
        .expression_attribute_values(":acc", s(write.payout.account_id.to_string()))
        .expression_attribute_values(":key", s(key))
        .expression_attribute_values(":type", s(key_type))
        .expression_attribute_values(":doc", s(document))
        .expression_attribute_values(":amount", n(split.split.amount.cents()))
        .expression_attribute_values(":ref", refunded_value)
        .expression_attribute_values(":g1pk", s(payout_manifest_pk(&write.payout.id)))
        .expression_attribute_values(
            ":g1sk",
            s(payout_manifest_sort_key(&split.transaction_id, split.index)),
        )
        .build()
        .map_err(|e| errors::build_failed(UPDATE, &e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// ASSEMBLING → PROCESSING of a payout, leaving the assembling index and entering the
/// listings (`gsi1` all, `gsi2` PROCESSING, both sorted by its creation). `stored` is the
/// payout as read just before: its account and creation time make the listing keys, and the
/// condition re-checks both with the state, so the keys are those of the item written.
fn release_update(
    table: &str,
    stored: &Payout,
    now: DateTime<Utc>,
) -> Result<TransactWriteItem, StoreError> {
    let created_ms = stored.created_at.timestamp_millis();
    let sort = created_id_sort_key(created_ms, stored.id.as_str()).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "payout {} created outside the sortable range",
            stored.id
        ))
    })?;
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(primary_key(payout_pk(&stored.id), SK_PAYOUT)))
        .update_expression(
            "SET #state = :processing, #updated = :now, #g1pk = :g1pk, #g1sk = :sort, \
             #g2pk = :g2pk, #g2sk = :sort",
        )
        // A missing payout has no state, so this fails for it too.
        .condition_expression("#state = :assembling AND #acc = :acc AND #created = :created")
        .expression_attribute_names("#state", STATE)
        .expression_attribute_names("#updated", UPDATED_AT)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_names("#created", CREATED_AT)
        .expression_attribute_names("#g1pk", GSI1PK)
        .expression_attribute_names("#g1sk", GSI1SK)
        .expression_attribute_names("#g2pk", GSI2PK)
        .expression_attribute_names("#g2sk", GSI2SK)
        .expression_attribute_values(":assembling", s(PayoutState::Assembling.as_str()))
        .expression_attribute_values(":processing", s(PayoutState::Processing.as_str()))
        .expression_attribute_values(":now", n(now.timestamp_millis()))
        .expression_attribute_values(":acc", s(stored.account_id.to_string()))
        .expression_attribute_values(":created", n(created_ms))
        .expression_attribute_values(":g1pk", s(payouts_by_account_pk(&stored.account_id)))
        .expression_attribute_values(
            ":g2pk",
            s(payouts_by_state_pk(
                &stored.account_id,
                PayoutState::Processing,
            )),
        )
        .expression_attribute_values(":sort", s(sort))
        .build()
        .map_err(|e| errors::build_failed(UPDATE, &e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

impl DynamoStore {
    /// One conditional UpdateItem on a schedule item (claim / finish).
    async fn schedule_update(
        &self,
        what: &'static str,
        account: &AccountId,
        build: impl Fn(
            aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
        )
            -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> Result<WriteOutcome, StoreError> {
        let written = errors::write_retrying_conflicts(UPDATE, || {
            build(
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(primary_key(account_pk(account), SK_SCHEDULE))),
            )
            .send()
        })
        .await?;
        match written {
            SingleWrite::Written => Ok(WriteOutcome::Applied),
            SingleWrite::ConditionFailed => {
                debug!(what, "schedule condition failed; nothing written");
                Ok(WriteOutcome::Conflict)
            }
            SingleWrite::StillConflicting => Err(still_conflicting(what)),
        }
    }

    /// A run transaction: Applied, or Conflict on any failed condition.
    async fn run_transaction(
        &self,
        what: &'static str,
        items: Vec<TransactWriteItem>,
    ) -> Result<WriteOutcome, StoreError> {
        match transact_write(&self.client, items).await {
            Ok(()) => Ok(WriteOutcome::Applied),
            Err(TransactFailure::Cancelled { codes, .. }) => {
                debug!(what, reasons = %codes, "condition failed, nothing written");
                Ok(WriteOutcome::Conflict)
            }
            Err(TransactFailure::StillConflicting) => Err(still_conflicting(what)),
            Err(TransactFailure::Store(err)) => Err(err),
        }
    }

    /// Due schedules of one due partition, oldest first, at most `limit`.
    async fn due_partition(
        &self,
        shard: u32,
        upper: &str,
        limit: usize,
    ) -> Result<Vec<(String, ScheduleState)>, StoreError> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        while found.len() < limit {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("#pk = :pk AND #sk < :upper")
                .expression_attribute_names("#pk", GSI1PK)
                .expression_attribute_names("#sk", GSI1SK)
                .expression_attribute_values(":pk", s(due_schedules_pk(shard)))
                .expression_attribute_values(":upper", s(upper))
                .limit(i32::try_from(limit - found.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| errors::unavailable(QUERY, &err))?;
            for item in out.items.unwrap_or_default() {
                let sort = string_attr(&item, GSI1SK, "due schedule")?.to_owned();
                let record: ScheduleRecord =
                    from_item(item).map_err(|e| errors::corrupt("payout schedule", &e))?;
                found.push((sort, ScheduleState::try_from(record)?));
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl PayoutRunStore for DynamoStore {
    fn max_splits_per_attach(&self) -> usize {
        MAX_SPLITS_PER_ATTACH
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, limit))]
    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ScheduleState>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let upper = due_schedules_upper_bound(now.timestamp_millis());
        // Each partition is already oldest first; the oldest `limit` overall are among the
        // oldest `limit` of each partition.
        let partitions: Vec<Vec<(String, ScheduleState)>> =
            futures::stream::iter(0..SCHEDULE_SHARDS)
                .map(|shard| self.due_partition(shard, &upper, limit))
                .buffer_unordered(QUERY_CONCURRENCY)
                .try_collect()
                .await?;
        let mut due: Vec<(String, ScheduleState)> = partitions.into_iter().flatten().collect();
        due.sort_by(|a, b| a.0.cmp(&b.0));
        due.truncate(limit);
        debug!(count = due.len(), "due schedules");
        Ok(due.into_iter().map(|(_, state)| state).collect())
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account, run_id))]
    async fn claim_window(
        &self,
        account: &AccountId,
        window: DateTime<Utc>,
        run_id: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, StoreError> {
        self.schedule_update("claim_window", account, |update| {
            update
                .update_expression(
                    "SET #run = :run, #window = :window, #until = :until, #updated = :now \
                     ADD #version :one",
                )
                // An expired lease may only be taken over to continue its own window; with
                // no lease, the window must be due and not already paid.
                .condition_expression(
                    "attribute_exists(#pk) AND ((attribute_exists(#until) AND #until <= :now \
                     AND #window = :window) OR (attribute_not_exists(#until) \
                     AND #next <= :window))",
                )
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#run", LEASE_RUN_ID)
                .expression_attribute_names("#window", LEASE_WINDOW)
                .expression_attribute_names("#until", LEASE_UNTIL)
                .expression_attribute_names("#updated", UPDATED_AT)
                .expression_attribute_names("#version", VERSION)
                .expression_attribute_names("#next", NEXT_RUN_AT)
                .expression_attribute_values(":run", s(run_id))
                .expression_attribute_values(":window", n(window.timestamp_millis()))
                .expression_attribute_values(":until", n(lease_until.timestamp_millis()))
                .expression_attribute_values(":now", n(now.timestamp_millis()))
                .expression_attribute_values(":one", num(1))
        })
        .await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account, limit))]
    async fn scheduled_splits_page(
        &self,
        account: &AccountId,
        cutoff: DateTime<Utc>,
        after: Option<&ScheduledSplitCursor>,
        limit: usize,
    ) -> Result<(Vec<SplitEntry>, Option<ScheduledSplitCursor>), StoreError> {
        let Some(upper) = scheduled_splits_upper_bound(cutoff.timestamp_millis()) else {
            return Ok((Vec::new(), None));
        };
        let lower = match after {
            None => None,
            Some(c) => match scheduled_split_sort_key(
                c.created_at.timestamp_millis(),
                &c.transaction_id,
                c.index,
            ) {
                Some(key) => Some(key),
                // Before 1970: every stored split is after it.
                None if c.created_at.timestamp_millis() < 0 => None,
                // Beyond the sortable range: nothing is after it.
                None => return Ok((Vec::new(), None)),
            },
        };
        if limit == 0 || lower.as_deref().is_some_and(|lo| lo > upper.as_str()) {
            return Ok((Vec::new(), None));
        }
        // A k-way merge over the 32 shards (see `crate::merge`): `gsi2sk` order is the
        // port's index order.
        let range = ShardedRange {
            index: GSI2,
            pk_attr: GSI2PK,
            sk_attr: GSI2SK,
            after: lower.as_deref(),
            upper: Some(&upper),
        };
        let decode = |item: Item| {
            let split = split_from_item(item)?;
            if split.account_id != *account || split.state != SplitState::Scheduled {
                return Err(StoreError::Corrupt(format!(
                    "split {}#{} listed as SCHEDULED of {account}",
                    split.transaction_id, split.index
                )));
            }
            Ok(split)
        };
        let page = self
            .merged_ascending(scheduled_splits_pks(account), &range, limit, &decode)
            .await?;
        let more = page.len() == limit;
        let next = more
            .then(|| page.last().map(ScheduledSplitCursor::after))
            .flatten();
        debug!(count = page.len(), "scheduled splits page");
        Ok((page, next))
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, payout_id = %write.payout.id, splits = write.splits.len()))]
    async fn attach_splits(&self, write: &AttachSplits) -> Result<WriteOutcome, StoreError> {
        if write.splits.is_empty() || write.splits.len() > MAX_SPLITS_PER_ATTACH {
            return Ok(WriteOutcome::Conflict);
        }
        // A transaction may not name an item twice (DynamoDB rejects it as invalid); the
        // embedded adapter answers Conflict, so does this one.
        let mut seen = HashSet::new();
        if !write
            .splits
            .iter()
            .all(|split| seen.insert((&split.transaction_id, split.index)))
        {
            return Ok(WriteOutcome::Conflict);
        }
        let total = write
            .splits
            .iter()
            .try_fold(0i64, |sum, split| sum.checked_add(split.payable().cents()))
            .ok_or_else(|| {
                StoreError::Corrupt(format!("payout {} amount overflow", write.payout.id))
            })?;
        let count = u64::try_from(write.splits.len())
            .map_err(|_| StoreError::Corrupt("attach size".into()))?;
        let mut items = Vec::with_capacity(write.splits.len() + 1);
        items.push(payout_attach_update(&self.table, write, total, count)?);
        for split in &write.splits {
            items.push(split_attach_update(&self.table, write, split)?);
        }
        debug_assert!(items.len() <= MAX_TRANSACT_ITEMS);
        self.run_transaction("attach_splits", items).await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account, limit))]
    async fn assembling_payouts(
        &self,
        account: &AccountId,
        window: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PayoutId>, StoreError> {
        let mut ids = Vec::new();
        let mut start: Option<Item> = None;
        while ids.len() < limit {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI2)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", GSI2PK)
                .expression_attribute_values(
                    ":pk",
                    s(assembling_payouts_pk(account, window.timestamp_millis())),
                )
                .limit(i32::try_from(limit - ids.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| errors::unavailable(QUERY, &err))?;
            for item in out.items.unwrap_or_default() {
                let id = string_attr(&item, PAYOUT_ID, "assembling payout")?;
                ids.push(PayoutId::parse(id).ok_or_else(|| {
                    StoreError::Corrupt(format!("assembling index names {id:?}"))
                })?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(ids)
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, payout_id = %payout))]
    async fn release_payout(
        &self,
        payout: &PayoutId,
        outbox: &[OutboxMessage],
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, StoreError> {
        if outbox.len() + 1 > MAX_TRANSACT_ITEMS {
            return Err(StoreError::Unavailable(format!(
                "release of {payout} needs {} items, more than one transaction holds",
                outbox.len() + 1
            )));
        }
        // The listing keys need the payout's account and creation time: read them first
        // (the update re-checks them, and the state, as its condition).
        let Some(item) = self.get_item(payout_pk(payout), SK_PAYOUT).await? else {
            debug!("no such payout; nothing written");
            return Ok(WriteOutcome::Conflict);
        };
        let stored = payout_from_item(item)?;
        if &stored.id != payout {
            return Err(StoreError::Corrupt(format!(
                "payout {} stored under {payout}",
                stored.id
            )));
        }
        if stored.state != PayoutState::Assembling {
            debug!(
                state = stored.state.as_str(),
                "payout not ASSEMBLING; nothing written"
            );
            return Ok(WriteOutcome::Conflict);
        }
        let mut items = vec![release_update(&self.table, &stored, now)?];
        for message in outbox {
            items.push(put_new(&self.table, outbox_item(message)?)?);
        }
        self.run_transaction("release_payout", items).await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account, run_id, expected_version))]
    async fn finish_window(
        &self,
        account: &AccountId,
        run_id: &str,
        expected_version: u64,
        next_run_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, StoreError> {
        let version = expected_version
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt("payout schedule version overflow".into()))?;
        let next_ms = next_run_at.timestamp_millis();
        self.schedule_update("finish_window", account, |update| {
            update
                // `gsi1sk` follows `nextRunAtMs` in the same write, as in every schedule write.
                .update_expression(
                    "SET #next = :next, #g1sk = :g1sk, #version = :version, #updated = :now \
                     REMOVE #run, #window, #until",
                )
                .condition_expression("#run = :run AND #version = :expected")
                .expression_attribute_names("#next", NEXT_RUN_AT)
                .expression_attribute_names("#g1sk", GSI1SK)
                .expression_attribute_names("#version", VERSION)
                .expression_attribute_names("#updated", UPDATED_AT)
                .expression_attribute_names("#run", LEASE_RUN_ID)
                .expression_attribute_names("#window", LEASE_WINDOW)
                .expression_attribute_names("#until", LEASE_UNTIL)
                .expression_attribute_values(":next", n(next_ms))
                .expression_attribute_values(":g1sk", s(due_schedule_sort_key(next_ms, account)))
                .expression_attribute_values(":version", num(version))
                .expression_attribute_values(":now", n(now.timestamp_millis()))
                .expression_attribute_values(":run", s(run_id))
                .expression_attribute_values(":expected", num(expected_version))
        })
        .await
    }
}
