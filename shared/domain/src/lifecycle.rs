//! The money-lifecycle ports: what refunds, cash-outs, charge expiry and the statement need
//! from storage.
//!
//! As in [`crate::settlement`], each write is ONE atomic conditional write (a
//! `TransactWriteItems` on DynamoDB, one write transaction in the embedded store): the state
//! change, the ledger movement it causes with its balance shard updates
//! ([`crate::ledger::shard_updates`]: a debit of `available` is conditioned per shard, so a
//! balance never goes negative), the events and the outbox messages. If any condition fails
//! nothing is written.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::cashout::{CashOut, CashOutId, CashOutPage, CashOutQuery, CashOutState};
use crate::charge::{Charge, ChargeStatus};
use crate::error::StoreError;
use crate::events::AccountEvent;
use crate::ids::{AccountId, TransactionId};
use crate::ledger::{AvailableDraw, Balance, Movement};
use crate::outbox::OutboxMessage;
use crate::payout::SplitEntry;
use crate::ports::IdempotencyCompletion;
use crate::settlement::WriteOutcome;

/// Replaces a charge whose stored status is `from` (a status transition of its own: expiry,
/// a refund's settlement).
///
/// Conditions: the charge is stored with status `from`; the movement (if any) and the events do
/// not exist.
/// Effects: the charge is replaced by `charge` (its status index keys follow its status; the
/// expiry index entry exists only while PENDING); the movement with its shard updates (no
/// draw: a transition only credits `available` or moves money out of other buckets); the
/// events; the outbox messages.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargeTransition {
    pub charge: Charge,
    pub from: ChargeStatus,
    pub movement: Option<Movement>,
    pub events: Vec<AccountEvent>,
    pub outbox: Vec<OutboxMessage>,
}

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

/// Creates a cash-out (PROCESSING) and takes its amount out of `available`.
///
/// Conditions: no cash-out with this id; the account has no cash-out with this `externalId`
/// (a guard item created here); the movement does not exist; every shard in `draw` holds its
/// part; the idempotency claim (if any) is still ours.
/// Effects: the cash-out, its externalId guard and listing keys; the movement and its shard
/// updates; the outbox messages (`CashoutRequested`); the completion.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestCashOut {
    pub cash_out: CashOut,
    pub movement: Movement,
    pub draw: AvailableDraw,
    pub outbox: Vec<OutboxMessage>,
    pub completion: Option<IdempotencyCompletion>,
}

/// Replaces a cash-out whose stored state is `from` (its settlement, or recording the
/// provider's transfer id while it is still PROCESSING).
///
/// Conditions: the cash-out is stored with state `from`; the movement (if any) and the events
/// do not exist.
/// Effects: the cash-out is replaced; the movement (a FAILED cash-out's money back to
/// `available`) with its shard updates; the events.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateCashOut {
    pub cash_out: CashOut,
    pub from: CashOutState,
    pub movement: Option<Movement>,
    pub events: Vec<AccountEvent>,
}

/// How a write that may debit `available` ended. Adapters tell the failed conditions apart
/// (DynamoDB's cancellation reasons name the item), so callers know what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneyOutOutcome {
    Applied,
    /// A shard of the draw no longer holds its part: read the balance again and re-plan.
    BalanceChanged,
    /// The account already has a cash-out with this `externalId`.
    DuplicateExternalId,
    /// The idempotency claim presented was taken over by a retry of the same request.
    ClaimLost,
    /// Another condition failed (the charge or a split changed, the id exists): re-read.
    Conflict,
}

/// A position in the chronological movement listing (the statement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovementCursor {
    pub created_at: DateTime<Utc>,
    pub movement_id: String,
}

/// Which of an account's movements to read, oldest first (by `created_at`, then id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovementQuery {
    /// `created_at` ≥ `from`.
    pub from: Option<DateTime<Utc>>,
    /// `created_at` < `to`.
    pub to: Option<DateTime<Utc>>,
    /// Start at this position: including it when `inclusive`, strictly after it otherwise.
    pub start: Option<MovementCursor>,
    pub inclusive: bool,
    /// 1..=[`MAX_MOVEMENTS_PER_PAGE`]; adapters clamp anything else into that range.
    pub limit: u32,
}

/// The most movements one [`LifecycleStore::movements_page`] returns.
pub const MAX_MOVEMENTS_PER_PAGE: u32 = 100;

/// Up to `limit` movements and whether any other movement of the query follows them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MovementPage {
    pub movements: Vec<Movement>,
    /// Set by the adapter, which looked past the page: a page shorter than asked (the limit
    /// clamped, say) says nothing about what follows, and a full page may be the last.
    pub more: bool,
}

#[async_trait]
pub trait LifecycleStore: Send + Sync {
    /// See [`ChargeTransition`].
    async fn transition_charge(&self, write: &ChargeTransition)
    -> Result<WriteOutcome, StoreError>;

    /// See [`RequestRefund`].
    async fn request_refund(&self, write: &RequestRefund) -> Result<MoneyOutOutcome, StoreError>;

    /// Whether a movement with this id exists. Strongly consistent.
    async fn movement_exists(&self, movement_id: &str) -> Result<bool, StoreError>;

    /// Up to `limit` charges stored PENDING whose `expires_at` ≤ `now`, soonest-expired first,
    /// through the expiry index (never a scan). May lag a moment behind writes on DynamoDB
    /// (index): the sweeper's transition re-checks the status.
    async fn expired_pending_charges(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Charge>, StoreError>;

    /// The account's balance shard by shard, as (shard, balance) for the shards that exist
    /// (the embedded store keeps one row: it reports it as shard 0). Strongly consistent: a
    /// debit is planned from it ([`AvailableDraw::plan`]).
    async fn balance_shards(&self, account: &AccountId) -> Result<Vec<(u32, Balance)>, StoreError>;

    /// A page of the account's movements per `query`, oldest first, through the ledger index,
    /// and whether more follow it.
    async fn movements_page(
        &self,
        account: &AccountId,
        query: &MovementQuery,
    ) -> Result<MovementPage, StoreError>;

    /// See [`RequestCashOut`].
    async fn request_cash_out(&self, write: &RequestCashOut)
    -> Result<MoneyOutOutcome, StoreError>;

    /// See [`UpdateCashOut`].
    async fn update_cash_out(&self, write: &UpdateCashOut) -> Result<WriteOutcome, StoreError>;

    /// Strongly consistent.
    async fn get_cash_out(&self, id: &CashOutId) -> Result<Option<CashOut>, StoreError>;

    async fn find_cash_out_by_external_id(
        &self,
        account: &AccountId,
        external_id: &str,
    ) -> Result<Option<CashOut>, StoreError>;

    /// The account's cash-outs, newest first, through keys/indexes only.
    async fn list_cash_outs(
        &self,
        account: &AccountId,
        query: &CashOutQuery,
    ) -> Result<CashOutPage, StoreError>;
}

/// The charge a refund reference (`{transactionId}#{attempt}`) belongs to.
pub fn refund_reference_charge(reference: &str) -> Option<TransactionId> {
    let (id, attempt) = reference.split_once('#')?;
    attempt.parse::<u32>().ok()?;
    TransactionId::parse(id)
}
