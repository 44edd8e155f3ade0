//! What storage must do for payouts beyond a payout run: settle one with its splits, ledger
//! and events in one atomic write, and list an account's payouts by an opaque cursor.

use chrono::{DateTime, Utc};

use crate::ledger::Movement;
use crate::messaging::events::AccountEvent;
use crate::messaging::outbox::OutboxMessage;
use crate::payout::PayoutState;
use crate::payout::{Payout, PayoutId};
use crate::split::entry::SplitEntry;

/// PROCESSING → PAID or FAILED, for a payout and the splits it carries inline.
///
/// Conditions: the payout's stored state is `PROCESSING`; every listed split's stored state is
/// `PROCESSING` with `payout_id` = this payout; the movement and the events do not exist.
/// Effects: the payout and the splits are replaced by the given (settled) versions; the
/// movement (if any) and its balance shard; the events; the outbox messages.
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
