//! The PagFast adapter (seed 003): PIX cash-in only.
//!
//! # Charges
//!
//! `POST {base}/accounts/pix/cashin` with `Authorization: Bearer {api_token}` and the seed's
//! three objects ([`wire::CashInRequest`]): `payment` (payer and a fixed, non-editable value
//! sent as a two-place string, `"50.00"`), `transaction` (`orderId` = our transaction id,
//! `orderDescription` = our description, or `"Charge {id}"` when ours is empty because PagFast
//! requires one) and `webhook` (our URL and the custom header PagFast must send back).
//!
//! **CNPJ payers go anonymous.** PagFast validates the payer's `cpf` against the real world and
//! has no field for a CNPJ; our cash-in API takes either, and says the payer is informational.
//! So a CNPJ payer is sent as the seed's anonymous-payer variant (no `payer` object, scenario
//! 2): anyone can pay the QR code, exactly as PagFast documents for that variant.
//!
//! The `201 Done` answer is checked before we record anything: `transaction.orderId` must be
//! ours and `transaction.amount` (a string with up to six decimals, `"50"`, `"15.000000"`)
//! must equal our amount; otherwise the call is `Unavailable` (PagFast answered something we
//! cannot trust, and failover may try another provider).
//!
//! # Retries, and why a 500 is retryable here
//!
//! The seed warns that malformed requests can make PagFast answer `500`. A 500 caused by our
//! request would be deterministic, so retrying it is only safe if we never send a malformed
//! request. Hence [`validate`]: before sending, the adapter checks its own request against the
//! documented schema (an 11-digit `cpf` when a payer is sent, a positive amount with at most two
//! places, non-empty `orderId` and `orderDescription`, an absolute http(s) webhook URL, a valid
//! header name and value) and refuses locally with `Rejected(InvalidRequest)` listing the
//! problems; nothing is sent. Every 500 PagFast still returns is then the provider's failure:
//! retried with backoff ([`RetryServerErrors::Yes`]), then `Unavailable`. Retrying the POST
//! cannot create two charges because `orderId` is PagFast's idempotency key (the seed: "A custom
//! order id the integrator should provide for idempotency") and every attempt carries the same
//! one. Timeouts and connection failures are retried on the same grounds. Error mapping: see
//! [`errors`].
//!
//! # Webhooks (our assumption)
//!
//! Seed 003 does not document the webhook payload beyond "this information is included both in
//! the response object and the webhook messages" and "update [payer/value] in your system by
//! using the webhook event messages". We assume it is the create response's `Done` envelope
//! carrying the transaction's new state and, once paid, the settlement:
//!
//! ```json
//! {"statusCode":"Done","data":{
//!   "transaction":{"id":"…","orderId":"<our id>","date":"…","state":"Paid","amount":"50"},
//!   "payment":{"qrCode":"…","endToEndId":"E…","paidAt":"<RFC 3339>","value":"50.00",
//!     "payer":{"name":"…","cpf":"…","ispb":"…","branch":"…","account":"…"}}}}
//! ```
//!
//! `state == "Paid"` becomes [`ProviderEvent::ChargePaid`] (event id
//! `pagfast:{transaction.id}:Paid`, amount = `payment.value`, the value actually paid), and so
//! does a held state (see below); every state not named here or below is
//! [`ProviderEvent::Ignored`]. Authentication is the custom header we registered with the
//! charge (`webhook.customHeaderName`/`customHeaderValue`), compared in constant time before
//! the body is read: PagFast documents no signature.
//!
//! ## MED infractions (our assumption: the seed says nothing of MED)
//!
//! In the same state-based style, an infraction is the transaction entering a state of its own
//! with the infraction beside it in `data.infraction` (amounts as strings, like PagFast's):
//!
//! ```json
//! {"statusCode":"Done","data":{
//!   "transaction":{"id":"…","orderId":"<our id>","date":"…","state":"InfractionOpened","amount":"50"},
//!   "infraction":{"id":"…","reason":"Fraud","value":"50.00",
//!     "respondBy":"<RFC 3339>","openedAt":"<RFC 3339>"}}}
//! {"statusCode":"Done","data":{
//!   "transaction":{"id":"…","orderId":"<our id>","date":"…","state":"InfractionDecided","amount":"50"},
//!   "infraction":{"id":"…","outcome":"Lost","endToEndId":"D…","decidedAt":"<RFC 3339>"}}}
//! ```
//!
//! Read tolerantly ([`crate::med`]; states, reasons and outcomes compared without case or
//! punctuation, so `InfractionOpened` and `INFRACTION_OPENED` are one):
//!
//! - **States:** opened is `InfractionOpened`, `InfractionRegistered`, `InfractionReceived`,
//!   `MedOpened`, `UnderDispute`, `InDispute`, `Disputed`
//!   ([`webhook::INFRACTION_OPENED_STATES`]); decided is `InfractionDecided`,
//!   `InfractionClosed`, `InfractionConcluded`, `MedDecided`, `MedClosed`, `DisputeDecided`,
//!   `DisputeClosed` ([`webhook::INFRACTION_DECIDED_STATES`]). Event ids:
//!   `pagfast:{transaction.id}:InfractionOpened:{infraction id}` (and `…:InfractionDecided:…`).
//! - **Required:** `transaction.orderId` (one of our transaction ids), `data.infraction` with
//!   `id` (or `infractionId`, 1..=128 printable ASCII), and `reason` (or `type`) / `outcome`
//!   (or `result`, `decision`) with [`crate::med`]'s synonyms: `Fraud`, `Fraude`,
//!   `MedFraude` → fraud; `OperationalFlaw`, `FalhaOperacional`, `MedOperacional` →
//!   operational flaw; `Won`, `Rejected`, `Disagreed` → won; `Lost`, `Accepted`,
//!   `AcceptedByReceiver`, `Agreed` → lost (accepted/rejected speak of the infraction). A
//!   partial acceptance is refused.
//! - **Optional:** `value` (or `amount`; decimal string, up to six places as PagFast writes
//!   them, but whole centavos, or a number; absent: the whole undisputed, unrefunded charge),
//!   `respondBy` (or `deadline`, `dueDate`; absent: the domain's default), `openedAt` (or
//!   `date`, `createdAt`) and `decidedAt` (or `closedAt`, `date`), falling back to our receipt.
//!   A lost decision's devolução id is the first `D…` among `endToEndId`, `returnEndToEndId`,
//!   `devolutionEndToEndId` (an `E…` is the original payment and is passed over; absent:
//!   `None`); a won decision's are not read.
//! - Whatever is present must be well-formed: a bad value, or an infraction state without
//!   `data.infraction`, is `Malformed`, naming the field. Authentication is the custom header,
//!   as for every PagFast webhook.
//!
//! ## Cautelar holds (our assumption: the seed says nothing of holds)
//!
//! Also state-based: a payment PagFast holds as suspicious (bloqueio cautelar, MED 2.0)
//! arrives in a held state, with the settlement in `data.payment` as for `Paid` and the hold
//! beside it in `data.hold`; the hold then ends with the transaction entering a state of its
//! own, released or returned to the payer:
//!
//! ```json
//! {"statusCode":"Done","data":{
//!   "transaction":{"id":"…","orderId":"<our id>","date":"…","state":"Held","amount":"50"},
//!   "payment":{"qrCode":"…","endToEndId":"E…","paidAt":"<RFC 3339>","value":"50.00",
//!     "payer":{…}},
//!   "hold":{"until":"<RFC 3339>"}}}
//! {"statusCode":"Done","data":{
//!   "transaction":{"id":"…","orderId":"<our id>","date":"…","state":"HoldReleased","amount":"50"}}}
//! {"statusCode":"Done","data":{
//!   "transaction":{"id":"…","orderId":"<our id>","date":"…","state":"HoldReturned","amount":"50"},
//!   "hold":{"nature":"MED_FRAUDE","endToEndId":"D…","returnedAt":"<RFC 3339>"}}}
//! ```
//!
//! Read tolerantly ([`crate::hold`]; states and natures compared without case or punctuation):
//!
//! - **Held:** `Held`, `Blocked`, `OnHold`, `PaidHeld`, `PaidBlocked`, `BlockedCautelar`,
//!   `CautelarBlock` ([`webhook::HELD_STATES`]) need `data.payment` as `Paid` does and become
//!   [`ProviderEvent::ChargePaid`] with `hold_until` (event id `pagfast:{transaction.id}:Held`).
//!   The until is `data.hold.until` (or `heldUntil`, `blockedUntil`, `releaseAt` in
//!   `data.hold`), else a flat `data.holdUntil`, `heldUntil`, `blockedUntil`, `cautelarUntil`,
//!   `blockUntil`; none: [`pixgw_domain::charge::MAX_HOLD_HOURS`] hours after
//!   `payment.paidAt`, the longest allowed (refusing would leave the payment unrecorded; the
//!   release ends it sooner). A `Paid` event carrying `data.hold` is held too. An until is
//!   taken as given, past or beyond 72 h (the domain caps it at 72 h after payment), with or
//!   without an offset: PagFast writes UTC (`…Z`), so one without is read as UTC.
//! - **Released:** `HoldReleased`, `Unblocked`, `Released`, `BlockReleased`, `HoldLifted`
//!   ([`webhook::HOLD_RELEASED_STATES`]): [`ProviderEvent::HoldReleased`], event id
//!   `pagfast:{transaction.id}:HoldReleased`; only `transaction.orderId` is read.
//! - **Returned:** `HoldReturned`, `Returned`, `BlockReturned`
//!   ([`webhook::HOLD_RETURNED_STATES`]): [`ProviderEvent::HoldReturned`], event id
//!   `pagfast:{transaction.id}:HoldReturned`. `data.hold` is optional; in it, the nature
//!   `nature` (or `returnNature`, `devolutionNature`, `returnReason`, `returnReasonCode`):
//!   `MED_FRAUDE`/`FR01`, `MED_OPERACIONAL`/`BE08`, `ORIGINAL`/`MD06`, `RETIRADA`/`SL02` and
//!   the spellings of [`crate::hold`] (absent: the domain's `MED_FRAUDE`); the devolução id is
//!   the first `D…` among `endToEndId`, `returnEndToEndId`, `devolutionEndToEndId` (an `E…` is
//!   the payment's and is passed over).
//! - `transaction.orderId` must be ours; whatever is read must be well-formed: a bad until,
//!   nature or end-to-end id (or a `data.hold` that is not an object) is `Malformed`, naming
//!   the field. `releasedAt` / `returnedAt` are not read (the domain keeps its own time).
//!
//! # Transfers and refunds
//!
//! The seed documents cash-in only: [`PixProvider::capabilities`] says so, and the domain never
//! calls `transfer`/`refund` here. They answer `Rejected(NotAllowed)` without any HTTP call as a
//! safety net.

pub mod config;
pub mod errors;
pub mod validate;
pub mod webhook;
pub mod wire;

use std::str::FromStr;

use async_trait::async_trait;
use pixgw_domain::error::{ProviderError, ProviderRejection, RejectionKind};
use pixgw_domain::pix::document::{DocumentKind, TaxDocument};
use pixgw_domain::provider::{
    InboundWebhook, ProviderCapabilities, ProviderEvent, ProviderWebhookError, RefundOutcome,
    RefundRequest, TransferOutcome, TransferRequest,
};
use pixgw_domain::provider::{PixProvider, ProviderCharge, ProviderChargeRequest};
use rust_decimal::Decimal;

pub use config::*;

use crate::http::{BuildError, HttpReply, ProviderHttp, RetryServerErrors};
use wire::{
    CashInRequest, DoneEnvelope, PayerRequest, PaymentRequest, TransactionRequest, ValueRequest,
    WebhookRequest,
};

/// The cash-in endpoint, below the configured base URL.
pub const CASHIN_PATH: &str = "/accounts/pix/cashin";

/// Seed 003 documents cash-in only.
pub const CAPABILITIES: ProviderCapabilities = ProviderCapabilities::CHARGES_ONLY;

pub struct PagFastProvider {
    config: PagFastConfig,
    http: ProviderHttp,
}

impl std::fmt::Debug for PagFastProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagFastProvider")
            .field("base_url", &self.config.base_url)
            .finish_non_exhaustive()
    }
}

impl PagFastProvider {
    pub fn new(config: PagFastConfig) -> Result<PagFastProvider, BuildError> {
        let http = ProviderHttp::new(config.timeout, config.retry)?;
        Ok(PagFastProvider { config, http })
    }

    /// The body we send for `request` (public for tests and audits; validated separately).
    pub fn cash_in_request(&self, request: &ProviderChargeRequest) -> CashInRequest {
        let order_id = request.transaction_id.as_str().to_owned();
        let description = request.description.trim();
        let order_description = if description.is_empty() {
            format!("Charge {order_id}")
        } else {
            description.to_owned()
        };
        CashInRequest {
            payment: PaymentRequest {
                payer: payer(&request.payer_name, &request.payer_document),
                value: ValueRequest {
                    original: request.amount.to_decimal().to_string(),
                    editable: false,
                },
            },
            transaction: TransactionRequest {
                order_id,
                order_description,
            },
            webhook: WebhookRequest {
                url: self.config.webhook_url.clone(),
                custom_header_name: self.config.webhook_header_name.clone(),
                custom_header_value: self.config.webhook_header_value.expose().to_owned(),
            },
        }
    }

    async fn post_cash_in(&self, body: &CashInRequest) -> Result<HttpReply, ProviderError> {
        let url = format!(
            "{}{CASHIN_PATH}",
            self.config.base_url.trim_end_matches('/')
        );
        let token = self.config.api_token.expose();
        self.http
            .send(
                |client| client.post(&url).bearer_auth(token).json(body),
                RetryServerErrors::Yes,
            )
            .await
            .map_err(|e| ProviderError::Unavailable(format!("PagFast: {e}")))
    }
}

/// PagFast takes a CPF only: a CNPJ payer becomes the anonymous-payer variant (module doc).
fn payer(name: &str, document: &TaxDocument) -> Option<PayerRequest> {
    match document.kind() {
        DocumentKind::Cpf => Some(PayerRequest {
            name: Some(name.trim().to_owned()).filter(|n| !n.is_empty()),
            cpf: document.as_str().to_owned(),
        }),
        DocumentKind::Cnpj => None,
    }
}

fn not_allowed(what: &str) -> ProviderError {
    ProviderError::Rejected(ProviderRejection {
        kind: RejectionKind::NotAllowed,
        reason: format!("PagFast does not support {what}"),
        message: None,
        errors: Vec::new(),
    })
}

/// Reads a 2xx answer; anything unexpected is `Unavailable` (nothing gets recorded).
fn read_created(
    reply: &HttpReply,
    request: &CashInRequest,
) -> Result<ProviderCharge, ProviderError> {
    let bad = |what: &str| {
        ProviderError::Unavailable(format!("PagFast answered {}: {what}", reply.status))
    };
    let envelope: DoneEnvelope =
        serde_json::from_slice(&reply.body).map_err(|_| bad("an unreadable body"))?;
    if envelope.status_code.as_deref() != Some("Done") {
        return Err(bad("statusCode is not Done"));
    }
    let data = envelope.data.ok_or_else(|| bad("no data"))?;
    let transaction = data.transaction.ok_or_else(|| bad("no data.transaction"))?;
    let payment = data.payment.ok_or_else(|| bad("no data.payment"))?;
    if transaction.order_id.as_deref() != Some(request.transaction.order_id.as_str()) {
        return Err(bad("transaction.orderId is not ours"));
    }
    let ours = Decimal::from_str(&request.payment.value.original).ok();
    let theirs = transaction
        .amount
        .as_deref()
        .and_then(|a| Decimal::from_str(a).ok());
    if theirs.is_none() || theirs != ours {
        return Err(bad("transaction.amount differs from the charge amount"));
    }
    let provider_charge_id = transaction
        .id
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| bad("no transaction.id"))?;
    let pix_code = payment
        .qr_code
        .filter(|code| !code.trim().is_empty())
        .ok_or_else(|| bad("no payment.qrCode"))?;
    Ok(ProviderCharge {
        provider_charge_id,
        pix_code,
    })
}

#[async_trait]
impl PixProvider for PagFastProvider {
    fn name(&self) -> &'static str {
        "pagfast"
    }

    fn capabilities(&self) -> ProviderCapabilities {
        CAPABILITIES
    }

    async fn create_charge(
        &self,
        request: &ProviderChargeRequest,
    ) -> Result<ProviderCharge, ProviderError> {
        let body = self.cash_in_request(request);
        let problems = validate::problems(&body);
        if !problems.is_empty() {
            return Err(ProviderError::Rejected(ProviderRejection {
                kind: RejectionKind::InvalidRequest,
                reason: "PagFastRequestInvalid".to_owned(),
                message: Some("the request does not match PagFast's schema; not sent".to_owned()),
                errors: problems,
            }));
        }
        let reply = self.post_cash_in(&body).await?;
        if reply.is_success() {
            return read_created(&reply, &body);
        }
        let error = errors::map_error(&reply);
        tracing::warn!(
            transaction_id = %request.transaction_id,
            status = reply.status,
            error = %error,
            "PagFast did not create the charge"
        );
        Err(error)
    }

    async fn transfer(&self, _: &TransferRequest) -> Result<TransferOutcome, ProviderError> {
        Err(not_allowed("transfers"))
    }

    async fn refund(&self, _: &RefundRequest) -> Result<RefundOutcome, ProviderError> {
        Err(not_allowed("refunds"))
    }

    async fn verify_webhook(
        &self,
        webhook: &InboundWebhook<'_>,
    ) -> Result<ProviderEvent, ProviderWebhookError> {
        webhook::verify(&self.config, webhook)
    }
}

/// PagFast as a host that only receives its webhooks knows it: the custom header that
/// authenticates them, and no API token. The provider-webhook Lambda function is such a host:
/// it never calls PagFast (PagFast's webhooks carry the settlement and need no read-back), so
/// it is not given the token that creates charges.
pub struct PagFastWebhooks {
    header_name: String,
    header_value: crate::secret::Secret,
}

impl std::fmt::Debug for PagFastWebhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagFastWebhooks")
            .field("header_name", &self.header_name)
            .finish_non_exhaustive()
    }
}

impl PagFastWebhooks {
    pub fn new(header_name: String, header_value: crate::secret::Secret) -> PagFastWebhooks {
        PagFastWebhooks {
            header_name,
            header_value,
        }
    }
}

#[async_trait]
impl PixProvider for PagFastWebhooks {
    fn name(&self) -> &'static str {
        "pagfast"
    }

    fn capabilities(&self) -> ProviderCapabilities {
        CAPABILITIES
    }

    async fn create_charge(
        &self,
        _: &ProviderChargeRequest,
    ) -> Result<ProviderCharge, ProviderError> {
        Err(ProviderError::Rejected(ProviderRejection {
            kind: RejectionKind::NotAllowed,
            reason: "this host holds no PagFast API token: it only verifies PagFast's webhooks"
                .to_owned(),
            message: None,
            errors: Vec::new(),
        }))
    }

    async fn transfer(&self, _: &TransferRequest) -> Result<TransferOutcome, ProviderError> {
        Err(not_allowed("transfers"))
    }

    async fn refund(&self, _: &RefundRequest) -> Result<RefundOutcome, ProviderError> {
        Err(not_allowed("refunds"))
    }

    async fn verify_webhook(
        &self,
        webhook: &InboundWebhook<'_>,
    ) -> Result<ProviderEvent, ProviderWebhookError> {
        webhook::verify_header(&self.header_name, &self.header_value, webhook)
    }
}
