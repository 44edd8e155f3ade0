//! Split recipients: who a payout pays (PIX key type + key + document, within an account),
//! and what each owes the account — its **debt**: the parts of refunds its splits bore after
//! they were paid, which the account fronted (see [`crate::refund::liability`]).
//!
//! A debt is a queue of [`DebtPart`]s, oldest first, each naming the refund that created it.
//! It grows only by a refund and is recovered only by the recipient's payouts: before a
//! payout's transfer, the executor takes `min(debt, payout)` off the front of the queue into
//! the payout's deductions (they are then `recovering`); the payout transfers the rest; PAID,
//! the recovered money returns to the account's `available` in the payout's own write; FAILED,
//! the parts go back to the front of the queue. So a debt is never recovered twice, never
//! goes negative, and what a payout deducts is always traceable to its refunds.
//!
//! A recipient is let off what it owes for nothing ([`DebtForgiveness`], parts still queued
//! only): when the refund is refused ([`crate::flows::refund::refund_failure`]), and when the
//! split that bore the part fails for good, never received
//! ([`crate::flows::write_off_debts`]).
//!
//! Beside its debt, a recipient keeps running totals — `scheduled` (booked, not paid yet:
//! always Σ of its splits' [`payable`](crate::split::entry::SplitEntry::payable) that are
//! SCHEDULED or PROCESSING) and `paid` (transferred to it) — changed by [`RecipientTotals`]
//! in the same write as the change they count, so reading them never sums splits.

pub mod ports;
pub mod record;

use crate::payout::PayoutRecipient;
use crate::pix::ids::{AccountId, RecipientId, RefundId, TransactionId};
use crate::pix::money::Money;

/// Part of a recipient's debt: what one refund of one charge made it owe (or what is left of
/// it), or — in a payout's deductions — what that payout recovers of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebtPart {
    pub refund_id: RefundId,
    pub transaction_id: TransactionId,
    pub amount: Money,
}

/// A split recipient of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub id: RecipientId,
    pub account_id: AccountId,
    pub recipient: PayoutRecipient,
    /// What it owes the account and no payout is recovering yet: Σ `open_debts`.
    pub debt: Money,
    /// Its debt parts not recovered yet, oldest first.
    pub open_debts: Vec<DebtPart>,
    /// Taken into payouts' deductions whose transfers have not settled.
    pub recovering: Money,
    /// Bumped by every change of its debt queue; taking debt into a payout requires the
    /// version it read.
    pub version: u64,
    /// Booked and not paid yet.
    pub scheduled: Money,
    /// Transferred to it by PIX.
    pub paid: Money,
}

/// A change of a recipient's running totals, in centavos, applied by adding (it commutes with
/// every other change of the item) in the write that causes it; the recipient is created by
/// its first change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientTotals {
    pub recipient_id: RecipientId,
    pub recipient: PayoutRecipient,
    pub scheduled: i64,
    pub paid: i64,
}

impl RecipientTotals {
    /// The change of `recipient` of `account`.
    pub fn of(account: &AccountId, recipient: PayoutRecipient, scheduled: i64, paid: i64) -> Self {
        RecipientTotals {
            recipient_id: RecipientId::derive(account, recipient.grouping_key()),
            recipient,
            scheduled,
            paid,
        }
    }

    /// Changes of `scheduled` by split, summed per recipient (ascending id); recipients
    /// whose change sums to nothing are left out.
    pub fn scheduled_by_split<'a>(
        account: &AccountId,
        changes: impl IntoIterator<Item = (&'a crate::split::entry::SplitEntry, i64)>,
    ) -> Vec<RecipientTotals> {
        let mut by_id: std::collections::BTreeMap<RecipientId, RecipientTotals> =
            std::collections::BTreeMap::new();
        for (entry, cents) in changes {
            let change = RecipientTotals::of(account, entry.recipient(), 0, 0);
            by_id
                .entry(change.recipient_id.clone())
                .or_insert(change)
                .scheduled += cents;
        }
        by_id.into_values().filter(|t| t.scheduled != 0).collect()
    }
}

impl Recipient {
    /// Lets the recipient off what `claims` name of its queued parts (a claim's parts from
    /// the back of the queue first: the newest of them are the least likely to be taken by a
    /// payout being decided meanwhile — any such race fails on the version anyway). `None`
    /// when nothing of them is queued.
    pub fn forgive(&self, claims: &[ForgivenClaim]) -> Option<DebtForgiveness> {
        let mut open = self.open_debts.clone();
        let mut forgiven = 0_i64;
        for claim in claims {
            let mut left = claim.up_to.cents().max(0);
            for part in open.iter_mut().rev() {
                if left == 0 {
                    break;
                }
                if part.refund_id != claim.refund_id || part.transaction_id != claim.transaction_id
                {
                    continue;
                }
                let take = part.amount.cents().min(left);
                part.amount = Money::from_cents(part.amount.cents() - take);
                left -= take;
                forgiven += take;
            }
        }
        open.retain(|p| p.amount.cents() > 0);
        (forgiven > 0).then(|| DebtForgiveness {
            recipient_id: self.id.clone(),
            recipient: self.recipient.clone(),
            version_read: self.version,
            debt: Money::from_cents(self.debt.cents() - forgiven),
            open_debts: open,
            forgiven: Money::from_cents(forgiven),
        })
    }

    /// Takes up to `up_to` of the debt off the front of the queue: the parts taken (the last
    /// one split if only part of it fits) and the recipient afterwards (version bumped).
    pub fn take(&self, up_to: Money) -> (Vec<DebtPart>, Recipient) {
        let mut left = up_to.cents().min(self.debt.cents()).max(0);
        let mut taken = Vec::new();
        let mut open = Vec::with_capacity(self.open_debts.len());
        for part in &self.open_debts {
            if left == 0 {
                open.push(part.clone());
                continue;
            }
            let take = part.amount.cents().min(left);
            left -= take;
            taken.push(DebtPart {
                amount: Money::from_cents(take),
                ..part.clone()
            });
            if take < part.amount.cents() {
                open.push(DebtPart {
                    amount: Money::from_cents(part.amount.cents() - take),
                    ..part.clone()
                });
            }
        }
        let total: i64 = taken.iter().map(|p| p.amount.cents()).sum();
        let after = Recipient {
            debt: Money::from_cents(self.debt.cents() - total),
            open_debts: open,
            recovering: Money::from_cents(self.recovering.cents() + total),
            version: self.version + 1,
            ..self.clone()
        };
        (taken, after)
    }
}

/// Debt parts a recipient is let off: parts of a refund that was refused (the account fronted
/// nothing in the end), or of a split that was never paid. Only what is still queued can be
/// forgiven: a part a payout took is that payout's to settle.
///
/// Conditions: the recipient is stored at `version_read`. Effects: its queue and `debt` become
/// `open_debts` and `debt`, its version `version_read + 1`; nothing else of it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebtForgiveness {
    pub recipient_id: RecipientId,
    pub recipient: PayoutRecipient,
    pub version_read: u64,
    pub open_debts: Vec<DebtPart>,
    pub debt: Money,
    /// Σ of what was let off: > 0.
    pub forgiven: Money,
}

/// One claim of a forgiveness: up to `up_to` of the queued parts of `refund_id` of charge
/// `transaction_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgivenClaim {
    pub refund_id: RefundId,
    pub transaction_id: TransactionId,
    pub up_to: Money,
}

/// Σ of some debt parts.
pub fn total(parts: &[DebtPart]) -> Money {
    Money::from_cents(parts.iter().map(|p| p.amount.cents()).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pix::document::TaxDocument;
    use crate::pix::pix_key::PixKeyType;

    fn part(cents: i64) -> DebtPart {
        DebtPart {
            refund_id: RefundId::generate(),
            transaction_id: TransactionId::generate(),
            amount: Money::from_cents(cents),
        }
    }

    fn owing(parts: Vec<DebtPart>) -> Recipient {
        let account = AccountId::generate();
        let recipient = PayoutRecipient {
            pix_key: "r@example.com".into(),
            pix_key_type: PixKeyType::Email,
            name: "R".into(),
            document: TaxDocument::parse("98765432100").unwrap(),
        };
        Recipient {
            id: RecipientId::derive(&account, recipient.grouping_key()),
            account_id: account,
            recipient,
            debt: total(&parts),
            open_debts: parts,
            recovering: Money::ZERO,
            version: 3,
            scheduled: Money::ZERO,
            paid: Money::ZERO,
        }
    }

    #[test]
    fn takes_oldest_first_splitting_the_last() {
        let r = owing(vec![part(3_000), part(5_000)]);
        let (taken, after) = r.take(Money::from_cents(4_000));
        assert_eq!(
            taken.iter().map(|p| p.amount.cents()).collect::<Vec<_>>(),
            vec![3_000, 1_000]
        );
        assert_eq!(taken[0].refund_id, r.open_debts[0].refund_id);
        assert_eq!(after.open_debts.len(), 1);
        assert_eq!(after.open_debts[0].amount, Money::from_cents(4_000));
        assert_eq!(after.open_debts[0].refund_id, r.open_debts[1].refund_id);
        assert_eq!(
            (after.debt.cents(), after.recovering.cents(), after.version),
            (4_000, 4_000, 4)
        );
    }

    #[test]
    fn forgives_only_the_claimed_parts_still_queued() {
        let r = owing(vec![part(3_000), part(5_000), part(700)]);
        let claim = |p: &DebtPart, cents| ForgivenClaim {
            refund_id: p.refund_id.clone(),
            transaction_id: p.transaction_id.clone(),
            up_to: Money::from_cents(cents),
        };
        let f = r
            .forgive(&[claim(&r.open_debts[1], 9_999), claim(&r.open_debts[2], 200)])
            .unwrap();
        assert_eq!(f.forgiven, Money::from_cents(5_200));
        assert_eq!(f.debt, Money::from_cents(3_500));
        assert_eq!(f.version_read, 3);
        assert_eq!(
            f.open_debts
                .iter()
                .map(|p| p.amount.cents())
                .collect::<Vec<_>>(),
            vec![3_000, 500]
        );
        assert_eq!(total(&f.open_debts), f.debt);
        let other = part(100);
        assert_eq!(r.forgive(&[claim(&other, 100)]), None);
    }

    #[test]
    fn never_takes_more_than_owed() {
        let r = owing(vec![part(800)]);
        let (taken, after) = r.take(Money::from_cents(10_000));
        assert_eq!(total(&taken), Money::from_cents(800));
        assert_eq!((after.debt, after.open_debts.len()), (Money::ZERO, 0));
        let (none, _) = after.take(Money::from_cents(10_000));
        assert!(none.is_empty());
    }
}
