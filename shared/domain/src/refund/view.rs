//! A refund as the API shows it (inside a charge's JSON and in its events).

use serde::Serialize;

use crate::charge::Charge;
use crate::pix::clock::timestamp;
use crate::pix::money::Money;
use crate::refund::ChargeRefund;

/// A charge's refund (PIX devolution).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    /// `PROCESSING`, `COMPLETED` or `FAILED`.
    pub status: &'static str,
    /// The devolution's end-to-end id (`D…`), once the provider assigned it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
    pub amount: Money,
    pub reason: String,
    pub description: String,
    pub requested_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

impl RefundView {
    pub fn new(charge: &Charge, refund: &ChargeRefund) -> RefundView {
        RefundView {
            status: refund.state.as_str(),
            end_to_end_id: refund.end_to_end_id.as_ref().map(ToString::to_string),
            amount: charge.amount,
            reason: refund.reason.clone(),
            description: refund.description.clone(),
            requested_at: timestamp(refund.requested_at),
            settled_at: refund.settled_at.map(timestamp),
            failure_reason: refund.failure_reason.clone(),
        }
    }
}
