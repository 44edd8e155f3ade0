//! Listing an account's charges through `gsi1` (all) or `gsi2` (one status), newest first.
//!
//! The partition key of the query is always built from the account id argument; the cursor
//! and `from`/`to` only narrow the sort-key range inside that partition (see
//! [`crate::keys::sort_range`]), so no cursor can reach another account's charges.

use aws_sdk_dynamodb::types::AttributeValue;
use pixgw_domain::charge::Charge;
use pixgw_domain::error::StoreError;
use pixgw_domain::ids::AccountId;
use pixgw_domain::ports::{ChargeCursor, ChargeQuery, Page};
use tracing::debug;

use crate::DynamoStore;
use crate::charges::charge_from_item;
use crate::errors;
use crate::keys::{
    GSI1PK, GSI1SK, GSI2PK, GSI2SK, Item, SortRange, charges_by_account_pk, charges_by_status_pk,
    s, sort_range,
};
use crate::table::{GSI1, GSI2};

/// The port promises 1..=100; anything else is clamped rather than sent to DynamoDB.
const MAX_LIMIT: u32 = 100;

impl DynamoStore {
    pub(crate) async fn query_charges(
        &self,
        account_id: &AccountId,
        query: &ChargeQuery,
    ) -> Result<Page<Charge>, StoreError> {
        let (index, pk_attr, sk_attr, pk_value) = match query.status {
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
        let condition = match (&lower, &upper) {
            (None, None) => "#pk = :pk",
            (Some(_), None) => "#pk = :pk AND #sk >= :lo",
            (None, Some(_)) => "#pk = :pk AND #sk < :hi",
            // BETWEEN is inclusive: an item exactly at `:hi` (the cursor's own item) is
            // dropped below.
            (Some(_), Some(_)) => "#pk = :pk AND #sk BETWEEN :lo AND :hi",
        };
        let drop_at = match (&lower, &upper) {
            (Some(_), Some(hi)) => Some(AttributeValue::S(hi.clone())),
            _ => None,
        };
        let limit = query.limit.clamp(1, MAX_LIMIT) as usize;

        // Fetch one more than asked to know whether another page exists.
        let mut charges: Vec<Charge> = Vec::with_capacity(limit + 1);
        let mut start: Option<Item> = None;
        let mut dropped = false;
        loop {
            let wanted = limit + 1 - charges.len() + usize::from(drop_at.is_some() && !dropped);
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(condition)
                .expression_attribute_names("#pk", pk_attr)
                .expression_attribute_values(":pk", s(pk_value.clone()))
                .scan_index_forward(false)
                .limit(i32::try_from(wanted).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            if lower.is_some() || upper.is_some() {
                request = request.expression_attribute_names("#sk", sk_attr);
            }
            if let Some(lo) = &lower {
                request = request.expression_attribute_values(":lo", s(lo.clone()));
            }
            if let Some(hi) = &upper {
                request = request.expression_attribute_values(":hi", s(hi.clone()));
            }
            let out = request
                .send()
                .await
                .map_err(|err| errors::unavailable("Query", &err))?;
            for item in out.items.unwrap_or_default() {
                if drop_at.is_some() && item.get(sk_attr) == drop_at.as_ref() {
                    dropped = true;
                    continue;
                }
                let charge = charge_from_item(item)?;
                if &charge.account_id != account_id {
                    return Err(StoreError::Corrupt(format!(
                        "charge {} listed under the wrong account",
                        charge.transaction_id
                    )));
                }
                charges.push(charge);
            }
            match out.last_evaluated_key {
                Some(key) if charges.len() <= limit => start = Some(key),
                _ => break,
            }
        }
        let more = charges.len() > limit;
        charges.truncate(limit);
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
}
