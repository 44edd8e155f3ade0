//! What the ledger needs from storage beyond the writes that book movements (those are part of
//! each aggregate's write): how a debit of `available` ended, and the statement's listing.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::ledger::Balance;
use crate::ledger::Movement;
use crate::pix::ids::AccountId;

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

/// The most movements one [`LedgerStore::movements_page`] returns.
pub const MAX_MOVEMENTS_PER_PAGE: u32 = 100;

/// Up to `limit` movements and whether any other movement of the query follows them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MovementPage {
    pub movements: Vec<Movement>,
    /// Set by the adapter, which looked past the page: a page shorter than asked (the limit
    /// clamped, say) says nothing about what follows, and a full page may be the last.
    pub more: bool,
}

/// Reads of the ledger: balances (whole and by shard) and movements.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// The account's balance: the sum of its balance shards. Strongly consistent.
    async fn get_balance(&self, account: &AccountId) -> Result<Balance, StoreError>;

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

    /// Every movement of the account, oldest first (audits and reconciliation; the paged
    /// statement reads the same index). May lag a moment behind writes on DynamoDB (index).
    async fn list_movements(&self, account: &AccountId) -> Result<Vec<Movement>, StoreError>;

    /// Whether a movement with this id exists. Strongly consistent.
    async fn movement_exists(&self, movement_id: &str) -> Result<bool, StoreError>;
}
