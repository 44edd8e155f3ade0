//! The charges' two due indexes, both on the sparse `gsi3` and both spread over 16 partitions
//! by a stable hash of the transaction id ([`EXPIRY_SHARDS`], [`HOLD_SHARDS`]), soonest first
//! within a partition:
//!
//! - **expiry** (`EXPIRY#{shard:02}`, `{expiresAtMs:015}#{transactionId}`): PENDING charges. A
//!   charge carries the keys from its insert while PENDING; every write that moves it out of
//!   PENDING (confirmation, a transition) removes them in the same write.
//! - **hold** (`HOLD#{shard:02}`, `{untilMs:015}#{transactionId}`): charges whose cautelar hold
//!   is HELD. A held confirmation SETs the keys; the transition that releases or returns the
//!   hold (a whole-charge replacement) removes them in the same write.
//!
//! Both are read the same way: every partition up to `limit` due entries
//! (`gsi3sk < {now+1 ms:015}`), from the index projection (ALL), merged soonest first and cut
//! to `limit`. The index lags the table a moment, so an entry whose projected charge no longer
//! belongs there (no longer PENDING, no longer HELD) is skipped; one that left the table's
//! state after the projection was written can still be handed back, which is why the callers'
//! writes re-check (a transition conditioned on the status and refund revision read).

use futures::{StreamExt, TryStreamExt};
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::error::StoreError;
use tracing::debug;

use chrono::{DateTime, Utc};

use crate::DynamoStore;
use crate::errors;
use crate::keys::{
    EXPIRY_SHARDS, GSI3PK, GSI3SK, HOLD_SHARDS, Item, due_schedules_upper_bound, expiry_shard_pk,
    hold_shard_pk, s,
};
use crate::table::GSI3;

use super::charge_from_item;

/// How many partitions of a due index are queried at once.
const DUE_QUERY_CONCURRENCY: usize = 8;

/// One of the charges' due indexes on `gsi3`.
#[derive(Debug, Clone, Copy)]
pub(super) struct DueIndex {
    /// For the logs.
    name: &'static str,
    shards: u32,
    shard_pk: fn(u32) -> String,
    /// When the charge (as the index projected it) falls due, if it still belongs in the
    /// index: its sort time, which is also the merge order.
    due_time: fn(&Charge) -> Option<DateTime<Utc>>,
}

/// PENDING charges by `expiresAt`.
pub(super) const EXPIRY: DueIndex = DueIndex {
    name: "expiry",
    shards: EXPIRY_SHARDS,
    shard_pk: expiry_shard_pk,
    due_time: |c| (c.status == ChargeStatus::Pending).then_some(c.expires_at),
};

/// Charges whose cautelar hold is HELD, by the hold's `until`.
pub(super) const HOLD: DueIndex = DueIndex {
    name: "hold",
    shards: HOLD_SHARDS,
    shard_pk: hold_shard_pk,
    due_time: |c| c.hold.as_ref().filter(|_| c.is_held()).map(|h| h.until),
};

impl DynamoStore {
    /// Up to `limit` charges of `index` due at `now` (due time ≤ `now`), soonest first (ties by
    /// transaction id): each partition is read oldest first up to `limit` due charges, then
    /// merged.
    pub(super) async fn read_due(
        &self,
        index: DueIndex,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Charge>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let upper = due_schedules_upper_bound(now.timestamp_millis());
        let parts: Vec<Vec<(DateTime<Utc>, Charge)>> = futures::stream::iter(0..index.shards)
            .map(|shard| self.read_due_partition(index, shard, &upper, now, limit))
            .buffer_unordered(DUE_QUERY_CONCURRENCY)
            .try_collect()
            .await?;
        let mut due: Vec<(DateTime<Utc>, Charge)> = parts.into_iter().flatten().collect();
        due.sort_by(|(a_at, a), (b_at, b)| {
            (a_at, &a.transaction_id).cmp(&(b_at, &b.transaction_id))
        });
        due.truncate(limit);
        debug!(index = index.name, count = due.len(), "due charges");
        Ok(due.into_iter().map(|(_, charge)| charge).collect())
    }

    async fn read_due_partition(
        &self,
        index: DueIndex,
        shard: u32,
        upper: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(DateTime<Utc>, Charge)>, StoreError> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI3)
                .key_condition_expression("#pk = :pk AND #sk < :hi")
                .expression_attribute_names("#pk", GSI3PK)
                .expression_attribute_names("#sk", GSI3SK)
                .expression_attribute_values(":pk", s((index.shard_pk)(shard)))
                .expression_attribute_values(":hi", s(upper))
                .scan_index_forward(true)
                .limit(i32::try_from(limit - found.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| errors::unavailable("Query", &err))?;
            for item in out.items.unwrap_or_default() {
                let charge = charge_from_item(item)?;
                if let Some(at) = (index.due_time)(&charge).filter(|at| *at <= now) {
                    found.push((at, charge));
                }
            }
            match out.last_evaluated_key {
                Some(key) if found.len() < limit && !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(found)
    }
}
