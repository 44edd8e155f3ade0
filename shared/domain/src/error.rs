//! Errors of the domain and its ports. Mapped to HTTP in exactly one place (`pixgw-api`).

/// A storage adapter failed in a way the caller cannot fix (network, throttling, corruption).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
}

/// A PIX provider call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Timeouts, 5xx, connection failures, our own credentials refused: the outcome is unknown
    /// or the provider cannot be used right now. Safe to retry with the same idempotency key;
    /// counts towards the provider being down (failover).
    #[error("PIX provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request (a 4xx about its content); retrying will not help and
    /// nothing was created or moved.
    #[error("PIX provider rejected the request: {0}")]
    Rejected(ProviderRejection),
}

impl ProviderError {
    /// A refusal with no finer classification.
    pub fn rejected(reason: impl Into<String>) -> ProviderError {
        ProviderError::Rejected(ProviderRejection::other(reason))
    }
}

/// Why a provider refused a request, in our terms (`kind`) and in its own (`reason`,
/// `message`, `errors`), so the merchant sees our code with the provider's words as details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRejection {
    pub kind: RejectionKind,
    /// The provider's own reason code or error name (`CounterpartyTaxNumberInvalid`,
    /// `InvalidRequestFormatError`, an HTTP status…).
    pub reason: String,
    /// The provider's message, when it sent one.
    pub message: Option<String>,
    /// Field-level problems the provider listed (`/payment/payer: must have required
    /// property 'cpf'`).
    pub errors: Vec<String>,
}

impl ProviderRejection {
    pub fn other(reason: impl Into<String>) -> ProviderRejection {
        ProviderRejection {
            kind: RejectionKind::Other,
            reason: reason.into(),
            message: None,
            errors: Vec::new(),
        }
    }
}

impl std::fmt::Display for ProviderRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)?;
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

/// What a provider's refusal means for the merchant (each maps to one of our error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// The payer's CPF/CNPJ is restricted at the banks (PagFast `CounterpartyTaxNumberInvalid`).
    PayerDocumentRestricted,
    /// The payer's CPF/CNPJ does not exist in the real world (PagFast
    /// `CounterpartyServiceError`).
    PayerDocumentInvalid,
    /// The provider found the request malformed (PagFast `InvalidRequestFormatError`).
    InvalidRequest,
    /// The provider does not accept this operation for this resource (e.g. a refund of a
    /// charge it does not consider paid).
    NotAllowed,
    /// Any other refusal.
    Other,
}

/// Every way a use case can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Input failed validation; every failure is listed, in the seed's wording.
    #[error("validation failed")]
    Validation(Vec<String>),
    #[error("a charge with this externalId already exists")]
    DuplicateExternalId,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("invalid client credentials")]
    InvalidCredentials,
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    #[error("a request with this idempotency key is still being processed")]
    IdempotencyKeyInUse,
    /// A payment or payment simulation for a charge that cannot take one.
    #[error("charge is {status}, not PENDING")]
    ChargeNotPending { status: &'static str },
    /// The sandbox payer tried to pay after `expirationDate`.
    #[error("charge expired")]
    ChargeExpired,
    /// A provider reported a payment whose amount differs from the charge (dynamic PIX
    /// charges are paid in full or not at all).
    #[error("paid amount differs from the charge amount")]
    PaymentAmountMismatch,
    /// A provider reported an end-to-end id that already settled another charge.
    #[error("end-to-end id already used by another payment")]
    EndToEndIdConflict,
    /// The account's payout schedule kept changing under a replacing write (another request
    /// won every optimistic-lock race); nothing was written by this one.
    #[error("payout schedule changed concurrently")]
    ScheduleChangedConcurrently,
    /// A debit of `available` (refund, cash-out) larger than what the account holds; nothing
    /// changed.
    #[error("available balance {available} does not cover {needed}")]
    InsufficientBalance {
        available: crate::pix::money::Money,
        needed: crate::pix::money::Money,
    },
    /// Only a paid charge can be refunded.
    #[error("charge is {status}; only CONFIRMED charges can be refunded")]
    ChargeNotRefundable { status: &'static str },
    /// The refund asks for more than is still refundable (the amount less every refund not
    /// failed).
    #[error("the refund exceeds what is still refundable ({remaining})")]
    RefundExceedsRemaining { remaining: crate::pix::money::Money },
    /// The charge has [`crate::refund::MAX_REFUNDS_PER_CHARGE`] refunds already.
    #[error("the charge has {limit} refunds already")]
    RefundLimitReached { limit: usize },
    /// More than [`crate::refund::REFUND_WINDOW_DAYS`] days since payment.
    #[error("the refund window of this charge has closed")]
    RefundWindowExpired,
    /// An infraction on a charge whose refunds and open or lost disputes already cover (or
    /// would exceed, with this one) its amount; nothing changed.
    #[error("the dispute exceeds what is still disputable ({remaining})")]
    DisputeExceedsRemaining { remaining: crate::pix::money::Money },
    /// The charge has [`crate::dispute::MAX_DISPUTES_PER_CHARGE`] disputes already.
    #[error("the charge has {limit} disputes already")]
    DisputeLimitReached { limit: usize },
    /// A defence after the dispute's `respondBy`.
    #[error("the defence deadline {respond_by} has passed")]
    DisputeDeadlinePassed {
        respond_by: chrono::DateTime<chrono::Utc>,
    },
    /// A defence of a dispute already WON or LOST.
    #[error("the dispute is decided already")]
    DisputeDecided,
    /// A cash-out with this externalId already exists in the account.
    #[error("a cash-out with this externalId already exists")]
    DuplicateCashOutExternalId,
    /// Concurrent writes kept changing what this request read (balance shards, splits) for
    /// every attempt; nothing was written by this one.
    #[error("the account changed concurrently; retry")]
    ConcurrentUpdate,
    /// An inbound provider webhook failed authentication or could not be read.
    #[error(transparent)]
    Webhook(#[from] crate::provider::ProviderWebhookError),
    /// No provider of that name is configured here.
    #[error("unknown PIX provider")]
    UnknownProvider,
    /// The provider holding this charge (or the account's providers) cannot do this
    /// operation (PagFast takes charges only: no refunds, no transfers).
    #[error("the PIX provider {provider} does not support {operation}")]
    ProviderOperationUnsupported {
        provider: String,
        operation: &'static str,
    },
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether a conditional write happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Applied,
    /// A condition failed; nothing was written.
    Conflict,
}

/// A stored record that does not read back as a valid domain object (see the `record` modules).
pub(crate) fn corrupt(what: &str, id: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} of {id}"))
}
