//! What storage must do for charges: store and read them ([`ChargeStore`]), list them newest
//! first by an opaque cursor, and move them between states in atomic writes that also book the
//! ledger, the events and the outbox (`ConfirmCharge`, `ChargeTransition`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::charge::{Charge, ChargeHold, ChargeStatus};
use crate::error::StoreError;
use crate::error::WriteOutcome;
use crate::idempotency::IdempotencyCompletion;
use crate::ledger::Movement;
use crate::messaging::events::AccountEvent;
use crate::messaging::outbox::OutboxMessage;
use crate::pix::cursor_text;
use crate::pix::ids::{AccountId, TransactionId};
use crate::pix::payment::EndToEndId;
use crate::pix::payment::Payment;

// Charges

/// A position in a newest-first listing, opaque to API clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeCursor {
    /// `created_at` of the last item returned, in epoch milliseconds.
    #[serde(rename = "t")]
    pub created_at_ms: i64,
    #[serde(rename = "i")]
    pub transaction_id: TransactionId,
}

impl ChargeCursor {
    pub fn of(charge: &Charge) -> ChargeCursor {
        ChargeCursor {
            created_at_ms: charge.created_at.timestamp_millis(),
            transaction_id: charge.transaction_id.clone(),
        }
    }

    /// The grammar of [`ChargeCursor::encode`]'s text, `{createdAtMs}.{transactionId}`: what
    /// [`ChargeCursor::decode`] accepts, exactly (see [`crate::pix::cursor_text`]).
    pub const PATTERN: &'static str = r"^-?[0-9]{1,15}\.[0-9a-f]{32}$";

    pub fn encode(&self) -> String {
        format!(
            "{}.{}",
            cursor_text::write_ms(self.created_at_ms),
            self.transaction_id
        )
    }

    pub fn decode(text: &str) -> Option<ChargeCursor> {
        let (ms, id) = text.split_once('.')?;
        Some(ChargeCursor {
            created_at_ms: cursor_text::read_ms(ms)?,
            transaction_id: TransactionId::parse(id)?,
        })
    }
}

/// A listing of one account's charges, newest first, within `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeQuery {
    pub status: Option<ChargeStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// 1..=100.
    pub limit: u32,
    /// Continue strictly after this position.
    pub after: Option<ChargeCursor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present when more items may follow.
    pub next: Option<ChargeCursor>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InsertChargeError {
    #[error("externalId already used by this account")]
    DuplicateExternalId,
    /// The idempotency claim presented was no longer ours (lease expired and taken over).
    #[error("idempotency claim lost")]
    ClaimLost,
    #[error("transaction id collision")]
    IdCollision,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[async_trait]
pub trait ChargeStore: Send + Sync {
    /// Stores a new charge, its per-account `externalId` guard and (when present) the
    /// idempotency completion in ONE atomic conditional write.
    async fn insert_charge(
        &self,
        charge: &Charge,
        completion: Option<&IdempotencyCompletion>,
    ) -> Result<(), InsertChargeError>;

    /// A charge by id, whoever owns it (provider webhooks, the public PIX location).
    async fn get_charge(&self, id: &TransactionId) -> Result<Option<Charge>, StoreError>;

    /// An account's charge by its `externalId`.
    async fn find_charge_by_external_id(
        &self,
        account_id: &AccountId,
        external_id: &str,
    ) -> Result<Option<Charge>, StoreError>;

    /// An account's charges, newest first, through keys/indexes only (no scans).
    async fn list_charges(
        &self,
        account_id: &AccountId,
        query: &ChargeQuery,
    ) -> Result<Page<Charge>, StoreError>;
}

// PIX provider (its own module; re-exported here because every host wires it with the others)

/// How charges change state. Each write is ONE atomic conditional write that also books the
/// ledger movement, the events and the outbox messages the change causes.
#[async_trait]
pub trait ChargeTransitions: Send + Sync {
    async fn confirm_charge(&self, write: &ConfirmCharge) -> Result<WriteOutcome, StoreError>;

    /// See [`ChargeTransition`].
    async fn transition_charge(&self, write: &ChargeTransition)
    -> Result<WriteOutcome, StoreError>;

    /// The charge holding a payment's end-to-end id, if any.
    async fn find_charge_by_end_to_end_id(
        &self,
        id: &EndToEndId,
    ) -> Result<Option<TransactionId>, StoreError>;

    /// Up to `limit` charges stored PENDING whose `expires_at` ≤ `now`, soonest-expired first,
    /// through the expiry index (never a scan). May lag a moment behind writes on DynamoDB
    /// (index): the sweeper's transition re-checks the status.
    async fn expired_pending_charges(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Charge>, StoreError>;

    /// Up to `limit` charges whose cautelar hold is still HELD and whose `until` ≤ `now`,
    /// soonest first, through the hold index (never a scan; only HELD charges are in it). May
    /// lag a moment behind writes on DynamoDB: the release re-checks the hold.
    async fn held_charges_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Charge>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let cursor = ChargeCursor {
            created_at_ms: 1_705_314_600_000,
            transaction_id: TransactionId::generate(),
        };
        assert_eq!(ChargeCursor::decode(&cursor.encode()), Some(cursor.clone()));
        assert_eq!(
            cursor.encode(),
            format!("1705314600000.{}", cursor.transaction_id)
        );
        for bad in [
            "not-a-cursor",
            "1705314600000",
            "1705314600000.x",
            "1705314600000.co_0123456789abcdef0123456789abcdef",
            "x.0123456789abcdef0123456789abcdef",
            "eyJ0IjoxLCJpIjoieCJ9",
        ] {
            assert_eq!(ChargeCursor::decode(bad), None, "{bad}");
        }
    }
}

/// Replaces a charge whose stored status is `from` and refund revision `from_revision` (a
/// transition of its own: expiry, a refund's settlement).
///
/// Conditions: the charge is stored with status `from` and refund revision `from_revision`;
/// the movement (if any) and the events do not exist.
/// Effects: the charge is replaced by `charge` (its status index keys follow its status; the
/// expiry index entry exists only while PENDING, the hold index entry only while its hold is
/// HELD); the movement with its shard updates (no
/// draw: a transition only credits `available` or moves money out of other buckets); the
/// events; the outbox messages.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargeTransition {
    pub charge: Charge,
    pub from: ChargeStatus,
    pub from_revision: u32,
    pub movement: Option<Movement>,
    pub events: Vec<AccountEvent>,
    pub outbox: Vec<OutboxMessage>,
}

/// PENDING (or EXPIRED) → CONFIRMED.
///
/// Conditions: the charge exists with status `PENDING` or `EXPIRED` (a payment the PIX network
/// settled after the expiry sweeper ran is still money we hold: it is accepted, and the charge
/// reports `paidAfterExpiration`); no charge holds `payment.end_to_end_id`
/// yet (the end-to-end id guard, created here, is how the same payment reported twice is
/// recognised); the movement does not exist.
/// Effects: the charge's status (and its status index key) becomes `CONFIRMED` and it stores
/// `payment` and `hold` (when held, the charge enters the hold index); the guard `end_to_end_id → transaction_id`; the movement and its balance shard;
/// the outbox messages (none for a held payment: its release books it); the events
/// (`CASHIN_CONFIRMED`, or `CASHIN_HELD` for a held payment), each created only if absent.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmCharge {
    pub transaction_id: TransactionId,
    pub account_id: AccountId,
    pub payment: Payment,
    pub confirmed_at: DateTime<Utc>,
    /// A payment under a cautelar hold (HELD, `until` in whole milliseconds): its money goes to
    /// `held` (the movement) and nothing is booked until it is released.
    pub hold: Option<ChargeHold>,
    pub movement: Movement,
    pub events: Vec<AccountEvent>,
    pub outbox: Vec<OutboxMessage>,
}
