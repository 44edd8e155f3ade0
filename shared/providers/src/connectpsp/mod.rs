//! The ConnectPSP adapter (seeds 000–002): charges (`POST /cash-in`), refunds
//! (`POST /cash-in/{internalCode}/refund`), transfers (`POST /cash-out`) and webhooks
//! confirmed by reading the charge back (`GET /cash-in/{internalCode}`).
//!
//! # Protocol
//!
//! - **Auth** ([`auth`]): a JWT from `POST /auth/token`, cached until 5 minutes before it
//!   expires (`expiresIn`, 3600 s when absent, as the seed says), renewed once single-flight,
//!   and renewed once more when any call answers 401; a second 401 means ConnectPSP refuses our
//!   credentials ([`ProviderError::Unavailable`], so the directory fails over).
//! - **Headers** ([`session`]): `Authorization: Bearer`, `ApplicationToken` on every call;
//!   `X-Idempotency-Key` on every POST, a v4-format UUID derived from our stable idempotency
//!   key (same across retries, processes and restarts); `DigitalSignature` (hex HMAC-SHA256 of
//!   the JWT sent, keyed with the crypto token) on refunds and cash-outs.
//! - **Errors** ([`errors`]): timeouts, connection failures and 5xx are retried with the same
//!   key and end `Unavailable`; a 4xx is `Rejected` with ConnectPSP's words, documents masked.
//! - **Webhooks** ([`webhook`]): ConnectPSP does not sign them, so the URL we register carries
//!   `?token={webhook_token}` and cash-in events are believed only once `GET /cash-in/{id}`
//!   agrees.
//!
//! # Assumptions (not in our seeds)
//!
//! - Error bodies: `{code|error|name, message, details|errors}`, read tolerantly.
//! - `POST /cash-out` body: `{amount, externalReference (our idempotency key), description,
//!   webhookUrl, pixKey + pixKeyType (CPF|CNPJ|EMAIL|PHONE|EVP) | bankData {ispb, branch,
//!   account, accountType}, recipient? {name?, document?}}`; answer `202 {transactionId,
//!   externalReference, status: "PROCESSING", …}`.
//! - Cash-out webhooks: `CASHOUT_PAID` `{data: {transactionId, externalReference,
//!   endToEndId (E…), paidAt|settledAt}}` and `CASHOUT_FAILED` `{data: {transactionId,
//!   externalReference, reason|message}}`. There is no documented GET for cash-outs, so these
//!   are authenticated by the URL token alone.
//! - Refund answers: `PROCESSING` is pending, `REFUNDED` done (`refundedAt` or now),
//!   `FAILED`/`REJECTED`/`ERROR` failed. `CASHIN_REFUNDED` is confirmed by the GET reporting
//!   `REFUNDED` with a `D…` `endToEndId`; its time is `refundedAt`, else the event's `eventAt`.
//!
//! # MED infractions (our assumption: the seeds say nothing of MED)
//!
//! Modelled on the cash-in events (`eventType` JSON, our transaction id in
//! `externalReference`, ConnectPSP's ids beside it, amounts as two-decimal numbers):
//!
//! ```json
//! {"eventType": "INFRACTION_OPENED", "eventAt": "2026-03-12T10:00:00Z",
//!  "data": {"infractionId": "…", "transactionId": "<ConnectPSP's>", "internalCode": "US7B1JQ",
//!           "externalReference": "<our transaction id>", "endToEndId": "E…",
//!           "reason": "FRAUD", "amount": 10.00,
//!           "respondBy": "2026-03-19T10:00:00Z", "openedAt": "2026-03-12T07:00:00-03:00"}}
//! {"eventType": "INFRACTION_DECIDED", "eventAt": "2026-03-15T10:00:00Z",
//!  "data": {"infractionId": "…", "transactionId": "…", "internalCode": "US7B1JQ",
//!           "externalReference": "<our transaction id>", "outcome": "LOST",
//!           "returnEndToEndId": "D…", "decidedAt": "2026-03-15T10:00:00Z"}}
//! ```
//!
//! Read tolerantly ([`crate::med`]):
//!
//! - **Event types**, compared without case or punctuation: opened is `INFRACTION_OPENED`,
//!   `INFRACTION_CREATED`, `INFRACTION_RECEIVED`, `CASHIN_INFRACTION`,
//!   `CASHIN_INFRACTION_OPENED`, `MED_OPENED`, `MED_RECEIVED`; decided is
//!   `INFRACTION_DECIDED`, `INFRACTION_CLOSED`, `INFRACTION_CONCLUDED`,
//!   `CASHIN_INFRACTION_DECIDED`, `CASHIN_INFRACTION_CLOSED`, `MED_DECIDED`, `MED_CLOSED`.
//!   Event ids: `INFRACTION_OPENED:{infractionId}` / `INFRACTION_DECIDED:{infractionId}`.
//! - **Required:** `infractionId` (or `infractionReportId`, `medId`: 1..=128 printable ASCII),
//!   `externalReference` (one of our transaction ids), and `reason` (or `infractionReason`) /
//!   `outcome` (or `result`, `decision`, `analysisResult`) with the synonyms of
//!   [`crate::med`]: e.g. `FRAUD`, `FRAUDE`, `MED_FRAUDE` → fraud; `OPERATIONAL_FLAW`,
//!   `FALHA_OPERACIONAL`, `MED_OPERACIONAL` → operational flaw; `WON`, `REJECTED`,
//!   `DISAGREED` → won; `LOST`, `ACCEPTED`, `ACCEPTED_BY_RECEIVER`, `AGREED` → lost
//!   (accepted/rejected speak of the infraction). A partial acceptance is refused.
//! - **Optional:** `amount` (or `disputedAmount`, `infractionAmount`; number or decimal string,
//!   positive, two places at most; absent: the whole undisputed, unrefunded charge),
//!   `respondBy` (or `responseDeadline`, `deadline`, `dueAt`; absent: the domain's default),
//!   `openedAt` (or `createdAt`, `reportedAt`) and `decidedAt` (or `closedAt`, `concludedAt`),
//!   both falling back to `eventAt`, then to our receipt. A lost decision's devolução id is the
//!   first `D…` among `returnEndToEndId`, `devolutionEndToEndId`, `refundEndToEndId`,
//!   `endToEndId` (an `E…` there is the original payment and is passed over; absent: `None`);
//!   a won decision's end-to-end fields are not read.
//! - Whatever is present must be well-formed: a bad value in a recognised infraction event is
//!   `Malformed`, naming the field. Other ConnectPSP fields (`transactionId`, `internalCode`,
//!   the payment's `endToEndId`) are not needed and not read.
//! - **Authentication:** the URL token alone, as for cash-outs: there is no documented GET of
//!   an infraction to confirm it with. Should ConnectPSP document one, confirm as cash-ins do.
//!
//! # Cautelar holds (our assumption: the seeds say nothing of holds)
//!
//! A payment ConnectPSP holds as suspicious (bloqueio cautelar, MED 2.0) is a cash-in event
//! like any other, saying until when it is held; the hold then ends with an event of its own,
//! released or returned to the payer:
//!
//! ```json
//! {"eventType": "CASHIN_PAID", "eventAt": "2026-03-10T11:22:18Z",
//!  "data": {"transactionId": "<ConnectPSP's>", "internalCode": "US7B1JQ",
//!           "externalReference": "<our transaction id>", "endToEndId": "E…",
//!           "status": "PAID", "amount": 10.00, "payer": {…},
//!           "paidAt": "2026-03-10T11:22:15-03:00",
//!           "hold": {"until": "2026-03-13T11:22:15-03:00"}}}
//! {"eventType": "CASHIN_HOLD_RELEASED", "eventAt": "2026-03-11T10:00:00Z",
//!  "data": {"transactionId": "…", "internalCode": "US7B1JQ",
//!           "externalReference": "<our transaction id>",
//!           "releasedAt": "2026-03-11T07:00:00-03:00"}}
//! {"eventType": "CASHIN_HOLD_RETURNED", "eventAt": "2026-03-11T10:00:00Z",
//!  "data": {"transactionId": "…", "internalCode": "US7B1JQ",
//!           "externalReference": "<our transaction id>", "nature": "MED_FRAUDE",
//!           "returnEndToEndId": "D…", "returnedAt": "2026-03-11T07:00:00-03:00"}}
//! ```
//!
//! Read tolerantly ([`crate::hold`], names compared without case or punctuation):
//!
//! - **A held payment** is confirmed by `GET /cash-in/{internalCode}` like every cash-in;
//!   the GET may answer `PAID` or a held status (`HELD`, `ON_HOLD`, `BLOCKED`,
//!   `BLOCKED_CAUTELAR`, `BLOQUEADO`, … [`crate::hold::HELD_STATUSES`]). The hold is what the
//!   GET answer says of one, else what the delivery's `data` says, else (for the event types
//!   `CASHIN_HELD`, `CASHIN_BLOCKED`, `CASHIN_ON_HOLD`, `CASHIN_PAID_HELD`,
//!   `CASHIN_PAID_BLOCKED`, read back like `CASHIN_PAID`) held; each says it by `hold`
//!   (an object with `until`, or `heldUntil`, `blockedUntil`, `releaseAt`; `true`: held without
//!   an until; `false`: not held), else a flat `holdUntil`, `heldUntil`, `blockedUntil`,
//!   `cautelarUntil` or `blockUntil`, else a held `status`. Held without an until: held
//!   [`pixgw_domain::charge::MAX_HOLD_HOURS`] hours after `paidAt`, the longest allowed
//!   (refusing would leave the payment unrecorded; the release ends it sooner). An until is
//!   taken as given, past or beyond 72 h (the domain caps it at 72 h after payment), with or
//!   without an offset: ConnectPSP writes Brasília times (`-03:00`), so one without an offset
//!   is read as UTC−03:00. The event id stays `CASHIN_PAID:{transactionId}`.
//! - **Released:** `CASHIN_HOLD_RELEASED`, `CASHIN_UNBLOCKED`, `CASHIN_RELEASED`,
//!   `CASHIN_BLOCK_RELEASED`, `HOLD_RELEASED`, `BLOCK_RELEASED`, `CAUTELAR_RELEASED`; only
//!   `externalReference` (one of our transaction ids) is required and read. Event id
//!   `CASHIN_HOLD_RELEASED:{externalReference}` whatever the type's spelling (a charge has one
//!   hold).
//! - **Returned:** `CASHIN_HOLD_RETURNED`, `CASHIN_RETURNED`, `CASHIN_BLOCK_RETURNED`,
//!   `HOLD_RETURNED`, `BLOCK_RETURNED`, `CAUTELAR_RETURNED`; `externalReference` required;
//!   optional nature in `nature` (or `returnNature`, `devolutionNature`, `returnReason`,
//!   `returnReasonCode`): `MED_FRAUDE`/`FR01`, `MED_OPERACIONAL`/`BE08`, `ORIGINAL`/`MD06`,
//!   `RETIRADA`/`SL02` and the spellings of [`crate::hold`] (absent: the domain's
//!   `MED_FRAUDE`); the devolução id is the first `D…` among `returnEndToEndId`,
//!   `devolutionEndToEndId`, `refundEndToEndId`, `endToEndId` (an `E…` is the payment's and is
//!   passed over). Event id `CASHIN_HOLD_RETURNED:{externalReference}`.
//! - `releasedAt` / `returnedAt` are not read (the domain keeps its own time). Whatever is read
//!   must be well-formed: a bad until, nature or end-to-end id is `Malformed`, naming the field
//!   (`data.hold.until`, or `ConnectPSP's cash-in lookup: hold.until` for the GET's).
//! - **Authentication:** a held payment as every cash-in (token, then the GET); a release or
//!   return by the URL token alone, like infractions: there is no documented GET to confirm
//!   it with.

mod auth;
pub mod config;
mod errors;
mod session;
mod webhook;
mod wire;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use pixgw_domain::error::ProviderError;
use pixgw_domain::pix::clock::{Clock, SystemClock};
use pixgw_domain::pix::payment::{EndToEndId, EndToEndKind};
use pixgw_domain::pix::pix_key::PixKeyType;
use pixgw_domain::provider::{
    InboundWebhook, ProviderCapabilities, ProviderEvent, ProviderWebhookError, RefundOutcome,
    RefundRequest, TransferDestination, TransferOutcome, TransferRequest,
};
use pixgw_domain::provider::{PixProvider, ProviderCharge, ProviderChargeRequest};
use reqwest::Method;

pub use config::*;
pub use wire::{CashInBankData, CashInPayer, CashInState, CashInStatus};

use crate::http::{BuildError, HttpReply, ProviderHttp};
use auth::TokenCache;
use session::{Call, Session, encode_component};

/// Charges, refunds and transfers (seeds 000-002).
/// Full refunds only: seed 001's refund takes no amount.
pub const CAPABILITIES: ProviderCapabilities = ProviderCapabilities::FULL_REFUNDS_ONLY;

pub struct ConnectPspProvider {
    session: Session,
    /// `{webhook_url}?token={webhook_token}`, registered with every charge and cash-out.
    webhook_url: String,
    webhook_token: crate::secret::Secret,
    clock: Arc<dyn Clock>,
}

impl ConnectPspProvider {
    pub fn new(config: ConnectPspConfig) -> Result<ConnectPspProvider, BuildError> {
        ConnectPspProvider::with_clock(config, Arc::new(SystemClock))
    }

    /// `clock` decides when the token is renewed (tests move it instead of sleeping).
    pub fn with_clock(
        config: ConnectPspConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<ConnectPspProvider, BuildError> {
        let http = ProviderHttp::new(config.timeout, config.retry)?;
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        let webhook_url = format!(
            "{}?token={}",
            config.webhook_url,
            encode_component(config.webhook_token.expose())
        );
        let tokens = TokenCache::new(
            base_url.clone(),
            config.client_id,
            config.client_secret,
            clock.clone(),
        );
        Ok(ConnectPspProvider {
            session: Session {
                base_url,
                application_token: config.application_token,
                crypto_token: config.crypto_token,
                http,
                tokens,
            },
            webhook_url,
            webhook_token: config.webhook_token,
            clock,
        })
    }

    /// `GET /cash-in/{internalCode}`: the charge as ConnectPSP sees it.
    pub async fn charge_status(&self, internal_code: &str) -> Result<CashInStatus, ProviderError> {
        self.charge_status_raw(internal_code)
            .await
            .map(|(status, _)| status)
    }

    /// [`charge_status`](Self::charge_status) and the answer as JSON, for what the seeds do
    /// not document (a cautelar hold, read leniently by [`webhook`]).
    pub(crate) async fn charge_status_raw(
        &self,
        internal_code: &str,
    ) -> Result<(CashInStatus, serde_json::Value), ProviderError> {
        let reply = self
            .session
            .send(Call {
                method: Method::GET,
                path: format!("/cash-in/{}", encode_component(internal_code)),
                body: None,
                idempotency_key: None,
                signed: false,
                what: "cash-in lookup",
            })
            .await?;
        let reply = successful("cash-in lookup", reply)?;
        Ok((
            parse(&reply, "cash-in lookup")?,
            parse(&reply, "cash-in lookup")?,
        ))
    }
}

impl std::fmt::Debug for ConnectPspProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectPspProvider")
            .field("base_url", &self.session.base_url)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl PixProvider for ConnectPspProvider {
    fn name(&self) -> &'static str {
        "connectpsp"
    }

    fn capabilities(&self) -> ProviderCapabilities {
        CAPABILITIES
    }

    async fn create_charge(
        &self,
        request: &ProviderChargeRequest,
    ) -> Result<ProviderCharge, ProviderError> {
        let ours = request.transaction_id.as_str();
        let body = wire::CashInRequest {
            amount: request.amount,
            external_reference: ours,
            expiration_in_minutes: expiration_minutes(request),
            webhook_url: &self.webhook_url,
            payer: wire::Party {
                name: &request.payer_name,
                document: request.payer_document.as_str(),
            },
        };
        let reply = self
            .session
            .send(Call {
                method: Method::POST,
                path: "/cash-in".to_owned(),
                body: Some(json_body(&body)?),
                idempotency_key: Some(&request.idempotency_key),
                signed: false,
                what: "cash-in creation",
            })
            .await?;
        let reply = successful("cash-in creation", reply)?;
        let created: wire::CashInCreated = parse(&reply, "cash-in creation")?;
        // Recording a charge ConnectPSP holds under other terms would credit the wrong thing.
        if created
            .external_reference
            .as_deref()
            .is_some_and(|r| r != ours)
            || created.amount.is_some_and(|a| a != request.amount)
        {
            return Err(ProviderError::Unavailable(
                "ConnectPSP answered with another charge's reference or amount".into(),
            ));
        }
        tracing::info!(
            transaction_id = ours,
            internal_code = %created.internal_code,
            "ConnectPSP cash-in created"
        );
        Ok(ProviderCharge {
            provider_charge_id: created.internal_code,
            pix_code: created.pix_data.copy_and_paste,
        })
    }

    async fn transfer(&self, request: &TransferRequest) -> Result<TransferOutcome, ProviderError> {
        let (pix_key, pix_key_type, bank_data) = match &request.destination {
            TransferDestination::PixKey { key, key_type } => {
                (Some(key.as_str()), Some(key_type_name(*key_type)), None)
            }
            TransferDestination::BankAccount {
                ispb,
                branch,
                account,
                account_type,
            } => (
                None,
                None,
                Some(wire::BankDataOut {
                    ispb: ispb.as_str(),
                    branch,
                    account,
                    account_type,
                }),
            ),
        };
        let recipient = (request.recipient_name.is_some() || request.recipient_document.is_some())
            .then(|| wire::Recipient {
                name: request.recipient_name.as_deref(),
                document: request.recipient_document.as_ref().map(|d| d.as_str()),
            });
        let body = wire::CashOutRequest {
            amount: request.amount,
            external_reference: &request.idempotency_key,
            description: &request.description,
            webhook_url: &self.webhook_url,
            pix_key,
            pix_key_type,
            bank_data,
            recipient,
        };
        let reply = self
            .session
            .send(Call {
                method: Method::POST,
                path: "/cash-out".to_owned(),
                body: Some(json_body(&body)?),
                idempotency_key: Some(&request.idempotency_key),
                signed: true,
                what: "cash-out",
            })
            .await?;
        let reply = successful("cash-out", reply)?;
        let accepted: wire::CashOutReply = parse(&reply, "cash-out")?;
        if accepted
            .external_reference
            .as_deref()
            .is_some_and(|r| r != request.idempotency_key)
        {
            return Err(ProviderError::Unavailable(
                "ConnectPSP answered with another cash-out's reference".into(),
            ));
        }
        match accepted.status.as_deref() {
            Some(status @ ("FAILED" | "REJECTED" | "ERROR" | "CANCELED")) => {
                Ok(TransferOutcome::Failed {
                    provider_transfer_id: Some(accepted.transaction_id),
                    reason: accepted.message.unwrap_or_else(|| status.to_owned()),
                })
            }
            // PROCESSING (seed 002: settlement is asynchronous) or anything newer.
            _ => Ok(TransferOutcome::Pending {
                provider_transfer_id: accepted.transaction_id,
            }),
        }
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, ProviderError> {
        let body = wire::RefundBody {
            reason: &request.reason,
            description: &request.description,
        };
        let reply = self
            .session
            .send(Call {
                method: Method::POST,
                path: format!(
                    "/cash-in/{}/refund",
                    encode_component(&request.provider_charge_id)
                ),
                body: Some(json_body(&body)?),
                idempotency_key: Some(&request.idempotency_key),
                signed: true,
                what: "refund",
            })
            .await?;
        let reply = successful("refund", reply)?;
        let accepted: wire::RefundReply = parse(&reply, "refund")?;
        let status = accepted.status.as_deref().unwrap_or("PROCESSING");
        if matches!(status, "FAILED" | "REJECTED" | "ERROR") {
            return Ok(RefundOutcome::Failed {
                reason: accepted.message.unwrap_or_else(|| status.to_owned()),
            });
        }
        let end_to_end_id = accepted
            .end_to_end_id
            .as_deref()
            .and_then(EndToEndId::parse)
            .filter(|id| id.kind() == EndToEndKind::Devolution)
            .ok_or_else(|| {
                ProviderError::Unavailable(
                    "ConnectPSP accepted the refund without a devolution endToEndId".into(),
                )
            })?;
        if status == "REFUNDED" {
            let settled_at = accepted
                .refunded_at
                .as_deref()
                .and_then(wire::timestamp)
                .unwrap_or_else(|| self.clock.now());
            return Ok(RefundOutcome::Completed {
                provider_refund_id: accepted.transaction_id,
                end_to_end_id,
                settled_at,
            });
        }
        Ok(RefundOutcome::Pending {
            provider_refund_id: accepted.transaction_id,
            end_to_end_id,
        })
    }

    async fn verify_webhook(
        &self,
        webhook: &InboundWebhook<'_>,
    ) -> Result<ProviderEvent, ProviderWebhookError> {
        webhook::verify(self, webhook).await
    }
}

/// `ceil((expires_at − created_at) / 1 min)`, at least 1: ConnectPSP's QR code must not
/// outlive ours by less than a minute's rounding, nor be shorter.
fn expiration_minutes(request: &ProviderChargeRequest) -> i64 {
    let millis = (request.expires_at - request.created_at).num_milliseconds();
    let minutes = millis.div_euclid(60_000) + i64::from(millis.rem_euclid(60_000) > 0);
    minutes.max(1)
}

fn key_type_name(key_type: PixKeyType) -> &'static str {
    match key_type {
        PixKeyType::Cpf => "CPF",
        PixKeyType::Cnpj => "CNPJ",
        PixKeyType::Email => "EMAIL",
        PixKeyType::Phone => "PHONE",
        PixKeyType::Random => "EVP",
    }
}

fn json_body<T: serde::Serialize>(body: &T) -> Result<Bytes, ProviderError> {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .map_err(|e| ProviderError::Unavailable(format!("request could not be encoded: {e}")))
}

/// A 2xx, else the refusal (4xx) or an unknown outcome (anything else).
fn successful(what: &str, reply: HttpReply) -> Result<HttpReply, ProviderError> {
    match reply.status {
        200..=299 => Ok(reply),
        400..=499 => Err(errors::rejected(&reply)),
        _ => Err(errors::unexpected(what, &reply)),
    }
}

/// A 2xx we cannot read leaves the outcome unknown: retry with the same key or fail over.
fn parse<T: serde::de::DeserializeOwned>(
    reply: &HttpReply,
    what: &str,
) -> Result<T, ProviderError> {
    serde_json::from_slice(&reply.body).map_err(|e| {
        ProviderError::Unavailable(format!(
            "ConnectPSP {what} answer could not be read: {}",
            crate::mask::mask_documents(&e.to_string())
        ))
    })
}

#[cfg(test)]
mod tests;
