//! [`ChargeStore`] and [`ChargeTransitions`] on redb: charges, their indexes and guards, and
//! every write that changes a charge.
//!
//! | table                | key                                            | value            |
//! |----------------------|------------------------------------------------|------------------|
//! | `charges`            | transaction id                                 | [`ChargeRecord`] |
//! | `charges_by_account` | account, created-at ms, transaction id         | transaction id   |
//! | `charges_by_status`  | account, status, created-at ms, transaction id | transaction id   |
//! | `charges_by_expiry`  | sortable expires-at ms, transaction id         | transaction id   |
//! | `charges_by_hold`    | sortable hold-until ms, transaction id         | transaction id   |
//! | `external_ids`       | account, `externalId`                          | transaction id   |
//! | `end_to_end_ids`     | end-to-end id                                  | transaction id   |
//!
//! The two `charges_by_*` listing indexes make an account's charges (optionally of one status)
//! one contiguous key range ordered by `(created_at, transaction_id)` ([`crate::listing`]).
//! `charges_by_expiry` holds exactly the PENDING charges, soonest expiry first, so the expiry
//! sweeper reads the charges due with one range read; it is filled once from `charges` when a
//! file written before it existed is opened. `charges_by_hold` holds exactly the charges under
//! a cautelar hold still HELD, soonest end first (the hold sweeper's index; no file written
//! before it existed has a held charge). [`put_charge`] is the only writer of `charges` and
//! keeps all three indexes exact in the same write transaction. `external_ids` is the
//! per-account uniqueness guard for `externalId`, `end_to_end_ids` the guard that a payment
//! confirms one charge only.
//!
//! Inserting a charge stores it, its guard and the idempotency completion in ONE write
//! transaction. A confirmation accepts a charge stored PENDING or EXPIRED (a payment settled
//! after the expiry sweeper ran); it and a transition (expiry, a refund's settlement) write the
//! charge with its movement, events and outbox messages in ONE write transaction, checked first
//! (see [`crate::ledger_write`]).

use std::ops::Bound;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{
    Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle, WriteTransaction,
};

use pixgw_domain::charge::ports::{
    ChargeCursor, ChargeQuery, ChargeStore, ChargeTransition, ChargeTransitions, ConfirmCharge,
    InsertChargeError, Page,
};
use pixgw_domain::charge::record::{ChargeRecord, HoldRecord, PaymentRecord};
use pixgw_domain::charge::{Charge, ChargeStatus, HoldState};
use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::idempotency::IdempotencyCompletion;
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::pix::payment::EndToEndId;

use crate::EmbeddedStore;
use crate::events::{events_absent, put_events};
use crate::idempotency::{complete_idempotency, load_held};
use crate::keys;
use crate::ledger::{movement_absent, movement_exists, put_movement};
use crate::ledger_write::check_no_draw;
use crate::listing::{MAX_PAGE, newest_ids};
use crate::outbox::put_outbox;
use crate::tables::{Bytes, contains, db_err, decode, encode, get_decoded, read_one};
use crate::transact::{abort, conditional_write};

pub(crate) const CHARGES: TableDefinition<&str, Bytes> = TableDefinition::new("charges");
const CHARGES_BY_ACCOUNT: TableDefinition<&str, &str> = TableDefinition::new("charges_by_account");
const CHARGES_BY_STATUS: TableDefinition<&str, &str> = TableDefinition::new("charges_by_status");
const EXTERNAL_IDS: TableDefinition<&str, &str> = TableDefinition::new("external_ids");

/// The expiry index: exactly the PENDING charges, by `(expiresAtMs, transaction id)`.
const CHARGES_BY_EXPIRY: TableDefinition<&str, &str> = TableDefinition::new("charges_by_expiry");
/// The hold index: exactly the charges whose cautelar hold is HELD, by `(untilMs, id)`.
const CHARGES_BY_HOLD: TableDefinition<&str, &str> = TableDefinition::new("charges_by_hold");
/// The end-to-end id guards: a payment confirms one charge only.
pub(crate) const END_TO_END_IDS: TableDefinition<&str, &str> =
    TableDefinition::new("end_to_end_ids");

/// Creates the charge tables (called by [`EmbeddedStore::open`]); fills the expiry index of a
/// file written before it existed.
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    let had_expiry_index = txn
        .list_tables()
        .map_err(db_err)?
        .any(|table| table.name() == CHARGES_BY_EXPIRY.name());
    txn.open_table(CHARGES).map_err(db_err)?;
    txn.open_table(CHARGES_BY_ACCOUNT).map_err(db_err)?;
    txn.open_table(CHARGES_BY_STATUS).map_err(db_err)?;
    txn.open_table(EXTERNAL_IDS).map_err(db_err)?;
    txn.open_table(CHARGES_BY_EXPIRY).map_err(db_err)?;
    txn.open_table(CHARGES_BY_HOLD).map_err(db_err)?;
    txn.open_table(END_TO_END_IDS).map_err(db_err)?;
    if !had_expiry_index {
        backfill_expiry_index(txn)?;
    }
    Ok(())
}

fn decode_charge(bytes: &[u8], key: &str) -> Result<Charge, StoreError> {
    let record: ChargeRecord = decode(bytes, "charge", key)?;
    Charge::try_from(record)
}

/// The stored charge `id`, read inside the write transaction that may replace it.
pub(crate) fn load_charge(
    txn: &WriteTransaction,
    id: &str,
) -> Result<Option<ChargeRecord>, StoreError> {
    let charges = txn.open_table(CHARGES).map_err(db_err)?;
    get_decoded(&charges, id, |bytes, key| decode(bytes, "charge", key))
}

/// Writes a charge and its index entries. With `previous` (the stored version of the same
/// charge) its old index entries are moved, so a later status change keeps the indexes exact.
pub(crate) fn put_charge(
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
    {
        // The hold index holds a charge only while its hold is HELD.
        let mut by_hold = txn.open_table(CHARGES_BY_HOLD).map_err(db_err)?;
        if let Some(old_key) = previous.and_then(hold_entry) {
            by_hold.remove(old_key.as_str()).map_err(db_err)?;
        }
        if let Some(new_key) = hold_entry(record) {
            by_hold.insert(new_key.as_str(), id).map_err(db_err)?;
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

/// A charge's entry in `charges_by_status`.
fn status_entry(r: &ChargeRecord) -> String {
    let prefix = keys::status_prefix(&r.account_id, &r.status);
    keys::index_entry(&prefix, r.created_at_ms, &r.transaction_id)
}

/// A charge's entry in `charges_by_expiry`, if it is PENDING.
fn expiry_entry(r: &ChargeRecord) -> Option<String> {
    (r.status == ChargeStatus::Pending.as_str())
        .then(|| keys::expiring_charge(r.expires_at_ms, &r.transaction_id))
}

/// A charge's entry in `charges_by_hold`, if its hold is HELD.
fn hold_entry(r: &ChargeRecord) -> Option<String> {
    r.hold
        .as_ref()
        .filter(|h| h.state == HoldState::Held.as_str())
        .map(|h| keys::expiring_charge(h.until_ms, &r.transaction_id))
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

fn confirm_in(txn: &WriteTransaction, write: &ConfirmCharge) -> Result<WriteOutcome, StoreError> {
    let id = write.transaction_id.as_str();
    let e2e = write.payment.end_to_end_id.as_str();
    let Some(charge) = load_charge(txn, id)? else {
        return Ok(WriteOutcome::Conflict);
    };
    let guard_taken = {
        let guards = txn.open_table(END_TO_END_IDS).map_err(db_err)?;
        contains(&guards, e2e)?
    };
    // The events (CASHIN_CONFIRMED) are created only if absent, like a settlement's: an event id
    // derives from the fact it reports, so a retried confirmation cannot record (or announce
    // through the webhook outbox) the same fact twice.
    // EXPIRED too: a payment the PIX network settled after the sweeper ran is money we hold.
    let confirmable = [ChargeStatus::Pending, ChargeStatus::Expired]
        .iter()
        .any(|s| charge.status == s.as_str());
    if !confirmable
        || guard_taken
        || movement_exists(txn, &write.movement.id)?
        || !events_absent(txn, &write.events)?
    {
        return Ok(WriteOutcome::Conflict);
    }

    let confirmed = ChargeRecord {
        status: ChargeStatus::Confirmed.as_str().to_owned(),
        payment: Some(PaymentRecord::from(&write.payment)),
        hold: write.hold.as_ref().map(HoldRecord::from),
        ..charge.clone()
    };
    put_charge(txn, &confirmed, Some(&charge))?;
    {
        let mut guards = txn.open_table(END_TO_END_IDS).map_err(db_err)?;
        guards.insert(e2e, id).map_err(db_err)?;
    }
    put_movement(txn, &write.movement)?;
    put_events(txn, &write.events)?;
    put_outbox(txn, &write.outbox)?;
    Ok(WriteOutcome::Applied)
}

pub(crate) fn transition_in(
    txn: &WriteTransaction,
    write: &ChargeTransition,
) -> Result<WriteOutcome, StoreError> {
    check_no_draw(write.movement.as_ref())?;
    let id = write.charge.transaction_id.as_str();
    let Some(stored) = load_charge(txn, id)? else {
        return Ok(WriteOutcome::Conflict);
    };
    if stored.status != write.from.as_str()
        || stored.refund_revision != write.from_revision
        || !movement_absent(txn, write.movement.as_ref())?
        || !events_absent(txn, &write.events)?
    {
        return Ok(WriteOutcome::Conflict);
    }

    // `put_charge` moves the status index entry and drops the expiry entry when the charge
    // leaves PENDING.
    put_charge(txn, &ChargeRecord::from(&write.charge), Some(&stored))?;
    if let Some(movement) = &write.movement {
        put_movement(txn, movement)?;
    }
    put_events(txn, &write.events)?;
    put_outbox(txn, &write.outbox)?;
    Ok(WriteOutcome::Applied)
}

/// Up to `limit` charges of the expiry index due at or before `now_ms`, soonest first.
fn expired_pending_in(db: &Database, now_ms: i64, limit: usize) -> Result<Vec<Charge>, StoreError> {
    due_in(db, CHARGES_BY_EXPIRY, now_ms, limit, |c| {
        c.status == ChargeStatus::Pending
    })
}

/// Up to `limit` charges of the hold index due at or before `now_ms`, soonest first.
fn held_due_in(db: &Database, now_ms: i64, limit: usize) -> Result<Vec<Charge>, StoreError> {
    due_in(db, CHARGES_BY_HOLD, now_ms, limit, Charge::is_held)
}

/// Up to `limit` charges of `definition` (keyed by sortable ms, then id) due at or before
/// `now_ms`, soonest first, that `still` holds for (the index holds only those; re-checking
/// costs nothing).
fn due_in(
    db: &Database,
    definition: TableDefinition<&str, &str>,
    now_ms: i64,
    limit: usize,
    still: impl Fn(&Charge) -> bool,
) -> Result<Vec<Charge>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let txn = db.begin_read().map_err(db_err)?;
    let index = txn.open_table(definition).map_err(db_err)?;
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
            StoreError::Corrupt(format!("charge index names missing charge {id}"))
        })?;
        if still(&charge) {
            due.push(charge);
            if due.len() >= limit {
                break;
            }
        }
    }
    Ok(due)
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

    async fn held_charges_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Charge>, StoreError> {
        let now_ms = now.timestamp_millis();
        self.blocking("held_charges_due", move |db| held_due_in(db, now_ms, limit))
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

#[cfg(test)]
mod tests;
