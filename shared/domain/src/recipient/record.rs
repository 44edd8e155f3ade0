//! The stored form of a recipient (integer centavos).

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::error::corrupt;
use crate::payout::PayoutRecipient;
use crate::pix::document::TaxDocument;
use crate::pix::ids::{AccountId, RecipientId};
use crate::pix::money::Money;
use crate::pix::pii::Pii;
use crate::pix::pix_key::PixKeyType;
use crate::recipient::Recipient;

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
        }
    }
}

impl TryFrom<RecipientRecord> for Recipient {
    type Error = StoreError;

    fn try_from(r: RecipientRecord) -> Result<Self, StoreError> {
        let id = r.recipient_id.clone();
        if r.debt_cents < 0 {
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
        })
    }
}
