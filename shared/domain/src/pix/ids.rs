//! Identifiers. Every id that leaves the system is random (not guessable, no global counter).

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Defines a string newtype id with a validating constructor.
macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A merchant account: `acc_` + 32 lowercase hex characters.
    AccountId
);
string_id!(
    /// A charge's public id. 32 lowercase hex characters (122 random bits), which is also a
    /// valid PIX `txid` (`[a-zA-Z0-9]{26,35}`), so the sandbox uses it as the txid as-is.
    TransactionId
);

impl AccountId {
    pub fn generate() -> AccountId {
        AccountId(format!("acc_{}", Uuid::new_v4().simple()))
    }

    /// Accepts only the shape we generate, so stored keys never contain surprises.
    pub fn parse(s: &str) -> Option<AccountId> {
        let hex = s.strip_prefix("acc_")?;
        is_lower_hex(hex, 32).then(|| AccountId(s.to_owned()))
    }
}

impl TransactionId {
    pub fn generate() -> TransactionId {
        TransactionId(Uuid::new_v4().simple().to_string())
    }

    /// Accepts only the shape we generate; anything else cannot exist and is a 404.
    pub fn parse(s: &str) -> Option<TransactionId> {
        is_lower_hex(s, 32).then(|| TransactionId(s.to_owned()))
    }
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_are_distinct() {
        let a = TransactionId::generate();
        let b = TransactionId::generate();
        assert_ne!(a, b);
        assert_eq!(TransactionId::parse(a.as_str()), Some(a.clone()));
        let acc = AccountId::generate();
        assert_eq!(AccountId::parse(acc.as_str()), Some(acc.clone()));
    }

    #[test]
    fn transaction_id_is_a_valid_pix_txid() {
        let id = TransactionId::generate();
        let len = id.as_str().len();
        assert!((26..=35).contains(&len));
        assert!(id.as_str().bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn foreign_shapes_are_rejected() {
        assert_eq!(TransactionId::parse("7845"), None);
        assert_eq!(TransactionId::parse("../../etc/passwd"), None);
        assert_eq!(TransactionId::parse(&"A".repeat(32)), None);
        assert_eq!(AccountId::parse("acc_x"), None);
    }
}
