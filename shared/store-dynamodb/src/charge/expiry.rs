//! The expiry index (`gsi3`, sparse): PENDING charges by `expiresAt`, spread over
//! [`EXPIRY_SHARDS`] partitions by a stable hash of the transaction id. A charge carries the
//! keys from its insert while PENDING; every write that moves it out of PENDING (confirmation,
//! a transition) removes them in the same write.

use futures::{StreamExt, TryStreamExt};
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::error::StoreError;
use tracing::debug;

use chrono::{DateTime, Utc};

use crate::DynamoStore;
use crate::errors;
use crate::keys::{
    EXPIRY_SHARDS, GSI3PK, GSI3SK, Item, due_schedules_upper_bound, expiry_shard_pk, s,
};
use crate::table::GSI3;

use super::charge_from_item;

/// How many expiry partitions are queried at once.
const EXPIRY_QUERY_CONCURRENCY: usize = 8;

impl DynamoStore {
    /// Up to `limit` PENDING charges with `expires_at ≤ now`, soonest first: each partition is
    /// read oldest first up to `limit` due charges (`gsi3sk < {now+1 ms:015}`), then merged.
    /// The index lags the table a moment, so an entry whose charge is no longer PENDING is
    /// skipped (the sweeper's transition re-checks the status anyway).
    pub(super) async fn read_expired_pending(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Charge>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let upper = due_schedules_upper_bound(now.timestamp_millis());
        let parts: Vec<Vec<Charge>> = futures::stream::iter(0..EXPIRY_SHARDS)
            .map(|shard| self.read_expiry_partition(shard, &upper, now, limit))
            .buffer_unordered(EXPIRY_QUERY_CONCURRENCY)
            .try_collect()
            .await?;
        let mut charges: Vec<Charge> = parts.into_iter().flatten().collect();
        charges.sort_by(|a, b| {
            (a.expires_at, &a.transaction_id).cmp(&(b.expires_at, &b.transaction_id))
        });
        charges.truncate(limit);
        debug!(count = charges.len(), "expired pending charges");
        Ok(charges)
    }

    async fn read_expiry_partition(
        &self,
        shard: u32,
        upper: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Charge>, StoreError> {
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
                .expression_attribute_values(":pk", s(expiry_shard_pk(shard)))
                .expression_attribute_values(":hi", s(upper))
                .scan_index_forward(true)
                .limit(i32::try_from(limit - found.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| errors::unavailable("Query", &err))?;
            for item in out.items.unwrap_or_default() {
                let charge = charge_from_item(item)?;
                if charge.status == ChargeStatus::Pending && charge.expires_at <= now {
                    found.push(charge);
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
