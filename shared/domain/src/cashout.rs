//! Cash-out: the merchant sends part of its `available` balance out by PIX, to a PIX key or to
//! bank account data (model: ConnectPSP's cash-out, seed 002).
//!
//! Lifecycle: `PROCESSING` (the money already left `available`, in the same write that created
//! the cash-out, so two cash-outs can never spend the same money) → `COMPLETED` (with the
//! transfer's `E…` end-to-end id) or `FAILED` (with a reason; the money comes back to
//! `available` in the same write). The transfer's idempotency key is the cash-out id, so a
//! redelivered request or a crash between the transfer and its record can never send twice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cursor_text;
use crate::document::TaxDocument;
use crate::error::StoreError;
use crate::ids::AccountId;
use crate::money::Money;
use crate::payment::{EndToEndId, Ispb};
use crate::pix_key::PixKeyType;
use crate::record::millis_to_time;

/// `co_` + 32 lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CashOutId(String);

impl CashOutId {
    pub fn generate() -> CashOutId {
        CashOutId(format!("co_{}", uuid::Uuid::new_v4().simple()))
    }

    pub fn parse(s: &str) -> Option<CashOutId> {
        let hex = s.strip_prefix("co_")?;
        (hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| CashOutId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CashOutId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CashOutState {
    Processing,
    Completed,
    Failed,
}

impl CashOutState {
    pub const ALL: [CashOutState; 3] = [
        CashOutState::Processing,
        CashOutState::Completed,
        CashOutState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CashOutState::Processing => "PROCESSING",
            CashOutState::Completed => "COMPLETED",
            CashOutState::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<CashOutState> {
        CashOutState::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Bank account types of the PIX network (SPI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BankAccountType {
    /// `CACC`: checking.
    Checking,
    /// `SVGS`: savings.
    Savings,
    /// `SLRY`: salary.
    Salary,
    /// `TRAN`: payment account.
    Payment,
}

impl BankAccountType {
    pub const ALL: [BankAccountType; 4] = [
        BankAccountType::Checking,
        BankAccountType::Savings,
        BankAccountType::Salary,
        BankAccountType::Payment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BankAccountType::Checking => "CACC",
            BankAccountType::Savings => "SVGS",
            BankAccountType::Salary => "SLRY",
            BankAccountType::Payment => "TRAN",
        }
    }

    pub fn parse(s: &str) -> Option<BankAccountType> {
        BankAccountType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Where a cash-out goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CashOutDestination {
    /// A PIX key; the recipient is whoever the DICT says owns it.
    PixKey { key: String, key_type: PixKeyType },
    /// Bank account data, with its holder (the receiving bank checks the document).
    BankAccount {
        ispb: Ispb,
        branch: String,
        account: String,
        account_type: BankAccountType,
        document: TaxDocument,
        name: String,
    },
}

/// A cash-out. Its stored form is [`CashOutRecord`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashOut {
    pub id: CashOutId,
    pub account_id: AccountId,
    /// The merchant's own reference, unique per account.
    pub external_id: String,
    pub amount: Money,
    pub description: String,
    pub destination: CashOutDestination,
    pub state: CashOutState,
    /// The transfer's end-to-end id (`E…`), once COMPLETED.
    pub end_to_end_id: Option<EndToEndId>,
    pub provider: String,
    pub provider_transfer_id: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A position in the newest-first cash-out listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashOutCursor {
    #[serde(rename = "t")]
    pub created_at_ms: i64,
    #[serde(rename = "i")]
    pub id: CashOutId,
}

impl CashOutCursor {
    pub fn of(cash_out: &CashOut) -> CashOutCursor {
        CashOutCursor {
            created_at_ms: cash_out.created_at.timestamp_millis(),
            id: cash_out.id.clone(),
        }
    }

    /// The grammar of [`CashOutCursor::encode`]'s text, `{createdAtMs}.{cashOutId}`: what
    /// [`CashOutCursor::decode`] accepts, exactly (see [`crate::cursor_text`]).
    pub const PATTERN: &'static str = r"^-?[0-9]{1,15}\.co_[0-9a-f]{32}$";

    pub fn encode(&self) -> String {
        format!("{}.{}", cursor_text::write_ms(self.created_at_ms), self.id)
    }

    pub fn decode(text: &str) -> Option<CashOutCursor> {
        let (ms, id) = text.split_once('.')?;
        Some(CashOutCursor {
            created_at_ms: cursor_text::read_ms(ms)?,
            id: CashOutId::parse(id)?,
        })
    }
}

/// Which of an account's cash-outs to list, newest first (by `created_at`, then id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashOutQuery {
    pub state: Option<CashOutState>,
    /// `created_at` ≥ `from`.
    pub from: Option<DateTime<Utc>>,
    /// `created_at` < `to`.
    pub to: Option<DateTime<Utc>>,
    /// 1..=100.
    pub limit: u32,
    /// Continue strictly after this position.
    pub after: Option<CashOutCursor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashOutPage {
    pub items: Vec<CashOut>,
    /// Present when more cash-outs may follow.
    pub next: Option<CashOutCursor>,
}

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
    pub pix_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pix_key_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ispb: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_account_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_document: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_name: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_cursors_round_trip() {
        let id = CashOutId::generate();
        assert_eq!(CashOutId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(CashOutId::parse("co_xyz"), None);
        assert_eq!(
            CashOutId::parse("po_0123456789abcdef0123456789abcdef"),
            None
        );
        let cursor = CashOutCursor {
            created_at_ms: 1_700_000_000_000,
            id,
        };
        assert_eq!(
            CashOutCursor::decode(&cursor.encode()),
            Some(cursor.clone())
        );
        assert_eq!(cursor.encode(), format!("1700000000000.{}", cursor.id));
        for bad in [
            "garbage",
            "1700000000000.0123456789abcdef0123456789abcdef",
            "1700000000000.co_0123",
        ] {
            assert_eq!(CashOutCursor::decode(bad), None, "{bad}");
        }
    }
}
