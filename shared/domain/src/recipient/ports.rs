//! What storage must do for recipients: read and list them, and write debts off. Every other
//! change of a recipient is part of the write that causes it: a booking, a refund, a payout's
//! netting or settlement (each carries its
//! [`RecipientTotals`](crate::recipient::RecipientTotals) or debt change).

use async_trait::async_trait;

use crate::error::{StoreError, WriteOutcome};
use crate::ledger::Movement;
use crate::pix::ids::{AccountId, RecipientId};
use crate::recipient::{DebtForgiveness, Recipient};

/// The most recipients one [`RecipientStore::list_recipients`] page holds.
pub const MAX_RECIPIENTS_PER_PAGE: usize = 100;

/// A recipient let off debts it owes for splits it never received (see
/// [`crate::ledger::MovementKind::DebtsWrittenOff`]).
///
/// Conditions: the forgiveness's (the recipient at the version read); the movement does not
/// exist. Effects: the forgiveness applied; the movement and its shard updates.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOffDebts {
    pub forgiveness: DebtForgiveness,
    pub movement: Movement,
}

#[async_trait]
pub trait RecipientStore: Send + Sync {
    /// See [`WriteOffDebts`].
    async fn write_off_debts(&self, write: &WriteOffDebts) -> Result<WriteOutcome, StoreError>;

    /// The account's recipient `id`, if any split or debt ever named it. Strongly consistent.
    async fn get_recipient(
        &self,
        account: &AccountId,
        id: &RecipientId,
    ) -> Result<Option<Recipient>, StoreError>;

    /// Up to `limit` (1..=[`MAX_RECIPIENTS_PER_PAGE`]; adapters clamp anything else) of the
    /// account's recipients in ascending id order, strictly after `after`; and the id to
    /// continue after, `None` exactly when no recipient follows (the adapter looks one past
    /// the page). Strongly consistent.
    async fn list_recipients(
        &self,
        account: &AccountId,
        after: Option<&RecipientId>,
        limit: usize,
    ) -> Result<(Vec<Recipient>, Option<RecipientId>), StoreError>;
}
