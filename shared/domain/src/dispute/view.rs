//! A dispute as the API shows it (`GET /api/disputes[/{disputeId}]`, the `DISPUTE_*` events).

use serde::Serialize;

use crate::dispute::{Dispute, DisputeState};
use crate::pix::clock::timestamp;
use crate::pix::money::Money;
use crate::refund::view::SplitPartView;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DisputeView {
    pub dispute_id: String,
    pub transaction_id: String,
    /// `FRAUD` or `OPERATIONAL_FLAW`.
    pub reason: &'static str,
    pub amount: Money,
    /// `OPEN`, `DEFENDED`, `WON` or `LOST`.
    pub status: DisputeState,
    /// `MERCHANT` or `PROPORTIONAL`: how a loss divides (fixed when it opened).
    pub liability: &'static str,
    /// What each split bears should it be lost.
    pub split_parts: Vec<SplitPartView>,
    /// What the account still owes for it: the part `available` could not cover when it
    /// opened, less what credits paid since (0.00 when covered; cleared when won).
    pub owed: Money,
    pub respond_by: String,
    pub opened_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defence: Option<DefenceView>,
    /// The devolução that returned the money, once lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devolution: Option<DevolutionView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DefenceView {
    pub text: String,
    pub filed_at: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DevolutionView {
    /// The devolução's id, as recipient debts and payout deductions name it.
    pub refund_id: String,
    /// `MED_FRAUDE` or `MED_OPERACIONAL`.
    pub nature: &'static str,
    /// The ISO 20022 return reason: `FR01` or `BE08`.
    pub return_code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
}

impl DisputeView {
    pub fn new(dispute: &Dispute) -> DisputeView {
        let nature = dispute.reason.devolution_nature();
        DisputeView {
            dispute_id: dispute.id.to_string(),
            transaction_id: dispute.transaction_id.to_string(),
            reason: dispute.reason.as_str(),
            amount: dispute.amount,
            status: dispute.state,
            liability: dispute.liability.as_str(),
            split_parts: dispute
                .split_parts
                .iter()
                .map(SplitPartView::from)
                .collect(),
            owed: Money::from_cents(dispute.still_owed),
            respond_by: timestamp(dispute.respond_by),
            opened_at: timestamp(dispute.opened_at),
            decided_at: dispute.decided_at.map(timestamp),
            defence: dispute.defence.as_ref().map(|d| DefenceView {
                text: d.text.clone(),
                filed_at: timestamp(d.filed_at),
            }),
            devolution: (dispute.state == DisputeState::Lost).then(|| DevolutionView {
                refund_id: dispute.devolution_id().to_string(),
                nature: nature.as_str(),
                return_code: nature.return_code(),
                end_to_end_id: dispute
                    .devolution_end_to_end_id
                    .as_ref()
                    .map(ToString::to_string),
            }),
        }
    }
}
