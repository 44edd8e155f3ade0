//! Every error the API can return, and the ONE place that turns it into the seed-004
//! envelope: `{statusCode, timestamp, path, method, code, message, userMessage, details?,
//! errorId?}`. `code` is a stable UPPER_SNAKE identifier; `userMessage` is Portuguese for end
//! users; `details.errors` lists every validation failure at once.
//!
//! The headers an error status requires travel with it from here too: `Allow` on a 405
//! (RFC 9110 §15.5.6) and a `WWW-Authenticate` challenge on every 401 (RFC 9110 §15.5.2,
//! RFC 6750 §3), so no host or handler can forget them.

use chrono::{DateTime, SecondsFormat, Utc};
use http::{HeaderValue, Method, StatusCode, header};
use pixgw_domain::account::ports::AccountUpdateError;
use pixgw_domain::error::{
    DomainError, ProviderError, ProviderRejection, RejectionKind, StoreError,
};
use pixgw_domain::provider::ProviderWebhookError;
use pixgw_domain::webhooks::service::MerchantWebhookError;
use serde::Serialize;
use serde_json::json;

use crate::http_types::{ApiRequest, ApiResponse};
use crate::sandbox_clock::OffsetLimit;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation(Vec<String>),
    #[error("malformed JSON body: {0}")]
    MalformedJson(String),
    #[error("empty request body")]
    EmptyBody,
    #[error("request body too large")]
    BodyTooLarge,
    #[error("invalid query parameters")]
    InvalidQuery(Vec<String>),
    #[error("X-Idempotency-Key must be a UUID")]
    InvalidIdempotencyKey,
    #[error("missing bearer token")]
    MissingToken,
    #[error("invalid or expired bearer token")]
    InvalidToken,
    #[error("invalid client credentials")]
    InvalidCredentials,
    #[error("missing DigitalSignature header")]
    SignatureRequired,
    #[error("invalid DigitalSignature")]
    InvalidSignature,
    #[error("route not found")]
    RouteNotFound,
    /// The path exists, but not with this method; `allow` lists the methods it takes.
    #[error("method not allowed")]
    MethodNotAllowed { allow: Vec<Method> },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Unknown, malformed and other accounts' payout ids alike.
    #[error("payout not found")]
    PayoutNotFound,
    /// Unknown, malformed and other accounts' recipient ids alike.
    #[error("recipient not found")]
    RecipientNotFound,
    #[error("duplicate externalId")]
    DuplicateExternalId,
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    #[error("idempotency key in use")]
    IdempotencyKeyInUse,
    #[error("charge is {0}, not PENDING")]
    ChargeNotPending(&'static str),
    #[error("charge expired")]
    ChargeExpired,
    #[error("paid amount differs from the charge amount")]
    PaymentAmountMismatch,
    #[error("end-to-end id already used by another payment")]
    EndToEndIdConflict,
    #[error("payout schedule changed concurrently")]
    ScheduleChangedConcurrently,
    /// The merchant's webhook URL was refused by the URL policy (the reason, e.g. `url must
    /// use https`, goes to `details.errors`).
    #[error("webhook URL refused: {0}")]
    InvalidWebhookUrl(String),
    #[error("webhook endpoint not found")]
    WebhookEndpointNotFound,
    /// Unknown and other accounts' delivery ids alike.
    #[error("webhook delivery not found")]
    WebhookDeliveryNotFound,
    /// Other requests kept changing the same record (optimistic-lock retries ran out);
    /// nothing was written by this one.
    #[error("changed concurrently")]
    ConcurrentUpdate,
    #[error("available balance {available} does not cover {needed}")]
    InsufficientBalance {
        available: pixgw_domain::pix::money::Money,
        needed: pixgw_domain::pix::money::Money,
    },
    #[error("charge is {0}; only a paid charge can be refunded")]
    ChargeNotRefundable(&'static str),
    #[error("the refund exceeds the remaining {remaining}")]
    RefundExceedsRemaining {
        remaining: pixgw_domain::pix::money::Money,
    },
    #[error("the charge has {limit} refunds already")]
    RefundLimitReached { limit: usize },
    #[error("refund window closed")]
    RefundWindowExpired,
    #[error("the dispute exceeds the remaining {remaining}")]
    DisputeExceedsRemaining {
        remaining: pixgw_domain::pix::money::Money,
    },
    #[error("the charge has {limit} disputes already")]
    DisputeLimitReached { limit: usize },
    #[error("the defence deadline {respond_by} has passed")]
    DisputeDeadlinePassed {
        respond_by: chrono::DateTime<chrono::Utc>,
    },
    #[error("the dispute is decided already")]
    DisputeDecided,
    #[error("charge is {0} without a cautelar hold in force")]
    ChargeNotHeld(&'static str),
    #[error("duplicate cash-out externalId")]
    DuplicateCashOutExternalId,
    #[error("provider webhook not authenticated: {0}")]
    WebhookUnauthenticated(&'static str),
    #[error("provider webhook malformed: {0}")]
    WebhookMalformed(String),
    #[error("PIX provider unavailable")]
    ProviderUnavailable,
    #[error("PIX provider rejected the request: {0}")]
    ProviderRejected(ProviderRejection),
    #[error("the PIX provider could not confirm the webhook")]
    WebhookUnconfirmed,
    #[error("the PIX provider {provider} does not support {operation}")]
    ProviderOperationUnsupported {
        provider: String,
        operation: &'static str,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Validation(errors) => ApiError::Validation(errors),
            DomainError::DuplicateExternalId => ApiError::DuplicateExternalId,
            DomainError::NotFound(what) => ApiError::NotFound(what),
            DomainError::InvalidCredentials => ApiError::InvalidCredentials,
            DomainError::IdempotencyKeyReused => ApiError::IdempotencyKeyReused,
            DomainError::IdempotencyKeyInUse => ApiError::IdempotencyKeyInUse,
            DomainError::ChargeNotPending { status } => ApiError::ChargeNotPending(status),
            DomainError::ChargeExpired => ApiError::ChargeExpired,
            DomainError::PaymentAmountMismatch => ApiError::PaymentAmountMismatch,
            DomainError::EndToEndIdConflict => ApiError::EndToEndIdConflict,
            DomainError::ScheduleChangedConcurrently => ApiError::ScheduleChangedConcurrently,
            DomainError::Webhook(ProviderWebhookError::Unauthenticated(why)) => {
                ApiError::WebhookUnauthenticated(why)
            }
            DomainError::Webhook(ProviderWebhookError::Malformed(why)) => {
                ApiError::WebhookMalformed(why)
            }
            DomainError::Webhook(ProviderWebhookError::Unconfirmed(_)) => {
                ApiError::WebhookUnconfirmed
            }
            DomainError::ProviderOperationUnsupported {
                provider,
                operation,
            } => ApiError::ProviderOperationUnsupported {
                provider,
                operation,
            },
            DomainError::UnknownProvider => ApiError::NotFound("provider"),
            DomainError::Provider(ProviderError::Unavailable(_)) => ApiError::ProviderUnavailable,
            DomainError::Provider(ProviderError::Rejected(rejection)) => {
                ApiError::ProviderRejected(rejection)
            }
            DomainError::InsufficientBalance { available, needed } => {
                ApiError::InsufficientBalance { available, needed }
            }
            DomainError::ChargeNotRefundable { status } => ApiError::ChargeNotRefundable(status),
            DomainError::RefundExceedsRemaining { remaining } => {
                ApiError::RefundExceedsRemaining { remaining }
            }
            DomainError::RefundLimitReached { limit } => ApiError::RefundLimitReached { limit },
            DomainError::RefundWindowExpired => ApiError::RefundWindowExpired,
            DomainError::DisputeExceedsRemaining { remaining } => {
                ApiError::DisputeExceedsRemaining { remaining }
            }
            DomainError::DisputeLimitReached { limit } => ApiError::DisputeLimitReached { limit },
            DomainError::DisputeDeadlinePassed { respond_by } => {
                ApiError::DisputeDeadlinePassed { respond_by }
            }
            DomainError::DisputeDecided => ApiError::DisputeDecided,
            DomainError::DuplicateCashOutExternalId => ApiError::DuplicateCashOutExternalId,
            DomainError::ConcurrentUpdate => ApiError::ConcurrentUpdate,
            DomainError::Store(e) => e.into(),
        }
    }
}

/// The merchant-webhook use cases.
impl From<MerchantWebhookError> for ApiError {
    fn from(e: MerchantWebhookError) -> Self {
        match e {
            MerchantWebhookError::InvalidUrl(reason) => {
                ApiError::InvalidWebhookUrl(reason.to_string())
            }
            MerchantWebhookError::DeliveryNotFound => ApiError::WebhookDeliveryNotFound,
            MerchantWebhookError::EndpointNotFound => ApiError::WebhookEndpointNotFound,
            MerchantWebhookError::Concurrent => ApiError::ConcurrentUpdate,
            // A data key that cannot seal is a deployment fault, not the caller's.
            MerchantWebhookError::Sealing => {
                ApiError::Internal("webhook secret sealing failed".into())
            }
            MerchantWebhookError::Store(e) => e.into(),
        }
    }
}

/// An account setting (e.g. the refund policy) could not be written.
impl From<AccountUpdateError> for ApiError {
    fn from(e: AccountUpdateError) -> Self {
        match e {
            // The token named an account that is gone: like any request signed for it, the
            // session is no longer valid.
            AccountUpdateError::AccountNotFound => ApiError::InvalidToken,
            AccountUpdateError::Store(e) => e.into(),
        }
    }
}

/// The sandbox clock refused to move that far: a body problem like any other.
impl From<OffsetLimit> for ApiError {
    fn from(e: OffsetLimit) -> Self {
        ApiError::Validation(vec![e.to_string()])
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

/// What the envelope says for one error.
struct Described {
    status: StatusCode,
    code: &'static str,
    message: String,
    user_message: &'static str,
}

impl ApiError {
    fn describe(&self) -> Described {
        use ApiError::*;
        let d = |status, code, message: &str, user_message| Described {
            status,
            code,
            message: message.to_owned(),
            user_message,
        };
        match self {
            Validation(_) => d(
                StatusCode::BAD_REQUEST,
                "PUB_VALIDATION_ERROR",
                "Validation failed",
                "Dados da requisição inválidos",
            ),
            MalformedJson(_) => d(
                StatusCode::BAD_REQUEST,
                "PUB_MALFORMED_JSON",
                "Request body is not valid JSON",
                "Dados da requisição inválidos",
            ),
            EmptyBody => d(
                StatusCode::BAD_REQUEST,
                "PUB_EMPTY_BODY",
                "Request body must not be empty",
                "Dados da requisição inválidos",
            ),
            BodyTooLarge => d(
                StatusCode::BAD_REQUEST,
                "PUB_PAYLOAD_TOO_LARGE",
                "Request body must not exceed 1 MiB",
                "Requisição grande demais",
            ),
            InvalidQuery(_) => d(
                StatusCode::BAD_REQUEST,
                "PUB_VALIDATION_ERROR",
                "Invalid query parameters",
                "Parâmetros da consulta inválidos",
            ),
            InvalidIdempotencyKey => d(
                StatusCode::BAD_REQUEST,
                "PUB_INVALID_IDEMPOTENCY_KEY",
                "X-Idempotency-Key must be a UUID",
                "Chave de idempotência inválida",
            ),
            MissingToken => d(
                StatusCode::UNAUTHORIZED,
                "PUB_UNAUTHORIZED",
                "Missing bearer token",
                "Autenticação necessária",
            ),
            InvalidToken => d(
                StatusCode::UNAUTHORIZED,
                "PUB_INVALID_TOKEN",
                "Invalid or expired bearer token",
                "Sessão inválida ou expirada. Autentique-se novamente.",
            ),
            InvalidCredentials => d(
                StatusCode::UNAUTHORIZED,
                "PUB_INVALID_CREDENTIALS",
                "Invalid clientId or clientSecret",
                "Credenciais inválidas",
            ),
            SignatureRequired => d(
                StatusCode::UNAUTHORIZED,
                "PUB_SIGNATURE_REQUIRED",
                "This operation requires the DigitalSignature header",
                "Assinatura digital obrigatória para esta operação",
            ),
            InvalidSignature => d(
                StatusCode::UNAUTHORIZED,
                "PUB_INVALID_SIGNATURE",
                "DigitalSignature does not match the bearer token and the account's cryptoToken",
                "Assinatura digital inválida",
            ),
            RouteNotFound => d(
                StatusCode::NOT_FOUND,
                "PUB_ROUTE_NOT_FOUND",
                "Route not found",
                "Recurso não encontrado",
            ),
            MethodNotAllowed { .. } => d(
                StatusCode::METHOD_NOT_ALLOWED,
                "PUB_METHOD_NOT_ALLOWED",
                "Method not allowed on this route",
                "Operação não permitida",
            ),
            NotFound(what) => Described {
                status: StatusCode::NOT_FOUND,
                code: "PUB_NOT_FOUND",
                message: format!("{} not found", capitalise(what)),
                user_message: "Registro não encontrado",
            },
            PayoutNotFound => d(
                StatusCode::NOT_FOUND,
                "PAYOUT_NOT_FOUND",
                "Payout not found",
                "Repasse não encontrado",
            ),
            RecipientNotFound => d(
                StatusCode::NOT_FOUND,
                "RECIPIENT_NOT_FOUND",
                "Recipient not found",
                "Recebedor não encontrado",
            ),
            DuplicateExternalId => d(
                StatusCode::CONFLICT,
                "DUPLICATE_EXTERNAL_ID",
                "A charge with this externalId already exists for this account",
                "Já existe uma cobrança com este identificador externo",
            ),
            IdempotencyKeyReused => d(
                StatusCode::UNPROCESSABLE_ENTITY,
                "IDEMPOTENCY_KEY_REUSED",
                "X-Idempotency-Key was already used with a different request",
                "Chave de idempotência já utilizada em outra requisição",
            ),
            IdempotencyKeyInUse => d(
                StatusCode::CONFLICT,
                "IDEMPOTENCY_KEY_IN_USE",
                "A request with this X-Idempotency-Key is still being processed",
                "Requisição em processamento. Tente novamente em instantes.",
            ),
            ChargeNotPending(status) => Described {
                status: StatusCode::CONFLICT,
                code: "CHARGE_NOT_PENDING",
                message: format!("The charge is {status}; only a PENDING charge can be paid"),
                user_message: "Esta cobrança não está mais aguardando pagamento",
            },
            ChargeExpired => d(
                StatusCode::CONFLICT,
                "CHARGE_EXPIRED",
                "The charge expired and can no longer be paid",
                "Esta cobrança expirou",
            ),
            PaymentAmountMismatch => d(
                StatusCode::UNPROCESSABLE_ENTITY,
                "PAYMENT_AMOUNT_MISMATCH",
                "The paid amount differs from the charge amount",
                "Valor pago diferente do valor da cobrança",
            ),
            EndToEndIdConflict => d(
                StatusCode::CONFLICT,
                "END_TO_END_ID_CONFLICT",
                "This end-to-end id already settled another charge",
                "Pagamento já registrado para outra cobrança",
            ),
            ScheduleChangedConcurrently => d(
                StatusCode::CONFLICT,
                "SCHEDULE_CHANGED_CONCURRENTLY",
                "The payout schedule was changed by concurrent requests; retry",
                "A agenda de repasses foi alterada por outra requisição. Tente novamente.",
            ),
            InvalidWebhookUrl(_) => d(
                StatusCode::BAD_REQUEST,
                "INVALID_WEBHOOK_URL",
                "The webhook URL is not allowed",
                "URL de webhook inválida. Use um endereço https público.",
            ),
            WebhookEndpointNotFound => d(
                StatusCode::NOT_FOUND,
                "WEBHOOK_NOT_FOUND",
                "No webhook endpoint is registered for this account",
                "Nenhum webhook configurado para esta conta",
            ),
            WebhookDeliveryNotFound => d(
                StatusCode::NOT_FOUND,
                "WEBHOOK_DELIVERY_NOT_FOUND",
                "Webhook delivery not found",
                "Entrega de webhook não encontrada",
            ),
            InsufficientBalance { available, needed } => Described {
                status: StatusCode::CONFLICT,
                code: "INSUFFICIENT_BALANCE",
                message: format!("The available balance ({available}) does not cover {needed}"),
                user_message: "Saldo disponível insuficiente",
            },
            ChargeNotRefundable(status) => Described {
                status: StatusCode::CONFLICT,
                code: "CHARGE_NOT_REFUNDABLE",
                message: format!("The charge is {status}; only a paid charge can be refunded"),
                user_message: "Esta cobrança não pode ser devolvida",
            },
            RefundExceedsRemaining { remaining } => Described {
                status: StatusCode::CONFLICT,
                code: "REFUND_EXCEEDS_REMAINING",
                message: format!(
                    "The refund exceeds what is still refundable on this charge ({remaining})"
                ),
                user_message: "O valor excede o saldo ainda devolvível desta cobrança",
            },
            RefundLimitReached { limit } => Described {
                status: StatusCode::CONFLICT,
                code: "REFUND_LIMIT_REACHED",
                message: format!("This charge has {limit} refunds already, the most it may have"),
                user_message: "Esta cobrança atingiu o número máximo de devoluções",
            },
            RefundWindowExpired => d(
                StatusCode::CONFLICT,
                "REFUND_WINDOW_EXPIRED",
                "A charge can be refunded up to 90 days after payment",
                "O prazo para devolução desta cobrança expirou",
            ),
            DisputeExceedsRemaining { remaining } => Described {
                status: StatusCode::CONFLICT,
                code: "DISPUTE_EXCEEDS_REMAINING",
                message: format!(
                    "The refunds and disputes of this charge already cover its amount; {remaining} remains"
                ),
                user_message: "O valor contestado excede o saldo ainda devolvível desta cobrança",
            },
            DisputeLimitReached { limit } => Described {
                status: StatusCode::CONFLICT,
                code: "DISPUTE_LIMIT_REACHED",
                message: format!("This charge has {limit} disputes already, the most it may have"),
                user_message: "Esta cobrança atingiu o número máximo de contestações",
            },
            DisputeDeadlinePassed { respond_by } => Described {
                status: StatusCode::CONFLICT,
                code: "DISPUTE_DEADLINE_PASSED",
                message: format!(
                    "The defence deadline of this dispute ({}) has passed",
                    pixgw_domain::pix::clock::timestamp(*respond_by)
                ),
                user_message: "O prazo para defesa desta contestação terminou",
            },
            DisputeDecided => d(
                StatusCode::CONFLICT,
                "DISPUTE_DECIDED",
                "This dispute is decided already; it takes no more defence",
                "Esta contestação já foi decidida",
            ),
            ChargeNotHeld(status) => Described {
                status: StatusCode::CONFLICT,
                code: "CHARGE_NOT_HELD",
                message: format!("The charge is {status} and has no cautelar hold in force"),
                user_message: "Esta cobrança não está sob bloqueio cautelar",
            },
            DuplicateCashOutExternalId => d(
                StatusCode::CONFLICT,
                "DUPLICATE_EXTERNAL_ID",
                "A cash-out with this externalId already exists for this account",
                "Já existe uma transferência com este identificador externo",
            ),
            ConcurrentUpdate => d(
                StatusCode::CONFLICT,
                "CONCURRENT_UPDATE",
                "The resource was changed by concurrent requests; retry",
                "O registro foi alterado por outra requisição. Tente novamente.",
            ),
            WebhookUnauthenticated(_) => d(
                StatusCode::UNAUTHORIZED,
                "PROVIDER_WEBHOOK_UNAUTHENTICATED",
                "The webhook signature could not be verified",
                "Notificação não autenticada",
            ),
            WebhookMalformed(_) => d(
                StatusCode::BAD_REQUEST,
                "PROVIDER_WEBHOOK_MALFORMED",
                "The webhook payload could not be read",
                "Notificação inválida",
            ),
            ProviderUnavailable => d(
                StatusCode::SERVICE_UNAVAILABLE,
                "PUB_PROVIDER_UNAVAILABLE",
                "Failed to communicate with the PIX provider",
                "Erro ao gerar cobrança PIX. Tente novamente em alguns instantes.",
            ),
            ProviderRejected(rejection) => match rejection.kind {
                RejectionKind::PayerDocumentRestricted => d(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "PAYER_DOCUMENT_RESTRICTED",
                    "The payer's CPF/CNPJ is restricted at the banks; the PIX provider refused it",
                    "O CPF/CNPJ do pagador possui restrição e não pode receber cobranças PIX",
                ),
                RejectionKind::PayerDocumentInvalid => d(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "PAYER_DOCUMENT_INVALID",
                    "The PIX provider could not validate the payer's CPF/CNPJ",
                    "O CPF/CNPJ do pagador não foi reconhecido. Verifique o documento.",
                ),
                RejectionKind::InvalidRequest => d(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "PUB_PROVIDER_INVALID_REQUEST",
                    "The PIX provider found the request invalid",
                    "Dados inválidos para o provedor PIX. Verifique os campos enviados.",
                ),
                RejectionKind::NotAllowed => d(
                    StatusCode::CONFLICT,
                    "PUB_PROVIDER_NOT_ALLOWED",
                    "The PIX provider does not allow this operation now",
                    "O provedor PIX não permite esta operação no momento",
                ),
                RejectionKind::Other => d(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "PUB_PROVIDER_REJECTED",
                    "The PIX provider rejected the request",
                    "A operação foi recusada pelo provedor PIX",
                ),
            },
            WebhookUnconfirmed => d(
                StatusCode::SERVICE_UNAVAILABLE,
                "PROVIDER_WEBHOOK_UNCONFIRMED",
                "The webhook could not be confirmed with the PIX provider; deliver it again",
                "Notificação não confirmada. Reenvie.",
            ),
            ProviderOperationUnsupported { .. } => d(
                StatusCode::CONFLICT,
                "PROVIDER_OPERATION_UNSUPPORTED",
                "The PIX provider holding this resource does not support this operation",
                "Operação não suportada pelo provedor PIX desta conta",
            ),
            Internal(_) => d(
                StatusCode::INTERNAL_SERVER_ERROR,
                "PUB_INTERNAL_ERROR",
                "Internal error",
                "Erro interno. Tente novamente em alguns instantes.",
            ),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.describe().status
    }

    pub fn code(&self) -> &'static str {
        self.describe().code
    }

    /// Renders the envelope for `request`. Server errors get an `errorId` that is also logged,
    /// so support can find the cause without the client ever seeing it.
    pub fn to_response(&self, request: &ApiRequest, now: DateTime<Utc>) -> ApiResponse {
        let described = self.describe();
        let details = match self {
            ApiError::Validation(errors) | ApiError::InvalidQuery(errors) => {
                Some(json!({ "errors": errors }))
            }
            ApiError::MalformedJson(reason) => Some(json!({ "errors": [reason] })),
            ApiError::ProviderRejected(rejection) => Some(provider_details(rejection)),
            ApiError::ProviderOperationUnsupported {
                provider,
                operation,
            } => Some(json!({ "provider": provider, "operation": operation })),
            ApiError::WebhookMalformed(reason) => Some(json!({ "errors": [reason] })),
            ApiError::RefundExceedsRemaining { remaining }
            | ApiError::DisputeExceedsRemaining { remaining } => {
                Some(json!({ "remaining": remaining }))
            }
            ApiError::DisputeDeadlinePassed { respond_by } => {
                Some(json!({ "respondBy": pixgw_domain::pix::clock::timestamp(*respond_by) }))
            }
            ApiError::InvalidWebhookUrl(reason) => Some(json!({ "errors": [reason] })),
            _ => None,
        };
        let error_id = described.status.is_server_error().then(|| {
            let id = format!("err_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
            tracing::error!(error_id = %id, error = %self, path = %request.path, "request failed");
            id
        });
        let envelope = Envelope {
            status_code: described.status.as_u16(),
            timestamp: now.to_rfc3339_opts(SecondsFormat::Millis, true),
            path: &request.path,
            method: request.method.as_str(),
            code: described.code,
            message: &described.message,
            user_message: described.user_message,
            details,
            error_id,
        };
        let mut response = ApiResponse::json(described.status, &envelope);
        self.add_headers(&mut response);
        response
    }

    /// The headers this error's status requires.
    fn add_headers(&self, response: &mut ApiResponse) {
        if let ApiError::MethodNotAllowed { allow } = self {
            response.headers.insert(header::ALLOW, allow_value(allow));
        }
        if let Some(challenge) = self.challenge() {
            response.headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
    }

    /// The `WWW-Authenticate` challenge of a 401: RFC 9110 §11.6.1 requires at least one on
    /// every 401, naming a scheme that applies to the resource. `None` for every other status.
    pub fn challenge(&self) -> Option<&'static str> {
        use ApiError::*;
        match self {
            // No usable bearer token was sent (none, an empty one, or another scheme such as
            // Basic): RFC 6750 §3 says the challenge then carries no error code.
            MissingToken => Some(BEARER_CHALLENGE),
            // A bearer token was sent but is forged, expired or speaks for a gone account.
            InvalidToken => Some(INVALID_TOKEN_CHALLENGE),
            // The token endpoint is where bearer tokens come from: its credentials travel in
            // the JSON body, for which no HTTP scheme exists, and the only scheme this API
            // speaks is Bearer. No error code: no token was presented (RFC 6750 §3).
            InvalidCredentials => Some(BEARER_CHALLENGE),
            // DigitalSignature is a second factor on top of a bearer token that was valid.
            // `error="invalid_token"` would be false here and makes OAuth clients throw the
            // token away and sign in again, which cannot fix a missing or wrong signature; the
            // envelope's code (PUB_SIGNATURE_REQUIRED / PUB_INVALID_SIGNATURE) says what to
            // fix. The Bearer challenge alone still names the scheme the route requires.
            SignatureRequired | InvalidSignature => Some(BEARER_CHALLENGE),
            // PIX provider webhooks carry no bearer token: the provider signs each request
            // (Standard Webhooks for the sandbox) or we read the event back from it. A Bearer
            // challenge would point the provider at a scheme this route does not take.
            WebhookUnauthenticated(_) => Some(PROVIDER_WEBHOOK_CHALLENGE),
            _ => None,
        }
    }
}

/// The challenge when no bearer token came with the request (RFC 6750 §3).
pub const BEARER_CHALLENGE: &str = r#"Bearer realm="pixgw""#;
/// The challenge for a bearer token that was sent but is not valid (RFC 6750 §3.1).
pub const INVALID_TOKEN_CHALLENGE: &str = r#"Bearer realm="pixgw", error="invalid_token", error_description="The access token is invalid or expired""#;
/// The challenge of the PIX provider webhook route, authenticated by request signatures.
pub const PROVIDER_WEBHOOK_CHALLENGE: &str = r#"Signature realm="pixgw-provider-webhooks""#;

/// `Allow: GET, PUT` (RFC 9110 §10.2.1); empty when no method is allowed.
fn allow_value(methods: &[Method]) -> HeaderValue {
    let names: Vec<&str> = methods.iter().map(Method::as_str).collect();
    // Method names are tokens, always valid header text.
    HeaderValue::from_str(&names.join(", ")).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    status_code: u16,
    timestamp: String,
    path: &'a str,
    method: &'a str,
    code: &'static str,
    message: &'a str,
    user_message: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_id: Option<String>,
}

/// The provider's own words about a refusal, for the envelope's `details`.
fn provider_details(rejection: &ProviderRejection) -> serde_json::Value {
    let mut details = json!({ "providerReason": rejection.reason });
    if let Some(message) = &rejection.message {
        details["providerMessage"] = json!(message);
    }
    if !rejection.errors.is_empty() {
        details["providerErrors"] = json!(rejection.errors);
    }
    details
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use pixgw_domain::pix::money::Money;

    use super::*;

    /// One error of every variant (and every provider rejection kind). The `match` below has
    /// no wildcard, so a new variant does not compile until it is added here too.
    fn every_variant() -> Vec<ApiError> {
        use ApiError::*;
        let rejection = |kind| ProviderRejection {
            kind,
            reason: "R".into(),
            message: None,
            errors: Vec::new(),
        };
        let all = vec![
            Validation(vec!["x".into()]),
            MalformedJson("x".into()),
            EmptyBody,
            BodyTooLarge,
            InvalidQuery(vec!["x".into()]),
            InvalidIdempotencyKey,
            MissingToken,
            InvalidToken,
            InvalidCredentials,
            SignatureRequired,
            InvalidSignature,
            RouteNotFound,
            MethodNotAllowed {
                allow: vec![Method::GET, Method::PUT],
            },
            NotFound("charge"),
            PayoutNotFound,
            RecipientNotFound,
            DuplicateExternalId,
            IdempotencyKeyReused,
            IdempotencyKeyInUse,
            ChargeNotPending("CONFIRMED"),
            ChargeExpired,
            PaymentAmountMismatch,
            EndToEndIdConflict,
            ScheduleChangedConcurrently,
            InvalidWebhookUrl("x".into()),
            WebhookEndpointNotFound,
            WebhookDeliveryNotFound,
            ConcurrentUpdate,
            InsufficientBalance {
                available: Money::from_cents(0),
                needed: Money::from_cents(1),
            },
            ChargeNotRefundable("PENDING"),
            RefundExceedsRemaining {
                remaining: Money::from_cents(100),
            },
            RefundLimitReached { limit: 20 },
            RefundWindowExpired,
            DisputeExceedsRemaining {
                remaining: Money::from_cents(0),
            },
            DisputeLimitReached { limit: 10 },
            DisputeDeadlinePassed {
                respond_by: Utc::now(),
            },
            DisputeDecided,
            ChargeNotHeld("CONFIRMED"),
            DuplicateCashOutExternalId,
            WebhookUnauthenticated("x"),
            WebhookMalformed("x".into()),
            ProviderUnavailable,
            ProviderRejected(rejection(RejectionKind::PayerDocumentRestricted)),
            ProviderRejected(rejection(RejectionKind::PayerDocumentInvalid)),
            ProviderRejected(rejection(RejectionKind::InvalidRequest)),
            ProviderRejected(rejection(RejectionKind::NotAllowed)),
            ProviderRejected(rejection(RejectionKind::Other)),
            WebhookUnconfirmed,
            ProviderOperationUnsupported {
                provider: "x".into(),
                operation: "refund",
            },
            Internal("x".into()),
        ];
        for error in &all {
            match error {
                Validation(_)
                | MalformedJson(_)
                | EmptyBody
                | BodyTooLarge
                | InvalidQuery(_)
                | InvalidIdempotencyKey
                | MissingToken
                | InvalidToken
                | InvalidCredentials
                | SignatureRequired
                | InvalidSignature
                | RouteNotFound
                | MethodNotAllowed { .. }
                | NotFound(_)
                | PayoutNotFound
                | RecipientNotFound
                | DuplicateExternalId
                | IdempotencyKeyReused
                | IdempotencyKeyInUse
                | ChargeNotPending(_)
                | ChargeExpired
                | PaymentAmountMismatch
                | EndToEndIdConflict
                | ScheduleChangedConcurrently
                | InvalidWebhookUrl(_)
                | WebhookEndpointNotFound
                | WebhookDeliveryNotFound
                | ConcurrentUpdate
                | InsufficientBalance { .. }
                | ChargeNotRefundable(_)
                | RefundExceedsRemaining { .. }
                | RefundLimitReached { .. }
                | RefundWindowExpired
                | DisputeExceedsRemaining { .. }
                | DisputeLimitReached { .. }
                | DisputeDeadlinePassed { .. }
                | DisputeDecided
                | ChargeNotHeld(_)
                | DuplicateCashOutExternalId
                | WebhookUnauthenticated(_)
                | WebhookMalformed(_)
                | ProviderUnavailable
                | ProviderRejected(_)
                | WebhookUnconfirmed
                | ProviderOperationUnsupported { .. }
                | Internal(_) => {}
            }
        }
        all
    }

    fn render(error: &ApiError) -> ApiResponse {
        let request = ApiRequest::new(Method::POST, "/api/x");
        error.to_response(&request, Utc::now())
    }

    #[test]
    fn every_401_carries_a_challenge_and_nothing_else_does() {
        for error in every_variant() {
            let response = render(&error);
            let challenge = response.headers.get(header::WWW_AUTHENTICATE);
            assert_eq!(
                response.status == StatusCode::UNAUTHORIZED,
                challenge.is_some(),
                "{error:?}"
            );
        }
    }

    #[test]
    fn api_401s_challenge_bearer_and_name_invalid_tokens() {
        let challenge = |e: ApiError| {
            render(&e).headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .to_owned()
        };
        // RFC 6750 §3: no error code when no token came; invalid_token when a bad one did.
        for error in [
            ApiError::MissingToken,
            ApiError::InvalidCredentials,
            ApiError::SignatureRequired,
            ApiError::InvalidSignature,
        ] {
            let value = challenge(error.clone());
            assert!(value.starts_with("Bearer "), "{error:?}: {value}");
            assert!(!value.contains("error="), "{error:?}: {value}");
        }
        let invalid = challenge(ApiError::InvalidToken);
        assert!(invalid.starts_with("Bearer "), "{invalid}");
        assert!(invalid.contains(r#"error="invalid_token""#), "{invalid}");
        assert!(!challenge(ApiError::WebhookUnauthenticated("x")).starts_with("Bearer"));
    }

    #[test]
    fn a_405_lists_the_allowed_methods() {
        let response = render(&ApiError::MethodNotAllowed {
            allow: vec![Method::GET, Method::PUT],
        });
        assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers[header::ALLOW], "GET, PUT");
        for error in every_variant() {
            if !matches!(error, ApiError::MethodNotAllowed { .. }) {
                assert!(
                    !render(&error).headers.contains_key(header::ALLOW),
                    "{error:?}"
                );
            }
        }
    }

    #[test]
    fn an_account_update_on_a_gone_account_is_an_invalid_session() {
        use pixgw_domain::account::ports::AccountUpdateError;
        assert_eq!(
            ApiError::from(AccountUpdateError::AccountNotFound).code(),
            "PUB_INVALID_TOKEN"
        );
        let store = AccountUpdateError::Store(StoreError::Unavailable("down".into()));
        assert_eq!(
            ApiError::from(store).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    /// A client generated from `openapi.json` must be able to read every code we send:
    /// the envelope's `code` enum lists each one.
    #[test]
    fn every_code_is_in_the_documented_envelope() {
        let doc: serde_json::Value =
            serde_json::from_str(crate::openapi::DOCUMENT).expect("valid JSON");
        let documented: BTreeSet<&str> =
            doc["components"]["schemas"]["ErrorEnvelope"]["properties"]["code"]["enum"]
                .as_array()
                .expect("ErrorEnvelope.code enum")
                .iter()
                .filter_map(serde_json::Value::as_str)
                .collect();
        let missing: BTreeSet<&str> = every_variant()
            .iter()
            .map(ApiError::code)
            .filter(|code| !documented.contains(code))
            .collect();
        assert!(
            missing.is_empty(),
            "codes missing from openapi.json: {missing:?}"
        );
    }
}
