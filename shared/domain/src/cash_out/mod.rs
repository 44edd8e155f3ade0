//! Cash-out: the merchant sends part of its `available` balance out by PIX, to a PIX key or to
//! bank account data (model: ConnectPSP's cash-out, seed 002).
//!
//! Lifecycle: `PROCESSING` (the money already left `available`, in the same write that created
//! the cash-out, so two cash-outs can never spend the same money) → `COMPLETED` (with the
//! transfer's `E…` end-to-end id) or `FAILED` (with a reason; the money comes back to
//! `available` in the same write). The transfer's idempotency key is the cash-out id, so a
//! redelivered request or a crash between the transfer and its record can never send twice.

pub mod ports;
pub mod record;
pub mod validation;
pub mod view;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::pix::document::TaxDocument;
use crate::pix::ids::AccountId;
use crate::pix::money::Money;
use crate::pix::payment::{EndToEndId, Ispb};
use crate::pix::pii::Pii;
use crate::pix::pix_key::PixKeyType;
use crate::provider::TransferDestination;

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
    PixKey { key: Pii, key_type: PixKeyType },
    /// Bank account data, with its holder (the receiving bank checks the document).
    BankAccount {
        ispb: Ispb,
        branch: Pii,
        account: Pii,
        account_type: BankAccountType,
        document: TaxDocument,
        name: Pii,
    },
}

impl CashOutDestination {
    /// Who the receiving bank should find at the destination, when we know: bank account
    /// data names its holder; a PIX key leaves that to the DICT.
    pub fn holder(&self) -> Option<(&Pii, &TaxDocument)> {
        match self {
            CashOutDestination::PixKey { .. } => None,
            CashOutDestination::BankAccount { name, document, .. } => Some((name, document)),
        }
    }
}

/// The one mapping of a cash-out's destination to the provider's (the holder goes into the
/// transfer's recipient, see [`CashOutDestination::holder`]).
impl From<&CashOutDestination> for TransferDestination {
    fn from(destination: &CashOutDestination) -> TransferDestination {
        match destination {
            CashOutDestination::PixKey { key, key_type } => TransferDestination::PixKey {
                key: key.clone(),
                key_type: *key_type,
            },
            CashOutDestination::BankAccount {
                ispb,
                branch,
                account,
                account_type,
                ..
            } => TransferDestination::BankAccount {
                ispb: ispb.clone(),
                branch: branch.clone(),
                account: account.clone(),
                account_type: account_type.as_str().to_owned(),
            },
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cash_out::ports::CashOutCursor;

    #[test]
    fn destinations_map_to_the_providers_with_the_holder_apart() {
        let cpf = TaxDocument::parse("12345678909").unwrap();
        let to_account = CashOutDestination::BankAccount {
            ispb: Ispb::parse("00000000").unwrap(),
            branch: "0001".into(),
            account: "123456".into(),
            account_type: BankAccountType::Savings,
            document: cpf.clone(),
            name: "Maria".into(),
        };
        assert_eq!(
            TransferDestination::from(&to_account),
            TransferDestination::BankAccount {
                ispb: Ispb::parse("00000000").unwrap(),
                branch: "0001".into(),
                account: "123456".into(),
                account_type: "SVGS".to_owned(),
            }
        );
        assert_eq!(to_account.holder(), Some((&Pii::from("Maria"), &cpf)));

        let to_key = CashOutDestination::PixKey {
            key: "maria@example.com".into(),
            key_type: PixKeyType::Email,
        };
        assert_eq!(
            TransferDestination::from(&to_key),
            TransferDestination::PixKey {
                key: "maria@example.com".into(),
                key_type: PixKeyType::Email,
            }
        );
        assert_eq!(to_key.holder(), None);
    }

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
