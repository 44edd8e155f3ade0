//! The stored form of a charge's refunds (integer centavos, epoch milliseconds).

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::error::corrupt;
use crate::pix::clock::millis_to_time;
use crate::pix::ids::{RefundId, TransactionId};
use crate::pix::money::Money;
use crate::pix::payment::EndToEndId;
use crate::refund::liability::{SplitPart, SplitPartKind};
use crate::refund::{ChargeRefund, RefundLiability, RefundState};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundRecord {
    /// Absent on the one refund a charge could have before refunds had ids: it is then
    /// named by [`RefundId::legacy`] of its `attempt`, for the charge's whole amount, under
    /// `MERCHANT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_cents: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liability: Option<String>,
    /// Absent: no split bore any of it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub split_parts: Vec<SplitPartRecord>,
    /// Legacy (see `refund_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    pub state: String,
    pub reason: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_refund_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub requested_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

impl From<&ChargeRefund> for RefundRecord {
    fn from(r: &ChargeRefund) -> Self {
        RefundRecord {
            refund_id: Some(r.id.to_string()),
            amount_cents: Some(r.amount.cents()),
            liability: Some(r.liability.as_str().to_owned()),
            split_parts: r.split_parts.iter().map(SplitPartRecord::from).collect(),
            attempt: None,
            state: r.state.as_str().to_owned(),
            reason: r.reason.clone(),
            description: r.description.clone(),
            end_to_end_id: r.end_to_end_id.as_ref().map(ToString::to_string),
            provider_refund_id: r.provider_refund_id.clone(),
            failure_reason: r.failure_reason.clone(),
            requested_at_ms: r.requested_at.timestamp_millis(),
            settled_at_ms: r.settled_at.map(|t| t.timestamp_millis()),
            idempotency_key: r.idempotency_key.clone(),
        }
    }
}

impl RefundRecord {
    /// The refund of charge `transaction_id` (of `charge_amount`) this record holds.
    pub(crate) fn into_refund(
        self,
        transaction_id: &TransactionId,
        charge_amount: Money,
    ) -> Result<ChargeRefund, StoreError> {
        let id = transaction_id.as_str();
        let refund_id = match (self.refund_id, self.attempt) {
            (Some(text), _) => RefundId::parse(&text).ok_or_else(|| corrupt("refundId", id))?,
            (None, Some(attempt)) => RefundId::legacy(transaction_id, attempt),
            (None, None) => return Err(corrupt("refundId", id)),
        };
        let amount = Money::from_cents(self.amount_cents.unwrap_or(charge_amount.cents()));
        if amount.cents() < 1 || amount.cents() > charge_amount.cents() {
            return Err(corrupt("refund amount", id));
        }
        let liability = match self.liability {
            Some(text) => {
                RefundLiability::parse(&text).ok_or_else(|| corrupt("refund liability", id))?
            }
            None => RefundLiability::Merchant,
        };
        let split_parts = self
            .split_parts
            .into_iter()
            .map(|p| {
                p.into_part()
                    .ok_or_else(|| corrupt("refund split part", id))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ChargeRefund {
            id: refund_id,
            amount,
            liability,
            split_parts,
            state: RefundState::parse(&self.state).ok_or_else(|| corrupt("refund state", id))?,
            reason: self.reason,
            description: self.description,
            end_to_end_id: self
                .end_to_end_id
                .map(|e| EndToEndId::parse(&e).ok_or_else(|| corrupt("refund endToEndId", id)))
                .transpose()?,
            provider_refund_id: self.provider_refund_id,
            failure_reason: self.failure_reason,
            requested_at: millis_to_time(self.requested_at_ms)
                .ok_or_else(|| corrupt("refund requestedAt", id))?,
            settled_at: self
                .settled_at_ms
                .map(|ms| millis_to_time(ms).ok_or_else(|| corrupt("refund settledAt", id)))
                .transpose()?,
            idempotency_key: self.idempotency_key,
        })
    }
}

/// A split's part of a refund: `{index, amountCents, kind}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SplitPartRecord {
    pub index: u8,
    pub amount_cents: i64,
    pub kind: String,
}

impl From<&SplitPart> for SplitPartRecord {
    fn from(p: &SplitPart) -> Self {
        SplitPartRecord {
            index: p.index,
            amount_cents: p.amount.cents(),
            kind: p.kind.as_str().to_owned(),
        }
    }
}

impl SplitPartRecord {
    pub(crate) fn into_part(self) -> Option<SplitPart> {
        (self.amount_cents > 0).then_some(())?;
        Some(SplitPart {
            index: self.index,
            amount: Money::from_cents(self.amount_cents),
            kind: SplitPartKind::parse(&self.kind)?,
        })
    }
}
