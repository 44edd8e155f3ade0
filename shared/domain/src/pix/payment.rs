//! What a payment leaves behind: the PIX end-to-end id, when it settled and who paid.

use std::fmt;

use super::pii::Pii;
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// A PIX end-to-end id as the Central Bank defines it: `E` (a payment; `D` for a devolution),
/// then the ISPB of the PSP that initiated it (8 digits), the UTC minute it was created
/// (`yyyyMMddHHmm`) and 11 alphanumerics. 32 characters, unique across the PIX network, so it is
/// also how we recognise the same payment reported twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EndToEndId(String);

/// The two kinds of end-to-end id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndToEndKind {
    /// `E…`: a payment or transfer.
    Payment,
    /// `D…`: a devolution (refund).
    Devolution,
}

impl EndToEndKind {
    fn prefix(self) -> char {
        match self {
            EndToEndKind::Payment => 'E',
            EndToEndKind::Devolution => 'D',
        }
    }
}

pub const END_TO_END_ID_LEN: usize = 32;
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl EndToEndId {
    /// A fresh id issued by the PSP with `ispb` at `at`. `ispb` must be 8 digits.
    pub fn generate(kind: EndToEndKind, ispb: &Ispb, at: DateTime<Utc>) -> EndToEndId {
        let mut rng = rand::rng();
        let tail: String = (0..11)
            .map(|_| char::from(ALNUM[rng.random_range(0..ALNUM.len())]))
            .collect();
        EndToEndId(format!(
            "{}{}{}{}",
            kind.prefix(),
            ispb.as_str(),
            at.format("%Y%m%d%H%M"),
            tail
        ))
    }

    /// Accepts exactly the Central Bank's shape (prefix, 8-digit ISPB, a real UTC minute, 11
    /// alphanumerics).
    pub fn parse(s: &str) -> Option<EndToEndId> {
        let b = s.as_bytes();
        if b.len() != END_TO_END_ID_LEN || !matches!(b[0], b'E' | b'D') {
            return None;
        }
        if !b[1..21].iter().all(u8::is_ascii_digit)
            || !b[21..].iter().all(u8::is_ascii_alphanumeric)
        {
            return None;
        }
        chrono::NaiveDateTime::parse_from_str(&s[9..21], "%Y%m%d%H%M").ok()?;
        Some(EndToEndId(s.to_owned()))
    }

    pub fn kind(&self) -> EndToEndKind {
        if self.0.starts_with('D') {
            EndToEndKind::Devolution
        } else {
            EndToEndKind::Payment
        }
    }

    /// The ISPB of the PSP that issued it.
    pub fn ispb(&self) -> &str {
        &self.0[1..9]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EndToEndId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A participant's ISPB: 8 digits identifying a bank/PSP in the PIX network.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ispb(String);

impl Ispb {
    pub fn parse(s: &str) -> Option<Ispb> {
        (s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit())).then(|| Ispb(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The payer's bank account, as reported by the PIX network on settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayerBankData {
    pub ispb: Ispb,
    /// Branch (agência), 1–4 digits.
    pub branch: Pii,
    /// Account number, 1–20 digits (check digit included, no separators).
    pub account: Pii,
}

impl PayerBankData {
    /// Checks branch and account shapes (the ISPB type already checked itself).
    pub fn new(ispb: Ispb, branch: &str, account: &str) -> Option<PayerBankData> {
        (is_branch(branch) && is_account(account)).then(|| PayerBankData {
            ispb,
            branch: Pii::from(branch),
            account: Pii::from(account),
        })
    }
}

/// A branch (agência): 1–4 digits.
pub fn is_branch(s: &str) -> bool {
    digits(s, 4)
}

/// An account number: 1–20 digits, check digit included, no separators.
pub fn is_account(s: &str) -> bool {
    digits(s, 20)
}

fn digits(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// Who actually paid (may differ from the payer the merchant named on the charge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidBy {
    pub name: Pii,
    /// CPF/CNPJ digits as reported by the network (not re-validated: it is their data).
    pub document: Pii,
    pub bank: PayerBankData,
}

/// The settlement of a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub end_to_end_id: EndToEndId,
    /// When the PIX network settled it (the provider's clock), ms precision.
    pub paid_at: DateTime<Utc>,
    pub paid_by: PaidBy,
    /// Which provider reported it, and the provider's event id (for audits).
    pub provider: String,
    pub provider_event_id: String,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn generated_ids_have_the_central_bank_shape() {
        let ispb = Ispb::parse("00416968").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 3, 10, 18, 27, 59).unwrap();
        let id = EndToEndId::generate(EndToEndKind::Payment, &ispb, at);
        assert_eq!(id.as_str().len(), 32);
        assert!(id.as_str().starts_with("E00416968202603101827"));
        assert_eq!(EndToEndId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(id.ispb(), "00416968");
        let d = EndToEndId::generate(EndToEndKind::Devolution, &ispb, at);
        assert_eq!(d.kind(), EndToEndKind::Devolution);
        assert_ne!(EndToEndId::generate(EndToEndKind::Payment, &ispb, at), id);
    }

    #[test]
    fn parse_accepts_the_seed_example_and_rejects_lookalikes() {
        assert!(EndToEndId::parse("E00416968202603101827cemeFscF6AG").is_some());
        assert!(EndToEndId::parse("D00416968202603101827cemeFscF6AG").is_some());
        for bad in [
            "X00416968202603101827cemeFscF6AG",
            "E00416968202613101827cemeFscF6AG", // month 13
            "E0041696820260310182cemeFscF6AG",  // short
            "E00416968202603101827cemeFscF6A!",
            "E00416968202603101827cemeFscF6AGx",
            "",
        ] {
            assert_eq!(EndToEndId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn bank_data_shapes() {
        let ispb = Ispb::parse("00000000").unwrap();
        assert!(PayerBankData::new(ispb.clone(), "0001", "123456").is_some());
        assert!(PayerBankData::new(ispb.clone(), "00001", "1").is_none());
        assert!(PayerBankData::new(ispb, "1", "12-3").is_none());
        assert!(Ispb::parse("1234567").is_none());
    }
}
