//! API models: what the JSON API shows, separate from the domain types it is built from.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use pixgw_domain::charge::{Charge, ChargeSplit};
use pixgw_domain::money::{Money, serialize_decimal_2dp};
use pixgw_domain::split::SplitValue;
use rust_decimal::Decimal;
use serde::Serialize;

/// ISO 8601 with milliseconds and `Z`, as in seed 004 (`2024-01-15T10:30:00.000Z`).
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A charge as `POST` (201) and `GET /api/pix/cash-in/{id}` show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeView {
    pub transaction_id: String,
    pub correlation_id: String,
    pub external_id: String,
    pub status: &'static str,
    pub value: Money,
    pub description: String,
    pub pix_code: String,
    pub generate_time: String,
    pub expiration_date: String,
    pub expiration_time: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_code_image: Option<String>,
    pub payer: PayerView,
    pub additional_info: BTreeMap<String, String>,
    pub splits: Vec<SplitView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayerView {
    pub full_name: String,
    pub document: String,
}

/// A split as defined plus its computed state on this charge.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SplitView {
    pub pix_key: String,
    pub pix_key_type: &'static str,
    pub name: String,
    pub document: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(serialize_with = "serialize_decimal_2dp")]
    pub value: Decimal,
    pub immediate: bool,
    /// This split's share of the charge amount (rounded down to the cent for PERCENTAGE).
    pub amount: Money,
    /// `PENDING` until the charge is paid; then the split pipeline's states.
    pub status: &'static str,
}

impl ChargeView {
    /// `qr_code_image` is the PNG data URL, rendered by the caller only when wanted.
    pub fn new(charge: &Charge, qr_code_image: Option<String>) -> ChargeView {
        ChargeView {
            transaction_id: charge.transaction_id.to_string(),
            correlation_id: charge.correlation_id.to_string(),
            external_id: charge.external_id.clone(),
            status: charge.status.as_str(),
            value: charge.amount,
            description: charge.description.clone(),
            pix_code: charge.pix_code.clone(),
            generate_time: timestamp(charge.created_at),
            expiration_date: timestamp(charge.expires_at),
            expiration_time: charge.expiration_seconds,
            qr_code_image,
            payer: PayerView {
                full_name: charge.payer.full_name.clone(),
                document: charge.payer.document.as_str().to_owned(),
            },
            additional_info: charge.additional_info.clone(),
            splits: charge.splits.iter().map(SplitView::new).collect(),
        }
    }
}

impl SplitView {
    fn new(split: &ChargeSplit) -> SplitView {
        let rule = &split.rule;
        SplitView {
            pix_key: rule.pix_key.clone(),
            pix_key_type: rule.pix_key_type.as_str(),
            name: rule.name.clone(),
            document: rule.document.as_str().to_owned(),
            kind: rule.value.kind().as_str(),
            value: match rule.value {
                SplitValue::Fixed(money) => money.to_decimal(),
                SplitValue::Percentage(_) => rule.value.as_decimal(),
            },
            immediate: rule.immediate,
            amount: split.amount,
            status: "PENDING",
        }
    }
}

/// A page of a listing.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageView<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}
