//! Newest-first listings of an account's charges (`gsi1`: all, `gsi2`: one status) and payouts
//! (`gsi1`: all listable, `gsi2`: one state).
//!
//! The partition key of the query is always built from the account id argument; the cursor
//! and `from`/`to` only narrow the sort-key range inside that partition (see
//! [`crate::keys::sort_range`], [`crate::keys::payout_sort_range`]), so no cursor can reach
//! another account's items.

use aws_sdk_dynamodb::types::AttributeValue;
use pixgw_domain::charge::Charge;
use pixgw_domain::charge::ports::{ChargeCursor, ChargeQuery, Page};
use pixgw_domain::error::StoreError;
use pixgw_domain::payout::ports::{PayoutCursor, PayoutPage, PayoutQuery};
use pixgw_domain::payout::{Payout, PayoutState};
use pixgw_domain::pix::ids::AccountId;
use tracing::debug;

use crate::DynamoStore;
use crate::charges::charge_from_item;
use crate::errors;
use crate::keys::{
    GSI1PK, GSI1SK, GSI2PK, GSI2SK, Item, SortRange, charges_by_account_pk, charges_by_status_pk,
    payout_sort_range, payouts_by_account_pk, payouts_by_state_pk, s, sort_range,
};
use crate::settlement_items::payout_from_item;
use crate::table::{GSI1, GSI2};

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

    pub(crate) async fn query_charges(
        &self,
        account_id: &AccountId,
        query: &ChargeQuery,
    ) -> Result<Page<Charge>, StoreError> {
        let (index, pk_attr, sk_attr, pk) = match query.status {
            None => (GSI1, GSI1PK, GSI1SK, charges_by_account_pk(account_id)),
            Some(status) => (
                GSI2,
                GSI2PK,
                GSI2SK,
                charges_by_status_pk(account_id, status),
            ),
        };
        let (lower, upper) = match sort_range(query.from, query.to, query.after.as_ref()) {
            SortRange::Empty => {
                debug!("empty range, no query");
                return Ok(Page {
                    items: vec![],
                    next: None,
                });
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
        let (charges, more) = self
            .query_newest_first(q, |item| {
                let charge = charge_from_item(item)?;
                if &charge.account_id != account_id {
                    return Err(StoreError::Corrupt(format!(
                        "charge {} listed under the wrong account",
                        charge.transaction_id
                    )));
                }
                Ok(Some(charge))
            })
            .await?;
        let next = if more {
            charges.last().map(ChargeCursor::of)
        } else {
            None
        };
        debug!(count = charges.len(), more, "listed charges");
        Ok(Page {
            items: charges,
            next,
        })
    }

    /// An account's payouts, newest first: `gsi1` (every listable payout) or, with a state,
    /// `gsi2` (that state's partition). ASSEMBLING payouts carry neither key (they enter both
    /// at their release), so asking for them lists nothing; one that still carries `gsi1`
    /// keys (written before the release set them) is skipped, and the page still fills up.
    pub(crate) async fn query_payouts(
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
