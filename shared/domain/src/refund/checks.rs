//! What a refund-like write must be for its items to mean what its port says — checked by
//! both storage adapters before anything is written, so a write the flows never build (a
//! programming error) is refused the same way everywhere: `Err(why)`, which the adapters turn
//! into `StoreError::Unavailable("refusing to write: …")`.

use std::collections::{BTreeMap, BTreeSet};

use crate::charge::Charge;
use crate::ledger::{Bucket, LedgerAccount, Movement};
use crate::pix::ids::{RecipientId, RefundId};
use crate::refund::liability::DebtIncrease;
use crate::refund::ports::{ReducedSplit, RequestRefund};

impl RequestRefund {
    /// The reduced splits are the charge's own, each once ([`check_reduced`]); the debts and
    /// the movement agree ([`check_debts`]), each debt of one of the charge's refunds.
    pub fn check(&self) -> Result<(), String> {
        let charge = &self.charge;
        check_reduced(charge, &self.reduced)?;
        check_debts(charge, &self.debts, &self.movement, |refund| {
            charge.refunds.iter().any(|r| &r.id == refund)
        })
    }
}

/// The reduced (or restored) splits are the charge's own, each once: a transaction may name
/// an item only once, and a split of another charge would be reduced for nothing.
pub fn check_reduced(charge: &Charge, reduced: &[ReducedSplit]) -> Result<(), String> {
    let mut indexes = BTreeSet::new();
    for reduced in reduced {
        let entry = &reduced.entry;
        if entry.transaction_id != charge.transaction_id || entry.account_id != charge.account_id {
            return Err(format!("split {} is not of the charge", entry.index));
        }
        if !indexes.insert(entry.index) {
            return Err(format!("split {} reduced twice", entry.index));
        }
    }
    Ok(())
}

/// The debts a write of `charge` gives its recipients and its movement tell the same story:
/// each debt is positive, once per recipient, under the id its recipient derives to, of this
/// charge and of a devolução `is_its_refund` accepts (a payout's deductions show it, and a
/// restore puts it back as it is); the movement is the charge's account's, and its recipient
/// legs are exactly minus the debts, its `recipientDebts` leg their Σ. No debts: no recipient
/// leg and nothing in `recipientDebts`.
pub fn check_debts(
    charge: &Charge,
    debts: &[DebtIncrease],
    movement: &Movement,
    is_its_refund: impl Fn(&RefundId) -> bool,
) -> Result<(), String> {
    let mut by_recipient: BTreeMap<&RecipientId, i64> = BTreeMap::new();
    for debt in debts {
        let derived = RecipientId::derive(&charge.account_id, debt.recipient.grouping_key());
        if debt.amount.cents() <= 0 || derived != debt.recipient_id {
            return Err(format!("debt of {} is not a debt", debt.recipient_id));
        }
        if debt.transaction_id != charge.transaction_id || !is_its_refund(&debt.refund_id) {
            return Err(format!(
                "debt of {} is of another refund",
                debt.recipient_id
            ));
        }
        if by_recipient
            .insert(&debt.recipient_id, debt.amount.cents())
            .is_some()
        {
            return Err(format!("debt of {} given twice", debt.recipient_id));
        }
    }
    let mut legs: BTreeMap<&RecipientId, i64> = BTreeMap::new();
    let mut fronted = 0_i64;
    for leg in &movement.legs {
        match &leg.account {
            LedgerAccount::Recipient(account, id) if account == &charge.account_id => {
                *legs.entry(id).or_default() -= leg.amount.cents();
            }
            LedgerAccount::Recipient(..) => return Err("a leg of another account".into()),
            LedgerAccount::Merchant(_, Bucket::RecipientDebts) => fronted += leg.amount.cents(),
            _ => {}
        }
    }
    let owed: i64 = by_recipient.values().sum();
    if movement.account_id != charge.account_id || legs != by_recipient || fronted != owed {
        return Err(format!("movement {} does not book the debts", movement.id));
    }
    Ok(())
}
