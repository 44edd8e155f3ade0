//! Stored forms of the settlement objects (payments, split entries, payouts, movements, outbox
//! messages), shared by every storage adapter, in the style of [`crate::record`]: integer
//! centavos, epoch milliseconds, enums by their API names, re-validated on the way back.

use serde::{Deserialize, Serialize};

use crate::charge::ChargeSplit;
use crate::error::StoreError;
use crate::ids::{AccountId, TransactionId};
use crate::ledger::{Bucket, LedgerAccount, Leg, Movement, MovementKind};
use crate::money::Money;
use crate::outbox::OutboxMessage;
use crate::payment::{EndToEndId, Ispb, PaidBy, PayerBankData, Payment};
use crate::payout::{
    Payout, PayoutId, PayoutRecipient, PayoutState, PayoutTrigger, SplitEntry, SplitRef, SplitState,
};
use crate::pix_key::PixKeyType;
use crate::queue::QueueName;
use crate::record::{SplitRecord, millis_to_time};

fn corrupt(what: &str, id: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} of {id}"))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRecord {
    pub end_to_end_id: String,
    pub paid_at_ms: i64,
    pub payer_name: String,
    pub payer_document: String,
    pub payer_ispb: String,
    pub payer_branch: String,
    pub payer_account: String,
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
            created_at_ms: s.created_at.timestamp_millis(),
            updated_at_ms: s.updated_at.timestamp_millis(),
        }
    }
}

impl TryFrom<SplitEntryRecord> for SplitEntry {
    type Error = StoreError;

    fn try_from(r: SplitEntryRecord) -> Result<Self, StoreError> {
        let id = format!("{}/{}", r.transaction_id, r.index);
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
            created_at: millis_to_time(r.created_at_ms).ok_or_else(|| corrupt("createdAt", &id))?,
            updated_at: millis_to_time(r.updated_at_ms).ok_or_else(|| corrupt("updatedAt", &id))?,
        })
    }
}

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
    pub recipient_pix_key: String,
    pub recipient_pix_key_type: String,
    pub recipient_name: String,
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
                document: crate::document::TaxDocument::parse(&r.recipient_document)
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

/// A leg: `account` is `PIX_NETWORK` or `MERCHANT:{bucket}` (the merchant is the movement's
/// account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegRecord {
    pub account: String,
    pub amount_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MovementRecord {
    pub movement_id: String,
    pub account_id: String,
    pub kind: String,
    pub reference: String,
    pub legs: Vec<LegRecord>,
    pub created_at_ms: i64,
}

impl From<&Movement> for MovementRecord {
    fn from(m: &Movement) -> Self {
        MovementRecord {
            movement_id: m.id.clone(),
            account_id: m.account_id.to_string(),
            kind: m.kind.as_str().to_owned(),
            reference: m.reference.clone(),
            legs: m
                .legs
                .iter()
                .map(|l| LegRecord {
                    account: match &l.account {
                        LedgerAccount::PixNetwork => "PIX_NETWORK".to_owned(),
                        LedgerAccount::Merchant(_, bucket) => {
                            format!("MERCHANT:{}", bucket.as_str())
                        }
                    },
                    amount_cents: l.amount.cents(),
                })
                .collect(),
            created_at_ms: m.created_at.timestamp_millis(),
        }
    }
}

impl TryFrom<MovementRecord> for Movement {
    type Error = StoreError;

    fn try_from(r: MovementRecord) -> Result<Self, StoreError> {
        let id = r.movement_id.clone();
        let account_id =
            AccountId::parse(&r.account_id).ok_or_else(|| corrupt("accountId", &id))?;
        let legs = r
            .legs
            .iter()
            .map(|l| {
                let account = match l.account.as_str() {
                    "PIX_NETWORK" => LedgerAccount::PixNetwork,
                    other => other
                        .strip_prefix("MERCHANT:")
                        .and_then(Bucket::parse)
                        .map(|b| LedgerAccount::Merchant(account_id.clone(), b))
                        .ok_or_else(|| corrupt("leg account", &id))?,
                };
                Ok(Leg {
                    account,
                    amount: Money::from_cents(l.amount_cents),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if legs.iter().map(|l| l.amount.cents()).sum::<i64>() != 0 {
            return Err(corrupt("balance of legs", &id));
        }
        Ok(Movement {
            id: r.movement_id,
            account_id,
            kind: MovementKind::parse(&r.kind).ok_or_else(|| corrupt("kind", &id))?,
            reference: r.reference,
            legs,
            created_at: millis_to_time(r.created_at_ms).ok_or_else(|| corrupt("createdAt", &id))?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxRecord {
    pub message_id: String,
    pub queue: String,
    pub body: String,
    pub created_at_ms: i64,
}

impl From<&OutboxMessage> for OutboxRecord {
    fn from(m: &OutboxMessage) -> Self {
        OutboxRecord {
            message_id: m.id.clone(),
            queue: m.queue.as_str().to_owned(),
            body: m.body.clone(),
            created_at_ms: m.created_at.timestamp_millis(),
        }
    }
}

impl TryFrom<OutboxRecord> for OutboxMessage {
    type Error = StoreError;

    fn try_from(r: OutboxRecord) -> Result<Self, StoreError> {
        Ok(OutboxMessage {
            queue: QueueName::parse(&r.queue).ok_or_else(|| corrupt("queue", &r.message_id))?,
            created_at: millis_to_time(r.created_at_ms)
                .ok_or_else(|| corrupt("createdAt", &r.message_id))?,
            id: r.message_id,
            body: r.body,
        })
    }
}
