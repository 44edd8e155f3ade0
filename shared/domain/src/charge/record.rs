//! The stored form of a charge (and of the payment it received), shared by every storage
//! adapter. Every aggregate's `record.rs` follows the rules written here.
//!
//! Flat and boring on purpose: money is integer centavos (DynamoDB `N`, exact, usable in
//! conditions and `ADD`), times are epoch milliseconds (sortable numbers), enums are their API
//! names. Converting back re-validates, so a corrupted item surfaces as
//! [`StoreError::Corrupt`] instead of a wrong charge.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::charge::{
    Charge, ChargeHold, ChargeSplit, ChargeStatus, DisputeClaim, HoldState, Payer,
};
use crate::dispute::{DevolutionNature, DisputeState};
use crate::error::StoreError;
use crate::error::corrupt;
use crate::pix::clock::millis_to_time;
use crate::pix::document::TaxDocument;
use crate::pix::ids::{AccountId, DisputeId, TransactionId};
use crate::pix::money::Money;
use crate::pix::payment::EndToEndId;
use crate::pix::payment::Ispb;
use crate::pix::payment::PaidBy;
use crate::pix::payment::PayerBankData;
use crate::pix::payment::Payment;
use crate::pix::pii::Pii;
use crate::refund::record::{RefundRecord, SplitPartRecord};
use crate::split::record::SplitRecord;

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
    pub payer_name: Pii,
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
    /// Legacy: the one refund a charge could have before partial refunds (read, never
    /// written: it becomes the first of `refunds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<RefundRecord>,
    /// Its devoluções, oldest first (absent: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunds: Vec<RefundRecord>,
    /// Its cautelar hold (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<HoldRecord>,
    /// Its MED disputes, oldest first (absent: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disputes: Vec<DisputeClaimRecord>,
    /// How many refund and dispute writes the charge has seen (absent: 0); every such write
    /// requires the one it read, so concurrent refunds and disputes of a charge serialise on it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refund_revision: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A charge's cautelar hold ([`ChargeHold`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HoldRecord {
    pub until_ms: i64,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_nature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_end_to_end_id: Option<String>,
}

impl From<&ChargeHold> for HoldRecord {
    fn from(h: &ChargeHold) -> Self {
        HoldRecord {
            until_ms: h.until.timestamp_millis(),
            state: h.state.as_str().to_owned(),
            settled_at_ms: h.settled_at.map(|t| t.timestamp_millis()),
            return_nature: h.return_nature.map(|n| n.as_str().to_owned()),
            return_end_to_end_id: h.return_end_to_end_id.as_ref().map(ToString::to_string),
        }
    }
}

impl HoldRecord {
    pub fn into_hold(self, id: &str) -> Result<ChargeHold, StoreError> {
        Ok(ChargeHold {
            until: millis_to_time(self.until_ms).ok_or_else(|| corrupt("hold until", id))?,
            state: HoldState::parse(&self.state).ok_or_else(|| corrupt("hold state", id))?,
            settled_at: self
                .settled_at_ms
                .map(|ms| millis_to_time(ms).ok_or_else(|| corrupt("hold settledAt", id)))
                .transpose()?,
            return_nature: self
                .return_nature
                .map(|n| DevolutionNature::parse(&n).ok_or_else(|| corrupt("hold nature", id)))
                .transpose()?,
            return_end_to_end_id: self
                .return_end_to_end_id
                .map(|e| EndToEndId::parse(&e).ok_or_else(|| corrupt("hold endToEndId", id)))
                .transpose()?,
        })
    }
}

/// A dispute as its charge keeps it ([`DisputeClaim`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisputeClaimRecord {
    pub dispute_id: String,
    pub amount_cents: i64,
    pub state: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub split_parts: Vec<SplitPartRecord>,
}

impl From<&DisputeClaim> for DisputeClaimRecord {
    fn from(d: &DisputeClaim) -> Self {
        DisputeClaimRecord {
            dispute_id: d.id.to_string(),
            amount_cents: d.amount.cents(),
            state: d.state.as_str().to_owned(),
            split_parts: d.split_parts.iter().map(SplitPartRecord::from).collect(),
        }
    }
}

impl DisputeClaimRecord {
    fn into_claim(self, id: &str) -> Result<DisputeClaim, StoreError> {
        if self.amount_cents < 1 {
            return Err(corrupt("dispute amount", id));
        }
        Ok(DisputeClaim {
            id: DisputeId::parse(&self.dispute_id).ok_or_else(|| corrupt("disputeId", id))?,
            amount: Money::from_cents(self.amount_cents),
            state: DisputeState::parse(&self.state).ok_or_else(|| corrupt("dispute state", id))?,
            split_parts: self
                .split_parts
                .into_iter()
                .map(|p| {
                    p.into_part()
                        .ok_or_else(|| corrupt("dispute split part", id))
                })
                .collect::<Result<Vec<_>, _>>()?,
        })
    }
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
            refund: None,
            refunds: c.refunds.iter().map(RefundRecord::from).collect(),
            hold: c.hold.as_ref().map(HoldRecord::from),
            disputes: c.disputes.iter().map(DisputeClaimRecord::from).collect(),
            refund_revision: c.refund_revision,
        }
    }
}

impl TryFrom<ChargeRecord> for Charge {
    type Error = StoreError;

    fn try_from(r: ChargeRecord) -> Result<Self, StoreError> {
        let id = r.transaction_id.clone();
        let transaction_id =
            TransactionId::parse(&r.transaction_id).ok_or_else(|| corrupt("transactionId", &id))?;
        let amount = Money::from_cents(r.amount_cents);
        let refunds = r
            .refund
            .into_iter()
            .chain(r.refunds)
            .map(|f| f.into_refund(&transaction_id, amount))
            .collect::<Result<Vec<_>, _>>()?;
        let splits = r
            .splits
            .into_iter()
            .map(|s| ChargeSplit::try_from(s).map_err(|what| corrupt(what, &id)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Charge {
            transaction_id,
            account_id: AccountId::parse(&r.account_id).ok_or_else(|| corrupt("accountId", &id))?,
            correlation_id: Uuid::parse_str(&r.correlation_id)
                .map_err(|_| corrupt("correlationId", &id))?,
            external_id: r.external_id,
            status: ChargeStatus::parse(&r.status).ok_or_else(|| corrupt("status", &id))?,
            amount,
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
            refunds,
            hold: r.hold.map(|h| h.into_hold(&id)).transpose()?,
            disputes: r
                .disputes
                .into_iter()
                .map(|d| d.into_claim(&id))
                .collect::<Result<Vec<_>, _>>()?,
            refund_revision: r.refund_revision,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRecord {
    pub end_to_end_id: String,
    pub paid_at_ms: i64,
    pub payer_name: Pii,
    pub payer_document: Pii,
    pub payer_ispb: String,
    pub payer_branch: Pii,
    pub payer_account: Pii,
    pub provider: String,
    pub provider_event_id: String,
}

impl From<&Payment> for PaymentRecord {
    fn from(p: &Payment) -> Self {
        PaymentRecord {
            end_to_end_id: p.end_to_end_id.to_string(),
            paid_at_ms: p.paid_at.timestamp_millis(),
            payer_name: p.paid_by.name.clone(),
            payer_document: p.paid_by.document.clone(),
            payer_ispb: p.paid_by.bank.ispb.as_str().to_owned(),
            payer_branch: p.paid_by.bank.branch.clone(),
            payer_account: p.paid_by.bank.account.clone(),
            provider: p.provider.clone(),
            provider_event_id: p.provider_event_id.clone(),
        }
    }
}

impl PaymentRecord {
    pub fn into_payment(self, id: &str) -> Result<Payment, StoreError> {
        let bank = Ispb::parse(&self.payer_ispb)
            .and_then(|ispb| PayerBankData::new(ispb, &self.payer_branch, &self.payer_account))
            .ok_or_else(|| corrupt("payer bank data", id))?;
        Ok(Payment {
            end_to_end_id: EndToEndId::parse(&self.end_to_end_id)
                .ok_or_else(|| corrupt("endToEndId", id))?,
            paid_at: millis_to_time(self.paid_at_ms).ok_or_else(|| corrupt("paidAt", id))?,
            paid_by: PaidBy {
                name: self.payer_name,
                document: self.payer_document,
                bank,
            },
            provider: self.provider,
            provider_event_id: self.provider_event_id,
        })
    }
}
