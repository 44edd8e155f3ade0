//! A split that fails for good was never received by its recipient, so the recipient owes
//! nothing for it: the debts refunds gave it for that split (its `DEBT` parts — the split was
//! in a payout when the refund came) are written off once its payout has settled FAILED.
//!
//! Run after every settlement of a FAILED payout — by the executor and by the provider's
//! report — and again by every redelivery until written: idempotent by the movement's id
//! (one write-off per payout). Only what is still queued is written off; a part a payout
//! already took is that payout's to settle (see [`crate::recipient`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::info;

use crate::charge::Charge;
use crate::charge::ports::ChargeStore;
use crate::error::{DomainError, StoreError, WriteOutcome};
use crate::ledger::ports::LedgerStore;
use crate::ledger::{Bucket, LedgerAccount, Leg, Movement, MovementKind};
use crate::payout::ports::PayoutStore;
use crate::payout::{Payout, PayoutState, SplitRef};
use crate::pix::ids::{RecipientId, TransactionId};
use crate::pix::money::Money;
use crate::recipient::ports::{RecipientStore, WriteOffDebts};
use crate::recipient::{ForgivenClaim, Recipient};
use crate::refund::RefundState;
use crate::refund::liability::SplitPartKind;
use crate::split::entry::{SplitEntry, SplitState};
use crate::split::ports::SplitStore;

/// How often the write-off is planned again when the recipient changed under it.
const ATTEMPTS: usize = 5;

/// The storage ports the write-off uses.
#[derive(Clone)]
pub struct WriteOffPorts {
    pub payouts: Arc<dyn PayoutStore>,
    pub splits: Arc<dyn SplitStore>,
    pub charges: Arc<dyn ChargeStore>,
    pub recipients: Arc<dyn RecipientStore>,
    pub ledger: Arc<dyn LedgerStore>,
}

/// Writes off what `payout` leaves its recipient owing for splits it failed for good; nothing
/// for a payout that is not FAILED or whose recipient owes nothing. Called once the payout and
/// all of its splits have settled.
pub async fn write_off_failed_splits(
    store: &WriteOffPorts,
    payout: &Payout,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    if payout.state != PayoutState::Failed {
        return Ok(());
    }
    let movement_id = MovementKind::DebtsWrittenOff.movement_id(payout.id.as_str());
    let recipient_id = RecipientId::derive(&payout.account_id, payout.recipient.grouping_key());
    for _ in 0..ATTEMPTS {
        let owing = store
            .recipients
            .get_recipient(&payout.account_id, &recipient_id)
            .await?
            .filter(|r| r.debt.cents() > 0);
        let Some(recipient) = owing else {
            return Ok(());
        };
        if store.ledger.movement_exists(&movement_id).await? {
            return Ok(());
        }
        let failed = failed_splits(store, payout).await?;
        let mut charges = Vec::new();
        let ids: BTreeSet<&TransactionId> = failed.iter().map(|s| &s.transaction_id).collect();
        for id in ids {
            if let Some(charge) = store.charges.get_charge(id).await? {
                charges.push(charge);
            }
        }
        let Some(write) = debts_written_off(payout, &failed, &charges, &recipient, now)? else {
            return Ok(());
        };
        if store.recipients.write_off_debts(&write).await? == WriteOutcome::Applied {
            info!(payout_id = %payout.id, written_off = %write.forgiveness.forgiven, "recipient debts written off");
            return Ok(());
        }
        // A refund or a netting changed the recipient meanwhile, or a redelivery wrote it.
    }
    Err(StoreError::Unavailable(format!(
        "the recipient of payout {} keeps changing under its write-off",
        payout.id
    ))
    .into())
}

/// The write-off of `failed` (splits `payout` failed for good, as stored) given their charges
/// and the recipient as read: `None` when nothing of theirs is still queued.
pub fn debts_written_off(
    payout: &Payout,
    failed: &[SplitEntry],
    charges: &[Charge],
    recipient: &Recipient,
    now: DateTime<Utc>,
) -> Result<Option<WriteOffDebts>, DomainError> {
    // Per refund of each charge: what its DEBT parts on the failed splits came to.
    let mut claims: BTreeMap<(TransactionId, String), ForgivenClaim> = BTreeMap::new();
    for split in failed {
        let Some(charge) = charges
            .iter()
            .find(|c| c.transaction_id == split.transaction_id)
        else {
            continue;
        };
        for refund in charge
            .refunds
            .iter()
            .filter(|r| r.state != RefundState::Failed)
        {
            let cents: i64 = refund
                .split_parts
                .iter()
                .filter(|p| p.kind == SplitPartKind::Debt && p.index == split.index)
                .map(|p| p.amount.cents())
                .sum();
            if cents == 0 {
                continue;
            }
            let claim = claims
                .entry((charge.transaction_id.clone(), refund.id.to_string()))
                .or_insert_with(|| ForgivenClaim {
                    refund_id: refund.id.clone(),
                    transaction_id: charge.transaction_id.clone(),
                    up_to: Money::ZERO,
                });
            claim.up_to = Money::from_cents(claim.up_to.cents() + cents);
        }
    }
    let claims: Vec<ForgivenClaim> = claims.into_values().collect();
    let Some(forgiveness) = recipient.forgive(&claims) else {
        return Ok(None);
    };
    let movement = Movement::new(
        MovementKind::DebtsWrittenOff,
        &payout.account_id,
        payout.id.as_str(),
        vec![
            Leg {
                account: LedgerAccount::Merchant(payout.account_id.clone(), Bucket::RecipientDebts),
                amount: Money::from_cents(-forgiveness.forgiven.cents()),
            },
            Leg {
                account: LedgerAccount::Recipient(
                    payout.account_id.clone(),
                    forgiveness.recipient_id.clone(),
                ),
                amount: forgiveness.forgiven,
            },
        ],
        now,
    )
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Some(WriteOffDebts {
        forgiveness,
        movement,
    }))
}

/// The splits `payout` failed for good, as stored: its inline split (immediate) or those of
/// its manifest (scheduled) that are FAILED and name it.
async fn failed_splits(
    store: &WriteOffPorts,
    payout: &Payout,
) -> Result<Vec<SplitEntry>, DomainError> {
    let mut refs: Vec<SplitRef> = payout.splits.clone();
    let mut after: Option<SplitRef> = None;
    if refs.is_empty() {
        loop {
            let (page, next) = store
                .payouts
                .payout_splits_page(
                    &payout.id,
                    after.as_ref(),
                    store.payouts.max_splits_per_settle(),
                )
                .await?;
            refs.extend(page);
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    let mut by_charge: BTreeMap<TransactionId, Vec<u8>> = BTreeMap::new();
    for r in refs {
        by_charge.entry(r.transaction_id).or_default().push(r.index);
    }
    let mut failed = Vec::new();
    for (id, indexes) in by_charge {
        failed.extend(store.splits.get_splits(&id).await?.into_iter().filter(|s| {
            indexes.contains(&s.index)
                && s.state == SplitState::Failed
                && s.payout_id.as_ref() == Some(&payout.id)
        }));
    }
    Ok(failed)
}
