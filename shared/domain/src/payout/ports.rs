//! What storage must do for payouts beyond a payout run: settle one with its splits, ledger
//! and events in one atomic write, and list an account's payouts by an opaque cursor.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::error::WriteOutcome;
use crate::ledger::Movement;
use crate::messaging::events::AccountEvent;
use crate::messaging::outbox::OutboxMessage;
use crate::payout::PayoutState;
use crate::payout::SplitRef;
use crate::payout::runs::SettleSplits;
use crate::payout::{Payout, PayoutId};
use crate::pix::ids::{AccountId, RecipientId};
use crate::recipient::{DebtPart, Recipient, RecipientTotals};
use crate::split::entry::SplitEntry;

/// PROCESSING → PAID or FAILED, for a payout and the splits it carries inline.
///
/// Conditions: the payout's stored state is `PROCESSING` and its stored deductions are
/// `payout.deductions` (a settlement computed before the netting would wipe them); every
/// listed split's stored state is `PROCESSING` with `payout_id` = this payout; the movement
/// and the events do not exist; those of `recipient` ([`DebtSettlement`]).
/// Effects: the payout and the splits are replaced by the given (settled) versions; the
/// movement (if any) and its balance shard; the events; the outbox messages; the recipient's
/// debt settlement.
///
/// An immediate payout settles its one split here. A scheduled payout lists no split: its
/// manifest is settled afterwards in chunks
/// ([`SettleSplits`](crate::payout::runs::SettleSplits)), and a FAILED one moves no money
/// here (its splits go back to SCHEDULED, or their money returns chunk by chunk).
#[derive(Debug, Clone, PartialEq)]
pub struct SettlePayout {
    pub payout: Payout,
    pub splits: Vec<SplitEntry>,
    pub movement: Option<Movement>,
    pub events: Vec<AccountEvent>,
    pub outbox: Vec<OutboxMessage>,
    /// What the settlement does to the recipient's debt, when the payout had deductions.
    pub recipient: Option<DebtSettlement>,
    /// The recipient's totals: PAID, `scheduled` − gross and `paid` + net; an immediate payout
    /// FAILED, `scheduled` − gross; none for a failed scheduled payout (its splits settle in
    /// chunks).
    pub totals: Option<RecipientTotals>,
}

/// A settled payout's deductions, on its recipient's item (see [`crate::recipient`]).
///
/// Conditions: the recipient item exists with `recovering` ≥ Σ of the parts.
/// Effects: `recovering` drops by Σ; when `restore`, the parts go back to the front of
/// `open_debts` and `debt` grows by Σ (the payout FAILED: nothing was recovered). Neither
/// needs the version the executor read: both commute with a refund adding to the queue's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebtSettlement {
    pub recipient_id: RecipientId,
    pub parts: Vec<DebtPart>,
    /// FAILED: the parts are owed again.
    pub restore: bool,
}

/// A PROCESSING payout's deductions decided, just before its transfer.
///
/// Conditions: the payout is stored PROCESSING with no deductions decided; when `recipient`
/// is given, the recipient item is stored with the version it was read with (`version` − 1).
/// Effects: the payout's deductions are stored (maybe empty); the recipient's debt queue
/// (`open_debts`, `debt`, `version`) becomes `recipient`'s, and its `recovering` GROWS by the
/// payout's deductions — it is not set from `recipient`: a payout settling PAID meanwhile
/// lowers `recovering` without bumping the version, and must not be undone. Nothing else of
/// the recipient changes (its totals change by addition elsewhere).
#[derive(Debug, Clone, PartialEq)]
pub struct DecideNetting {
    pub payout: Payout,
    pub recipient: Option<Recipient>,
}

/// Which of an account's payouts to list, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutQuery {
    /// ASSEMBLING payouts are never listed (they are not payouts yet); filtering by it lists
    /// nothing.
    pub state: Option<PayoutState>,
    /// `created_at` ≥ `from`.
    pub from: Option<DateTime<Utc>>,
    /// `created_at` ≤ `to`.
    pub to: Option<DateTime<Utc>>,
    /// 1..=100.
    pub limit: u32,
    /// Continue strictly after this position.
    pub after: Option<PayoutCursor>,
}

/// A position in the newest-first payout listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutCursor {
    pub created_at: DateTime<Utc>,
    pub payout_id: PayoutId,
}

impl PayoutCursor {
    pub fn of(payout: &Payout) -> PayoutCursor {
        PayoutCursor {
            created_at: payout.created_at,
            payout_id: payout.id.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutPage {
    pub items: Vec<Payout>,
    /// Present when more payouts may follow.
    pub next: Option<PayoutCursor>,
}

/// Payouts: read, list, and settle (whole, or a scheduled payout's splits chunk by chunk).
#[async_trait]
pub trait PayoutStore: Send + Sync {
    /// The most splits one [`SettleSplits`] may carry: the adapter's limit on one atomic write
    /// (DynamoDB: each split may bring its own event, 2 items per split, plus the payout, a
    /// movement and its balance shard, within 100 items). The executor chunks by it.
    fn max_splits_per_settle(&self) -> usize;

    /// Strongly consistent.
    async fn get_payout(&self, id: &PayoutId) -> Result<Option<Payout>, StoreError>;

    /// The account's payouts (every trigger; never ASSEMBLING ones), newest first by
    /// `created_at` then id, filtered by `query`.
    async fn list_payouts(
        &self,
        account: &AccountId,
        query: &PayoutQuery,
    ) -> Result<PayoutPage, StoreError>;

    async fn settle_payout(&self, write: &SettlePayout) -> Result<WriteOutcome, StoreError>;

    /// See [`DecideNetting`]. One atomic write.
    async fn decide_netting(&self, write: &DecideNetting) -> Result<WriteOutcome, StoreError>;

    /// The splits a scheduled payout pays (its manifest), `limit` (at least one) at a time, in
    /// key order after `after`; and the cursor of the next page, `None` exactly when no key
    /// follows (the adapter looks one past the page: a full last page has no cursor).
    async fn payout_splits_page(
        &self,
        payout: &PayoutId,
        after: Option<&SplitRef>,
        limit: usize,
    ) -> Result<(Vec<SplitRef>, Option<SplitRef>), StoreError>;

    /// See [`SettleSplits`]. One atomic write.
    async fn settle_payout_splits(&self, write: &SettleSplits) -> Result<WriteOutcome, StoreError>;
}
