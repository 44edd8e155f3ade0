//! `X-Idempotency-Key`: a request's key is claimed with one conditional write and completed in
//! the same atomic write as the request's effect, so a retry replays the first response and
//! never repeats the effect.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::pix::ids::AccountId;

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
