//! What storage must do for splits: book a confirmed charge's splits in one atomic write.

use crate::ledger::Movement;
use crate::messaging::outbox::OutboxMessage;
use crate::payout::Payout;
use crate::pix::ids::{AccountId, TransactionId};
use crate::split::entry::SplitEntry;

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
