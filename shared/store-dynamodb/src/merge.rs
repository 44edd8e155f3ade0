//! Oldest-first reads of a set of sharded index partitions, k-way merged by sort key: the
//! listing side of write sharding (an account's SCHEDULED splits are spread over 32 `gsi2`
//! partitions, its events over 32 `gsi1` partitions). Every partition is sorted by the same kind of key, so the merged order is
//! global and a position (a sort key) is every partition's position at once.
//!
//! Each partition is read in chunks of about its share of the page; a partition whose chunk
//! is used up is re-queried from its `LastEvaluatedKey` before the next pick (its next item may
//! be the smallest of all). Memory stays near one page, and a page reads only a little more
//! than it returns.

use std::collections::VecDeque;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt};
use pixgw_domain::error::StoreError;

use crate::DynamoStore;
use crate::errors;
use crate::keys::{Item, s};

/// How many partitions are queried at once.
const QUERY_CONCURRENCY: usize = 8;

/// What to read of every partition: one index, a sort-key range.
pub(crate) struct ShardedRange<'a> {
    pub index: &'static str,
    pub pk_attr: &'static str,
    pub sk_attr: &'static str,
    /// Exclusive lower bound of the sort key (the position to continue after).
    pub after: Option<&'a str>,
    /// Inclusive upper bound of the sort key.
    pub upper: Option<&'a str>,
}

/// One partition's read position: items fetched but not yet merged, and where its next Query
/// starts (`None` once `started`: exhausted).
struct Reader<T> {
    pk: String,
    buffer: VecDeque<(String, T)>,
    next: Option<Item>,
    started: bool,
}

impl<T> Reader<T> {
    fn exhausted(&self) -> bool {
        self.started && self.next.is_none()
    }
}

impl DynamoStore {
    /// Up to `limit` items of the partitions `pks` in ascending sort-key order, strictly after
    /// `range.after`, each decoded by `decode`.
    pub(crate) async fn merged_ascending<T, F>(
        &self,
        pks: Vec<String>,
        range: &ShardedRange<'_>,
        limit: usize,
        decode: &F,
    ) -> Result<Vec<T>, StoreError>
    where
        T: Send,
        F: Fn(Item) -> Result<T, StoreError> + Sync,
    {
        if limit == 0 || pks.is_empty() {
            return Ok(Vec::new());
        }
        let chunk = limit.div_ceil(pks.len()).max(4) + 1;
        // Readers are moved into their queries and back (not borrowed), so the first round
        // runs the partitions concurrently.
        let mut readers: Vec<Reader<T>> = futures::stream::iter(pks)
            .map(|pk| {
                let reader = Reader {
                    pk,
                    buffer: VecDeque::new(),
                    next: None,
                    started: false,
                };
                self.refill_shard(reader, range, chunk, decode)
            })
            .buffer_unordered(QUERY_CONCURRENCY)
            .try_collect()
            .await?;
        let mut page = Vec::with_capacity(limit);
        while page.len() < limit {
            let smallest = readers
                .iter()
                .enumerate()
                .filter_map(|(i, r)| r.buffer.front().map(|(sort, _)| (sort, i)))
                .min()
                .map(|(_, i)| i);
            let Some(i) = smallest else { break };
            let Some((_, value)) = readers[i].buffer.pop_front() else {
                break;
            };
            page.push(value);
            if readers[i].buffer.is_empty() && !readers[i].exhausted() {
                let reader = readers.swap_remove(i);
                readers.push(self.refill_shard(reader, range, chunk, decode).await?);
            }
        }
        Ok(page)
    }

    /// Fills a reader's buffer with its partition's next chunk (at most `chunk` items).
    async fn refill_shard<T, F>(
        &self,
        mut reader: Reader<T>,
        range: &ShardedRange<'_>,
        chunk: usize,
        decode: &F,
    ) -> Result<Reader<T>, StoreError>
    where
        F: Fn(Item) -> Result<T, StoreError>,
    {
        // A Query may return nothing yet more (size limits); loop until items or the end.
        while reader.buffer.is_empty() && !reader.exhausted() {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(range.index)
                .expression_attribute_names("#pk", range.pk_attr)
                .expression_attribute_values(":pk", s(reader.pk.clone()))
                .limit(i32::try_from(chunk).unwrap_or(i32::MAX))
                .set_exclusive_start_key(reader.next.take());
            let query = match (range.after, range.upper) {
                // BETWEEN is inclusive: the item at `after` itself is dropped below.
                (Some(after), Some(upper)) => query
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :after AND :upper")
                    .expression_attribute_names("#sk", range.sk_attr)
                    .expression_attribute_values(":after", s(after))
                    .expression_attribute_values(":upper", s(upper)),
                (Some(after), None) => query
                    .key_condition_expression("#pk = :pk AND #sk > :after")
                    .expression_attribute_names("#sk", range.sk_attr)
                    .expression_attribute_values(":after", s(after)),
                (None, Some(upper)) => query
                    .key_condition_expression("#pk = :pk AND #sk <= :upper")
                    .expression_attribute_names("#sk", range.sk_attr)
                    .expression_attribute_values(":upper", s(upper)),
                (None, None) => query.key_condition_expression("#pk = :pk"),
            };
            let out = query
                .send()
                .await
                .map_err(|err| errors::unavailable("Query", &err))?;
            reader.started = true;
            for item in out.items.unwrap_or_default() {
                let sort = match item.get(range.sk_attr) {
                    Some(AttributeValue::S(sort)) => sort.clone(),
                    _ => {
                        return Err(StoreError::Corrupt(format!(
                            "item of {} without {}",
                            reader.pk, range.sk_attr
                        )));
                    }
                };
                if Some(sort.as_str()) == range.after {
                    continue;
                }
                reader.buffer.push_back((sort, decode(item)?));
            }
            reader.next = out.last_evaluated_key.filter(|k| !k.is_empty());
        }
        Ok(reader)
    }
}
