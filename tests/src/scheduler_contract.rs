//! The payout-scheduler contract: [`PayoutScheduler`] over every adapter of
//! [`PayoutRunStore`], run by `tests/scheduler_contract.rs` on the embedded store and on
//! DynamoDB Local.
//!
//! Each case is an `async fn(Subject)` that panics on a violation. Splits are booked through
//! the real write path: the charge is inserted, confirmed, and its splits booked with
//! [`split_calculator::booking`] + `book_splits`, at chosen instants.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use futures::future::join_all;
use pixgw_api::store::DynStore;
use pixgw_domain::charge::{Charge, ChargeSplit, ChargeStatus};
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::flows::book_splits::booking;
use pixgw_domain::flows::run_payout_windows::{PayoutScheduler, SchedulerConfig};
use pixgw_domain::payout::runs::{AttachSplits, PayoutHeader, PayoutRunStore};
use pixgw_domain::payout::{Payout, PayoutId, PayoutRecipient, PayoutState};
use pixgw_domain::pix::clock::Clock;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::pix_key::PixKeyType;
use pixgw_domain::schedule::PayoutSchedule;
use pixgw_domain::schedule::ports::ScheduleState;
use pixgw_domain::split::entry::SplitState;
use pixgw_domain::split::ports::BookSplits;
use pixgw_domain::split::{SplitRule, SplitValue};

use crate::settlement_contract::{CPF, charge_with_splits, confirm_write, doc, payment};

/// One store seen through both ports.
#[derive(Clone)]
pub struct Subject {
    pub store: DynStore,
    pub runs: Arc<dyn PayoutRunStore>,
}

impl Subject {
    /// A fresh embedded store seen through both ports, plus its temporary directory (kept
    /// alive by the caller for the test's length).
    pub async fn fresh_embedded() -> (Subject, Option<tempfile::TempDir>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(
            pixgw_store_embedded::EmbeddedStore::open(dir.path()).expect("open embedded store"),
        );
        let subject = Subject {
            store: store.clone(),
            runs: store,
        };
        (subject, Some(dir))
    }

    /// A fresh DynamoDB Local table seen through both ports (no directory to keep).
    pub async fn fresh_dynamodb() -> (Subject, Option<tempfile::TempDir>) {
        let store = Arc::new(crate::harness::fresh_dynamodb_store().await);
        let subject = Subject {
            store: store.clone(),
            runs: store,
        };
        (subject, None)
    }

    /// [`Subject::fresh_dynamodb`] on a table that never had a stream, for the `large` cases:
    /// they read nothing from it, and DynamoDB Local slows every request to a streamed table
    /// down as stream records pile up (see
    /// [`crate::harness::fresh_dynamodb_store_without_stream`]).
    pub async fn fresh_dynamodb_without_stream() -> (Subject, Option<tempfile::TempDir>) {
        let store = Arc::new(crate::harness::fresh_dynamodb_store_without_stream().await);
        let subject = Subject {
            store: store.clone(),
            runs: store,
        };
        (subject, None)
    }
}

/// Calls `$callback!($($args)*; sequential: [...], concurrent: [...], large: [...])` with every
/// case. `large` cases are concurrent too, and need no table stream: a runner gives them a
/// store without one where that is faster ([`Subject::fresh_dynamodb_without_stream`]).
#[macro_export]
macro_rules! scheduler_contract_cases {
    ($callback:ident ! ( $($args:tt)* )) => {
        $callback! {
            $($args)*;
            sequential: [
                one_payout_per_recipient_summing_its_splits,
                splits_booked_after_the_cutoff_wait,
                catch_up_after_missed_windows_is_one_run,
                a_crashed_run_is_completed_without_duplicates,
            ],
            concurrent: [
                racing_runs_pay_each_recipient_once,
            ],
            large: [
                ten_thousand_splits_over_a_thousand_recipients,
            ],
        }
    };
}

struct Fixed(DateTime<Utc>);

impl Clock for Fixed {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn scheduler(subject: &Subject, page_size: usize) -> PayoutScheduler {
    PayoutScheduler::with_config(
        subject.runs.clone(),
        Arc::new(Fixed(Utc::now())),
        SchedulerConfig {
            page_size,
            ..SchedulerConfig::default()
        },
    )
}

/// Daily at 09:00 São Paulo = 12:00 UTC. Day `d` of January 2031.
pub fn nine_am(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 1, day, 12, 0, 0)
        .single()
        .expect("instant")
}

/// An account whose daily 09:00 schedule is next due at `next_run_at`.
pub async fn account_due_at(subject: &Subject, next_run_at: DateTime<Utc>) -> AccountId {
    let account = AccountId::generate();
    let schedule = PayoutSchedule::daily(NaiveTime::from_hms_opt(9, 0, 0).expect("time"));
    let state = ScheduleState {
        account_id: account.clone(),
        schedule,
        next_run_at,
        version: 1,
        updated_at: next_run_at - Duration::days(1),
        lease: None,
    };
    assert_eq!(
        subject.store.put_schedule(&state, None).await,
        Ok(WriteOutcome::Applied)
    );
    account
}

pub fn recipient_key(n: usize) -> String {
    format!("recebedor{n}@example.com")
}

/// A charge of `account` with one scheduled FIXED split per recipient number.
pub fn charge_for(
    account: &AccountId,
    recipients: &[usize],
    cents: i64,
    at: DateTime<Utc>,
) -> Charge {
    let mut charge = charge_with_splits(account, at);
    charge.splits = recipients
        .iter()
        .map(|&n| ChargeSplit {
            rule: SplitRule {
                pix_key: recipient_key(n).into(),
                pix_key_type: PixKeyType::Email,
                name: format!("Recebedor {n}").into(),
                document: doc(CPF),
                value: SplitValue::Fixed(Money::from_cents(cents)),
                immediate: false,
            },
            amount: Money::from_cents(cents),
        })
        .collect();
    let shares = cents * i64::try_from(recipients.len()).expect("count");
    charge.amount = Money::from_cents(shares + 100);
    charge.remainder = Money::from_cents(100);
    charge
}

/// Inserts, confirms and books the charge's splits at `at` (their booking time).
pub async fn book(subject: &Subject, charge: Charge, at: DateTime<Utc>) {
    book_in(&subject.store, charge, at).await;
}

/// [`book`] on a bare store; the booking it wrote.
pub async fn book_in(store: &DynStore, charge: Charge, at: DateTime<Utc>) -> BookSplits {
    store.insert_charge(&charge, None).await.expect("insert");
    let confirm = confirm_write(&charge, payment(at), at);
    assert_eq!(
        store.confirm_charge(&confirm).await,
        Ok(WriteOutcome::Applied)
    );
    let confirmed = Charge {
        status: ChargeStatus::Confirmed,
        ..charge
    };
    let write = booking(&confirmed, at).expect("booking");
    assert_eq!(store.book_splits(&write).await, Ok(WriteOutcome::Applied));
    write
}

/// Every payout of the account's splits, by id, checked against the splits it pays: each
/// split PROCESSING in exactly the payout whose manifest lists it, amounts and counts equal.
async fn payouts_of(subject: &Subject, charges: &[Charge]) -> BTreeMap<PayoutId, Payout> {
    let mut expected: BTreeMap<PayoutId, (i64, u32)> = BTreeMap::new();
    for charge in charges {
        for split in subject
            .store
            .get_splits(&charge.transaction_id)
            .await
            .expect("splits")
        {
            if split.state == SplitState::Processing {
                let id = split
                    .payout_id
                    .clone()
                    .expect("a PROCESSING split names its payout");
                let e = expected.entry(id).or_default();
                e.0 += split.split.amount.cents();
                e.1 += 1;
            }
        }
    }
    let mut payouts = BTreeMap::new();
    for (id, (cents, count)) in expected {
        let payout = subject
            .store
            .get_payout(&id)
            .await
            .expect("read")
            .expect("payout exists");
        assert_eq!(
            payout.amount.cents(),
            cents,
            "payout {id} = Σ of its splits"
        );
        assert_eq!(payout.split_count, count, "payout {id} counts its splits");
        let mut listed = 0u32;
        let mut after = None;
        loop {
            let (page, next) = subject
                .store
                .payout_splits_page(&id, after.as_ref(), 250)
                .await
                .expect("manifest");
            listed += u32::try_from(page.len()).expect("count");
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(listed, count, "manifest of {id} lists every split once");
        payouts.insert(id, payout);
    }
    payouts
}

fn distinct_recipients(payouts: &BTreeMap<PayoutId, Payout>) -> usize {
    let keys: std::collections::BTreeSet<_> = payouts
        .values()
        .map(|p| p.recipient.pix_key.clone())
        .collect();
    keys.len()
}

// =============================================================================================
// Cases

pub async fn one_payout_per_recipient_summing_its_splits(subject: Subject) {
    let window = nine_am(10);
    let account = account_due_at(&subject, window).await;
    let mut charges = Vec::new();
    for i in 0..5 {
        let c = charge_for(&account, &[1, 2, 3], 1_000 + i, window - Duration::hours(2));
        book(&subject, c.clone(), window - Duration::hours(2)).await;
        charges.push(c);
    }
    let report = scheduler(&subject, 4)
        .run_due(window + Duration::minutes(3))
        .await
        .expect("run");
    assert_eq!((report.accounts, report.payouts, report.splits), (1, 3, 15));
    let payouts = payouts_of(&subject, &charges).await;
    assert_eq!(payouts.len(), 3);
    assert_eq!(distinct_recipients(&payouts), 3);
    let total: i64 = payouts.values().map(|p| p.amount.cents()).sum();
    assert_eq!(total, report.amount.cents());
    assert_eq!(total, 3 * (1_000 + 1_001 + 1_002 + 1_003 + 1_004));
    assert!(payouts.values().all(|p| p.state == PayoutState::Processing));
    // Each payout's execution was requested.
    let schedule = subject
        .store
        .get_schedule(&account)
        .await
        .expect("read")
        .expect("schedule");
    assert_eq!(schedule.next_run_at, nine_am(11));
    assert_eq!(schedule.lease, None);
    // A second tick finds nothing due.
    let again = scheduler(&subject, 4)
        .run_due(window + Duration::minutes(8))
        .await
        .expect("run");
    assert_eq!(again.accounts, 0);
}

pub async fn splits_booked_after_the_cutoff_wait(subject: Subject) {
    let window = nine_am(10);
    let account = account_due_at(&subject, window).await;
    let before = charge_for(&account, &[1], 500, window - Duration::minutes(1));
    book(&subject, before.clone(), window).await;
    let late_at = window + Duration::milliseconds(1);
    let late = charge_for(&account, &[1], 700, late_at);
    book(&subject, late.clone(), late_at).await;
    let report = scheduler(&subject, 10)
        .run_due(window + Duration::minutes(5))
        .await
        .expect("run");
    assert_eq!((report.payouts, report.splits), (1, 1));
    assert_eq!(report.amount, Money::from_cents(500));
    let waiting = subject
        .store
        .get_splits(&late.transaction_id)
        .await
        .expect("splits");
    assert_eq!(waiting[0].state, SplitState::Scheduled);
    assert_eq!(waiting[0].payout_id, None);
}

pub async fn catch_up_after_missed_windows_is_one_run(subject: Subject) {
    let first = nine_am(10);
    let account = account_due_at(&subject, first).await;
    let mut charges = Vec::new();
    for day in 0..4 {
        let at = first - Duration::hours(1) + Duration::days(day);
        let c = charge_for(&account, &[7], 100, at);
        book(&subject, c.clone(), at).await;
        charges.push(c);
    }
    // Down for three windows (10th, 11th, 12th); back at 10:00 on the 13th.
    let now = nine_am(13) + Duration::hours(1);
    let report = scheduler(&subject, 10).run_due(now).await.expect("run");
    assert_eq!((report.accounts, report.payouts, report.splits), (1, 1, 4));
    let schedule = subject
        .store
        .get_schedule(&account)
        .await
        .expect("read")
        .expect("schedule");
    assert_eq!(schedule.next_run_at, nine_am(14));
    let again = scheduler(&subject, 10).run_due(now).await.expect("run");
    assert_eq!(again.accounts, 0, "one run, not one per missed window");
    assert_eq!(payouts_of(&subject, &charges).await.len(), 1);
}

pub async fn a_crashed_run_is_completed_without_duplicates(subject: Subject) {
    let window = nine_am(10);
    let account = account_due_at(&subject, window).await;
    let mut charges = Vec::new();
    for i in 0..6 {
        let at = window - Duration::minutes(30) + Duration::seconds(i);
        let c = charge_for(&account, &[1, 2], 250, at);
        book(&subject, c.clone(), at).await;
        charges.push(c);
    }
    // The crashed run: claims, attaches the first page for recipient 1 only, dies.
    let crash_at = window + Duration::minutes(1);
    let runs = &subject.runs;
    assert_eq!(
        runs.claim_window(
            &account,
            window,
            "crashed",
            crash_at + Duration::minutes(5),
            crash_at
        )
        .await,
        Ok(WriteOutcome::Applied)
    );
    let (page, _) = runs
        .scheduled_splits_page(&account, window, None, 6)
        .await
        .expect("page");
    let mine: Vec<_> = page
        .into_iter()
        .filter(|s| s.split.rule.pix_key == recipient_key(1))
        .collect();
    assert_eq!(mine.len(), 3);
    let recipient: PayoutRecipient = mine[0].recipient();
    let header = PayoutHeader {
        id: PayoutId::for_scheduled_window(&account, window, &recipient),
        account_id: account.clone(),
        window,
        recipient,
    };
    assert_eq!(
        runs.attach_splits(&AttachSplits {
            payout: header.clone(),
            splits: mine.clone(),
            now: crash_at,
        })
        .await,
        Ok(WriteOutcome::Applied)
    );
    // A replay of the same attach is refused: the splits are no longer SCHEDULED.
    assert_eq!(
        runs.attach_splits(&AttachSplits {
            payout: header.clone(),
            splits: mine,
            now: crash_at,
        })
        .await,
        Ok(WriteOutcome::Conflict)
    );
    // While the lease lives, nobody takes over.
    let early = scheduler(&subject, 2)
        .run_due(crash_at + Duration::minutes(2))
        .await
        .expect("run");
    assert_eq!(early.accounts, 0);
    // After it expired, the next tick finishes THE CRASHED window with the same payout ids.
    let report = scheduler(&subject, 2)
        .run_due(crash_at + Duration::minutes(10))
        .await
        .expect("run");
    assert_eq!(report.accounts, 1);
    assert_eq!(report.payouts, 2);
    assert_eq!(
        report.splits, 9,
        "only the splits the crashed run had not attached"
    );
    let payouts = payouts_of(&subject, &charges).await;
    assert_eq!(payouts.len(), 2);
    let resumed = payouts.get(&header.id).expect("the crashed run's payout");
    assert_eq!((resumed.amount.cents(), resumed.split_count), (1_500, 6));
    assert!(payouts.values().all(|p| p.state == PayoutState::Processing));
}

pub async fn racing_runs_pay_each_recipient_once(subject: Subject) {
    let window = nine_am(10);
    let account = account_due_at(&subject, window).await;
    let mut charges = Vec::new();
    for i in 0..20 {
        let at = window - Duration::hours(1) + Duration::seconds(i);
        let c = charge_for(&account, &[1, 2, 3, 4], 199, at);
        book(&subject, c.clone(), at).await;
        charges.push(c);
    }
    let now = window + Duration::minutes(1);
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let s = scheduler(&subject, 7);
            tokio::spawn(async move { s.run_due(now).await })
        })
        .collect();
    let reports: Vec<_> = join_all(runs)
        .await
        .into_iter()
        .map(|r| r.expect("join").expect("run"))
        .collect();
    assert_eq!(reports.iter().map(|r| r.accounts).sum::<usize>(), 1);
    assert_eq!(reports.iter().map(|r| r.payouts).sum::<usize>(), 4);
    assert_eq!(reports.iter().map(|r| r.splits).sum::<usize>(), 80);
    let payouts = payouts_of(&subject, &charges).await;
    assert_eq!(payouts.len(), 4);
    assert_eq!(distinct_recipients(&payouts), 4);
    assert!(
        payouts
            .values()
            .all(|p| p.amount.cents() == 20 * 199 && p.split_count == 20)
    );
}

pub async fn ten_thousand_splits_over_a_thousand_recipients(subject: Subject) {
    let window = nine_am(10);
    let account = account_due_at(&subject, window).await;
    let mut charges = Vec::new();
    let mut expected: i64 = 0;
    for i in 0..1_000usize {
        // Ten recipients per charge, each recipient in ten charges; odd amounts so a lost or
        // doubled cent shows.
        let recipients: Vec<usize> = (0..10).map(|j| (i + j * 100) % 1_000).collect();
        let cents = 101 + i64::try_from(i % 37).expect("small");
        let at = window - Duration::hours(3) + Duration::milliseconds(i64::try_from(i).expect("i"));
        let c = charge_for(&account, &recipients, cents, at);
        expected += cents * 10;
        charges.push(c.clone());
        book(&subject, c, at).await;
    }
    let report = scheduler(&subject, 2_500)
        .run_due(window + Duration::minutes(1))
        .await
        .expect("run");
    assert_eq!(report.splits, 10_000);
    assert_eq!(report.payouts, 1_000);
    assert_eq!(report.amount.cents(), expected);
    let payouts = payouts_of(&subject, &charges).await;
    assert_eq!(payouts.len(), 1_000);
    assert_eq!(distinct_recipients(&payouts), 1_000);
    let total: i64 = payouts.values().map(|p| p.amount.cents()).sum();
    assert_eq!(total, expected, "Σ payouts = Σ splits to the cent");
    for charge in &charges {
        for split in subject
            .store
            .get_splits(&charge.transaction_id)
            .await
            .expect("splits")
        {
            assert_eq!(split.state, SplitState::Processing);
            assert!(split.payout_id.is_some());
        }
    }
}
