//! The run lease on the schedule record: [`claim_in`] takes it for one window,
//! [`finish_in`] moves the schedule to its next window and clears it.

use pixgw_domain::error::StoreError;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::schedule::record::ScheduleRecord;
use redb::WriteTransaction;

use crate::schedule::{load_schedule, put_schedule_record};

pub(super) fn claim_in(
    txn: &WriteTransaction,
    account: &str,
    window_ms: i64,
    run_id: &str,
    lease_until_ms: i64,
    now_ms: i64,
) -> Result<WriteOutcome, StoreError> {
    let Some(stored) = load_schedule(txn, account)? else {
        return Ok(WriteOutcome::Conflict);
    };
    let claimable = match (stored.lease_window_ms, stored.lease_until_ms) {
        // A crashed run's lease: only once expired, and only to continue its window.
        (Some(window), Some(until)) => until <= now_ms && window == window_ms,
        (None, None) => stored.next_run_at_ms <= window_ms,
        // Half a lease cannot be written by this adapter.
        _ => return Err(StoreError::Corrupt(format!("lease of schedule {account}"))),
    };
    if !claimable {
        return Ok(WriteOutcome::Conflict);
    }
    let version = stored
        .version
        .checked_add(1)
        .ok_or_else(|| StoreError::Corrupt("payout schedule version overflow".into()))?;
    let leased = ScheduleRecord {
        lease_run_id: Some(run_id.to_owned()),
        lease_window_ms: Some(window_ms),
        lease_until_ms: Some(lease_until_ms),
        version,
        updated_at_ms: now_ms,
        ..stored.clone()
    };
    put_schedule_record(txn, &leased, Some(&stored))?;
    Ok(WriteOutcome::Applied)
}

pub(super) fn finish_in(
    txn: &WriteTransaction,
    account: &str,
    run_id: &str,
    expected_version: u64,
    next_run_at_ms: i64,
    now_ms: i64,
) -> Result<WriteOutcome, StoreError> {
    let Some(stored) = load_schedule(txn, account)? else {
        return Ok(WriteOutcome::Conflict);
    };
    if stored.lease_run_id.as_deref() != Some(run_id) || stored.version != expected_version {
        return Ok(WriteOutcome::Conflict);
    }
    let version = stored
        .version
        .checked_add(1)
        .ok_or_else(|| StoreError::Corrupt("payout schedule version overflow".into()))?;
    let finished = ScheduleRecord {
        lease_run_id: None,
        lease_window_ms: None,
        lease_until_ms: None,
        next_run_at_ms,
        version,
        updated_at_ms: now_ms,
        ..stored.clone()
    };
    put_schedule_record(txn, &finished, Some(&stored))?;
    Ok(WriteOutcome::Applied)
}
