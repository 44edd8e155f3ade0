//! Ports: what the domain needs from the outside world. Each has an AWS adapter and an
//! embedded/local adapter; one contract test suite (in `tests/`) holds them to the same rules.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::{Account, ClientCredential};
use crate::charge::{Charge, ChargeStatus};
use crate::cursor_text;
use crate::error::StoreError;
pub use crate::events::EventLog;
use crate::ids::{AccountId, TransactionId};
pub use crate::lifecycle::LifecycleStore;
pub use crate::scheduler_ports::PayoutRunStore;
pub use crate::scheduling::ScheduleStore;
pub use crate::settlement::SettlementStore;
pub use crate::webhooks::WebhookStore;

// ---------------------------------------------------------------------------------------------
// Clock

/// The only way the domain learns the time, so tests and the sandbox can move it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

// ---------------------------------------------------------------------------------------------
// Accounts

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Stores a new account, its first client credential and its default payout schedule
    /// ([`ScheduleState::initial`](crate::scheduling::ScheduleState::initial) at
    /// `account.created_at`, so the payout scheduler finds every account from its first day)
    /// atomically. Fails with [`CreateAccountError::AlreadyExists`] if either id is taken.
    async fn create_account(
        &self,
        account: &Account,
        credential: &ClientCredential,
    ) -> Result<(), CreateAccountError>;

    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError>;

    async fn find_client(&self, client_id: &str) -> Result<Option<ClientCredential>, StoreError>;

    /// Replaces the account's provider order ([`Account::providers`]; empty: the deployment's
    /// default order) with one conditional write: the account must exist, and nothing else on
    /// it changes. The caller validates the names
    /// ([`validate_provider_list`](crate::provider_directory::validate_provider_list)).
    async fn set_account_providers(
        &self,
        id: &AccountId,
        providers: &[String],
    ) -> Result<(), SetProvidersError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateAccountError {
    #[error("account or client id already exists")]
    AlreadyExists,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetProvidersError {
    #[error("account not found")]
    AccountNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

// ---------------------------------------------------------------------------------------------
// Idempotency

/// What `X-Idempotency-Key` remembers: the original response, replayed verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

/// Proof that this request holds the claim on an idempotency key; the write that finishes
/// the request must present it (the adapter checks `lock_token` in the same transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub account_id: AccountId,
    pub key: String,
    pub lock_token: String,
    /// When the record may be forgotten (claim time + 24 h).
    pub expires_at: DateTime<Utc>,
}

/// Completes a claim with the response to replay, inside the same atomic write as the effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyCompletion {
    pub claim: IdempotencyClaim,
    pub response: StoredResponse,
}

/// The outcome of trying to claim a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This request owns the key now and must complete or release it.
    Claimed(IdempotencyClaim),
    /// The key already finished with the same request: replay this.
    Replay(StoredResponse),
    /// The key belongs to a different request body.
    Mismatch,
    /// The same request is still running elsewhere.
    InUse,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest<'a> {
    pub account_id: &'a AccountId,
    pub key: &'a str,
    /// A digest of method, path and canonical body.
    pub request_hash: &'a str,
    pub lock_token: &'a str,
    pub now: DateTime<Utc>,
    /// Until when the claim is exclusive; after that a crashed owner's claim may be taken
    /// over by a retry with the same request.
    pub lease_until: DateTime<Utc>,
    /// When the record may be forgotten (24 h); an expired record counts as absent even if
    /// the storage's TTL has not removed it yet.
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for this request with one conditional write (no read-then-write race).
    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<ClaimOutcome, StoreError>;

    /// Completes a claim whose effect did not need its own transaction. No-op if the claim
    /// was lost (the lease expired and someone else took it over).
    async fn complete(&self, completion: &IdempotencyCompletion) -> Result<(), StoreError>;

    /// Gives the key up after a request that changed nothing (validation failure, conflict),
    /// so a corrected retry may use it again. Only the claim's owner can release it.
    async fn release(&self, claim: &IdempotencyClaim) -> Result<(), StoreError>;
}

// ---------------------------------------------------------------------------------------------
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
    /// [`ChargeCursor::decode`] accepts, exactly (see [`crate::cursor_text`]).
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

/// Everything the API needs from storage, as one object to pass around.
pub trait Store:
    AccountStore
    + IdempotencyStore
    + ChargeStore
    + SettlementStore
    + PayoutRunStore
    + EventLog
    + WebhookStore
    + LifecycleStore
{
}
impl<T> Store for T where
    T: AccountStore
        + IdempotencyStore
        + ChargeStore
        + SettlementStore
        + PayoutRunStore
        + EventLog
        + WebhookStore
        + LifecycleStore
{
}

pub type DynStore = Arc<dyn Store>;

// ---------------------------------------------------------------------------------------------
// PIX provider (its own module; re-exported here because every host wires it with the others)

pub use crate::provider::{PixProvider, ProviderCharge, ProviderChargeRequest};

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
