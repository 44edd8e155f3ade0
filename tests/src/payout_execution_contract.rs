//! Executing scheduled payouts, over every adapter: the scheduler assembles the payouts, the
//! [`PayoutExecutor`] pays them through the sandbox PIX network, and the retry policy of a
//! failing recipient plays out window after window. Run by `tests/payout_execution_contract.rs`.
//!
//! Payouts are found through their splits (strongly consistent reads), never through an
//! index, so the cases mean the same on DynamoDB as on the embedded store.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use pixgw_domain::charge::Charge;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::flows::execute_payout::{ExecutionResult, PayoutExecutor};
use pixgw_domain::flows::run_payout_windows::{PayoutScheduler, SchedulerConfig};
use pixgw_domain::flows::settle::{FinalOutcome, settle_chunk, settle_payout};
use pixgw_domain::ledger::Balance;
use pixgw_domain::messaging::events::EventType;
use pixgw_domain::payout::{Payout, PayoutId, PayoutState};
use pixgw_domain::pix::clock::Clock;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::provider::directory::ProviderDirectory;
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use pixgw_providers::sandbox::SandboxProvider;

use crate::harness::ManualClock;
use crate::scheduler_contract::{Subject, account_due_at, book, charge_for, nine_am};
use crate::settlement_contract::{balance_of, eventually};

/// Calls `$callback!($($args)*; sequential: [...], concurrent: [...])` with every case.
#[macro_export]
macro_rules! payout_execution_contract_cases {
    ($callback:ident ! ( $($args:tt)* )) => {
        $callback! {
            $($args)*;
            sequential: [
                paid_payouts_pay_every_split_with_the_transfer_id,
                a_failing_recipient_is_retried_for_three_windows_then_refunded,
                a_manifest_left_half_settled_is_finished_by_a_redelivery,
            ],
            concurrent: [
                concurrent_executions_settle_a_payout_once,
            ],
        }
    };
}

/// The scheduler, executor and sandbox network of one case, on one clock.
struct Rig {
    subject: Subject,
    clock: Arc<ManualClock>,
    provider: Arc<SandboxProvider>,
    scheduler: PayoutScheduler,
    executor: PayoutExecutor,
}

impl Rig {
    fn new(subject: Subject, start: DateTime<Utc>) -> Rig {
        let clock = Arc::new(ManualClock::new(start));
        let provider = Arc::new(
            SandboxProvider::new("pix.example.test", clock.clone(), vec![3u8; 32])
                .expect("sandbox"),
        );
        let scheduler = PayoutScheduler::with_config(
            subject.runs.clone(),
            clock.clone(),
            SchedulerConfig {
                page_size: 100,
                ..SchedulerConfig::default()
            },
        );
        let providers = Arc::new(ProviderDirectory::single(provider.clone(), clock.clone()));
        let executor = PayoutExecutor::new(
            pixgw_api::store::payout_executor_ports(&subject.store),
            providers,
            clock.clone(),
        );
        Rig {
            subject,
            clock,
            provider,
            scheduler,
            executor,
        }
    }

    /// Moves the clock to `at` and runs the scheduler there.
    async fn run_window(&self, at: DateTime<Utc>) {
        let now = self.clock.now();
        self.clock.advance(at - now);
        self.scheduler.run_now().await.expect("scheduler run");
    }

    async fn splits(&self, charges: &[Charge]) -> Vec<SplitEntry> {
        let mut all = Vec::new();
        for charge in charges {
            all.extend(
                self.subject
                    .store
                    .get_splits(&charge.transaction_id)
                    .await
                    .expect("splits"),
            );
        }
        all
    }

    /// The payouts the splits are PROCESSING in (released and waiting for the executor).
    async fn processing_payouts(&self, charges: &[Charge]) -> BTreeSet<PayoutId> {
        self.splits(charges)
            .await
            .into_iter()
            .filter(|s| s.state == SplitState::Processing)
            .filter_map(|s| s.payout_id)
            .collect()
    }

    async fn payout(&self, id: &PayoutId) -> Payout {
        self.subject
            .store
            .get_payout(id)
            .await
            .expect("read payout")
            .expect("payout exists")
    }

    /// Executes every released payout twice (the second time a redelivery).
    async fn execute_all(&self, charges: &[Charge]) -> BTreeMap<PayoutId, ExecutionResult> {
        let mut results = BTreeMap::new();
        for id in self.processing_payouts(charges).await {
            let first = self.executor.execute(&id).await.expect("execute");
            let again = self.executor.execute(&id).await.expect("redelivery");
            assert_eq!(again, ExecutionResult::AlreadySettled, "redelivery of {id}");
            results.insert(id, first);
        }
        results
    }

    /// The balance, once it equals the sum of the account's movements (the ledger index may
    /// lag a moment on DynamoDB).
    async fn balanced(&self, account: &AccountId) -> Balance {
        let store = &self.subject.store;
        let (balance, from_ledger) = eventually(
            || async move {
                let balance = store.get_balance(account).await.expect("balance");
                let movements = store.list_movements(account).await.expect("movements");
                (balance, Balance::from_movements(account, &movements))
            },
            |(b, l)| b == l,
        )
        .await;
        assert_eq!(balance, from_ledger, "balance = Σ movements of {account}");
        balance
    }

    async fn event_counts(&self, account: &AccountId) -> BTreeMap<&'static str, usize> {
        let events = self
            .subject
            .store
            .list_events(account, None, 10_000)
            .await
            .expect("events");
        let ids: BTreeSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), events.len(), "every event recorded once");
        let mut counts = BTreeMap::new();
        for e in &events {
            *counts.entry(e.event_type.as_str()).or_default() += 1;
        }
        counts
    }
}

/// `n` charges of `account`, each with one split to recipient 1 and one to a PIX key the
/// sandbox DICT refuses when `reject` (else to recipient 2), booked before `window`.
async fn charges(
    rig: &Rig,
    account: &AccountId,
    n: usize,
    reject: bool,
    window: DateTime<Utc>,
) -> Vec<Charge> {
    let mut charges = Vec::new();
    for i in 0..n {
        let at = window - Duration::hours(2) + Duration::seconds(i64::try_from(i).expect("i"));
        let mut charge = charge_for(account, &[1, 2], 100 + i64::try_from(i).expect("i"), at);
        if reject {
            charge.splits[1].rule.pix_key = "reject-me@example.com".into();
        }
        book(&rig.subject, charge.clone(), at).await;
        charges.push(charge);
    }
    charges
}

fn shares(charges: &[Charge], index: usize) -> i64 {
    charges.iter().map(|c| c.splits[index].amount.cents()).sum()
}

// =============================================================================================
// Cases

pub async fn paid_payouts_pay_every_split_with_the_transfer_id(subject: Subject) {
    let window = nine_am(10);
    let account = account_due_at(&subject, window).await;
    let rig = Rig::new(subject, window - Duration::hours(3));
    // 60 charges: one payout per recipient with 60 splits, settled in two chunks.
    let charges = charges(&rig, &account, 60, false, window).await;
    rig.run_window(window + Duration::minutes(1)).await;

    let results = rig.execute_all(&charges).await;
    assert_eq!(results.len(), 2, "one payout per recipient");
    assert!(results.values().all(|r| *r == ExecutionResult::Paid));
    assert_eq!(rig.provider.transfers().len(), 2, "one transfer per payout");

    for id in results.keys() {
        let payout = rig.payout(id).await;
        assert_eq!(payout.state, PayoutState::Paid);
        assert_eq!(payout.unsettled_splits, 0);
        assert_eq!(payout.split_count, 60);
        let e2e = payout.end_to_end_id.clone().expect("end-to-end id");
        let paid: Vec<SplitEntry> = rig
            .splits(&charges)
            .await
            .into_iter()
            .filter(|s| s.payout_id.as_ref() == Some(id))
            .collect();
        assert_eq!(paid.len(), 60);
        assert!(
            paid.iter()
                .all(|s| s.state == SplitState::Paid && s.end_to_end_id.as_ref() == Some(&e2e))
        );
        let sum: i64 = paid.iter().map(|s| s.split.amount.cents()).sum();
        assert_eq!(sum, payout.amount.cents(), "payout = Σ of its splits");
    }
    let remainder: i64 = charges.iter().map(|c| c.remainder.cents()).sum();
    assert_eq!(rig.balanced(&account).await, balance_of(0, remainder, 0));
    let counts = rig.event_counts(&account).await;
    assert_eq!(counts.get("PAYOUT_PAID"), Some(&2));
    assert_eq!(counts.get("SPLIT_PAID"), Some(&120));
}

pub async fn a_failing_recipient_is_retried_for_three_windows_then_refunded(subject: Subject) {
    let first = nine_am(10);
    let account = account_due_at(&subject, first).await;
    let rig = Rig::new(subject, first - Duration::hours(3));
    let charges = charges(&rig, &account, 5, true, first).await;
    let good = shares(&charges, 0);
    let refused = shares(&charges, 1);
    let remainder: i64 = charges.iter().map(|c| c.remainder.cents()).sum();

    let mut failed_payouts = BTreeSet::new();
    for window in 0..3 {
        rig.run_window(nine_am(10 + window) + Duration::minutes(1))
            .await;
        let results = rig.execute_all(&charges).await;
        for (id, result) in &results {
            let payout = rig.payout(id).await;
            if payout.recipient.pix_key.contains("reject") {
                assert_eq!(*result, ExecutionResult::Failed, "window {window}");
                assert_eq!(payout.amount.cents(), refused, "the same splits, retried");
                assert!(
                    failed_payouts.insert(id.clone()),
                    "a new payout each window"
                );
                // A split is listed by the payout that paid it or failed it for good; one sent
                // back to the schedule moves on to a later window's payout.
                let (manifest, _) = rig
                    .subject
                    .store
                    .payout_splits_page(id, None, 100)
                    .await
                    .expect("manifest");
                assert_eq!(
                    manifest.len(),
                    if window < 2 { 0 } else { 5 },
                    "window {window}"
                );
                assert_eq!(payout.split_count, 5, "it carried every refused split");
            } else {
                assert_eq!(*result, ExecutionResult::Paid);
                assert_eq!(payout.amount.cents(), good, "paid in the first window");
            }
        }
        let splits = rig.splits(&charges).await;
        let refused_splits: Vec<&SplitEntry> = splits.iter().filter(|s| s.index == 1).collect();
        let attempts = u8::try_from(window + 1).expect("small");
        let expected_state = if window < 2 {
            SplitState::Scheduled
        } else {
            SplitState::Failed
        };
        for s in &refused_splits {
            assert_eq!(s.state, expected_state, "window {window}");
            assert_eq!(s.attempts, attempts);
            assert_eq!(
                s.failure_reason.as_deref(),
                Some("PIX key not found in DICT")
            );
        }
        let balance = rig.balanced(&account).await;
        if window < 2 {
            assert_eq!(
                balance,
                balance_of(0, remainder, refused),
                "still reserved for the retry"
            );
        } else {
            assert_eq!(
                balance,
                balance_of(0, remainder + refused, 0),
                "refunded to available"
            );
        }
    }
    assert_eq!(failed_payouts.len(), 3);
    // A fourth window has nothing left to pay.
    rig.run_window(nine_am(13) + Duration::minutes(1)).await;
    assert!(rig.processing_payouts(&charges).await.is_empty());

    let paid: Vec<_> = rig.provider.transfers();
    assert_eq!(paid.len(), 4, "one good payout + three refused attempts");
    let counts = rig.event_counts(&account).await;
    assert_eq!(counts.get("PAYOUT_FAILED"), Some(&3));
    assert_eq!(counts.get("SPLIT_FAILED"), Some(&5));
    assert_eq!(counts.get("PAYOUT_PAID"), Some(&1));
    assert_eq!(counts.get("SPLIT_PAID"), Some(&5));
}

pub async fn a_manifest_left_half_settled_is_finished_by_a_redelivery(subject: Subject) {
    let window = nine_am(10);
    let account = account_due_at(&subject, window).await;
    let rig = Rig::new(subject, window - Duration::hours(3));
    let charges = charges(&rig, &account, 100, false, window).await;
    rig.run_window(window + Duration::minutes(1)).await;
    let ids = rig.processing_payouts(&charges).await;
    let id = ids.iter().next().expect("a payout").clone();
    let payout = rig.payout(&id).await;

    // "Crash": the payout and one chunk of its splits are settled, then the process dies.
    let now = window + Duration::minutes(2);
    let outcome = FinalOutcome {
        state: PayoutState::Paid,
        end_to_end_id: Some(pixgw_domain::pix::payment::EndToEndId::generate(
            pixgw_domain::pix::payment::EndToEndKind::Payment,
            &pixgw_providers::sandbox::sandbox_ispb(),
            now,
        )),
        provider_transfer_id: Some("tr_crash".into()),
        failure_reason: None,
    };
    let write = settle_payout(payout, vec![], &outcome, now).expect("settlement");
    assert_eq!(
        rig.subject.store.settle_payout(&write).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(
        rig.subject.store.settle_payout(&write).await,
        Ok(WriteOutcome::Conflict),
        "a settled payout cannot settle again"
    );
    let mine: Vec<SplitEntry> = rig
        .splits(&charges)
        .await
        .into_iter()
        .filter(|s| s.payout_id.as_ref() == Some(&id))
        .take(30)
        .collect();
    let chunk = settle_chunk(&write.payout, mine, now).expect("chunk");
    assert_eq!(
        rig.subject.store.settle_payout_splits(&chunk).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(
        rig.subject.store.settle_payout_splits(&chunk).await,
        Ok(WriteOutcome::Conflict),
        "a settled chunk cannot settle again"
    );
    assert_eq!(rig.payout(&id).await.unsettled_splits, 70);

    // The redelivered request finishes the manifest without a transfer.
    assert_eq!(
        rig.executor.execute(&id).await,
        Ok(ExecutionResult::AlreadySettled)
    );
    assert_eq!(rig.provider.transfer_calls(), 0);
    let payout = rig.payout(&id).await;
    assert_eq!(payout.unsettled_splits, 0);
    let e2e = payout.end_to_end_id.clone();
    let paid = rig
        .splits(&charges)
        .await
        .into_iter()
        .filter(|s| s.payout_id.as_ref() == Some(&id))
        .filter(|s| s.state == SplitState::Paid && s.end_to_end_id == e2e)
        .count();
    assert_eq!(paid, 100);
    let counts = rig.event_counts(&account).await;
    assert_eq!(counts.get(EventType::SplitPaid.as_str()), Some(&100));
}

pub async fn concurrent_executions_settle_a_payout_once(subject: Subject) {
    let window = nine_am(10);
    let account = account_due_at(&subject, window).await;
    let rig = Rig::new(subject, window - Duration::hours(3));
    let charges = charges(&rig, &account, 100, false, window).await;
    rig.run_window(window + Duration::minutes(1)).await;
    let ids: Vec<PayoutId> = rig.processing_payouts(&charges).await.into_iter().collect();
    assert_eq!(ids.len(), 2);

    let runs = ids
        .iter()
        .flat_map(|id| (0..4).map(move |_| id.clone()))
        .map(|id| {
            let executor = rig.executor.clone();
            async move { executor.execute(&id).await }
        });
    // A racer may lose a storage conflict and fail; the queue would redeliver its message,
    // which one more (sequential) execution of each payout stands for.
    let results = join_all(runs).await;
    assert!(results.iter().any(Result::is_ok), "{results:?}");
    for id in &ids {
        assert_eq!(
            rig.executor.execute(id).await,
            Ok(ExecutionResult::AlreadySettled)
        );
    }
    assert_eq!(rig.provider.transfers().len(), 2, "one transfer per payout");
    for id in &ids {
        let payout = rig.payout(id).await;
        assert_eq!(payout.state, PayoutState::Paid);
        assert_eq!(payout.unsettled_splits, 0);
    }
    let remainder: i64 = charges.iter().map(|c| c.remainder.cents()).sum();
    assert_eq!(rig.balanced(&account).await, balance_of(0, remainder, 0));
    let counts = rig.event_counts(&account).await;
    assert_eq!(counts.get("PAYOUT_PAID"), Some(&2));
    assert_eq!(counts.get("SPLIT_PAID"), Some(&200));
}
