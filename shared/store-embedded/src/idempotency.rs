//! [`IdempotencyStore`] on redb: one claim record per (account, `X-Idempotency-Key`).
//!
//! | table                   | key                                     | value                   |
//! |-------------------------|-----------------------------------------|-------------------------|
//! | `idempotency`           | account, idempotency key                | the claim record (JSON) |
//! | `idempotency_by_expiry` | expires-at ms, account, idempotency key | `idempotency` key       |
//!
//! A claim checks the stored record and writes its own in ONE write transaction, so two
//! claims of one key cannot both win. A write that completes a claim (a charge insert, a
//! refund, a cash-out) re-checks that the claim is still held ([`load_held`]) and completes it
//! ([`complete_idempotency`]) inside its own transaction, so the effect and its replayable
//! response commit together. `idempotency_by_expiry` lets expired records be purged with a
//! range scan: a claim purges a few on its way ([`PURGE_PER_CLAIM`]),
//! [`EmbeddedStore::purge_expired`] all of them; an expired record never counts as live.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use pixgw_domain::error::StoreError;
use pixgw_domain::idempotency::{
    ClaimOutcome, ClaimRequest, IdempotencyClaim, IdempotencyCompletion, IdempotencyStore,
    StoredResponse,
};
use pixgw_domain::pix::ids::AccountId;

use crate::EmbeddedStore;
use crate::keys;
use crate::tables::{Bytes, db_err, decode, encode, get_decoded};
use crate::transact::abort;

pub(crate) const IDEMPOTENCY: TableDefinition<&str, Bytes> = TableDefinition::new("idempotency");
pub(crate) const IDEMPOTENCY_BY_EXPIRY: TableDefinition<&str, &str> =
    TableDefinition::new("idempotency_by_expiry");

/// How many expired idempotency records a claim purges on its way (bounded, so a claim never
/// pays for a long backlog; [`EmbeddedStore::purge_expired`] clears everything).
const PURGE_PER_CLAIM: usize = 16;

/// Creates the idempotency tables (called by [`EmbeddedStore::open`]).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(IDEMPOTENCY).map_err(db_err)?;
    txn.open_table(IDEMPOTENCY_BY_EXPIRY).map_err(db_err)?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum ClaimState {
    InProgress,
    Completed,
}

/// What the `idempotency` table holds for one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IdempotencyRecord {
    state: ClaimState,
    request_hash: String,
    lock_token: String,
    lease_until_ms: i64,
    expires_at_ms: i64,
    /// Present once COMPLETED: the response to replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response: Option<StoredResponse>,
}

impl IdempotencyRecord {
    fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms < now_ms
    }

    fn is_held_by(&self, lock_token: &str) -> bool {
        self.state == ClaimState::InProgress && self.lock_token == lock_token
    }
}

/// An owned copy of a [`ClaimRequest`], to move onto the blocking pool.
struct OwnedClaim {
    account_id: AccountId,
    key: String,
    request_hash: String,
    lock_token: String,
    now_ms: i64,
    lease_until_ms: i64,
    expires_at: DateTime<Utc>,
}

fn read_idempotency(
    table: &impl ReadableTable<&'static str, Bytes>,
    key: &str,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    get_decoded(table, key, |bytes, key| {
        decode(bytes, "idempotency record", key)
    })
}

fn load_idempotency(
    txn: &WriteTransaction,
    key: &str,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    let table = txn.open_table(IDEMPOTENCY).map_err(db_err)?;
    read_idempotency(&table, key)
}

/// The record under `key` if the claim with `lock_token` still holds it (IN_PROGRESS, same
/// token); `None` when the claim was lost (taken over, released, purged, completed).
pub(crate) fn load_held(
    txn: &WriteTransaction,
    key: &str,
    lock_token: &str,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    Ok(load_idempotency(txn, key)?.filter(|r| r.is_held_by(lock_token)))
}

/// Writes `record` under `key`, replacing `previous` (and its expiry index entry).
fn put_idempotency(
    txn: &WriteTransaction,
    key: &str,
    previous: Option<&IdempotencyRecord>,
    record: &IdempotencyRecord,
) -> Result<(), StoreError> {
    let value = encode(record, "idempotency record")?;
    let mut by_expiry = txn.open_table(IDEMPOTENCY_BY_EXPIRY).map_err(db_err)?;
    if let Some(previous) = previous {
        by_expiry
            .remove(keys::idempotency_expiry(previous.expires_at_ms, key).as_str())
            .map_err(db_err)?;
    }
    by_expiry
        .insert(
            keys::idempotency_expiry(record.expires_at_ms, key).as_str(),
            key,
        )
        .map_err(db_err)?;
    let mut table = txn.open_table(IDEMPOTENCY).map_err(db_err)?;
    table.insert(key, value.as_slice()).map_err(db_err)?;
    Ok(())
}

/// Completes the held claim `previous` under `key`: COMPLETED with `response` to replay.
pub(crate) fn complete_idempotency(
    txn: &WriteTransaction,
    key: &str,
    previous: &IdempotencyRecord,
    response: &StoredResponse,
) -> Result<(), StoreError> {
    let record = IdempotencyRecord {
        state: ClaimState::Completed,
        response: Some(response.clone()),
        ..previous.clone()
    };
    put_idempotency(txn, key, Some(previous), &record)
}

fn delete_idempotency(
    txn: &WriteTransaction,
    key: &str,
    previous: &IdempotencyRecord,
) -> Result<(), StoreError> {
    let mut by_expiry = txn.open_table(IDEMPOTENCY_BY_EXPIRY).map_err(db_err)?;
    by_expiry
        .remove(keys::idempotency_expiry(previous.expires_at_ms, key).as_str())
        .map_err(db_err)?;
    let mut table = txn.open_table(IDEMPOTENCY).map_err(db_err)?;
    table.remove(key).map_err(db_err)?;
    Ok(())
}

/// Deletes up to `max` idempotency records that expired strictly before `now_ms`.
fn purge_expired_in(txn: &WriteTransaction, now_ms: i64, max: usize) -> Result<usize, StoreError> {
    let mut by_expiry = txn.open_table(IDEMPOTENCY_BY_EXPIRY).map_err(db_err)?;
    let mut table = txn.open_table(IDEMPOTENCY).map_err(db_err)?;
    let bound = keys::idempotency_expiry_bound(now_ms);
    let mut due: Vec<(String, String)> = Vec::new();
    for entry in by_expiry.range::<&str>(..bound.as_str()).map_err(db_err)? {
        if due.len() >= max {
            break;
        }
        let (index_key, record_key) = entry.map_err(db_err)?;
        due.push((index_key.value().to_owned(), record_key.value().to_owned()));
    }
    for (index_key, record_key) in &due {
        by_expiry.remove(index_key.as_str()).map_err(db_err)?;
        // The index entry is removed whenever its record is replaced, so a live entry always
        // names a record with that expiry; checking again costs little and guards the rule
        // "only expired records are purged" against any stray entry.
        let expired = read_idempotency(&table, record_key)?.is_some_and(|r| r.is_expired(now_ms));
        if expired {
            table.remove(record_key.as_str()).map_err(db_err)?;
        }
    }
    Ok(due.len())
}

impl EmbeddedStore {
    /// Deletes every idempotency record that expired strictly before `now`; returns how many.
    /// Claims also purge a few on their way, and never treat an expired record as live.
    pub async fn purge_expired(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let now_ms = now.timestamp_millis();
        self.blocking("purge_expired", move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let purged = purge_expired_in(&txn, now_ms, usize::MAX)?;
            txn.commit().map_err(db_err)?;
            Ok(purged)
        })
        .await
    }
}

#[async_trait]
impl IdempotencyStore for EmbeddedStore {
    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<ClaimOutcome, StoreError> {
        let claim = OwnedClaim {
            account_id: request.account_id.clone(),
            key: request.key.to_owned(),
            request_hash: request.request_hash.to_owned(),
            lock_token: request.lock_token.to_owned(),
            now_ms: request.now.timestamp_millis(),
            lease_until_ms: request.lease_until.timestamp_millis(),
            expires_at: request.expires_at,
        };
        self.blocking("claim", move |db| {
            let key = keys::idempotency(claim.account_id.as_str(), &claim.key);
            let txn = db.begin_write().map_err(db_err)?;
            let existing = load_idempotency(&txn, &key)?;
            // An expired record counts as absent, whatever it says.
            let live = existing.as_ref().filter(|r| !r.is_expired(claim.now_ms));
            let outcome = match live {
                None => None,
                Some(record) if record.request_hash != claim.request_hash => {
                    Some(ClaimOutcome::Mismatch)
                }
                Some(record) => match record.state {
                    ClaimState::Completed => match &record.response {
                        Some(response) => Some(ClaimOutcome::Replay(response.clone())),
                        None => {
                            abort(txn);
                            return Err(StoreError::Corrupt(format!(
                                "idempotency record {key:?} is COMPLETED without a response"
                            )));
                        }
                    },
                    // A crashed owner's lease ran out: a retry of the same request takes over.
                    ClaimState::InProgress if record.lease_until_ms < claim.now_ms => None,
                    ClaimState::InProgress => Some(ClaimOutcome::InUse),
                },
            };
            if let Some(outcome) = outcome {
                abort(txn);
                return Ok(outcome);
            }
            let record = IdempotencyRecord {
                state: ClaimState::InProgress,
                request_hash: claim.request_hash,
                lock_token: claim.lock_token.clone(),
                lease_until_ms: claim.lease_until_ms,
                expires_at_ms: claim.expires_at.timestamp_millis(),
                response: None,
            };
            put_idempotency(&txn, &key, existing.as_ref(), &record)?;
            purge_expired_in(&txn, claim.now_ms, PURGE_PER_CLAIM)?;
            txn.commit().map_err(db_err)?;
            Ok(ClaimOutcome::Claimed(IdempotencyClaim {
                account_id: claim.account_id,
                key: claim.key,
                lock_token: claim.lock_token,
                expires_at: claim.expires_at,
            }))
        })
        .await
    }

    async fn complete(&self, completion: &IdempotencyCompletion) -> Result<(), StoreError> {
        let completion = completion.clone();
        self.blocking("complete", move |db| {
            let claim = &completion.claim;
            let key = keys::idempotency(claim.account_id.as_str(), &claim.key);
            let txn = db.begin_write().map_err(db_err)?;
            let Some(previous) = load_held(&txn, &key, &claim.lock_token)? else {
                // The claim was lost (taken over, released, purged): nothing of ours to finish.
                abort(txn);
                return Ok(());
            };
            complete_idempotency(&txn, &key, &previous, &completion.response)?;
            txn.commit().map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn release(&self, claim: &IdempotencyClaim) -> Result<(), StoreError> {
        let claim = claim.clone();
        self.blocking("release", move |db| {
            let key = keys::idempotency(claim.account_id.as_str(), &claim.key);
            let txn = db.begin_write().map_err(db_err)?;
            let Some(previous) = load_held(&txn, &key, &claim.lock_token)? else {
                abort(txn);
                return Ok(());
            };
            delete_idempotency(&txn, &key, &previous)?;
            txn.commit().map_err(db_err)?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests;
