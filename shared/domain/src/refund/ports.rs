//! What storage must do for a refund: one atomic write that records it on the charge, reduces
//! the splits it reduces, adds the recipient debts it creates, draws the money from the ledger
//! and queues the provider call.

use async_trait::async_trait;

use crate::charge::ports::ChargeTransition;
use crate::charge::{Charge, ChargeStatus};
use crate::error::{StoreError, WriteOutcome};
use crate::idempotency::IdempotencyCompletion;
use crate::ledger::ports::MoneyOutOutcome;
use crate::ledger::{AvailableDraw, Movement};
use crate::messaging::outbox::OutboxMessage;
use crate::pix::money::Money;
use crate::recipient::{DebtForgiveness, RecipientTotals};
use crate::refund::liability::DebtIncrease;
use crate::split::entry::SplitEntry;

/// A split a refund reduces (or cancels) — or a refused refund restores — as it will be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReducedSplit {
    pub entry: SplitEntry,
    /// Its `refunded` as read: the write requires it unchanged.
    pub refunded_before: Money,
}

/// A refund requested: its money is set aside (it leaves the merchant's buckets for the PIX
/// network) in the same write that records it, so it cannot be spent twice while the provider
/// works.
///
/// Conditions: the charge is stored with status `from` and refund revision `from_revision`
/// (every refund write bumps it, so of two concurrent refunds of a charge one fails here and
/// plans again: Σ refunds ≤ amount, always); each reduced split is stored SCHEDULED, in no
/// payout, of the charge's account, with `refunded_before` (the payout scheduler attaches only
/// SCHEDULED splits and requires their `refunded` unchanged, so a split is either reduced here
/// or paid there with what it was read with, never both); the movement does not exist; every
/// shard in `draw` holds its part of `available`; the idempotency claim (if any) is still ours.
/// Effects: the charge is replaced by `charge`; each reduced split by its new version; each
/// recipient's debt grows by its increase (its item created on the first debt); the
/// recipients' totals change (`recipients`); the movement
/// and its shard updates; the outbox messages (the `RefundRequested` that makes the refund
/// executor call the provider); the completion.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRefund {
    pub charge: Charge,
    pub from: ChargeStatus,
    pub from_revision: u32,
    pub reduced: Vec<ReducedSplit>,
    pub debts: Vec<DebtIncrease>,
    /// Each reduced split's recipient: `scheduled` drops by what it gave up.
    pub recipients: Vec<RecipientTotals>,
    pub movement: Movement,
    pub draw: AvailableDraw,
    pub outbox: Vec<OutboxMessage>,
    pub completion: Option<IdempotencyCompletion>,
}

/// A refund the provider refused: the parties get back what it took from them, where that is
/// still possible (see [`crate::flows::refund::refund_failure`]).
///
/// Conditions: those of `transition` (the charge at its status and refund revision; the
/// movement and events absent); each restored split stored SCHEDULED or CANCELLED, in no
/// payout, of the charge's account, with `refunded_before`; each forgiven recipient at its
/// `version_read`. Effects: the transition's; each restored split replaced by its version
/// (SCHEDULED again, `refunded` lower); each forgiveness applied; the recipients' totals
/// changed (`scheduled` grows by what the restored splits pay again).
#[derive(Debug, Clone, PartialEq)]
pub struct FailRefund {
    pub transition: ChargeTransition,
    pub restored: Vec<ReducedSplit>,
    pub forgiven: Vec<DebtForgiveness>,
    pub recipients: Vec<RecipientTotals>,
}

/// Refund writes.
#[async_trait]
pub trait RefundStore: Send + Sync {
    /// See [`RequestRefund`].
    async fn request_refund(&self, write: &RequestRefund) -> Result<MoneyOutOutcome, StoreError>;

    /// See [`FailRefund`].
    async fn fail_refund(&self, write: &FailRefund) -> Result<WriteOutcome, StoreError>;
}
