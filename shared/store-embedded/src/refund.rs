//! [`RefundStore`] on redb: a refund request is ONE money-out write (see
//! [`crate::ledger_write`]): the charge, still CONFIRMED, replaced by its refunding version;
//! its splits either not booked (the booking movement does not exist, and the split calculator
//! cannot book them any more once the charge leaves CONFIRMED) or, booked, every one to cancel
//! still SCHEDULED outside any payout; then the movement, the outbox messages and the
//! idempotency completion.

use std::collections::BTreeSet;

use async_trait::async_trait;
use redb::WriteTransaction;

use pixgw_domain::charge::ChargeStatus;
use pixgw_domain::charge::record::ChargeRecord;
use pixgw_domain::error::StoreError;
use pixgw_domain::ledger::MovementKind;
use pixgw_domain::ledger::ports::MoneyOutOutcome;
use pixgw_domain::refund::ports::{RefundSplits, RefundStore, RequestRefund};
use pixgw_domain::split::entry::SplitState;
use pixgw_domain::split::record::SplitEntryRecord;

use crate::EmbeddedStore;
use crate::charge::{load_charge, put_charge};
use crate::ledger::{movement_exists, put_movement};
use crate::ledger_write::{
    Claim, check_draw_matches, claim_of, complete, draw_holds, money_out_write,
};
use crate::outbox::put_outbox;
use crate::split::{load_split, put_split, split_key};

fn request_refund_in(
    txn: &WriteTransaction,
    write: &RequestRefund,
) -> Result<MoneyOutOutcome, StoreError> {
    check_draw_matches(&write.movement, &write.draw)?;
    let claim = claim_of(txn, write.completion.as_ref())?;
    if matches!(claim, Claim::Lost) {
        return Ok(MoneyOutOutcome::ClaimLost);
    }
    let id = write.charge.transaction_id.as_str();
    let stored = load_charge(txn, id)?.filter(|c| c.status == ChargeStatus::Confirmed.as_str());
    let Some(stored) = stored else {
        return Ok(MoneyOutOutcome::Conflict);
    };
    // The splits: not booked (and the split calculator cannot book them any more once the
    // charge leaves CONFIRMED), or every one to cancel still SCHEDULED outside any payout.
    let mut cancellations = Vec::new();
    match &write.splits {
        RefundSplits::NotBooked => {
            if movement_exists(txn, &MovementKind::SplitsBooked.movement_id(id))? {
                return Ok(MoneyOutOutcome::Conflict);
            }
        }
        RefundSplits::Booked { cancelled } => {
            let mut seen = BTreeSet::new();
            for split in cancelled {
                let record = SplitEntryRecord::from(split);
                let key = split_key(&record);
                if record.transaction_id != id || !seen.insert(key.clone()) {
                    return Ok(MoneyOutOutcome::Conflict);
                }
                let stored_split = load_split(txn, &key)?
                    .filter(|s| s.state == SplitState::Scheduled.as_str() && s.payout_id.is_none());
                let Some(stored_split) = stored_split else {
                    return Ok(MoneyOutOutcome::Conflict);
                };
                cancellations.push((record, stored_split));
            }
        }
    }
    if movement_exists(txn, &write.movement.id)? {
        return Ok(MoneyOutOutcome::Conflict);
    }
    if !draw_holds(txn, write.movement.account_id.as_str(), &write.draw)? {
        return Ok(MoneyOutOutcome::BalanceChanged);
    }

    put_charge(txn, &ChargeRecord::from(&write.charge), Some(&stored))?;
    for (record, stored_split) in &cancellations {
        // Leaves `splits_scheduled` exactly as a settlement does when a split leaves SCHEDULED.
        put_split(txn, record, Some(stored_split))?;
    }
    put_movement(txn, &write.movement)?;
    put_outbox(txn, &write.outbox)?;
    complete(txn, &claim, write.completion.as_ref())?;
    Ok(MoneyOutOutcome::Applied)
}

#[async_trait]
impl RefundStore for EmbeddedStore {
    async fn request_refund(&self, write: &RequestRefund) -> Result<MoneyOutOutcome, StoreError> {
        let write = write.clone();
        self.blocking("request_refund", move |db| {
            money_out_write(db, |txn| request_refund_in(txn, &write))
        })
        .await
    }
}

#[cfg(test)]
mod tests;
