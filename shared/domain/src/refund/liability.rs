//! Who bears a refund, to the cent: the rule, and the plan of one refund of a booked charge.
//!
//! # The rule
//! - `MERCHANT`: the account's `available` pays the whole refund; splits are untouched.
//! - `PROPORTIONAL`: split `i` (share `sᵢ` of gross `G`) bears `⌊R × sᵢ / G⌋` of refund `R`
//!   (rounded **down** to the cent, the mirror of the split rule), and the account bears the
//!   rest, rounding dust included, so the parts sum to `R` exactly. Over several refunds a
//!   split never bears more than its share: `Σₖ ⌊Rₖ sᵢ / G⌋ ≤ ⌊(Σₖ Rₖ) sᵢ / G⌋ ≤ sᵢ` since
//!   `Σₖ Rₖ ≤ G`. The account may bear a few cents more than its remainder over many refunds
//!   (at most one cent per split per refund): the dust of exact cents falls on it, as it
//!   benefits from the dust of the split rule.
//!
//! # Where a split's part comes from
//! - not paid yet (SCHEDULED, in no payout): the split is **reduced** by its part — its
//!   reserve pays it — and CANCELLED when nothing is left of it;
//! - paid, or in a payout being run: its recipient owes its part (a **recipient debt**), which
//!   the account fronts from `available` now and recovers from the recipient's next payouts;
//! - failed or cancelled (its money is the account's again): the account bears it.
//!
//! # The last refund
//! A refund of everything still refundable, under either liability, also cancels what is left
//! of every split not yet paid: a charge given back in full pays no one. The cancelled reserve
//! pays the payer first; whatever exceeds the refund (splits that bore less than their share of
//! earlier refunds, e.g. under `MERCHANT`) returns to `available`. Parties already paid keep
//! what they were paid, less their debts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::payout::PayoutRecipient;
use crate::pix::ids::{RecipientId, RefundId, TransactionId};
use crate::pix::money::Money;
use crate::recipient::DebtPart;
use crate::refund::RefundLiability;
use crate::split::entry::{SplitEntry, SplitState};

/// Each party's part of one refund under `PROPORTIONAL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProportionalParts {
    /// One part per share, in the shares' order.
    pub splits: Vec<Money>,
    /// The refund less Σ `splits`: never negative.
    pub account: Money,
}

/// Out-of-contract input to the liability maths (validated input never produces it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiabilityError {
    #[error("refund {refund} is not within 0.01..={gross}")]
    RefundOutOfRange { refund: Money, gross: Money },
    #[error("the shares ({total}) exceed the gross ({gross})")]
    SharesExceedGross { total: Money, gross: Money },
    #[error("split {index} of the refund is not booked as the charge defines it")]
    SplitMismatch { index: u8 },
}

/// Each split's part of `refund` (shares `shares` of `gross`), per the rule in the module docs.
pub fn proportional_parts(
    refund: Money,
    gross: Money,
    shares: &[Money],
) -> Result<ProportionalParts, LiabilityError> {
    if refund.cents() < 1 || refund.cents() > gross.cents() {
        return Err(LiabilityError::RefundOutOfRange { refund, gross });
    }
    let total: i128 = shares.iter().map(|s| i128::from(s.cents())).sum();
    if total > i128::from(gross.cents()) || shares.iter().any(|s| s.cents() < 0) {
        return Err(LiabilityError::SharesExceedGross {
            total: Money::from_cents(i64::try_from(total).unwrap_or(i64::MAX)),
            gross,
        });
    }
    // i128: an i64 times an i64 fits; the quotient is at most the share (refund ≤ gross), so
    // it fits back in i64, and integer division of non-negative numbers is the floor.
    let splits: Vec<Money> = shares
        .iter()
        .map(|share| {
            let cents =
                i128::from(refund.cents()) * i128::from(share.cents()) / i128::from(gross.cents());
            Money::from_cents(i64::try_from(cents).unwrap_or(share.cents()))
        })
        .collect();
    let borne: i64 = splits.iter().map(|m| m.cents()).sum();
    Ok(ProportionalParts {
        account: Money::from_cents(refund.cents() - borne),
        splits,
    })
}

/// A recipient's new debt from one refund: the parts of its splits already paid (or in a
/// payout), which the account fronts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebtIncrease {
    pub recipient_id: RecipientId,
    pub recipient: PayoutRecipient,
    pub amount: Money,
    /// The refund and charge it comes from (the part it adds to the recipient's queue).
    pub refund_id: RefundId,
    pub transaction_id: TransactionId,
}

impl DebtIncrease {
    /// The part this increase adds to the back of the recipient's debt queue.
    pub fn part(&self) -> DebtPart {
        DebtPart {
            refund_id: self.refund_id.clone(),
            transaction_id: self.transaction_id.clone(),
            amount: self.amount,
        }
    }
}

/// How a split bore its part of a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SplitPartKind {
    /// Not paid yet: the split was reduced (or cancelled).
    Reduced,
    /// Paid or in a payout: its recipient owes it.
    Debt,
}

impl SplitPartKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SplitPartKind::Reduced => "REDUCED",
            SplitPartKind::Debt => "DEBT",
        }
    }

    pub fn parse(s: &str) -> Option<SplitPartKind> {
        [SplitPartKind::Reduced, SplitPartKind::Debt]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// The part split `index` of the charge bore of one refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitPart {
    pub index: u8,
    pub amount: Money,
    pub kind: SplitPartKind,
}

/// Where the money of one refund of a booked charge comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundFunding {
    /// Splits reduced by their part, or cancelled: their new versions (each was SCHEDULED in
    /// no payout when read).
    pub reduced: Vec<SplitEntry>,
    /// Σ of what the reduced splits give up: leaves `reservedForSplits`.
    pub from_reserve: Money,
    /// What `available` pays (the account's part, failed splits' parts, and the fronted
    /// debts); negative when the cancelled reserve exceeds the refund and the excess returns.
    pub from_available: i64,
    /// New recipient debts, by recipient (ascending id).
    pub debts: Vec<DebtIncrease>,
    /// What each split bore, by index (splits that bore nothing are left out).
    pub parts: Vec<SplitPart>,
}

impl RefundFunding {
    /// Σ of the new debts: what the account fronts.
    pub fn fronted(&self) -> Money {
        Money::from_cents(self.debts.iter().map(|d| d.amount.cents()).sum())
    }
}

/// What one refund of a booked charge is.
#[derive(Debug, Clone)]
pub struct RefundTerms {
    pub refund_id: RefundId,
    pub gross: Money,
    pub refund: Money,
    pub liability: RefundLiability,
    /// The refund takes everything still refundable (the charge will be fully refunded).
    pub takes_rest: bool,
    pub now: DateTime<Utc>,
}

/// Plans one refund of a charge whose splits `entries` are booked (all of them, in index
/// order, as just read): the rule in the module docs.
pub fn plan_funding(
    terms: RefundTerms,
    entries: &[SplitEntry],
) -> Result<RefundFunding, LiabilityError> {
    let shares: Vec<Money> = entries.iter().map(|e| e.split.amount).collect();
    let parts = match terms.liability {
        RefundLiability::Merchant => vec![Money::ZERO; entries.len()],
        RefundLiability::Proportional => {
            proportional_parts(terms.refund, terms.gross, &shares)?.splits
        }
    };
    let mut reduced = Vec::new();
    let mut from_reserve = 0_i64;
    let mut borne_by_splits = 0_i64;
    let mut debts: BTreeMap<RecipientId, DebtIncrease> = BTreeMap::new();
    let mut split_parts = Vec::new();
    for (entry, part) in entries.iter().zip(parts) {
        let payable = entry.payable().cents();
        if payable < 0 {
            return Err(LiabilityError::SplitMismatch { index: entry.index });
        }
        match entry.state {
            SplitState::Scheduled if entry.payout_id.is_none() => {
                // The last refund cancels what is left; otherwise the split gives up its part.
                let give_up = if terms.takes_rest {
                    payable
                } else {
                    part.cents()
                };
                if give_up > payable {
                    return Err(LiabilityError::SplitMismatch { index: entry.index });
                }
                if give_up > 0 {
                    reduced.push(reduce(entry, give_up, terms.now));
                    from_reserve += give_up;
                    borne_by_splits += give_up;
                    split_parts.push(SplitPart {
                        index: entry.index,
                        amount: Money::from_cents(give_up),
                        kind: SplitPartKind::Reduced,
                    });
                }
            }
            SplitState::Scheduled | SplitState::Processing | SplitState::Paid
                if part.cents() > 0 =>
            {
                let recipient = entry.recipient();
                let id = RecipientId::derive(&entry.account_id, recipient.grouping_key());
                let debt = debts.entry(id.clone()).or_insert(DebtIncrease {
                    recipient_id: id,
                    recipient,
                    amount: Money::ZERO,
                    refund_id: terms.refund_id.clone(),
                    transaction_id: entry.transaction_id.clone(),
                });
                debt.amount = Money::from_cents(debt.amount.cents() + part.cents());
                split_parts.push(SplitPart {
                    index: entry.index,
                    amount: part,
                    kind: SplitPartKind::Debt,
                });
            }
            // Failed or cancelled: the money is the account's again, so the account bears it.
            _ => {}
        }
    }
    Ok(RefundFunding {
        reduced,
        from_reserve: Money::from_cents(from_reserve),
        from_available: terms.refund.cents() - borne_by_splits,
        debts: debts.into_values().collect(),
        parts: split_parts,
    })
}

/// `entry` having given up `cents` more of its share; CANCELLED when nothing is left.
fn reduce(entry: &SplitEntry, cents: i64, now: DateTime<Utc>) -> SplitEntry {
    let refunded = Money::from_cents(entry.refunded.cents() + cents);
    let state = if refunded == entry.split.amount {
        SplitState::Cancelled
    } else {
        SplitState::Scheduled
    };
    SplitEntry {
        refunded,
        state,
        updated_at: now,
        ..entry.clone()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::charge::ChargeSplit;
    use crate::payout::PayoutId;
    use crate::pix::document::TaxDocument;
    use crate::pix::ids::AccountId;
    use crate::pix::pix_key::PixKeyType;
    use crate::split::{SplitRule, SplitValue};

    fn brl(cents: i64) -> Money {
        Money::from_cents(cents)
    }

    fn now() -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_767_000_000_000).unwrap()
    }

    /// Booked entries of shares `shares` (recipient i has key `r{i}@example.com`).
    fn entries(shares: &[i64], states: &[SplitState]) -> Vec<SplitEntry> {
        let account = AccountId::generate();
        let transaction = TransactionId::generate();
        shares
            .iter()
            .zip(states)
            .enumerate()
            .map(|(i, (cents, state))| {
                let index = u8::try_from(i).unwrap();
                let in_payout = matches!(state, SplitState::Processing | SplitState::Paid);
                SplitEntry {
                    transaction_id: transaction.clone(),
                    account_id: account.clone(),
                    index,
                    split: ChargeSplit {
                        rule: SplitRule {
                            pix_key: format!("r{i}@example.com").into(),
                            pix_key_type: PixKeyType::Email,
                            name: "Recipient".into(),
                            document: TaxDocument::parse("98765432100").unwrap(),
                            value: SplitValue::Fixed(brl(*cents)),
                            immediate: false,
                        },
                        amount: brl(*cents),
                    },
                    state: *state,
                    payout_id: in_payout
                        .then(|| PayoutId::for_immediate_split(&transaction, index)),
                    end_to_end_id: None,
                    failure_reason: None,
                    attempts: 0,
                    refunded: Money::ZERO,
                    created_at: now(),
                    updated_at: now(),
                }
            })
            .collect()
    }

    fn terms(gross: i64, refund: i64, liability: RefundLiability, rest: bool) -> RefundTerms {
        RefundTerms {
            refund_id: RefundId::generate(),
            gross: brl(gross),
            refund: brl(refund),
            liability,
            takes_rest: rest,
            now: now(),
        }
    }

    #[test]
    fn the_issue_marketplace_example() {
        // R$ 200: 70 % / 20 % / R$ 10 fixed, all SCHEDULED; refund R$ 50 proportionally.
        let parts = proportional_parts(
            brl(5_000),
            brl(20_000),
            &[brl(14_000), brl(4_000), brl(1_000)],
        )
        .unwrap();
        assert_eq!(parts.splits, vec![brl(3_500), brl(1_000), brl(250)]);
        assert_eq!(parts.account, brl(250));
        let scheduled = [SplitState::Scheduled; 3];
        let booked = entries(&[14_000, 4_000, 1_000], &scheduled);
        let funding = plan_funding(
            terms(20_000, 5_000, RefundLiability::Proportional, false),
            &booked,
        )
        .unwrap();
        let payable: Vec<i64> = funding
            .reduced
            .iter()
            .map(|e| e.payable().cents())
            .collect();
        assert_eq!(payable, vec![10_500, 3_000, 750]);
        assert_eq!(funding.from_reserve, brl(4_750));
        assert_eq!(funding.from_available, 250);
        assert!(funding.debts.is_empty());

        // The rest (150.00) under MERCHANT: every split not paid is cancelled; the reserve
        // pays 142.50 and `available` the 7.50 the account kept.
        let reduced: Vec<SplitEntry> = funding.reduced.clone();
        let rest = plan_funding(
            terms(20_000, 15_000, RefundLiability::Merchant, true),
            &reduced,
        )
        .unwrap();
        assert!(
            rest.reduced
                .iter()
                .all(|e| e.state == SplitState::Cancelled)
        );
        assert_eq!(rest.from_reserve, brl(14_250));
        assert_eq!(rest.from_available, 750);
    }

    #[test]
    fn the_issue_immediate_split_example() {
        // R$ 350, 80 % immediate and paid: a R$ 100 proportional refund makes the recipient
        // owe 80.00, fronted (with the account's 20.00) from `available`.
        let booked = entries(&[28_000], &[SplitState::Paid]);
        let funding = plan_funding(
            terms(35_000, 10_000, RefundLiability::Proportional, false),
            &booked,
        )
        .unwrap();
        assert!(funding.reduced.is_empty());
        assert_eq!(funding.from_available, 10_000);
        assert_eq!(funding.fronted(), brl(8_000));
        assert_eq!(funding.debts.len(), 1);
        assert_eq!(
            funding.parts,
            vec![SplitPart {
                index: 0,
                amount: brl(8_000),
                kind: SplitPartKind::Debt
            }]
        );
    }

    #[test]
    fn merchant_refunds_leave_splits_alone_until_the_last() {
        let booked = entries(&[6_000, 1_000], &[SplitState::Scheduled, SplitState::Paid]);
        let part = plan_funding(
            terms(10_000, 9_000, RefundLiability::Merchant, false),
            &booked,
        )
        .unwrap();
        assert!(part.reduced.is_empty() && part.debts.is_empty() && part.parts.is_empty());
        assert_eq!(part.from_available, 9_000);
        // The last 10.00: the unpaid split's whole 60.00 reserve is cancelled, 10.00 of it to
        // the payer and 50.00 back to `available`; the paid split keeps its money.
        let last = plan_funding(
            terms(10_000, 1_000, RefundLiability::Merchant, true),
            &booked,
        )
        .unwrap();
        assert_eq!(last.from_reserve, brl(6_000));
        assert_eq!(last.from_available, -5_000);
        assert!(last.debts.is_empty());
    }

    #[test]
    fn failed_splits_are_borne_by_the_account() {
        let booked = entries(&[5_000], &[SplitState::Failed]);
        let funding = plan_funding(
            terms(10_000, 10_000, RefundLiability::Proportional, true),
            &booked,
        )
        .unwrap();
        assert!(funding.reduced.is_empty() && funding.debts.is_empty());
        assert_eq!(funding.from_available, 10_000);
    }

    #[test]
    fn out_of_contract_input_is_refused() {
        assert!(proportional_parts(brl(0), brl(100), &[]).is_err());
        assert!(proportional_parts(brl(101), brl(100), &[]).is_err());
        assert!(proportional_parts(brl(10), brl(100), &[brl(60), brl(41)]).is_err());
    }

    fn state() -> impl Strategy<Value = SplitState> {
        prop_oneof![
            3 => Just(SplitState::Scheduled),
            1 => Just(SplitState::Processing),
            1 => Just(SplitState::Paid),
            1 => Just(SplitState::Failed),
        ]
    }

    /// A gross, up to 10 shares that fit in it, their states, and a sequence of refund
    /// amounts (as fractions of what is left) with their liabilities.
    /// (gross, shares, their states, refunds as (per mille of what is left, proportional)).
    type History = (i64, Vec<i64>, Vec<SplitState>, Vec<(u16, bool)>);

    fn history() -> impl Strategy<Value = History> {
        (1_i64..=5_000_000, 0_usize..=10).prop_flat_map(|(gross, n)| {
            (
                Just(gross),
                prop::collection::vec(0_i64..=gross, n).prop_map(move |raw| {
                    // Scale the shares down until they fit in the gross.
                    let total: i64 = raw.iter().sum();
                    if total <= gross {
                        raw
                    } else {
                        raw.iter()
                            .map(|s| {
                                (i128::from(*s) * i128::from(gross) / i128::from(total)) as i64
                            })
                            .collect()
                    }
                }),
                prop::collection::vec(state(), n),
                prop::collection::vec((1_u16..=1_000, any::<bool>()), 1..8),
            )
        })
    }

    proptest! {
        /// Σ parts = refund, no part below 0; no split ever bears more than its share; the
        /// refunds never exceed the gross; under PROPORTIONAL the account bears at most its
        /// proportional part plus one cent per split (the dust); a full refund leaves no split
        /// unpaid.
        #[test]
        fn liability_is_exact((gross, shares, states, refunds) in history()) {
            let mut booked = entries(&shares, &states);
            let mut refunded = 0_i64;
            let mut borne = vec![0_i64; shares.len()];
            for (per_mille, proportional) in refunds {
                let left = gross - refunded;
                if left == 0 {
                    break;
                }
                let amount = (left * i64::from(per_mille) / 1_000).max(1);
                let liability = if proportional {
                    RefundLiability::Proportional
                } else {
                    RefundLiability::Merchant
                };
                let rest = amount == left;
                let funding = plan_funding(terms(gross, amount, liability, rest), &booked).unwrap();
                // Σ parts = refund.
                let splits_part: i64 = funding.parts.iter().map(|p| p.amount.cents()).sum();
                prop_assert_eq!(funding.from_reserve.cents() + funding.from_available, amount);
                prop_assert_eq!(
                    funding.from_available - funding.fronted().cents() + splits_part,
                    amount
                );
                prop_assert!(funding.parts.iter().all(|p| p.amount.cents() > 0));
                if !rest {
                    prop_assert!(funding.from_available >= 0, "only the last refund returns money");
                }
                for part in &funding.parts {
                    borne[usize::from(part.index)] += part.amount.cents();
                }
                let account_part = amount - splits_part;
                if proportional && !rest {
                    // At most its proportional part (its remainder, and the shares of failed
                    // splits, whose money came back to it) plus one cent per split (the dust).
                    let failed: i64 = booked
                        .iter()
                        .filter(|e| e.state == SplitState::Failed)
                        .map(|e| e.split.amount.cents())
                        .sum();
                    let remainder = gross - shares.iter().sum::<i64>() + failed;
                    let splits = i128::try_from(shares.len()).unwrap();
                    prop_assert!(
                        i128::from(account_part) * i128::from(gross)
                            <= i128::from(amount) * i128::from(remainder) + splits * i128::from(gross),
                        "account bore {} of {}", account_part, amount
                    );
                }
                for reduced in funding.reduced {
                    let i = usize::from(reduced.index);
                    prop_assert!(reduced.payable().cents() >= 0);
                    booked[i] = reduced;
                }
                refunded += amount;
                prop_assert!(refunded <= gross);
            }
            for (i, share) in shares.iter().enumerate() {
                prop_assert!(borne[i] <= *share, "split {} bore {} of {}", i, borne[i], share);
            }
            if refunded == gross {
                prop_assert!(booked
                    .iter()
                    .all(|e| e.state != SplitState::Scheduled || e.payable().cents() == 0));
            }
        }

        /// A single proportional refund: each split's part is ⌊R·s/G⌋ and the account's part is
        /// never negative and below one cent per split more than its proportional part.
        #[test]
        fn proportional_parts_round_down((gross, shares, _states, _r) in history(), per_mille in 1_i64..=1_000) {
            let refund = (gross * per_mille / 1_000).max(1);
            let parts = proportional_parts(brl(refund), brl(gross), &shares.iter().map(|s| brl(*s)).collect::<Vec<_>>()).unwrap();
            let mut sum = 0;
            for (part, share) in parts.splits.iter().zip(&shares) {
                let exact = i128::from(refund) * i128::from(*share);
                prop_assert!(i128::from(part.cents()) * i128::from(gross) <= exact);
                prop_assert!(i128::from(part.cents() + 1) * i128::from(gross) > exact);
                sum += part.cents();
            }
            prop_assert_eq!(sum + parts.account.cents(), refund);
            prop_assert!(parts.account.cents() >= 0);
        }
    }
}
