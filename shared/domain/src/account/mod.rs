//! Merchant accounts and their API credentials.

pub mod ports;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::pix::ids::AccountId;
use crate::refund::RefundLiability;

/// A merchant account. Secrets are not here: see [`ClientCredential`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    /// Legal or trade name, as the operator typed it.
    pub name: String,
    /// BR Code field 59: plain ASCII, ≤ 25 characters.
    pub merchant_name: String,
    /// BR Code field 60: plain ASCII, ≤ 15 characters.
    pub merchant_city: String,
    /// The account's `cryptoToken`, encrypted at rest (used to verify `DigitalSignature`).
    pub crypto_token_encrypted: String,
    /// The PIX providers new charges go to, in order (failover goes down the list); empty:
    /// the deployment's default order. Set by the operator (`pixgw account providers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    /// Who bears a refund that does not say (`PUT /api/account/refund-policy`).
    #[serde(default)]
    pub refund_liability: RefundLiability,
    pub created_at: DateTime<Utc>,
}

/// An API client of an account: `clientId` plus a slow hash of its `clientSecret`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCredential {
    pub client_id: String,
    pub account_id: AccountId,
    /// PHC string of a memory-hard hash (argon2id); the secret itself is never stored.
    pub secret_hash: String,
    pub created_at: DateTime<Utc>,
}
