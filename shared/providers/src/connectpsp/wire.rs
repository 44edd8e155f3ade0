//! ConnectPSP's JSON, as seeds 000–002 show it (and, for cash-outs, as we assume it: see the
//! module documentation of [`super`]). Amounts travel as JSON numbers with two decimals and
//! are read exactly (`150.5` and `150.50` alike), never through `f64`.

use chrono::{DateTime, Utc};
use pixgw_domain::pix::money::Money;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::mask::mask_documents;

// --- Requests --------------------------------------------------------------------------------

/// `POST /cash-in`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CashInRequest<'a> {
    /// A JSON number with two decimals (`150.50`), see [`Money`]'s `Serialize`.
    pub amount: Money,
    pub external_reference: &'a str,
    pub expiration_in_minutes: i64,
    pub webhook_url: &'a str,
    pub payer: Party<'a>,
}

#[derive(Serialize)]
pub(crate) struct Party<'a> {
    pub name: &'a str,
    pub document: &'a str,
}

/// `POST /cash-in/{id}/refund`.
#[derive(Serialize)]
pub(crate) struct RefundBody<'a> {
    pub reason: &'a str,
    pub description: &'a str,
}

/// `POST /cash-out` (our assumption; the seeds do not document the body).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CashOutRequest<'a> {
    pub amount: Money,
    pub external_reference: &'a str,
    pub description: &'a str,
    pub webhook_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pix_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pix_key_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank_data: Option<BankDataOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Recipient<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BankDataOut<'a> {
    pub ispb: &'a str,
    pub branch: &'a str,
    pub account: &'a str,
    pub account_type: &'a str,
}

#[derive(Serialize)]
pub(crate) struct Recipient<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<&'a str>,
}

// --- Responses -------------------------------------------------------------------------------

/// `201` to `POST /cash-in`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CashInCreated {
    pub internal_code: String,
    #[serde(default)]
    pub external_reference: Option<String>,
    #[serde(default, deserialize_with = "opt_money")]
    pub amount: Option<Money>,
    pub pix_data: PixData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PixData {
    pub copy_and_paste: String,
}

/// `202` to `POST /cash-in/{id}/refund`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefundReply {
    pub transaction_id: String,
    #[serde(default)]
    pub end_to_end_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub refunded_at: Option<String>,
}

/// `202` to `POST /cash-out`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CashOutReply {
    pub transaction_id: String,
    #[serde(default)]
    pub external_reference: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// A cash-in as `GET /cash-in/{internalCode}` reports it (seed 001).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CashInStatus {
    pub transaction_id: String,
    pub internal_code: String,
    /// What we sent as `externalReference`: our transaction id.
    pub external_reference: String,
    pub status: CashInState,
    #[serde(deserialize_with = "money")]
    pub amount: Money,
    /// `E…` once paid; `D…` (the devolution) once refunded.
    #[serde(default)]
    pub end_to_end_id: Option<String>,
    /// The payment's `E…` when `end_to_end_id` is a devolution.
    #[serde(default)]
    pub original_end_to_end_id: Option<String>,
    #[serde(default)]
    pub payer: Option<CashInPayer>,
    #[serde(default)]
    pub requested_at: Option<String>,
    #[serde(default)]
    pub paid_at: Option<String>,
    /// Not in the seeds; read when present.
    #[serde(default)]
    pub refunded_at: Option<String>,
}

/// A cash-in's status. The seeds name `AWAITING_PAYMENT`, `PAID`, `REFUNDED`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum CashInState {
    AwaitingPayment,
    Paid,
    Refunded,
    Other(String),
}

impl From<String> for CashInState {
    fn from(value: String) -> Self {
        match value.as_str() {
            "AWAITING_PAYMENT" => CashInState::AwaitingPayment,
            "PAID" => CashInState::Paid,
            "REFUNDED" => CashInState::Refunded,
            _ => CashInState::Other(value),
        }
    }
}

/// Who paid, as ConnectPSP reports it (`bankData` may be null before settlement).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CashInPayer {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub document: Option<String>,
    #[serde(default)]
    pub bank_data: Option<CashInBankData>,
}

/// Masks the document: this is personal data and `Debug` ends up in logs.
impl std::fmt::Debug for CashInPayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CashInPayer")
            .field("name", &self.name)
            .field("document", &self.document.as_deref().map(mask_documents))
            .field("bank_data", &self.bank_data)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CashInBankData {
    #[serde(default)]
    pub ispb: Option<String>,
    #[serde(default)]
    pub bank: Option<String>,
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
}

/// A webhook delivery (seed 000, Step 4).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WebhookEnvelope {
    pub event_type: String,
    #[serde(default)]
    pub event_at: Option<String>,
    #[serde(default)]
    pub data: Value,
}

/// `data` of the cash-out events (our assumption, like their names).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CashOutEventData {
    #[serde(default)]
    pub transaction_id: Option<String>,
    pub external_reference: String,
    #[serde(default)]
    pub end_to_end_id: Option<String>,
    #[serde(default)]
    pub paid_at: Option<String>,
    #[serde(default)]
    pub settled_at: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

// --- Helpers ---------------------------------------------------------------------------------

/// An RFC 3339 timestamp (`2026-03-10T11:22:15-03:00`, `…Z`) in UTC.
pub(crate) fn timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn money_from(value: &Value) -> Option<Money> {
    match value {
        // With `arbitrary_precision` the number's text is exactly what ConnectPSP sent.
        Value::Number(n) => Money::parse(&n.to_string()).ok(),
        Value::String(s) => Money::parse(s.trim()).ok(),
        _ => None,
    }
}

fn money<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
    let value = Value::deserialize(deserializer)?;
    money_from(&value).ok_or_else(|| serde::de::Error::custom("amount is not an amount in BRL"))
}

fn opt_money<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Money>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    if value.is_null() {
        return Ok(None);
    }
    money_from(&value)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom("amount is not an amount in BRL"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_exactly() {
        for (text, cents) in [
            ("150.5", 15050),
            ("150.50", 15050),
            ("\"10.00\"", 1000),
            ("0.1", 10),
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(money_from(&value), Some(Money::from_cents(cents)), "{text}");
        }
        let value: Value = serde_json::from_str("10.001").unwrap();
        assert_eq!(money_from(&value), None);
    }

    #[test]
    fn request_amount_is_a_two_decimal_number() {
        let body = CashInRequest {
            amount: Money::from_cents(15050),
            external_reference: "x",
            expiration_in_minutes: 60,
            webhook_url: "https://h/w?token=t",
            payer: Party {
                name: "n",
                document: "12345678909",
            },
        };
        let text = serde_json::to_string(&body).unwrap();
        assert!(
            text.starts_with(r#"{"amount":150.50,"externalReference":"x""#),
            "{text}"
        );
    }

    #[test]
    fn timestamps_with_offsets_become_utc() {
        let t = timestamp("2026-03-10T11:22:15-03:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-10T14:22:15+00:00");
        assert!(timestamp("2026-03-10 11:22").is_none());
    }
}
