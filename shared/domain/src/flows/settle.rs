//! What a transfer outcome does to a payout, its splits, the ledger and the event log — pure
//! functions that build the writes the [`PayoutExecutor`](super::payout_executor) stores.
//!
//! Rules (PRODUCT.md, Splits):
//! - PAID: the payout and every split it pays become PAID with the transfer's end-to-end id
//!   (none when its deductions netted it to 0 and no transfer was made); its gross leaves
//!   `reservedForSplits`: the net for the PIX network, its deductions (recovered debt) back to
//!   `available`. FAILED: its deductions are owed again.
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
use crate::ledger::{Bucket, LedgerAccount, Leg, Movement, MovementKind};
use crate::messaging::events::{AccountEvent, EventType};
use crate::payout::ports::{DebtSettlement, SettlePayout};
use crate::payout::runs::SettleSplits;
use crate::payout::view::PayoutView;
use crate::payout::{MAX_PAYOUT_ATTEMPTS, Payout, PayoutState, PayoutTrigger};
use crate::pix::ids::RecipientId;
use crate::pix::money::Money;
use crate::pix::payment::EndToEndId;
use crate::provider::TransferOutcome;
use crate::recipient::RecipientTotals;
use crate::split::entry::{SplitEntry, SplitState};

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
        (PayoutState::Paid, _) => Some(paid_movement(&payout, now)?),
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
    let recipient = debt_settlement(&settled);
    let totals = payout_totals(&settled);
    Ok(SettlePayout {
        payout: settled,
        splits,
        movement,
        events,
        outbox: Vec::new(),
        recipient,
        totals,
    })
}

/// PAID: its gross leaves `reservedForSplits`: the net to the PIX network, the deductions
/// back to `available`, and the recipient's debt shrinks by them (its legs).
fn paid_movement(payout: &Payout, now: DateTime<Utc>) -> Result<Movement, DomainError> {
    let merchant = |bucket| LedgerAccount::Merchant(payout.account_id.clone(), bucket);
    let deducted = payout.deducted().cents();
    let recipient = RecipientId::derive(&payout.account_id, payout.recipient.grouping_key());
    let leg = |account, cents| Leg {
        account,
        amount: Money::from_cents(cents),
    };
    Movement::new(
        MovementKind::PayoutPaid,
        &payout.account_id,
        payout.id.as_str(),
        vec![
            leg(merchant(Bucket::ReservedForSplits), -payout.amount.cents()),
            leg(LedgerAccount::PixNetwork, payout.net_amount().cents()),
            leg(merchant(Bucket::Available), deducted),
            leg(merchant(Bucket::RecipientDebts), -deducted),
            leg(
                LedgerAccount::Recipient(payout.account_id.clone(), recipient),
                deducted,
            ),
        ],
        now,
    )
    .map_err(|e| corrupt(&e.to_string()))
}

/// What a settled payout does to its recipient's totals (see [`SettlePayout::totals`]).
fn payout_totals(payout: &Payout) -> Option<RecipientTotals> {
    let gross = payout.amount.cents();
    let (scheduled, paid) = match (payout.state, payout.trigger) {
        (PayoutState::Paid, _) => (-gross, payout.net_amount().cents()),
        (_, PayoutTrigger::Immediate) => (-gross, 0),
        (_, PayoutTrigger::Scheduled) => return None,
    };
    Some(RecipientTotals::of(
        &payout.account_id,
        payout.recipient.clone(),
        scheduled,
        paid,
    ))
}

/// What a settled payout's deductions do to its recipient's debt: recovered when PAID, owed
/// again when FAILED; nothing without deductions.
fn debt_settlement(payout: &Payout) -> Option<DebtSettlement> {
    let parts = payout.deductions.clone().filter(|d| !d.is_empty())?;
    Some(DebtSettlement {
        recipient_id: RecipientId::derive(&payout.account_id, payout.recipient.grouping_key()),
        parts,
        restore: payout.state != PayoutState::Paid,
    })
}

/// The final state of a chunk of a settled scheduled payout's splits. `pending` are the
/// splits as stored, each still PROCESSING in `payout` (the caller filters); at most
/// [`MAX_SPLITS_PER_SETTLE`](crate::payout::runs::MAX_SPLITS_PER_SETTLE).
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
            .checked_add(split.payable())
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
    // Splits that failed for good will never be paid: the recipient's `scheduled` drops.
    let recipient = (failed_for_good.cents() > 0).then(|| {
        RecipientTotals::of(
            &payout.account_id,
            payout.recipient.clone(),
            -failed_for_good.cents(),
            0,
        )
    });
    Ok(SettleSplits {
        payout_id: payout.id.clone(),
        payout_state: payout.state,
        splits,
        movement,
        events,
        now,
        recipient,
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
        payout_id: if retry { None } else { split.payout_id.clone() },
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

/// `PAYOUT_PAID` or `PAYOUT_FAILED`: the payout as `GET /api/payouts` lists it.
fn payout_event(payout: &Payout, now: DateTime<Utc>) -> AccountEvent {
    let event_type = if payout.state == PayoutState::Paid {
        EventType::PayoutPaid
    } else {
        EventType::PayoutFailed
    };
    let data = serde_json::to_value(PayoutView::new(payout)).unwrap_or(serde_json::Value::Null);
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
        "amount": split.payable().to_string(),
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::charge::ChargeSplit;
    use crate::payout::PayoutId;
    use crate::pix::document::TaxDocument;
    use crate::pix::ids::{AccountId, TransactionId};
    use crate::pix::pix_key::PixKeyType;
    use crate::split::{SplitRule, SplitValue};

    fn at() -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_767_000_000_000).unwrap()
    }

    fn split(account: &AccountId, cents: i64, attempts: u8, payout: &PayoutId) -> SplitEntry {
        SplitEntry {
            transaction_id: TransactionId::generate(),
            account_id: account.clone(),
            index: 0,
            split: ChargeSplit {
                rule: SplitRule {
                    pix_key: "courier@example.com".into(),
                    pix_key_type: PixKeyType::Email,
                    name: "Courier".into(),
                    document: TaxDocument::parse("98765432100").unwrap(),
                    value: SplitValue::Fixed(Money::from_cents(cents)),
                    immediate: false,
                },
                amount: Money::from_cents(cents),
            },
            state: SplitState::Processing,
            payout_id: Some(payout.clone()),
            end_to_end_id: None,
            failure_reason: None,
            attempts,
            refunded: Money::ZERO,
            created_at: at(),
            updated_at: at(),
        }
    }

    fn payout(splits: &[SplitEntry], trigger: PayoutTrigger) -> Payout {
        let first = &splits[0];
        Payout {
            id: first.payout_id.clone().unwrap(),
            account_id: first.account_id.clone(),
            trigger,
            recipient: first.recipient(),
            amount: Money::from_cents(splits.iter().map(|s| s.split.amount.cents()).sum()),
            splits: if trigger == PayoutTrigger::Immediate {
                vec![first.key()]
            } else {
                Vec::new()
            },
            split_count: splits.len() as u32,
            unsettled_splits: 0,
            state: PayoutState::Processing,
            end_to_end_id: None,
            deductions: None,
            provider_transfer_id: None,
            failure_reason: None,
            created_at: at(),
            updated_at: at(),
        }
    }

    fn failed() -> FinalOutcome {
        FinalOutcome {
            state: PayoutState::Failed,
            end_to_end_id: None,
            provider_transfer_id: Some("tr_1".into()),
            failure_reason: Some("PIX key not found in DICT".into()),
        }
    }

    fn paid() -> FinalOutcome {
        let ispb = crate::pix::payment::Ispb::parse("99999999").unwrap();
        FinalOutcome {
            state: PayoutState::Paid,
            end_to_end_id: Some(EndToEndId::generate(
                crate::pix::payment::EndToEndKind::Payment,
                &ispb,
                at(),
            )),
            provider_transfer_id: Some("tr_1".into()),
            failure_reason: None,
        }
    }

    fn legs(m: &Movement) -> Vec<(LedgerAccount, i64)> {
        m.legs
            .iter()
            .map(|l| (l.account.clone(), l.amount.cents()))
            .collect()
    }

    #[test]
    fn a_paid_scheduled_payout_moves_its_amount_and_leaves_its_manifest_to_chunks() {
        let account = AccountId::generate();
        let id = PayoutId::generate();
        let splits = vec![split(&account, 150, 0, &id), split(&account, 250, 1, &id)];
        let write = settle_payout(
            payout(&splits, PayoutTrigger::Scheduled),
            vec![],
            &paid(),
            at(),
        )
        .unwrap();
        assert_eq!(write.payout.state, PayoutState::Paid);
        assert_eq!(write.payout.unsettled_splits, 2);
        assert!(write.splits.is_empty());
        let movement = write.movement.unwrap();
        assert_eq!(movement.kind, MovementKind::PayoutPaid);
        assert_eq!(legs(&movement)[1].1, 400);
        let types: Vec<_> = write.events.iter().map(|e| e.event_type).collect();
        assert_eq!(types, vec![EventType::PayoutPaid]);

        let chunk = settle_chunk(&write.payout, splits, at()).unwrap();
        assert!(chunk.movement.is_none());
        assert!(chunk.splits.iter().all(|s| s.state == SplitState::Paid
            && s.end_to_end_id == write.payout.end_to_end_id
            && s.payout_id.as_ref() == Some(&id)));
        assert_eq!(chunk.events.len(), 2);
        assert!(
            chunk
                .events
                .iter()
                .all(|e| e.event_type == EventType::SplitPaid)
        );
    }

    #[test]
    fn a_failed_scheduled_payout_retries_its_splits_until_the_third_window() {
        let account = AccountId::generate();
        let id = PayoutId::generate();
        let splits = vec![
            split(&account, 100, 0, &id),
            split(&account, 200, 1, &id),
            split(&account, 300, 2, &id),
        ];
        let write = settle_payout(
            payout(&splits, PayoutTrigger::Scheduled),
            vec![],
            &failed(),
            at(),
        )
        .unwrap();
        assert_eq!(write.payout.state, PayoutState::Failed);
        assert_eq!(write.payout.unsettled_splits, 3);
        assert!(
            write.movement.is_none(),
            "the money stays reserved for the retries"
        );
        assert_eq!(write.events[0].event_type, EventType::PayoutFailed);

        let chunk = settle_chunk(&write.payout, splits, at()).unwrap();
        let states: Vec<_> = chunk.splits.iter().map(|s| (s.state, s.attempts)).collect();
        assert_eq!(
            states,
            vec![
                (SplitState::Scheduled, 1),
                (SplitState::Scheduled, 2),
                (SplitState::Failed, 3)
            ]
        );
        assert!(chunk.splits[0].payout_id.is_none() && chunk.splits[1].payout_id.is_none());
        assert_eq!(chunk.splits[2].payout_id.as_ref(), Some(&id));
        assert!(
            chunk
                .splits
                .iter()
                .all(|s| s.failure_reason.as_deref() == Some("PIX key not found in DICT"))
        );
        // Only the split that failed for good returns its money, and reports SPLIT_FAILED.
        let movement = chunk.movement.unwrap();
        assert_eq!(movement.kind, MovementKind::SplitsFailed);
        assert_eq!(legs(&movement)[0].1, -300);
        assert_eq!(
            legs(&movement)[1],
            (
                LedgerAccount::Merchant(account.clone(), Bucket::Available),
                300
            )
        );
        assert_eq!(chunk.events.len(), 1);
        assert_eq!(chunk.events[0].event_type, EventType::SplitFailed);
    }

    #[test]
    fn a_failed_immediate_payout_fails_its_split_and_returns_the_money_at_once() {
        let account = AccountId::generate();
        let id = PayoutId::generate();
        let splits = vec![split(&account, 500, 0, &id)];
        let write = settle_payout(
            payout(&splits, PayoutTrigger::Immediate),
            splits,
            &failed(),
            at(),
        )
        .unwrap();
        assert_eq!(write.payout.unsettled_splits, 0);
        assert_eq!(write.splits[0].state, SplitState::Failed);
        assert_eq!(write.splits[0].attempts, 1);
        assert_eq!(write.movement.unwrap().kind, MovementKind::PayoutFailed);
        let types: Vec<_> = write.events.iter().map(|e| e.event_type).collect();
        assert_eq!(types, vec![EventType::PayoutFailed, EventType::SplitFailed]);
    }

    #[test]
    fn event_ids_name_the_fact_so_a_rewrite_cannot_record_it_twice() {
        let account = AccountId::generate();
        let id = PayoutId::generate();
        let splits = vec![split(&account, 100, 0, &id)];
        let p = payout(&splits, PayoutTrigger::Scheduled);
        let a = settle_payout(p.clone(), vec![], &paid(), at()).unwrap();
        let b = settle_payout(p, vec![], &paid(), at() + chrono::Duration::seconds(5)).unwrap();
        assert_eq!(a.events[0].id, b.events[0].id);
    }
}
