//! What storage must do for splits: book a confirmed charge's splits in one atomic write.

use crate::dispute::ports::OwedRepayment;
use crate::error::StoreError;
use crate::error::WriteOutcome;
use crate::ledger::Movement;
use crate::messaging::outbox::OutboxMessage;
use crate::payout::Payout;
use crate::pix::ids::{AccountId, TransactionId};
use crate::recipient::RecipientTotals;
use crate::split::entry::SplitEntry;
use async_trait::async_trait;

/// Books a confirmed charge's splits.
///
/// Conditions: the charge's status is `CONFIRMED` and it is not under a cautelar hold in force
/// (`hold` absent or not HELD); none of the split entries, payouts or the
/// movement exist yet; each repaid dispute is stored at its `from_version`.
/// Effects: creates every split entry and payout, the movement and its balance shard, the
/// outbox messages; adds each recipient's totals (creating the recipient on its first);
/// replaces each repaid dispute (what it owes paid from the account's part of the credit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookSplits {
    pub transaction_id: TransactionId,
    pub account_id: AccountId,
    pub splits: Vec<SplitEntry>,
    pub payouts: Vec<Payout>,
    pub movement: Movement,
    pub outbox: Vec<OutboxMessage>,
    /// Each recipient's `scheduled` grows by its shares (one per recipient).
    pub recipients: Vec<RecipientTotals>,
    /// The disputes whose `owed` the account's part pays first (the movement's `owed` leg).
    pub repayments: Vec<OwedRepayment>,
}

/// Booked splits.
#[async_trait]
pub trait SplitStore: Send + Sync {
    async fn book_splits(&self, write: &BookSplits) -> Result<WriteOutcome, StoreError>;

    /// A charge's booked splits, by index (empty before booking). Strongly consistent.
    async fn get_splits(&self, id: &TransactionId) -> Result<Vec<SplitEntry>, StoreError>;
}
