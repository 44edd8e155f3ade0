//! The stored form of domain objects, shared by every storage adapter.
//!
//! Flat and boring on purpose: money is integer centavos (DynamoDB `N`, exact, usable in
//! conditions and `ADD`), times are epoch milliseconds (sortable numbers), enums are their API
//! names. Converting back re-validates, so a corrupted item surfaces as
//! [`StoreError::Corrupt`] instead of a wrong charge.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::charge::{Charge, ChargeRefund, ChargeSplit, ChargeStatus, Payer, RefundState};
use crate::document::TaxDocument;
use crate::error::StoreError;
use crate::ids::{AccountId, TransactionId};
use crate::money::Money;
use crate::payment::EndToEndId;
use crate::pix_key::PixKeyType;
use crate::settlement_record::PaymentRecord;
use crate::split::{SplitKind, SplitRule, SplitValue};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeRecord {
    pub transaction_id: String,
    pub account_id: String,
    pub correlation_id: String,
    pub external_id: String,
    pub status: String,
    pub amount_cents: i64,
    pub description: String,
    pub payer_name: String,
    pub payer_document: String,
    /// Omitted when empty: DynamoDB Local's stream encodes an empty map as `{}` (no type
    /// tag), which the Streams SDK cannot parse, and that one record would block the feed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_info: BTreeMap<String, String>,
    pub splits: Vec<SplitRecord>,
    pub remainder_cents: i64,
    pub pix_code: String,
    pub generate_qr_code: bool,
    pub provider: String,
    pub provider_charge_id: String,
    pub expiration_seconds: u32,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    /// Absent until confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentRecord>,
    /// Absent until a refund is requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<RefundRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundRecord {
    pub attempt: u32,
    pub state: String,
    pub reason: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_refund_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub requested_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

impl From<&ChargeRefund> for RefundRecord {
    fn from(r: &ChargeRefund) -> Self {
        RefundRecord {
            attempt: r.attempt,
            state: r.state.as_str().to_owned(),
            reason: r.reason.clone(),
            description: r.description.clone(),
            end_to_end_id: r.end_to_end_id.as_ref().map(ToString::to_string),
            provider_refund_id: r.provider_refund_id.clone(),
            failure_reason: r.failure_reason.clone(),
            requested_at_ms: r.requested_at.timestamp_millis(),
            settled_at_ms: r.settled_at.map(|t| t.timestamp_millis()),
            idempotency_key: r.idempotency_key.clone(),
        }
    }
}

impl RefundRecord {
    fn into_refund(self, id: &str) -> Result<ChargeRefund, StoreError> {
        Ok(ChargeRefund {
            attempt: self.attempt,
            state: RefundState::parse(&self.state).ok_or_else(|| corrupt("refund state", id))?,
            reason: self.reason,
            description: self.description,
            end_to_end_id: self
                .end_to_end_id
                .map(|e| EndToEndId::parse(&e).ok_or_else(|| corrupt("refund endToEndId", id)))
                .transpose()?,
            provider_refund_id: self.provider_refund_id,
            failure_reason: self.failure_reason,
            requested_at: millis_to_time(self.requested_at_ms)
                .ok_or_else(|| corrupt("refund requestedAt", id))?,
            settled_at: self
                .settled_at_ms
                .map(|ms| millis_to_time(ms).ok_or_else(|| corrupt("refund settledAt", id)))
                .transpose()?,
            idempotency_key: self.idempotency_key,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SplitRecord {
    pub pix_key: String,
    pub pix_key_type: String,
    pub name: String,
    pub document: String,
    /// FIXED or PERCENTAGE.
    pub kind: String,
    /// Centavos for FIXED, hundredths of a percent for PERCENTAGE.
    pub value: i64,
    pub immediate: bool,
    pub amount_cents: i64,
}

impl From<&Charge> for ChargeRecord {
    fn from(c: &Charge) -> Self {
        ChargeRecord {
            transaction_id: c.transaction_id.to_string(),
            account_id: c.account_id.to_string(),
            correlation_id: c.correlation_id.to_string(),
            external_id: c.external_id.clone(),
            status: c.status.as_str().to_owned(),
            amount_cents: c.amount.cents(),
            description: c.description.clone(),
            payer_name: c.payer.full_name.clone(),
            payer_document: c.payer.document.as_str().to_owned(),
            additional_info: c.additional_info.clone(),
            splits: c.splits.iter().map(SplitRecord::from).collect(),
            remainder_cents: c.remainder.cents(),
            pix_code: c.pix_code.clone(),
            generate_qr_code: c.generate_qr_code,
            provider: c.provider.clone(),
            provider_charge_id: c.provider_charge_id.clone(),
            expiration_seconds: c.expiration_seconds,
            created_at_ms: c.created_at.timestamp_millis(),
            expires_at_ms: c.expires_at.timestamp_millis(),
            payment: c.payment.as_ref().map(PaymentRecord::from),
            refund: c.refund.as_ref().map(RefundRecord::from),
        }
    }
}

impl From<&ChargeSplit> for SplitRecord {
    fn from(s: &ChargeSplit) -> Self {
        let value = match s.rule.value {
            SplitValue::Fixed(money) => money.cents(),
            SplitValue::Percentage(hundredths) => i64::from(hundredths),
        };
        SplitRecord {
            pix_key: s.rule.pix_key.clone(),
            pix_key_type: s.rule.pix_key_type.as_str().to_owned(),
            name: s.rule.name.clone(),
            document: s.rule.document.as_str().to_owned(),
            kind: s.rule.value.kind().as_str().to_owned(),
            value,
            immediate: s.rule.immediate,
            amount_cents: s.amount.cents(),
        }
    }
}

fn corrupt(what: &str, id: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} of {id}"))
}

pub fn millis_to_time(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

impl TryFrom<ChargeRecord> for Charge {
    type Error = StoreError;

    fn try_from(r: ChargeRecord) -> Result<Self, StoreError> {
        let id = r.transaction_id.clone();
        let splits = r
            .splits
            .into_iter()
            .map(|s| ChargeSplit::try_from(s).map_err(|what| corrupt(what, &id)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Charge {
            transaction_id: TransactionId::parse(&r.transaction_id)
                .ok_or_else(|| corrupt("transactionId", &id))?,
            account_id: AccountId::parse(&r.account_id).ok_or_else(|| corrupt("accountId", &id))?,
            correlation_id: Uuid::parse_str(&r.correlation_id)
                .map_err(|_| corrupt("correlationId", &id))?,
            external_id: r.external_id,
            status: ChargeStatus::parse(&r.status).ok_or_else(|| corrupt("status", &id))?,
            amount: Money::from_cents(r.amount_cents),
            description: r.description,
            payer: Payer {
                full_name: r.payer_name,
                document: TaxDocument::parse(&r.payer_document)
                    .map_err(|_| corrupt("payer document", &id))?,
            },
            additional_info: r.additional_info,
            splits,
            remainder: Money::from_cents(r.remainder_cents),
            pix_code: r.pix_code,
            generate_qr_code: r.generate_qr_code,
            provider: r.provider,
            provider_charge_id: r.provider_charge_id,
            expiration_seconds: r.expiration_seconds,
            created_at: millis_to_time(r.created_at_ms).ok_or_else(|| corrupt("createdAt", &id))?,
            expires_at: millis_to_time(r.expires_at_ms).ok_or_else(|| corrupt("expiresAt", &id))?,
            payment: r.payment.map(|p| p.into_payment(&id)).transpose()?,
            refund: r.refund.map(|f| f.into_refund(&id)).transpose()?,
        })
    }
}

impl TryFrom<SplitRecord> for ChargeSplit {
    type Error = &'static str;

    fn try_from(s: SplitRecord) -> Result<Self, &'static str> {
        let value = match SplitKind::parse(&s.kind).ok_or("split kind")? {
            SplitKind::Fixed => SplitValue::Fixed(Money::from_cents(s.value)),
            SplitKind::Percentage => {
                SplitValue::Percentage(u32::try_from(s.value).map_err(|_| "split percentage")?)
            }
        };
        Ok(ChargeSplit {
            rule: SplitRule {
                pix_key: s.pix_key,
                pix_key_type: PixKeyType::parse(&s.pix_key_type).ok_or("split key type")?,
                name: s.name,
                document: TaxDocument::parse(&s.document).map_err(|_| "split document")?,
                value,
                immediate: s.immediate,
            },
            amount: Money::from_cents(s.amount_cents),
        })
    }
}
