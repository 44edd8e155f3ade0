//! The payout-run port ([`PayoutRunStore`]) on redb.
//!
//! | table                | key                                             | value                          |
//! |----------------------|-------------------------------------------------|--------------------------------|
//! | `payouts_assembling` | account, `\0`, sortable window ms, `\0`, payout | payout id                      |
//! | `payout_windows`     | payout id                                       | its `payouts_assembling` key   |
//!
//! plus the lease fields of the `schedules` record (the `lease` submodule, on
//! [`crate::schedule`]'s table), the `splits_scheduled` index (read page by page) and the
//! `splits` table of [`crate::split`], the `payouts` table and the manifest (`payout_splits`)
//! of [`crate::payout`] (whose listing indexes a released payout joins), and the `outbox`.
//! Reading the manifest and settling it chunk by chunk is
//! [`PayoutStore`](pixgw_domain::payout::ports::PayoutStore) ([`crate::payout`]).
//!
//! `payouts_assembling` holds exactly the ASSEMBLING payouts (an entry is added when a payout
//! is created and removed when it is released, in the same transactions); `payout_windows`
//! lets a release find that entry from the payout id alone. Every write is one write
//! transaction that checks all its conditions before writing anything.

use std::collections::BTreeSet;
use std::ops::Bound;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{ReadableDatabase, TableDefinition, WriteTransaction};

use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::messaging::outbox::OutboxMessage;
use pixgw_domain::payout::runs::{AttachSplits, PayoutRunStore, ScheduledSplitCursor};
use pixgw_domain::payout::{Payout, PayoutId, PayoutState, PayoutTrigger};
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::schedule::ports::ScheduleState;
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use pixgw_domain::split::record::SplitEntryRecord;

use crate::EmbeddedStore;
use crate::keys;
use crate::outbox::put_outbox;
use crate::payout::{PAYOUT_SPLITS, load_payout, manifest_entry, put_payout};
use crate::schedule::{SCHEDULES, SCHEDULES_DUE, decode_record};
use crate::split::{SPLITS, SPLITS_SCHEDULED, load_split, put_split};
use crate::tables::{db_err, decode, get_decoded};
use crate::transact::conditional_write;

mod lease;

use lease::{claim_in, finish_in};

/// The most splits one `AttachSplits` may carry here. redb has no item limit; the embedded
/// store takes DynamoDB's (99) so the local gateway chunks a payout window exactly as AWS does
/// and the contract holds both adapters to the same writes.
pub const MAX_SPLITS_PER_ATTACH: usize = 99;

const PAYOUTS_ASSEMBLING: TableDefinition<&str, &str> = TableDefinition::new("payouts_assembling");
const PAYOUT_WINDOWS: TableDefinition<&str, &str> = TableDefinition::new("payout_windows");

/// Creates the payout-run tables (called by [`EmbeddedStore::open`]).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(PAYOUTS_ASSEMBLING).map_err(db_err)?;
    txn.open_table(PAYOUT_WINDOWS).map_err(db_err)?;
    Ok(())
}

const SEP: char = keys::SEP;

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
        // `refunded` as read: a refund that reduced the split since must not be paid over.
        if entry.state != SplitState::Scheduled
            || entry.account_id != header.account_id
            || entry.recipient().grouping_key() != header.recipient.grouping_key()
            || entry.refunded != split.refunded
        {
            return Ok(WriteOutcome::Conflict);
        }
        total = total
            .checked_add(entry.payable().cents())
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
                .checked_add(Money::from_cents(total))
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
                amount: Money::from_cents(total),
                splits: Vec::new(),
                split_count: added,
                unsettled_splits: 0,
                state: PayoutState::Assembling,
                end_to_end_id: None,
                deductions: None,
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
    fn max_splits_per_attach(&self) -> usize {
        MAX_SPLITS_PER_ATTACH
    }

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
