//! Ledger reads: an account's balance (the sum of its [`BALANCE_SHARDS`] shard items) and its
//! movements (its [`BALANCE_SHARDS`] ledger partitions of `gsi1`, merged).

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::KeysAndAttributes;
use futures::{StreamExt, TryStreamExt};
use pixgw_domain::error::StoreError;
use pixgw_domain::ledger::{BALANCE_SHARDS, Balance, Movement};
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::money::Money;
use serde::Deserialize;
use serde_dynamo::aws_sdk_dynamodb_1::from_item;
use tracing::{debug, warn};

use crate::errors;
use crate::keys::{GSI1PK, Item, PK, SK_BALANCE, balance_pk, ledger_pk, primary_key, s};
use crate::settlement_items::movement_from_item;
use crate::table::GSI1;
use crate::{DynamoStore, query_all};

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
}

impl From<BalanceShardRecord> for Balance {
    fn from(r: BalanceShardRecord) -> Self {
        Balance {
            incoming: Money::from_cents(r.incoming_cents),
            available: Money::from_cents(r.available_cents),
            reserved_for_splits: Money::from_cents(r.reserved_for_splits_cents),
        }
    }
}

impl DynamoStore {
    /// One strongly consistent BatchGetItem of all shard keys (32 < the 100-key limit),
    /// re-requesting unprocessed keys with backoff.
    pub(crate) async fn read_balance(&self, account: &AccountId) -> Result<Balance, StoreError> {
        let shards = self.read_balance_shards(account).await?;
        Ok(shards
            .into_iter()
            .fold(Balance::default(), |sum, (_, shard)| sum.plus(shard)))
    }

    /// The shards that exist, as (shard, balance), ascending by shard: the same strongly
    /// consistent BatchGetItem as [`DynamoStore::read_balance`], shard by shard (what a debit
    /// of `available` is planned from).
    pub(crate) async fn read_balance_shards(
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
    pub(crate) async fn read_movements(
        &self,
        account: &AccountId,
    ) -> Result<Vec<Movement>, StoreError> {
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
