//! What a dispute write must be for its items to mean what its port says — checked by both
//! storage adapters before anything is written (see [`crate::refund::checks`]): the flows build
//! every write so, and one that is not is refused the same way by both.

use std::collections::BTreeSet;

use crate::charge::Charge;
use crate::dispute::ports::{DecideDispute, OpenDispute, OwedRepayment};
use crate::dispute::{Dispute, DisputeState};
use crate::ledger::{Bucket, LedgerAccount, Movement};
use crate::pix::ids::AccountId;
use crate::refund::checks::{check_debts, check_reduced};
use crate::split::ports::BookSplits;

impl OpenDispute {
    /// The dispute and its claim on the charge; the reduced splits the charge's own, each
    /// once; a movement of the charge's account that creates no recipient debt (only a lost
    /// dispute does).
    pub fn check(&self) -> Result<(), String> {
        check_claim(&self.dispute, &self.charge)?;
        check_reduced(&self.charge, &self.reduced)?;
        check_debts(&self.charge, &[], &self.movement, |_| false)
    }
}

impl DecideDispute {
    /// The dispute decided, at a higher version, its claim on the charge; won, it restores
    /// splits and indebts nobody; lost, it restores nothing and its debts (of its devolução)
    /// are what the movement books.
    pub fn check(&self) -> Result<(), String> {
        let dispute = &self.dispute;
        check_claim(dispute, &self.charge)?;
        check_bump(dispute, self.from_version)?;
        check_reduced(&self.charge, &self.restored)?;
        match dispute.state {
            DisputeState::Won if !self.debts.is_empty() => {
                return Err(format!("won dispute {} indebts recipients", dispute.id));
            }
            DisputeState::Lost if !self.restored.is_empty() => {
                return Err(format!("lost dispute {} restores splits", dispute.id));
            }
            DisputeState::Won | DisputeState::Lost => {}
            DisputeState::Open | DisputeState::Defended => {
                return Err(format!("dispute {} is not decided", dispute.id));
            }
        }
        let devolution = dispute.devolution_id();
        check_debts(&self.charge, &self.debts, &self.movement, |refund| {
            refund == &devolution
        })
    }
}

/// What the repayments of a booking must be: each of a dispute of the booking's account, at a
/// higher version, paying something and leaving it owing nothing below 0, each dispute once (a
/// transaction names an item once); and together exactly what the movement's `owed` leg pays
/// (the dispute items and the ledger must tell the same story).
pub fn check_repayments(write: &BookSplits) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    let mut paid = 0_i64;
    for OwedRepayment {
        dispute,
        from_version,
        paid: part,
    } in &write.repayments
    {
        if dispute.account_id != write.account_id {
            return Err(format!("dispute {} is of another account", dispute.id));
        }
        if !seen.insert(&dispute.id) {
            return Err(format!("dispute {} repaid twice", dispute.id));
        }
        if *part <= 0 || dispute.still_owed < 0 {
            return Err(format!("dispute {} repaid {part}", dispute.id));
        }
        check_bump(dispute, *from_version)?;
        paid += part;
    }
    let owed_leg = owed_leg(&write.movement, &write.account_id);
    if owed_leg != paid {
        return Err(format!(
            "movement {} pays {owed_leg} of what is owed, the disputes {paid}",
            write.movement.id
        ));
    }
    Ok(())
}

/// A defence (or any replacement of a dispute) writes a higher version than the one it
/// requires: a write that kept it would let a second write planned from the same read apply
/// too.
pub fn check_bump(dispute: &Dispute, from_version: u32) -> Result<(), String> {
    if dispute.version > from_version {
        Ok(())
    } else {
        Err(format!(
            "dispute {} written at version {} from {from_version}",
            dispute.id, dispute.version
        ))
    }
}

/// The dispute is of the charge, and the charge carries its claim as it now stands (the
/// charge's item is what keeps Σ refunds + disputes ≤ amount).
fn check_claim(dispute: &Dispute, charge: &Charge) -> Result<(), String> {
    if dispute.transaction_id != charge.transaction_id || dispute.account_id != charge.account_id {
        return Err(format!("dispute {} is not of the charge", dispute.id));
    }
    if charge.dispute(&dispute.id) != Some(&dispute.claim()) {
        return Err(format!(
            "the charge does not carry dispute {}'s claim",
            dispute.id
        ));
    }
    Ok(())
}

/// The net of the movement's `owed` legs of `account`.
fn owed_leg(movement: &Movement, account: &AccountId) -> i64 {
    movement
        .legs
        .iter()
        .filter(|leg| leg.account == LedgerAccount::Merchant(account.clone(), Bucket::Owed))
        .map(|leg| leg.amount.cents())
        .sum()
}
