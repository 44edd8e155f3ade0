//! A refund as the API shows it (inside a charge's JSON and in its events).

use serde::Serialize;

use crate::pix::clock::timestamp;
use crate::pix::money::Money;
use crate::refund::ChargeRefund;
use crate::refund::liability::SplitPart;

/// One devolução of a charge.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    pub refund_id: String,
    /// `REFUND_PROCESSING`, `REFUNDED` or `FAILED`.
    pub status: &'static str,
    /// The devolução's end-to-end id (`D…`), once the provider assigned it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
    pub amount: Money,
    /// `MERCHANT` or `PROPORTIONAL`.
    pub liability: &'static str,
    /// What each split bore (the rest is the account's part).
    pub split_parts: Vec<SplitPartView>,
    /// What the account bore (negative when the last refund's cancelled reserve exceeded it
    /// and the excess returned to `available`).
    pub account_part: Money,
    pub reason: String,
    pub description: String,
    pub requested_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

/// A split's part of a refund.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SplitPartView {
    /// The split's position in the charge's `splits`.
    pub index: u8,
    pub amount: Money,
    /// `REDUCED` (not paid yet: the split pays less) or `DEBT` (paid: its recipient owes it).
    pub kind: &'static str,
}

impl From<&SplitPart> for SplitPartView {
    fn from(p: &SplitPart) -> Self {
        SplitPartView {
            index: p.index,
            amount: p.amount,
            kind: p.kind.as_str(),
        }
    }
}

impl RefundView {
    pub fn new(refund: &ChargeRefund) -> RefundView {
        RefundView {
            refund_id: refund.id.to_string(),
            status: refund.state.api_status(),
            end_to_end_id: refund.end_to_end_id.as_ref().map(ToString::to_string),
            amount: refund.amount,
            liability: refund.liability.as_str(),
            split_parts: refund.split_parts.iter().map(SplitPartView::from).collect(),
            account_part: Money::from_cents(refund.account_part()),
            reason: refund.reason.clone(),
            description: refund.description.clone(),
            requested_at: timestamp(refund.requested_at),
            settled_at: refund.settled_at.map(timestamp),
            failure_reason: refund.failure_reason.clone(),
        }
    }
}
