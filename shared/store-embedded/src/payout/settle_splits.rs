//! [`SettleSplits`]: the final state of one chunk of a settled scheduled payout's manifest.
//!
//! One write transaction: every condition is checked before anything is written. A split going
//! back to SCHEDULED is written through [`put_split`], which puts it back into
//! `splits_scheduled` under the same key booking gave it (its `created_at` does not change),
//! so the next window's run finds it exactly as it finds a freshly booked split, and it leaves
//! this payout's manifest (like on DynamoDB, where a split carries one manifest key): a split
//! is listed by the payout that paid it or failed it for good. Paid and failed-for-good splits
//! stay in the manifest; the payout's `unsettled_splits` drops.

use std::collections::BTreeSet;

use pixgw_domain::error::StoreError;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::payout::PayoutState;
use pixgw_domain::payout::record::PayoutRecord;
use pixgw_domain::payout::runs::SettleSplits;
use pixgw_domain::pix::ids::AccountId;

use crate::payout::MAX_SPLITS_PER_SETTLE;
use pixgw_domain::split::entry::SplitState;
use pixgw_domain::split::record::SplitEntryRecord;
use redb::WriteTransaction;

use super::{PAYOUT_SPLITS, load_payout, manifest_entry, put_payout_record};
use crate::events::{events_absent, put_events};
use crate::ledger::{movement_absent, put_movement};
use crate::recipient::add_totals;
use crate::split::{load_split, put_split, split_key};
use crate::tables::db_err;

pub(super) fn settle_splits_in(
    txn: &WriteTransaction,
    write: &SettleSplits,
) -> Result<WriteOutcome, StoreError> {
    let n = write.splits.len();
    let settled_state = matches!(write.payout_state, PayoutState::Paid | PayoutState::Failed);
    if n == 0 || n > MAX_SPLITS_PER_SETTLE || !settled_state {
        return Ok(WriteOutcome::Conflict);
    }
    let count = u32::try_from(n).map_err(|_| StoreError::Corrupt("settle size".into()))?;
    let payout_id = write.payout_id.as_str();
    let Some(stored_payout) = load_payout(txn, payout_id)? else {
        return Ok(WriteOutcome::Conflict);
    };
    if stored_payout.state != write.payout_state.as_str() || stored_payout.unsettled_splits < count
    {
        return Ok(WriteOutcome::Conflict);
    }

    // Every split as STORED: PROCESSING in this payout, and listed once; its new version
    // stays in the payout's account.
    let mut seen = BTreeSet::new();
    let mut updates = Vec::with_capacity(n);
    for split in &write.splits {
        let record = SplitEntryRecord::from(split);
        let key = split_key(&record);
        if !seen.insert(key.clone()) || record.account_id != stored_payout.account_id {
            return Ok(WriteOutcome::Conflict);
        }
        let stored = load_split(txn, &key)?.filter(|s| {
            s.state == SplitState::Processing.as_str() && s.payout_id.as_deref() == Some(payout_id)
        });
        let Some(stored) = stored else {
            return Ok(WriteOutcome::Conflict);
        };
        updates.push((record, stored));
    }
    if !movement_absent(txn, write.movement.as_ref())? || !events_absent(txn, &write.events)? {
        return Ok(WriteOutcome::Conflict);
    }

    let payout = PayoutRecord {
        unsettled_splits: stored_payout.unsettled_splits - count,
        updated_at_ms: write.now.timestamp_millis(),
        ..stored_payout.clone()
    };
    put_payout_record(txn, &payout, Some(&stored_payout))?;
    let mut manifest = txn.open_table(PAYOUT_SPLITS).map_err(db_err)?;
    for (record, stored) in &updates {
        put_split(txn, record, Some(stored))?;
        if record.state == SplitState::Scheduled.as_str() {
            manifest
                .remove(manifest_entry(payout_id, &record.transaction_id, record.index).as_str())
                .map_err(db_err)?;
        }
    }
    if let Some(movement) = &write.movement {
        put_movement(txn, movement)?;
    }
    put_events(txn, &write.events)?;
    if let Some(totals) = &write.recipient {
        let account = AccountId::parse(&stored_payout.account_id).ok_or_else(|| {
            StoreError::Corrupt(format!("payout {} has no account", write.payout_id))
        })?;
        add_totals(txn, &account, totals)?;
    }
    Ok(WriteOutcome::Applied)
}

#[cfg(test)]
mod tests;
