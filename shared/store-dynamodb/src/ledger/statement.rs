//! The statement: a page of an account's movements, oldest first, through the ledger index
//! (`gsi1` on its [`BALANCE_SHARDS`] `…#LEDGER#{shard}` partitions, sorted by
//! `{createdAtMs:015}#{movementId}`). Every partition is read from the page's start position
//! for at most a page and one more, and the partitions are merged by (createdAt, id): the
//! first `limit + 1` of the merge are exactly the first `limit + 1` of the whole ledger from
//! that position, so the page is its first `limit` and more follow when the one is there.

use futures::{StreamExt, TryStreamExt};
use pixgw_domain::error::StoreError;
use pixgw_domain::ledger::ports::{MAX_MOVEMENTS_PER_PAGE, MovementPage, MovementQuery};
use pixgw_domain::ledger::{BALANCE_SHARDS, Movement};
use pixgw_domain::pix::ids::AccountId;
use tracing::debug;

use super::movement_from_item;
use crate::DynamoStore;
use crate::errors;
use crate::keys::{
    GSI1PK, GSI1SK, Item, MAX_SORTABLE_MS, ceil_ms, created_id_sort_key, ledger_pk, s, time_prefix,
};
use crate::table::GSI1;

/// How many ledger partitions are queried at once.
const LEDGER_QUERY_CONCURRENCY: usize = 8;

/// Sort-key bounds of a statement page.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LedgerRange {
    /// Lower bound; exclusive when `lower_exclusive`.
    lower: Option<String>,
    lower_exclusive: bool,
    /// Exclusive upper bound (a bare `{ms:015}` time prefix, which no key equals).
    upper: Option<String>,
}

/// `from ≤ createdAt < to` and "at / after the start position" as sort-key bounds; `None` when
/// nothing can match. Keys hold whole milliseconds: a `from` inside a millisecond starts at
/// the next one, a `to` inside one ends with it.
fn ledger_range(query: &MovementQuery) -> Option<LedgerRange> {
    let mut lower: Option<(String, bool)> = match query.from.map(ceil_ms) {
        Some(ms) if ms > MAX_SORTABLE_MS => return None,
        Some(ms) if ms > 0 => Some((time_prefix(ms), false)),
        _ => None,
    };
    if let Some(start) = &query.start {
        let t = start.created_at;
        let whole = t.timestamp_subsec_nanos().is_multiple_of(1_000_000);
        let ms = t.timestamp_millis();
        let bound = if ms < 0 {
            None
        } else if !whole {
            // Every movement of this millisecond is before the position.
            (ms < MAX_SORTABLE_MS).then(|| (time_prefix(ms + 1), false))
        } else {
            created_id_sort_key(ms, &start.movement_id).map(|key| (key, !query.inclusive))
        };
        if ms > MAX_SORTABLE_MS {
            return None;
        }
        if let Some(bound) = bound {
            lower = match lower {
                // The larger bound wins; on equal keys, the exclusive one.
                Some(current) if (current.0.as_str(), current.1) >= (bound.0.as_str(), bound.1) => {
                    Some(current)
                }
                _ => Some(bound),
            };
        }
    }
    let upper = match query.to.map(ceil_ms) {
        Some(ms) if ms <= 0 => return None,
        Some(ms) if ms > MAX_SORTABLE_MS => None,
        Some(ms) => Some(time_prefix(ms)),
        None => None,
    };
    if let (Some((lo, _)), Some(hi)) = (&lower, &upper)
        && lo >= hi
    {
        return None;
    }
    let (lower, lower_exclusive) = match lower {
        Some((key, exclusive)) => (Some(key), exclusive),
        None => (None, false),
    };
    Some(LedgerRange {
        lower,
        lower_exclusive,
        upper,
    })
}

impl DynamoStore {
    pub(super) async fn read_movements_page(
        &self,
        account: &AccountId,
        query: &MovementQuery,
    ) -> Result<MovementPage, StoreError> {
        let Some(range) = ledger_range(query) else {
            debug!("empty range, no query");
            return Ok(MovementPage::default());
        };
        let limit = query.limit.clamp(1, MAX_MOVEMENTS_PER_PAGE) as usize;
        // One past the page from every partition: whichever holds the next movement shows it.
        let parts: Vec<Vec<Movement>> = futures::stream::iter(0..BALANCE_SHARDS)
            .map(|shard| self.read_ledger_slice(account, shard, &range, limit + 1))
            .buffer_unordered(LEDGER_QUERY_CONCURRENCY)
            .try_collect()
            .await?;
        let mut movements: Vec<Movement> = parts.into_iter().flatten().collect();
        movements.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let more = movements.len() > limit;
        movements.truncate(limit);
        debug!(count = movements.len(), more, "movements page");
        Ok(MovementPage { movements, more })
    }

    /// The first `limit` movements of one ledger partition inside `range`, oldest first.
    async fn read_ledger_slice(
        &self,
        account: &AccountId,
        shard: u32,
        range: &LedgerRange,
        limit: usize,
    ) -> Result<Vec<Movement>, StoreError> {
        let condition = match (&range.lower, &range.upper) {
            (None, None) => "#pk = :pk",
            (Some(_), None) if range.lower_exclusive => "#pk = :pk AND #sk > :lo",
            (Some(_), None) => "#pk = :pk AND #sk >= :lo",
            (None, Some(_)) => "#pk = :pk AND #sk < :hi",
            // BETWEEN is inclusive: the item exactly at an exclusive `:lo` is dropped below
            // (no key equals `:hi`, a bare time prefix).
            (Some(_), Some(_)) => "#pk = :pk AND #sk BETWEEN :lo AND :hi",
        };
        let drop_at = match (&range.lower, &range.upper) {
            (Some(lo), Some(_)) if range.lower_exclusive => Some(lo.clone()),
            _ => None,
        };
        let mut found: Vec<Movement> = Vec::with_capacity(limit);
        let mut start: Option<Item> = None;
        loop {
            let wanted = limit - found.len() + usize::from(drop_at.is_some());
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression(condition)
                .expression_attribute_names("#pk", GSI1PK)
                .expression_attribute_values(":pk", s(ledger_pk(account, shard)))
                .scan_index_forward(true)
                .limit(i32::try_from(wanted).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            if range.lower.is_some() || range.upper.is_some() {
                request = request.expression_attribute_names("#sk", GSI1SK);
            }
            if let Some(lo) = &range.lower {
                request = request.expression_attribute_values(":lo", s(lo.clone()));
            }
            if let Some(hi) = &range.upper {
                request = request.expression_attribute_values(":hi", s(hi.clone()));
            }
            let out = request
                .send()
                .await
                .map_err(|err| errors::unavailable("Query", &err))?;
            for item in out.items.unwrap_or_default() {
                if let Some(lo) = &drop_at
                    && item.get(GSI1SK).and_then(|v| v.as_s().ok()) == Some(lo)
                {
                    continue;
                }
                let movement = movement_from_item(item)?;
                if &movement.account_id != account {
                    return Err(StoreError::Corrupt(format!(
                        "movement {} listed under the wrong account",
                        movement.id
                    )));
                }
                found.push(movement);
            }
            match out.last_evaluated_key {
                Some(key) if found.len() < limit && !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        found.truncate(limit);
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use pixgw_domain::ledger::ports::MovementCursor;

    use super::*;

    fn query(start: Option<(i64, &str)>, inclusive: bool) -> MovementQuery {
        MovementQuery {
            from: None,
            to: None,
            start: start.map(|(ms, id)| MovementCursor {
                created_at: Utc.timestamp_millis_opt(ms).single().unwrap_or_default(),
                movement_id: id.to_owned(),
            }),
            inclusive,
            limit: 10,
        }
    }

    #[test]
    fn start_positions_become_exact_bounds() {
        let r = ledger_range(&query(Some((5, "confirm:x")), true)).unwrap();
        assert_eq!(r.lower.as_deref(), Some("000000000000005#confirm:x"));
        assert!(!r.lower_exclusive);
        let r = ledger_range(&query(Some((5, "confirm:x")), false)).unwrap();
        assert!(r.lower_exclusive);
        let mut q = query(Some((5, "confirm:x")), false);
        q.from = Some(Utc.timestamp_millis_opt(6).single().unwrap_or_default());
        let r = ledger_range(&q).unwrap();
        assert_eq!(r.lower.as_deref(), Some("000000000000006"));
        assert!(!r.lower_exclusive);
        q.to = Some(Utc.timestamp_millis_opt(6).single().unwrap_or_default());
        assert_eq!(ledger_range(&q), None);
        let r = ledger_range(&query(None, false)).unwrap();
        assert_eq!(r.lower, None);
    }
}
