//! The settlement writes: the confirmation → splits → payouts pipeline's atomic writes, and the
//! reads of what they left behind. Ledger reads (balance, movements) live in
//! [`crate::ledger`]; the items themselves in [`crate::settlement_items`].
//!
//! Every write is ONE `TransactWriteItems` sent through [`transact_write`]: the state change,
//! the movement if the change moves money (`attribute_not_exists`, under its deterministic id)
//! with the movement's balance shard `ADD`, the account events (`attribute_not_exists`, under
//! their deterministic ids) and the outbox messages (`attribute_not_exists`). The scheduled
//! payouts' chunked split settlement ([`crate::payout_runs`]) ends with the same ledger half.
//! Any failed condition means
//! nothing was written and the answer is [`WriteOutcome::Conflict`]; the caller re-reads to
//! learn why, so the reasons are only logged (by position) here.

use pixgw_domain::split::ports::SplitStore;
use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use pixgw_domain::error::StoreError;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::ledger::Movement;
use pixgw_domain::messaging::events::AccountEvent;
use pixgw_domain::messaging::outbox::OutboxMessage;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::split::entry::SplitEntry;
use pixgw_domain::split::ports::BookSplits;
use tracing::{debug, instrument};

use crate::keys::{
    PK, SK, SK_EVENT, SK_MOVEMENT, SPLIT_SK_PREFIX, charge_pk, event_pk, movement_pk, s,
};
use crate::settlement_items::{
    balance_update, charge_confirmed_check, event_item, movement_item, outbox_item, payout_item,
    split_from_item, split_item,
};
use crate::transact::{TransactFailure, put_new, transact_write};
use crate::{DynamoStore, query_all};

/// DynamoDB's limit of items in one `TransactWriteItems`. A larger command cannot be atomic,
/// so it is refused before sending rather than split.
pub(crate) const MAX_TRANSACT_ITEMS: usize = 100;

/// The ledger half every settlement write ends with: the movement, if any (created only if
/// absent) with its balance shard, the events (created only if absent: their ids name the fact
/// they record), and the outbox messages (created only if absent: their ids are
/// deterministic, and overwriting one would not produce a new stream insert anyway).
pub(crate) fn ledger_events_outbox(
    table: &str,
    movement: Option<&Movement>,
    events: &[AccountEvent],
    outbox: &[OutboxMessage],
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let mut items = Vec::with_capacity(2 + events.len() + outbox.len());
    if let Some(movement) = movement {
        items.push(put_new(table, movement_item(movement)?)?);
        items.push(balance_update(table, movement)?);
    }
    for event in events {
        items.push(put_new(table, event_item(event)?)?);
    }
    for message in outbox {
        items.push(put_new(table, outbox_item(message)?)?);
    }
    Ok(items)
}

/// Keys whose existence proves that a write's effect was made by someone (its movement, its
/// events: all deterministic ids, created only with that effect).
pub(crate) fn witnesses(
    movement: Option<&Movement>,
    events: &[AccountEvent],
) -> Vec<(String, &'static str)> {
    movement
        .map(|m| (movement_pk(&m.id), SK_MOVEMENT))
        .into_iter()
        .chain(events.iter().map(|e| (event_pk(&e.id), SK_EVENT)))
        .collect()
}

/// A transaction may not name one item twice (DynamoDB rejects the whole request as invalid);
/// for a store, two equal events in one write are a write that cannot apply: a Conflict.
pub(crate) fn distinct_events(events: &[AccountEvent]) -> bool {
    let mut seen = HashSet::new();
    events.iter().all(|e| seen.insert(e.id.as_str()))
}

impl DynamoStore {
    /// Sends one settlement transaction and maps its outcome. `witnesses`: keys of items that
    /// only this very effect creates (see [`witnesses`]), read back when the transaction kept
    /// conflicting with others.
    pub(crate) async fn settlement_write(
        &self,
        operation: &'static str,
        items: Vec<TransactWriteItem>,
        witnesses: Vec<(String, &'static str)>,
    ) -> Result<WriteOutcome, StoreError> {
        if items.len() > MAX_TRANSACT_ITEMS {
            return Err(StoreError::Unavailable(format!(
                "{operation} needs {} items, more than one transaction holds ({MAX_TRANSACT_ITEMS})",
                items.len()
            )));
        }
        match transact_write(&self.client, items).await {
            Ok(()) => {
                debug!(operation, "applied");
                Ok(WriteOutcome::Applied)
            }
            Err(TransactFailure::Cancelled { codes, .. }) => {
                debug!(operation, reasons = %codes, "condition failed, nothing written");
                Ok(WriteOutcome::Conflict)
            }
            Err(TransactFailure::Store(err)) => Err(err),
            Err(TransactFailure::StillConflicting) => {
                // Every attempt of ours was cancelled, so we wrote nothing. The witnesses are
                // deterministic per effect: if one exists now, a competitor made this very
                // change, and ours would fail its conditions — a Conflict like any other.
                for (pk, sk) in witnesses {
                    if self.get_item(pk, sk).await?.is_some() {
                        return Ok(WriteOutcome::Conflict);
                    }
                }
                Err(StoreError::Unavailable(format!(
                    "{operation} kept conflicting with other transactions"
                )))
            }
        }
    }
}

#[async_trait]
impl SplitStore for DynamoStore {
    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %write.account_id, transaction_id = %write.transaction_id, splits = write.splits.len(), payouts = write.payouts.len()))]
    async fn book_splits(&self, write: &BookSplits) -> Result<WriteOutcome, StoreError> {
        let mut items = vec![charge_confirmed_check(&self.table, write)?];
        for entry in &write.splits {
            items.push(put_new(&self.table, split_item(entry)?)?);
        }
        for payout in &write.payouts {
            items.push(put_new(&self.table, payout_item(payout)?)?);
        }
        items.extend(ledger_events_outbox(
            &self.table,
            Some(&write.movement),
            &[],
            &write.outbox,
        )?);
        let witnesses = witnesses(Some(&write.movement), &[]);
        self.settlement_write("book_splits", items, witnesses).await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, transaction_id = %id))]
    async fn get_splits(&self, id: &TransactionId) -> Result<Vec<SplitEntry>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(charge_pk(id)))
            .expression_attribute_values(":prefix", s(SPLIT_SK_PREFIX))
            .consistent_read(true);
        let mut entries = Vec::new();
        for item in query_all(query).await? {
            let entry = split_from_item(item)?;
            if &entry.transaction_id != id {
                return Err(StoreError::Corrupt(format!(
                    "split {}/{} stored under charge {id}",
                    entry.transaction_id, entry.index
                )));
            }
            entries.push(entry);
        }
        // The sort key already orders by index; sorting again makes that independent of the
        // key's digit count.
        entries.sort_by_key(|e| e.index);
        debug!(count = entries.len(), "read splits");
        Ok(entries)
    }
}
