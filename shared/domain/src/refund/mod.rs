//! Refunds (PIX devoluções): a charge's money given back to its payer, in one or several parts.
//!
//! Banco Central's rules (API Pix `PUT /pix/{e2eid}/devolucao/{id}`, nature `ORIGINAL`, MD06):
//! a PIX may have several devoluções, each part of the amount, together at most the amount,
//! each within [`REFUND_WINDOW_DAYS`] of the payment. Each [`ChargeRefund`] here is one of them,
//! with its own id, amount, `D…` end-to-end id and state, and a declared [`RefundLiability`]
//! saying who bears it (the maths are in [`liability`]). The flow is [`crate::flows::refund`].

pub mod checks;
pub mod liability;
pub mod ports;
pub mod record;
pub mod validation;
pub mod view;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::pix::ids::{RefundId, TransactionId};
use crate::pix::money::Money;
use crate::refund::liability::SplitPart;

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundState {
    /// Money set aside; the provider has it (or will, on the next retry).
    Processing,
    /// Settled: the payer has the money back.
    Completed,
    /// The provider refused it; its money went back where it came from.
    Failed,
}

impl RefundState {
    pub const ALL: [RefundState; 3] = [
        RefundState::Processing,
        RefundState::Completed,
        RefundState::Failed,
    ];

    /// The stored name.
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

    /// The name the API shows: the charge statuses a refund leads to.
    pub fn api_status(self) -> &'static str {
        match self {
            RefundState::Processing => "REFUND_PROCESSING",
            RefundState::Completed => "REFUNDED",
            RefundState::Failed => "FAILED",
        }
    }
}

/// Who bears a refund of a charge with splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RefundLiability {
    /// The account's `available` pays all of it; splits are untouched (except that a refund of
    /// everything still refundable cancels the splits not yet paid, whose reserve pays their
    /// part: the payer gets back money that never left).
    #[default]
    Merchant,
    /// Every party bears the refund in proportion to its part of the gross (see
    /// [`liability::proportional_parts`]).
    Proportional,
}

impl RefundLiability {
    pub const ALL: [RefundLiability; 2] =
        [RefundLiability::Merchant, RefundLiability::Proportional];

    pub fn as_str(self) -> &'static str {
        match self {
            RefundLiability::Merchant => "MERCHANT",
            RefundLiability::Proportional => "PROPORTIONAL",
        }
    }

    pub fn parse(s: &str) -> Option<RefundLiability> {
        RefundLiability::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// Longest time after payment a charge may be refunded (PIX devolutions: 90 days).
pub const REFUND_WINDOW_DAYS: i64 = 90;

/// The most refunds one charge may carry, failed ones included. Why a limit: a charge's
/// refunds live inside its item (one conditional write keeps Σ ≤ amount under concurrency),
/// and an item is bounded (DynamoDB: 400 KB; a refund takes ~0.5 KB). Twenty is more
/// partial devoluções than any merchant asked for, and far below that bound.
pub const MAX_REFUNDS_PER_CHARGE: usize = 20;

/// One devolução of a paid charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRefund {
    pub id: RefundId,
    pub amount: Money,
    pub liability: RefundLiability,
    /// What each split bore of it (the account bore the rest): fixed when it was requested.
    pub split_parts: Vec<SplitPart>,
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
    /// (after a crash) is answered with this refund instead of a second one.
    pub idempotency_key: Option<String>,
}

impl ChargeRefund {
    /// The ledger reference of this refund's movements (`{transactionId}#{refundId}`).
    pub fn reference(&self, transaction_id: &TransactionId) -> String {
        format!("{transaction_id}#{}", self.id)
    }

    /// What the account bore: the amount less the splits' parts (negative when the last
    /// refund's cancelled reserve exceeded it and the excess returned to `available`).
    pub fn account_part(&self) -> i64 {
        self.amount.cents()
            - self
                .split_parts
                .iter()
                .map(|p| p.amount.cents())
                .sum::<i64>()
    }

    /// Whether its money has left (or is leaving) the merchant: PROCESSING or COMPLETED.
    pub fn counts(&self) -> bool {
        self.state != RefundState::Failed
    }
}
