//! The payout scheduler: on every tick, pays each due account's SCHEDULED splits, one payout
//! per recipient per window. The steps and why each is safe are in
//! [`crate::payout::runs`]; this module decides the window, streams the splits and keeps
//! going when an account fails (the others are not held hostage by one).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, StreamExt};
use tracing::{info, warn};

use crate::error::WriteOutcome;
use crate::error::{DomainError, StoreError};
use crate::flows::create_charge::truncate_to_millis;
use crate::messaging::outbox::PipelineMessage;
use crate::payout::PayoutId;
use crate::payout::runs::{AttachSplits, PayoutHeader, PayoutRunStore, ScheduledSplitCursor};
use crate::pix::clock::Clock;
use crate::pix::ids::AccountId;
use crate::pix::money::Money;
use crate::schedule::ports::ScheduleState;
use crate::split::entry::SplitEntry;

/// Tuning of a scheduler invocation.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerConfig {
    /// Due accounts handled per invocation; the rest wait for the next tick (every 5 min),
    /// which bounds one Lambda invocation's work.
    pub max_accounts: usize,
    /// Splits read (and held in memory) at once. Bigger pages group more splits of each
    /// recipient into one transaction (pages are in booking order, so a page of P splits
    /// over R recipients carries about P/R per recipient); 5,000 entries are a few MiB.
    pub page_size: usize,
    /// Recipients' attaches in flight at once (each is one transaction on its own payout).
    pub concurrency: usize,
    /// How long a claim keeps other runs away. Longer than one invocation can last (the
    /// Lambda timeout), so a live run is never overtaken; a crashed one is continued by the
    /// first tick after it.
    pub lease: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> SchedulerConfig {
        SchedulerConfig {
            max_accounts: 200,
            page_size: 5_000,
            concurrency: 16,
            lease: Duration::minutes(15),
        }
    }
}

/// What one invocation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Accounts whose window this invocation finished.
    pub accounts: usize,
    /// Payouts released to `payout-requests`.
    pub payouts: usize,
    /// Splits attached to payouts.
    pub splits: usize,
    /// Σ of the attached splits.
    pub amount: Money,
    /// Accounts skipped: another run holds the window, or an error (logged) stopped the run;
    /// a later tick retries them.
    pub skipped: usize,
}

#[derive(Clone)]
pub struct PayoutScheduler {
    store: Arc<dyn PayoutRunStore>,
    clock: Arc<dyn Clock>,
    config: SchedulerConfig,
}

/// How often finishing is retried when a schedule replacement raced the run.
const FINISH_RETRIES: usize = 3;

impl PayoutScheduler {
    pub fn new(store: Arc<dyn PayoutRunStore>, clock: Arc<dyn Clock>) -> PayoutScheduler {
        PayoutScheduler::with_config(store, clock, SchedulerConfig::default())
    }

    pub fn with_config(
        store: Arc<dyn PayoutRunStore>,
        clock: Arc<dyn Clock>,
        config: SchedulerConfig,
    ) -> PayoutScheduler {
        PayoutScheduler {
            store,
            clock,
            config,
        }
    }

    /// Runs every due account's window (up to `max_accounts`), at the injected clock's time.
    pub async fn run_now(&self) -> Result<RunReport, DomainError> {
        self.run_due(self.clock.now()).await
    }

    /// Pays `account`'s SCHEDULED splits now, as if its window were now (the sandbox's "run
    /// now"): the stored next run is moved to now with a versioned write, then the account runs
    /// like any due one, and finishing moves it on to the schedule's regular next window.
    pub async fn run_account_now(&self, account: &AccountId) -> Result<RunReport, DomainError> {
        let now = truncate_to_millis(self.clock.now());
        let mut report = RunReport::default();
        let state = match self.store.get_schedule(account).await? {
            Some(state) => state,
            None => {
                let initial = ScheduleState::initial(account, now);
                if self.store.put_schedule(&initial, None).await? == WriteOutcome::Conflict {
                    return Err(DomainError::ScheduleChangedConcurrently);
                }
                initial
            }
        };
        let state = if state.lease.is_none() && state.next_run_at > now {
            let due_now = ScheduleState {
                next_run_at: now,
                version: state.version + 1,
                updated_at: now,
                ..state.clone()
            };
            if self
                .store
                .put_schedule(&due_now, Some(state.version))
                .await?
                == WriteOutcome::Conflict
            {
                return Err(DomainError::ScheduleChangedConcurrently);
            }
            due_now
        } else {
            state
        };
        if self.run_account(state, now, &mut report).await? {
            report.accounts += 1;
        } else {
            report.skipped += 1;
        }
        Ok(report)
    }

    /// Runs every due account's window as of `now`.
    pub async fn run_due(&self, now: DateTime<Utc>) -> Result<RunReport, DomainError> {
        let now = truncate_to_millis(now);
        let due = self
            .store
            .due_schedules(now, self.config.max_accounts)
            .await?;
        let mut report = RunReport::default();
        for state in due {
            let account = state.account_id.clone();
            match self.run_account(state, now, &mut report).await {
                Ok(true) => report.accounts += 1,
                Ok(false) => report.skipped += 1,
                Err(e) => {
                    // The lease expires and a later tick continues the window.
                    warn!(%account, error = %e, "payout run stopped; a later tick resumes it");
                    report.skipped += 1;
                }
            }
        }
        Ok(report)
    }

    /// `Ok(false)`: another run holds the window.
    async fn run_account(
        &self,
        state: ScheduleState,
        now: DateTime<Utc>,
        report: &mut RunReport,
    ) -> Result<bool, DomainError> {
        let Some(window) = window_of(&state, now) else {
            return Ok(false);
        };
        let account = state.account_id.clone();
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let lease_until = now + self.config.lease;
        if self
            .store
            .claim_window(&account, window, &run_id, lease_until, now)
            .await?
            == WriteOutcome::Conflict
        {
            return Ok(false);
        }
        info!(%account, %window, run_id, "payout window claimed");

        // The payouts this run attached splits to: O(recipients), never O(splits).
        let mut attached: BTreeSet<PayoutId> = BTreeSet::new();
        let mut cursor: Option<ScheduledSplitCursor> = None;
        loop {
            let (page, next) = self
                .store
                .scheduled_splits_page(&account, window, cursor.as_ref(), self.config.page_size)
                .await?;
            self.attach_page(&state, window, page, now, &mut attached, report)
                .await?;
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }

        self.release_all(&state, window, attached, now, report)
            .await?;
        self.finish(&state, &run_id, window, now).await?;
        Ok(true)
    }

    /// Groups one page by recipient and attaches each group in chunks of ≤ 99. Groups go to
    /// the store concurrently: each writes only its own payout item and its own splits, so
    /// two groups never contend; a group's chunks stay in order (they grow one payout).
    async fn attach_page(
        &self,
        state: &ScheduleState,
        window: DateTime<Utc>,
        page: Vec<SplitEntry>,
        now: DateTime<Utc>,
        attached: &mut BTreeSet<PayoutId>,
        report: &mut RunReport,
    ) -> Result<(), DomainError> {
        // BTreeMap: a deterministic order, so two runs over the same page write alike.
        let mut groups: BTreeMap<(String, String, String), Vec<SplitEntry>> = BTreeMap::new();
        for entry in page {
            let recipient = entry.recipient();
            let (t, k, d) = recipient.grouping_key();
            groups
                .entry((t.to_owned(), k.to_owned(), d.to_owned()))
                .or_default()
                .push(entry);
        }
        let mut work = Vec::with_capacity(groups.len());
        for splits in groups.into_values() {
            let Some(first) = splits.first() else {
                continue;
            };
            let recipient = first.recipient();
            let header = PayoutHeader {
                id: PayoutId::for_scheduled_window(&state.account_id, window, &recipient),
                account_id: state.account_id.clone(),
                window,
                recipient,
            };
            attached.insert(header.id.clone());
            work.push((header, splits));
        }
        let mut results = stream::iter(work)
            .map(|(header, splits)| async move { self.attach_group(&header, &splits, now).await })
            .buffer_unordered(self.config.concurrency.max(1));
        // Every group runs to its end even if one fails, so a retry finds no half-written
        // group left behind by this run's own cancellation.
        let mut first_error = None;
        while let Some(result) = results.next().await {
            match result {
                Ok((splits, amount)) => {
                    report.splits += splits;
                    report.amount = report.amount.checked_add(amount).ok_or_else(overflow)?;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Attaches one recipient's splits of a page, chunk after chunk: how many were attached,
    /// and their sum.
    async fn attach_group(
        &self,
        header: &PayoutHeader,
        splits: &[SplitEntry],
        now: DateTime<Utc>,
    ) -> Result<(usize, Money), DomainError> {
        let mut attached = 0;
        let mut amount = Money::ZERO;
        for chunk in splits.chunks(self.store.max_splits_per_attach()) {
            for split in self.attach_chunk(header, chunk, now).await? {
                attached += 1;
                amount = amount.checked_add(split.payable()).ok_or_else(overflow)?;
            }
        }
        Ok((attached, amount))
    }

    async fn attach_chunk<'a>(
        &self,
        header: &PayoutHeader,
        chunk: &'a [SplitEntry],
        now: DateTime<Utc>,
    ) -> Result<Vec<&'a SplitEntry>, DomainError> {
        let write = AttachSplits {
            payout: header.clone(),
            splits: chunk.to_vec(),
            now,
        };
        if self.store.attach_splits(&write).await? == WriteOutcome::Applied {
            return Ok(chunk.iter().collect());
        }
        // Some split left SCHEDULED since the page was read (refunded, or taken by a run that
        // overtook an expired lease), or the payout was already released. Attach one by one so
        // the others still go out in this window; a split refused alone is not ours to pay
        // now (it is cancelled, already in a payout, or waits for the next window).
        let mut done = Vec::with_capacity(chunk.len());
        for split in chunk {
            let single = AttachSplits {
                splits: vec![split.clone()],
                ..write.clone()
            };
            match self.store.attach_splits(&single).await? {
                WriteOutcome::Applied => done.push(split),
                WriteOutcome::Conflict => {
                    warn!(
                        payout_id = %header.id,
                        transaction_id = %split.transaction_id,
                        index = split.index,
                        "split not attached: it changed since it was read"
                    );
                }
            }
        }
        Ok(done)
    }

    /// Releases every ASSEMBLING payout of the window to the executor: those this run
    /// attached to, and those a crashed run of the same window left behind. The index is read
    /// once, before anything is released: on DynamoDB it is eventually consistent, so it may
    /// not list a payout attached a moment ago (this run knows those) or may still list one
    /// released a moment ago (releasing it again is a harmless Conflict) — a crashed run's
    /// payouts were written a lease ago and are listed.
    async fn release_all(
        &self,
        state: &ScheduleState,
        window: DateTime<Utc>,
        mut payouts: BTreeSet<PayoutId>,
        now: DateTime<Utc>,
        report: &mut RunReport,
    ) -> Result<(), DomainError> {
        payouts.extend(
            self.store
                .assembling_payouts(&state.account_id, window, usize::MAX)
                .await?,
        );
        for id in payouts {
            let message = PipelineMessage::PayoutRequested {
                payout_id: id.clone(),
                account_id: state.account_id.clone(),
            }
            .to_outbox(now);
            match self.store.release_payout(&id, &[message], now).await? {
                WriteOutcome::Applied => report.payouts += 1,
                // Already released (by a run that overtook an expired lease, or before a
                // crash): its request went out then.
                WriteOutcome::Conflict => {}
            }
        }
        Ok(())
    }

    /// Moves the schedule to its next window, computed from the schedule as stored NOW (a
    /// replacement during the run takes effect at once, as the API promises).
    async fn finish(
        &self,
        state: &ScheduleState,
        run_id: &str,
        window: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        for _ in 0..=FINISH_RETRIES {
            let Some(stored) = self.store.get_schedule(&state.account_id).await? else {
                return Err(StoreError::Corrupt(format!(
                    "schedule of {} vanished during its run",
                    state.account_id
                ))
                .into());
            };
            if stored.lease.as_ref().map(|l| l.run_id.as_str()) != Some(run_id) {
                // Overtaken after our lease expired: the successor finishes the window.
                return Ok(());
            }
            // After the window, not after `now`: for a fresh run they are the same instant
            // (no run lies between the window and now); for a resumed run of an older window
            // it makes the account due again at once, so the splits booked after that old
            // cut-off are paid by an immediate catch-up run instead of a period later.
            let next = stored.schedule.next_run_after(window);
            if self
                .store
                .finish_window(&state.account_id, run_id, stored.version, next, now)
                .await?
                == WriteOutcome::Applied
            {
                info!(account = %state.account_id, %window, next_run_at = %next, "payout window finished");
                return Ok(());
            }
        }
        Err(DomainError::ScheduleChangedConcurrently)
    }
}

/// The window a run of `state` pays at `now`: a crashed run's window first (so its payout
/// ids are reused); otherwise the latest run instant at or before now — ONE catch-up run
/// however many windows were missed — but never before the stored `next_run_at`. `None`
/// while another run's lease is live.
pub fn window_of(state: &ScheduleState, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match &state.lease {
        Some(lease) if lease.lease_until > now => None,
        Some(lease) => Some(lease.window),
        None => {
            let latest = state
                .schedule
                .latest_run_at_or_before(now)
                .unwrap_or(state.next_run_at);
            Some(latest.max(state.next_run_at))
        }
    }
}

fn overflow() -> DomainError {
    DomainError::Store(StoreError::Corrupt("payout run total overflow".into()))
}
