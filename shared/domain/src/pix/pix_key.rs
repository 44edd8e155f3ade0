//! PIX keys ("chaves Pix") and their validation per the Banco Central's DICT rules.
//!
//! Keys are validated exactly as given — never trimmed, lowercased or reformatted — because the
//! DICT looks keys up byte for byte: a key we "fixed" could resolve to someone else's account
//! or to nothing. Rejecting with a clear reason is the safe choice.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::pix::document::{DocumentError, DocumentKind, TaxDocument};

/// The five kinds of PIX key the DICT knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PixKeyType {
    Email,
    Phone,
    Cpf,
    Cnpj,
    /// The DICT calls it EVP ("endereço virtual de pagamento"): a UUID the DICT assigns.
    Random,
}

impl PixKeyType {
    pub const ALL: [PixKeyType; 5] = [
        PixKeyType::Email,
        PixKeyType::Phone,
        PixKeyType::Cpf,
        PixKeyType::Cnpj,
        PixKeyType::Random,
    ];

    /// Parses the exact UPPERCASE wire name (`"EMAIL"`, `"PHONE"`, `"CPF"`, `"CNPJ"`,
    /// `"RANDOM"`). Case-sensitive, like the serde representation, so both paths agree.
    pub fn parse(s: &str) -> Option<PixKeyType> {
        PixKeyType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            PixKeyType::Email => "EMAIL",
            PixKeyType::Phone => "PHONE",
            PixKeyType::Cpf => "CPF",
            PixKeyType::Cnpj => "CNPJ",
            PixKeyType::Random => "RANDOM",
        }
    }
}

impl std::fmt::Display for PixKeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<DocumentKind> for PixKeyType {
    fn from(kind: DocumentKind) -> Self {
        match kind {
            DocumentKind::Cpf => PixKeyType::Cpf,
            DocumentKind::Cnpj => PixKeyType::Cnpj,
        }
    }
}

/// Why a PIX key is invalid. `Display` is a short reason meant to follow a field path
/// (`"pix_key must be a valid CPF"`); the inner values say precisely what was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PixKeyError {
    #[error("must be a valid e-mail address")]
    InvalidEmail(#[source] EmailProblem),
    #[error("must be a phone number in the format +55DDNNNNNNNNN")]
    InvalidPhone,
    #[error("must be a valid CPF")]
    InvalidCpf(#[source] DocumentError),
    #[error("must be a valid CNPJ")]
    InvalidCnpj(#[source] DocumentError),
    #[error("must be a UUID (random key)")]
    InvalidRandom,
}

/// The specific rule an e-mail key broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EmailProblem {
    #[error("longer than {MAX_EMAIL_LEN} characters")]
    TooLong,
    #[error("must contain exactly one '@'")]
    AtSign,
    #[error("empty local part")]
    EmptyLocalPart,
    #[error("local part contains a character that is not allowed")]
    LocalPartCharacter,
    #[error("domain must have at least two labels separated by dots")]
    DomainWithoutDot,
    #[error("domain label is empty, too long, has a bad character or starts/ends with '-'")]
    DomainLabel,
}

/// The DICT's maximum length for an e-mail key.
pub const MAX_EMAIL_LEN: usize = 77;

/// Validates `key` as a PIX key of type `kind`.
pub fn validate_pix_key(kind: PixKeyType, key: &str) -> Result<(), PixKeyError> {
    match kind {
        PixKeyType::Email => validate_email(key).map_err(PixKeyError::InvalidEmail),
        PixKeyType::Phone => {
            if is_valid_phone(key) {
                Ok(())
            } else {
                Err(PixKeyError::InvalidPhone)
            }
        }
        PixKeyType::Cpf => match TaxDocument::parse(key) {
            Ok(doc) if doc.kind() == DocumentKind::Cpf => Ok(()),
            // A valid CNPJ offered as a CPF key is still the wrong kind of document.
            Ok(_) => Err(PixKeyError::InvalidCpf(DocumentError::InvalidLength)),
            Err(e) => Err(PixKeyError::InvalidCpf(e)),
        },
        PixKeyType::Cnpj => match TaxDocument::parse(key) {
            Ok(doc) if doc.kind() == DocumentKind::Cnpj => Ok(()),
            Ok(_) => Err(PixKeyError::InvalidCnpj(DocumentError::InvalidLength)),
            Err(e) => Err(PixKeyError::InvalidCnpj(e)),
        },
        PixKeyType::Random => {
            if is_hyphenated_uuid(key) {
                Ok(())
            } else {
                Err(PixKeyError::InvalidRandom)
            }
        }
    }
}

/// Characters allowed in the local part: RFC 5322 "atext" plus '.', which is also the set the
/// DICT's e-mail pattern accepts. Quoted local parts are not accepted by the DICT.
fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c)
}

fn validate_email(key: &str) -> Result<(), EmailProblem> {
    // `len()` is bytes, and everything accepted below is ASCII, so any input longer than 77
    // bytes is either too long or will fail on a character anyway.
    if key.len() > MAX_EMAIL_LEN {
        return Err(EmailProblem::TooLong);
    }
    let mut parts = key.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(EmailProblem::AtSign);
    };
    if local.is_empty() {
        return Err(EmailProblem::EmptyLocalPart);
    }
    if !local.chars().all(is_local_char) {
        return Err(EmailProblem::LocalPartCharacter);
    }
    if !domain.contains('.') {
        return Err(EmailProblem::DomainWithoutDot);
    }
    if !domain.split('.').all(is_domain_label) {
        return Err(EmailProblem::DomainLabel);
    }
    Ok(())
}

/// A DNS label (RFC 1035 "LDH"): 1..=63 letters, digits or hyphens, not starting or ending with
/// a hyphen. Internationalised domains must arrive in their punycode (`xn--`) form.
fn is_domain_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// `+55`, a two-digit area code 11..=99, then an 8-digit (landline) or 9-digit (mobile)
/// subscriber number: the E.164 form the DICT stores. Only Brazilian numbers are PIX keys, and
/// local forms without `+55` are rejected rather than guessed at.
fn is_valid_phone(key: &str) -> bool {
    let Some(rest) = key.strip_prefix("+55") else {
        return false;
    };
    if !(rest.len() == 10 || rest.len() == 11) || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    match rest.get(..2).and_then(|ddd| ddd.parse::<u8>().ok()) {
        Some(ddd) => (11..=99).contains(&ddd),
        None => false,
    }
}

/// The canonical 8-4-4-4-12 hexadecimal form, either case. Hand-written instead of using
/// `uuid::Uuid::parse_str` because that also accepts the simple, braced and URN forms, which
/// are not how the DICT writes random keys.
fn is_hyphenated_uuid(key: &str) -> bool {
    key.len() == 36
        && key.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(kind: PixKeyType, key: &str) {
        assert_eq!(validate_pix_key(kind, key), Ok(()), "{kind} {key:?}");
    }

    fn bad(kind: PixKeyType, key: &str) -> PixKeyError {
        match validate_pix_key(kind, key) {
            Ok(()) => panic!("{kind} {key:?} should be invalid"),
            Err(e) => e,
        }
    }

    #[test]
    fn type_names_round_trip() {
        for t in PixKeyType::ALL {
            assert_eq!(PixKeyType::parse(t.as_str()), Some(t));
            assert_eq!(t.to_string(), t.as_str());
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(serde_json::from_str::<PixKeyType>(&json).unwrap(), t);
        }
        for s in ["email", "Email", "EVP", "", " CPF", "CPF ", "RANDOM_KEY"] {
            assert_eq!(PixKeyType::parse(s), None, "{s:?}");
        }
        assert_eq!(PixKeyType::from(DocumentKind::Cpf), PixKeyType::Cpf);
        assert_eq!(PixKeyType::from(DocumentKind::Cnpj), PixKeyType::Cnpj);
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            bad(PixKeyType::Email, "x").to_string(),
            "must be a valid e-mail address"
        );
        assert_eq!(
            bad(PixKeyType::Phone, "x").to_string(),
            "must be a phone number in the format +55DDNNNNNNNNN"
        );
        assert_eq!(bad(PixKeyType::Cpf, "x").to_string(), "must be a valid CPF");
        assert_eq!(
            bad(PixKeyType::Cnpj, "x").to_string(),
            "must be a valid CNPJ"
        );
        assert_eq!(
            bad(PixKeyType::Random, "x").to_string(),
            "must be a UUID (random key)"
        );
        // The detail is reachable through `source()` for logs.
        let e = bad(PixKeyType::Cpf, "12345678901");
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("check digits do not match"));
    }

    #[test]
    fn valid_emails() {
        for key in [
            "fulano@example.com",
            "Fulano.De.Tal@Example.COM.br",
            "a@b.co",
            "user+tag@sub.domain-name.com.br",
            "o'neil_#1!{x}@example.org",
            "x@xn--bcher-kva.example",
            "123@456.78",
        ] {
            ok(PixKeyType::Email, key);
        }
        // Exactly 77 characters is allowed.
        let local = "a".repeat(MAX_EMAIL_LEN - "@example.com".len());
        let at_limit = format!("{local}@example.com");
        assert_eq!(at_limit.len(), 77);
        ok(PixKeyType::Email, &at_limit);
    }

    #[test]
    fn invalid_emails() {
        let e = |key: &str| match bad(PixKeyType::Email, key) {
            PixKeyError::InvalidEmail(p) => p,
            other => panic!("unexpected {other:?}"),
        };
        let too_long = format!("{}@example.com", "a".repeat(66));
        assert_eq!(too_long.len(), 78);
        assert_eq!(e(&too_long), EmailProblem::TooLong);
        assert_eq!(e(""), EmailProblem::AtSign);
        assert_eq!(e("fulano.example.com"), EmailProblem::AtSign);
        assert_eq!(e("a@b@example.com"), EmailProblem::AtSign);
        assert_eq!(e("@example.com"), EmailProblem::EmptyLocalPart);
        assert_eq!(e("ful ano@example.com"), EmailProblem::LocalPartCharacter);
        assert_eq!(e(" fulano@example.com"), EmailProblem::LocalPartCharacter);
        assert_eq!(e("fulano(x)@example.com"), EmailProblem::LocalPartCharacter);
        assert_eq!(e("joão@example.com"), EmailProblem::LocalPartCharacter);
        assert_eq!(e("\"q\"@example.com"), EmailProblem::LocalPartCharacter);
        assert_eq!(e("fulano@localhost"), EmailProblem::DomainWithoutDot);
        assert_eq!(e("fulano@"), EmailProblem::DomainWithoutDot);
        assert_eq!(e("fulano@example.com "), EmailProblem::DomainLabel);
        assert_eq!(e("fulano@example..com"), EmailProblem::DomainLabel);
        assert_eq!(e("fulano@.example.com"), EmailProblem::DomainLabel);
        assert_eq!(e("fulano@example.com."), EmailProblem::DomainLabel);
        assert_eq!(e("fulano@-example.com"), EmailProblem::DomainLabel);
        assert_eq!(e("fulano@example-.com"), EmailProblem::DomainLabel);
        assert_eq!(e("fulano@exam_ple.com"), EmailProblem::DomainLabel);
        assert_eq!(e("fulano@exämple.com"), EmailProblem::DomainLabel);
        assert_eq!(
            e(&format!("a@{}.com", "b".repeat(64))),
            EmailProblem::DomainLabel
        );
        ok(PixKeyType::Email, &format!("a@{}.com", "b".repeat(63)));
    }

    #[test]
    fn valid_phones() {
        for key in [
            "+5511999887766", // São Paulo mobile, 9 digits
            "+551133334444",  // landline, 8 digits
            "+5561987654321",
            "+5599912345678",
            "+551100000000",
        ] {
            ok(PixKeyType::Phone, key);
        }
    }

    #[test]
    fn invalid_phones() {
        for key in [
            "11999887766",      // no country code
            "5511999887766",    // no '+'
            "+55 11999887766",  // whitespace
            "+55(11)999887766", // punctuation
            "+55-11-99988-7766",
            "+5501999887766",  // area code starting with 0
            "+5510999887766",  // area code 10
            "+55119998877",    // 7-digit subscriber
            "+55119998877665", // 10-digit subscriber
            "+1415555123",     // not Brazil
            "+14155551234",
            "+5511999887766 ",
            "+55119998877a6",
            "+55",
            "",
            "+55١١999887766", // Arabic-Indic digits
        ] {
            assert_eq!(
                bad(PixKeyType::Phone, key),
                PixKeyError::InvalidPhone,
                "{key:?}"
            );
        }
    }

    #[test]
    fn cpf_and_cnpj_keys() {
        ok(PixKeyType::Cpf, "12345678909");
        ok(PixKeyType::Cnpj, "11222333000181");
        ok(PixKeyType::Cnpj, "12ABC34501DE35");

        assert_eq!(
            bad(PixKeyType::Cpf, "12345678901"),
            PixKeyError::InvalidCpf(DocumentError::InvalidCheckDigits)
        );
        assert_eq!(
            bad(PixKeyType::Cpf, "123.456.789-09"),
            PixKeyError::InvalidCpf(DocumentError::InvalidCharacters)
        );
        assert_eq!(
            bad(PixKeyType::Cpf, "11111111111"),
            PixKeyError::InvalidCpf(DocumentError::RepeatedDigits)
        );
        // Right document, wrong key type.
        assert_eq!(
            bad(PixKeyType::Cpf, "11222333000181"),
            PixKeyError::InvalidCpf(DocumentError::InvalidLength)
        );
        assert_eq!(
            bad(PixKeyType::Cnpj, "12345678909"),
            PixKeyError::InvalidCnpj(DocumentError::InvalidLength)
        );
        assert_eq!(
            bad(PixKeyType::Cnpj, "11222333000144"),
            PixKeyError::InvalidCnpj(DocumentError::InvalidCheckDigits)
        );
        assert_eq!(
            bad(PixKeyType::Cnpj, "12abc34501de35"),
            PixKeyError::InvalidCnpj(DocumentError::InvalidCharacters)
        );
        assert_eq!(
            bad(PixKeyType::Cnpj, "11.222.333/0001-81"),
            PixKeyError::InvalidCnpj(DocumentError::InvalidLength)
        );
    }

    #[test]
    fn random_keys() {
        ok(PixKeyType::Random, "123e4567-e12b-12d1-a456-426655440000");
        ok(PixKeyType::Random, "123E4567-E12B-12D1-A456-426655440000");
        ok(PixKeyType::Random, "00000000-0000-0000-0000-000000000000");
        ok(PixKeyType::Random, &uuid::Uuid::new_v4().to_string());
        for key in [
            "",
            "123e4567e12b12d1a456426655440000", // simple form
            "{123e4567-e12b-12d1-a456-426655440000}", // braced
            "urn:uuid:123e4567-e12b-12d1-a456-426655440000",
            "123e4567-e12b-12d1-a456-42665544000",   // short
            "123e4567-e12b-12d1-a456-4266554400000", // long
            "123e4567-e12b-12d1-a456_426655440000",  // wrong separator
            "123e456-7e12b-12d1-a456-426655440000",  // misplaced hyphen
            "123g4567-e12b-12d1-a456-426655440000",  // not hex
            " 123e4567-e12b-12d1-a456-42665544000",
        ] {
            assert_eq!(
                bad(PixKeyType::Random, key),
                PixKeyError::InvalidRandom,
                "{key:?}"
            );
        }
    }

    #[test]
    fn a_key_is_valid_for_at_most_one_type() {
        for key in [
            "fulano@example.com",
            "+5511999887766",
            "12345678909",
            "11222333000181",
            "123e4567-e12b-12d1-a456-426655440000",
        ] {
            let valid: Vec<_> = PixKeyType::ALL
                .into_iter()
                .filter(|t| validate_pix_key(*t, key).is_ok())
                .collect();
            assert_eq!(valid.len(), 1, "{key}: {valid:?}");
        }
    }

    proptest! {
        #[test]
        fn generated_phones_are_valid(ddd in 11u8..=99, n in "[0-9]{8,9}") {
            let key = format!("+55{ddd}{n}");
            prop_assert!(key.len() == 13 || key.len() == 14);
            prop_assert_eq!(validate_pix_key(PixKeyType::Phone, &key), Ok(()));
        }

        #[test]
        fn generated_uuids_are_valid(bytes in any::<[u8; 16]>(), upper in any::<bool>()) {
            let s = uuid::Uuid::from_bytes(bytes).hyphenated().to_string();
            let s = if upper { s.to_uppercase() } else { s };
            prop_assert_eq!(validate_pix_key(PixKeyType::Random, &s), Ok(()));
        }

        #[test]
        fn generated_emails_are_valid(
            local in "[a-zA-Z0-9._%+-]{1,30}",
            labels in prop::collection::vec("[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", 2..4),
        ) {
            let key = format!("{local}@{}", labels.join("."));
            prop_assert_eq!(validate_pix_key(PixKeyType::Email, &key), Ok(()));
        }

        #[test]
        fn whitespace_anywhere_invalidates_every_kind(
            pos in 0usize..14,
            ws in prop::sample::select(vec![" ", "\t", "\n", "\u{a0}"]),
        ) {
            for (kind, key) in [
                (PixKeyType::Email, "fulano@example.com"),
                (PixKeyType::Phone, "+5511999887766"),
                (PixKeyType::Cpf, "12345678909"),
                (PixKeyType::Cnpj, "11222333000181"),
                (PixKeyType::Random, "123e4567-e12b-12d1-a456-426655440000"),
            ] {
                let at = pos.min(key.len());
                let mut k = key.to_owned();
                k.insert_str(at, ws);
                prop_assert!(validate_pix_key(kind, &k).is_err(), "{} {:?}", kind, k);
            }
        }

        #[test]
        fn never_panics(kind in prop::sample::select(PixKeyType::ALL.to_vec()), key in "\\PC{0,90}") {
            let _ = validate_pix_key(kind, &key);
        }
    }
}
