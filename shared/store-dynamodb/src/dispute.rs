//! [`DisputeStore`]: MED disputes. A dispute is one item under its own id
//! (`DISPUTE#{disputeId}` / `DISPUTE`, the shared [`DisputeRecord`]), always written whole
//! ([`dispute_item`]), so its index keys always follow it:
//!
//! - `gsi1` (`ACCOUNT#{accountId}#DISPUTES`) and `gsi2` (`ACCOUNT#{accountId}#DISPUTES#{STATE}`),
//!   both sorted by `{openedAtMs:015}#{disputeId}`: the account's listings, newest first
//!   through [`crate::listing`];
//! - `gsi3` (`ACCOUNT#{accountId}#DISPUTES#OWING`, same sort key), only while it still owes
//!   part of its hold: the disputes a credit's booking pays, oldest first. Sparse: the write
//!   that takes what it owes to 0 (a repayment, a won decision) leaves the keys out.
//!
//! Opening one is ONE money-out transaction (see [`crate::ledger_write`]), like a refund
//! request ([`crate::refund`]):
//!
//! 1. the dispute, created only if absent (its id derives from the provider's infraction, so
//!    a notice delivered twice opens it once);
//! 2. the charge replaced by its version with the dispute's claim ([`charge_replace_update`]),
//!    conditioned on the status and refund revision it was read with — refunds and disputes of
//!    a charge serialise there, so Σ refunds + open or lost disputes ≤ amount;
//! 3. each split the hold reduces replaced, conditioned exactly like a refund's
//!    ([`reduced_split_put`]), and its recipient's totals changed;
//! 4. the movement with its shard updates (each shard the draw takes `available` from
//!    conditioned on holding its part) and the events (their webhook messages).
//!
//! Deciding one is ONE settlement transaction (like a refused refund's): the dispute at the
//! version read, the charge at its status and revision, each restored split (won:
//! [`restored_split_put`]), each debt (lost: the paid splits' parts) appended to its recipient
//! with the totals, the movement (no debit of `available`) and the events. A defence is one
//! conditional PutItem of the dispute. Every dispute write requires the `version` it read and
//! writes a higher one, so of two writes planned from one read only the first applies.
//!
//! A credit's booking ([`crate::split`]) pays what disputes owe in its own transaction: one
//! whole-item Put per repaid dispute at the version read ([`repayment_items`]).
//!
//! # Size
//!
//! A charge has at most [`MAX_SPLITS`] splits, hence at most that many reduced (or restored)
//! splits and recipients; with the dispute, the charge, the movement, at most
//! [`BALANCE_SHARDS`] shard updates and a few events, an opening needs at most 59 items and a
//! decision at most 28, within the 100 of one transaction ([`MAX_TRANSACT_ITEMS`], asserted at
//! compile time below). A larger write (out of contract) is refused before sending.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use pixgw_domain::dispute::Dispute;
use pixgw_domain::dispute::ports::{
    DecideDispute, DefendDispute, DisputeCursor, DisputePage, DisputeQuery, DisputeStore,
    MAX_DISPUTES_PER_PAGE, MAX_REPAID_PER_CREDIT, OpenDispute,
};
use pixgw_domain::dispute::record::DisputeRecord;
use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::ledger::ports::MoneyOutOutcome;
use pixgw_domain::ledger::{AvailableDraw, BALANCE_SHARDS};
use pixgw_domain::pix::ids::{AccountId, DisputeId};
use pixgw_domain::split::MAX_SPLITS;
use pixgw_domain::split::ports::BookSplits;
use tracing::{debug, instrument};

use crate::DynamoStore;
use crate::charge::charge_replace_update;
use crate::errors::{self, SingleWrite};
use crate::items::{ACCOUNT_ID, decode, out_of_range, record_item, string_attr};
use crate::keys::{
    ENTITY, GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK, Item, PK, SK, SK_DISPUTE, SortRange,
    dispute_pk, dispute_sort_key, dispute_sort_range, disputes_by_account_pk, disputes_by_state_pk,
    n, owing_disputes_pk, s,
};
use crate::ledger_write::{MAX_TRANSACT_ITEMS, Role, distinct_events, ledger_half, witnesses};
use crate::listing::NewestFirst;
use crate::recipient::{changes_of, recipient_change_update};
use crate::refund::{reduced_split_put, restored_split_put};
use crate::table::{GSI1, GSI2, GSI3};
use crate::transact::put_new;
use pixgw_domain::dispute::checks::{check_bump, check_repayments};

/// Record attributes the conditions and the owing read name (as `serde` writes them).
const VERSION: &str = "version";
const DISPUTE_ID: &str = "disputeId";

const PUT: &str = "PutItem";
const QUERY: &str = "Query";

/// How many events one dispute write may carry within the sizes below: each write records one
/// (`DISPUTE_OPENED`, `DISPUTE_WON`, `DISPUTE_LOST`); the rest is room.
const MAX_DISPUTE_EVENTS: usize = 4;

/// The most items an opening writes: the dispute, the charge, each split reduced, each
/// recipient, the movement, every balance shard, the events.
const MAX_OPEN_ITEMS: usize =
    1 + 1 + MAX_SPLITS + MAX_SPLITS + 1 + BALANCE_SHARDS as usize + MAX_DISPUTE_EVENTS;
const _: () = assert!(MAX_OPEN_ITEMS <= MAX_TRANSACT_ITEMS);

/// The most items a decision writes: the dispute, the charge, each split restored, each
/// recipient (debt and totals in one update), the movement, its one shard (no draw), the events.
const MAX_DECIDE_ITEMS: usize = 1 + 1 + MAX_SPLITS + MAX_SPLITS + 1 + 1 + MAX_DISPUTE_EVENTS;
const _: () = assert!(MAX_DECIDE_ITEMS <= MAX_TRANSACT_ITEMS);

/// A dispute: the shared [`DisputeRecord`] plus its keys. Listed in `gsi1` and in its state's
/// `gsi2` partition; in `gsi3` (the owing index) only while it still owes something, so a
/// whole-item write that takes what it owes to 0 takes it out of that index too.
pub(crate) fn dispute_item(dispute: &Dispute) -> Result<Item, StoreError> {
    let record = DisputeRecord::from(dispute);
    let sort = dispute_sort_key(record.opened_at_ms, &dispute.id)
        .ok_or_else(|| out_of_range("dispute", dispute.id.as_str()))?;
    let account = &dispute.account_id;
    let mut keys = vec![
        (PK, s(dispute_pk(&dispute.id))),
        (SK, s(SK_DISPUTE)),
        (ENTITY, s(SK_DISPUTE)),
        (GSI1PK, s(disputes_by_account_pk(account))),
        (GSI1SK, s(sort.clone())),
        (GSI2PK, s(disputes_by_state_pk(account, dispute.state))),
        (GSI2SK, s(sort.clone())),
    ];
    if dispute.still_owed > 0 {
        keys.push((GSI3PK, s(owing_disputes_pk(account))));
        keys.push((GSI3SK, s(sort)));
    }
    record_item("dispute", &record, keys)
}

fn dispute_from_item(item: Item) -> Result<Dispute, StoreError> {
    Dispute::try_from(decode::<DisputeRecord>("dispute", item)?)
}

/// The condition of every replacement of a dispute: stored at `from_version`, of the same
/// account (its key already says which dispute; the account check keeps a damaged write from
/// moving it into another account's listings). A missing item fails it too.
struct AtVersion {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

const AT_VERSION: &str = "#ver = :from AND #acc = :acc";

fn at_version(dispute: &Dispute, from_version: u32) -> AtVersion {
    AtVersion {
        names: HashMap::from([
            ("#ver".to_owned(), VERSION.to_owned()),
            ("#acc".to_owned(), ACCOUNT_ID.to_owned()),
        ]),
        values: HashMap::from([
            (":from".to_owned(), n(i64::from(from_version))),
            (":acc".to_owned(), s(dispute.account_id.to_string())),
        ]),
    }
}

/// Replaces the dispute stored at `from_version` by `dispute`, whole (see [`dispute_item`]).
fn dispute_replace_put(
    table: &str,
    dispute: &Dispute,
    from_version: u32,
) -> Result<TransactWriteItem, StoreError> {
    let condition = at_version(dispute, from_version);
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(dispute_item(dispute)?))
        .condition_expression(AT_VERSION)
        .set_expression_attribute_names(Some(condition.names))
        .set_expression_attribute_values(Some(condition.values))
        .build()
        .map_err(|e| errors::build_failed(PUT, &e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn refusing(why: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("refusing to write: {why}"))
}

/// The items of a booking's repayments: each repaid dispute replaced whole at the version read
/// (what it still owes lower; out of the owing index once it owes nothing). Refused before
/// anything is sent when they do not add up (see [`check_repayments`]).
pub(crate) fn repayment_items(
    table: &str,
    write: &BookSplits,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    check_repayments(write).map_err(refusing)?;
    write
        .repayments
        .iter()
        .map(|r| dispute_replace_put(table, &r.dispute, r.from_version))
        .collect()
}

impl DynamoStore {
    /// The dispute stored under `id`, strongly consistent.
    async fn read_dispute(&self, id: &DisputeId) -> Result<Option<Dispute>, StoreError> {
        let Some(item) = self.get_item(dispute_pk(id), SK_DISPUTE).await? else {
            return Ok(None);
        };
        let dispute = dispute_from_item(item)?;
        if &dispute.id != id {
            return Err(StoreError::Corrupt(format!(
                "dispute {} stored under {id}",
                dispute.id
            )));
        }
        Ok(Some(dispute))
    }

    /// The ids of up to `limit` of the account's owing disputes, oldest first, after `start`
    /// (the index lags the table a moment: an id may name a dispute that owes nothing now).
    async fn owing_index_page(
        &self,
        account: &AccountId,
        limit: usize,
        start: Option<Item>,
    ) -> Result<(Vec<DisputeId>, Option<Item>), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI3)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", GSI3PK)
            .expression_attribute_values(":pk", s(owing_disputes_pk(account)))
            .scan_index_forward(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|err| errors::unavailable(QUERY, &err))?;
        let ids = out
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                let id = string_attr(item, DISPUTE_ID, "owing dispute")?;
                DisputeId::parse(id)
                    .ok_or_else(|| StoreError::Corrupt(format!("owing dispute {id}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let next = out.last_evaluated_key.filter(|key| !key.is_empty());
        Ok((ids, next))
    }
}

#[async_trait]
impl DisputeStore for DynamoStore {
    #[instrument(level = "debug", skip_all, fields(table = %self.table, dispute_id = %write.dispute.id, transaction_id = %write.charge.transaction_id, reduced = write.reduced.len()))]
    async fn open_dispute(&self, write: &OpenDispute) -> Result<MoneyOutOutcome, StoreError> {
        write.check().map_err(refusing)?;
        if !distinct_events(&write.events) {
            return Ok(MoneyOutOutcome::Conflict);
        }
        let charge = &write.charge;
        let mut items = vec![
            (
                put_new(&self.table, dispute_item(&write.dispute)?)?,
                Role::Other,
            ),
            (
                charge_replace_update(&self.table, charge, write.from, write.from_revision)?,
                Role::Other,
            ),
        ];
        for reduced in &write.reduced {
            items.push((reduced_split_put(&self.table, reduced)?, Role::Other));
        }
        for change in changes_of(&[], &write.recipients, None) {
            items.push((
                recipient_change_update(&self.table, &charge.account_id, &change)?,
                Role::Other,
            ));
        }
        items.extend(ledger_half(
            &self.table,
            Some((&write.movement, &write.draw)),
            &write.events,
            &[],
        )?);
        self.money_out_write("open_dispute", items, None, None, &write.movement)
            .await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, dispute_id = %write.dispute.id, from_version = write.from_version))]
    async fn defend_dispute(&self, write: &DefendDispute) -> Result<WriteOutcome, StoreError> {
        check_bump(&write.dispute, write.from_version).map_err(refusing)?;
        let item = dispute_item(&write.dispute)?;
        let written = errors::write_retrying_conflicts(PUT, || {
            let condition = at_version(&write.dispute, write.from_version);
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .condition_expression(AT_VERSION)
                .set_expression_attribute_names(Some(condition.names))
                .set_expression_attribute_values(Some(condition.values))
                .send()
        })
        .await?;
        match written {
            SingleWrite::Written => Ok(WriteOutcome::Applied),
            SingleWrite::ConditionFailed => {
                debug!("dispute not at the version read; nothing written");
                Ok(WriteOutcome::Conflict)
            }
            SingleWrite::StillConflicting => Err(errors::still_conflicting("defend_dispute")),
        }
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, dispute_id = %write.dispute.id, state = write.dispute.state.as_str(), restored = write.restored.len(), debts = write.debts.len()))]
    async fn decide_dispute(&self, write: &DecideDispute) -> Result<WriteOutcome, StoreError> {
        write.check().map_err(refusing)?;
        if !distinct_events(&write.events) {
            return Ok(WriteOutcome::Conflict);
        }
        let charge = &write.charge;
        let no_draw = AvailableDraw::default();
        let mut items = vec![
            dispute_replace_put(&self.table, &write.dispute, write.from_version)?,
            charge_replace_update(&self.table, charge, write.from, write.from_revision)?,
        ];
        for restored in &write.restored {
            items.push(restored_split_put(&self.table, restored)?);
        }
        for change in changes_of(&write.debts, &write.recipients, None) {
            items.push(recipient_change_update(
                &self.table,
                &charge.account_id,
                &change,
            )?);
        }
        items.extend(
            ledger_half(
                &self.table,
                Some((&write.movement, &no_draw)),
                &write.events,
                &[],
            )?
            .into_iter()
            .map(|(item, _)| item),
        );
        let witnesses = witnesses(Some(&write.movement), &write.events);
        self.settlement_write("decide_dispute", items, witnesses)
            .await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, dispute_id = %id))]
    async fn get_dispute(&self, id: &DisputeId) -> Result<Option<Dispute>, StoreError> {
        self.read_dispute(id).await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account, status = ?query.status, limit = query.limit))]
    async fn list_disputes(
        &self,
        account: &AccountId,
        query: &DisputeQuery,
    ) -> Result<DisputePage, StoreError> {
        let (index, pk_attr, sk_attr, pk) = match query.status {
            None => (GSI1, GSI1PK, GSI1SK, disputes_by_account_pk(account)),
            Some(state) => (GSI2, GSI2PK, GSI2SK, disputes_by_state_pk(account, state)),
        };
        let SortRange::Bounds { lower, upper } = dispute_sort_range(query.after.as_ref()) else {
            debug!("empty range, no query");
            return Ok(DisputePage::default());
        };
        let q = NewestFirst {
            index,
            pk_attr,
            sk_attr,
            pk,
            lower,
            upper,
            limit: query.limit.clamp(1, MAX_DISPUTES_PER_PAGE) as usize,
        };
        let wanted = query.status;
        let (items, more) = self
            .query_newest_first(q, |item| {
                let dispute = dispute_from_item(item)?;
                if &dispute.account_id != account {
                    return Err(StoreError::Corrupt(format!(
                        "dispute {} listed under the wrong account",
                        dispute.id
                    )));
                }
                if let Some(state) = wanted
                    && dispute.state != state
                {
                    return Err(StoreError::Corrupt(format!(
                        "dispute {} is {} but listed as {}",
                        dispute.id,
                        dispute.state.as_str(),
                        state.as_str()
                    )));
                }
                Ok(Some(dispute))
            })
            .await?;
        let next = if more {
            items.last().map(DisputeCursor::of)
        } else {
            None
        };
        debug!(count = items.len(), more, "listed disputes");
        Ok(DisputePage { items, next })
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account))]
    async fn owing_disputes(&self, account: &AccountId) -> Result<Vec<Dispute>, StoreError> {
        let mut owing = Vec::with_capacity(MAX_REPAID_PER_CREDIT);
        let mut start = None;
        // Until the page is full or the index ends: an entry the index still shows for a
        // dispute repaid a moment ago does not take the place of one that owes.
        loop {
            let (ids, next) = self
                .owing_index_page(account, MAX_REPAID_PER_CREDIT - owing.len(), start)
                .await?;
            let read =
                futures::future::try_join_all(ids.iter().map(|id| self.read_dispute(id))).await?;
            for dispute in read.into_iter().flatten() {
                if &dispute.account_id != account {
                    return Err(StoreError::Corrupt(format!(
                        "dispute {} indexed as owing under the wrong account",
                        dispute.id
                    )));
                }
                if dispute.still_owed > 0 {
                    owing.push(dispute);
                }
            }
            match next {
                Some(key) if owing.len() < MAX_REPAID_PER_CREDIT => start = Some(key),
                _ => break,
            }
        }
        debug!(count = owing.len(), "owing disputes");
        Ok(owing)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use pixgw_domain::dispute::{DisputeHold, DisputeReason, DisputeState};
    use pixgw_domain::pix::ids::TransactionId;
    use pixgw_domain::pix::money::Money;
    use pixgw_domain::refund::RefundLiability;

    use super::*;
    use crate::keys::TTL;

    fn dispute(still_owed: i64) -> Dispute {
        let at = Utc
            .timestamp_millis_opt(1_705_314_600_000)
            .single()
            .unwrap_or_default();
        Dispute {
            id: DisputeId::derive("sandbox", "inf-1"),
            account_id: AccountId::generate(),
            transaction_id: TransactionId::generate(),
            provider: "sandbox".to_owned(),
            infraction_id: "inf-1".to_owned(),
            reason: DisputeReason::Fraud,
            amount: Money::from_cents(1_000),
            liability: RefundLiability::Merchant,
            split_parts: Vec::new(),
            hold: DisputeHold {
                from_reserve: 0,
                from_available: 600,
                owed: 400,
            },
            still_owed,
            state: DisputeState::Open,
            version: 3,
            respond_by: at,
            opened_at: at,
            decided_at: None,
            defence: None,
            devolution_end_to_end_id: None,
        }
    }

    /// The conditions and the owing read name record fields (a rename in the domain must fail
    /// here), and no record field is a key attribute (which the keys would overwrite).
    #[test]
    fn record_fields_are_the_names_the_conditions_use_and_never_keys() {
        let item = dispute_item(&dispute(400)).unwrap_or_default();
        for name in [VERSION, DISPUTE_ID, ACCOUNT_ID] {
            assert!(item.contains_key(name), "{name} missing");
        }
        let json = serde_json::to_value(DisputeRecord::from(&dispute(400))).unwrap_or_default();
        let fields: Vec<&String> = json
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert!(!fields.is_empty());
        for key in [
            PK, SK, ENTITY, GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK, TTL,
        ] {
            assert!(!fields.iter().any(|f| *f == key), "{key} collides");
        }
    }

    #[test]
    fn only_a_dispute_that_owes_is_in_the_owing_index() {
        let owing = dispute(400);
        let account = owing.account_id.clone();
        let item = dispute_item(&owing).unwrap_or_default();
        assert_eq!(item.get(GSI3PK), Some(&s(owing_disputes_pk(&account))));
        assert_eq!(item.get(GSI3SK), item.get(GSI1SK));
        assert_eq!(item.get(GSI1PK), Some(&s(disputes_by_account_pk(&account))));
        let paid = dispute_item(&Dispute {
            still_owed: 0,
            state: DisputeState::Lost,
            ..owing
        })
        .unwrap_or_default();
        assert!(!paid.contains_key(GSI3PK) && !paid.contains_key(GSI3SK));
        assert_eq!(
            paid.get(GSI2PK),
            Some(&s(disputes_by_state_pk(&account, DisputeState::Lost)))
        );
    }
}
