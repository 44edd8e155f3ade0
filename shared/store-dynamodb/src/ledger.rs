//! [`LedgerStore`]: the ledger's items and its reads.
//!
//! - A movement is one item under its own id (`MOVEMENT#{movementId}`), created only if absent
//!   ([`movement_item`]), and indexed in one of its account's [`BALANCE_SHARDS`] ledger
//!   partitions of `gsi1` (the shard its balance delta goes to).
//! - The balance is [`BALANCE_SHARDS`] shard items per account, each a running total that only
//!   ever changes by `ADD` ([`shard_update`]) in the transaction that stores the movement (see
//!   [`crate::ledger_write`]); a read sums them.
//! - An account's movements are its ledger partitions, merged; a statement page is the
//!   `statement` submodule.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{KeysAndAttributes, TransactWriteItem, Update};
use futures::{StreamExt, TryStreamExt};
use pixgw_domain::error::StoreError;
use pixgw_domain::ledger::ports::{LedgerStore, MovementPage, MovementQuery};
use pixgw_domain::ledger::record::MovementRecord;
use pixgw_domain::ledger::{BALANCE_SHARDS, Balance, Movement, ShardUpdate};
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::money::Money;
use serde::Deserialize;
use serde_dynamo::aws_sdk_dynamodb_1::from_item;
use tracing::{debug, instrument, warn};

use crate::errors;
use crate::items::{decode, out_of_range, record_item};
use crate::keys::{
    ENTITY, GSI1PK, GSI1SK, Item, PK, SK, SK_BALANCE, SK_MOVEMENT, balance_pk, created_id_sort_key,
    ledger_pk, movement_pk, n, primary_key, s,
};
use crate::table::GSI1;
use crate::{DynamoStore, query_all};

mod statement;

/// Attributes of a balance shard: running totals in integer centavos (`N`), so `ADD` is exact.
const BALANCE_INCOMING: &str = "incomingCents";
const BALANCE_AVAILABLE: &str = "availableCents";
const BALANCE_RESERVED: &str = "reservedForSplitsCents";
/// What split recipients owe the account ([`Balance::recipient_debts`]); absent on shards
/// written before recipient debts existed, which read as 0.
const BALANCE_RECIPIENT_DEBTS: &str = "recipientDebtsCents";
/// Held under a dispute or cautelar hold, and owed ([`Balance::held`], [`Balance::owed`]);
/// absent on shards written before they existed, which read as 0.
const BALANCE_HELD: &str = "heldCents";
const BALANCE_OWED: &str = "owedCents";
const BALANCE_ACCOUNT_ID: &str = "accountId";

const UPDATE: &str = "UpdateItem";

/// A movement, indexed in its account's ledger shard (the shard its balance delta goes to).
pub(crate) fn movement_item(movement: &Movement) -> Result<Item, StoreError> {
    let record = MovementRecord::from(movement);
    let sort = created_id_sort_key(record.created_at_ms, &movement.id)
        .ok_or_else(|| out_of_range("movement", &movement.id))?;
    record_item(
        "movement",
        &record,
        [
            (PK, s(movement_pk(&movement.id))),
            (SK, s(SK_MOVEMENT)),
            (ENTITY, s(SK_MOVEMENT)),
            (
                GSI1PK,
                s(ledger_pk(&movement.account_id, movement.balance_shard())),
            ),
            (GSI1SK, s(sort)),
        ],
    )
}

fn movement_from_item(item: Item) -> Result<Movement, StoreError> {
    Movement::try_from(decode::<MovementRecord>("movement", item)?)
}

/// Adds a movement's balance delta to its balance shard. Only ever sent in the same
/// transaction as the movement's `attribute_not_exists` Put, which is what makes it count once.
pub(crate) fn balance_update(
    table: &str,
    movement: &Movement,
) -> Result<TransactWriteItem, StoreError> {
    shard_update(
        table,
        &movement.account_id,
        &ShardUpdate {
            shard: movement.balance_shard(),
            delta: movement.balance_delta(),
            requires_available: None,
        },
    )
}

/// One balance shard's change: `ADD` its delta, conditioned on the
/// shard's `available` covering `requires_available` when set (an absent shard or attribute
/// holds nothing, so it fails).
pub(crate) fn shard_update(
    table: &str,
    account: &AccountId,
    update: &ShardUpdate,
) -> Result<TransactWriteItem, StoreError> {
    let delta = update.delta;
    let mut builder = Update::builder()
        .table_name(table)
        .set_key(Some(primary_key(
            balance_pk(account, update.shard),
            SK_BALANCE,
        )))
        .update_expression(
            "ADD #inc :inc, #avail :avail, #res :res, #debts :debts, #held :held, #owed :owed \
             SET #entity = :entity, #acc = :acc",
        )
        .expression_attribute_names("#inc", BALANCE_INCOMING)
        .expression_attribute_names("#avail", BALANCE_AVAILABLE)
        .expression_attribute_names("#res", BALANCE_RESERVED)
        .expression_attribute_names("#debts", BALANCE_RECIPIENT_DEBTS)
        .expression_attribute_names("#held", BALANCE_HELD)
        .expression_attribute_names("#owed", BALANCE_OWED)
        .expression_attribute_names("#entity", ENTITY)
        .expression_attribute_names("#acc", BALANCE_ACCOUNT_ID)
        .expression_attribute_values(":inc", n(delta.incoming.cents()))
        .expression_attribute_values(":avail", n(delta.available.cents()))
        .expression_attribute_values(":res", n(delta.reserved_for_splits.cents()))
        .expression_attribute_values(":debts", n(delta.recipient_debts.cents()))
        .expression_attribute_values(":held", n(delta.held.cents()))
        .expression_attribute_values(":owed", n(delta.owed.cents()))
        .expression_attribute_values(":entity", s(SK_BALANCE))
        .expression_attribute_values(":acc", s(account.to_string()));
    if let Some(need) = update.requires_available {
        builder = builder
            .condition_expression("#avail >= :need")
            .expression_attribute_values(":need", n(need.cents()));
    }
    let update = builder
        .build()
        .map_err(|e| errors::build_failed(UPDATE, &e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// How many BatchGetItem rounds a balance read makes before giving up on keys DynamoDB keeps
/// leaving unprocessed (it does so under throttling; the SDK does not retry those itself).
const BATCH_ATTEMPTS: u32 = 8;

/// How many ledger partitions are queried at once: enough to hide latency, few enough not to
/// burst a hot account's partitions.
const LEDGER_QUERY_CONCURRENCY: usize = 8;

/// A balance shard. Absent attributes are zero (a shard that has never been written is
/// absent altogether, which is zero too).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BalanceShardRecord {
    #[serde(default)]
    incoming_cents: i64,
    #[serde(default)]
    available_cents: i64,
    #[serde(default)]
    reserved_for_splits_cents: i64,
    #[serde(default)]
    recipient_debts_cents: i64,
    #[serde(default)]
    held_cents: i64,
    #[serde(default)]
    owed_cents: i64,
}

impl From<BalanceShardRecord> for Balance {
    fn from(r: BalanceShardRecord) -> Self {
        Balance {
            incoming: Money::from_cents(r.incoming_cents),
            available: Money::from_cents(r.available_cents),
            reserved_for_splits: Money::from_cents(r.reserved_for_splits_cents),
            recipient_debts: Money::from_cents(r.recipient_debts_cents),
            held: Money::from_cents(r.held_cents),
            owed: Money::from_cents(r.owed_cents),
        }
    }
}

impl DynamoStore {
    /// One strongly consistent BatchGetItem of all shard keys (32 < the 100-key limit),
    /// re-requesting unprocessed keys with backoff.
    async fn read_balance(&self, account: &AccountId) -> Result<Balance, StoreError> {
        let shards = self.read_balance_shards(account).await?;
        Ok(shards
            .into_iter()
            .fold(Balance::default(), |sum, (_, shard)| sum.plus(shard)))
    }

    /// The shards that exist, as (shard, balance), ascending by shard: the same strongly
    /// consistent BatchGetItem as [`DynamoStore::read_balance`], shard by shard (what a debit
    /// of `available` is planned from).
    async fn read_balance_shards(
        &self,
        account: &AccountId,
    ) -> Result<Vec<(u32, Balance)>, StoreError> {
        let expected: HashMap<String, u32> = (0..BALANCE_SHARDS)
            .map(|i| (balance_pk(account, i), i))
            .collect();
        let keys: Vec<Item> = expected
            .keys()
            .map(|pk| primary_key(pk.clone(), SK_BALANCE))
            .collect();
        let mut request = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| errors::build_failed("BatchGetItem", &e))?,
        );
        let mut shards: Vec<(u32, Balance)> = Vec::new();
        let mut seen = HashSet::new();
        for attempt in 1..=BATCH_ATTEMPTS {
            let Some(keys) = request.take() else { break };
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, keys)
                .send()
                .await
                .map_err(|err| errors::unavailable("BatchGetItem", &err))?;
            let items = out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default();
            for item in items {
                let pk = item.get(PK).and_then(|v| v.as_s().ok()).cloned();
                // A shard counted twice (or a foreign item) would silently skew the balance.
                let index = match pk {
                    Some(pk) if seen.insert(pk.clone()) => expected.get(&pk).copied(),
                    _ => None,
                };
                let Some(index) = index else {
                    return Err(StoreError::Corrupt(format!(
                        "unexpected item in the balance read of {account}"
                    )));
                };
                let shard: BalanceShardRecord =
                    from_item(item).map_err(|e| errors::corrupt("balance shard", &e))?;
                shards.push((index, shard.into()));
            }
            request = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys().is_empty());
            if request.is_some() && attempt < BATCH_ATTEMPTS {
                debug!(attempt, "balance shards left unprocessed, retrying");
                // The same exponential-with-jitter curve as conflicts: unprocessed keys mean
                // throttling, and many readers must not come back in lockstep.
                errors::conflict_backoff(attempt).await;
            }
        }
        if request.is_some() {
            warn!(account_id = %account, "balance shards still unprocessed");
            return Err(StoreError::Unavailable(format!(
                "DynamoDB BatchGetItem left balance shards of {account} unprocessed after {BATCH_ATTEMPTS} attempts"
            )));
        }
        debug!(shards = seen.len(), "read balance");
        shards.sort_by_key(|(index, _)| *index);
        Ok(shards)
    }

    /// Every movement of the account, oldest first: all ledger partitions, merged.
    async fn read_movements(&self, account: &AccountId) -> Result<Vec<Movement>, StoreError> {
        let shards: Vec<Vec<Movement>> = futures::stream::iter(0..BALANCE_SHARDS)
            .map(|shard| self.read_ledger_partition(account, shard))
            .buffer_unordered(LEDGER_QUERY_CONCURRENCY)
            .try_collect()
            .await?;
        let mut movements: Vec<Movement> = shards.into_iter().flatten().collect();
        movements.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        debug!(count = movements.len(), "listed movements");
        Ok(movements)
    }

    async fn read_ledger_partition(
        &self,
        account: &AccountId,
        shard: u32,
    ) -> Result<Vec<Movement>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", GSI1PK)
            .expression_attribute_values(":pk", s(ledger_pk(account, shard)));
        let mut movements = Vec::new();
        for item in query_all(query).await? {
            let movement = movement_from_item(item)?;
            if &movement.account_id != account {
                return Err(StoreError::Corrupt(format!(
                    "movement {} listed under the wrong account",
                    movement.id
                )));
            }
            movements.push(movement);
        }
        Ok(movements)
    }
}

#[async_trait]
impl LedgerStore for DynamoStore {
    #[instrument(level = "debug", skip_all, fields(table = %self.table))]
    async fn movement_exists(&self, movement_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .get_item(movement_pk(movement_id), SK_MOVEMENT)
            .await?
            .is_some())
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account))]
    async fn balance_shards(&self, account: &AccountId) -> Result<Vec<(u32, Balance)>, StoreError> {
        self.read_balance_shards(account).await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account, limit = query.limit))]
    async fn movements_page(
        &self,
        account: &AccountId,
        query: &MovementQuery,
    ) -> Result<MovementPage, StoreError> {
        self.read_movements_page(account, query).await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account))]
    async fn get_balance(&self, account: &AccountId) -> Result<Balance, StoreError> {
        self.read_balance(account).await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account))]
    async fn list_movements(&self, account: &AccountId) -> Result<Vec<Movement>, StoreError> {
        self.read_movements(account).await
    }
}
