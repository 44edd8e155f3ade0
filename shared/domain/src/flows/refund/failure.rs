//! The write that records a refused devolução, computed from what was read (the charge, its
//! booked splits, the recipients its refund indebted) alone: pure, so the service and the
//! storage tests build it the same way.
//!
//! # What a refusal gives back
//! The payer got nothing, so each party gets back what the refund took from it, where the
//! money has not moved on since:
//! - a split the refund **reduced** that is still unpaid (SCHEDULED or CANCELLED, in no
//!   payout) is reduced no more: its part returns to `reservedForSplits` and the split pays it
//!   again (a CANCELLED split is SCHEDULED again);
//! - a recipient **debt** the refund created is forgiven as far as it is still queued: the
//!   account fronted nothing in the end;
//! - everything else of the refund returns to `available`: the account's own part, and the
//!   parts that moved on meanwhile — a reduced split paid (or in a payout) with its reduced
//!   amount, a debt a payout already took. Those stay with the account (the movement's legs
//!   say exactly where each cent went; see the README's known limits).
//!
//! A last refund whose cancelled reserve exceeded it gave the excess to `available`: giving
//! its splits back would take that excess back from `available`, which may be spent, so such a
//! refund restores no split (its parts stay with the account, like the ones above).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::request::leg;
use crate::charge::Charge;
use crate::charge::ports::ChargeTransition;
use crate::error::{DomainError, StoreError};
use crate::ledger::{Bucket, LedgerAccount, Leg, Movement, MovementKind};
use crate::pix::ids::RecipientId;
use crate::pix::money::Money;
use crate::recipient::{DebtForgiveness, ForgivenClaim, Recipient, RecipientTotals};
use crate::refund::liability::{SplitPart, SplitPartKind};
use crate::refund::ports::{FailRefund, ReducedSplit};
use crate::refund::{ChargeRefund, RefundState};
use crate::split::entry::{SplitEntry, SplitState};

/// The write recording `failed` (the refund as FAILED) of `charge` as read, with the charge's
/// booked splits `entries` and the recipients `recipients` as read.
pub fn refund_failure(
    charge: &Charge,
    failed: ChargeRefund,
    entries: &[SplitEntry],
    recipients: &[Recipient],
    now: DateTime<Utc>,
) -> Result<FailRefund, DomainError> {
    debug_assert_eq!(failed.state, RefundState::Failed);
    let restored = restorable_splits(&failed.split_parts, failed.amount, entries, now);
    let forgiven = forgiveness(charge, &failed, entries, recipients);
    let movement = Movement::new(
        MovementKind::RefundReturned,
        &charge.account_id,
        &failed.reference(&charge.transaction_id),
        returned_legs(charge, failed.amount, &restored, &forgiven),
        now,
    )
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let totals = RecipientTotals::scheduled_by_split(
        &charge.account_id,
        restored.iter().map(|r| {
            let back = r.refunded_before.cents() - r.entry.refunded.cents();
            (&r.entry, back)
        }),
    );
    Ok(FailRefund {
        transition: ChargeTransition {
            charge: charge.with_refund(failed),
            from: charge.status,
            from_revision: charge.refund_revision,
            movement: Some(movement),
            events: Vec::new(),
            outbox: Vec::new(),
        },
        restored,
        forgiven,
        recipients: totals,
    })
}

/// The splits a refund (or dispute) of `amount` reduced by `parts` that are still unpaid, as
/// they will be stored when given back: none when their parts exceed `amount` (see the module
/// docs).
pub(crate) fn restorable_splits(
    parts: &[SplitPart],
    amount: Money,
    entries: &[SplitEntry],
    now: DateTime<Utc>,
) -> Vec<ReducedSplit> {
    let by_index: BTreeMap<u8, &SplitEntry> = entries.iter().map(|e| (e.index, e)).collect();
    let mut restored = Vec::new();
    for part in parts.iter().filter(|p| p.kind == SplitPartKind::Reduced) {
        let Some(entry) = by_index.get(&part.index) else {
            continue;
        };
        let unpaid = matches!(entry.state, SplitState::Scheduled | SplitState::Cancelled)
            && entry.payout_id.is_none();
        if !unpaid || entry.refunded.cents() < part.amount.cents() {
            continue;
        }
        let refunded = Money::from_cents(entry.refunded.cents() - part.amount.cents());
        restored.push(ReducedSplit {
            refunded_before: entry.refunded,
            entry: SplitEntry {
                refunded,
                state: SplitState::Scheduled,
                updated_at: now,
                ..(*entry).clone()
            },
        });
    }
    let back: i64 = restored
        .iter()
        .map(|r| r.refunded_before.cents() - r.entry.refunded.cents())
        .sum();
    if back > amount.cents() {
        return Vec::new();
    }
    restored
}

/// What each recipient `refund` indebted is let off: its parts still queued.
fn forgiveness(
    charge: &Charge,
    refund: &ChargeRefund,
    entries: &[SplitEntry],
    recipients: &[Recipient],
) -> Vec<DebtForgiveness> {
    let mut owed: BTreeMap<RecipientId, i64> = BTreeMap::new();
    for part in refund
        .split_parts
        .iter()
        .filter(|p| p.kind == SplitPartKind::Debt)
    {
        if let Some(entry) = entries.iter().find(|e| e.index == part.index) {
            let id = RecipientId::derive(&charge.account_id, entry.recipient().grouping_key());
            *owed.entry(id).or_default() += part.amount.cents();
        }
    }
    owed.into_iter()
        .filter_map(|(id, cents)| {
            let recipient = recipients.iter().find(|r| r.id == id)?;
            recipient.forgive(&[ForgivenClaim {
                refund_id: refund.id.clone(),
                transaction_id: charge.transaction_id.clone(),
                up_to: Money::from_cents(cents),
            }])
        })
        .collect()
}

/// PixNetwork gives back the refund; the restored splits' reserve takes their parts, each
/// forgiven recipient is let off (the account's claim on it drops), `available` takes the rest
/// — which includes what the account fronted for the forgiven debts.
fn returned_legs(
    charge: &Charge,
    amount: Money,
    restored: &[ReducedSplit],
    forgiven: &[DebtForgiveness],
) -> Vec<Leg> {
    let merchant = |bucket| LedgerAccount::Merchant(charge.account_id.clone(), bucket);
    let back: i64 = restored
        .iter()
        .map(|r| r.refunded_before.cents() - r.entry.refunded.cents())
        .sum();
    let let_off: i64 = forgiven.iter().map(|f| f.forgiven.cents()).sum();
    let mut legs = vec![
        leg(LedgerAccount::PixNetwork, -amount.cents()),
        leg(merchant(Bucket::ReservedForSplits), back),
        leg(merchant(Bucket::Available), amount.cents() - back),
        leg(merchant(Bucket::RecipientDebts), -let_off),
    ];
    for f in forgiven {
        legs.push(leg(
            LedgerAccount::Recipient(charge.account_id.clone(), f.recipient_id.clone()),
            f.forgiven.cents(),
        ));
    }
    legs
}
