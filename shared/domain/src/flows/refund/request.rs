//! The write that requests one refund, computed from what was read (the charge, its booked
//! splits, the account's balance shards) alone: pure, so the service and the storage tests
//! build it the same way.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::charge::Charge;
use crate::error::{DomainError, StoreError};
use crate::ledger::{AvailableDraw, Balance, Bucket, LedgerAccount, Leg, Movement, MovementKind};
use crate::messaging::outbox::PipelineMessage;
use crate::pix::ids::AccountId;
use crate::pix::money::Money;
use crate::recipient::RecipientTotals;
use crate::refund::ChargeRefund;
use crate::refund::liability::{RefundFunding, RefundTerms, plan_funding};
use crate::refund::ports::{ReducedSplit, RequestRefund};
use crate::split::entry::SplitEntry;

/// The request of `refund` (PROCESSING, its parts not yet filled in) of `charge` as read, its
/// booked splits `entries` as read, drawing on `shards` as read: who bears what (see
/// [`crate::refund::liability`]), the movement, the draw on `available`, the splits reduced,
/// the debts and totals of the recipients, the `RefundRequested` message. Refused with
/// `InsufficientBalance` when `available` cannot pay what the account must pay now.
pub fn refund_request(
    charge: &Charge,
    entries: &[SplitEntry],
    refund: ChargeRefund,
    shards: &[(u32, Balance)],
    now: DateTime<Utc>,
) -> Result<RequestRefund, DomainError> {
    let terms = RefundTerms {
        refund_id: refund.id.clone(),
        gross: charge.amount,
        refund: refund.amount,
        liability: refund.liability,
        takes_rest: refund.amount == charge.refundable(),
        now,
    };
    let funding = plan_funding(terms, entries)
        .map_err(|e| StoreError::Corrupt(format!("{}: {e}", charge.transaction_id)))?;
    let draw = draw(shards, funding.from_available)?;
    let refund = ChargeRefund {
        split_parts: funding.parts.clone(),
        ..refund
    };
    let movement = Movement::new(
        MovementKind::RefundRequested,
        &charge.account_id,
        &refund.reference(&charge.transaction_id),
        refund_legs(&charge.account_id, refund.amount, &funding),
        now,
    )
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let message = PipelineMessage::RefundRequested {
        transaction_id: charge.transaction_id.clone(),
        account_id: charge.account_id.clone(),
        refund_id: Some(refund.id.clone()),
        attempt: None,
    };
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
    Ok(RequestRefund {
        charge: charge.with_refund(refund),
        from: charge.status,
        from_revision: charge.refund_revision,
        reduced,
        debts: funding.debts,
        recipients,
        movement,
        draw,
        outbox: vec![message.to_outbox(now)],
        completion: None,
    })
}

/// The draw on `available` for a debit of `cents` (none for a credit).
fn draw(shards: &[(u32, Balance)], cents: i64) -> Result<AvailableDraw, DomainError> {
    if cents <= 0 {
        return Ok(AvailableDraw::default());
    }
    AvailableDraw::plan(shards, Money::from_cents(cents)).map_err(|e| {
        DomainError::InsufficientBalance {
            available: e.available,
            needed: e.needed,
        }
    })
}

/// The legs of a refund's movement: the payer gets `amount`; the reduced splits' reserve and
/// `available` pay it; each new debt is the account's claim on its recipient.
fn refund_legs(account: &AccountId, amount: Money, funding: &RefundFunding) -> Vec<Leg> {
    let merchant = |bucket| LedgerAccount::Merchant(account.clone(), bucket);
    let mut legs = vec![
        leg(LedgerAccount::PixNetwork, amount.cents()),
        leg(
            merchant(Bucket::ReservedForSplits),
            -funding.from_reserve.cents(),
        ),
        leg(merchant(Bucket::Available), -funding.from_available),
        leg(merchant(Bucket::RecipientDebts), funding.fronted().cents()),
    ];
    for debt in &funding.debts {
        legs.push(leg(
            LedgerAccount::Recipient(account.clone(), debt.recipient_id.clone()),
            -debt.amount.cents(),
        ));
    }
    legs
}

pub(super) fn leg(account: LedgerAccount, cents: i64) -> Leg {
    Leg {
        account,
        amount: Money::from_cents(cents),
    }
}
