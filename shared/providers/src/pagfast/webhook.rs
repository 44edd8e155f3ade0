//! PagFast's webhook: authenticated by the custom header we registered with the charge, read
//! as the `Done` envelope (our assumption, see the module doc of [`super`]): a payment (held or
//! not), the end of a cautelar hold (released or returned), or a MED infraction opened or
//! decided.

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
use crate::hold::{self, NaiveTimes, Stated};
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

/// The transaction states read as a payment under a cautelar hold (our assumption; compared
/// [`med::normalise`]d). Its event id names the first, `Held`.
pub const HELD_STATES: &[&str] = &[
    "Held",
    "Blocked",
    "OnHold",
    "PaidHeld",
    "PaidBlocked",
    "BlockedCautelar",
    "CautelarBlock",
];

/// The transaction states read as a cautelar hold released (our assumption).
pub const HOLD_RELEASED_STATES: &[&str] = &[
    "HoldReleased",
    "Unblocked",
    "Released",
    "BlockReleased",
    "HoldLifted",
];

/// The transaction states read as a held payment returned to the payer (our assumption).
pub const HOLD_RETURNED_STATES: &[&str] = &["HoldReturned", "Returned", "BlockReturned"];

/// The names a return's devolução nature may go by, in `data.hold`.
const NATURE: &[&str] = &[
    "nature",
    "returnNature",
    "devolutionNature",
    "returnReason",
    "returnReasonCode",
];

/// Where a return's devolução id may be, in `data.hold` (the first `D…` wins).
const RETURN_END_TO_END_ID: &[&str] = &["endToEndId", "returnEndToEndId", "devolutionEndToEndId"];

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
    if med::is_one_of(&state, HOLD_RELEASED_STATES) {
        return Ok(ProviderEvent::HoldReleased {
            event_id: format!("pagfast:{id}:HoldReleased"),
            transaction_id: our_order(transaction.order_id)?,
        });
    }
    if med::is_one_of(&state, HOLD_RETURNED_STATES) {
        return hold_returned(&id, transaction.order_id, body);
    }
    let held_state = med::is_one_of(&state, HELD_STATES);
    let event_id = if held_state {
        format!("pagfast:{id}:Held")
    } else {
        format!("pagfast:{id}:{state}")
    };
    if state != STATE_PAID && !held_state {
        // Registered, Expired, Canceled…: nothing we act on (expiry is our own clock's job).
        return Ok(ProviderEvent::Ignored {
            event_id,
            kind: state,
        });
    }

    let transaction_id = our_order(transaction.order_id)?;
    let payment = data
        .payment
        .ok_or_else(|| malformed(&format!("missing data.payment on a {state} event")))?;
    let paid = read_payment(payment)?;
    let hold_until = match payment_hold(body)? {
        Stated::Held(until) => Some(hold::until_or_max(until, paid.paid_at)),
        Stated::Silent | Stated::NotHeld if held_state => {
            Some(hold::until_or_max(None, paid.paid_at))
        }
        Stated::Silent | Stated::NotHeld => None,
    };
    Ok(ProviderEvent::ChargePaid(ChargePaid {
        event_id,
        transaction_id,
        end_to_end_id: paid.end_to_end_id,
        amount: paid.amount,
        paid_at: paid.paid_at,
        paid_by: paid.paid_by,
        hold_until,
    }))
}

/// `data` of the (already read) envelope, as JSON: the hold fields are read leniently.
fn data_json(body: &[u8]) -> Result<Value, ProviderWebhookError> {
    let mut value: Value =
        serde_json::from_slice(body).map_err(|_| malformed("not the Done envelope"))?;
    Ok(value
        .get_mut("data")
        .map(Value::take)
        .unwrap_or(Value::Null))
}

/// What a payment event's `data` says of a cautelar hold ([`hold::stated`]: `data.hold`, or a
/// flat until field; PagFast writes UTC, so an until without an offset is UTC).
fn payment_hold(body: &[u8]) -> Result<Stated, ProviderWebhookError> {
    let data = data_json(body)?;
    let data = Lenient::object(&data, "data.").map_err(|e| malformed(&e))?;
    hold::stated(&data, "data.hold.", &[], NaiveTimes::Utc).map_err(|e| malformed(&e))
}

/// A held payment returned to the payer: the nature and `D…` id in `data.hold`, when given.
fn hold_returned(
    transaction: &str,
    order_id: Option<String>,
    body: &[u8],
) -> Result<ProviderEvent, ProviderWebhookError> {
    let transaction_id = our_order(order_id)?;
    let data = data_json(body)?;
    let (nature, end_to_end_id) = match data.get("hold") {
        None | Some(Value::Null) => (None, None),
        Some(details) => {
            let read = || -> Result<_, String> {
                let details = Lenient::object(details, "data.hold.")?;
                Ok((
                    hold::nature(&details, NATURE)?,
                    details.devolution_id(RETURN_END_TO_END_ID)?,
                ))
            };
            read().map_err(|e| malformed(&e))?
        }
    };
    Ok(ProviderEvent::HoldReturned {
        event_id: format!("pagfast:{transaction}:HoldReturned"),
        transaction_id,
        nature,
        end_to_end_id,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_synonyms_are_disjoint() {
        let lists = [
            &[STATE_PAID][..],
            HELD_STATES,
            HOLD_RELEASED_STATES,
            HOLD_RETURNED_STATES,
            INFRACTION_OPENED_STATES,
            INFRACTION_DECIDED_STATES,
        ];
        let all: Vec<String> = lists
            .iter()
            .flat_map(|l| l.iter())
            .map(|s| med::normalise(s))
            .collect();
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(all.len(), unique.len(), "a state is listed twice");
    }
}
