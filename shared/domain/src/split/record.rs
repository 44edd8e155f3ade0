//! The stored forms of split rules (kept with their charge) and of booked split entries.

use serde::{Deserialize, Serialize};

use crate::charge::ChargeSplit;
use crate::error::StoreError;
use crate::error::corrupt;
use crate::payout::PayoutId;
use crate::pix::clock::millis_to_time;
use crate::pix::document::TaxDocument;
use crate::pix::ids::{AccountId, TransactionId};
use crate::pix::money::Money;
use crate::pix::payment::EndToEndId;
use crate::pix::pii::Pii;
use crate::pix::pix_key::PixKeyType;
use crate::split::entry::SplitEntry;
use crate::split::entry::SplitState;
use crate::split::{SplitKind, SplitRule, SplitValue};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SplitRecord {
    pub pix_key: Pii,
    pub pix_key_type: String,
    pub name: Pii,
    pub document: String,
    /// FIXED or PERCENTAGE.
    pub kind: String,
    /// Centavos for FIXED, hundredths of a percent for PERCENTAGE.
    pub value: i64,
    pub immediate: bool,
    pub amount_cents: i64,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SplitEntryRecord {
    pub transaction_id: String,
    pub account_id: String,
    pub index: u8,
    pub split: SplitRecord,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Absent on splits stored before payout retries existed (then: 0).
    #[serde(default)]
    pub attempts: u8,
    /// What refunds took of the share so far (absent: 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refunded_cents: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl From<&SplitEntry> for SplitEntryRecord {
    fn from(s: &SplitEntry) -> Self {
        SplitEntryRecord {
            transaction_id: s.transaction_id.to_string(),
            account_id: s.account_id.to_string(),
            index: s.index,
            split: SplitRecord::from(&s.split),
            state: s.state.as_str().to_owned(),
            payout_id: s.payout_id.as_ref().map(ToString::to_string),
            end_to_end_id: s.end_to_end_id.as_ref().map(ToString::to_string),
            failure_reason: s.failure_reason.clone(),
            attempts: s.attempts,
            refunded_cents: s.refunded.cents(),
            created_at_ms: s.created_at.timestamp_millis(),
            updated_at_ms: s.updated_at.timestamp_millis(),
        }
    }
}

impl TryFrom<SplitEntryRecord> for SplitEntry {
    type Error = StoreError;

    fn try_from(r: SplitEntryRecord) -> Result<Self, StoreError> {
        let id = format!("{}/{}", r.transaction_id, r.index);
        if r.refunded_cents < 0 || r.refunded_cents > r.split.amount_cents {
            return Err(corrupt("refundedCents", &id));
        }
        Ok(SplitEntry {
            transaction_id: TransactionId::parse(&r.transaction_id)
                .ok_or_else(|| corrupt("transactionId", &id))?,
            account_id: AccountId::parse(&r.account_id).ok_or_else(|| corrupt("accountId", &id))?,
            index: r.index,
            split: ChargeSplit::try_from(r.split).map_err(|what| corrupt(what, &id))?,
            state: SplitState::parse(&r.state).ok_or_else(|| corrupt("state", &id))?,
            payout_id: r
                .payout_id
                .map(|p| PayoutId::parse(&p).ok_or_else(|| corrupt("payoutId", &id)))
                .transpose()?,
            end_to_end_id: r
                .end_to_end_id
                .map(|e| EndToEndId::parse(&e).ok_or_else(|| corrupt("endToEndId", &id)))
                .transpose()?,
            failure_reason: r.failure_reason,
            attempts: r.attempts,
            refunded: Money::from_cents(r.refunded_cents),
            created_at: millis_to_time(r.created_at_ms).ok_or_else(|| corrupt("createdAt", &id))?,
            updated_at: millis_to_time(r.updated_at_ms).ok_or_else(|| corrupt("updatedAt", &id))?,
        })
    }
}

fn is_zero(cents: &i64) -> bool {
    *cents == 0
}
