//! Payouts: the PIX transfers that pay booked splits.
//!
//! When a charge is confirmed, the split calculator books one
//! [`SplitEntry`](crate::split::entry::SplitEntry) per split rule of
//! the charge (its share already computed, see [`crate::split`]). An `immediate` split is paid
//! at once by a [`Payout`] of its own; the others stay `SCHEDULED` until the account's payout
//! schedule groups all due splits of one recipient into one payout.
//!
//! Split states: `SCHEDULED` → `PROCESSING` (in a payout) → `PAID` (with the transfer's
//! end-to-end id) or `FAILED` (with a reason); `CANCELLED` when the charge is refunded first.

pub mod ports;
pub mod record;
pub mod runs;
pub mod view;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::pix::document::TaxDocument;
use crate::pix::ids::{AccountId, TransactionId};
use crate::pix::money::Money;
use crate::pix::payment::EndToEndId;
use crate::pix::pii::Pii;
use crate::pix::pix_key::PixKeyType;
use crate::provider::TransferDestination;
use crate::recipient::{DebtPart, total};

/// Failed payout windows after which a scheduled split is FAILED and its money returns to the
/// account's `available` balance.
pub const MAX_PAYOUT_ATTEMPTS: u8 = 3;

/// `po_` + 32 lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PayoutId(String);

impl PayoutId {
    pub fn generate() -> PayoutId {
        PayoutId(format!("po_{}", uuid::Uuid::new_v4().simple()))
    }

    /// The payout of an immediate split: derived from the split's identity, so booking the
    /// same split twice can only ever name the same payout.
    pub fn for_immediate_split(transaction_id: &TransactionId, index: u8) -> PayoutId {
        let digest = Sha256::digest(format!("immediate:{transaction_id}:{index}").as_bytes());
        PayoutId(format!("po_{}", &hex::encode(digest)[..32]))
    }

    /// The payout of one recipient in one scheduled window: derived from the account, the
    /// window and the recipient's identity (key type + key + document; the name is left out
    /// because merchants spell it differently from charge to charge), so a run that crashed
    /// and is resumed — or a second, overlapping run — can only ever name the same payout.
    pub fn for_scheduled_window(
        account_id: &AccountId,
        window: DateTime<Utc>,
        recipient: &PayoutRecipient,
    ) -> PayoutId {
        let key = recipient.grouping_key();
        let digest = Sha256::digest(
            format!(
                "scheduled:{account_id}:{}:{}:{}:{}",
                window.timestamp_millis(),
                key.0,
                key.1,
                key.2
            )
            .as_bytes(),
        );
        PayoutId(format!("po_{}", &hex::encode(digest)[..32]))
    }

    pub fn parse(s: &str) -> Option<PayoutId> {
        let hex = s.strip_prefix("po_")?;
        (hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| PayoutId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PayoutId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayoutState {
    /// A scheduled payout still being filled by the payout scheduler (splits are attached in
    /// chunks, one transaction each); nothing may execute it yet. Never a final state: the
    /// scheduler releases it to PROCESSING once its window's splits are all attached.
    Assembling,
    Processing,
    Paid,
    Failed,
}

impl PayoutState {
    pub const ALL: [PayoutState; 4] = [
        PayoutState::Assembling,
        PayoutState::Processing,
        PayoutState::Paid,
        PayoutState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PayoutState::Assembling => "ASSEMBLING",
            PayoutState::Processing => "PROCESSING",
            PayoutState::Paid => "PAID",
            PayoutState::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<PayoutState> {
        PayoutState::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// What started a payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayoutTrigger {
    /// An `immediate: true` split, right after confirmation.
    Immediate,
    /// The account's payout schedule.
    Scheduled,
}

impl PayoutTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutTrigger::Immediate => "IMMEDIATE",
            PayoutTrigger::Scheduled => "SCHEDULED",
        }
    }

    pub fn parse(s: &str) -> Option<PayoutTrigger> {
        [PayoutTrigger::Immediate, PayoutTrigger::Scheduled]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// Who a payout pays: a split recipient, identified by PIX key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PayoutRecipient {
    pub pix_key: Pii,
    pub pix_key_type: PixKeyType,
    pub name: Pii,
    pub document: TaxDocument,
}

impl PayoutRecipient {
    /// Where a payout sends the money: the recipient's PIX key (the DICT resolves it).
    pub fn transfer_destination(&self) -> TransferDestination {
        TransferDestination::PixKey {
            key: self.pix_key.clone(),
            key_type: self.pix_key_type,
        }
    }

    /// What makes two splits go to the same recipient: key type, key and document (not the
    /// name, which is free text).
    pub fn grouping_key(&self) -> (&'static str, &str, &str) {
        (
            self.pix_key_type.as_str(),
            self.pix_key.as_str(),
            self.document.as_str(),
        )
    }
}

/// A booked split, by key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SplitRef {
    pub transaction_id: TransactionId,
    pub index: u8,
}

/// One PIX transfer to one recipient, paying one or more splits of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    pub id: PayoutId,
    pub account_id: AccountId,
    pub trigger: PayoutTrigger,
    pub recipient: PayoutRecipient,
    /// Σ of what its splits pay ([`SplitEntry::payable`](crate::split::entry::SplitEntry::payable)):
    /// the gross, before deductions.
    pub amount: Money,
    /// The splits it pays, inline: only for immediate payouts (always one split). A scheduled
    /// payout may pay thousands of splits, more than one item can hold, so it leaves this
    /// empty and its manifest is read page by page
    /// ([`PayoutRunStore::payout_splits_page`](crate::payout::runs::PayoutRunStore::payout_splits_page)).
    pub splits: Vec<SplitRef>,
    /// How many splits it pays (inline or in the manifest).
    pub split_count: u32,
    /// Splits of a settled (PAID/FAILED) scheduled payout whose own final state is not written
    /// yet: the executor settles a big manifest in chunks after the payout itself, and a
    /// redelivery continues while this is above zero. Always 0 for immediate payouts (their
    /// one split settles in the payout's own write).
    pub unsettled_splits: u32,
    pub state: PayoutState,
    /// What it recovers of its recipient's debt (see [`crate::recipient`]): `None` until the
    /// executor decided it, just before the transfer (then fixed, maybe empty: every attempt
    /// of the transfer is the same transfer).
    pub deductions: Option<Vec<DebtPart>>,
    pub end_to_end_id: Option<EndToEndId>,
    pub provider_transfer_id: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Payout {
    /// Σ of its deductions (0 before they are decided).
    pub fn deducted(&self) -> Money {
        self.deductions.as_deref().map_or(Money::ZERO, total)
    }

    /// What its transfer sends: Σ of its splits less its deductions. A payout netted to 0 is
    /// PAID without a transfer.
    pub fn net_amount(&self) -> Money {
        Money::from_cents(self.amount.cents() - self.deducted().cents())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payout_ids() {
        let t = TransactionId::generate();
        let a = PayoutId::for_immediate_split(&t, 0);
        assert_eq!(a, PayoutId::for_immediate_split(&t, 0));
        assert_ne!(a, PayoutId::for_immediate_split(&t, 1));
        assert_eq!(PayoutId::parse(a.as_str()), Some(a.clone()));
        let g = PayoutId::generate();
        assert_eq!(PayoutId::parse(g.as_str()), Some(g));
        assert_eq!(PayoutId::parse("po_XYZ"), None);
    }
}
