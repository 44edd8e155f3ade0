//! The stored form of a recipient (integer centavos).

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::error::corrupt;
use crate::payout::PayoutRecipient;
use crate::pix::document::TaxDocument;
use crate::pix::ids::{AccountId, RecipientId, RefundId, TransactionId};
use crate::pix::money::Money;
use crate::pix::pii::Pii;
use crate::pix::pix_key::PixKeyType;
use crate::recipient::{DebtPart, Recipient};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientRecord {
    pub recipient_id: String,
    pub account_id: String,
    pub pix_key_type: String,
    pub pix_key: Pii,
    pub name: Pii,
    pub document: String,
    pub debt_cents: i64,
    /// Absent: none.
    #[serde(default)]
    pub open_debts: Vec<DebtPartRecord>,
    #[serde(default)]
    pub recovering_cents: i64,
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub scheduled_cents: i64,
    #[serde(default)]
    pub paid_cents: i64,
}

/// A debt part: `{refundId, transactionId, amountCents}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DebtPartRecord {
    pub refund_id: String,
    pub transaction_id: String,
    pub amount_cents: i64,
}

impl From<&DebtPart> for DebtPartRecord {
    fn from(p: &DebtPart) -> Self {
        DebtPartRecord {
            refund_id: p.refund_id.to_string(),
            transaction_id: p.transaction_id.to_string(),
            amount_cents: p.amount.cents(),
        }
    }
}

impl DebtPartRecord {
    /// The part, or `None` when the record is not one.
    pub fn into_part(self) -> Option<DebtPart> {
        (self.amount_cents > 0).then_some(())?;
        Some(DebtPart {
            refund_id: RefundId::parse(&self.refund_id)?,
            transaction_id: TransactionId::parse(&self.transaction_id)?,
            amount: Money::from_cents(self.amount_cents),
        })
    }
}

impl From<&Recipient> for RecipientRecord {
    fn from(r: &Recipient) -> Self {
        RecipientRecord {
            recipient_id: r.id.to_string(),
            account_id: r.account_id.to_string(),
            pix_key_type: r.recipient.pix_key_type.as_str().to_owned(),
            pix_key: r.recipient.pix_key.clone(),
            name: r.recipient.name.clone(),
            document: r.recipient.document.as_str().to_owned(),
            debt_cents: r.debt.cents(),
            open_debts: r.open_debts.iter().map(DebtPartRecord::from).collect(),
            recovering_cents: r.recovering.cents(),
            version: r.version,
            scheduled_cents: r.scheduled.cents(),
            paid_cents: r.paid.cents(),
        }
    }
}

impl TryFrom<RecipientRecord> for Recipient {
    type Error = StoreError;

    fn try_from(r: RecipientRecord) -> Result<Self, StoreError> {
        let id = r.recipient_id.clone();
        let open_debts = r
            .open_debts
            .into_iter()
            .map(|p| p.into_part().ok_or_else(|| corrupt("openDebts", &id)))
            .collect::<Result<Vec<_>, _>>()?;
        let open: i64 = open_debts.iter().map(|p| p.amount.cents()).sum();
        // The debt is the sum of its parts; neither it nor what is recovering is negative.
        if r.debt_cents < 0
            || r.recovering_cents < 0
            || open != r.debt_cents
            || r.scheduled_cents < 0
            || r.paid_cents < 0
        {
            return Err(corrupt("debtCents", &id));
        }
        Ok(Recipient {
            id: RecipientId::parse(&r.recipient_id).ok_or_else(|| corrupt("recipientId", &id))?,
            account_id: AccountId::parse(&r.account_id).ok_or_else(|| corrupt("accountId", &id))?,
            recipient: PayoutRecipient {
                pix_key_type: PixKeyType::parse(&r.pix_key_type)
                    .ok_or_else(|| corrupt("pixKeyType", &id))?,
                pix_key: r.pix_key,
                name: r.name,
                document: TaxDocument::parse(&r.document).map_err(|_| corrupt("document", &id))?,
            },
            debt: Money::from_cents(r.debt_cents),
            open_debts,
            recovering: Money::from_cents(r.recovering_cents),
            version: r.version,
            scheduled: Money::from_cents(r.scheduled_cents),
            paid: Money::from_cents(r.paid_cents),
        })
    }
}
