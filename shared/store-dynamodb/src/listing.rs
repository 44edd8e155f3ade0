//! Newest-first listings of an account's items in an index partition, between sort-key
//! bounds: charges (`gsi1`: all, `gsi2`: one status, [`crate::charge`]), payouts (`gsi1`: all
//! listable, `gsi2`: one state, [`crate::payout`]), cash-outs and disputes (likewise,
//! [`crate::cash_out`], [`crate::dispute`]).
//!
//! The partition key of the query is always built from the account id argument; the cursor
//! and `from`/`to` only narrow the sort-key range inside that partition (see
//! [`crate::keys::sort_range`], [`crate::keys::payout_sort_range`]), so no cursor can reach
//! another account's items.

use aws_sdk_dynamodb::types::AttributeValue;
use pixgw_domain::error::StoreError;

use crate::DynamoStore;
use crate::errors;
use crate::keys::{Item, s};

/// The ports promise 1..=100; anything else is clamped rather than sent to DynamoDB.
pub(crate) const MAX_LIMIT: u32 = 100;

/// One newest-first read of an index partition, between sort-key bounds.
pub(crate) struct NewestFirst {
    pub(crate) index: &'static str,
    pub(crate) pk_attr: &'static str,
    pub(crate) sk_attr: &'static str,
    pub(crate) pk: String,
    /// Inclusive lower bound of the sort key.
    pub(crate) lower: Option<String>,
    /// Exclusive upper bound of the sort key.
    pub(crate) upper: Option<String>,
    pub(crate) limit: usize,
}

impl DynamoStore {
    /// Reads `q` newest first until `limit + 1` items are accepted (one more than asked, to
    /// know whether another page exists) or the partition range ends. `accept` decodes an
    /// item, or skips it (`None`) without counting it, so a page is full whenever more items
    /// exist. Returns at most `limit` items and whether more follow.
    pub(crate) async fn query_newest_first<T>(
        &self,
        q: NewestFirst,
        mut accept: impl FnMut(Item) -> Result<Option<T>, StoreError>,
    ) -> Result<(Vec<T>, bool), StoreError> {
        let condition = match (&q.lower, &q.upper) {
            (None, None) => "#pk = :pk",
            (Some(_), None) => "#pk = :pk AND #sk >= :lo",
            (None, Some(_)) => "#pk = :pk AND #sk < :hi",
            // BETWEEN is inclusive: an item exactly at `:hi` (the cursor's own item, or the
            // first key of the `to` bound's millisecond, which no item has) is dropped below.
            (Some(_), Some(_)) => "#pk = :pk AND #sk BETWEEN :lo AND :hi",
        };
        let drop_at = match (&q.lower, &q.upper) {
            (Some(_), Some(hi)) => Some(AttributeValue::S(hi.clone())),
            _ => None,
        };
        let limit = q.limit;
        let mut found: Vec<T> = Vec::with_capacity(limit + 1);
        let mut start: Option<Item> = None;
        let mut dropped = false;
        loop {
            let wanted = limit + 1 - found.len() + usize::from(drop_at.is_some() && !dropped);
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(q.index)
                .key_condition_expression(condition)
                .expression_attribute_names("#pk", q.pk_attr)
                .expression_attribute_values(":pk", s(q.pk.clone()))
                .scan_index_forward(false)
                .limit(i32::try_from(wanted).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            if q.lower.is_some() || q.upper.is_some() {
                request = request.expression_attribute_names("#sk", q.sk_attr);
            }
            if let Some(lo) = &q.lower {
                request = request.expression_attribute_values(":lo", s(lo.clone()));
            }
            if let Some(hi) = &q.upper {
                request = request.expression_attribute_values(":hi", s(hi.clone()));
            }
            let out = request
                .send()
                .await
                .map_err(|err| errors::unavailable("Query", &err))?;
            for item in out.items.unwrap_or_default() {
                if drop_at.is_some() && item.get(q.sk_attr) == drop_at.as_ref() {
                    dropped = true;
                    continue;
                }
                if let Some(value) = accept(item)? {
                    found.push(value);
                }
            }
            match out.last_evaluated_key {
                Some(key) if found.len() <= limit && !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        let more = found.len() > limit;
        found.truncate(limit);
        Ok((found, more))
    }
}
