//! Resources as the API shows them (camelCase JSON, money as 2-place decimals, times as ISO
//! 8601 with milliseconds): a charge as `GET /api/pix/cash-in/{id}` returns it, a payout as
//! `GET /api/payouts` lists it. They live in the domain, not in the API crate, because events
//! carry them too: a webhook's `data` is the resource as the GET endpoint shows it at the
//! moment of the event, snapshotted in the same write as the change.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::cashout::{CashOut, CashOutDestination};
use crate::charge::{Charge, ChargeRefund, ChargeSplit, ChargeStatus};
use crate::money::{Money, serialize_decimal_2dp};
use crate::payment::Payment;
use crate::payout::{Payout, PayoutRecipient, SplitEntry};
use crate::split::SplitValue;

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
    /// The PIX end-to-end id of the payment (`E…`), once CONFIRMED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<String>,
    /// Who actually paid, as the PIX network reported it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_by: Option<PaidByView>,
    /// Once paid: whether the payment settled after `expirationDate` (the PIX network
    /// settled it anyway, so it is accepted and accounted for like any other).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_after_expiration: Option<bool>,
    /// The latest refund requested, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund: Option<RefundView>,
}

/// A charge's refund (PIX devolution).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    /// `PROCESSING`, `COMPLETED` or `FAILED`.
    pub status: &'static str,
    /// The devolution's end-to-end id (`D…`), once the provider assigned it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
    pub amount: Money,
    pub reason: String,
    pub description: String,
    pub requested_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

impl RefundView {
    pub fn new(charge: &Charge, refund: &ChargeRefund) -> RefundView {
        RefundView {
            status: refund.state.as_str(),
            end_to_end_id: refund.end_to_end_id.as_ref().map(ToString::to_string),
            amount: charge.amount,
            reason: refund.reason.clone(),
            description: refund.description.clone(),
            requested_at: timestamp(refund.requested_at),
            settled_at: refund.settled_at.map(timestamp),
            failure_reason: refund.failure_reason.clone(),
        }
    }
}

/// A cash-out as `GET /api/pix/cash-out/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CashOutView {
    pub id: String,
    pub external_id: String,
    /// `PROCESSING`, `COMPLETED` or `FAILED`.
    pub status: &'static str,
    pub value: Money,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pix_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pix_key_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank_account: Option<BankAccountView>,
    /// The transfer's end-to-end id (`E…`), once COMPLETED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BankAccountView {
    pub ispb: String,
    pub branch: String,
    pub account: String,
    pub account_type: &'static str,
    pub document: String,
    pub name: String,
}

impl CashOutView {
    pub fn new(c: &CashOut) -> CashOutView {
        let (pix_key, pix_key_type, bank_account) = match &c.destination {
            CashOutDestination::PixKey { key, key_type } => {
                (Some(key.clone()), Some(key_type.as_str()), None)
            }
            CashOutDestination::BankAccount {
                ispb,
                branch,
                account,
                account_type,
                document,
                name,
            } => (
                None,
                None,
                Some(BankAccountView {
                    ispb: ispb.as_str().to_owned(),
                    branch: branch.clone(),
                    account: account.clone(),
                    account_type: account_type.as_str(),
                    document: document.as_str().to_owned(),
                    name: name.clone(),
                }),
            ),
        };
        CashOutView {
            id: c.id.to_string(),
            external_id: c.external_id.clone(),
            status: c.state.as_str(),
            value: c.amount,
            description: c.description.clone(),
            pix_key,
            pix_key_type,
            bank_account,
            end_to_end_id: c.end_to_end_id.as_ref().map(ToString::to_string),
            failure_reason: c.failure_reason.clone(),
            created_at: timestamp(c.created_at),
            updated_at: timestamp(c.updated_at),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaidByView {
    pub name: String,
    pub document: String,
    pub bank_data: BankDataView,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BankDataView {
    pub ispb: String,
    pub branch: String,
    pub account: String,
}

impl PaidByView {
    fn new(payment: &Payment) -> PaidByView {
        let by = &payment.paid_by;
        PaidByView {
            name: by.name.clone(),
            document: by.document.clone(),
            bank_data: BankDataView {
                ispb: by.bank.ispb.as_str().to_owned(),
                branch: by.bank.branch.clone(),
                account: by.bank.account.clone(),
            },
        }
    }
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
    /// `PENDING` until the paid charge's splits are booked; then `SCHEDULED`, `PROCESSING`,
    /// `PAID`, `FAILED` or `CANCELLED` (also for the splits of an expired charge).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payout_id: Option<String>,
    /// The payout transfer's end-to-end id, once PAID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

impl ChargeView {
    /// `entries` are the charge's booked splits (empty before booking); `qr_code_image` is
    /// the PNG data URL, rendered by the caller only when wanted.
    pub fn new(
        charge: &Charge,
        entries: &[SplitEntry],
        qr_code_image: Option<String>,
    ) -> ChargeView {
        let payment = charge.payment.as_ref();
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
            splits: charge
                .splits
                .iter()
                .enumerate()
                .map(|(i, split)| {
                    let entry = entries.iter().find(|e| usize::from(e.index) == i);
                    SplitView::new(split, charge.status, entry)
                })
                .collect(),
            end_to_end_id: payment.map(|p| p.end_to_end_id.to_string()),
            paid_at: payment.map(|p| timestamp(p.paid_at)),
            paid_by: payment.map(PaidByView::new),
            paid_after_expiration: payment.map(|_| charge.paid_after_expiration()),
            refund: charge.refund.as_ref().map(|r| RefundView::new(charge, r)),
        }
    }
}

impl SplitView {
    fn new(split: &ChargeSplit, charge: ChargeStatus, entry: Option<&SplitEntry>) -> SplitView {
        let rule = &split.rule;
        let status = match (entry, charge) {
            (Some(e), _) => e.state.as_str(),
            // Never paid: its splits will never be booked.
            (None, ChargeStatus::Expired) => "CANCELLED",
            (None, _) => "PENDING",
        };
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
            status,
            payout_id: entry.and_then(|e| e.payout_id.as_ref().map(ToString::to_string)),
            end_to_end_id: entry.and_then(|e| e.end_to_end_id.as_ref().map(ToString::to_string)),
            failure_reason: entry.and_then(|e| e.failure_reason.clone()),
        }
    }
}

/// A payout as `GET /api/payouts` lists it: one PIX transfer to one recipient.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayoutView {
    pub id: String,
    /// `IMMEDIATE` (one `immediate` split) or `SCHEDULED` (the account's payout schedule).
    pub trigger: &'static str,
    /// `PROCESSING`, `PAID` or `FAILED`.
    pub status: &'static str,
    /// Σ of the splits it pays.
    pub amount: Money,
    pub recipient: PayoutRecipientView,
    pub split_count: u32,
    /// The transfer's end-to-end id, once PAID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayoutRecipientView {
    pub name: String,
    pub pix_key: String,
    pub pix_key_type: &'static str,
    pub document: String,
}

impl PayoutRecipientView {
    fn new(recipient: &PayoutRecipient) -> PayoutRecipientView {
        PayoutRecipientView {
            name: recipient.name.clone(),
            pix_key: recipient.pix_key.clone(),
            pix_key_type: recipient.pix_key_type.as_str(),
            document: recipient.document.as_str().to_owned(),
        }
    }
}

impl PayoutView {
    pub fn new(payout: &Payout) -> PayoutView {
        PayoutView {
            id: payout.id.to_string(),
            trigger: payout.trigger.as_str(),
            status: payout.state.as_str(),
            amount: payout.amount,
            recipient: PayoutRecipientView::new(&payout.recipient),
            split_count: payout.split_count,
            end_to_end_id: payout.end_to_end_id.as_ref().map(ToString::to_string),
            failure_reason: payout.failure_reason.clone(),
            created_at: timestamp(payout.created_at),
            updated_at: timestamp(payout.updated_at),
        }
    }
}
