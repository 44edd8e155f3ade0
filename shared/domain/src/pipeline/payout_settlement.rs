//! What a transfer outcome does to a payout, its splits, the ledger and the event log — pure
//! functions that build the writes the [`PayoutExecutor`](super::payout_executor) stores.
//!
//! Rules (PRODUCT.md, Splits):
//! - PAID: the payout and every split it pays become PAID with the transfer's end-to-end id;
//!   the payout's amount leaves `reservedForSplits` for the PIX network.
//! - FAILED, immediate payout: its one split is FAILED and its money returns to `available`
//!   (an immediate split is not retried by a schedule it never belonged to).
//! - FAILED, scheduled payout: each split goes back to SCHEDULED with `attempts + 1` and its
//!   money stays reserved for the next window; a split whose failed windows reach
//!   [`MAX_PAYOUT_ATTEMPTS`] is FAILED for good and its money returns to `available`.
//!
//! Events: `PAYOUT_PAID` / `PAYOUT_FAILED` once per payout; `SPLIT_PAID` for every paid split
//! and `SPLIT_FAILED` only for a split that failed for good (a split going back to SCHEDULED
//! has not failed yet — its payout has, and says so).

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::error::{DomainError, StoreError};
use crate::events::{AccountEvent, EventType};
use crate::ledger::{Bucket, LedgerAccount, Movement, MovementKind};
use crate::money::Money;
use crate::payment::EndToEndId;
use crate::payout::{
    MAX_PAYOUT_ATTEMPTS, Payout, PayoutState, PayoutTrigger, SplitEntry, SplitState,
};
use crate::provider::TransferOutcome;
use crate::scheduler_ports::SettleSplits;
use crate::settlement::SettlePayout;

/// The parts of a final transfer outcome a settlement records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalOutcome {
    pub state: PayoutState,
    pub end_to_end_id: Option<EndToEndId>,
    pub provider_transfer_id: Option<String>,
    pub failure_reason: Option<String>,
}

impl FinalOutcome {
    /// `None` for a transfer still pending at the provider.
    pub fn of(outcome: &TransferOutcome) -> Option<FinalOutcome> {
        match outcome {
            TransferOutcome::Completed {
                provider_transfer_id,
                end_to_end_id,
                ..
            } => Some(FinalOutcome {
                state: PayoutState::Paid,
                end_to_end_id: Some(end_to_end_id.clone()),
                provider_transfer_id: Some(provider_transfer_id.clone()),
                failure_reason: None,
            }),
            TransferOutcome::Failed {
                provider_transfer_id,
                reason,
            } => Some(FinalOutcome {
                state: PayoutState::Failed,
                end_to_end_id: None,
                provider_transfer_id: provider_transfer_id.clone(),
                failure_reason: Some(reason.clone()),
            }),
            TransferOutcome::Pending { .. } => None,
        }
    }
}

/// The payout's own settlement. `splits` are its inline splits as stored (an immediate
/// payout's one split); a scheduled payout passes none and settles its manifest afterwards
/// with [`settle_chunk`].
pub fn settle_payout(
    payout: Payout,
    splits: Vec<SplitEntry>,
    outcome: &FinalOutcome,
    now: DateTime<Utc>,
) -> Result<SettlePayout, DomainError> {
    let scheduled = payout.trigger == PayoutTrigger::Scheduled;
    let reserved = LedgerAccount::Merchant(payout.account_id.clone(), Bucket::ReservedForSplits);
    let movement = match (outcome.state, scheduled) {
        (PayoutState::Paid, _) => Some(transfer(
            MovementKind::PayoutPaid,
            &payout,
            payout.id.as_str(),
            reserved,
            LedgerAccount::PixNetwork,
            payout.amount,
            now,
        )?),
        (_, false) => Some(transfer(
            MovementKind::PayoutFailed,
            &payout,
            payout.id.as_str(),
            reserved,
            LedgerAccount::Merchant(payout.account_id.clone(), Bucket::Available),
            payout.amount,
            now,
        )?),
        // A failed scheduled payout's money stays reserved: its splits are retried, or
        // released chunk by chunk in `settle_chunk`.
        (_, true) => None,
    };
    let settled = Payout {
        state: outcome.state,
        end_to_end_id: outcome.end_to_end_id.clone(),
        provider_transfer_id: outcome.provider_transfer_id.clone(),
        failure_reason: outcome.failure_reason.clone(),
        unsettled_splits: if scheduled { payout.split_count } else { 0 },
        updated_at: now,
        ..payout
    };
    let mut events = vec![payout_event(&settled, now)];
    let splits: Vec<SplitEntry> = splits
        .into_iter()
        .map(|s| settled_split(s, &settled, now))
        .collect();
    events.extend(splits.iter().filter_map(|s| split_event(s, &settled, now)));
    Ok(SettlePayout {
        payout: settled,
        splits,
        movement,
        events,
        outbox: Vec::new(),
    })
}

/// The final state of a chunk of a settled scheduled payout's splits. `pending` are the
/// splits as stored, each still PROCESSING in `payout` (the caller filters); at most
/// [`MAX_SPLITS_PER_SETTLE`](crate::scheduler_ports::MAX_SPLITS_PER_SETTLE).
pub fn settle_chunk(
    payout: &Payout,
    pending: Vec<SplitEntry>,
    now: DateTime<Utc>,
) -> Result<SettleSplits, DomainError> {
    let splits: Vec<SplitEntry> = pending
        .into_iter()
        .map(|s| settled_split(s, payout, now))
        .collect();
    let mut failed_for_good = Money::ZERO;
    for split in splits.iter().filter(|s| s.state == SplitState::Failed) {
        failed_for_good = failed_for_good
            .checked_add(split.split.amount)
            .ok_or_else(|| corrupt("failed splits total overflows"))?;
    }
    let movement = match splits.first() {
        Some(first) if failed_for_good.cents() > 0 => Some(transfer(
            MovementKind::SplitsFailed,
            payout,
            // The chunk's first split is a unique reference: once settled it is never
            // PROCESSING in this payout again, so no other chunk can start with it.
            &format!("{}:{}:{}", payout.id, first.transaction_id, first.index),
            LedgerAccount::Merchant(payout.account_id.clone(), Bucket::ReservedForSplits),
            LedgerAccount::Merchant(payout.account_id.clone(), Bucket::Available),
            failed_for_good,
            now,
        )?),
        _ => None,
    };
    let events = splits
        .iter()
        .filter_map(|s| split_event(s, payout, now))
        .collect();
    Ok(SettleSplits {
        payout_id: payout.id.clone(),
        payout_state: payout.state,
        splits,
        movement,
        events,
        now,
    })
}

/// `split` (stored PROCESSING in `payout`) after `payout` settled.
fn settled_split(split: SplitEntry, payout: &Payout, now: DateTime<Utc>) -> SplitEntry {
    if payout.state == PayoutState::Paid {
        return SplitEntry {
            state: SplitState::Paid,
            end_to_end_id: payout.end_to_end_id.clone(),
            failure_reason: None,
            updated_at: now,
            ..split
        };
    }
    let attempts = split.attempts.saturating_add(1);
    let retry = payout.trigger == PayoutTrigger::Scheduled && attempts < MAX_PAYOUT_ATTEMPTS;
    SplitEntry {
        state: if retry {
            SplitState::Scheduled
        } else {
            SplitState::Failed
        },
        // Back in the schedule it belongs to no payout; a failed one keeps the payout that
        // failed it last, for the record.
        payout_id: if retry {
            None
        } else {
            split.payout_id.clone()
        },
        end_to_end_id: None,
        failure_reason: payout.failure_reason.clone(),
        attempts,
        updated_at: now,
        ..split
    }
}

fn recipient_json(payout: &Payout) -> serde_json::Value {
    json!({
        "name": payout.recipient.name,
        "pixKey": payout.recipient.pix_key,
        "pixKeyType": payout.recipient.pix_key_type.as_str(),
        "document": payout.recipient.document.as_str(),
    })
}

fn payout_event(payout: &Payout, now: DateTime<Utc>) -> AccountEvent {
    let (event_type, extra) = if payout.state == PayoutState::Paid {
        (
            EventType::PayoutPaid,
            json!({ "endToEndId": payout.end_to_end_id.as_ref().map(ToString::to_string) }),
        )
    } else {
        (
            EventType::PayoutFailed,
            json!({ "failureReason": payout.failure_reason }),
        )
    };
    let mut data = json!({
        "payoutId": payout.id.as_str(),
        "status": payout.state.as_str(),
        "trigger": payout.trigger.as_str(),
        "amount": payout.amount.to_string(),
        "splitCount": payout.split_count,
        "recipient": recipient_json(payout),
    });
    merge(&mut data, extra);
    AccountEvent::new(
        &payout.account_id,
        event_type,
        payout.id.as_str(),
        now,
        data,
    )
}

/// `SPLIT_PAID` or `SPLIT_FAILED` for a split in its final state; `None` for one going back
/// to SCHEDULED. A split reaches a final state once, so `transaction/index` names the fact.
fn split_event(split: &SplitEntry, payout: &Payout, now: DateTime<Utc>) -> Option<AccountEvent> {
    let event_type = match split.state {
        SplitState::Paid => EventType::SplitPaid,
        SplitState::Failed => EventType::SplitFailed,
        _ => return None,
    };
    let data = json!({
        "transactionId": split.transaction_id.as_str(),
        "index": split.index,
        "status": split.state.as_str(),
        "amount": split.split.amount.to_string(),
        "payoutId": payout.id.as_str(),
        "endToEndId": split.end_to_end_id.as_ref().map(ToString::to_string),
        "failureReason": split.failure_reason,
        "attempts": split.attempts,
        "recipient": recipient_json(payout),
    });
    Some(AccountEvent::new(
        &split.account_id,
        event_type,
        &format!("{}/{}", split.transaction_id, split.index),
        now,
        data,
    ))
}

fn merge(into: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(into), serde_json::Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}

fn transfer(
    kind: MovementKind,
    payout: &Payout,
    reference: &str,
    from: LedgerAccount,
    to: LedgerAccount,
    amount: Money,
    now: DateTime<Utc>,
) -> Result<Movement, DomainError> {
    Movement::transfer(kind, &payout.account_id, reference, from, to, amount, now)
        .map_err(|e| corrupt(&e.to_string()))
}

fn corrupt(message: &str) -> DomainError {
    DomainError::Store(StoreError::Corrupt(message.to_owned()))
}
