//! Booked splits: one [`SplitEntry`] per split rule of a confirmed charge, its share already
//! computed (see [`crate::split`] for the rounding), waiting to be paid `immediate`ly or on the
//! account's payout schedule.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::charge::ChargeSplit;
use crate::payout::PayoutId;
use crate::payout::PayoutRecipient;
use crate::payout::SplitRef;
use crate::pix::ids::{AccountId, TransactionId};
use crate::pix::money::Money;
use crate::pix::payment::EndToEndId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SplitState {
    Scheduled,
    Processing,
    Paid,
    Failed,
    Cancelled,
}

impl SplitState {
    pub const ALL: [SplitState; 5] = [
        SplitState::Scheduled,
        SplitState::Processing,
        SplitState::Paid,
        SplitState::Failed,
        SplitState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SplitState::Scheduled => "SCHEDULED",
            SplitState::Processing => "PROCESSING",
            SplitState::Paid => "PAID",
            SplitState::Failed => "FAILED",
            SplitState::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(s: &str) -> Option<SplitState> {
        SplitState::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// A split of a confirmed charge, booked in the ledger and waiting for (or done with) its
/// payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitEntry {
    pub transaction_id: TransactionId,
    pub account_id: AccountId,
    /// Position in the charge's `splits` (0-based), which makes the entry's key.
    pub index: u8,
    pub split: ChargeSplit,
    pub state: SplitState,
    pub payout_id: Option<PayoutId>,
    pub end_to_end_id: Option<EndToEndId>,
    pub failure_reason: Option<String>,
    /// Payouts of this split that failed so far. A scheduled split whose payout fails goes
    /// back to SCHEDULED for the next window until this reaches [`MAX_PAYOUT_ATTEMPTS`].
    pub attempts: u8,
    /// What refunds took of the share before it was paid (see
    /// [`crate::refund::liability`]): the split pays [`SplitEntry::payable`].
    pub refunded: Money,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SplitEntry {
    pub fn key(&self) -> SplitRef {
        SplitRef {
            transaction_id: self.transaction_id.clone(),
            index: self.index,
        }
    }

    /// What a payout of this split transfers: its share less what refunds took.
    pub fn payable(&self) -> Money {
        Money::from_cents(self.split.amount.cents() - self.refunded.cents())
    }

    pub fn recipient(&self) -> PayoutRecipient {
        PayoutRecipient {
            pix_key: self.split.rule.pix_key.clone(),
            pix_key_type: self.split.rule.pix_key_type,
            name: self.split.rule.name.clone(),
            document: self.split.rule.document.clone(),
        }
    }
}
