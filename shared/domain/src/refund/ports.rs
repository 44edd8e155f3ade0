//! What storage must do for a refund: one atomic write that marks the charge, cancels or
//! checks its splits, draws the money from the ledger and queues the provider call.

use crate::charge::Charge;
use crate::error::StoreError;
use crate::idempotency::IdempotencyCompletion;
use crate::ledger::ports::MoneyOutOutcome;
use crate::ledger::{AvailableDraw, Movement};
use crate::messaging::outbox::OutboxMessage;
use crate::split::entry::SplitEntry;
use async_trait::async_trait;

/// Whether the splits of the charge being refunded were booked when the refund was planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundSplits {
    /// Not booked: the whole amount is still in `incoming`. Condition: the charge's
    /// `SplitsBooked` movement (`splits:{transactionId}`) does not exist, so the split
    /// calculator cannot book them under the refund (it also needs the charge CONFIRMED).
    NotBooked,
    /// Booked: these SCHEDULED ones are cancelled by the refund (their reserve pays part of
    /// it). Condition: each is stored SCHEDULED with no payout (the payout scheduler attaches
    /// only SCHEDULED splits, so a split is either cancelled here or paid there, never both).
    /// Effects: each is replaced by the given CANCELLED version.
    Booked { cancelled: Vec<SplitEntry> },
}

/// CONFIRMED → REFUND_PROCESSING: the refund's money is set aside (it leaves the merchant's
/// buckets for the PIX network) in the same write that records the request.
///
/// Conditions: the charge is stored CONFIRMED; those of `splits`; the movement does not exist;
/// every shard in `draw` holds its part of `available`; the idempotency claim (if any) is still
/// ours.
/// Effects: the charge is replaced by `charge` (REFUND_PROCESSING with its refund); the
/// cancelled splits; the movement and its shard updates; the outbox messages (the
/// `RefundRequested` that makes the refund executor call the provider); the completion.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRefund {
    pub charge: Charge,
    pub splits: RefundSplits,
    pub movement: Movement,
    pub draw: AvailableDraw,
    pub outbox: Vec<OutboxMessage>,
    pub completion: Option<IdempotencyCompletion>,
}

/// Refund writes.
#[async_trait]
pub trait RefundStore: Send + Sync {
    /// See [`RequestRefund`].
    async fn request_refund(&self, write: &RequestRefund) -> Result<MoneyOutOutcome, StoreError>;
}
