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

string_id!(
    /// One devolução of a charge: `rf_` + 32 lowercase hex characters.
    RefundId
);
string_id!(
    /// A split recipient within an account: `rc_` + 32 lowercase hex characters, derived from
    /// the account and the recipient's PIX key type, key and document (what a payout groups
    /// by), so the same recipient always has the same id.
    RecipientId
);

string_id!(
    /// A MED dispute: `dp_` + 32 lowercase hex characters, derived from the provider and its
    /// own id of the infraction, so a notice delivered twice names the same dispute.
    DisputeId
);

impl DisputeId {
    /// The dispute of infraction `infraction_id` as provider `provider` names it.
    pub fn derive(provider: &str, infraction_id: &str) -> DisputeId {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("dispute:{provider}:{infraction_id}").as_bytes());
        DisputeId(format!("dp_{}", &hex::encode(digest)[..32]))
    }

    pub fn parse(s: &str) -> Option<DisputeId> {
        let hex = s.strip_prefix("dp_")?;
        is_lower_hex(hex, 32).then(|| DisputeId(s.to_owned()))
    }
}

impl RefundId {
    pub fn generate() -> RefundId {
        RefundId(format!("rf_{}", Uuid::new_v4().simple()))
    }

    /// The id of a refund stored before refunds had ids (one per charge, numbered by
    /// attempt): derived, so reading it twice names the same refund.
    pub fn legacy(transaction_id: &TransactionId, attempt: u32) -> RefundId {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("refund:{transaction_id}#{attempt}").as_bytes());
        RefundId(format!("rf_{}", &hex::encode(digest)[..32]))
    }

    /// The devolução a lost MED dispute makes: derived, so every retry of the loss names the
    /// same refund.
    pub fn for_dispute(dispute: &DisputeId) -> RefundId {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("devolution:{dispute}").as_bytes());
        RefundId(format!("rf_{}", &hex::encode(digest)[..32]))
    }

    pub fn parse(s: &str) -> Option<RefundId> {
        let hex = s.strip_prefix("rf_")?;
        is_lower_hex(hex, 32).then(|| RefundId(s.to_owned()))
    }
}

impl RecipientId {
    /// The recipient `(key type, key, document)` of `account`.
    pub fn derive(account: &AccountId, grouping_key: (&str, &str, &str)) -> RecipientId {
        use sha2::{Digest, Sha256};
        let (key_type, key, document) = grouping_key;
        let digest =
            Sha256::digest(format!("recipient:{account}:{key_type}:{key}:{document}").as_bytes());
        RecipientId(format!("rc_{}", &hex::encode(digest)[..32]))
    }

    pub fn parse(s: &str) -> Option<RecipientId> {
        let hex = s.strip_prefix("rc_")?;
        is_lower_hex(hex, 32).then(|| RecipientId(s.to_owned()))
    }
}

pub(crate) fn is_lower_hex(s: &str, len: usize) -> bool {
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
        assert_eq!(RefundId::parse("rf_x"), None);
        let d = DisputeId::derive("sandbox", "inf-1");
        assert_eq!(d, DisputeId::derive("sandbox", "inf-1"));
        assert_ne!(d, DisputeId::derive("connectpsp", "inf-1"));
        assert_eq!(DisputeId::parse(d.as_str()), Some(d));
        assert_eq!(DisputeId::parse("dp_x"), None);
        assert_eq!(RecipientId::parse(&format!("rf_{}", "a".repeat(32))), None);
    }

    #[test]
    fn refund_and_recipient_ids() {
        let r = RefundId::generate();
        assert_eq!(RefundId::parse(r.as_str()), Some(r));
        let t = TransactionId::generate();
        assert_eq!(RefundId::legacy(&t, 1), RefundId::legacy(&t, 1));
        assert_ne!(RefundId::legacy(&t, 1), RefundId::legacy(&t, 2));
        let acc = AccountId::generate();
        let a = RecipientId::derive(&acc, ("CPF", "12345678909", "12345678909"));
        assert_eq!(
            a,
            RecipientId::derive(&acc, ("CPF", "12345678909", "12345678909"))
        );
        assert_ne!(
            a,
            RecipientId::derive(&acc, ("EMAIL", "12345678909", "12345678909"))
        );
        assert_eq!(RecipientId::parse(a.as_str()), Some(a));
    }
}
