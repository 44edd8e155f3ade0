//! The stored form of a charge's refund (integer centavos, epoch milliseconds).

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::error::corrupt;
use crate::pix::clock::millis_to_time;
use crate::pix::payment::EndToEndId;
use crate::refund::{ChargeRefund, RefundState};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundRecord {
    pub attempt: u32,
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
            attempt: r.attempt,
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
    pub(crate) fn into_refund(self, id: &str) -> Result<ChargeRefund, StoreError> {
        Ok(ChargeRefund {
            attempt: self.attempt,
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
