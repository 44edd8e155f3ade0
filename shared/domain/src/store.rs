//! Ports: what the domain needs from the outside world. Each has an AWS adapter and an
//! embedded/local adapter; one contract test suite (in `tests/`) holds them to the same rules.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::account::ports::AccountStore;
use crate::cash_out::CashOut;
use crate::cash_out::CashOutId;
use crate::cash_out::ports::CashOutPage;
use crate::cash_out::ports::CashOutQuery;
use crate::cash_out::ports::RequestCashOut;
use crate::cash_out::ports::UpdateCashOut;
use crate::charge::Charge;
use crate::charge::ports::ChargeStore;
use crate::charge::ports::ChargeTransition;
use crate::charge::ports::ConfirmCharge;
use crate::error::StoreError;
use crate::error::WriteOutcome;
use crate::idempotency::IdempotencyStore;
use crate::ledger::Balance;
use crate::ledger::Movement;
use crate::ledger::ports::MoneyOutOutcome;
use crate::ledger::ports::MovementPage;
use crate::ledger::ports::MovementQuery;
use crate::messaging::events::EventLog;
use crate::payout::Payout;
use crate::payout::PayoutId;
use crate::payout::ports::SettlePayout;
use crate::payout::runs::PayoutRunStore;
use crate::pix::ids::{AccountId, TransactionId};
use crate::pix::payment::EndToEndId;
use crate::refund::ports::RequestRefund;
use crate::split::entry::SplitEntry;
use crate::split::ports::BookSplits;
use crate::webhooks::WebhookStore;

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
