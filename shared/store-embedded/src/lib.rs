//! The embedded, durable storage adapter: every storage port of the domain on top
//! of [`redb`], one file on local disk (`<dir>/pixgw.redb`). The local gateway uses it in place
//! of DynamoDB; the contract suite in `tests/` holds both adapters to the same rules.
//!
//! # What is stored where
//!
//! Values are JSON (`serde_json`); keys are strings spelled by [`keys`] (parts joined by `\0`,
//! timestamps as sortable digits).
//!
//! | table                           | key                                            | value                        |
//! |---------------------------------|------------------------------------------------|------------------------------|
//! | `accounts`                      | account id                                     | [`Account`]                  |
//! | `clients`                       | client id                                      | [`ClientCredential`]         |
//! | `charges`                       | transaction id                                 | [`ChargeRecord`]             |
//! | `charges_by_account`            | account, created-at ms, transaction id         | transaction id               |
//! | `charges_by_status`             | account, status, created-at ms, transaction id | transaction id               |
//! | `charges_by_expiry`             | sortable expires-at ms, transaction id         | transaction id               |
//! | `external_ids`                  | account, `externalId`                          | transaction id               |
//! | `idempotency`                   | account, idempotency key                       | the claim record (JSON)      |
//! | `idempotency_by_expiry`         | expires-at ms, account, idempotency key        | idempotency table key        |
//! | `webhook_endpoints`             | account id                                     | `WebhookEndpointRecord`      |
//! | `webhook_deliveries`            | delivery id                                    | `DeliveryRecord`             |
//! | `webhook_deliveries_by_account` | account, created-at ms, delivery id            | status, event type (filters) |
//!
//! The two `charges_by_*` tables are the listing indexes: an account's charges (optionally of
//! one status) are one contiguous key range ordered by `(created_at, transaction_id)`, so a
//! page is a reverse range scan bounded by `from`/`to`/the cursor, never a full scan.
//! `charges_by_expiry` holds exactly the PENDING charges (kept exact by every charge write, and
//! filled once from `charges` when a file written before it existed is opened), soonest
//! expiry first, so the expiry sweeper reads the charges due with one range read.
//! `external_ids` is the per-account uniqueness guard for `externalId`, and
//! `idempotency_by_expiry` lets expired idempotency records be purged with a range scan too.
//!
//! Payout schedules (one per account, written with the account itself, plus the due index the
//! payout scheduler reads) live in the `schedules` module, which implements
//! [`ScheduleStore`](pixgw_domain::schedule::ports::ScheduleStore).
//!
//! The settlement pipeline (confirmed payments, split entries, payouts, the ledger and the
//! transactional outbox) has tables of its own, described in the `settlement` module, which
//! implements the confirmation and booking writes
//! ([`ChargeTransitions`](pixgw_domain::charge::ports::ChargeTransitions),
//! [`SplitStore`](pixgw_domain::split::ports::SplitStore)) and
//! [`OutboxFeed`](pixgw_domain::messaging::outbox::OutboxFeed); payouts and the indexes that list
//! them are in the `payouts` module, the account event log
//! ([`EventLog`](pixgw_domain::messaging::events::EventLog)) in the `events` module, and the payout
//! scheduler's runs ([`PayoutRunStore`](pixgw_domain::payout::runs::PayoutRunStore)) in the
//! `payout_runs` module.
//!
//! The money lifecycle ([`RefundStore`](pixgw_domain::refund::ports::RefundStore),
//! [`LedgerStore`](pixgw_domain::ledger::ports::LedgerStore),
//! [`CashOutStore`](pixgw_domain::cash_out::ports::CashOutStore): refunds,
//! charge expiry, the paged statement, cash-outs) is in the `lifecycle` module; cash-outs and
//! their guard and listing tables are in the `cash_outs` module.
//!
//! Merchant webhooks (the `webhook_*` tables above: each account's endpoint, the delivery log
//! and its listing index, newest first like `charges_by_account`; the records are those of
//! [`pixgw_domain::webhooks::record`]) live in the `webhooks`
//! module, which implements [`WebhookStore`](pixgw_domain::webhooks::WebhookStore). Every
//! account event a write records also stores its webhook message
//! ([`WebhookMessage::for_event`](pixgw_domain::webhooks::WebhookMessage::for_event)) in the
//! `outbox` table in the same transaction, so the outbox relay starts its delivery.
//!
//! # Why each operation is atomic
//!
//! redb has exactly one write transaction at a time (`begin_write` waits for the previous one
//! to commit or abort) and gives readers MVCC snapshots of committed data. Every operation that
//! checks something and then writes does both inside ONE write transaction: no other writer can
//! change what was checked before the commit, so the check-then-write is as atomic as a
//! DynamoDB conditional write or `TransactWriteItems`. When a check fails the transaction is
//! aborted and nothing is written; when every check passes, all items (charge, its index
//! entries, the `externalId` guard, the idempotency completion, …) become visible together at
//! commit. Commits use redb's default durability: when a call returns `Ok`, the data is on disk.
//!
//! redb is synchronous, so every operation runs on tokio's blocking pool
//! ([`tokio::task::spawn_blocking`]); the store is a cheap `Clone` around an `Arc<Database>`.

mod accounts;
mod cash_outs;
mod events;
mod keys;
mod lifecycle;
mod outbox;
mod payout_runs;
mod payouts;
pub mod private_files;
mod schedules;
mod settlement;
#[cfg(test)]
mod test_support;
mod webhooks;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{
    Database, ReadableDatabase, ReadableTable, Table, TableDefinition, TableHandle,
    WriteTransaction,
};
use serde::{Deserialize, Serialize};

use pixgw_domain::account::ports::{AccountStore, CreateAccountError, SetProvidersError};
use pixgw_domain::account::{Account, ClientCredential};
use pixgw_domain::charge::ports::{
    ChargeCursor, ChargeQuery, ChargeStore, InsertChargeError, Page,
};
use pixgw_domain::charge::record::ChargeRecord;
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::error::StoreError;
use pixgw_domain::idempotency::{
    ClaimOutcome, ClaimRequest, IdempotencyClaim, IdempotencyCompletion, IdempotencyStore,
    StoredResponse,
};
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::schedule::ports::ScheduleState;
use pixgw_domain::schedule::record::ScheduleRecord;

/// The database file inside the directory given to [`EmbeddedStore::open`].
pub const FILE_NAME: &str = "pixgw.redb";

/// The most charges one page may hold, whatever the query asks.
const MAX_PAGE: u32 = 100;

/// How many expired idempotency records a claim purges on its way (bounded, so a claim never
/// pays for a long backlog; [`EmbeddedStore::purge_expired`] clears everything).
const PURGE_PER_CLAIM: usize = 16;

type Bytes = &'static [u8];

const ACCOUNTS: TableDefinition<&str, Bytes> = TableDefinition::new("accounts");
const CLIENTS: TableDefinition<&str, Bytes> = TableDefinition::new("clients");
const CHARGES: TableDefinition<&str, Bytes> = TableDefinition::new("charges");
const CHARGES_BY_ACCOUNT: TableDefinition<&str, &str> = TableDefinition::new("charges_by_account");
const CHARGES_BY_STATUS: TableDefinition<&str, &str> = TableDefinition::new("charges_by_status");
const EXTERNAL_IDS: TableDefinition<&str, &str> = TableDefinition::new("external_ids");
/// The expiry index: exactly the PENDING charges, by `(expiresAtMs, transaction id)`.
const CHARGES_BY_EXPIRY: TableDefinition<&str, &str> = TableDefinition::new("charges_by_expiry");
const IDEMPOTENCY: TableDefinition<&str, Bytes> = TableDefinition::new("idempotency");
const IDEMPOTENCY_BY_EXPIRY: TableDefinition<&str, &str> =
    TableDefinition::new("idempotency_by_expiry");

/// The storage ports on a local redb file. Cheap to clone; all clones share one database.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    path: Arc<PathBuf>,
}

impl fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Creates `dir` if needed and opens (or creates) `dir/pixgw.redb`, with every table.
    /// The directory is made `0700` and the file `0600`, tightened if found looser: the file
    /// holds payers' CPF/CNPJ (see [`private_files`]).
    ///
    /// Blocking; call it at startup (or inside `spawn_blocking`). One process may hold the
    /// file at a time: opening it twice fails with [`StoreError::Unavailable`].
    pub fn open(dir: &Path) -> Result<EmbeddedStore, StoreError> {
        private_files::private_dir(dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create directory {}: {e}", dir.display()))
        })?;
        let path = dir.join(FILE_NAME);
        private_files::private_file(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        let db = Database::create(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        // Create every table up front, so read transactions never meet a missing table.
        let txn = db.begin_write().map_err(db_err)?;
        let had_expiry_index = txn
            .list_tables()
            .map_err(db_err)?
            .any(|table| table.name() == CHARGES_BY_EXPIRY.name());
        txn.open_table(ACCOUNTS).map_err(db_err)?;
        txn.open_table(CLIENTS).map_err(db_err)?;
        txn.open_table(CHARGES).map_err(db_err)?;
        txn.open_table(CHARGES_BY_ACCOUNT).map_err(db_err)?;
        txn.open_table(CHARGES_BY_STATUS).map_err(db_err)?;
        txn.open_table(EXTERNAL_IDS).map_err(db_err)?;
        txn.open_table(IDEMPOTENCY).map_err(db_err)?;
        txn.open_table(IDEMPOTENCY_BY_EXPIRY).map_err(db_err)?;
        txn.open_table(CHARGES_BY_EXPIRY).map_err(db_err)?;
        if !had_expiry_index {
            backfill_expiry_index(&txn)?;
        }
        settlement::create_tables(&txn)?;
        cash_outs::create_tables(&txn)?;
        payouts::create_tables(&txn)?;
        events::create_tables(&txn)?;
        outbox::create_tables(&txn)?;
        schedules::create_tables(&txn)?;
        payout_runs::create_tables(&txn)?;
        webhooks::create_tables(&txn)?;
        txn.commit().map_err(db_err)?;
        Ok(EmbeddedStore {
            db: Arc::new(db),
            path: Arc::new(path),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

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

    /// Runs `op` on the blocking pool. A panicking or cancelled task is a [`StoreError`],
    /// never a panic of the caller.
    async fn blocking<T, E, F>(&self, name: &'static str, op: F) -> Result<T, E>
    where
        F: FnOnce(&Database) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        match tokio::task::spawn_blocking(move || op(&db)).await {
            Ok(result) => result,
            Err(e) => Err(StoreError::Unavailable(format!(
                "embedded store {name} task failed: {e}"
            ))
            .into()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors and encoding

/// Any redb failure: I/O, a full disk, a closed database. The caller cannot fix it.
fn db_err(e: impl fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("redb: {e}"))
}

fn encode<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>, StoreError> {
    // Serialising our own plain structs cannot fail in practice; if it ever does, nothing was
    // written, so "unavailable" is the honest answer.
    serde_json::to_vec(value)
        .map_err(|e| StoreError::Unavailable(format!("cannot encode {what}: {e}")))
}

fn decode<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    what: &str,
    key: &str,
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| {
        StoreError::Corrupt(format!("{what} {key:?} is not valid JSON of its type: {e}"))
    })
}

fn decode_charge(bytes: &[u8], key: &str) -> Result<Charge, StoreError> {
    let record: ChargeRecord = decode(bytes, "charge", key)?;
    Charge::try_from(record)
}

/// The value under `key`, decoded with `decode(bytes, key)`; `None` when there is none.
fn get_decoded<T>(
    table: &impl ReadableTable<&'static str, Bytes>,
    key: &str,
    decode: impl FnOnce(&[u8], &str) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    match table.get(key).map_err(db_err)? {
        Some(value) => decode(value.value(), key).map(Some),
        None => Ok(None),
    }
}

/// [`get_decoded`] in a read transaction of its own: one snapshot read of one value.
fn read_one<T>(
    db: &Database,
    definition: TableDefinition<&str, Bytes>,
    key: &str,
    decode: impl FnOnce(&[u8], &str) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let txn = db.begin_read().map_err(db_err)?;
    let table = txn.open_table(definition).map_err(db_err)?;
    get_decoded(&table, key, decode)
}

/// Aborts a write transaction whose checks failed. Dropping it would abort too; doing it
/// explicitly surfaces (and logs) a failure instead of hiding it in `Drop`.
fn abort(txn: WriteTransaction) {
    if let Err(e) = txn.abort() {
        tracing::warn!(error = %e, "embedded store: aborting a write transaction failed");
    }
}

// ---------------------------------------------------------------------------------------------
// Idempotency records

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum ClaimState {
    InProgress,
    Completed,
}

/// What the `idempotency` table holds for one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdempotencyRecord {
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
fn load_held(
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
fn complete_idempotency(
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

// ---------------------------------------------------------------------------------------------
// Charges

/// Writes a charge and its index entries. With `previous` (the stored version of the same
/// charge) its old index entries are moved, so a later status change keeps the indexes exact.
fn put_charge(
    txn: &WriteTransaction,
    record: &ChargeRecord,
    previous: Option<&ChargeRecord>,
) -> Result<(), StoreError> {
    let value = encode(record, "charge")?;
    let id = record.transaction_id.as_str();
    let indexes = [
        (
            CHARGES_BY_ACCOUNT,
            account_entry(record),
            previous.map(account_entry),
        ),
        (
            CHARGES_BY_STATUS,
            status_entry(record),
            previous.map(status_entry),
        ),
    ];
    for (definition, new_key, old_key) in indexes {
        let mut index = txn.open_table(definition).map_err(db_err)?;
        if let Some(old_key) = old_key.filter(|old| *old != new_key) {
            index.remove(old_key.as_str()).map_err(db_err)?;
        }
        index.insert(new_key.as_str(), id).map_err(db_err)?;
    }
    {
        // The expiry index holds a charge only while it is PENDING.
        let mut by_expiry = txn.open_table(CHARGES_BY_EXPIRY).map_err(db_err)?;
        if let Some(old_key) = previous.and_then(expiry_entry) {
            by_expiry.remove(old_key.as_str()).map_err(db_err)?;
        }
        if let Some(new_key) = expiry_entry(record) {
            by_expiry.insert(new_key.as_str(), id).map_err(db_err)?;
        }
    }
    let mut charges = txn.open_table(CHARGES).map_err(db_err)?;
    charges.insert(id, value.as_slice()).map_err(db_err)?;
    Ok(())
}

/// A charge's entry in `charges_by_account`.
fn account_entry(r: &ChargeRecord) -> String {
    keys::index_entry(
        &keys::account_prefix(&r.account_id),
        r.created_at_ms,
        &r.transaction_id,
    )
}

/// A charge's entry in `charges_by_expiry`, if it is PENDING.
fn expiry_entry(r: &ChargeRecord) -> Option<String> {
    (r.status == ChargeStatus::Pending.as_str())
        .then(|| keys::expiring_charge(r.expires_at_ms, &r.transaction_id))
}

/// Fills `charges_by_expiry` (just created) from the charges of a database written before the
/// index existed: one scan, once, when the file is first opened by this version.
fn backfill_expiry_index(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut entries = Vec::new();
    {
        let charges = txn.open_table(CHARGES).map_err(db_err)?;
        for entry in charges.iter().map_err(db_err)? {
            let (key, value) = entry.map_err(db_err)?;
            let record: ChargeRecord = decode(value.value(), "charge", key.value())?;
            if let Some(index_key) = expiry_entry(&record) {
                entries.push((index_key, record.transaction_id));
            }
        }
    }
    let mut by_expiry = txn.open_table(CHARGES_BY_EXPIRY).map_err(db_err)?;
    for (index_key, id) in &entries {
        by_expiry
            .insert(index_key.as_str(), id.as_str())
            .map_err(db_err)?;
    }
    Ok(())
}

/// A charge's entry in `charges_by_status`.
fn status_entry(r: &ChargeRecord) -> String {
    let prefix = keys::status_prefix(&r.account_id, &r.status);
    keys::index_entry(&prefix, r.created_at_ms, &r.transaction_id)
}

fn contains<V: redb::Value + 'static>(
    table: &Table<'_, &'static str, V>,
    key: &str,
) -> Result<bool, StoreError> {
    Ok(table.get(key).map_err(db_err)?.is_some())
}

/// The key range `[lower, upper)` of one listing page, before the limit.
fn listing_bounds(account_id: &AccountId, query: &ChargeQuery) -> (String, String) {
    let prefix = match query.status {
        Some(status) => keys::status_prefix(account_id.as_str(), status.as_str()),
        None => keys::account_prefix(account_id.as_str()),
    };
    let lower = match query.from {
        Some(from) => keys::index_at(&prefix, from.timestamp_millis()),
        None => prefix.clone(),
    };
    let mut upper = keys::prefix_end(&prefix);
    if let Some(to) = query.to {
        upper = upper.min(keys::index_at(&prefix, to.timestamp_millis()));
    }
    if let Some(after) = &query.after {
        // Strictly older than the cursor: the cursor's own entry is the exclusive bound.
        let cursor_key =
            keys::index_entry(&prefix, after.created_at_ms, after.transaction_id.as_str());
        upper = upper.min(cursor_key);
    }
    (lower, upper)
}

// ---------------------------------------------------------------------------------------------
// Ports

#[async_trait]
impl AccountStore for EmbeddedStore {
    async fn create_account(
        &self,
        account: &Account,
        credential: &ClientCredential,
    ) -> Result<(), CreateAccountError> {
        let account_value = encode(account, "account")?;
        let credential_value = encode(credential, "client credential")?;
        let account_id = account.id.to_string();
        let client_id = credential.client_id.clone();
        // Written with the account, so no account ever exists without a schedule for the
        // payout scheduler's index to find.
        let schedule =
            ScheduleRecord::from(&ScheduleState::initial(&account.id, account.created_at));
        self.blocking("create_account", move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let taken = {
                let accounts = txn.open_table(ACCOUNTS).map_err(db_err)?;
                let clients = txn.open_table(CLIENTS).map_err(db_err)?;
                contains(&accounts, &account_id)?
                    || contains(&clients, &client_id)?
                    || schedules::load_schedule(&txn, &account_id)?.is_some()
            };
            if taken {
                abort(txn);
                return Err(CreateAccountError::AlreadyExists);
            }
            {
                let mut accounts = txn.open_table(ACCOUNTS).map_err(db_err)?;
                accounts
                    .insert(account_id.as_str(), account_value.as_slice())
                    .map_err(db_err)?;
                let mut clients = txn.open_table(CLIENTS).map_err(db_err)?;
                clients
                    .insert(client_id.as_str(), credential_value.as_slice())
                    .map_err(db_err)?;
            }
            schedules::put_schedule_record(&txn, &schedule, None)?;
            txn.commit().map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        let id = id.to_string();
        self.blocking("get_account", move |db| {
            read_one(db, ACCOUNTS, &id, |bytes, key| {
                decode(bytes, "account", key)
            })
        })
        .await
    }

    async fn find_client(&self, client_id: &str) -> Result<Option<ClientCredential>, StoreError> {
        let client_id = client_id.to_owned();
        self.blocking("find_client", move |db| {
            read_one(db, CLIENTS, &client_id, |bytes, key| {
                decode(bytes, "client credential", key)
            })
        })
        .await
    }

    async fn set_account_providers(
        &self,
        id: &AccountId,
        providers: &[String],
    ) -> Result<(), SetProvidersError> {
        let id = id.to_string();
        let providers = providers.to_vec();
        self.blocking("set_account_providers", move |db| {
            accounts::set_providers(db, &id, &providers)
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

#[async_trait]
impl ChargeStore for EmbeddedStore {
    async fn insert_charge(
        &self,
        charge: &Charge,
        completion: Option<&IdempotencyCompletion>,
    ) -> Result<(), InsertChargeError> {
        let record = ChargeRecord::from(charge);
        let completion = completion.cloned();
        self.blocking("insert_charge", move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            // Every check runs inside this write transaction; the first failing one in the
            // precedence order ClaimLost > DuplicateExternalId > IdCollision wins.
            let claim_key = completion
                .as_ref()
                .map(|c| keys::idempotency(c.claim.account_id.as_str(), &c.claim.key));
            let held_claim = match (&completion, &claim_key) {
                (Some(c), Some(key)) => match load_held(&txn, key, &c.claim.lock_token)? {
                    Some(record) => Some(record),
                    None => {
                        abort(txn);
                        return Err(InsertChargeError::ClaimLost);
                    }
                },
                _ => None,
            };
            let external_key = keys::external_id(&record.account_id, &record.external_id);
            let conflict = {
                let external_ids = txn.open_table(EXTERNAL_IDS).map_err(db_err)?;
                let charges = txn.open_table(CHARGES).map_err(db_err)?;
                if contains(&external_ids, &external_key)? {
                    Some(InsertChargeError::DuplicateExternalId)
                } else if contains(&charges, &record.transaction_id)? {
                    Some(InsertChargeError::IdCollision)
                } else {
                    None
                }
            };
            if let Some(conflict) = conflict {
                abort(txn);
                return Err(conflict);
            }

            put_charge(&txn, &record, None)?;
            {
                let mut external_ids = txn.open_table(EXTERNAL_IDS).map_err(db_err)?;
                external_ids
                    .insert(external_key.as_str(), record.transaction_id.as_str())
                    .map_err(db_err)?;
            }
            if let (Some(completion), Some(key), Some(previous)) =
                (&completion, &claim_key, &held_claim)
            {
                complete_idempotency(&txn, key, previous, &completion.response)?;
            }
            txn.commit().map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn get_charge(&self, id: &TransactionId) -> Result<Option<Charge>, StoreError> {
        let id = id.to_string();
        self.blocking("get_charge", move |db| {
            read_one(db, CHARGES, &id, decode_charge)
        })
        .await
    }

    async fn find_charge_by_external_id(
        &self,
        account_id: &AccountId,
        external_id: &str,
    ) -> Result<Option<Charge>, StoreError> {
        let key = keys::external_id(account_id.as_str(), external_id);
        self.blocking("find_charge_by_external_id", move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let external_ids = txn.open_table(EXTERNAL_IDS).map_err(db_err)?;
            let Some(id) = external_ids.get(key.as_str()).map_err(db_err)? else {
                return Ok(None);
            };
            let id = id.value().to_owned();
            let charges = txn.open_table(CHARGES).map_err(db_err)?;
            match get_decoded(&charges, &id, decode_charge)? {
                Some(charge) => Ok(Some(charge)),
                None => Err(StoreError::Corrupt(format!(
                    "externalId guard {key:?} names missing charge {id}"
                ))),
            }
        })
        .await
    }

    async fn list_charges(
        &self,
        account_id: &AccountId,
        query: &ChargeQuery,
    ) -> Result<Page<Charge>, StoreError> {
        let limit = query.limit.clamp(1, MAX_PAGE) as usize;
        let index_definition = if query.status.is_some() {
            CHARGES_BY_STATUS
        } else {
            CHARGES_BY_ACCOUNT
        };
        let (lower, upper) = listing_bounds(account_id, query);
        self.blocking("list_charges", move |db| {
            if lower >= upper {
                return Ok(Page {
                    items: Vec::new(),
                    next: None,
                });
            }
            let txn = db.begin_read().map_err(db_err)?;
            let index = txn.open_table(index_definition).map_err(db_err)?;
            let charges = txn.open_table(CHARGES).map_err(db_err)?;
            let (ids, more) = newest_ids(&index, &lower, &upper, limit)?;
            let mut items = Vec::with_capacity(ids.len());
            for id in ids {
                match get_decoded(&charges, &id, decode_charge)? {
                    Some(charge) => items.push(charge),
                    None => {
                        return Err(StoreError::Corrupt(format!(
                            "charge index names missing charge {id}"
                        )));
                    }
                }
            }
            let next = if more {
                items.last().map(ChargeCursor::of)
            } else {
                None
            };
            Ok(Page { items, next })
        })
        .await
    }
}

/// The values (record ids) of an index's entries in `lower..upper`, newest (greatest key)
/// first, at most `limit`; and whether more entries follow. Reads one entry past the page to
/// know, so a listing never answers a "next" cursor that leads to an empty page.
pub(crate) fn newest_ids(
    index: &redb::ReadOnlyTable<&str, &str>,
    lower: &str,
    upper: &str,
    limit: usize,
) -> Result<(Vec<String>, bool), StoreError> {
    let mut ids = Vec::with_capacity(limit + 1);
    for entry in index.range::<&str>(lower..upper).map_err(db_err)?.rev() {
        let (_, id) = entry.map_err(db_err)?;
        ids.push(id.value().to_owned());
        if ids.len() > limit {
            break;
        }
    }
    let more = ids.len() > limit;
    ids.truncate(limit);
    Ok((ids, more))
}

#[cfg(test)]
mod tests;
