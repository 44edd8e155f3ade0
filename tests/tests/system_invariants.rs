//! The whole system's books under random histories, on both backends: random sequences of
//! charges (random amounts, 0–3 FIXED/PERCENTAGE splits, immediate or scheduled, some to keys
//! the sandbox DICT rejects), payments (some after expiry), refunds, cash-outs, payout
//! scheduler runs and expiry sweeps, with the test clock moving between them. After every
//! step nothing is overdrawn and the balance equals its movements; after every sequence the
//! full invariants of [`Shop::assert_books`] and [`Shop::assert_network_agrees`] hold.
//!
//! Each operation's verdict is checked against what the account held just before it (a
//! refund or cash-out is refused with InsufficientBalance exactly when `available` does not
//! cover it); a refund the provider refuses gives every party back what it bore. MED
//! infractions open on random charges under either liability (some larger than `available`:
//! the rest is owed, paid by later credits) and are decided either way; some payments arrive
//! under a cautelar hold and are released or returned.
//!
//! The histories are `proptest` values, run one after the other, each on a gateway of its
//! own. A failing history is shrunk (a few dozen replays at most, [`MAX_SHRINK_ITERS`]: each
//! replay is a whole history against a fresh gateway) and reported with the seed of the run.
//! The seed is [`DEFAULT_SEED`], so every run checks the same histories;
//! `PROPTEST_RNG_SEED=<seed>` replays or explores others. The case counts are fixed here
//! (`PROPTEST_CASES` does not apply) and nothing is persisted between runs.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Duration;
use pixgw_domain::charge::ChargeStatus;
use pixgw_domain::error::DomainError;
use pixgw_domain::ledger::Balance;
use pixgw_domain::pix::money::Money;
use pixgw_domain::refund::liability::{RefundTerms, SplitPartKind, plan_funding};
use pixgw_domain::refund::{RefundLiability, RefundState};
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use pixgw_tests::harness::Backend;
use pixgw_tests::money_lifecycle::{
    Altered, Shop, SplitSpec, charge_body, to_bank_account, to_pix_key,
};
use pixgw_tests::on_both_backends;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{RngSeed, TestError, TestRunner};
use tokio::runtime::Handle;

/// Sequences per backend (DynamoDB Local + SQS on moto are much slower per step).
fn cases(backend: Backend) -> u32 {
    match backend {
        Backend::Embedded => 16,
        Backend::Dynamodb => 8,
    }
}
/// Shortest and longest sequence.
const MIN_STEPS: usize = 4;
const MAX_STEPS: usize = 12;
/// The proptest seed unless `PROPTEST_RNG_SEED` is set.
const DEFAULT_SEED: u64 = 0x5EED_0006;
/// Replays spent shrinking a failing history (each one a whole history on a fresh gateway:
/// seconds on DynamoDB Local).
const MAX_SHRINK_ITERS: u32 = 32;

/// Who a split pays.
#[derive(Debug, Clone)]
enum Recipient {
    /// `rec{n}@example.com`: one of four keys the sandbox DICT knows.
    Known(u8),
    /// A key of its own containing `reject`, unknown to the sandbox DICT.
    UnknownToDict,
}

#[derive(Debug, Clone)]
struct Split {
    /// FIXED cents, or PERCENTAGE in hundredths of a percent.
    fixed: bool,
    value: i64,
    immediate: bool,
    recipient: Recipient,
}

#[derive(Debug, Clone)]
enum Op {
    Create {
        cents: i64,
        splits: Vec<Split>,
        expiration: u32,
    },
    /// Pay the `pick`-th unpaid charge (even an expired one: the network may settle late),
    /// `held` under a cautelar hold.
    Pay {
        pick: usize,
        held: bool,
    },
    /// End the `pick`-th charge's cautelar hold: released, or returned to the payer.
    EndHold {
        pick: usize,
        release: bool,
    },
    /// Refund `per_mille` ‰ of what is left of the `pick`-th charge still refundable (at
    /// least 0.01; 1000: all of it), under PROPORTIONAL or MERCHANT liability; `refused`: the
    /// provider refuses the devolução.
    Refund {
        pick: usize,
        per_mille: u16,
        proportional: bool,
        refused: bool,
    },
    /// Cash out `percent` % of `available` (over 100 % must be refused).
    CashOut {
        percent: i64,
        reject: bool,
        bank: bool,
    },
    /// The payer's bank opens a FRAUD infraction on `per_mille` ‰ of what is left of the
    /// `pick`-th charge still disputable, the account's policy PROPORTIONAL or MERCHANT.
    Infraction {
        pick: usize,
        per_mille: u16,
        proportional: bool,
    },
    /// The MED decides the `pick`-th open dispute.
    Decide {
        pick: usize,
        won: bool,
    },
    Schedule,
    Sweep,
}

#[derive(Debug, Clone)]
struct Step {
    /// The clock moves this many seconds before the operation.
    advance: i64,
    op: Op,
}

fn split(cents: i64) -> impl Strategy<Value = Split> {
    let value = prop_oneof![
        (1..=(cents / 4).max(1)).prop_map(|v| (true, v)),
        // 1.00 % to 25.00 %, two decimals (rounding dust included).
        (100..=2_500i64).prop_map(|v| (false, v)),
    ];
    let recipient = prop_oneof![
        9 => (0..=3u8).prop_map(Recipient::Known),
        1 => Just(Recipient::UnknownToDict),
    ];
    (value, any::<bool>(), recipient).prop_map(|((fixed, value), immediate, recipient)| Split {
        fixed,
        value,
        immediate,
        recipient,
    })
}

fn create() -> impl Strategy<Value = Op> {
    prop_oneof![1 => 100..=999i64, 9 => 1_000..=200_000i64]
        .prop_flat_map(|cents| {
            (
                Just(cents),
                vec(split(cents), 0..=3),
                select(&[300u32, 600, 3_600, 86_400][..]),
            )
        })
        .prop_map(|(cents, splits, expiration)| Op::Create {
            cents,
            splits,
            expiration,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        25 => create(),
        30 => (any::<usize>(), prop::bool::weighted(0.3))
            .prop_map(|(pick, held)| Op::Pay { pick, held }),
        6 => (any::<usize>(), prop::bool::weighted(0.7))
            .prop_map(|(pick, release)| Op::EndHold { pick, release }),
        22 => (
            any::<usize>(),
            prop_oneof![1 => Just(1_000u16), 2 => 1..=999u16],
            any::<bool>(),
            prop::bool::weighted(0.35)
        )
            .prop_map(|(pick, per_mille, proportional, refused)| Op::Refund {
                pick,
                per_mille,
                proportional,
                refused
            }),
        13 => (1..=130i64, prop::bool::weighted(0.2), prop::bool::weighted(0.3))
            .prop_map(|(percent, reject, bank)| Op::CashOut { percent, reject, bank }),
        10 => (
            any::<usize>(),
            prop_oneof![1 => Just(1_000u16), 2 => 1..=999u16],
            any::<bool>()
        )
            .prop_map(|(pick, per_mille, proportional)| Op::Infraction {
                pick,
                per_mille,
                proportional
            }),
        8 => (any::<usize>(), any::<bool>()).prop_map(|(pick, won)| Op::Decide { pick, won }),
        10 => Just(Op::Schedule),
        10 => Just(Op::Sweep),
    ]
}

fn step(op: impl Strategy<Value = Op>) -> impl Strategy<Value = Step> {
    let advance = prop_oneof![7 => 0..=20i64, 3 => 0..=900i64];
    (advance, op).prop_map(|(advance, op)| Step { advance, op })
}

/// `MIN_STEPS..=MAX_STEPS` steps, starting with a charge so most sequences have money to move.
fn history() -> impl Strategy<Value = Vec<Step>> {
    (step(create()), vec(step(op()), MIN_STEPS - 1..MAX_STEPS)).prop_map(|(first, rest)| {
        let mut steps = vec![first];
        steps.extend(rest);
        steps
    })
}

/// How much of a refund of `cents` under `liability` must come out of `available` now, by the
/// domain's own rule over the charge's splits as stored (booked first, as the refund does).
async fn refund_needs_from_available(
    shop: &Shop,
    id: &pixgw_domain::pix::ids::TransactionId,
    cents: i64,
    liability: RefundLiability,
) -> i64 {
    shop.gw.state.split_calculator.book(id).await.expect("book");
    let charge = shop.charge(id).await;
    let terms = RefundTerms {
        refund_id: pixgw_domain::pix::ids::RefundId::generate(),
        gross: charge.amount,
        refund: Money::from_cents(cents),
        liability,
        takes_rest: cents == charge.refundable().cents(),
        now: shop.now(),
    };
    plan_funding(terms, &shop.splits(id).await)
        .expect("plan")
        .from_available
        .max(0)
}

/// What the steps did, over all cases: the run must have exercised every path.
#[derive(Debug, Default)]
struct Tally {
    payments: usize,
    late_payments: usize,
    refunds: usize,
    refunds_refused: usize,
    /// Refused by the provider.
    refunds_failed: usize,
    cash_outs: usize,
    cash_outs_refused: usize,
    payouts: usize,
    expired: usize,
    disputes: usize,
    /// Disputes whose opening `available` could not cover.
    disputes_owing: usize,
    disputes_won: usize,
    disputes_lost: usize,
    holds: usize,
    holds_released: usize,
    holds_returned: usize,
}

impl Tally {
    fn add(&mut self, t: &Tally) {
        self.payments += t.payments;
        self.late_payments += t.late_payments;
        self.refunds += t.refunds;
        self.refunds_refused += t.refunds_refused;
        self.refunds_failed += t.refunds_failed;
        self.cash_outs += t.cash_outs;
        self.cash_outs_refused += t.cash_outs_refused;
        self.payouts += t.payouts;
        self.expired += t.expired;
        self.disputes += t.disputes;
        self.disputes_owing += t.disputes_owing;
        self.disputes_won += t.disputes_won;
        self.disputes_lost += t.disputes_lost;
        self.holds += t.holds;
        self.holds_released += t.holds_released;
        self.holds_returned += t.holds_returned;
    }
}

async fn run_step(shop: &mut Shop, case: u64, n: usize, step: &Step, tally: &mut Tally) {
    shop.advance(Duration::seconds(step.advance));
    match &step.op {
        Op::Create {
            cents,
            splits,
            expiration,
        } => {
            let splits: Vec<SplitSpec> = splits
                .iter()
                .enumerate()
                .map(|(k, s)| SplitSpec {
                    fixed: s.fixed,
                    value: s.value,
                    immediate: s.immediate,
                    pix_key: match s.recipient {
                        Recipient::Known(r) => format!("rec{r}@example.com"),
                        Recipient::UnknownToDict => format!("reject{n}x{k}@example.com"),
                    },
                })
                .collect();
            shop.create(&charge_body(
                &format!("C{case}-{n}"),
                *cents,
                &splits,
                *expiration,
            ))
            .await;
        }
        Op::Pay { pick, held } => {
            let mut unpaid = Vec::new();
            for id in shop.charge_ids() {
                let c = shop.charge(&id).await;
                if matches!(c.status, ChargeStatus::Pending | ChargeStatus::Expired) {
                    unpaid.push(c);
                }
            }
            if unpaid.is_empty() {
                return;
            }
            let charge = &unpaid[pick % unpaid.len()];
            let before = shop.balance().await;
            let response = shop
                .deliver(&shop.payment_webhook_with(charge, *held))
                .await;
            assert_eq!(response.status, 200, "{:?}", response.body_json());
            let paid = shop.charge(&charge.transaction_id).await;
            assert_eq!(paid.status, ChargeStatus::Confirmed, "{paid:?}");
            assert_eq!(paid.is_held(), *held, "{paid:?}");
            if *held {
                // Held: nothing the merchant may use moved; it all sits in `held`.
                let after = shop.balance().await;
                assert_eq!(
                    after.held.cents() - before.held.cents(),
                    paid.amount.cents()
                );
                assert_eq!(
                    (after.available, after.incoming),
                    (before.available, before.incoming)
                );
                tally.holds += 1;
            }
            assert_eq!(
                paid.paid_after_expiration(),
                shop.now() >= charge.expires_at,
                "{paid:?}"
            );
            tally.payments += 1;
            if paid.paid_after_expiration() {
                tally.late_payments += 1;
            }
            shop.drain_quickly().await;
        }
        Op::Refund {
            pick,
            per_mille,
            proportional,
            refused,
        } => {
            let mut refundable = Vec::new();
            for id in shop.charge_ids() {
                let c = shop.charge(&id).await;
                if matches!(
                    c.status,
                    ChargeStatus::Confirmed | ChargeStatus::PartiallyRefunded
                ) && c.refundable().cents() > 0
                {
                    refundable.push((id, c.refundable().cents()));
                }
            }
            if refundable.is_empty() {
                return;
            }
            let (id, left) = &refundable[pick % refundable.len()];
            let cents = (left * i64::from(*per_mille) / 1_000).max(1);
            let liability = if *proportional {
                RefundLiability::Proportional
            } else {
                RefundLiability::Merchant
            };
            let needed = refund_needs_from_available(shop, id, cents, liability).await;
            let available = shop.balance().await.available.cents();
            let before = shop.snapshot().await;
            let normal = refused.then(|| {
                let provider = shop.gw.state.provider.clone();
                shop.swap_provider(Altered::refusing_refunds(provider))
            });
            let outcome = shop.refund_part(id, Some(cents), Some(liability)).await;
            if let Some(normal) = normal {
                shop.gw.state = normal;
            }
            match outcome {
                Ok((charge, refund_id)) if *refused => {
                    // Refused at once, nothing moved on: every party has back what it bore
                    // (unless the splits it cancelled held more than it: see
                    // `flows::refund::refund_failure`).
                    assert!(needed <= available, "refunded {needed} from {available}");
                    let refund = charge.refund(&refund_id).expect("the refund");
                    assert_eq!(refund.state, RefundState::Failed, "{charge:?}");
                    tally.refunds_failed += 1;
                    let reduced: i64 = refund
                        .split_parts
                        .iter()
                        .filter(|p| p.kind == SplitPartKind::Reduced)
                        .map(|p| p.amount.cents())
                        .sum();
                    if reduced > refund.amount.cents() {
                        shop.drain_quickly().await;
                        return;
                    }
                    assert_eq!(shop.balance().await, before.balance, "{charge:?}");
                    let payable = |splits: &[Vec<SplitEntry>]| -> Vec<Vec<(SplitState, i64)>> {
                        splits
                            .iter()
                            .map(|s| s.iter().map(|e| (e.state, e.refunded.cents())).collect())
                            .collect()
                    };
                    assert_eq!(
                        payable(&shop.snapshot().await.splits),
                        payable(&before.splits),
                        "{charge:?}"
                    );
                }
                Ok((charge, _)) => {
                    assert!(needed <= available, "refunded {needed} from {available}");
                    let expected = if cents == *left {
                        ChargeStatus::Refunded
                    } else {
                        ChargeStatus::PartiallyRefunded
                    };
                    assert_eq!(charge.status, expected, "{charge:?}");
                    tally.refunds += 1;
                }
                Err(DomainError::InsufficientBalance {
                    available: a,
                    needed: n,
                }) => {
                    assert!(needed > available, "refused {needed} from {available}");
                    assert_eq!((a.cents(), n.cents()), (available, needed));
                    assert_eq!(
                        shop.snapshot().await,
                        before,
                        "a refused refund changed something"
                    );
                    tally.refunds_refused += 1;
                }
                Err(e) => panic!("refund of {id}: {e:?}"),
            }
            shop.drain_quickly().await;
        }
        Op::CashOut {
            percent,
            reject,
            bank,
        } => {
            let available = shop.balance().await.available.cents();
            let amount = (available * percent / 100).max(1);
            let destination = if *reject {
                to_pix_key("reject@example.com")
            } else if *bank {
                to_bank_account()
            } else {
                to_pix_key("fornecedor@example.com")
            };
            let before = shop.snapshot().await;
            match shop
                .cash_out(
                    &format!("CO{case}-{n}"),
                    Money::from_cents(amount),
                    destination,
                )
                .await
            {
                Ok(co) => {
                    assert!(amount <= available, "cashed out {amount} of {available}");
                    assert_eq!(co.amount.cents(), amount);
                    tally.cash_outs += 1;
                }
                Err(DomainError::InsufficientBalance { .. }) => {
                    assert!(amount > available, "refused {amount} of {available}");
                    assert_eq!(
                        shop.snapshot().await,
                        before,
                        "a refused cash-out changed something"
                    );
                    tally.cash_outs_refused += 1;
                }
                Err(e) => panic!("cash-out: {e:?}"),
            }
            shop.drain_quickly().await;
        }
        Op::Infraction {
            pick,
            per_mille,
            proportional,
        } => infraction(shop, *pick, *per_mille, *proportional, tally).await,
        Op::Decide { pick, won } => decide(shop, *pick, *won, tally).await,
        Op::EndHold { pick, release } => end_hold(shop, *pick, *release, tally).await,
        Op::Schedule => {
            tally.payouts += shop.run_scheduler().await.payouts;
            shop.drain_quickly().await;
        }
        Op::Sweep => {
            tally.expired += shop
                .gw
                .state
                .expiry
                .sweep(1_000)
                .await
                .expect("sweep")
                .expired;
            let now = shop.now();
            for id in shop.charge_ids() {
                let c = shop.charge(&id).await;
                assert!(
                    !(c.status == ChargeStatus::Pending && c.expires_at <= now),
                    "a due charge survived the sweep: {c:?}"
                );
            }
        }
    }
    // After every step: nothing overdrawn, and the balance is its movements.
    let balance = shop.balance().await;
    assert_eq!(
        balance,
        Balance::from_movements(&shop.account, &shop.movements().await),
        "after step {n}"
    );
    assert!(
        balance.available.cents() >= 0,
        "after step {n}: {balance:?}"
    );
    assert!(
        balance.reserved_for_splits.cents() >= 0,
        "after step {n}: {balance:?}"
    );
    assert!(balance.incoming.cents() >= 0, "after step {n}: {balance:?}");
    assert!(balance.held.cents() >= 0, "after step {n}: {balance:?}");
    assert!(balance.owed.cents() <= 0, "after step {n}: {balance:?}");
}

/// Opens a dispute on a paid charge with something left: it holds exactly the amount, takes
/// from `available` what the liability rule asks of it as far as it covers it, and owes the
/// rest — never a negative `available`.
async fn infraction(
    shop: &Shop,
    pick: usize,
    per_mille: u16,
    proportional: bool,
    tally: &mut Tally,
) {
    let mut disputable = Vec::new();
    for id in shop.charge_ids() {
        let c = shop.charge(&id).await;
        if c.payment.is_some() && c.refundable().cents() > 0 && c.disputes.len() < 10 {
            disputable.push((id, c.refundable().cents()));
        }
    }
    if disputable.is_empty() {
        return;
    }
    let (id, left) = &disputable[pick % disputable.len()];
    let cents = (left * i64::from(per_mille) / 1_000).max(1);
    let liability = if proportional {
        RefundLiability::Proportional
    } else {
        RefundLiability::Merchant
    };
    shop.gw
        .state
        .store
        .set_refund_liability(&shop.account, liability)
        .await
        .expect("policy");
    let needed = refund_needs_from_available(shop, id, cents, liability).await;
    let before = shop.balance().await;
    let dispute = shop.disputed(id, Some(cents)).await;
    let after = shop.balance().await;
    let available = before.available.cents();
    assert_eq!(
        after.held.cents() - before.held.cents(),
        cents,
        "{dispute:?}"
    );
    assert_eq!(
        dispute.hold.from_available,
        needed.min(available),
        "{dispute:?}"
    );
    assert_eq!(
        dispute.hold.owed,
        (needed - available).max(0),
        "{dispute:?}"
    );
    assert_eq!(before.owed.cents() - after.owed.cents(), dispute.hold.owed);
    tally.disputes += 1;
    if dispute.hold.owed > 0 {
        tally.disputes_owing += 1;
    }
    shop.drain_quickly().await;
}

/// Ends a held charge's hold through the sandbox: `held` gives back exactly its amount;
/// released, the charge is booked (splits and all) by the pipeline; returned, it is REFUNDED.
async fn end_hold(shop: &Shop, pick: usize, release: bool, tally: &mut Tally) {
    let mut held = Vec::new();
    for id in shop.charge_ids() {
        if shop.charge(&id).await.is_held() {
            held.push(id);
        }
    }
    if held.is_empty() {
        return;
    }
    let id = &held[pick % held.len()];
    let before = shop.balance().await;
    let ending = if release { "release" } else { "return" };
    let response = shop.end_hold(id, ending).await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    let charge = shop.charge(id).await;
    let after = shop.balance().await;
    assert_eq!(
        before.held.cents() - after.held.cents(),
        charge.amount.cents()
    );
    if release {
        tally.holds_released += 1;
    } else {
        assert_eq!(charge.status, ChargeStatus::Refunded, "{charge:?}");
        tally.holds_returned += 1;
    }
    shop.drain_quickly().await;
}

/// Decides an open dispute: `held` gives back exactly its amount; won, nothing is owed for it.
async fn decide(shop: &Shop, pick: usize, won: bool, tally: &mut Tally) {
    let mut open = Vec::new();
    for id in shop.charge_ids() {
        for claim in shop.charge(&id).await.disputes {
            if claim.state.is_open() {
                open.push(claim.id);
            }
        }
    }
    if open.is_empty() {
        return;
    }
    let id = &open[pick % open.len()];
    let before = shop.balance().await;
    let amount = shop.dispute(id).await.amount.cents();
    let response = shop.decide(id, if won { "WON" } else { "LOST" }).await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    let after = shop.balance().await;
    assert_eq!(before.held.cents() - after.held.cents(), amount);
    let decided = shop.dispute(id).await;
    if won {
        assert_eq!(decided.still_owed, 0, "{decided:?}");
        tally.disputes_won += 1;
    } else {
        tally.disputes_lost += 1;
    }
    shop.drain_quickly().await;
}

/// true, false, true, … across every case of the run (cases run one after the other): how the
/// holds and disputes still open at the end of a history end, so that over a run both endings
/// happen however few there are.
fn alternate() -> bool {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed).is_multiple_of(2)
}

/// One sequence on a gateway of its own; what its steps did.
async fn run_case(backend: Backend, case: u64, steps: &[Step]) -> Tally {
    let mut tally = Tally::default();
    let mut shop = Shop::open(backend).await;
    for (n, step) in steps.iter().enumerate() {
        run_step(&mut shop, case, n, step, &mut tally).await;
    }
    // A devolução the payer's bank refuses, once per history that had none (if anything is
    // refundable): its give-back must hold after whatever the history did.
    if tally.refunds_failed == 0 {
        let refused = Step {
            advance: 0,
            op: Op::Refund {
                pick: 0,
                per_mille: 500,
                proportional: case.is_multiple_of(2),
                refused: true,
            },
        };
        run_step(&mut shop, case, steps.len(), &refused, &mut tally).await;
    }
    // Every hold still in force ends, alternately released and returned, and every dispute
    // still open is decided, alternately won and lost, after whatever the history did since
    // (payouts, refunds, more credits).
    loop {
        let open = tally.holds - tally.holds_released - tally.holds_returned;
        if open == 0 {
            break;
        }
        end_hold(&shop, 0, alternate(), &mut tally).await;
    }
    loop {
        let open = tally.disputes - tally.disputes_won - tally.disputes_lost;
        if open == 0 {
            break;
        }
        decide(&shop, 0, alternate(), &mut tally).await;
    }
    shop.drain().await;
    shop.assert_books().await;
    shop.assert_network_agrees().await;
    // Every paid charge's splits are booked once the pipeline has run.
    for id in shop.charge_ids() {
        let c = shop.charge(&id).await;
        if c.status == ChargeStatus::Confirmed && !c.splits.is_empty() {
            assert_eq!(shop.splits(&id).await.len(), c.splits.len(), "{c:?}");
        }
    }
    assert_eq!(shop.balance().await.incoming, Money::ZERO, "case {case}");
    tally
}

/// The proptest run, on a thread that may block: each case's async body runs on the test's
/// runtime through `handle`, one case after the other (shrinking replays them in order).
fn check_random_histories(handle: &Handle, backend: Backend) {
    let mut config = ProptestConfig {
        cases: cases(backend),
        max_shrink_iters: MAX_SHRINK_ITERS,
        // A failing DynamoDB case takes ~20 s to replay: shrinking stops after 3 minutes and
        // reports the smallest history found by then.
        max_shrink_time: 180_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    // The same histories on every run unless `PROPTEST_RNG_SEED` asks for others: the
    // coverage check below fails for about one random 8-case seed in four.
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(DEFAULT_SEED);
    }
    let seed = config.rng_seed;
    let total = Mutex::new(Tally::default());
    let next_case = AtomicU64::new(0);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&history(), |steps| {
        let case = next_case.fetch_add(1, Ordering::Relaxed);
        let tally = handle.block_on(run_case(backend, case, &steps));
        total.lock().expect("tally").add(&tally);
        Ok(())
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, steps)) => panic!(
            "{backend:?}: a history broke the books ({why}); replay with \
             PROPTEST_RNG_SEED={seed}; minimal failing history ({} steps): {steps:#?}",
            steps.len()
        ),
        Err(TestError::Abort(why)) => panic!("{backend:?}: proptest aborted: {why}"),
    }
    let total = total.into_inner().expect("tally");
    println!("{backend:?} (PROPTEST_RNG_SEED={seed}): {total:?}");
    assert!(
        total.payments > 0
            && total.refunds > 0
            && total.refunds_failed > 0
            && total.cash_outs > 0
            && total.disputes_won > 0
            && total.disputes_lost > 0
            && total.holds_released > 0
            && total.holds_returned > 0,
        "the histories moved too little money to mean anything \
         (PROPTEST_RNG_SEED={seed}): {total:?}"
    );
}

async fn random_histories_keep_the_books(backend: Backend) {
    let handle = Handle::current();
    if let Err(e) =
        tokio::task::spawn_blocking(move || check_random_histories(&handle, backend)).await
    {
        std::panic::resume_unwind(e.into_panic());
    }
}

on_both_backends!(random_histories_keep_the_books);
