//! ConnectPSP's webhooks. They are not signed, so:
//!
//! 1. the `token` query parameter of the URL we registered must match (constant time);
//! 2. cash-in events are only believed once `GET /cash-in/{internalCode}` agrees, and what we
//!    record (end-to-end id, amount, payer, times) comes from that answer, not the delivery;
//! 3. cash-out events have no documented GET, so the token is all that authenticates them;
//! 4. so do MED infraction events (our assumed shape, see the module doc of [`super`]): no
//!    documented GET of an infraction either;
//! 5. and so do the ends of cautelar holds (released, returned; also assumed). A held payment
//!    is a cash-in event, confirmed by the GET like any other.

use chrono::{DateTime, SubsecRound, Utc};
use pixgw_domain::dispute::DisputeOutcome;
use pixgw_domain::error::ProviderError;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::payment::{EndToEndId, EndToEndKind, Ispb, PaidBy, PayerBankData};
use pixgw_domain::pix::pii::Pii;
use pixgw_domain::provider::{
    ChargePaid, InboundWebhook, InfractionDecided, InfractionOpened, ProviderEvent,
    ProviderWebhookError, RefundOutcome, RefundReference, TransferOutcome,
};

use serde_json::Value;

use super::ConnectPspProvider;
use super::wire::{self, CashInState, CashInStatus, CashOutEventData, WebhookEnvelope};
use crate::hold::{self, NaiveTimes, Stated};
use crate::med::{self, Lenient};

const NOT_CONFIRMED: &str = "not confirmed by ConnectPSP";

/// The event types read as an infraction opened (compared [`med::normalise`]d); the first is
/// the one we document.
pub(crate) const INFRACTION_OPENED_EVENTS: &[&str] = &[
    "INFRACTION_OPENED",
    "INFRACTION_CREATED",
    "INFRACTION_RECEIVED",
    "CASHIN_INFRACTION",
    "CASHIN_INFRACTION_OPENED",
    "MED_OPENED",
    "MED_RECEIVED",
];

/// The event types read as an infraction decided.
pub(crate) const INFRACTION_DECIDED_EVENTS: &[&str] = &[
    "INFRACTION_DECIDED",
    "INFRACTION_CLOSED",
    "INFRACTION_CONCLUDED",
    "CASHIN_INFRACTION_DECIDED",
    "CASHIN_INFRACTION_CLOSED",
    "MED_DECIDED",
    "MED_CLOSED",
];

/// Cash-in event types that announce a payment held (besides `CASHIN_PAID` carrying a hold;
/// compared [`med::normalise`]d). Read back like `CASHIN_PAID`.
pub(crate) const HELD_PAYMENT_EVENTS: &[&str] = &[
    "CASHIN_HELD",
    "CASHIN_BLOCKED",
    "CASHIN_ON_HOLD",
    "CASHIN_PAID_HELD",
    "CASHIN_PAID_BLOCKED",
];

/// The event types read as a cautelar hold released; the first is the one we document.
pub(crate) const HOLD_RELEASED_EVENTS: &[&str] = &[
    "CASHIN_HOLD_RELEASED",
    "CASHIN_UNBLOCKED",
    "CASHIN_RELEASED",
    "CASHIN_BLOCK_RELEASED",
    "HOLD_RELEASED",
    "BLOCK_RELEASED",
    "CAUTELAR_RELEASED",
];

/// The event types read as a held payment returned to the payer.
pub(crate) const HOLD_RETURNED_EVENTS: &[&str] = &[
    "CASHIN_HOLD_RETURNED",
    "CASHIN_RETURNED",
    "CASHIN_BLOCK_RETURNED",
    "HOLD_RETURNED",
    "BLOCK_RETURNED",
    "CAUTELAR_RETURNED",
];

/// The names a return's devolução nature may go by.
const NATURE: &[&str] = &[
    "nature",
    "returnNature",
    "devolutionNature",
    "returnReason",
    "returnReasonCode",
];

/// Where a return's devolução id may be (the first `D…` wins).
const RETURN_END_TO_END_ID: &[&str] = &[
    "returnEndToEndId",
    "devolutionEndToEndId",
    "refundEndToEndId",
    "endToEndId",
];

pub(crate) async fn verify(
    provider: &ConnectPspProvider,
    webhook: &InboundWebhook<'_>,
) -> Result<ProviderEvent, ProviderWebhookError> {
    let presented = webhook.query_param("token").unwrap_or_default();
    // An unset token must not make every empty `?token=` authentic.
    if provider.webhook_token.is_empty() || !provider.webhook_token.matches(presented) {
        return Err(ProviderWebhookError::Unauthenticated(
            "missing or wrong ConnectPSP webhook token",
        ));
    }
    let envelope: WebhookEnvelope = serde_json::from_slice(webhook.body)
        .map_err(|e| ProviderWebhookError::Malformed(format!("not a ConnectPSP event: {e}")))?;
    let event_at = envelope.event_at.as_deref().and_then(wire::timestamp);
    match envelope.event_type.as_str() {
        "CASHIN_PAID" => {
            let (status, answer) = read_back(provider, &envelope.data).await?;
            charge_paid(status, &answer, &envelope.data, false)
        }
        "CASHIN_REFUNDED" => {
            let (status, _) = read_back(provider, &envelope.data).await?;
            refund_settled(status, event_at.unwrap_or(webhook.now))
        }
        "CASHOUT_PAID" | "CASHOUT_FAILED" => {
            transfer_settled(&envelope, event_at.unwrap_or(webhook.now))
        }
        kind if med::is_one_of(kind, HELD_PAYMENT_EVENTS) => {
            let (status, answer) = read_back(provider, &envelope.data).await?;
            charge_paid(status, &answer, &envelope.data, true)
        }
        kind if med::is_one_of(kind, HOLD_RELEASED_EVENTS) => hold_released(&envelope.data),
        kind if med::is_one_of(kind, HOLD_RETURNED_EVENTS) => hold_returned(&envelope.data),
        kind if med::is_one_of(kind, INFRACTION_OPENED_EVENTS) => {
            infraction_opened(&envelope.data, event_at.unwrap_or(webhook.now))
        }
        kind if med::is_one_of(kind, INFRACTION_DECIDED_EVENTS) => {
            infraction_decided(&envelope.data, event_at.unwrap_or(webhook.now))
        }
        other => Ok(ProviderEvent::Ignored {
            event_id: format!(
                "{other}:{}",
                text(&envelope.data, "transactionId")
                    .or(envelope.event_at.as_deref())
                    .unwrap_or("-")
            ),
            kind: other.to_owned(),
        }),
    }
}

/// The charge as ConnectPSP reports it now (typed, and as JSON). No answer → ConnectPSP
/// should deliver again; ConnectPSP not knowing the charge → not authentic.
async fn read_back(
    provider: &ConnectPspProvider,
    data: &serde_json::Value,
) -> Result<(CashInStatus, Value), ProviderWebhookError> {
    let internal_code = text(data, "internalCode")
        .ok_or_else(|| ProviderWebhookError::Malformed("data.internalCode is missing".into()))?;
    match provider.charge_status_raw(internal_code).await {
        Ok((status, answer)) if status.internal_code == internal_code => Ok((status, answer)),
        Ok(_) => Err(ProviderWebhookError::Unauthenticated(NOT_CONFIRMED)),
        Err(ProviderError::Unavailable(reason)) => Err(ProviderWebhookError::Unconfirmed(reason)),
        Err(ProviderError::Rejected(rejection)) => {
            tracing::warn!(%rejection, "ConnectPSP does not confirm a cash-in webhook");
            Err(ProviderWebhookError::Unauthenticated(NOT_CONFIRMED))
        }
    }
}

/// A payment ConnectPSP's GET `answer` confirms (`PAID`, or a held status), held when the
/// answer, else the `delivery`'s data, else the event type (`event_held`) says so.
fn charge_paid(
    status: CashInStatus,
    answer: &Value,
    delivery: &Value,
    event_held: bool,
) -> Result<ProviderEvent, ProviderWebhookError> {
    let held_status = matches!(
        &status.status,
        CashInState::Other(s) if med::is_one_of(s, hold::HELD_STATUSES)
    );
    if status.status != CashInState::Paid && !held_status {
        return Err(ProviderWebhookError::Unauthenticated(NOT_CONFIRMED));
    }
    let transaction_id = our_transaction(&status)?;
    let end_to_end_id = end_to_end(status.end_to_end_id.as_deref(), EndToEndKind::Payment)?;
    let paid_at = status
        .paid_at
        .as_deref()
        .and_then(wire::timestamp)
        .ok_or_else(|| malformed("paidAt is missing or not a timestamp"))?;
    let payer = status
        .payer
        .as_ref()
        .ok_or_else(|| malformed("payer is missing"))?;
    let bank = payer
        .bank_data
        .as_ref()
        .ok_or_else(|| malformed("payer.bankData is missing"))?;
    let ispb = bank
        .ispb
        .as_deref()
        .and_then(Ispb::parse)
        .ok_or_else(|| malformed("payer.bankData.ispb is not 8 digits"))?;
    let bank = PayerBankData::new(
        ispb,
        bank.branch.as_deref().unwrap_or_default(),
        bank.account.as_deref().unwrap_or_default(),
    )
    .ok_or_else(|| malformed("payer.bankData branch or account is not digits"))?;
    let paid_by = PaidBy {
        name: Pii::from(payer.name.clone().unwrap_or_default()),
        document: Pii::from(payer.document.clone().unwrap_or_default()),
        bank,
    };
    let hold_until = hold_of(answer, delivery, event_held, paid_at)?;
    Ok(ProviderEvent::ChargePaid(ChargePaid {
        event_id: format!("CASHIN_PAID:{}", status.transaction_id),
        transaction_id,
        end_to_end_id,
        amount: status.amount,
        paid_at,
        paid_by,
        hold_until,
    }))
}

/// A payment's cautelar hold ([`hold::stated`]): what the GET `answer` says of one (its
/// `hold`, an until field, a held `status`), else what the delivery's `data` says, else held
/// when the event type says so. Held without an until: [`hold::until_or_max`].
fn hold_of(
    answer: &Value,
    delivery: &Value,
    event_held: bool,
    paid_at: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ProviderWebhookError> {
    let said = Lenient::object(answer, "")
        .and_then(|answer| hold::stated(&answer, "hold.", &["status"], NaiveTimes::Brasilia))
        .map_err(|e| malformed(&format!("ConnectPSP's cash-in lookup: {e}")))?;
    let said = match said {
        Stated::Silent => Lenient::object(delivery, "data.")
            .and_then(|data| hold::stated(&data, "data.hold.", &["status"], NaiveTimes::Brasilia))
            .map_err(|e| malformed(&e))?,
        said => said,
    };
    Ok(match said {
        Stated::Held(until) => Some(hold::until_or_max(until, paid_at)),
        Stated::NotHeld => None,
        Stated::Silent => event_held.then(|| hold::until_or_max(None, paid_at)),
    })
}

/// `CASHIN_HOLD_RELEASED` (or a synonym): nothing but our transaction is read.
fn hold_released(data: &Value) -> Result<ProviderEvent, ProviderWebhookError> {
    let data = Lenient::object(data, "data.").map_err(|e| malformed(&e))?;
    let transaction_id = our_reference(&data).map_err(|e| malformed(&e))?;
    Ok(ProviderEvent::HoldReleased {
        event_id: format!("CASHIN_HOLD_RELEASED:{transaction_id}"),
        transaction_id,
    })
}

/// `CASHIN_HOLD_RETURNED` (or a synonym): our transaction, the devolução's nature and `D…` id.
fn hold_returned(data: &Value) -> Result<ProviderEvent, ProviderWebhookError> {
    let data = Lenient::object(data, "data.").map_err(|e| malformed(&e))?;
    let read = || -> Result<ProviderEvent, String> {
        let transaction_id = our_reference(&data)?;
        Ok(ProviderEvent::HoldReturned {
            event_id: format!("CASHIN_HOLD_RETURNED:{transaction_id}"),
            nature: hold::nature(&data, NATURE)?,
            end_to_end_id: data.devolution_id(RETURN_END_TO_END_ID)?,
            transaction_id,
        })
    };
    read().map_err(|e| malformed(&e))
}

fn refund_settled(
    status: CashInStatus,
    fallback_at: DateTime<Utc>,
) -> Result<ProviderEvent, ProviderWebhookError> {
    if status.status != CashInState::Refunded {
        return Err(ProviderWebhookError::Unauthenticated(NOT_CONFIRMED));
    }
    let transaction_id = our_transaction(&status)?;
    let end_to_end_id = end_to_end(status.end_to_end_id.as_deref(), EndToEndKind::Devolution)?;
    if let Some(original) = status.original_end_to_end_id.as_deref() {
        end_to_end(Some(original), EndToEndKind::Payment)?;
    }
    let settled_at = status
        .refunded_at
        .as_deref()
        .and_then(wire::timestamp)
        .unwrap_or(fallback_at);
    Ok(ProviderEvent::RefundSettled {
        event_id: format!("CASHIN_REFUNDED:{}", status.transaction_id),
        refund: RefundReference::CurrentAttempt(transaction_id),
        outcome: RefundOutcome::Completed {
            provider_refund_id: status.transaction_id,
            end_to_end_id,
            settled_at,
        },
    })
}

fn transfer_settled(
    envelope: &WebhookEnvelope,
    fallback_at: DateTime<Utc>,
) -> Result<ProviderEvent, ProviderWebhookError> {
    let data: CashOutEventData = serde_json::from_value(envelope.data.clone())
        .map_err(|e| malformed(&format!("cash-out event data: {e}")))?;
    if data.external_reference.is_empty() {
        return Err(malformed("data.externalReference is empty"));
    }
    let transfer_id = data.transaction_id.clone();
    let outcome = if envelope.event_type == "CASHOUT_PAID" {
        let provider_transfer_id =
            transfer_id.ok_or_else(|| malformed("data.transactionId is missing"))?;
        TransferOutcome::Completed {
            provider_transfer_id,
            end_to_end_id: end_to_end(data.end_to_end_id.as_deref(), EndToEndKind::Payment)?,
            settled_at: data
                .paid_at
                .as_deref()
                .or(data.settled_at.as_deref())
                .and_then(wire::timestamp)
                .unwrap_or(fallback_at),
        }
    } else {
        TransferOutcome::Failed {
            provider_transfer_id: transfer_id,
            reason: data
                .reason
                .or(data.message)
                .unwrap_or_else(|| "CASHOUT_FAILED".to_owned()),
        }
    };
    Ok(ProviderEvent::TransferSettled {
        event_id: format!(
            "{}:{}",
            envelope.event_type,
            data.transaction_id
                .as_deref()
                .unwrap_or(&data.external_reference)
        ),
        idempotency_key: data.external_reference,
        outcome,
    })
}

/// `INFRACTION_OPENED` (or a synonym). `fallback_at` (the event's `eventAt`, else our
/// receipt) stands for a missing `openedAt`.
fn infraction_opened(
    data: &serde_json::Value,
    fallback_at: DateTime<Utc>,
) -> Result<ProviderEvent, ProviderWebhookError> {
    let data = Lenient::object(data, "data.").map_err(|e| malformed(&e))?;
    let read = || -> Result<InfractionOpened, String> {
        let infraction_id = data.required_id(INFRACTION_ID)?.to_owned();
        Ok(InfractionOpened {
            event_id: format!("INFRACTION_OPENED:{infraction_id}"),
            transaction_id: our_reference(&data)?,
            reason: data.required_reason(&["reason", "infractionReason"])?,
            amount: data.amount(&["amount", "disputedAmount", "infractionAmount"])?,
            respond_by: data.instant(&["respondBy", "responseDeadline", "deadline", "dueAt"])?,
            opened_at: data
                .instant(&["openedAt", "createdAt", "reportedAt"])?
                .unwrap_or(fallback_at.trunc_subsecs(3)),
            infraction_id,
        })
    };
    read()
        .map(ProviderEvent::InfractionOpened)
        .map_err(|e| malformed(&e))
}

/// `INFRACTION_DECIDED` (or a synonym). A won infraction's end-to-end fields are not read.
fn infraction_decided(
    data: &serde_json::Value,
    fallback_at: DateTime<Utc>,
) -> Result<ProviderEvent, ProviderWebhookError> {
    let data = Lenient::object(data, "data.").map_err(|e| malformed(&e))?;
    let read = || -> Result<InfractionDecided, String> {
        let infraction_id = data.required_id(INFRACTION_ID)?.to_owned();
        let outcome =
            data.required_outcome(&["outcome", "result", "decision", "analysisResult"])?;
        let end_to_end_id = match outcome {
            DisputeOutcome::Won => None,
            DisputeOutcome::Lost => data.devolution_id(&[
                "returnEndToEndId",
                "devolutionEndToEndId",
                "refundEndToEndId",
                "endToEndId",
            ])?,
        };
        Ok(InfractionDecided {
            event_id: format!("INFRACTION_DECIDED:{infraction_id}"),
            transaction_id: our_reference(&data)?,
            outcome,
            end_to_end_id,
            decided_at: data
                .instant(&["decidedAt", "closedAt", "concludedAt"])?
                .unwrap_or(fallback_at.trunc_subsecs(3)),
            infraction_id,
        })
    };
    read()
        .map(ProviderEvent::InfractionDecided)
        .map_err(|e| malformed(&e))
}

/// The names ConnectPSP may give an infraction's id.
const INFRACTION_ID: &[&str] = &["infractionId", "infractionReportId", "medId"];

/// Our transaction: `externalReference`, as on every ConnectPSP cash-in event.
fn our_reference(data: &Lenient<'_>) -> Result<TransactionId, String> {
    let (_, reference) = data.required_text(&["externalReference"])?;
    TransactionId::parse(reference)
        .ok_or_else(|| "data.externalReference is not one of our transaction ids".to_owned())
}

fn our_transaction(status: &CashInStatus) -> Result<TransactionId, ProviderWebhookError> {
    TransactionId::parse(&status.external_reference)
        .ok_or_else(|| malformed("externalReference is not one of our transaction ids"))
}

fn end_to_end(value: Option<&str>, kind: EndToEndKind) -> Result<EndToEndId, ProviderWebhookError> {
    value
        .and_then(EndToEndId::parse)
        .filter(|id| id.kind() == kind)
        .ok_or_else(|| malformed(&format!("endToEndId is not a valid {kind:?} id")))
}

fn text<'a>(data: &'a serde_json::Value, field: &str) -> Option<&'a str> {
    data.get(field)
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
}

fn malformed(what: &str) -> ProviderWebhookError {
    ProviderWebhookError::Malformed(what.to_owned())
}
