//! What the writes that book a ledger movement share: charge confirmations and transitions,
//! split bookings, payout settlements, refunds and cash-outs.
//!
//! Each such write is one write transaction that checks every condition first (its state,
//! then that its movement and events are not stored yet: [`movement_absent`],
//! [`events_absent`]) and writes only when all hold, ending with the same ledger half:
//! [`put_movement`] (the movement, its account index entry and the balance row),
//! [`put_events`] (the events with their webhook messages) and [`put_outbox`]. Otherwise the
//! transaction is aborted and nothing is written.
//!
//! [`movement_absent`]: crate::ledger::movement_absent
//! [`events_absent`]: crate::events::events_absent
//! [`put_movement`]: crate::ledger::put_movement
//! [`put_events`]: crate::events::put_events
//! [`put_outbox`]: crate::outbox::put_outbox
//!
//! The money-out writes (refunds, cash-outs) run through [`money_out_write`] and share the
//! conditions below.
//!
//! # Debits of `available`
//!
//! The embedded store keeps ONE balance row per account (redb has no per-item write limit), so
//! [`LedgerStore::balance_shards`](pixgw_domain::ledger::ports::LedgerStore::balance_shards)
//! reports it as shard 0 and a draw planned from it names shard 0. The write checks the whole
//! draw against that row: it is applied only if the row's `available` is at least
//! [`AvailableDraw::total`] inside the write transaction (redb runs one writer at a time, so
//! nothing can spend it between the check and the commit), else the answer is
//! [`MoneyOutOutcome::BalanceChanged`]. The movement is then added to the row whole, as every
//! movement is. Before anything, the draw must match the movement's debit of `available`
//! ([`shard_updates`]); a mismatch is a programming error ([`StoreError::Corrupt`]), and a
//! write without a draw (a transition, a cash-out update) is held to the same rule with an
//! empty draw ([`check_no_draw`]).
//!
//! # Which failure is reported
//!
//! A money-out write whose conditions fail reports, in this order: `ClaimLost` (nothing the
//! caller does can make the write succeed), `DuplicateExternalId`, `Conflict` (re-read), and
//! only when every other condition holds `BalanceChanged`, the one failure a re-plan from a
//! fresh balance can cure.

use redb::{Database, WriteTransaction};

use pixgw_domain::error::StoreError;
use pixgw_domain::idempotency::IdempotencyCompletion;
use pixgw_domain::ledger::ports::MoneyOutOutcome;
use pixgw_domain::ledger::{AvailableDraw, Movement, shard_updates};

use crate::idempotency::{IdempotencyRecord, complete_idempotency, load_held};
use crate::keys;
use crate::ledger::load_balance;
use crate::tables::db_err;
use crate::transact::abort;

/// Runs one money-out write: `op` checks its conditions and, only if all hold, writes and
/// returns `Applied` (then the transaction commits). Any other outcome or an error aborts it.
pub(crate) fn money_out_write(
    db: &Database,
    op: impl FnOnce(&WriteTransaction) -> Result<MoneyOutOutcome, StoreError>,
) -> Result<MoneyOutOutcome, StoreError> {
    let txn = db.begin_write().map_err(db_err)?;
    // On an error `txn` is dropped, which aborts it.
    match op(&txn)? {
        MoneyOutOutcome::Applied => {
            txn.commit().map_err(db_err)?;
            Ok(MoneyOutOutcome::Applied)
        }
        other => {
            abort(txn);
            Ok(other)
        }
    }
}

/// Refuses (as a programming error) a movement whose debit of `available` is not what `draw`
/// takes.
pub(crate) fn check_draw_matches(
    movement: &Movement,
    draw: &AvailableDraw,
) -> Result<(), StoreError> {
    shard_updates(movement, draw)
        .map(|_| ())
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// [`check_draw_matches`] for a write with no draw: its movement (if any) must not debit
/// `available`.
pub(crate) fn check_no_draw(movement: Option<&Movement>) -> Result<(), StoreError> {
    match movement {
        Some(m) => check_draw_matches(m, &AvailableDraw::default()),
        None => Ok(()),
    }
}

/// Whether the account's balance row still holds what `draw` takes from `available`. A draw of
/// nothing holds whatever the row says.
pub(crate) fn draw_holds(
    txn: &WriteTransaction,
    account: &str,
    draw: &AvailableDraw,
) -> Result<bool, StoreError> {
    let needed = draw.total().cents();
    if needed <= 0 {
        return Ok(true);
    }
    let available = load_balance(txn, account)?.map_or(0, |b| b.available.cents());
    Ok(available >= needed)
}

/// The idempotency claim a write completes.
pub(crate) enum Claim {
    /// The write completes none.
    None,
    /// Still ours: the stored record under this key.
    Held(String, IdempotencyRecord),
    /// Taken over, released, purged or completed: the write must not happen.
    Lost,
}

/// The claim `completion` (if any) completes, read inside the write's transaction.
pub(crate) fn claim_of(
    txn: &WriteTransaction,
    completion: Option<&IdempotencyCompletion>,
) -> Result<Claim, StoreError> {
    let Some(completion) = completion else {
        return Ok(Claim::None);
    };
    let claim = &completion.claim;
    let key = keys::idempotency(claim.account_id.as_str(), &claim.key);
    Ok(match load_held(txn, &key, &claim.lock_token)? {
        Some(record) => Claim::Held(key, record),
        None => Claim::Lost,
    })
}

/// Completes a held claim with the write's response (inside the write's transaction).
pub(crate) fn complete(
    txn: &WriteTransaction,
    claim: &Claim,
    completion: Option<&IdempotencyCompletion>,
) -> Result<(), StoreError> {
    if let (Claim::Held(key, previous), Some(completion)) = (claim, completion) {
        complete_idempotency(txn, key, previous, &completion.response)?;
    }
    Ok(())
}
