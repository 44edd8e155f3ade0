//! The JSON events of the sandbox PIX network, modelled on ConnectPSP's webhooks so the gateway
//! exercises the same shape it meets in production:
//!
//! ```json
//! {"eventId": "evt_…", "eventType": "CASHIN_PAID", "eventAt": "2026-03-10T11:22:18.123Z",
//!  "data": {"transactionId": "…", "endToEndId": "E…", "status": "PAID", "amount": 200.00,
//!           "paidAt": "2026-03-10T11:22:18.123Z",
//!           "payer": {"name": "…", "document": "…",
//!                     "bankData": {"ispb": "00000000", "branch": "0001", "account": "123456"}}}}
//! ```
//!
//! plus `TRANSFER_COMPLETED` / `TRANSFER_FAILED` with
//! `data: {idempotencyKey, transferId, endToEndId?, reason?, settledAt}`, and the MED
//! infractions the sandbox opens and decides as the payer's bank
//! ([`super::SandboxProvider::open_infraction`], [`super::SandboxProvider::decide_infraction`]):
//!
//! ```json
//! {"eventId": "evt_…", "eventType": "INFRACTION_OPENED", "eventAt": "2026-03-10T11:22:18.123Z",
//!  "data": {"infractionId": "inf_…", "transactionId": "…", "reason": "FRAUD",
//!           "amount": 200.00, "respondBy": "2026-03-17T11:22:18.123Z",
//!           "openedAt": "2026-03-10T11:22:18.123Z"}}
//! {"eventId": "evt_…", "eventType": "INFRACTION_DECIDED", "eventAt": "2026-03-12T09:00:00.000Z",
//!  "data": {"infractionId": "inf_…", "transactionId": "…", "outcome": "LOST",
//!           "endToEndId": "D99999999202603120900…", "decidedAt": "2026-03-12T09:00:00.000Z"}}
//! ```
//!
//! A payment the receiving PSP holds as suspicious (a cautelar hold, MED 2.0;
//! [`super::SandboxPayment::hold`]) carries `data.hold`, until
//! [`MAX_HOLD_HOURS`](pixgw_domain::charge::MAX_HOLD_HOURS) after
//! `paidAt`; the hold then ends once, released or returned to the payer
//! ([`super::SandboxProvider::release_hold`], [`super::SandboxProvider::return_hold`]):
//!
//! ```json
//! {"eventId": "evt_…", "eventType": "CASHIN_PAID", "eventAt": "2026-03-10T11:22:18.123Z",
//!  "data": {"transactionId": "…", "endToEndId": "E…", "status": "PAID", "amount": 200.00,
//!           "paidAt": "2026-03-10T11:22:18.123Z", "payer": {…},
//!           "hold": {"until": "2026-03-13T11:22:18.123Z"}}}
//! {"eventId": "evt_…", "eventType": "CASHIN_HOLD_RELEASED", "eventAt": "2026-03-11T09:00:00.000Z",
//!  "data": {"transactionId": "…", "releasedAt": "2026-03-11T09:00:00.000Z"}}
//! {"eventId": "evt_…", "eventType": "CASHIN_HOLD_RETURNED", "eventAt": "2026-03-11T09:00:00.000Z",
//!  "data": {"transactionId": "…", "nature": "MED_FRAUDE",
//!           "endToEndId": "D99999999202603110900…", "returnedAt": "2026-03-11T09:00:00.000Z"}}
//! ```
//!
//! `data.hold` is absent (or `null`) for a payment not held; when present it must be an object
//! with an RFC 3339 `until` ([`ChargePaid::hold_until`]). `nature` is one of
//! [`DevolutionNature::as_str`]'s (`ORIGINAL`, `RETIRADA`, `MED_OPERACIONAL`, `MED_FRAUDE`;
//! the sandbox always sends `MED_FRAUDE`) and `endToEndId` the devolução's `D…` id: both always
//! sent by the sandbox, optional to the parser (absent: the domain's `MED_FRAUDE`, no id).
//! `releasedAt` / `returnedAt` are required and must be RFC 3339, though the domain keeps its
//! own time.
//!
//! `reason` is `FRAUD` or `OPERATIONAL_FLAW`; `amount` is absent when the whole (undisputed,
//! unrefunded) charge is disputed; `respondBy` is always sent by the sandbox but optional to
//! the parser (absent: the domain's default deadline); `outcome` is `WON` or `LOST`;
//! `endToEndId` (the devolução's `D…` id) only when `LOST`, and optional then. Any other
//! authentic event type is acknowledged as [`ProviderEvent::Ignored`].
//!
//! Amounts are JSON numbers with two decimals, read from their exact text (the workspace builds
//! serde_json with `arbitrary_precision`), never through `f64`.

use chrono::{DateTime, SubsecRound, Utc};
use pixgw_domain::dispute::{DevolutionNature, DisputeOutcome, DisputeReason};
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::{MAX_AMOUNT_CENTS, Money, parse_decimal};
use pixgw_domain::pix::payment::{EndToEndId, EndToEndKind, Ispb, PaidBy, PayerBankData};
use pixgw_domain::pix::pii::Pii;
use pixgw_domain::provider::{
    ChargePaid, InfractionDecided, InfractionOpened, ProviderEvent, ProviderWebhookError,
    TransferOutcome,
};
use serde_json::{Map, Value, json};

use super::network::{
    SandboxHoldEnding, SandboxHoldOutcome, SandboxInfractionDecision, SandboxOpenedInfraction,
};
use crate::med::{self, MAX_ID_LEN};

pub const EVENT_CASHIN_PAID: &str = "CASHIN_PAID";
pub const EVENT_TRANSFER_COMPLETED: &str = "TRANSFER_COMPLETED";
pub const EVENT_TRANSFER_FAILED: &str = "TRANSFER_FAILED";
pub const EVENT_INFRACTION_OPENED: &str = "INFRACTION_OPENED";
pub const EVENT_INFRACTION_DECIDED: &str = "INFRACTION_DECIDED";
pub const EVENT_HOLD_RELEASED: &str = "CASHIN_HOLD_RELEASED";
pub const EVENT_HOLD_RETURNED: &str = "CASHIN_HOLD_RETURNED";

/// The network's timestamps: UTC, millisecond precision (what [`ChargePaid::paid_at`] keeps).
fn format_instant(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// What a `CASHIN_PAID` event says.
pub(crate) struct CashInPaid<'a> {
    pub event_id: &'a str,
    pub transaction_id: &'a TransactionId,
    pub end_to_end_id: &'a EndToEndId,
    pub amount: Money,
    pub paid_by: &'a PaidBy,
    pub at: DateTime<Utc>,
    /// A cautelar hold until then (sent at millisecond precision).
    pub hold_until: Option<DateTime<Utc>>,
}

pub(crate) fn cash_in_paid_body(event: &CashInPaid<'_>) -> Vec<u8> {
    let at = format_instant(event.at);
    let payer = event.paid_by;
    let mut body = json!({
        "eventId": event.event_id,
        "eventType": EVENT_CASHIN_PAID,
        "eventAt": at,
        "data": {
            "transactionId": event.transaction_id.as_str(),
            "endToEndId": event.end_to_end_id.as_str(),
            "status": "PAID",
            // `Money` serialises as a JSON number with exactly two decimals.
            "amount": event.amount,
            "paidAt": at,
            "payer": {
                "name": payer.name,
                "document": payer.document,
                "bankData": {
                    "ispb": payer.bank.ispb.as_str(),
                    "branch": payer.bank.branch,
                    "account": payer.bank.account,
                },
            },
        },
    });
    if let (Some(until), Some(data)) = (event.hold_until, body["data"].as_object_mut()) {
        data.insert("hold".to_owned(), json!({ "until": format_instant(until) }));
    }
    body.to_string().into_bytes()
}

/// The settlement notice of a transfer, or `None` while it is still pending (nothing to say).
pub(crate) fn transfer_body(
    event_id: &str,
    idempotency_key: &str,
    outcome: &TransferOutcome,
    at: DateTime<Utc>,
) -> Option<Vec<u8>> {
    let (event_type, data) = match outcome {
        TransferOutcome::Completed {
            provider_transfer_id,
            end_to_end_id,
            settled_at,
        } => (
            EVENT_TRANSFER_COMPLETED,
            json!({
                "idempotencyKey": idempotency_key,
                "transferId": provider_transfer_id,
                "endToEndId": end_to_end_id.as_str(),
                "settledAt": format_instant(*settled_at),
            }),
        ),
        TransferOutcome::Failed {
            provider_transfer_id,
            reason,
        } => (
            EVENT_TRANSFER_FAILED,
            json!({
                "idempotencyKey": idempotency_key,
                "transferId": provider_transfer_id,
                "reason": reason,
                "settledAt": format_instant(at),
            }),
        ),
        TransferOutcome::Pending { .. } => return None,
    };
    let body = json!({
        "eventId": event_id,
        "eventType": event_type,
        "eventAt": format_instant(at),
        "data": data,
    });
    Some(body.to_string().into_bytes())
}

fn outcome_str(outcome: DisputeOutcome) -> &'static str {
    match outcome {
        DisputeOutcome::Won => "WON",
        DisputeOutcome::Lost => "LOST",
    }
}

/// The `INFRACTION_OPENED` event of `infraction` (the same bytes every time).
pub(crate) fn infraction_opened_body(infraction: &SandboxOpenedInfraction) -> Vec<u8> {
    let opened_at = format_instant(infraction.opened_at);
    let mut data = json!({
        "infractionId": infraction.infraction_id,
        "transactionId": infraction.transaction_id.as_str(),
        "reason": infraction.reason.as_str(),
        "respondBy": format_instant(infraction.respond_by),
        "openedAt": opened_at,
    });
    if let (Some(amount), Some(map)) = (infraction.amount, data.as_object_mut()) {
        // `Money` serialises as a JSON number with exactly two decimals.
        map.insert("amount".to_owned(), json!(amount));
    }
    json!({
        "eventId": infraction.event_id,
        "eventType": EVENT_INFRACTION_OPENED,
        "eventAt": opened_at,
        "data": data,
    })
    .to_string()
    .into_bytes()
}

/// The `INFRACTION_DECIDED` event of `decision` (the same bytes every time).
pub(crate) fn infraction_decided_body(decision: &SandboxInfractionDecision) -> Vec<u8> {
    let decided_at = format_instant(decision.decided_at);
    let mut data = json!({
        "infractionId": decision.infraction_id,
        "transactionId": decision.transaction_id.as_str(),
        "outcome": outcome_str(decision.outcome),
        "decidedAt": decided_at,
    });
    if let (Some(id), Some(map)) = (&decision.end_to_end_id, data.as_object_mut()) {
        map.insert("endToEndId".to_owned(), json!(id.as_str()));
    }
    json!({
        "eventId": decision.event_id,
        "eventType": EVENT_INFRACTION_DECIDED,
        "eventAt": decided_at,
        "data": data,
    })
    .to_string()
    .into_bytes()
}

/// The `CASHIN_HOLD_RELEASED` / `CASHIN_HOLD_RETURNED` event of `ending` (the same bytes
/// every time).
pub(crate) fn hold_ended_body(ending: &SandboxHoldEnding) -> Vec<u8> {
    let at = format_instant(ending.ended_at);
    let (event_type, data) = match &ending.outcome {
        SandboxHoldOutcome::Released => (
            EVENT_HOLD_RELEASED,
            json!({
                "transactionId": ending.transaction_id.as_str(),
                "releasedAt": at,
            }),
        ),
        SandboxHoldOutcome::Returned {
            nature,
            end_to_end_id,
        } => (
            EVENT_HOLD_RETURNED,
            json!({
                "transactionId": ending.transaction_id.as_str(),
                "nature": nature.as_str(),
                "endToEndId": end_to_end_id.as_str(),
                "returnedAt": at,
            }),
        ),
    };
    json!({
        "eventId": ending.event_id,
        "eventType": event_type,
        "eventAt": at,
        "data": data,
    })
    .to_string()
    .into_bytes()
}

/// Turns an authenticated body into a [`ProviderEvent`]; every problem is a
/// [`ProviderWebhookError::Malformed`] naming the offending field.
pub(crate) fn parse(body: &[u8]) -> Result<ProviderEvent, ProviderWebhookError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| malformed(format!("body is not valid JSON: {e}")))?;
    let root = Fields::root(&value)?;
    let event_id = root.id("eventId")?.to_owned();
    let event_type = root.string("eventType")?;
    match event_type {
        EVENT_CASHIN_PAID => parse_cash_in_paid(event_id, &root.object("data", "data.")?),
        EVENT_TRANSFER_COMPLETED | EVENT_TRANSFER_FAILED => {
            let data = root.object("data", "data.")?;
            let idempotency_key = data.id("idempotencyKey")?.to_owned();
            let outcome = if event_type == EVENT_TRANSFER_COMPLETED {
                TransferOutcome::Completed {
                    provider_transfer_id: data.id("transferId")?.to_owned(),
                    end_to_end_id: data.end_to_end_id("endToEndId", EndToEndKind::Payment)?,
                    settled_at: data.instant("settledAt")?,
                }
            } else {
                TransferOutcome::Failed {
                    provider_transfer_id: data.optional_id("transferId")?.map(str::to_owned),
                    reason: data
                        .optional_string("reason")?
                        .unwrap_or("no reason given by the provider")
                        .to_owned(),
                }
            };
            Ok(ProviderEvent::TransferSettled {
                event_id,
                idempotency_key,
                outcome,
            })
        }
        EVENT_INFRACTION_OPENED => {
            parse_infraction_opened(event_id, &root.object("data", "data.")?)
        }
        EVENT_INFRACTION_DECIDED => {
            parse_infraction_decided(event_id, &root.object("data", "data.")?)
        }
        EVENT_HOLD_RELEASED => {
            let data = root.object("data", "data.")?;
            let transaction_id = data.transaction_id("transactionId")?;
            data.instant("releasedAt")?;
            Ok(ProviderEvent::HoldReleased {
                event_id,
                transaction_id,
            })
        }
        EVENT_HOLD_RETURNED => parse_hold_returned(event_id, &root.object("data", "data.")?),
        other => Ok(ProviderEvent::Ignored {
            event_id,
            kind: other.to_owned(),
        }),
    }
}

fn parse_hold_returned(
    event_id: String,
    data: &Fields<'_>,
) -> Result<ProviderEvent, ProviderWebhookError> {
    let transaction_id = data.transaction_id("transactionId")?;
    let nature = match data.optional_string("nature")? {
        None => None,
        Some(text) => Some(DevolutionNature::parse(text).ok_or_else(|| {
            malformed(format!(
                "data.nature must be \"ORIGINAL\", \"RETIRADA\", \"MED_OPERACIONAL\" or \
                 \"MED_FRAUDE\", got {}",
                med::shown(text)
            ))
        })?),
    };
    let end_to_end_id = match data.map.get("endToEndId") {
        Some(Value::Null) | None => None,
        Some(_) => Some(data.end_to_end_id("endToEndId", EndToEndKind::Devolution)?),
    };
    data.instant("returnedAt")?;
    Ok(ProviderEvent::HoldReturned {
        event_id,
        transaction_id,
        nature,
        end_to_end_id,
    })
}

fn parse_infraction_opened(
    event_id: String,
    data: &Fields<'_>,
) -> Result<ProviderEvent, ProviderWebhookError> {
    let infraction_id = data.id("infractionId")?.to_owned();
    let transaction_id = data.transaction_id("transactionId")?;
    let reason = data.string("reason")?;
    let reason = DisputeReason::parse(reason).ok_or_else(|| {
        malformed(format!(
            "data.reason must be \"FRAUD\" or \"OPERATIONAL_FLAW\", got {}",
            med::shown(reason)
        ))
    })?;
    let amount = match data.map.get("amount") {
        Some(Value::Null) | None => None,
        Some(_) => Some(data.amount("amount")?),
    };
    let respond_by = match data.map.get("respondBy") {
        Some(Value::Null) | None => None,
        Some(_) => Some(data.instant("respondBy")?),
    };
    let opened_at = data.instant("openedAt")?;
    Ok(ProviderEvent::InfractionOpened(InfractionOpened {
        event_id,
        infraction_id,
        transaction_id,
        reason,
        amount,
        respond_by,
        opened_at,
    }))
}

fn parse_infraction_decided(
    event_id: String,
    data: &Fields<'_>,
) -> Result<ProviderEvent, ProviderWebhookError> {
    let infraction_id = data.id("infractionId")?.to_owned();
    let transaction_id = data.transaction_id("transactionId")?;
    let outcome = match data.string("outcome")? {
        "WON" => DisputeOutcome::Won,
        "LOST" => DisputeOutcome::Lost,
        other => {
            return Err(malformed(format!(
                "data.outcome must be \"WON\" or \"LOST\", got {}",
                med::shown(other)
            )));
        }
    };
    let end_to_end_id = match data.map.get("endToEndId") {
        Some(Value::Null) | None => None,
        Some(_) if outcome == DisputeOutcome::Won => {
            return Err(malformed(
                "data.endToEndId must be absent when data.outcome is \"WON\" (no devolução)",
            ));
        }
        Some(_) => Some(data.end_to_end_id("endToEndId", EndToEndKind::Devolution)?),
    };
    let decided_at = data.instant("decidedAt")?;
    Ok(ProviderEvent::InfractionDecided(InfractionDecided {
        event_id,
        infraction_id,
        transaction_id,
        outcome,
        end_to_end_id,
        decided_at,
    }))
}

fn parse_cash_in_paid(
    event_id: String,
    data: &Fields<'_>,
) -> Result<ProviderEvent, ProviderWebhookError> {
    let transaction_id = data.transaction_id("transactionId")?;
    let status = data.string("status")?;
    if status != "PAID" {
        return Err(malformed(format!(
            "data.status is {status:?} but a CASHIN_PAID event must be \"PAID\""
        )));
    }
    let end_to_end_id = data.end_to_end_id("endToEndId", EndToEndKind::Payment)?;
    let amount = data.amount("amount")?;
    let paid_at = data.instant("paidAt")?;
    let hold_until = match data.map.get("hold") {
        Some(Value::Null) | None => None,
        Some(_) => Some(data.object("hold", "data.hold.")?.instant("until")?),
    };

    let payer = data.object("payer", "data.payer.")?;
    let name = payer.non_empty("name")?.to_owned();
    let document = payer.non_empty("document")?.to_owned();
    let bank = payer.object("bankData", "data.payer.bankData.")?;
    let ispb = Ispb::parse(bank.string("ispb")?)
        .ok_or_else(|| malformed("data.payer.bankData.ispb must be 8 digits"))?;
    let bank = PayerBankData::new(ispb, bank.string("branch")?, bank.string("account")?)
        .ok_or_else(|| {
            malformed("data.payer.bankData must have a 1-4 digit branch and a 1-20 digit account")
        })?;

    Ok(ProviderEvent::ChargePaid(ChargePaid {
        event_id,
        transaction_id,
        end_to_end_id,
        amount,
        paid_at,
        paid_by: PaidBy {
            name: Pii::from(name),
            document: Pii::from(document),
            bank,
        },
        hold_until,
    }))
}

fn malformed(message: impl Into<String>) -> ProviderWebhookError {
    ProviderWebhookError::Malformed(message.into())
}

/// One JSON object of the payload, with the path used to name its fields in errors.
struct Fields<'a> {
    prefix: &'static str,
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn root(value: &'a Value) -> Result<Fields<'a>, ProviderWebhookError> {
        value
            .as_object()
            .map(|map| Fields { prefix: "", map })
            .ok_or_else(|| malformed("body must be a JSON object"))
    }

    /// A present, non-null field. (`null` counts as missing: PSPs send both for "absent".)
    fn value(&self, name: &str) -> Result<&'a Value, ProviderWebhookError> {
        match self.map.get(name) {
            Some(Value::Null) | None => Err(malformed(format!("{}{name} is missing", self.prefix))),
            Some(value) => Ok(value),
        }
    }

    fn object(&self, name: &str, prefix: &'static str) -> Result<Fields<'a>, ProviderWebhookError> {
        self.value(name)?
            .as_object()
            .map(|map| Fields { prefix, map })
            .ok_or_else(|| malformed(format!("{}{name} must be an object", self.prefix)))
    }

    fn transaction_id(&self, name: &str) -> Result<TransactionId, ProviderWebhookError> {
        TransactionId::parse(self.string(name)?).ok_or_else(|| {
            malformed(format!(
                "{}{name} is not a transaction id this gateway issues",
                self.prefix
            ))
        })
    }

    fn string(&self, name: &str) -> Result<&'a str, ProviderWebhookError> {
        self.value(name)?
            .as_str()
            .ok_or_else(|| malformed(format!("{}{name} must be a string", self.prefix)))
    }

    fn optional_string(&self, name: &str) -> Result<Option<&'a str>, ProviderWebhookError> {
        match self.map.get(name) {
            Some(Value::Null) | None => Ok(None),
            Some(_) => self.string(name).map(Some),
        }
    }

    fn non_empty(&self, name: &str) -> Result<&'a str, ProviderWebhookError> {
        let value = self.string(name)?;
        if value.trim().is_empty() {
            return Err(malformed(format!(
                "{}{name} must not be empty",
                self.prefix
            )));
        }
        Ok(value)
    }

    /// A provider-assigned identifier: non-empty, bounded, printable ASCII.
    fn id(&self, name: &str) -> Result<&'a str, ProviderWebhookError> {
        let value = self.string(name)?;
        let ok = !value.is_empty()
            && value.len() <= MAX_ID_LEN
            && value.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(malformed(format!(
                "{}{name} must be 1..={MAX_ID_LEN} printable ASCII characters",
                self.prefix
            )));
        }
        Ok(value)
    }

    fn optional_id(&self, name: &str) -> Result<Option<&'a str>, ProviderWebhookError> {
        match self.map.get(name) {
            Some(Value::Null) | None => Ok(None),
            Some(_) => self.id(name).map(Some),
        }
    }

    /// An RFC 3339 instant in any offset, normalised to UTC at millisecond precision.
    fn instant(&self, name: &str) -> Result<DateTime<Utc>, ProviderWebhookError> {
        let text = self.string(name)?;
        DateTime::parse_from_rfc3339(text)
            .map(|at| at.with_timezone(&Utc).trunc_subsecs(3))
            .map_err(|_| {
                malformed(format!(
                    "{}{name} must be an RFC 3339 timestamp, got {text:?}",
                    self.prefix
                ))
            })
    }

    fn end_to_end_id(
        &self,
        name: &str,
        kind: EndToEndKind,
    ) -> Result<EndToEndId, ProviderWebhookError> {
        let id = EndToEndId::parse(self.string(name)?).ok_or_else(|| {
            malformed(format!("{}{name} is not a PIX end-to-end id", self.prefix))
        })?;
        if id.kind() != kind {
            let expected = match kind {
                EndToEndKind::Payment => "a payment (E…)",
                EndToEndKind::Devolution => "a devolution (D…)",
            };
            return Err(malformed(format!(
                "{}{name} must be {expected} end-to-end id",
                self.prefix
            )));
        }
        Ok(id)
    }

    /// A positive amount in reais with at most two decimals, from the number's exact text.
    fn amount(&self, name: &str) -> Result<Money, ProviderWebhookError> {
        let field = format!("{}{name}", self.prefix);
        let Value::Number(number) = self.value(name)? else {
            return Err(malformed(format!("{field} must be a JSON number")));
        };
        let decimal = parse_decimal(&number.to_string())
            .map_err(|_| malformed(format!("{field} is not a representable amount")))?;
        // Range-check the decimal before converting: the conversion scales by 100, which would
        // overflow for values near `Decimal::MAX` (or `MIN`).
        if decimal <= Money::ZERO.to_decimal() {
            return Err(malformed(format!("{field} must be positive")));
        }
        if decimal > Money::from_cents(MAX_AMOUNT_CENTS).to_decimal() {
            return Err(malformed(format!("{field} exceeds the maximum amount")));
        }
        Money::from_decimal(decimal)
            .map_err(|_| malformed(format!("{field} must have at most two decimal places")))
    }
}
