//! PIX charges (cash-in) and their lifecycle.

pub mod ports;
pub mod record;
pub mod validation;
pub mod view;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::pix::document::TaxDocument;
use crate::pix::ids::{AccountId, TransactionId};
use crate::pix::money::Money;
use crate::pix::payment::Payment;
use crate::pix::pii::Pii;
use crate::refund::ChargeRefund;
use crate::split::SplitRule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChargeStatus {
    /// Awaiting payment.
    Pending,
    /// Paid; splits are computed from here on.
    Confirmed,
    /// A full refund was requested and its money set aside; the provider has not settled it.
    RefundProcessing,
    /// Paid and then given back in full.
    Refunded,
    /// Not paid before `expirationDate`.
    Expired,
}

impl ChargeStatus {
    pub const ALL: [ChargeStatus; 5] = [
        ChargeStatus::Pending,
        ChargeStatus::Confirmed,
        ChargeStatus::RefundProcessing,
        ChargeStatus::Refunded,
        ChargeStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChargeStatus::Pending => "PENDING",
            ChargeStatus::Confirmed => "CONFIRMED",
            ChargeStatus::RefundProcessing => "REFUND_PROCESSING",
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
    /// The latest refund requested (kept once settled; a failed one is replaced by the next).
    pub refund: Option<ChargeRefund>,
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

    /// Paid after its `expirationDate` (the PIX network settled it anyway, so the money is
    /// accounted for like any other payment).
    pub fn paid_after_expiration(&self) -> bool {
        self.payment
            .as_ref()
            .is_some_and(|p| p.paid_at >= self.expires_at)
    }
}
