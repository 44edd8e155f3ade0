//! A payout as the API lists it (`GET /api/payouts`) and its events carry it.

use serde::Serialize;

use crate::payout::{Payout, PayoutRecipient};
use crate::pix::clock::timestamp;
use crate::pix::money::Money;
use crate::pix::pii::Pii;

/// A payout as `GET /api/payouts` lists it: one PIX transfer to one recipient.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayoutView {
    pub id: String,
    /// `IMMEDIATE` (one `immediate` split) or `SCHEDULED` (the account's payout schedule).
    pub trigger: &'static str,
    /// `PROCESSING`, `PAID` or `FAILED`.
    pub status: &'static str,
    /// What its transfer sends: `grossAmount` less `deductions`.
    pub amount: Money,
    /// Σ of what its splits pay.
    pub gross_amount: Money,
    /// What it recovers of its recipient's debt, by refund (empty until decided, just before
    /// the transfer).
    pub deductions: Vec<DeductionView>,
    pub recipient: PayoutRecipientView,
    pub split_count: u32,
    /// The transfer's end-to-end id, once PAID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A deduction: part of the recipient's debt from refund `refundId` of charge
/// `transactionId`, recovered by this payout.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeductionView {
    pub refund_id: String,
    pub transaction_id: String,
    pub amount: Money,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayoutRecipientView {
    pub name: Pii,
    pub pix_key: Pii,
    pub pix_key_type: &'static str,
    pub document: String,
}

impl PayoutRecipientView {
    fn new(recipient: &PayoutRecipient) -> PayoutRecipientView {
        PayoutRecipientView {
            name: recipient.name.clone(),
            pix_key: recipient.pix_key.clone(),
            pix_key_type: recipient.pix_key_type.as_str(),
            document: recipient.document.as_str().to_owned(),
        }
    }
}

impl PayoutView {
    pub fn new(payout: &Payout) -> PayoutView {
        PayoutView {
            id: payout.id.to_string(),
            trigger: payout.trigger.as_str(),
            status: payout.state.as_str(),
            amount: payout.net_amount(),
            gross_amount: payout.amount,
            deductions: payout
                .deductions
                .iter()
                .flatten()
                .map(|d| DeductionView {
                    refund_id: d.refund_id.to_string(),
                    transaction_id: d.transaction_id.to_string(),
                    amount: d.amount,
                })
                .collect(),
            recipient: PayoutRecipientView::new(&payout.recipient),
            split_count: payout.split_count,
            end_to_end_id: payout.end_to_end_id.as_ref().map(ToString::to_string),
            failure_reason: payout.failure_reason.clone(),
            created_at: timestamp(payout.created_at),
            updated_at: timestamp(payout.updated_at),
        }
    }
}
