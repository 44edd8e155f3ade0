//! The stored forms of payouts and the split references they pay.

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::error::corrupt;
use crate::payout::{Payout, PayoutId, PayoutRecipient, PayoutState, PayoutTrigger, SplitRef};
use crate::pix::clock::millis_to_time;
use crate::pix::ids::{AccountId, TransactionId};
use crate::pix::money::Money;
use crate::pix::payment::EndToEndId;
use crate::pix::pii::Pii;
use crate::pix::pix_key::PixKeyType;
use crate::recipient::record::DebtPartRecord;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SplitRefRecord {
    pub transaction_id: String,
    pub index: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayoutRecord {
    pub payout_id: String,
    pub account_id: String,
    pub trigger: String,
    pub recipient_pix_key: Pii,
    pub recipient_pix_key_type: String,
    pub recipient_name: Pii,
    pub recipient_document: String,
    pub amount_cents: i64,
    pub splits: Vec<SplitRefRecord>,
    /// Absent on payouts stored before scheduled payouts existed (then: `splits.len()`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_count: Option<u32>,
    /// See [`Payout::unsettled_splits`]; absent means 0.
    #[serde(default)]
    pub unsettled_splits: u32,
    pub state: String,
    /// Absent until decided (see [`Payout::deductions`]); then present, maybe empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deductions: Option<Vec<DebtPartRecord>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_transfer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl From<&Payout> for PayoutRecord {
    fn from(p: &Payout) -> Self {
        PayoutRecord {
            payout_id: p.id.to_string(),
            account_id: p.account_id.to_string(),
            trigger: p.trigger.as_str().to_owned(),
            recipient_pix_key: p.recipient.pix_key.clone(),
            recipient_pix_key_type: p.recipient.pix_key_type.as_str().to_owned(),
            recipient_name: p.recipient.name.clone(),
            recipient_document: p.recipient.document.as_str().to_owned(),
            amount_cents: p.amount.cents(),
            splits: p
                .splits
                .iter()
                .map(|s| SplitRefRecord {
                    transaction_id: s.transaction_id.to_string(),
                    index: s.index,
                })
                .collect(),
            split_count: Some(p.split_count),
            unsettled_splits: p.unsettled_splits,
            state: p.state.as_str().to_owned(),
            deductions: p
                .deductions
                .as_ref()
                .map(|d| d.iter().map(DebtPartRecord::from).collect()),
            end_to_end_id: p.end_to_end_id.as_ref().map(ToString::to_string),
            provider_transfer_id: p.provider_transfer_id.clone(),
            failure_reason: p.failure_reason.clone(),
            created_at_ms: p.created_at.timestamp_millis(),
            updated_at_ms: p.updated_at.timestamp_millis(),
        }
    }
}

impl TryFrom<PayoutRecord> for Payout {
    type Error = StoreError;

    fn try_from(r: PayoutRecord) -> Result<Self, StoreError> {
        let id = r.payout_id.clone();
        let splits = r
            .splits
            .iter()
            .map(|s| {
                Ok(SplitRef {
                    transaction_id: TransactionId::parse(&s.transaction_id)
                        .ok_or_else(|| corrupt("split ref", &id))?,
                    index: s.index,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Payout {
            id: PayoutId::parse(&r.payout_id).ok_or_else(|| corrupt("payoutId", &id))?,
            account_id: AccountId::parse(&r.account_id).ok_or_else(|| corrupt("accountId", &id))?,
            trigger: PayoutTrigger::parse(&r.trigger).ok_or_else(|| corrupt("trigger", &id))?,
            recipient: PayoutRecipient {
                pix_key: r.recipient_pix_key,
                pix_key_type: PixKeyType::parse(&r.recipient_pix_key_type)
                    .ok_or_else(|| corrupt("recipient key type", &id))?,
                name: r.recipient_name,
                document: crate::pix::document::TaxDocument::parse(&r.recipient_document)
                    .map_err(|_| corrupt("recipient document", &id))?,
            },
            amount: Money::from_cents(r.amount_cents),
            split_count: match r.split_count {
                Some(n) => n,
                None => u32::try_from(splits.len()).map_err(|_| corrupt("splits", &id))?,
            },
            splits,
            unsettled_splits: r.unsettled_splits,
            state: PayoutState::parse(&r.state).ok_or_else(|| corrupt("state", &id))?,
            deductions: r
                .deductions
                .map(|parts| {
                    parts
                        .into_iter()
                        .map(|p| p.into_part().ok_or_else(|| corrupt("deductions", &id)))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?,
            end_to_end_id: r
                .end_to_end_id
                .map(|e| EndToEndId::parse(&e).ok_or_else(|| corrupt("endToEndId", &id)))
                .transpose()?,
            provider_transfer_id: r.provider_transfer_id,
            failure_reason: r.failure_reason,
            created_at: millis_to_time(r.created_at_ms).ok_or_else(|| corrupt("createdAt", &id))?,
            updated_at: millis_to_time(r.updated_at_ms).ok_or_else(|| corrupt("updatedAt", &id))?,
        })
    }
}
