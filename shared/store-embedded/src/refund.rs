//! [`RefundStore`] on redb: a refund request is ONE money-out write (see
//! [`crate::ledger_write`]): the charge, at the status and refund revision it was read with,
//! replaced by its version with the refund; every split it reduces, still SCHEDULED outside
//! any payout with the `refunded` it was read with; the recipients' debts; then the movement,
//! the outbox messages and the idempotency completion. A refused refund is one conditional
//! write too ([`FailRefund`]).

use std::collections::BTreeSet;

use async_trait::async_trait;
use redb::WriteTransaction;

use pixgw_domain::charge::record::ChargeRecord;
use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::ledger::ports::MoneyOutOutcome;
use pixgw_domain::refund::ports::{FailRefund, RefundStore, RequestRefund};
use pixgw_domain::split::entry::SplitState;
use pixgw_domain::split::record::SplitEntryRecord;

use crate::EmbeddedStore;
use crate::charge::{load_charge, put_charge, transition_in};
use crate::ledger::{movement_exists, put_movement};
use crate::ledger_write::{
    Claim, check_draw_matches, claim_of, complete, draw_holds, money_out_write,
};
use crate::outbox::put_outbox;
use crate::recipient::{add_debt, add_totals, forgive, forgiveness_holds};
use crate::split::{load_split, put_split, split_key};
use crate::transact::conditional_write;

fn request_refund_in(
    txn: &WriteTransaction,
    write: &RequestRefund,
) -> Result<MoneyOutOutcome, StoreError> {
    write
        .check()
        .map_err(|why| StoreError::Unavailable(format!("refusing to write: {why}")))?;
    check_draw_matches(&write.movement, &write.draw)?;
    let claim = claim_of(txn, write.completion.as_ref())?;
    if matches!(claim, Claim::Lost) {
        return Ok(MoneyOutOutcome::ClaimLost);
    }
    let charge = &write.charge;
    let id = charge.transaction_id.as_str();
    let stored = load_charge(txn, id)?.filter(|c| {
        c.status == write.from.as_str()
            && c.refund_revision == write.from_revision
            && c.account_id == charge.account_id.as_str()
    });
    let Some(stored) = stored else {
        return Ok(MoneyOutOutcome::Conflict);
    };
    // Every split it reduces: of this charge, listed once, and stored SCHEDULED in no payout
    // with the `refunded` the refund was planned on.
    let mut seen = BTreeSet::new();
    let mut reductions = Vec::with_capacity(write.reduced.len());
    for reduced in &write.reduced {
        let record = SplitEntryRecord::from(&reduced.entry);
        let key = split_key(&record);
        if record.transaction_id != id || !seen.insert(key.clone()) {
            return Ok(MoneyOutOutcome::Conflict);
        }
        let stored_split = load_split(txn, &key)?.filter(|s| {
            s.state == SplitState::Scheduled.as_str()
                && s.payout_id.is_none()
                && s.account_id == record.account_id
                && s.refunded_cents == reduced.refunded_before.cents()
        });
        let Some(stored_split) = stored_split else {
            return Ok(MoneyOutOutcome::Conflict);
        };
        reductions.push((record, stored_split));
    }
    if movement_exists(txn, &write.movement.id)? {
        return Ok(MoneyOutOutcome::Conflict);
    }
    if !draw_holds(txn, write.movement.account_id.as_str(), &write.draw)? {
        return Ok(MoneyOutOutcome::BalanceChanged);
    }

    put_charge(txn, &ChargeRecord::from(charge), Some(&stored))?;
    for (record, stored_split) in &reductions {
        // A cancelled split leaves `splits_scheduled` exactly as a settled one does.
        put_split(txn, record, Some(stored_split))?;
    }
    for debt in &write.debts {
        add_debt(txn, &charge.account_id, debt)?;
    }
    for totals in &write.recipients {
        add_totals(txn, &charge.account_id, totals)?;
    }
    put_movement(txn, &write.movement)?;
    put_outbox(txn, &write.outbox)?;
    complete(txn, &claim, write.completion.as_ref())?;
    Ok(MoneyOutOutcome::Applied)
}

/// A refused refund (see [`FailRefund`]): every restored split and forgiven recipient checked
/// before anything is written, then the charge's transition, the splits, the recipients.
fn fail_refund_in(txn: &WriteTransaction, write: &FailRefund) -> Result<WriteOutcome, StoreError> {
    let charge = &write.transition.charge;
    let id = charge.transaction_id.as_str();
    let mut seen = BTreeSet::new();
    let mut restorations = Vec::with_capacity(write.restored.len());
    for restored in &write.restored {
        let record = SplitEntryRecord::from(&restored.entry);
        let key = split_key(&record);
        if record.transaction_id != id || !seen.insert(key.clone()) {
            return Ok(WriteOutcome::Conflict);
        }
        let unpaid = [
            SplitState::Scheduled.as_str(),
            SplitState::Cancelled.as_str(),
        ];
        let stored_split = load_split(txn, &key)?.filter(|s| {
            unpaid.contains(&s.state.as_str())
                && s.payout_id.is_none()
                && s.account_id == record.account_id
                && s.refunded_cents == restored.refunded_before.cents()
        });
        let Some(stored_split) = stored_split else {
            return Ok(WriteOutcome::Conflict);
        };
        restorations.push((record, stored_split));
    }
    for forgiveness in &write.forgiven {
        if !forgiveness_holds(txn, &charge.account_id, forgiveness)? {
            return Ok(WriteOutcome::Conflict);
        }
    }
    if transition_in(txn, &write.transition)? == WriteOutcome::Conflict {
        return Ok(WriteOutcome::Conflict);
    }
    for (record, stored_split) in &restorations {
        put_split(txn, record, Some(stored_split))?;
    }
    for forgiveness in &write.forgiven {
        forgive(txn, &charge.account_id, forgiveness)?;
    }
    for totals in &write.recipients {
        add_totals(txn, &charge.account_id, totals)?;
    }
    Ok(WriteOutcome::Applied)
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

    async fn fail_refund(&self, write: &FailRefund) -> Result<WriteOutcome, StoreError> {
        let write = write.clone();
        self.blocking("fail_refund", move |db| {
            conditional_write(db, |txn| fail_refund_in(txn, &write))
        })
        .await
    }
}

#[cfg(test)]
mod tests;
