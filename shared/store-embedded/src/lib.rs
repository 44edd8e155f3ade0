//! The embedded, durable storage adapter: every storage port of the domain on top
//! of [`redb`], one file on local disk (`<dir>/pixgw.redb`). The local gateway uses it in place
//! of DynamoDB; the contract suite in `tests/` holds both adapters to the same rules.
//!
//! # Where the code is
//!
//! One module per aggregate of the domain, the same map as `pixgw-store-dynamodb`; each holds
//! its port's `impl … for EmbeddedStore`, its tables (each module's docs show their keys and
//! values) and the reads and writes only it uses:
//!
//! | module       | port                               | tables |
//! |--------------|------------------------------------|--------|
//! | `account`    | `AccountStore`                     | `accounts`, `clients` |
//! | `idempotency`| `IdempotencyStore`                 | `idempotency`, `idempotency_by_expiry` |
//! | `charge`     | `ChargeStore`, `ChargeTransitions` | `charges`, `charges_by_account`, `charges_by_status`, `charges_by_expiry`, `external_ids`, `end_to_end_ids` |
//! | `refund`     | `RefundStore`                      | (the charge's and its splits') |
//! | `split`      | `SplitStore`                       | `splits`, `splits_scheduled` |
//! | `ledger`     | `LedgerStore`                      | `movements`, `movements_by_account`, `balances` |
//! | `payout`     | `PayoutStore`                      | `payouts`, `payouts_by_account`, `payouts_by_state`, `payout_splits` (a scheduled payout's manifest, settled chunk by chunk in `payout::settle_splits`) |
//! | `payout_run` | `PayoutRunStore`                   | `payouts_assembling`, `payout_windows`; the run lease on the schedule (`payout_run::lease`) |
//! | `schedule`   | `ScheduleStore`                    | `schedules`, `schedules_due` |
//! | `cash_out`   | `CashOutStore`                     | `cash_outs`, `cash_out_external_ids`, `cash_outs_by_account`, `cash_outs_by_state` |
//! | `events`     | `EventLog`                         | `events`, `events_by_account` |
//! | `outbox`     | `OutboxFeed`                       | `outbox`, `outbox_by_time` |
//! | `webhooks`   | `WebhookStore`                     | `webhook_endpoints`, `webhook_deliveries`, `webhook_deliveries_by_account` |
//!
//! What several ports share is `ledger_write`: the ledger half every write that moves money
//! ends with, and the conditions of the money-out writes (the debit of `available` against the
//! balance row, the idempotency claim they complete). The redb plumbing: `tables` (values as
//! JSON, the shared reads, redb failures), `transact` (the conditional write transaction),
//! `listing` (newest-first listing reads), `keys` (every key, parts joined by `\0`, timestamps
//! as sortable digits) and [`private_files`] (the file's permissions); `test_support` holds the
//! unit tests' fixtures.
//!
//! Every account event a write records also stores its webhook message
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

// The storage ports, one module per aggregate of the domain (the same map as
// `pixgw-store-dynamodb`).
mod account;
mod cash_out;
mod charge;
mod dispute;
mod events;
mod idempotency;
mod ledger;
mod outbox;
mod payout;
mod payout_run;
mod recipient;
mod refund;
mod schedule;
mod split;
mod webhooks;

// What several ports share: the ledger half of every money write.
mod ledger_write;

// redb plumbing.
mod keys;
mod listing;
pub mod private_files;
mod tables;
mod transact;

#[cfg(test)]
mod test_support;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::Database;

use pixgw_domain::error::StoreError;

use crate::tables::db_err;

/// The database file inside the directory given to [`EmbeddedStore::open`].
pub const FILE_NAME: &str = "pixgw.redb";

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
        account::create_tables(&txn)?;
        idempotency::create_tables(&txn)?;
        charge::create_tables(&txn)?;
        split::create_tables(&txn)?;
        dispute::create_tables(&txn)?;
        ledger::create_tables(&txn)?;
        payout::create_tables(&txn)?;
        payout_run::create_tables(&txn)?;
        schedule::create_tables(&txn)?;
        cash_out::create_tables(&txn)?;
        recipient::create_tables(&txn)?;
        events::create_tables(&txn)?;
        outbox::create_tables(&txn)?;
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

#[cfg(test)]
mod tests;
