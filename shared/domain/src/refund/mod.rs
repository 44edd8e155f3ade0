//! Refunds (PIX devoluções): a charge's money given back to its payer. The refund state a charge
//! carries, the 90-day window, and how a refund's provider reference names its charge.
//! The refund flow is [`crate::flows::refund`].

pub mod ports;
pub mod record;
pub mod validation;
pub mod view;

use chrono::{DateTime, Utc};

use crate::pix::ids::TransactionId;

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundState {
    /// Money set aside; the provider has it (or will, on the next retry).
    Processing,
    /// Settled: the payer has the money back.
    Completed,
    /// The provider refused it; the money went back to `available`.
    Failed,
}

impl RefundState {
    pub const ALL: [RefundState; 3] = [
        RefundState::Processing,
        RefundState::Completed,
        RefundState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::Processing => "PROCESSING",
            RefundState::Completed => "COMPLETED",
            RefundState::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<RefundState> {
        RefundState::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Longest time after payment a charge may be refunded (PIX devolutions: 90 days).
pub const REFUND_WINDOW_DAYS: i64 = 90;

/// A full refund (PIX devolution) of a paid charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRefund {
    /// 1 for the first request; a request after a FAILED refund is the next attempt. Part of
    /// the movement reference and the provider idempotency key, so each attempt is its own
    /// devolution and a retry of one attempt is never a second.
    pub attempt: u32,
    pub state: RefundState,
    /// The merchant's reason code (e.g. `CUSTOMER_REQUEST`) and free text.
    pub reason: String,
    pub description: String,
    /// The devolution's end-to-end id (`D…`), once the provider assigned it.
    pub end_to_end_id: Option<crate::pix::payment::EndToEndId>,
    pub provider_refund_id: Option<String>,
    pub failure_reason: Option<String>,
    pub requested_at: DateTime<Utc>,
    /// When it COMPLETED or FAILED.
    pub settled_at: Option<DateTime<Utc>>,
    /// The `X-Idempotency-Key` of the request that asked for it, so a retry of that request
    /// (after a crash) is answered with this refund instead of "already refunded".
    pub idempotency_key: Option<String>,
}

impl ChargeRefund {
    /// The ledger reference and provider idempotency key of this attempt.
    pub fn reference(&self, transaction_id: &TransactionId) -> String {
        format!("{transaction_id}#{}", self.attempt)
    }
}
