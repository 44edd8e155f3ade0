//! The money-lifecycle ports (charge transitions, refunds, the ledger's reads, cash-outs) on redb: charge transitions (expiry, a
//! refund's settlement), refund requests, cash-outs (stored by the `cash_outs` module), the
//! expiry index read and the paged statement.
//!
//! Like the settlement writes, each write here is one write transaction that checks every
//! condition first and writes only when all hold (otherwise it is aborted: nothing written).
//!
//! # Debits of `available`
//!
//! The embedded store keeps ONE balance row per account (redb has no per-item write limit), so
//! [`LedgerStore::balance_shards`] reports it as shard 0 and a draw planned from it names
//! shard 0. The write checks the whole draw against that row: it is applied only if the row's
//! `available` is at least [`AvailableDraw::total`] inside the write transaction (redb runs one
//! writer at a time, so nothing can spend it between the check and the commit), else the answer
//! is [`MoneyOutOutcome::BalanceChanged`]. The movement is then added to the row whole, as every
//! movement is ([`put_movement`]). Before anything, the draw must match the movement's debit of
//! `available` ([`shard_updates`]); a mismatch is a programming error
//! ([`StoreError::Corrupt`]), and a write without a draw (a transition, a cash-out update) is
//! held to the same rule with an empty draw.
//!
//! # Which failure is reported
//!
//! A money-out write whose conditions fail reports, in this order: `ClaimLost` (nothing the
//! caller does can make the write succeed), `DuplicateExternalId`, `Conflict` (re-read), and
//! only when every other condition holds `BalanceChanged`, the one failure a re-plan from a
//! fresh balance can cure.

use crate::settlement::{END_TO_END_IDS, confirm_in};
use pixgw_domain::cash_out::ports::CashOutStore;
use pixgw_domain::charge::ports::ChargeTransitions;
use pixgw_domain::charge::ports::ConfirmCharge;
use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::ledger::record::MovementRecord;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::payment::EndToEndId;
use pixgw_domain::refund::ports::RefundStore;
use std::collections::BTreeSet;
use std::ops::Bound;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{Database, ReadableDatabase, WriteTransaction};

use pixgw_domain::cash_out::ports::{CashOutPage, CashOutQuery};
use pixgw_domain::cash_out::ports::{RequestCashOut, UpdateCashOut};
use pixgw_domain::cash_out::{CashOut, CashOutId};
use pixgw_domain::charge::ports::ChargeTransition;
use pixgw_domain::charge::record::ChargeRecord;
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::error::StoreError;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::idempotency::IdempotencyCompletion;
use pixgw_domain::ledger::ports::{
    MAX_MOVEMENTS_PER_PAGE, MoneyOutOutcome, MovementPage, MovementQuery,
};
use pixgw_domain::ledger::{AvailableDraw, Balance, Movement, MovementKind, shard_updates};
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::refund::ports::{RefundSplits, RequestRefund};
use pixgw_domain::split::entry::SplitState;
use pixgw_domain::split::record::SplitEntryRecord;

use crate::cash_outs::{self, external_id_taken, load_cash_out, put_cash_out};
use crate::events::{events_absent, put_events};
use crate::outbox::put_outbox;
use crate::settlement::{
    BALANCES, BalanceRecord, MOVEMENTS, MOVEMENTS_BY_ACCOUNT, conditional_write, decode_movement,
    load_balance, load_charge, load_split, movement_absent, movement_exists, put_movement,
    put_split, split_key,
};
use crate::{
    CHARGES, CHARGES_BY_EXPIRY, EmbeddedStore, IdempotencyRecord, abort, complete_idempotency,
    db_err, decode, decode_charge, get_decoded, keys, load_held,
};

// ---------------------------------------------------------------------------------------------
// Shared conditions

/// Runs one money-out write: `op` checks its conditions and, only if all hold, writes and
/// returns `Applied` (then the transaction commits). Any other outcome or an error aborts it.
fn money_out_write(
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
fn check_draw_matches(movement: &Movement, draw: &AvailableDraw) -> Result<(), StoreError> {
    shard_updates(movement, draw)
        .map(|_| ())
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// [`check_draw_matches`] for a write with no draw: its movement (if any) must not debit
/// `available`.
fn check_no_draw(movement: Option<&Movement>) -> Result<(), StoreError> {
    match movement {
        Some(m) => check_draw_matches(m, &AvailableDraw::default()),
        None => Ok(()),
    }
}

/// Whether the account's balance row still holds what `draw` takes from `available`. A draw of
/// nothing holds whatever the row says.
fn draw_holds(
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
enum Claim {
    /// The write completes none.
    None,
    /// Still ours: the stored record under this key.
    Held(String, IdempotencyRecord),
    /// Taken over, released, purged or completed: the write must not happen.
    Lost,
}

fn claim_of(
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
fn complete(
    txn: &WriteTransaction,
    claim: &Claim,
    completion: Option<&IdempotencyCompletion>,
) -> Result<(), StoreError> {
    if let (Claim::Held(key, previous), Some(completion)) = (claim, completion) {
        complete_idempotency(txn, key, previous, &completion.response)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Writes

fn transition_in(
    txn: &WriteTransaction,
    write: &ChargeTransition,
) -> Result<WriteOutcome, StoreError> {
    check_no_draw(write.movement.as_ref())?;
    let id = write.charge.transaction_id.as_str();
    let Some(stored) = load_charge(txn, id)? else {
        return Ok(WriteOutcome::Conflict);
    };
    if stored.status != write.from.as_str()
        || !movement_absent(txn, write.movement.as_ref())?
        || !events_absent(txn, &write.events)?
    {
        return Ok(WriteOutcome::Conflict);
    }

    // `put_charge` moves the status index entry and drops the expiry entry when the charge
    // leaves PENDING.
    crate::put_charge(txn, &ChargeRecord::from(&write.charge), Some(&stored))?;
    if let Some(movement) = &write.movement {
        put_movement(txn, movement)?;
    }
    put_events(txn, &write.events)?;
    put_outbox(txn, &write.outbox)?;
    Ok(WriteOutcome::Applied)
}

fn request_refund_in(
    txn: &WriteTransaction,
    write: &RequestRefund,
) -> Result<MoneyOutOutcome, StoreError> {
    check_draw_matches(&write.movement, &write.draw)?;
    let claim = claim_of(txn, write.completion.as_ref())?;
    if matches!(claim, Claim::Lost) {
        return Ok(MoneyOutOutcome::ClaimLost);
    }
    let id = write.charge.transaction_id.as_str();
    let stored = load_charge(txn, id)?.filter(|c| c.status == ChargeStatus::Confirmed.as_str());
    let Some(stored) = stored else {
        return Ok(MoneyOutOutcome::Conflict);
    };
    // The splits: not booked (and the split calculator cannot book them any more once the
    // charge leaves CONFIRMED), or every one to cancel still SCHEDULED outside any payout.
    let mut cancellations = Vec::new();
    match &write.splits {
        RefundSplits::NotBooked => {
            if movement_exists(txn, &MovementKind::SplitsBooked.movement_id(id))? {
                return Ok(MoneyOutOutcome::Conflict);
            }
        }
        RefundSplits::Booked { cancelled } => {
            let mut seen = BTreeSet::new();
            for split in cancelled {
                let record = SplitEntryRecord::from(split);
                let key = split_key(&record);
                if record.transaction_id != id || !seen.insert(key.clone()) {
                    return Ok(MoneyOutOutcome::Conflict);
                }
                let stored_split = load_split(txn, &key)?
                    .filter(|s| s.state == SplitState::Scheduled.as_str() && s.payout_id.is_none());
                let Some(stored_split) = stored_split else {
                    return Ok(MoneyOutOutcome::Conflict);
                };
                cancellations.push((record, stored_split));
            }
        }
    }
    if movement_exists(txn, &write.movement.id)? {
        return Ok(MoneyOutOutcome::Conflict);
    }
    if !draw_holds(txn, write.movement.account_id.as_str(), &write.draw)? {
        return Ok(MoneyOutOutcome::BalanceChanged);
    }

    crate::put_charge(txn, &ChargeRecord::from(&write.charge), Some(&stored))?;
    for (record, stored_split) in &cancellations {
        // Leaves `splits_scheduled` exactly as a settlement does when a split leaves SCHEDULED.
        put_split(txn, record, Some(stored_split))?;
    }
    put_movement(txn, &write.movement)?;
    put_outbox(txn, &write.outbox)?;
    complete(txn, &claim, write.completion.as_ref())?;
    Ok(MoneyOutOutcome::Applied)
}

fn request_cash_out_in(
    txn: &WriteTransaction,
    write: &RequestCashOut,
) -> Result<MoneyOutOutcome, StoreError> {
    check_draw_matches(&write.movement, &write.draw)?;
    let claim = claim_of(txn, write.completion.as_ref())?;
    if matches!(claim, Claim::Lost) {
        return Ok(MoneyOutOutcome::ClaimLost);
    }
    let cash_out = &write.cash_out;
    let account = cash_out.account_id.as_str();
    if external_id_taken(txn, account, &cash_out.external_id)? {
        return Ok(MoneyOutOutcome::DuplicateExternalId);
    }
    if load_cash_out(txn, cash_out.id.as_str())?.is_some()
        || movement_exists(txn, &write.movement.id)?
    {
        return Ok(MoneyOutOutcome::Conflict);
    }
    if !draw_holds(txn, write.movement.account_id.as_str(), &write.draw)? {
        return Ok(MoneyOutOutcome::BalanceChanged);
    }

    put_cash_out(txn, cash_out, None)?;
    put_movement(txn, &write.movement)?;
    put_outbox(txn, &write.outbox)?;
    complete(txn, &claim, write.completion.as_ref())?;
    Ok(MoneyOutOutcome::Applied)
}

fn update_cash_out_in(
    txn: &WriteTransaction,
    write: &UpdateCashOut,
) -> Result<WriteOutcome, StoreError> {
    check_no_draw(write.movement.as_ref())?;
    let stored =
        load_cash_out(txn, write.cash_out.id.as_str())?.filter(|c| c.state == write.from.as_str());
    let Some(stored) = stored else {
        return Ok(WriteOutcome::Conflict);
    };
    if !movement_absent(txn, write.movement.as_ref())? || !events_absent(txn, &write.events)? {
        return Ok(WriteOutcome::Conflict);
    }

    put_cash_out(txn, &write.cash_out, Some(&stored))?;
    if let Some(movement) = &write.movement {
        put_movement(txn, movement)?;
    }
    put_events(txn, &write.events)?;
    Ok(WriteOutcome::Applied)
}

// ---------------------------------------------------------------------------------------------
// Reads

/// Up to `limit` charges of the expiry index due at or before `now_ms`, soonest first.
fn expired_pending_in(db: &Database, now_ms: i64, limit: usize) -> Result<Vec<Charge>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let txn = db.begin_read().map_err(db_err)?;
    let index = txn.open_table(CHARGES_BY_EXPIRY).map_err(db_err)?;
    let charges = txn.open_table(CHARGES).map_err(db_err)?;
    // Due at or before `now`: every key below the first one of `now + 1 ms`.
    let upper = match now_ms.checked_add(1) {
        Some(next) => Bound::Excluded(keys::index_at("", next)),
        None => Bound::Unbounded,
    };
    let range = (Bound::<&str>::Unbounded, upper.as_ref().map(String::as_str));
    let mut due = Vec::new();
    for entry in index.range::<&str>(range).map_err(db_err)? {
        let (_, id) = entry.map_err(db_err)?;
        let id = id.value();
        let charge = get_decoded(&charges, id, decode_charge)?.ok_or_else(|| {
            StoreError::Corrupt(format!("expiry index names missing charge {id}"))
        })?;
        // The index holds only PENDING charges; re-checking costs nothing.
        if charge.status == ChargeStatus::Pending {
            due.push(charge);
            if due.len() >= limit {
                break;
            }
        }
    }
    Ok(due)
}

/// One statement page: the account's movements per `query`, oldest first, and whether more
/// follow (one entry read past the page tells).
fn movements_page_in(
    db: &Database,
    account: &str,
    query: &MovementQuery,
) -> Result<MovementPage, StoreError> {
    let prefix = keys::account_prefix(account);
    let mut lower = match query.from {
        Some(from) => keys::index_at(&prefix, from.timestamp_millis()),
        None => prefix.clone(),
    };
    let mut lower_included = true;
    let mut upper = keys::prefix_end(&prefix);
    if let Some(to) = query.to {
        // `to` is exclusive: everything below the first key of its millisecond.
        upper = upper.min(keys::index_at(&prefix, to.timestamp_millis()));
    }
    if let Some(start) = &query.start {
        let cursor = keys::movement_entry(
            account,
            start.created_at.timestamp_millis(),
            &start.movement_id,
        );
        if cursor >= lower {
            lower = cursor;
            lower_included = query.inclusive;
        }
    }
    if lower >= upper {
        return Ok(MovementPage::default());
    }
    let limit = query.limit.clamp(1, MAX_MOVEMENTS_PER_PAGE) as usize;
    let txn = db.begin_read().map_err(db_err)?;
    let index = txn.open_table(MOVEMENTS_BY_ACCOUNT).map_err(db_err)?;
    let movements = txn.open_table(MOVEMENTS).map_err(db_err)?;
    let lower_bound = if lower_included {
        Bound::Included(lower.as_str())
    } else {
        Bound::Excluded(lower.as_str())
    };
    let mut page = MovementPage {
        movements: Vec::with_capacity(limit),
        more: false,
    };
    for entry in index
        .range::<&str>((lower_bound, Bound::Excluded(upper.as_str())))
        .map_err(db_err)?
    {
        if page.movements.len() == limit {
            page.more = true;
            break;
        }
        let (_, id) = entry.map_err(db_err)?;
        let id = id.value();
        let movement = get_decoded(&movements, id, decode_movement)?
            .ok_or_else(|| StoreError::Corrupt(format!("movement index names missing {id:?}")))?;
        page.movements.push(movement);
    }
    Ok(page)
}

// ---------------------------------------------------------------------------------------------
// Port

#[async_trait]
impl ChargeTransitions for EmbeddedStore {
    async fn transition_charge(
        &self,
        write: &ChargeTransition,
    ) -> Result<WriteOutcome, StoreError> {
        let write = write.clone();
        self.blocking("transition_charge", move |db| {
            conditional_write(db, |txn| transition_in(txn, &write))
        })
        .await
    }

    async fn expired_pending_charges(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Charge>, StoreError> {
        let now_ms = now.timestamp_millis();
        self.blocking("expired_pending_charges", move |db| {
            expired_pending_in(db, now_ms, limit)
        })
        .await
    }

    async fn confirm_charge(&self, write: &ConfirmCharge) -> Result<WriteOutcome, StoreError> {
        let write = write.clone();
        self.blocking("confirm_charge", move |db| {
            conditional_write(db, |txn| confirm_in(txn, &write))
        })
        .await
    }

    async fn find_charge_by_end_to_end_id(
        &self,
        id: &EndToEndId,
    ) -> Result<Option<TransactionId>, StoreError> {
        let id = id.to_string();
        self.blocking("find_charge_by_end_to_end_id", move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let guards = txn.open_table(END_TO_END_IDS).map_err(db_err)?;
            let Some(value) = guards.get(id.as_str()).map_err(db_err)? else {
                return Ok(None);
            };
            let value = value.value();
            TransactionId::parse(value).map(Some).ok_or_else(|| {
                StoreError::Corrupt(format!("end-to-end guard {id:?} names {value:?}"))
            })
        })
        .await
    }
}

#[async_trait]
impl RefundStore for EmbeddedStore {
    async fn request_refund(&self, write: &RequestRefund) -> Result<MoneyOutOutcome, StoreError> {
        let write = write.clone();
        self.blocking("request_refund", move |db| {
            money_out_write(db, |txn| request_refund_in(txn, &write))
        })
        .await
    }
}

#[async_trait]
impl LedgerStore for EmbeddedStore {
    async fn movement_exists(&self, movement_id: &str) -> Result<bool, StoreError> {
        let id = movement_id.to_owned();
        self.blocking("movement_exists", move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let movements = txn.open_table(MOVEMENTS).map_err(db_err)?;
            Ok(movements.get(id.as_str()).map_err(db_err)?.is_some())
        })
        .await
    }

    async fn balance_shards(&self, account: &AccountId) -> Result<Vec<(u32, Balance)>, StoreError> {
        let account = account.to_string();
        self.blocking("balance_shards", move |db| {
            let record: Option<BalanceRecord> =
                crate::read_one(db, BALANCES, &account, |bytes, key| {
                    decode(bytes, "balance", key)
                })?;
            Ok(record
                .map(|r| vec![(0, Balance::from(r))])
                .unwrap_or_default())
        })
        .await
    }

    async fn movements_page(
        &self,
        account: &AccountId,
        query: &MovementQuery,
    ) -> Result<MovementPage, StoreError> {
        let account = account.to_string();
        let query = query.clone();
        self.blocking("movements_page", move |db| {
            movements_page_in(db, &account, &query)
        })
        .await
    }

    async fn get_balance(&self, account: &AccountId) -> Result<Balance, StoreError> {
        let account = account.to_string();
        self.blocking("get_balance", move |db| {
            let record: Option<BalanceRecord> =
                crate::read_one(db, BALANCES, &account, |bytes, key| {
                    decode(bytes, "balance", key)
                })?;
            Ok(record.map(Balance::from).unwrap_or_default())
        })
        .await
    }

    async fn list_movements(&self, account: &AccountId) -> Result<Vec<Movement>, StoreError> {
        let prefix = keys::account_prefix(account.as_str());
        self.blocking("list_movements", move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let index = txn.open_table(MOVEMENTS_BY_ACCOUNT).map_err(db_err)?;
            let movements = txn.open_table(MOVEMENTS).map_err(db_err)?;
            let end = keys::prefix_end(&prefix);
            let mut listed = Vec::new();
            for entry in index
                .range::<&str>(prefix.as_str()..end.as_str())
                .map_err(db_err)?
            {
                let (_, id) = entry.map_err(db_err)?;
                let id = id.value();
                let record: MovementRecord =
                    get_decoded(&movements, id, |bytes, key| decode(bytes, "movement", key))?
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!("movement index names missing {id:?}"))
                        })?;
                listed.push(Movement::try_from(record)?);
            }
            Ok(listed)
        })
        .await
    }
}

#[async_trait]
impl CashOutStore for EmbeddedStore {
    async fn request_cash_out(
        &self,
        write: &RequestCashOut,
    ) -> Result<MoneyOutOutcome, StoreError> {
        let write = write.clone();
        self.blocking("request_cash_out", move |db| {
            money_out_write(db, |txn| request_cash_out_in(txn, &write))
        })
        .await
    }

    async fn update_cash_out(&self, write: &UpdateCashOut) -> Result<WriteOutcome, StoreError> {
        let write = write.clone();
        self.blocking("update_cash_out", move |db| {
            conditional_write(db, |txn| update_cash_out_in(txn, &write))
        })
        .await
    }

    async fn get_cash_out(&self, id: &CashOutId) -> Result<Option<CashOut>, StoreError> {
        let id = id.to_string();
        self.blocking("get_cash_out", move |db| cash_outs::read_cash_out(db, &id))
            .await
    }

    async fn find_cash_out_by_external_id(
        &self,
        account: &AccountId,
        external_id: &str,
    ) -> Result<Option<CashOut>, StoreError> {
        let account = account.to_string();
        let external_id = external_id.to_owned();
        self.blocking("find_cash_out_by_external_id", move |db| {
            cash_outs::find_by_external_id(db, &account, &external_id)
        })
        .await
    }

    async fn list_cash_outs(
        &self,
        account: &AccountId,
        query: &CashOutQuery,
    ) -> Result<CashOutPage, StoreError> {
        let account = account.to_string();
        let query = query.clone();
        self.blocking("list_cash_outs", move |db| {
            cash_outs::list_in(db, &account, &query)
        })
        .await
    }
}

#[cfg(test)]
mod tests;
