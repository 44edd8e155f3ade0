//! The PIX provider port: the PSP that holds our charges, moves money out and tells us, by
//! webhook, what happened on the PIX network. Adapters: the built-in sandbox (default),
//! ConnectPSP and PagFast.
//!
//! Every money-moving call carries an `idempotency_key` that is stable across our retries
//! (derived from our own record's id), so a redelivered message or a retried request can never
//! make the provider move money twice: the provider answers a repeated key with the outcome of
//! the first call.

pub mod directory;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::dispute::{DevolutionNature, DisputeOutcome, DisputeReason};
use crate::error::ProviderError;
use crate::pix::document::TaxDocument;
use crate::pix::ids::TransactionId;
use crate::pix::money::Money;
use crate::pix::payment::{EndToEndId, Ispb, PaidBy};
use crate::pix::pii::Pii;
use crate::pix::pix_key::PixKeyType;

/// What we ask a PIX provider to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderChargeRequest {
    pub transaction_id: TransactionId,
    pub amount: Money,
    pub description: String,
    pub payer_name: Pii,
    pub payer_document: TaxDocument,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub merchant_name: String,
    pub merchant_city: String,
    /// Stable across our retries so the provider never creates two charges for one of ours.
    pub idempotency_key: String,
}

/// What the provider created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderCharge {
    pub provider_charge_id: String,
    /// The provider's copy-and-paste BR Code, passed through to the merchant.
    pub pix_code: String,
}

/// Where a transfer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferDestination {
    /// A PIX key (the provider resolves it through the DICT).
    PixKey { key: Pii, key_type: PixKeyType },
    /// Bank account data (no key).
    BankAccount {
        ispb: Ispb,
        branch: Pii,
        account: Pii,
        /// `CACC` (checking), `SVGS` (savings), `SLRY` (salary), `TRAN` (payment account).
        account_type: String,
    },
}

/// One PIX transfer out of our account at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    /// Stable per payout/cash-out: a repeat returns the first call's outcome, never a new
    /// transfer.
    pub idempotency_key: String,
    pub amount: Money,
    pub destination: TransferDestination,
    /// Who should receive it, when we know (a split recipient, a bank account's holder: the
    /// receiving bank checks the document). A cash-out to a PIX key leaves both to the DICT.
    pub recipient_name: Option<Pii>,
    pub recipient_document: Option<TaxDocument>,
    pub description: String,
}

/// How a transfer ended (or that it has not yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferOutcome {
    /// Settled on the PIX network.
    Completed {
        provider_transfer_id: String,
        end_to_end_id: EndToEndId,
        settled_at: DateTime<Utc>,
    },
    /// Refused for good (unknown key, closed account, …): no money moved.
    Failed {
        provider_transfer_id: Option<String>,
        reason: String,
    },
    /// Accepted; the provider will report the outcome by webhook
    /// ([`ProviderEvent::TransferSettled`]).
    Pending { provider_transfer_id: String },
}

/// A full devolution of a paid charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub idempotency_key: String,
    pub transaction_id: TransactionId,
    pub provider_charge_id: String,
    /// The payment being given back.
    pub end_to_end_id: EndToEndId,
    pub amount: Money,
    /// The merchant's reason code and free text (ConnectPSP takes both).
    pub reason: String,
    pub description: String,
}

/// How a refund ended (or that it has not yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    Completed {
        provider_refund_id: String,
        /// The devolution's own id (`D…`).
        end_to_end_id: EndToEndId,
        settled_at: DateTime<Utc>,
    },
    Failed {
        reason: String,
    },
    Pending {
        provider_refund_id: String,
        end_to_end_id: EndToEndId,
    },
}

/// An inbound provider webhook, as it arrived (before anything is trusted).
#[derive(Debug, Clone, Copy)]
pub struct InboundWebhook<'a> {
    /// Header names in lowercase.
    pub headers: &'a [(String, String)],
    /// The request's query parameters, decoded, in arrival order. Providers that cannot sign
    /// their calls authenticate by a secret we put in the URL we gave them.
    pub query: &'a [(String, String)],
    pub body: &'a [u8],
    /// For freshness checks on signed timestamps.
    pub now: DateTime<Utc>,
}

impl InboundWebhook<'_> {
    /// A header by (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter by name (its first occurrence).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A charge we issued was paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargePaid {
    /// The provider's id for this notification (logs and audits; deduplication is by
    /// `end_to_end_id`, which the PIX network guarantees unique).
    pub event_id: String,
    pub transaction_id: TransactionId,
    pub end_to_end_id: EndToEndId,
    pub amount: Money,
    pub paid_at: DateTime<Utc>,
    pub paid_by: PaidBy,
    /// Set when the receiving institution holds the credit under a cautelar hold (MED 2.0:
    /// up to [`crate::charge::MAX_HOLD_HOURS`] hours) until this instant: the money is not the
    /// merchant's until released.
    pub hold_until: Option<DateTime<Utc>>,
}

/// An infraction (MED) the payer's bank opened on a charge we received: a dispute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfractionOpened {
    pub event_id: String,
    /// The provider's own id of the infraction (the dispute's id derives from it).
    pub infraction_id: String,
    pub transaction_id: TransactionId,
    pub reason: DisputeReason,
    /// The disputed amount; `None`: all of the charge not yet refunded or disputed.
    pub amount: Option<Money>,
    /// The defence deadline; `None`: [`crate::dispute::DEFAULT_DEFENCE_DAYS`] after opening.
    pub respond_by: Option<DateTime<Utc>>,
    pub opened_at: DateTime<Utc>,
}

/// How an infraction was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfractionDecided {
    pub event_id: String,
    pub infraction_id: String,
    pub transaction_id: TransactionId,
    pub outcome: DisputeOutcome,
    /// Lost: the devolução's end-to-end id (`D…`) when the provider names it.
    pub end_to_end_id: Option<EndToEndId>,
    pub decided_at: DateTime<Utc>,
}

/// A provider webhook, verified and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderEvent {
    ChargePaid(ChargePaid),
    InfractionOpened(InfractionOpened),
    InfractionDecided(InfractionDecided),
    /// A cautelar hold of a paid charge lifted: its money is the merchant's.
    HoldReleased {
        event_id: String,
        transaction_id: TransactionId,
    },
    /// A held charge's money returned to the payer (a devolução of the whole amount).
    HoldReturned {
        event_id: String,
        transaction_id: TransactionId,
        /// The devolução's nature; `None`: `MED_FRAUDE` (a hold is kept for suspected fraud).
        nature: Option<DevolutionNature>,
        /// Its end-to-end id (`D…`) when the provider names it.
        end_to_end_id: Option<EndToEndId>,
    },
    /// A transfer we asked for with `idempotency_key` ended.
    TransferSettled {
        event_id: String,
        idempotency_key: String,
        outcome: TransferOutcome,
    },
    /// A refund we asked for ended (`Completed` or `Failed`).
    RefundSettled {
        event_id: String,
        refund: RefundReference,
        outcome: RefundOutcome,
    },
    /// Authentic, but nothing we act on (acknowledged so the provider stops retrying).
    Ignored {
        event_id: String,
        kind: String,
    },
}

/// Which refund a provider's report is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundReference {
    /// The idempotency key we sent with the request (`refund:{transactionId}#{refundId}`).
    IdempotencyKey(String),
    /// The charge's refund in flight: for providers whose reports name the charge
    /// (ConnectPSP's `CASHIN_REFUNDED` carries our `externalReference`) but not the request.
    /// Such providers refund in full only, so at most one refund of the charge is in flight.
    CurrentAttempt(TransactionId),
}

/// Why a PSP's inbound webhook was not accepted (the webhooks we send merchants fail with
/// [`MerchantWebhookError`](crate::webhooks::service::MerchantWebhookError)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderWebhookError {
    /// Missing or wrong signature, or a timestamp outside the tolerance: not from the provider.
    #[error("webhook signature could not be verified: {0}")]
    Unauthenticated(&'static str),
    /// Signed correctly but not a payload we understand.
    #[error("webhook payload is malformed: {0}")]
    Malformed(String),
    /// Authentic as far as we can tell, but confirming it needs the provider, which did not
    /// answer: the provider should deliver it again (we answer 503).
    #[error("the provider could not be asked to confirm the webhook: {0}")]
    Unconfirmed(String),
}

/// What a provider can do. The sandbox and ConnectPSP do everything; PagFast's document
/// covers charges only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderCapabilities {
    pub refunds: bool,
    /// Devoluções of part of a charge's amount (and several per charge). ConnectPSP's
    /// document allows full refunds only (seed 001).
    pub partial_refunds: bool,
    pub transfers: bool,
}

impl ProviderCapabilities {
    pub const ALL: ProviderCapabilities = ProviderCapabilities {
        refunds: true,
        partial_refunds: true,
        transfers: true,
    };
    /// Everything but partial refunds.
    pub const FULL_REFUNDS_ONLY: ProviderCapabilities = ProviderCapabilities {
        partial_refunds: false,
        ..ProviderCapabilities::ALL
    };
    pub const CHARGES_ONLY: ProviderCapabilities = ProviderCapabilities {
        refunds: false,
        partial_refunds: false,
        transfers: false,
    };
}

#[async_trait]
pub trait PixProvider: Send + Sync {
    /// A short, stable name stored on each charge and used in the webhook path
    /// (`sandbox`, `connectpsp`, `pagfast`).
    fn name(&self) -> &'static str;

    /// What this provider can do besides creating charges.
    fn capabilities(&self) -> ProviderCapabilities {
        ProviderCapabilities::ALL
    }

    async fn create_charge(
        &self,
        request: &ProviderChargeRequest,
    ) -> Result<ProviderCharge, ProviderError>;

    /// Sends money out. `Err(Unavailable)` means "unknown, retry with the same key".
    async fn transfer(&self, request: &TransferRequest) -> Result<TransferOutcome, ProviderError>;

    /// Gives a paid charge back in full.
    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, ProviderError>;

    /// Authenticates an inbound webhook and turns it into a [`ProviderEvent`]. A provider that
    /// signs its webhooks checks the signature (no I/O); one that cannot be verified offline
    /// may confirm the event with the provider before answering (ConnectPSP reads the charge
    /// back), and says [`ProviderWebhookError::Unconfirmed`] when that read fails.
    async fn verify_webhook(
        &self,
        webhook: &InboundWebhook<'_>,
    ) -> Result<ProviderEvent, ProviderWebhookError>;
}
