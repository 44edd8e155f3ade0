//! A cash-out as the API shows it (`GET /api/pix/cash-out/{id}`) and its events carry it.

use serde::Serialize;

use crate::cash_out::{CashOut, CashOutDestination};
use crate::pix::clock::timestamp;
use crate::pix::money::Money;
use crate::pix::pii::Pii;

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
    pub pix_key: Option<Pii>,
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
    pub branch: Pii,
    pub account: Pii,
    pub account_type: &'static str,
    pub document: String,
    pub name: Pii,
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
