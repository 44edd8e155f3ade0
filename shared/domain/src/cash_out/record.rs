//! The stored form of a cash-out (integer centavos, epoch milliseconds, enums by API name).

use serde::{Deserialize, Serialize};

use crate::cash_out::BankAccountType;
use crate::cash_out::CashOut;
use crate::cash_out::CashOutDestination;
use crate::cash_out::CashOutId;
use crate::cash_out::CashOutState;
use crate::error::StoreError;
use crate::pix::clock::millis_to_time;
use crate::pix::document::TaxDocument;
use crate::pix::ids::AccountId;
use crate::pix::money::Money;
use crate::pix::payment::{EndToEndId, Ispb};
use crate::pix::pii::Pii;
use crate::pix::pix_key::PixKeyType;

/// The stored form, shared by the adapters: integer centavos, epoch milliseconds, enums by
/// their API names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CashOutRecord {
    pub cash_out_id: String,
    pub account_id: String,
    pub external_id: String,
    pub amount_cents: i64,
    pub description: String,
    /// `PIX_KEY` or `BANK_ACCOUNT`.
    pub destination_kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pix_key: Option<Pii>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pix_key_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ispb: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<Pii>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_account: Option<Pii>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_account_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_document: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_name: Option<Pii>,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_transfer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl From<&CashOut> for CashOutRecord {
    fn from(c: &CashOut) -> Self {
        let mut r = CashOutRecord {
            cash_out_id: c.id.to_string(),
            account_id: c.account_id.to_string(),
            external_id: c.external_id.clone(),
            amount_cents: c.amount.cents(),
            description: c.description.clone(),
            destination_kind: String::new(),
            pix_key: None,
            pix_key_type: None,
            ispb: None,
            branch: None,
            bank_account: None,
            bank_account_type: None,
            holder_document: None,
            holder_name: None,
            state: c.state.as_str().to_owned(),
            end_to_end_id: c.end_to_end_id.as_ref().map(ToString::to_string),
            provider: c.provider.clone(),
            provider_transfer_id: c.provider_transfer_id.clone(),
            failure_reason: c.failure_reason.clone(),
            created_at_ms: c.created_at.timestamp_millis(),
            updated_at_ms: c.updated_at.timestamp_millis(),
        };
        match &c.destination {
            CashOutDestination::PixKey { key, key_type } => {
                r.destination_kind = "PIX_KEY".to_owned();
                r.pix_key = Some(key.clone());
                r.pix_key_type = Some(key_type.as_str().to_owned());
            }
            CashOutDestination::BankAccount {
                ispb,
                branch,
                account,
                account_type,
                document,
                name,
            } => {
                r.destination_kind = "BANK_ACCOUNT".to_owned();
                r.ispb = Some(ispb.as_str().to_owned());
                r.branch = Some(branch.clone());
                r.bank_account = Some(account.clone());
                r.bank_account_type = Some(account_type.as_str().to_owned());
                r.holder_document = Some(document.as_str().to_owned());
                r.holder_name = Some(name.clone());
            }
        }
        r
    }
}

impl TryFrom<CashOutRecord> for CashOut {
    type Error = StoreError;

    fn try_from(r: CashOutRecord) -> Result<Self, StoreError> {
        let id = r.cash_out_id.clone();
        let corrupt = |what: &str| StoreError::Corrupt(format!("{what} of {id}"));
        let destination = match r.destination_kind.as_str() {
            "PIX_KEY" => CashOutDestination::PixKey {
                key: r.pix_key.clone().ok_or_else(|| corrupt("pixKey"))?,
                key_type: r
                    .pix_key_type
                    .as_deref()
                    .and_then(PixKeyType::parse)
                    .ok_or_else(|| corrupt("pixKeyType"))?,
            },
            "BANK_ACCOUNT" => CashOutDestination::BankAccount {
                ispb: r
                    .ispb
                    .as_deref()
                    .and_then(Ispb::parse)
                    .ok_or_else(|| corrupt("ispb"))?,
                branch: r.branch.clone().ok_or_else(|| corrupt("branch"))?,
                account: r.bank_account.clone().ok_or_else(|| corrupt("account"))?,
                account_type: r
                    .bank_account_type
                    .as_deref()
                    .and_then(BankAccountType::parse)
                    .ok_or_else(|| corrupt("accountType"))?,
                document: r
                    .holder_document
                    .as_deref()
                    .and_then(|d| TaxDocument::parse(d).ok())
                    .ok_or_else(|| corrupt("document"))?,
                name: r.holder_name.clone().ok_or_else(|| corrupt("name"))?,
            },
            _ => return Err(corrupt("destinationKind")),
        };
        Ok(CashOut {
            id: CashOutId::parse(&r.cash_out_id).ok_or_else(|| corrupt("id"))?,
            account_id: AccountId::parse(&r.account_id).ok_or_else(|| corrupt("accountId"))?,
            external_id: r.external_id,
            amount: Money::from_cents(r.amount_cents),
            description: r.description,
            destination,
            state: CashOutState::parse(&r.state).ok_or_else(|| corrupt("state"))?,
            end_to_end_id: r
                .end_to_end_id
                .map(|e| EndToEndId::parse(&e).ok_or_else(|| corrupt("endToEndId")))
                .transpose()?,
            provider: r.provider,
            provider_transfer_id: r.provider_transfer_id,
            failure_reason: r.failure_reason,
            created_at: millis_to_time(r.created_at_ms).ok_or_else(|| corrupt("createdAt"))?,
            updated_at: millis_to_time(r.updated_at_ms).ok_or_else(|| corrupt("updatedAt"))?,
        })
    }
}
