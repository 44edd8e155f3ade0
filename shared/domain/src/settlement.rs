//! The settlement port: what the confirmation → splits → payouts pipeline needs from storage.
//!
//! Each write below is ONE atomic conditional write (a `TransactWriteItems` on DynamoDB, one
//! write transaction in the embedded store) that changes a state, books the ledger movement the
//! change causes, adds the movement to one balance shard and stores the outbox messages for
//! the next stage. Either all of it happens or none of it; if any condition fails the result is
//! [`WriteOutcome::Conflict`] and nothing changed. Callers re-read to learn why (usually: a
//! redelivery of work already done).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::events::AccountEvent;
use crate::ids::{AccountId, TransactionId};
use crate::ledger::{Balance, Movement};
use crate::outbox::OutboxMessage;
use crate::payment::{EndToEndId, Payment};
use crate::payout::{Payout, PayoutId, SplitEntry};

/// Whether a conditional write happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Applied,
    /// A condition failed; nothing was written.
    Conflict,
}

/// PENDING (or EXPIRED) → CONFIRMED.
///
/// Conditions: the charge exists with status `PENDING` or `EXPIRED` (a payment the PIX network
/// settled after the expiry sweeper ran is still money we hold: it is accepted, and the charge
/// reports `paidAfterExpiration`); no charge holds `payment.end_to_end_id`
/// yet (the end-to-end id guard, created here, is how the same payment reported twice is
/// recognised); the movement does not exist.
/// Effects: the charge's status (and its status index key) becomes `CONFIRMED` and it stores
/// `payment`; the guard `end_to_end_id → transaction_id`; the movement and its balance shard;
/// the outbox messages; the events (`CASHIN_CONFIRMED`), each created only if absent.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmCharge {
    pub transaction_id: TransactionId,
    pub account_id: AccountId,
    pub payment: Payment,
    pub confirmed_at: DateTime<Utc>,
    pub movement: Movement,
    pub events: Vec<AccountEvent>,
    pub outbox: Vec<OutboxMessage>,
}

/// Books a confirmed charge's splits.
///
/// Conditions: the charge's status is `CONFIRMED`; none of the split entries, payouts or the
/// movement exist yet.
/// Effects: creates every split entry and payout, the movement and its balance shard, the
/// outbox messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookSplits {
    pub transaction_id: TransactionId,
    pub account_id: AccountId,
    pub splits: Vec<SplitEntry>,
    pub payouts: Vec<Payout>,
    pub movement: Movement,
    pub outbox: Vec<OutboxMessage>,
}

/// PROCESSING → PAID or FAILED, for a payout and the splits it carries inline.
///
/// Conditions: the payout's stored state is `PROCESSING`; every listed split's stored state is
/// `PROCESSING` with `payout_id` = this payout; the movement and the events do not exist.
/// Effects: the payout and the splits are replaced by the given (settled) versions; the
/// movement (if any) and its balance shard; the events; the outbox messages.
///
/// An immediate payout settles its one split here. A scheduled payout lists no split: its
/// manifest is settled afterwards in chunks
/// ([`SettleSplits`](crate::scheduler_ports::SettleSplits)), and a FAILED one moves no money
/// here (its splits go back to SCHEDULED, or their money returns chunk by chunk).
#[derive(Debug, Clone, PartialEq)]
pub struct SettlePayout {
    pub payout: Payout,
    pub splits: Vec<SplitEntry>,
    pub movement: Option<Movement>,
    pub events: Vec<AccountEvent>,
    pub outbox: Vec<OutboxMessage>,
}

#[async_trait]
pub trait SettlementStore: Send + Sync {
    async fn confirm_charge(&self, write: &ConfirmCharge) -> Result<WriteOutcome, StoreError>;

    async fn book_splits(&self, write: &BookSplits) -> Result<WriteOutcome, StoreError>;

    async fn settle_payout(&self, write: &SettlePayout) -> Result<WriteOutcome, StoreError>;

    /// The charge holding a payment's end-to-end id, if any.
    async fn find_charge_by_end_to_end_id(
        &self,
        id: &EndToEndId,
    ) -> Result<Option<TransactionId>, StoreError>;

    /// A charge's booked splits, by index (empty before booking). Strongly consistent.
    async fn get_splits(&self, id: &TransactionId) -> Result<Vec<SplitEntry>, StoreError>;

    /// Strongly consistent.
    async fn get_payout(&self, id: &PayoutId) -> Result<Option<Payout>, StoreError>;

    /// The account's balance: the sum of its balance shards. Strongly consistent.
    async fn get_balance(&self, account: &AccountId) -> Result<Balance, StoreError>;

    /// Every movement of the account, oldest first (audits and reconciliation; the paged
    /// statement reads the same index). May lag a moment behind writes on DynamoDB (index).
    async fn list_movements(&self, account: &AccountId) -> Result<Vec<Movement>, StoreError>;
}

/// Reads committed outbox messages so a relay can move them to their queues.
#[async_trait]
pub trait OutboxFeed: Send + Sync {
    /// Up to `max` messages not yet acked (oldest first where the adapter can tell). A message
    /// may be returned again until acked.
    async fn poll_outbox(&self, max: usize) -> Result<Vec<OutboxMessage>, StoreError>;

    /// Marks messages as relayed. Unknown ids are ignored.
    async fn ack_outbox(&self, ids: &[String]) -> Result<(), StoreError>;
}
