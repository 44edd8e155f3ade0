//! PagFast's webhook: authenticated by the custom header we registered with the charge, read
//! as the `Done` envelope (our assumption, see the module doc of [`super`]): a payment, or a
//! MED infraction opened or decided.

use chrono::{DateTime, SubsecRound, Utc};
use pixgw_domain::dispute::DisputeOutcome;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::{EndToEndId, Ispb, PaidBy, PayerBankData};
use pixgw_domain::pix::pii::Pii;
use pixgw_domain::provider::{
    ChargePaid, InboundWebhook, InfractionDecided, InfractionOpened, ProviderEvent,
    ProviderWebhookError,
};
use serde_json::Value;

use super::PagFastConfig;
use super::wire::{DoneEnvelope, PaidPayer, PaymentData};
use crate::med::{self, Lenient};
use crate::secret::Secret;

/// PagFast's state for a settled charge.
pub const STATE_PAID: &str = "Paid";

/// The transaction states read as a MED infraction opened (our assumption; compared
/// [`med::normalise`]d, so `INFRACTION_OPENED` matches too). The first is the one we document.
pub const INFRACTION_OPENED_STATES: &[&str] = &[
    "InfractionOpened",
    "InfractionRegistered",
    "InfractionReceived",
    "MedOpened",
    "UnderDispute",
    "InDispute",
    "Disputed",
];

/// The transaction states read as a MED infraction decided (our assumption).
pub const INFRACTION_DECIDED_STATES: &[&str] = &[
    "InfractionDecided",
    "InfractionClosed",
    "InfractionConcluded",
    "MedDecided",
    "MedClosed",
    "DisputeDecided",
    "DisputeClosed",
];

/// Checks the custom header (before the body is even parsed), then reads the event.
pub fn verify(
    config: &PagFastConfig,
    webhook: &InboundWebhook<'_>,
) -> Result<ProviderEvent, ProviderWebhookError> {
    verify_header(
        &config.webhook_header_name,
        &config.webhook_header_value,
        webhook,
    )
}

/// [`verify`] with only what it checks: the header's name and the value we registered (a
/// host that receives PagFast's webhooks but never calls PagFast holds nothing else, see
/// [`super::PagFastWebhooks`]).
pub fn verify_header(
    header_name: &str,
    header_value: &Secret,
    webhook: &InboundWebhook<'_>,
) -> Result<ProviderEvent, ProviderWebhookError> {
    // An empty configured value would accept an empty header: fail closed instead.
    if header_value.is_empty() {
        return Err(ProviderWebhookError::Unauthenticated(
            "PagFast webhook header value is not configured",
        ));
    }
    let presented = webhook
        .header(header_name)
        .ok_or(ProviderWebhookError::Unauthenticated(
            "missing PagFast webhook header",
        ))?;
    if !header_value.matches(presented) {
        return Err(ProviderWebhookError::Unauthenticated(
            "wrong PagFast webhook header",
        ));
    }
    parse(webhook.body, webhook.now)
}

fn malformed(what: &str) -> ProviderWebhookError {
    ProviderWebhookError::Malformed(format!("PagFast webhook: {what}"))
}

/// Reads an authenticated body received at `received_at` (which stands for an infraction's
/// missing `openedAt` / `decidedAt`).
pub fn parse(
    body: &[u8],
    received_at: DateTime<Utc>,
) -> Result<ProviderEvent, ProviderWebhookError> {
    // serde's message may quote the body (a CPF): say only where it failed.
    let envelope: DoneEnvelope = serde_json::from_slice(body).map_err(|e| {
        malformed(&format!(
            "not the Done envelope (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if envelope.status_code.as_deref() != Some("Done") {
        return Err(malformed("statusCode is not Done"));
    }
    let data = envelope.data.ok_or_else(|| malformed("missing data"))?;
    let transaction = data
        .transaction
        .ok_or_else(|| malformed("missing data.transaction"))?;
    let id = non_empty(transaction.id).ok_or_else(|| malformed("missing transaction.id"))?;
    let state =
        non_empty(transaction.state).ok_or_else(|| malformed("missing transaction.state"))?;
    if med::is_one_of(&state, INFRACTION_OPENED_STATES) {
        return infraction_opened(&id, transaction.order_id, data.infraction, received_at);
    }
    if med::is_one_of(&state, INFRACTION_DECIDED_STATES) {
        return infraction_decided(&id, transaction.order_id, data.infraction, received_at);
    }
    let event_id = format!("pagfast:{id}:{state}");
    if state != STATE_PAID {
        // Registered, Expired, Canceled…: nothing we act on (expiry is our own clock's job).
        return Ok(ProviderEvent::Ignored {
            event_id,
            kind: state,
        });
    }

    let transaction_id = our_order(transaction.order_id)?;
    let payment = data
        .payment
        .ok_or_else(|| malformed("missing data.payment on a Paid event"))?;
    let paid = read_payment(payment)?;
    Ok(ProviderEvent::ChargePaid(ChargePaid {
        event_id,
        transaction_id,
        end_to_end_id: paid.end_to_end_id,
        amount: paid.amount,
        paid_at: paid.paid_at,
        paid_by: paid.paid_by,
    }))
}

/// Our transaction id, from `transaction.orderId`.
fn our_order(order_id: Option<String>) -> Result<TransactionId, ProviderWebhookError> {
    order_id
        .as_deref()
        .and_then(TransactionId::parse)
        .ok_or_else(|| malformed("transaction.orderId is not one of our transaction ids"))
}

/// `data.infraction` of an infraction state, as an object.
fn infraction_object<'a>(
    infraction: &'a Option<Value>,
    state: &str,
) -> Result<Lenient<'a>, ProviderWebhookError> {
    match infraction {
        None | Some(Value::Null) => Err(malformed(&format!(
            "missing data.infraction on an {state} event"
        ))),
        Some(value) => Lenient::object(value, "data.infraction.").map_err(|e| malformed(&e)),
    }
}

/// The names PagFast may give an infraction's id.
const INFRACTION_ID: &[&str] = &["id", "infractionId"];

fn infraction_opened(
    transaction: &str,
    order_id: Option<String>,
    infraction: Option<Value>,
    received_at: DateTime<Utc>,
) -> Result<ProviderEvent, ProviderWebhookError> {
    let transaction_id = our_order(order_id)?;
    let fields = infraction_object(&infraction, "InfractionOpened")?;
    let read = || -> Result<InfractionOpened, String> {
        let infraction_id = fields.required_id(INFRACTION_ID)?.to_owned();
        Ok(InfractionOpened {
            event_id: format!("pagfast:{transaction}:InfractionOpened:{infraction_id}"),
            transaction_id,
            reason: fields.required_reason(&["reason", "type"])?,
            amount: fields.amount(&["value", "amount"])?,
            respond_by: fields.instant(&["respondBy", "deadline", "dueDate"])?,
            opened_at: fields
                .instant(&["openedAt", "date", "createdAt"])?
                .unwrap_or(received_at.trunc_subsecs(3)),
            infraction_id,
        })
    };
    read()
        .map(ProviderEvent::InfractionOpened)
        .map_err(|e| malformed(&e))
}

fn infraction_decided(
    transaction: &str,
    order_id: Option<String>,
    infraction: Option<Value>,
    received_at: DateTime<Utc>,
) -> Result<ProviderEvent, ProviderWebhookError> {
    let transaction_id = our_order(order_id)?;
    let fields = infraction_object(&infraction, "InfractionDecided")?;
    let read = || -> Result<InfractionDecided, String> {
        let infraction_id = fields.required_id(INFRACTION_ID)?.to_owned();
        let outcome = fields.required_outcome(&["outcome", "result", "decision"])?;
        let end_to_end_id = match outcome {
            DisputeOutcome::Won => None,
            DisputeOutcome::Lost => {
                fields.devolution_id(&["endToEndId", "returnEndToEndId", "devolutionEndToEndId"])?
            }
        };
        Ok(InfractionDecided {
            event_id: format!("pagfast:{transaction}:InfractionDecided:{infraction_id}"),
            transaction_id,
            outcome,
            end_to_end_id,
            decided_at: fields
                .instant(&["decidedAt", "closedAt", "date"])?
                .unwrap_or(received_at.trunc_subsecs(3)),
            infraction_id,
        })
    };
    read()
        .map(ProviderEvent::InfractionDecided)
        .map_err(|e| malformed(&e))
}

struct Settlement {
    end_to_end_id: EndToEndId,
    amount: Money,
    paid_at: DateTime<Utc>,
    paid_by: PaidBy,
}

fn read_payment(payment: PaymentData) -> Result<Settlement, ProviderWebhookError> {
    let end_to_end_id = payment
        .end_to_end_id
        .as_deref()
        .and_then(EndToEndId::parse)
        .ok_or_else(|| malformed("payment.endToEndId missing or invalid"))?;
    // The paid value (with an editable value it may differ from the charge; the domain
    // compares).
    let amount = payment
        .value
        .as_deref()
        .and_then(|v| Money::parse(v).ok())
        .filter(|m| m.cents() > 0)
        .ok_or_else(|| malformed("payment.value missing or invalid"))?;
    let paid_at = payment
        .paid_at
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc).trunc_subsecs(3))
        .ok_or_else(|| malformed("payment.paidAt missing or not RFC 3339"))?;
    let payer = payment
        .payer
        .ok_or_else(|| malformed("missing payment.payer"))?;
    Ok(Settlement {
        end_to_end_id,
        amount,
        paid_at,
        paid_by: paid_by(payer)?,
    })
}

fn paid_by(payer: PaidPayer) -> Result<PaidBy, ProviderWebhookError> {
    let name = non_empty(payer.name).ok_or_else(|| malformed("missing payment.payer.name"))?;
    let document = non_empty(payer.cpf).ok_or_else(|| malformed("missing payment.payer.cpf"))?;
    let ispb = payer
        .ispb
        .as_deref()
        .and_then(Ispb::parse)
        .ok_or_else(|| malformed("payment.payer.ispb missing or invalid"))?;
    let bank = PayerBankData::new(
        ispb,
        payer.branch.as_deref().unwrap_or(""),
        payer.account.as_deref().unwrap_or(""),
    )
    .ok_or_else(|| malformed("payment.payer.branch/account missing or invalid"))?;
    Ok(PaidBy {
        name: Pii::from(name),
        document: Pii::from(document),
        bank,
    })
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}
