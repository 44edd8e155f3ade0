//! The write that decides a dispute, computed from what was read (the dispute, its charge, the
//! charge's booked splits) alone: pure, so the service and the storage tests build it the same
//! way.
//!
//! - **Won**: everything held goes back where it came from. The splits the opening reduced that
//!   are still unpaid pay their full share again (exactly as for a refused refund:
//!   [`restorable_splits`]); what it still owes is cleared; the rest returns to `available` —
//!   which includes what credits paid toward its `owed` meanwhile.
//! - **Lost**: the held money pays the devolução (nature `MED_FRAUDE` / `MED_OPERACIONAL`); the
//!   reductions made at opening are final; the parts of splits already paid (or in a payout)
//!   become their recipients' debts, exactly as a refund's would. A split whose payout failed
//!   for good since owes nothing: its money went back to `available`, which fronted its part.
//!   What it still owes stays owed, paid by the account's next credits.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::open::dispute_event;
use crate::charge::Charge;
use crate::dispute::ports::DecideDispute;
use crate::dispute::{Dispute, DisputeOutcome, lost_legs, won_legs};
use crate::error::{DomainError, StoreError};
use crate::flows::refund::restorable_splits;
use crate::ledger::{Movement, MovementKind};
use crate::messaging::events::EventType;
use crate::pix::ids::RecipientId;
use crate::pix::money::Money;
use crate::pix::payment::EndToEndId;
use crate::recipient::RecipientTotals;
use crate::refund::liability::{DebtIncrease, SplitPartKind};
use crate::refund::ports::ReducedSplit;
use crate::split::entry::{SplitEntry, SplitState};

/// The decision `outcome` of `dispute` (as read, still open) on `charge` as read, with its
/// booked splits `entries`; `devolution`: the `D…` id of a lost dispute's devolução. `None`
/// when the dispute is decided already.
pub fn dispute_decision(
    charge: &Charge,
    dispute: &Dispute,
    outcome: DisputeOutcome,
    devolution: Option<EndToEndId>,
    entries: &[SplitEntry],
    now: DateTime<Utc>,
) -> Result<Option<DecideDispute>, DomainError> {
    let Some(mut decided) = dispute.decided(outcome, now) else {
        return Ok(None);
    };
    let account = &charge.account_id;
    let (movement, restored, debts, event_type) = match outcome {
        DisputeOutcome::Won => {
            let restored = restorable_splits(&dispute.split_parts, dispute.amount, entries, now);
            let back = restored_cents(&restored);
            let legs = won_legs(account, dispute.amount, back, dispute.still_owed);
            (
                (MovementKind::DisputeWon, legs),
                restored,
                Vec::new(),
                EventType::DisputeWon,
            )
        }
        DisputeOutcome::Lost => {
            decided.devolution_end_to_end_id = devolution;
            let debts = debts_of(charge, dispute, entries);
            let legs = lost_legs(account, dispute.amount, &debts);
            (
                (MovementKind::DisputeLost, legs),
                Vec::new(),
                debts,
                EventType::DisputeLost,
            )
        }
    };
    let (kind, legs) = movement;
    let movement = Movement::new(kind, account, dispute.reference(), legs, now)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let recipients = RecipientTotals::scheduled_by_split(
        account,
        restored.iter().map(|r| {
            let back = r.refunded_before.cents() - r.entry.refunded.cents();
            (&r.entry, back)
        }),
    );
    let events = vec![dispute_event(&decided, event_type, now)?];
    Ok(Some(DecideDispute {
        charge: charge.with_dispute(decided.claim()),
        from: charge.status,
        from_revision: charge.refund_revision,
        from_version: dispute.version,
        dispute: decided,
        restored,
        debts,
        recipients,
        movement,
        events,
    }))
}

fn restored_cents(restored: &[ReducedSplit]) -> i64 {
    restored
        .iter()
        .map(|r| r.refunded_before.cents() - r.entry.refunded.cents())
        .sum()
}

/// The recipient debts a loss creates: each paid (or in-payout) split's part, one debt per
/// recipient (ascending id), naming the dispute's devolução.
fn debts_of(charge: &Charge, dispute: &Dispute, entries: &[SplitEntry]) -> Vec<DebtIncrease> {
    let mut by_recipient: BTreeMap<RecipientId, DebtIncrease> = BTreeMap::new();
    for part in dispute
        .split_parts
        .iter()
        .filter(|p| p.kind == SplitPartKind::Debt)
    {
        let Some(entry) = entries.iter().find(|e| e.index == part.index) else {
            continue;
        };
        let paid_or_paying = matches!(entry.state, SplitState::Paid | SplitState::Processing)
            || (entry.state == SplitState::Scheduled && entry.payout_id.is_some());
        if !paid_or_paying {
            continue;
        }
        let recipient = entry.recipient();
        let id = RecipientId::derive(&charge.account_id, recipient.grouping_key());
        let debt = by_recipient
            .entry(id.clone())
            .or_insert_with(|| DebtIncrease {
                recipient_id: id,
                recipient,
                amount: Money::ZERO,
                refund_id: dispute.devolution_id(),
                transaction_id: charge.transaction_id.clone(),
            });
        debt.amount = Money::from_cents(debt.amount.cents() + part.amount.cents());
    }
    by_recipient
        .into_values()
        .filter(|d| d.amount.cents() > 0)
        .collect()
}
