//! What storage must do for accounts and their API credentials.

use async_trait::async_trait;

use crate::account::{Account, ClientCredential};
use crate::error::StoreError;
use crate::pix::ids::AccountId;
use crate::refund::RefundLiability;

// Accounts

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Stores a new account, its first client credential and its default payout schedule
    /// ([`ScheduleState::initial`](crate::schedule::ports::ScheduleState::initial) at
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
    /// ([`validate_provider_list`](crate::provider::directory::validate_provider_list)).
    async fn set_account_providers(
        &self,
        id: &AccountId,
        providers: &[String],
    ) -> Result<(), AccountUpdateError>;

    /// Replaces the account's refund policy ([`Account::refund_liability`]) with one
    /// conditional write: the account must exist, and nothing else on it changes.
    async fn set_refund_liability(
        &self,
        id: &AccountId,
        liability: RefundLiability,
    ) -> Result<(), AccountUpdateError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateAccountError {
    #[error("account or client id already exists")]
    AlreadyExists,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountUpdateError {
    #[error("account not found")]
    AccountNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}
