//! The whole system's books under random histories, on both backends: random sequences of
//! charges (random amounts, 0–3 FIXED/PERCENTAGE splits, immediate or scheduled, some to keys
//! the sandbox DICT rejects), payments (some after expiry), refunds, cash-outs, payout
//! scheduler runs and expiry sweeps, with the test clock moving between them. After every
//! step nothing is overdrawn and the balance equals its movements; after every sequence the
//! full invariants of [`Shop::assert_books`] and [`Shop::assert_network_agrees`] hold.
//!
//! Each operation's verdict is checked against what the account held just before it (a
//! refund or cash-out is refused with InsufficientBalance exactly when `available` does not
//! cover it).
//!
//! The cases come from a seeded generator (SplitMix64): `PIXGW_INVARIANT_SEED` replays a run,
//! and a failing case prints its seed and steps. (A plain generator rather than `proptest`:
//! the steps run against a stateful gateway, where shrinking would replay whole histories.)

use chrono::Duration;
use pixgw_domain::charge::ChargeStatus;
use pixgw_domain::error::DomainError;
use pixgw_domain::ledger::{Balance, MovementKind};
use pixgw_domain::money::Money;
use pixgw_domain::payout::SplitState;
use pixgw_tests::harness::Backend;
use pixgw_tests::money_lifecycle::{Shop, SplitSpec, charge_body, to_bank_account, to_pix_key};
use pixgw_tests::on_both_backends;

/// Sequences per backend (DynamoDB Local + SQS on moto are much slower per step).
fn cases(backend: Backend) -> u64 {
    match backend {
        Backend::Embedded => 16,
        Backend::Dynamodb => 8,
    }
}
/// Longest sequence.
const MAX_STEPS: u64 = 12;

/// SplitMix64: small, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Debug, Clone)]
enum Op {
    Create {
        cents: i64,
        splits: Vec<SplitSpec>,
        expiration: u32,
    },
    /// Pay the `pick`-th unpaid charge (even an expired one: the network may settle late).
    Pay {
        pick: usize,
    },
    /// Refund the `pick`-th CONFIRMED charge.
    Refund {
        pick: usize,
    },
    /// Cash out `percent` % of `available` (over 100 % must be refused).
    CashOut {
        percent: i64,
        reject: bool,
        bank: bool,
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

fn gen_op(rng: &mut Rng, n: u64) -> Op {
    match rng.range(0, 99) {
        0..=24 => {
            let cents = if rng.chance(10) {
                rng.range(100, 999)
            } else {
                rng.range(1_000, 200_000)
            };
            let count = rng.range(0, 3);
            let splits = (0..count)
                .map(|k| {
                    let fixed = rng.chance(50);
                    let value = if fixed {
                        rng.range(1, (cents / 4).max(1))
                    } else {
                        // 1.00 % to 25.00 %, two decimals (rounding dust included).
                        rng.range(100, 2_500)
                    };
                    let reject = rng.chance(10);
                    SplitSpec {
                        fixed,
                        value,
                        immediate: rng.chance(50),
                        pix_key: if reject {
                            format!("reject{n}x{k}@example.com")
                        } else {
                            format!("rec{}@example.com", rng.range(0, 3))
                        },
                    }
                })
                .collect();
            let expiration = [300u32, 600, 3_600, 86_400][rng.range(0, 3) as usize];
            Op::Create {
                cents,
                splits,
                expiration,
            }
        }
        25..=54 => Op::Pay {
            pick: rng.next() as usize,
        },
        55..=66 => Op::Refund {
            pick: rng.next() as usize,
        },
        67..=79 => Op::CashOut {
            percent: rng.range(1, 130),
            reject: rng.chance(20),
            bank: rng.chance(30),
        },
        80..=89 => Op::Schedule,
        _ => Op::Sweep,
    }
}

fn gen_steps(seed: u64) -> Vec<Step> {
    let mut rng = Rng(seed);
    let len = rng.range(4, MAX_STEPS as i64) as u64;
    // Start with a charge so most sequences have money to move.
    let mut steps = Vec::new();
    for n in 0..len {
        let mut op = gen_op(&mut rng, n);
        while n == 0 && !matches!(op, Op::Create { .. }) {
            op = gen_op(&mut rng, n);
        }
        let advance = if rng.chance(30) {
            rng.range(0, 900)
        } else {
            rng.range(0, 20)
        };
        steps.push(Step { advance, op });
    }
    steps
}

/// How much of a refund must come out of `available` now, as the refund service computes
/// it: nothing while the splits are unbooked (the money is still incoming), otherwise the
/// amount minus the splits it would cancel.
async fn refund_needs_from_available(shop: &Shop, id: &pixgw_domain::ids::TransactionId) -> i64 {
    let charge = shop.charge(id).await;
    let booked = shop
        .movement(MovementKind::SplitsBooked, id.as_str())
        .await
        .is_some();
    if !booked {
        return 0;
    }
    let cancellable: i64 = shop
        .splits(id)
        .await
        .iter()
        .filter(|s| s.state == SplitState::Scheduled && s.payout_id.is_none())
        .map(|s| s.split.amount.cents())
        .sum();
    charge.amount.cents() - cancellable
}

/// What the steps did, over all cases: the run must have exercised every path.
#[derive(Debug, Default)]
struct Tally {
    payments: usize,
    late_payments: usize,
    refunds: usize,
    refunds_refused: usize,
    cash_outs: usize,
    cash_outs_refused: usize,
    payouts: usize,
    expired: usize,
}

async fn run_step(shop: &Shop, case: u64, n: usize, step: &Step, tally: &mut Tally) {
    shop.advance(Duration::seconds(step.advance));
    match &step.op {
        Op::Create {
            cents,
            splits,
            expiration,
        } => {
            shop.create(&charge_body(
                &format!("C{case}-{n}"),
                *cents,
                splits,
                *expiration,
            ))
            .await;
        }
        Op::Pay { pick } => {
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
            let response = shop.deliver(&shop.payment_webhook(charge)).await;
            assert_eq!(response.status, 200, "{:?}", response.body_json());
            let paid = shop.charge(&charge.transaction_id).await;
            assert_eq!(paid.status, ChargeStatus::Confirmed, "{paid:?}");
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
        Op::Refund { pick } => {
            let mut confirmed = Vec::new();
            for id in shop.charge_ids() {
                if shop.charge(&id).await.status == ChargeStatus::Confirmed {
                    confirmed.push(id);
                }
            }
            if confirmed.is_empty() {
                return;
            }
            let id = &confirmed[pick % confirmed.len()];
            let needed = refund_needs_from_available(shop, id).await;
            let available = shop.balance().await.available.cents();
            let before = shop.snapshot().await;
            match shop.refund(id).await {
                Ok(charge) => {
                    assert!(needed <= available, "refunded {needed} from {available}");
                    assert_eq!(charge.status, ChargeStatus::Refunded, "{charge:?}");
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
}

/// One sequence on a gateway of its own; what its steps did.
async fn run_case(backend: Backend, base: u64, case: u64) -> Tally {
    let seed = base.wrapping_add(case);
    let steps = gen_steps(seed);
    println!("{backend:?} case {case}, PIXGW_INVARIANT_SEED={base} (+{case}): {steps:#?}");
    let mut tally = Tally::default();
    let shop = Shop::open(backend).await;
    for (n, step) in steps.iter().enumerate() {
        run_step(&shop, case, n, step, &mut tally).await;
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

/// The cases run at once, each on its own gateway (fresh store and queues), so the slow
/// emulators are waited on in parallel.
async fn random_histories_keep_the_books(backend: Backend) {
    let base: u64 = std::env::var("PIXGW_INVARIANT_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0x5EED_0006);
    let handles: Vec<_> = (0..cases(backend))
        .map(|case| (case, tokio::spawn(run_case(backend, base, case))))
        .collect();
    let mut total = Tally::default();
    let mut failed = Vec::new();
    for (case, handle) in handles {
        match handle.await {
            Ok(t) => {
                total.payments += t.payments;
                total.late_payments += t.late_payments;
                total.refunds += t.refunds;
                total.refunds_refused += t.refunds_refused;
                total.cash_outs += t.cash_outs;
                total.cash_outs_refused += t.cash_outs_refused;
                total.payouts += t.payouts;
                total.expired += t.expired;
            }
            Err(e) => failed.push(format!(
                "case {case} (PIXGW_INVARIANT_SEED={base}, +{case}): {e}"
            )),
        }
    }
    assert!(
        failed.is_empty(),
        "failed cases (their steps are printed above):\n{}",
        failed.join("\n")
    );
    println!("{backend:?}: {total:?}");
    assert!(
        total.payments > 0 && total.refunds > 0 && total.cash_outs > 0,
        "the histories moved too little money to mean anything: {total:?}"
    );
}

on_both_backends!(random_histories_keep_the_books);
