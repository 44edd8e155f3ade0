//! `PayoutRunStore`: the payout scheduler ([`PayoutScheduler`]) over the store: one payout
//! per recipient per window summing its splits, splits booked after the window's cutoff
//! waiting, missed windows caught up in one run, a crashed run finished by the next with the
//! same payout ids, racing runs paying each recipient once; ASSEMBLING payouts unlisted until
//! released. Splits are booked through the real write path at chosen instants: the charge is
//! inserted, confirmed, and its splits booked with the split calculator's own booking.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use pixgw_domain::charge::Charge;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::flows::run_payout_windows::{PayoutScheduler, SchedulerConfig};
use pixgw_domain::payout::ports::PayoutQuery;
use pixgw_domain::payout::runs::{AttachSplits, PayoutHeader};
use pixgw_domain::payout::{Payout, PayoutId, PayoutRecipient, PayoutState};
use pixgw_domain::pix::clock::Clock;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::split::entry::SplitState;

use super::{
    Subject, account_due_at, base_time, book, charge_for, eventually, ms, nine_am, recipient_key,
};

struct Fixed(DateTime<Utc>);

impl Clock for Fixed {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn scheduler(subject: &Subject, page_size: usize) -> PayoutScheduler {
    PayoutScheduler::with_config(
        subject.runs(),
        Arc::new(Fixed(Utc::now())),
        SchedulerConfig {
            page_size,
            ..SchedulerConfig::default()
        },
    )
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
    let account = account_due_at(&subject.store, window).await;
    let mut charges = Vec::new();
    for i in 0..5 {
        let c = charge_for(&account, &[1, 2, 3], 1_000 + i, window - Duration::hours(2));
        book(&subject.store, c.clone(), window - Duration::hours(2)).await;
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
    let account = account_due_at(&subject.store, window).await;
    let before = charge_for(&account, &[1], 500, window - Duration::minutes(1));
    book(&subject.store, before.clone(), window).await;
    let late_at = window + Duration::milliseconds(1);
    let late = charge_for(&account, &[1], 700, late_at);
    book(&subject.store, late.clone(), late_at).await;
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
    let account = account_due_at(&subject.store, first).await;
    let mut charges = Vec::new();
    for day in 0..4 {
        let at = first - Duration::hours(1) + Duration::days(day);
        let c = charge_for(&account, &[7], 100, at);
        book(&subject.store, c.clone(), at).await;
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
    let account = account_due_at(&subject.store, window).await;
    let mut charges = Vec::new();
    for i in 0..6 {
        let at = window - Duration::minutes(30) + Duration::seconds(i);
        let c = charge_for(&account, &[1, 2], 250, at);
        book(&subject.store, c.clone(), at).await;
        charges.push(c);
    }
    // The crashed run: claims, attaches the first page for recipient 1 only, dies.
    let crash_at = window + Duration::minutes(1);
    let runs = subject.runs();
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
    let account = account_due_at(&subject.store, window).await;
    let mut charges = Vec::new();
    for i in 0..20 {
        let at = window - Duration::hours(1) + Duration::seconds(i);
        let c = charge_for(&account, &[1, 2, 3, 4], 199, at);
        book(&subject.store, c.clone(), at).await;
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
    let account = account_due_at(&subject.store, window).await;
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
        book(&subject.store, c, at).await;
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

// =============================================================================================
// ASSEMBLING payouts

/// A payout being assembled is not a payout yet: no listing shows it, in any state filter,
/// until it is released; then it is listed PROCESSING, at its creation (the first attach).
/// Releasing twice, or a payout that does not exist, is a conflict that changes nothing.
pub async fn assembling_payouts_are_never_listed_and_released_ones_are(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let t = base_time();
    // Two immediate payouts, listed from the start; two scheduled splits to one recipient.
    let mut immediate = Vec::new();
    let mut scheduled = Vec::new();
    for i in 0..2 {
        let at = t + ms(10 * i);
        let mut charge = charge_for(&account, &[1, 2], 500, at);
        charge.splits[0].rule.immediate = true;
        let booking = book(store, charge, at).await;
        immediate.extend(booking.payouts.iter().map(|p| p.id.clone()));
        scheduled.push(booking.splits[1].clone());
    }
    let window = t + Duration::hours(1);
    let run = window + Duration::seconds(1);
    let recipient = scheduled[0].recipient();
    let header = PayoutHeader {
        id: PayoutId::for_scheduled_window(&account, window, &recipient),
        account_id: account.clone(),
        window,
        recipient,
    };
    let id = header.id.clone();
    // Attached in two writes (the second grows it); still ASSEMBLING.
    for (i, split) in scheduled.iter().enumerate() {
        let attach = AttachSplits {
            payout: header.clone(),
            splits: vec![split.clone()],
            now: run + ms(5 * i64::try_from(i).expect("small")),
        };
        assert_eq!(
            store.attach_splits(&attach).await,
            Ok(WriteOutcome::Applied)
        );
    }
    let assembling = store.get_payout(&id).await.expect("get").expect("payout");
    assert_eq!(
        (assembling.state, assembling.split_count),
        (PayoutState::Assembling, 2)
    );

    let query = |state: Option<PayoutState>| PayoutQuery {
        state,
        from: None,
        to: None,
        limit: 100,
        after: None,
    };
    let account_ref = &account;
    let listed = |state: Option<PayoutState>| async move {
        store
            .list_payouts(account_ref, &query(state))
            .await
            .expect("list payouts")
            .items
            .into_iter()
            .map(|p| p.id)
            .collect::<Vec<_>>()
    };
    let all = eventually(|| listed(None), |ids| ids.len() >= immediate.len()).await;
    assert_eq!(all.len(), immediate.len());
    assert!(!all.contains(&id));
    for state in PayoutState::ALL {
        assert!(!listed(Some(state)).await.contains(&id), "{state:?}");
    }

    // Released: listed as PROCESSING, the newest, at its creation.
    assert_eq!(
        store.release_payout(&id, &[], run + ms(10)).await,
        Ok(WriteOutcome::Applied)
    );
    let released = store.get_payout(&id).await.expect("get").expect("payout");
    assert_eq!(
        (released.state, released.created_at, released.split_count),
        (PayoutState::Processing, run, 2)
    );
    let all = eventually(|| listed(None), |ids| ids.len() > immediate.len()).await;
    assert_eq!(all.first(), Some(&id));
    let processing = eventually(
        || listed(Some(PayoutState::Processing)),
        |ids| ids.contains(&id),
    )
    .await;
    assert_eq!(processing.first(), Some(&id));
    assert_eq!(listed(Some(PayoutState::Assembling)).await, Vec::new());

    // Releasing twice, or a payout that does not exist: a conflict that changes nothing.
    assert_eq!(
        store.release_payout(&id, &[], run + ms(20)).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(store.get_payout(&id).await, Ok(Some(released)));
    assert_eq!(
        store
            .release_payout(&PayoutId::generate(), &[], run + ms(20))
            .await,
        Ok(WriteOutcome::Conflict)
    );
}
