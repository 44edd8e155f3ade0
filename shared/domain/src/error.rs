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
    /// Timeouts, 5xx, connection failures: safe to retry with the same idempotency key.
    #[error("PIX provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request; retrying will not help.
    #[error("PIX provider rejected the request: {0}")]
    Rejected(String),
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
        available: crate::money::Money,
        needed: crate::money::Money,
    },
    /// Only a CONFIRMED charge can be refunded.
    #[error("charge is {status}; only CONFIRMED charges can be refunded")]
    ChargeNotRefundable { status: &'static str },
    /// A refund of this charge is processing or done.
    #[error("a refund of this charge was already requested")]
    RefundAlreadyRequested,
    /// More than [`crate::charge::REFUND_WINDOW_DAYS`] days since payment.
    #[error("the refund window of this charge has closed")]
    RefundWindowExpired,
    /// A cash-out with this externalId already exists in the account.
    #[error("a cash-out with this externalId already exists")]
    DuplicateCashOutExternalId,
    /// Concurrent writes kept changing what this request read (balance shards, splits) for
    /// every attempt; nothing was written by this one.
    #[error("the account changed concurrently; retry")]
    ConcurrentUpdate,
    /// An inbound provider webhook failed authentication or could not be read.
    #[error(transparent)]
    Webhook(#[from] crate::provider::WebhookError),
    /// No provider of that name is configured here.
    #[error("unknown PIX provider")]
    UnknownProvider,
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
