//! Write transactions. redb runs one write transaction at a time, so a write that checks its
//! conditions and then writes, inside ONE transaction, is as atomic as a DynamoDB conditional
//! write or `TransactWriteItems` (see the crate docs): [`conditional_write`] is that shape,
//! and [`abort`] ends a transaction whose checks failed.

use redb::{Database, WriteTransaction};

use pixgw_domain::error::{StoreError, WriteOutcome};

use crate::tables::db_err;

/// Runs one command: `op` checks its conditions and, only if all hold, writes and returns
/// `Applied` (then the transaction commits). `Conflict` or an error abort it: nothing written.
pub(crate) fn conditional_write(
    db: &Database,
    op: impl FnOnce(&WriteTransaction) -> Result<WriteOutcome, StoreError>,
) -> Result<WriteOutcome, StoreError> {
    let txn = db.begin_write().map_err(db_err)?;
    // On an error `txn` is dropped, which aborts it.
    match op(&txn)? {
        WriteOutcome::Applied => {
            txn.commit().map_err(db_err)?;
            Ok(WriteOutcome::Applied)
        }
        WriteOutcome::Conflict => {
            abort(txn);
            Ok(WriteOutcome::Conflict)
        }
    }
}

/// Aborts a write transaction whose checks failed. Dropping it would abort too; doing it
/// explicitly surfaces (and logs) a failure instead of hiding it in `Drop`.
pub(crate) fn abort(txn: WriteTransaction) {
    if let Err(e) = txn.abort() {
        tracing::warn!(error = %e, "embedded store: aborting a write transaction failed");
    }
}
