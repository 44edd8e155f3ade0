//! The write that opens a dispute, computed from what was read (the charge, its booked splits,
//! the account's balance shards) alone: pure, so the service and the storage tests build it
//! the same way.
//!
//! A dispute is divided exactly like a refund of its amount under the account's liability rule
//! ([`plan_funding`]), but its money goes into `held` instead of out to the payer
//! ([`hold_funding`]): the unpaid splits' parts from their reserve (the splits are reduced as a
//! refund would reduce them), the account's part and the paid splits' parts from `available`
//! as far as it covers them, the rest `owed`. The paid splits' parts are not yet recipient
//! debts: only a loss makes them so.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::charge::Charge;
use crate::dispute::ports::OpenDispute;
use crate::dispute::view::DisputeView;
use crate::dispute::{Dispute, hold_funding, opened_legs};
use crate::error::{DomainError, StoreError};
use crate::ledger::{AvailableDraw, Balance, Movement, MovementKind};
use crate::messaging::events::{AccountEvent, EventType};
use crate::pix::money::Money;
use crate::recipient::RecipientTotals;
use crate::refund::liability::{RefundTerms, plan_funding};
use crate::refund::ports::ReducedSplit;
use crate::split::entry::SplitEntry;

/// The opening of `dispute` (OPEN, its parts and hold not yet filled in) on `charge` as read,
/// with its booked splits `entries` and the account's balance `shards` as read.
pub fn dispute_opening(
    charge: &Charge,
    entries: &[SplitEntry],
    dispute: Dispute,
    shards: &[(u32, Balance)],
    now: DateTime<Utc>,
) -> Result<OpenDispute, DomainError> {
    let terms = RefundTerms {
        refund_id: dispute.devolution_id(),
        gross: charge.amount,
        refund: dispute.amount,
        liability: dispute.liability,
        takes_rest: dispute.amount == charge.refundable(),
        now,
    };
    let funding = plan_funding(terms, entries)
        .map_err(|e| StoreError::Corrupt(format!("{}: {e}", charge.transaction_id)))?;
    let available: i64 = shards.iter().map(|(_, b)| b.available.cents().max(0)).sum();
    let hold = hold_funding(&funding, Money::from_cents(available));
    let draw = if hold.from_available > 0 {
        AvailableDraw::plan(shards, Money::from_cents(hold.from_available)).map_err(|e| {
            DomainError::InsufficientBalance {
                available: e.available,
                needed: e.needed,
            }
        })?
    } else {
        AvailableDraw::default()
    };
    let dispute = Dispute {
        split_parts: funding.parts.clone(),
        hold,
        still_owed: hold.owed,
        ..dispute
    };
    let movement = Movement::new(
        MovementKind::DisputeOpened,
        &charge.account_id,
        dispute.reference(),
        opened_legs(&charge.account_id, dispute.amount, &hold),
        now,
    )
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let before: HashMap<u8, Money> = entries.iter().map(|e| (e.index, e.refunded)).collect();
    let reduced: Vec<ReducedSplit> = funding
        .reduced
        .iter()
        .map(|entry| ReducedSplit {
            refunded_before: before.get(&entry.index).copied().unwrap_or(Money::ZERO),
            entry: entry.clone(),
        })
        .collect();
    let recipients = RecipientTotals::scheduled_by_split(
        &charge.account_id,
        reduced.iter().map(|r| {
            let gave_up = r.entry.refunded.cents() - r.refunded_before.cents();
            (&r.entry, -gave_up)
        }),
    );
    let events = vec![dispute_event(&dispute, EventType::DisputeOpened, now)?];
    Ok(OpenDispute {
        charge: charge.with_dispute(dispute.claim()),
        from: charge.status,
        from_revision: charge.refund_revision,
        dispute,
        reduced,
        recipients,
        movement,
        draw,
        events,
    })
}

/// The event reporting `dispute` as it stands (`data` = the dispute as the API shows it).
pub(crate) fn dispute_event(
    dispute: &Dispute,
    event_type: EventType,
    at: DateTime<Utc>,
) -> Result<AccountEvent, DomainError> {
    let data = serde_json::to_value(DisputeView::new(dispute))
        .map_err(|e| StoreError::Corrupt(format!("dispute {} view: {e}", dispute.id)))?;
    Ok(AccountEvent::new(
        &dispute.account_id,
        event_type,
        dispute.id.as_str(),
        at,
        data,
    ))
}
