//! A charge as the API shows it (camelCase JSON, money as 2-place decimals, times as ISO 8601
//! with milliseconds), as `GET /api/pix/cash-in/{id}` returns it. Every aggregate's `view.rs`
//! follows these rules. Views live in the domain, not in the API crate, because events
//! carry them too: a webhook's `data` is the resource as the GET endpoint shows it at the
//! moment of the event, snapshotted in the same write as the change.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::charge::{Charge, ChargeHold, ChargeSplit, ChargeStatus};
use crate::pix::clock::timestamp;
use crate::pix::money::{Money, serialize_decimal_2dp};
use crate::pix::payment::Payment;
use crate::pix::pii::Pii;
use crate::refund::RefundState;
use crate::refund::view::RefundView;
use crate::split::SplitValue;
use crate::split::entry::SplitEntry;

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
    /// Σ of the refunds that settled.
    pub refunded_amount: Money,
    /// Its devoluções, oldest first (failed ones included).
    pub refunds: Vec<RefundView>,
    /// Its MED disputes, oldest first (absent when none): a lost one is given back to the
    /// payer by the MED, which the charge's status counts (`refundedAmount` does not: it is
    /// the merchant's own devoluções).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disputes: Vec<DisputeClaimView>,
    /// Its cautelar hold, when the payment arrived held (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<HoldView>,
}

/// A payment's cautelar hold: `HELD` until `until` (its money in `held`, no split booked),
/// then `RELEASED` (booked as any payment) or `RETURNED` (given back to the payer).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HoldView {
    pub status: &'static str,
    pub until: String,
    /// When it was released or returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<String>,
    /// `RETURNED`: the devolução's nature (`MED_FRAUDE`, …), return code and `D…` id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_nature: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_end_to_end_id: Option<String>,
}

impl HoldView {
    fn new(hold: &ChargeHold) -> HoldView {
        HoldView {
            status: hold.state.as_str(),
            until: timestamp(hold.until),
            settled_at: hold.settled_at.map(timestamp),
            return_nature: hold.return_nature.map(|n| n.as_str()),
            return_code: hold.return_nature.map(|n| n.return_code()),
            return_end_to_end_id: hold.return_end_to_end_id.as_ref().map(ToString::to_string),
        }
    }
}

/// A dispute as its charge shows it (`GET /api/disputes/{disputeId}` has the rest).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DisputeClaimView {
    pub dispute_id: String,
    pub amount: Money,
    /// `OPEN`, `DEFENDED`, `WON` or `LOST`.
    pub status: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaidByView {
    pub name: Pii,
    pub document: Pii,
    pub bank_data: BankDataView,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BankDataView {
    pub ispb: String,
    pub branch: Pii,
    pub account: Pii,
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
    pub full_name: Pii,
    pub document: String,
}

/// A split as defined plus its computed state on this charge.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SplitView {
    pub pix_key: Pii,
    pub pix_key_type: &'static str,
    pub name: Pii,
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
    /// What refunds and MED disputes (open or lost) took of this split so far (reduced before
    /// it was paid, or owed by its recipient after).
    pub refunded_amount: Money,
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
                    // What it bore of the refunds and MED disputes that count: a refused
                    // refund or a won dispute took nothing; an open dispute holds its part.
                    let refunded = charge
                        .refunds
                        .iter()
                        .filter(|r| r.state != RefundState::Failed)
                        .flat_map(|r| &r.split_parts)
                        .chain(
                            charge
                                .disputes
                                .iter()
                                .filter(|d| d.counts())
                                .flat_map(|d| &d.split_parts),
                        )
                        .filter(|p| usize::from(p.index) == i)
                        .map(|p| p.amount.cents())
                        .sum();
                    SplitView::new(split, charge, entry, Money::from_cents(refunded))
                })
                .collect(),
            end_to_end_id: payment.map(|p| p.end_to_end_id.to_string()),
            paid_at: payment.map(|p| timestamp(p.paid_at)),
            paid_by: payment.map(PaidByView::new),
            paid_after_expiration: payment.map(|_| charge.paid_after_expiration()),
            refunded_amount: charge.refunded_amount(),
            refunds: charge.refunds.iter().map(RefundView::new).collect(),
            disputes: charge
                .disputes
                .iter()
                .map(|d| DisputeClaimView {
                    dispute_id: d.id.to_string(),
                    amount: d.amount,
                    status: d.state.as_str(),
                })
                .collect(),
            hold: charge.hold.as_ref().map(HoldView::new),
        }
    }
}

impl SplitView {
    fn new(
        split: &ChargeSplit,
        charge: &Charge,
        entry: Option<&SplitEntry>,
        refunded_amount: Money,
    ) -> SplitView {
        let rule = &split.rule;
        let status = match (entry, charge.status) {
            (Some(e), _) => e.state.as_str(),
            // Never paid, or its held payment returned: its splits will never be booked.
            (None, ChargeStatus::Expired) => "CANCELLED",
            (None, ChargeStatus::Refunded) if charge.hold.is_some() => "CANCELLED",
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
            refunded_amount,
        }
    }
}
