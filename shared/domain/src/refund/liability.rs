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
use crate::pix::ids::RecipientId;
use crate::pix::money::Money;
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
#[derive(Debug, Clone, Copy)]
pub struct RefundTerms {
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
