//! PIX charges (cash-in) and their lifecycle.

pub mod ports;
pub mod record;
pub mod validation;
pub mod view;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::dispute::{DevolutionNature, DisputeState};
use crate::pix::document::TaxDocument;
use crate::pix::ids::RefundId;
use crate::pix::ids::{AccountId, DisputeId, TransactionId};
use crate::pix::money::Money;
use crate::pix::payment::{EndToEndId, Payment};
use crate::pix::pii::Pii;
use crate::refund::liability::SplitPart;
use crate::refund::{ChargeRefund, RefundState};
use crate::split::SplitRule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChargeStatus {
    /// Awaiting payment.
    Pending,
    /// Paid; splits are computed from here on.
    Confirmed,
    /// A refund was requested and its money set aside; the provider has not settled it.
    RefundProcessing,
    /// Part of the amount was given back (every refund settled), part is still the merchant's.
    PartiallyRefunded,
    /// Paid and then given back in full.
    Refunded,
    /// Not paid before `expirationDate`.
    Expired,
}

impl ChargeStatus {
    pub const ALL: [ChargeStatus; 6] = [
        ChargeStatus::Pending,
        ChargeStatus::Confirmed,
        ChargeStatus::RefundProcessing,
        ChargeStatus::PartiallyRefunded,
        ChargeStatus::Refunded,
        ChargeStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChargeStatus::Pending => "PENDING",
            ChargeStatus::Confirmed => "CONFIRMED",
            ChargeStatus::RefundProcessing => "REFUND_PROCESSING",
            ChargeStatus::PartiallyRefunded => "PARTIALLY_REFUNDED",
            ChargeStatus::Refunded => "REFUNDED",
            ChargeStatus::Expired => "EXPIRED",
        }
    }

    pub fn parse(s: &str) -> Option<ChargeStatus> {
        ChargeStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Who pays (informational, per seed 004).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payer {
    pub full_name: Pii,
    pub document: TaxDocument,
}

/// A split of a charge: the merchant's rule plus its share of this charge's amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeSplit {
    pub rule: SplitRule,
    /// The share computed on the charge amount (fixed for the charge's lifetime).
    pub amount: Money,
}

/// The longest a receiving institution may hold a suspicious credit (MED 2.0's bloqueio
/// cautelar): a hold the provider says ends later is cut to this, counted from payment.
pub const MAX_HOLD_HOURS: i64 = 72;

/// Where a cautelar hold stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldState {
    /// The money sits in `held`; no split is booked.
    Held,
    /// Lifted (by the provider, or by the sweeper at `until`): booked as any payment.
    Released,
    /// Given back to the payer: a devolução of the whole amount.
    Returned,
}

impl HoldState {
    pub const ALL: [HoldState; 3] = [HoldState::Held, HoldState::Released, HoldState::Returned];

    pub fn as_str(self) -> &'static str {
        match self {
            HoldState::Held => "HELD",
            HoldState::Released => "RELEASED",
            HoldState::Returned => "RETURNED",
        }
    }

    pub fn parse(s: &str) -> Option<HoldState> {
        HoldState::ALL.into_iter().find(|h| h.as_str() == s)
    }
}

/// A paid charge's cautelar hold (bloqueio cautelar, MED 2.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeHold {
    /// When it lifts by itself if the provider says nothing (≤ paid + [`MAX_HOLD_HOURS`]).
    pub until: DateTime<Utc>,
    pub state: HoldState,
    /// When it was released or returned.
    pub settled_at: Option<DateTime<Utc>>,
    /// Returned: the devolução's nature and `D…` id (when the provider named it).
    pub return_nature: Option<DevolutionNature>,
    pub return_end_to_end_id: Option<EndToEndId>,
}

/// A MED dispute as its charge keeps it: enough to keep Σ refunds + disputes ≤ the amount in
/// the charge's own conditional write (the dispute itself is its own item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeClaim {
    pub id: DisputeId,
    pub amount: Money,
    pub state: DisputeState,
    /// What each split bears of it (as the dispute says), so the charge shows its splits'
    /// parts without reading its disputes.
    pub split_parts: Vec<SplitPart>,
}

impl DisputeClaim {
    /// Whether its amount is not the merchant's to refund: held (open) or returned (lost).
    pub fn counts(&self) -> bool {
        self.state != DisputeState::Won
    }
}

/// A PIX charge. Its stored form is [`crate::charge::record::ChargeRecord`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub transaction_id: TransactionId,
    pub account_id: AccountId,
    pub correlation_id: Uuid,
    pub external_id: String,
    pub status: ChargeStatus,
    pub amount: Money,
    pub description: String,
    pub payer: Payer,
    pub additional_info: BTreeMap<String, String>,
    pub splits: Vec<ChargeSplit>,
    /// What the account keeps once paid: amount − Σ split shares.
    pub remainder: Money,
    /// The copy-and-paste BR Code.
    pub pix_code: String,
    /// Whether the merchant asked for the QR image (we re-render it on reads).
    pub generate_qr_code: bool,
    /// Which PIX provider holds this charge, and its id there.
    pub provider: String,
    pub provider_charge_id: String,
    pub expiration_seconds: u32,
    /// `generateTime`, millisecond precision.
    pub created_at: DateTime<Utc>,
    /// `expirationDate` = `created_at` + `expiration_seconds`.
    pub expires_at: DateTime<Utc>,
    /// Set when the charge is confirmed (and kept through a refund).
    pub payment: Option<Payment>,
    /// Its devoluções, oldest first, failed ones included (at most
    /// [`MAX_REFUNDS_PER_CHARGE`](crate::refund::MAX_REFUNDS_PER_CHARGE)).
    pub refunds: Vec<ChargeRefund>,
    /// Set when its payment arrived under a cautelar hold.
    pub hold: Option<ChargeHold>,
    /// Its MED disputes, oldest first (at most
    /// [`MAX_DISPUTES_PER_CHARGE`](crate::dispute::MAX_DISPUTES_PER_CHARGE)).
    pub disputes: Vec<DisputeClaim>,
    /// Bumped by every refund or dispute write, which requires the revision it read.
    pub refund_revision: u32,
}

impl Charge {
    /// What the charge is at `now`: a PENDING charge whose `expirationDate` has come is
    /// EXPIRED, whether or not the expiry sweeper has stored that yet. Expired means
    /// `now ≥ expires_at`, the same instant the sandbox stops accepting payment.
    pub fn status_at(&self, now: DateTime<Utc>) -> ChargeStatus {
        if self.status == ChargeStatus::Pending && now >= self.expires_at {
            ChargeStatus::Expired
        } else {
            self.status
        }
    }

    /// Σ of the refunds that settled (the payer has that money back).
    pub fn refunded_amount(&self) -> Money {
        self.refund_sum(|r| r.state == RefundState::Completed)
    }

    /// Σ of the refunds whose money left the merchant (PROCESSING or COMPLETED).
    pub fn committed_refunds(&self) -> Money {
        self.refund_sum(ChargeRefund::counts)
    }

    /// Σ of the disputes open (held) or lost (returned by the MED).
    pub fn disputed(&self) -> Money {
        Money::from_cents(
            self.disputes
                .iter()
                .filter(|d| d.counts())
                .map(|d| d.amount.cents())
                .sum(),
        )
    }

    /// Σ of the disputes lost: given back to the payer by the MED.
    fn lost_to_disputes(&self) -> i64 {
        self.disputes
            .iter()
            .filter(|d| d.state == DisputeState::Lost)
            .map(|d| d.amount.cents())
            .sum()
    }

    /// What may still be refunded (or disputed): the amount less every refund not failed and
    /// every dispute not won; nothing while held (the money is not the merchant's yet) or once
    /// the hold returned it.
    pub fn refundable(&self) -> Money {
        if self
            .hold
            .as_ref()
            .is_some_and(|h| h.state != HoldState::Released)
        {
            return Money::ZERO;
        }
        Money::from_cents(
            self.amount.cents() - self.committed_refunds().cents() - self.disputed().cents(),
        )
    }

    /// Whether its money sits under a cautelar hold now.
    pub fn is_held(&self) -> bool {
        self.hold
            .as_ref()
            .is_some_and(|h| h.state == HoldState::Held)
    }

    /// Whether a hold gave its money back to the payer.
    fn returned_by_hold(&self) -> bool {
        self.hold
            .as_ref()
            .is_some_and(|h| h.state == HoldState::Returned)
    }

    pub fn dispute(&self, id: &DisputeId) -> Option<&DisputeClaim> {
        self.disputes.iter().find(|d| &d.id == id)
    }

    fn refund_sum(&self, which: impl Fn(&ChargeRefund) -> bool) -> Money {
        Money::from_cents(
            self.refunds
                .iter()
                .filter(|r| which(r))
                .map(|r| r.amount.cents())
                .sum(),
        )
    }

    pub fn refund(&self, id: &RefundId) -> Option<&ChargeRefund> {
        self.refunds.iter().find(|r| &r.id == id)
    }

    /// The status a paid charge has given its refunds and lost disputes: REFUND_PROCESSING
    /// while any refund is in flight, then REFUNDED when the whole amount went back to the
    /// payer, PARTIALLY_REFUNDED for part of it, CONFIRMED with nothing given back.
    pub fn status_from_refunds(&self) -> ChargeStatus {
        if self.returned_by_hold() {
            return ChargeStatus::Refunded;
        }
        let refunded = self.refunded_amount().cents() + self.lost_to_disputes();
        if self
            .refunds
            .iter()
            .any(|r| r.state == RefundState::Processing)
        {
            ChargeStatus::RefundProcessing
        } else if refunded >= self.amount.cents() {
            ChargeStatus::Refunded
        } else if refunded > 0 {
            ChargeStatus::PartiallyRefunded
        } else {
            ChargeStatus::Confirmed
        }
    }

    /// This paid charge with `refund` put in (replacing the one with its id, or added), its
    /// status following, and its refund revision bumped: the next refund write.
    pub fn with_refund(&self, refund: ChargeRefund) -> Charge {
        let mut next = self.clone();
        match next.refunds.iter_mut().find(|r| r.id == refund.id) {
            Some(slot) => *slot = refund,
            None => next.refunds.push(refund),
        }
        next.status = next.status_from_refunds();
        next.refund_revision = self.refund_revision.saturating_add(1);
        next
    }

    /// This paid charge with `claim` put in (replacing the one with its id, or added), its
    /// status following, and its refund revision bumped: the next dispute write.
    pub fn with_dispute(&self, claim: DisputeClaim) -> Charge {
        let mut next = self.clone();
        match next.disputes.iter_mut().find(|d| d.id == claim.id) {
            Some(slot) => *slot = claim,
            None => next.disputes.push(claim),
        }
        next.status = next.status_from_refunds();
        next.refund_revision = self.refund_revision.saturating_add(1);
        next
    }

    /// Paid after its `expirationDate` (the PIX network settled it anyway, so the money is
    /// accounted for like any other payment).
    pub fn paid_after_expiration(&self) -> bool {
        self.payment
            .as_ref()
            .is_some_and(|p| p.paid_at >= self.expires_at)
    }
}
