//! The payout-run port ([`PayoutRunStore`]) on redb.
//!
//! | table                | key                                             | value                          |
//! |----------------------|-------------------------------------------------|--------------------------------|
//! | `payout_splits`      | payout id, `\0`, transaction id, `\0`, index    | `""` (the manifest)            |
//! | `payouts_assembling` | account, `\0`, sortable window ms, `\0`, payout | payout id                      |
//! | `payout_windows`     | payout id                                       | its `payouts_assembling` key   |
//!
//! plus the lease fields of the `schedules` record (the `lease` submodule), the
//! `splits_scheduled` index (read page by page), the `splits` / `outbox` / ledger tables of
//! the settlement module, the `payouts` module (whose listing indexes a released payout
//! joins) and the `events` module. Settling a scheduled payout's manifest chunk by chunk is
//! the `settle` submodule.
//!
//! `payouts_assembling` holds exactly the ASSEMBLING payouts (an entry is added when a payout
//! is created and removed when it is released, in the same transactions); `payout_windows`
//! lets a release find that entry from the payout id alone. Every write is one write
//! transaction that checks all its conditions before writing anything.

use crate::settlement::settle_in;
use pixgw_domain::payout::ports::PayoutStore;
use pixgw_domain::payout::ports::SettlePayout;
use std::collections::BTreeSet;
use std::ops::Bound;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{ReadableDatabase, TableDefinition, WriteTransaction};

use pixgw_domain::error::StoreError;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::messaging::outbox::OutboxMessage;
use pixgw_domain::payout::ports::{PayoutPage, PayoutQuery};
use pixgw_domain::payout::runs::{
    AttachSplits, MAX_SPLITS_PER_ATTACH, PayoutRunStore, ScheduledSplitCursor, SettleSplits,
};
use pixgw_domain::payout::{Payout, PayoutId, PayoutState, PayoutTrigger, SplitRef};
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::schedule::ports::ScheduleState;
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use pixgw_domain::split::record::SplitEntryRecord;

use crate::outbox::put_outbox;
use crate::payouts::read_payout;
use crate::payouts::{list_payouts_in, load_payout, put_payout};
use crate::schedules::{SCHEDULES, SCHEDULES_DUE, decode_record};
use crate::settlement::{SPLITS, SPLITS_SCHEDULED, conditional_write, load_split, put_split};
use crate::{EmbeddedStore, db_err, decode, get_decoded, keys};

mod lease;
mod settle;

#[async_trait]
impl PayoutStore for EmbeddedStore {
    async fn payout_splits_page(
        &self,
        payout: &PayoutId,
        after: Option<&SplitRef>,
        limit: usize,
    ) -> Result<(Vec<SplitRef>, Option<SplitRef>), StoreError> {
        // At least one per page, so a walk always moves on.
        let limit = limit.max(1);
        let payout = payout.to_string();
        let prefix = manifest_prefix(&payout);
        let start = match after {
            Some(r) => Bound::Excluded(manifest_entry(&payout, r.transaction_id.as_str(), r.index)),
            None => Bound::Included(prefix.clone()),
        };
        self.blocking("payout_splits_page", move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let manifest = txn.open_table(PAYOUT_SPLITS).map_err(db_err)?;
            let end = keys::prefix_end(&prefix);
            let start_ref = match &start {
                Bound::Included(k) => Bound::Included(k.as_str()),
                Bound::Excluded(k) => Bound::Excluded(k.as_str()),
                Bound::Unbounded => Bound::Unbounded,
            };
            let mut refs = Vec::new();
            let mut more = false;
            for entry in manifest
                .range::<&str>((start_ref, Bound::Excluded(end.as_str())))
                .map_err(db_err)?
            {
                if refs.len() == limit {
                    // A key past the page: the cursor is given only when something follows.
                    more = true;
                    break;
                }
                let (key, _) = entry.map_err(db_err)?;
                let key = key.value();
                refs.push(parse_manifest_key(&prefix, key)?);
            }
            let next = more.then(|| refs.last().cloned()).flatten();
            Ok((refs, next))
        })
        .await
    }

    async fn settle_payout_splits(&self, write: &SettleSplits) -> Result<WriteOutcome, StoreError> {
        let write = write.clone();
        self.blocking("settle_payout_splits", move |db| {
            conditional_write(db, |txn| settle::settle_splits_in(txn, &write))
        })
        .await
    }

    async fn list_payouts(
        &self,
        account: &AccountId,
        query: &PayoutQuery,
    ) -> Result<PayoutPage, StoreError> {
        let account = account.to_string();
        let query = query.clone();
        self.blocking("list_payouts", move |db| {
            list_payouts_in(db, &account, &query)
        })
        .await
    }

    async fn settle_payout(&self, write: &SettlePayout) -> Result<WriteOutcome, StoreError> {
        let write = write.clone();
        self.blocking("settle_payout", move |db| {
            conditional_write(db, |txn| settle_in(txn, &write))
        })
        .await
    }

    async fn get_payout(&self, id: &PayoutId) -> Result<Option<Payout>, StoreError> {
        let id = id.to_string();
        self.blocking("get_payout", move |db| read_payout(db, &id))
            .await
    }
}

#[cfg(test)]
mod tests;

use lease::{claim_in, finish_in};

const PAYOUT_SPLITS: TableDefinition<&str, &str> = TableDefinition::new("payout_splits");
const PAYOUTS_ASSEMBLING: TableDefinition<&str, &str> = TableDefinition::new("payouts_assembling");
const PAYOUT_WINDOWS: TableDefinition<&str, &str> = TableDefinition::new("payout_windows");

/// Creates the payout-run tables (called by [`EmbeddedStore::open`]).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(PAYOUT_SPLITS).map_err(db_err)?;
    txn.open_table(PAYOUTS_ASSEMBLING).map_err(db_err)?;
    txn.open_table(PAYOUT_WINDOWS).map_err(db_err)?;
    Ok(())
}

const SEP: char = keys::SEP;

fn manifest_prefix(payout: &str) -> String {
    format!("{payout}{SEP}")
}

fn manifest_entry(payout: &str, transaction_id: &str, index: u8) -> String {
    format!("{payout}{SEP}{transaction_id}{SEP}{index:03}")
}

fn assembling_prefix(account: &str, window_ms: i64) -> String {
    format!("{account}{SEP}{}{SEP}", keys::sortable_ms(window_ms))
}

/// The `splits_scheduled` key a cursor stands for (the same spelling as the index).
fn cursor_key(account: &str, cursor: &ScheduledSplitCursor) -> String {
    keys::scheduled_split(
        account,
        cursor.created_at.timestamp_millis(),
        cursor.transaction_id.as_str(),
        cursor.index,
    )
}

fn attach_in(txn: &WriteTransaction, write: &AttachSplits) -> Result<WriteOutcome, StoreError> {
    let header = &write.payout;
    if write.splits.is_empty() || write.splits.len() > MAX_SPLITS_PER_ATTACH {
        return Ok(WriteOutcome::Conflict);
    }
    let payout_id = header.id.as_str();
    let stored = load_payout(txn, payout_id)?;
    let existing = stored.clone().map(Payout::try_from).transpose()?;
    let foreign = existing.as_ref().is_some_and(|p| {
        p.state != PayoutState::Assembling
            || p.account_id != header.account_id
            || p.recipient.grouping_key() != header.recipient.grouping_key()
    });
    if foreign {
        return Ok(WriteOutcome::Conflict);
    }

    // Every split as STORED (not as the caller read it): still SCHEDULED, of this account and
    // recipient, and listed once.
    let mut seen = BTreeSet::new();
    let mut stored_splits = Vec::with_capacity(write.splits.len());
    let mut total: i64 = 0;
    for split in &write.splits {
        let key = keys::split(split.transaction_id.as_str(), split.index);
        if !seen.insert(key.clone()) {
            return Ok(WriteOutcome::Conflict);
        }
        let Some(record) = load_split(txn, &key)? else {
            return Ok(WriteOutcome::Conflict);
        };
        let entry = SplitEntry::try_from(record.clone())?;
        if entry.state != SplitState::Scheduled
            || entry.account_id != header.account_id
            || entry.recipient().grouping_key() != header.recipient.grouping_key()
        {
            return Ok(WriteOutcome::Conflict);
        }
        total = total
            .checked_add(entry.split.amount.cents())
            .ok_or_else(|| StoreError::Corrupt(format!("payout {payout_id} amount overflow")))?;
        stored_splits.push((entry, record));
    }
    let added = u32::try_from(stored_splits.len())
        .map_err(|_| StoreError::Corrupt("attach size".into()))?;
    let corrupt = || StoreError::Corrupt(format!("payout {payout_id} totals overflow"));

    let payout = match existing {
        Some(existing) => Payout {
            amount: existing
                .amount
                .checked_add(pixgw_domain::pix::money::Money::from_cents(total))
                .ok_or_else(corrupt)?,
            split_count: existing
                .split_count
                .checked_add(added)
                .ok_or_else(corrupt)?,
            updated_at: write.now,
            ..existing
        },
        None => {
            // A new payout enters the window's list of payouts to release.
            let entry = format!(
                "{}{payout_id}",
                assembling_prefix(header.account_id.as_str(), header.window.timestamp_millis())
            );
            let mut assembling = txn.open_table(PAYOUTS_ASSEMBLING).map_err(db_err)?;
            assembling
                .insert(entry.as_str(), payout_id)
                .map_err(db_err)?;
            let mut windows = txn.open_table(PAYOUT_WINDOWS).map_err(db_err)?;
            windows.insert(payout_id, entry.as_str()).map_err(db_err)?;
            Payout {
                id: header.id.clone(),
                account_id: header.account_id.clone(),
                trigger: PayoutTrigger::Scheduled,
                recipient: header.recipient.clone(),
                amount: pixgw_domain::pix::money::Money::from_cents(total),
                splits: Vec::new(),
                split_count: added,
                unsettled_splits: 0,
                state: PayoutState::Assembling,
                end_to_end_id: None,
                provider_transfer_id: None,
                failure_reason: None,
                created_at: write.now,
                updated_at: write.now,
            }
        }
    };
    put_payout(txn, &payout, stored.as_ref())?;
    let mut manifest = txn.open_table(PAYOUT_SPLITS).map_err(db_err)?;
    for (entry, stored) in &stored_splits {
        let processing = SplitEntry {
            state: SplitState::Processing,
            payout_id: Some(header.id.clone()),
            updated_at: write.now,
            ..entry.clone()
        };
        put_split(txn, &SplitEntryRecord::from(&processing), Some(stored))?;
        manifest
            .insert(
                manifest_entry(payout_id, entry.transaction_id.as_str(), entry.index).as_str(),
                "",
            )
            .map_err(db_err)?;
    }
    Ok(WriteOutcome::Applied)
}

fn release_in(
    txn: &WriteTransaction,
    payout_id: &str,
    outbox: &[OutboxMessage],
    now: DateTime<Utc>,
) -> Result<WriteOutcome, StoreError> {
    let Some(stored) = load_payout(txn, payout_id)? else {
        return Ok(WriteOutcome::Conflict);
    };
    let payout = Payout::try_from(stored.clone())?;
    if payout.state != PayoutState::Assembling {
        return Ok(WriteOutcome::Conflict);
    }
    {
        let mut windows = txn.open_table(PAYOUT_WINDOWS).map_err(db_err)?;
        let entry = windows
            .remove(payout_id)
            .map_err(db_err)?
            .map(|v| v.value().to_owned())
            .ok_or_else(|| StoreError::Corrupt(format!("payout {payout_id} has no window")))?;
        let mut assembling = txn.open_table(PAYOUTS_ASSEMBLING).map_err(db_err)?;
        assembling.remove(entry.as_str()).map_err(db_err)?;
    }
    // Released, it becomes listable: `put_payout` adds its listing index entries.
    put_payout(
        txn,
        &Payout {
            state: PayoutState::Processing,
            updated_at: now,
            ..payout
        },
        Some(&stored),
    )?;
    put_outbox(txn, outbox)?;
    Ok(WriteOutcome::Applied)
}

#[async_trait]
impl PayoutRunStore for EmbeddedStore {
    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ScheduleState>, StoreError> {
        // Due at or before `now`: every key below the first key of `now + 1 ms`.
        let end = keys::index_at("", now.timestamp_millis().saturating_add(1));
        self.blocking("due_schedules", move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let due = txn.open_table(SCHEDULES_DUE).map_err(db_err)?;
            let schedules = txn.open_table(SCHEDULES).map_err(db_err)?;
            let mut states = Vec::new();
            for entry in due
                .range::<&str>(..end.as_str())
                .map_err(db_err)?
                .take(limit)
            {
                let (_, account) = entry.map_err(db_err)?;
                let account = account.value();
                let record = get_decoded(&schedules, account, decode_record)?.ok_or_else(|| {
                    StoreError::Corrupt(format!("due index names missing schedule {account:?}"))
                })?;
                states.push(ScheduleState::try_from(record)?);
            }
            Ok(states)
        })
        .await
    }

    async fn claim_window(
        &self,
        account: &AccountId,
        window: DateTime<Utc>,
        run_id: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, StoreError> {
        let account = account.to_string();
        let run_id = run_id.to_owned();
        let (window, until, now) = (
            window.timestamp_millis(),
            lease_until.timestamp_millis(),
            now.timestamp_millis(),
        );
        self.blocking("claim_window", move |db| {
            conditional_write(db, |txn| {
                claim_in(txn, &account, window, &run_id, until, now)
            })
        })
        .await
    }

    async fn scheduled_splits_page(
        &self,
        account: &AccountId,
        cutoff: DateTime<Utc>,
        after: Option<&ScheduledSplitCursor>,
        limit: usize,
    ) -> Result<(Vec<SplitEntry>, Option<ScheduledSplitCursor>), StoreError> {
        let account = account.to_string();
        let start = match after {
            Some(cursor) => Bound::Excluded(cursor_key(&account, cursor)),
            None => Bound::Included(format!("{account}#")),
        };
        // Booked at or before the cut-off: below the first key of `cutoff + 1 ms`. The index
        // spells times as 15 digits, so the bound uses the same spelling.
        let end = format!(
            "{account}#{:015}#",
            cutoff.timestamp_millis().saturating_add(1)
        );
        self.blocking("scheduled_splits_page", move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let index = txn.open_table(SPLITS_SCHEDULED).map_err(db_err)?;
            let splits = txn.open_table(SPLITS).map_err(db_err)?;
            let start_ref = match &start {
                Bound::Included(k) => Bound::Included(k.as_str()),
                Bound::Excluded(k) => Bound::Excluded(k.as_str()),
                Bound::Unbounded => Bound::Unbounded,
            };
            let mut page = Vec::new();
            for entry in index
                .range::<&str>((start_ref, Bound::Excluded(end.as_str())))
                .map_err(db_err)?
                .take(limit)
            {
                let (_, split) = entry.map_err(db_err)?;
                let split = split.value();
                let record: SplitEntryRecord =
                    get_decoded(&splits, split, |b, k| decode(b, "split entry", k))?.ok_or_else(
                        || StoreError::Corrupt(format!("scheduled index names missing {split:?}")),
                    )?;
                page.push(SplitEntry::try_from(record)?);
            }
            // A full page may have more after it; a short one is the last.
            let next = (page.len() == limit)
                .then(|| page.last().map(ScheduledSplitCursor::after))
                .flatten();
            Ok((page, next))
        })
        .await
    }

    async fn attach_splits(&self, write: &AttachSplits) -> Result<WriteOutcome, StoreError> {
        let write = write.clone();
        self.blocking("attach_splits", move |db| {
            conditional_write(db, |txn| attach_in(txn, &write))
        })
        .await
    }

    async fn assembling_payouts(
        &self,
        account: &AccountId,
        window: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PayoutId>, StoreError> {
        let prefix = assembling_prefix(account.as_str(), window.timestamp_millis());
        self.blocking("assembling_payouts", move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let assembling = txn.open_table(PAYOUTS_ASSEMBLING).map_err(db_err)?;
            let end = keys::prefix_end(&prefix);
            let mut ids = Vec::new();
            for entry in assembling
                .range::<&str>(prefix.as_str()..end.as_str())
                .map_err(db_err)?
                .take(limit)
            {
                let (_, id) = entry.map_err(db_err)?;
                let id = id.value();
                ids.push(PayoutId::parse(id).ok_or_else(|| {
                    StoreError::Corrupt(format!("assembling index names {id:?}"))
                })?);
            }
            Ok(ids)
        })
        .await
    }

    async fn release_payout(
        &self,
        payout: &PayoutId,
        outbox: &[OutboxMessage],
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, StoreError> {
        let payout = payout.to_string();
        let outbox = outbox.to_vec();
        self.blocking("release_payout", move |db| {
            conditional_write(db, |txn| release_in(txn, &payout, &outbox, now))
        })
        .await
    }

    async fn finish_window(
        &self,
        account: &AccountId,
        run_id: &str,
        expected_version: u64,
        next_run_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, StoreError> {
        let account = account.to_string();
        let run_id = run_id.to_owned();
        let (next, now) = (next_run_at.timestamp_millis(), now.timestamp_millis());
        self.blocking("finish_window", move |db| {
            conditional_write(db, |txn| {
                finish_in(txn, &account, &run_id, expected_version, next, now)
            })
        })
        .await
    }
}

fn parse_manifest_key(prefix: &str, key: &str) -> Result<SplitRef, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("payout manifest key {key:?}"));
    let rest = key.strip_prefix(prefix).ok_or_else(corrupt)?;
    let (txid, index) = rest.split_once(SEP).ok_or_else(corrupt)?;
    Ok(SplitRef {
        transaction_id: TransactionId::parse(txid).ok_or_else(corrupt)?,
        index: index.parse().map_err(|_| corrupt())?,
    })
}
