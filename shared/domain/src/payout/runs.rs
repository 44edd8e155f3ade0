//! The payout-run port: what the payout scheduler
//! ([`PayoutScheduler`](crate::flows::run_payout_windows::PayoutScheduler)) needs from storage.
//!
//! A run of one account's window is a sequence of small atomic writes, never one big one (a
//! window may hold 100,000 splits; DynamoDB transactions take 100 items):
//!
//! 1. [`claim_window`](PayoutRunStore::claim_window) — a lease on the schedule item, so of two
//!    overlapping invocations exactly one runs the window;
//! 2. [`attach_splits`](PayoutRunStore::attach_splits), page after page — ≤ 99 splits of one
//!    recipient move SCHEDULED → PROCESSING into that recipient's ASSEMBLING payout (+1 item:
//!    the payout), whose id is derived from (account, window, recipient);
//! 3. [`release_payout`](PayoutRunStore::release_payout) for every ASSEMBLING payout of the
//!    window — ASSEMBLING → PROCESSING plus its `PayoutRequested` outbox message;
//! 4. [`finish_window`](PayoutRunStore::finish_window) — the next window, lease cleared.
//!
//! A crash anywhere leaves a consistent state: attached splits are PROCESSING in a payout that
//! cannot execute yet (ASSEMBLING), the rest are still SCHEDULED, and the expired lease names
//! the window, so the next invocation continues it with the same payout ids.
//!
//! No ledger movement happens here: the splits' money stays in `reservedForSplits` until the
//! payout executor settles the payout.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::error::WriteOutcome;
use crate::ledger::Movement;
use crate::messaging::events::AccountEvent;
use crate::messaging::outbox::OutboxMessage;
use crate::payout::{PayoutId, PayoutRecipient, PayoutState};
use crate::pix::ids::{AccountId, TransactionId};
use crate::recipient::RecipientTotals;
use crate::schedule::ports::{ScheduleState, ScheduleStore};
use crate::split::entry::SplitEntry;

/// Where a page of an account's SCHEDULED splits ended: the last split returned, in the order
/// of the index (booking time, then transaction id, then index). Adapters map it onto their
/// own keys; it carries no adapter detail, so a run can hand it from one page to the next.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScheduledSplitCursor {
    pub created_at: DateTime<Utc>,
    pub transaction_id: TransactionId,
    pub index: u8,
}

impl ScheduledSplitCursor {
    pub fn after(entry: &SplitEntry) -> ScheduledSplitCursor {
        ScheduledSplitCursor {
            created_at: entry.created_at,
            transaction_id: entry.transaction_id.clone(),
            index: entry.index,
        }
    }
}

/// What an ASSEMBLING payout is, whoever creates it first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutHeader {
    /// [`PayoutId::for_scheduled_window`] of `account_id`, `window`, `recipient`.
    pub id: PayoutId,
    pub account_id: AccountId,
    pub window: DateTime<Utc>,
    pub recipient: PayoutRecipient,
}

/// Attaches splits of ONE recipient to its payout of the window, atomically.
///
/// Conditions: 1 ≤ `splits.len()` ≤ [`MAX_SPLITS_PER_ATTACH`]; every split is stored with
/// state SCHEDULED, belongs to the payout's account, has the payout's recipient and the
/// `refunded` it was read with (a refund reduces SCHEDULED splits: whichever of the two writes
/// first wins); the payout is absent, or stored with state ASSEMBLING.
/// Effects: the payout is created (state ASSEMBLING, trigger SCHEDULED, amount Σ payable, split_count
/// n, no inline splits) or grows (amount += Σ, split_count += n); every split becomes
/// PROCESSING with `payout_id` (leaving the scheduled index); the payout's manifest gains one
/// entry per split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachSplits {
    pub payout: PayoutHeader,
    /// As read from [`PayoutRunStore::scheduled_splits_page`].
    pub splits: Vec<SplitEntry>,
    pub now: DateTime<Utc>,
}

/// Writes the final state of a chunk of a settled scheduled payout's splits.
///
/// Conditions: 1 ≤ `splits.len()` ≤ [`MAX_SPLITS_PER_SETTLE`]; the payout is stored with state
/// `payout_state` (PAID or FAILED) and `unsettled_splits` ≥ `splits.len()`; every split is
/// stored PROCESSING with `payout_id` = `payout_id`; the movement and the events do not exist.
/// Effects: each split is replaced by the given version — PAID (with the transfer's
/// end-to-end id), SCHEDULED again (no payout id, `attempts` + 1: it re-enters the scheduled
/// index and goes out in a later window) or FAILED; the payout's `unsettled_splits` drops by
/// `splits.len()`; the movement (the money of the splits that FAILED for good, reserved →
/// available) with its balance shard; the events.
#[derive(Debug, Clone, PartialEq)]
pub struct SettleSplits {
    pub payout_id: PayoutId,
    pub payout_state: PayoutState,
    pub splits: Vec<SplitEntry>,
    pub movement: Option<Movement>,
    pub events: Vec<AccountEvent>,
    pub now: DateTime<Utc>,
    /// The payout's recipient's totals, when splits of the chunk failed for good (`scheduled`
    /// drops by what they would have paid).
    pub recipient: Option<RecipientTotals>,
}

#[async_trait]
pub trait PayoutRunStore: ScheduleStore {
    /// The most splits one [`AttachSplits`] may carry: the adapter's limit on one atomic write
    /// (DynamoDB: its 100-item transaction minus the payout item). The scheduler chunks by it.
    fn max_splits_per_attach(&self) -> usize;

    /// Up to `limit` schedules whose `next_run_at` ≤ `now`, oldest window first, read through
    /// the due index (never a scan). May lag a moment behind writes on DynamoDB (index): a
    /// claim re-checks everything.
    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ScheduleState>, StoreError>;

    /// Leases `window` of `account` to `run_id` until `lease_until`.
    ///
    /// Conditions: no lease, or one that expired at or before `now`; if a lease is stored, its
    /// window is `window` (a crashed run's window is finished before any other); with no lease
    /// stored, the stored `next_run_at` ≤ `window` (the window is due and not already paid — a
    /// finished run has moved `next_run_at` past it).
    /// Effects: stores the lease; the version grows by one (so a schedule replacement racing
    /// the run re-reads, and keeps the lease).
    async fn claim_window(
        &self,
        account: &AccountId,
        window: DateTime<Utc>,
        run_id: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, StoreError>;

    /// Up to `limit` of the account's SCHEDULED splits booked at or before `cutoff`, strictly
    /// after `after`, in index order; and the cursor of the next page (`None`: no more). The
    /// run attaches each page before it reads the next one, so memory holds one page.
    async fn scheduled_splits_page(
        &self,
        account: &AccountId,
        cutoff: DateTime<Utc>,
        after: Option<&ScheduledSplitCursor>,
        limit: usize,
    ) -> Result<(Vec<SplitEntry>, Option<ScheduledSplitCursor>), StoreError>;

    /// See [`AttachSplits`]. One atomic write.
    async fn attach_splits(&self, write: &AttachSplits) -> Result<WriteOutcome, StoreError>;

    /// Up to `limit` ASSEMBLING payouts of `account`'s `window`. Releasing one removes it from
    /// this list, so a caller releases until it is empty.
    async fn assembling_payouts(
        &self,
        account: &AccountId,
        window: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PayoutId>, StoreError>;

    /// ASSEMBLING → PROCESSING, with the outbox messages (its `PayoutRequested`), atomically.
    /// Conflict (nothing written) unless the payout is stored as ASSEMBLING.
    async fn release_payout(
        &self,
        payout: &PayoutId,
        outbox: &[OutboxMessage],
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, StoreError>;

    /// Ends a run: sets `next_run_at` and clears the lease.
    ///
    /// Conditions: the stored lease belongs to `run_id` and the stored version is
    /// `expected_version` (a schedule replaced during the run means the next window must be
    /// computed again from the new schedule). Effects: the version grows by one.
    async fn finish_window(
        &self,
        account: &AccountId,
        run_id: &str,
        expected_version: u64,
        next_run_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, StoreError>;
}
