//! Brazilian tax documents: CPF (individuals) and CNPJ (companies).
//!
//! Parsing is deliberately strict — no punctuation, no whitespace, no case folding — so that the
//! value we store, index and send to providers is exactly the value the client sent. Clients
//! format for display; the API takes the bare number.
//!
//! The CNPJ follows the alphanumeric format the Receita Federal introduces in July 2026: the
//! first 12 characters (the "base" and the "branch") may be `0-9` or `A-Z`, the last two are
//! still decimal check digits. Every numeric CNPJ issued so far is a valid instance of that
//! format, so one algorithm covers both.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Which kind of tax document a [`TaxDocument`] is. The length of the number decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DocumentKind {
    Cpf,
    Cnpj,
}

impl DocumentKind {
    /// The canonical name, as used on the wire (`"CPF"` / `"CNPJ"`).
    pub fn as_str(&self) -> &'static str {
        match self {
            DocumentKind::Cpf => "CPF",
            DocumentKind::Cnpj => "CNPJ",
        }
    }
}

impl std::fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a valid CPF or CNPJ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DocumentError {
    #[error("must have 11 (CPF) or 14 (CNPJ) characters")]
    InvalidLength,
    #[error("contains characters that are not allowed")]
    InvalidCharacters,
    #[error("check digits do not match")]
    InvalidCheckDigits,
    #[error("must not be a single repeated digit")]
    RepeatedDigits,
}

/// A validated CPF or CNPJ.
///
/// Serialises as the bare number (a JSON string); deserialising validates, so a `TaxDocument`
/// read from storage or a request is always valid.
///
/// There is intentionally no `Display` impl: the full number is personal data (LGPD) and must
/// not end up in logs by accident. Use [`TaxDocument::masked`] for logs and
/// [`TaxDocument::as_str`] where the full number is really needed.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TaxDocument {
    kind: DocumentKind,
    number: String,
}

/// Masked, so `{:?}` of any struct holding a document is safe to log.
impl std::fmt::Debug for TaxDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.kind, self.masked())
    }
}

const CPF_LEN: usize = 11;
const CNPJ_LEN: usize = 14;

impl TaxDocument {
    /// Parses a bare CPF (11 digits) or CNPJ (14 characters). Strict: no punctuation, no
    /// whitespace, no lowercase letters.
    pub fn parse(input: &str) -> Result<TaxDocument, DocumentError> {
        // Counting chars (not bytes) so that a non-ASCII character in an otherwise well-sized
        // input is reported as a bad character rather than as a bad length.
        let kind = match input.chars().count() {
            CPF_LEN => DocumentKind::Cpf,
            CNPJ_LEN => DocumentKind::Cnpj,
            _ => return Err(DocumentError::InvalidLength),
        };
        match kind {
            DocumentKind::Cpf => validate_cpf(input)?,
            DocumentKind::Cnpj => validate_cnpj(input)?,
        }
        Ok(TaxDocument {
            kind,
            number: input.to_owned(),
        })
    }

    pub fn kind(&self) -> DocumentKind {
        self.kind
    }

    /// The full, unformatted number.
    pub fn as_str(&self) -> &str {
        &self.number
    }

    /// A form safe for logs: enough to tell documents apart when debugging, never the whole
    /// number. CPF keeps the six middle digits (`***.456.789-**`, the mask Brazilian
    /// government portals use); CNPJ keeps the first two characters and the branch
    /// (`12.***.***/0001-**`), which identify neither the company nor the check digits.
    pub fn masked(&self) -> String {
        // The number was validated as ASCII on construction, so byte slicing is on char
        // boundaries; `get` keeps this panic-free regardless.
        let n = self.number.as_str();
        match self.kind {
            DocumentKind::Cpf => match (n.get(3..6), n.get(6..9)) {
                (Some(a), Some(b)) => format!("***.{a}.{b}-**"),
                _ => "***.***.***-**".to_owned(),
            },
            DocumentKind::Cnpj => match (n.get(0..2), n.get(8..12)) {
                (Some(a), Some(b)) => format!("{a}.***.***/{b}-**"),
                _ => "**.***.***/****-**".to_owned(),
            },
        }
    }
}

impl std::str::FromStr for TaxDocument {
    type Err = DocumentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaxDocument::parse(s)
    }
}

impl TryFrom<String> for TaxDocument {
    type Error = DocumentError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        TaxDocument::parse(&value)
    }
}

impl From<TaxDocument> for String {
    fn from(doc: TaxDocument) -> String {
        doc.number
    }
}

/// True if `s` is a bare CPF with correct check digits (and not a repeated digit).
pub fn is_valid_cpf(s: &str) -> bool {
    validate_cpf(s).is_ok()
}

/// True if `s` is a bare CNPJ — numeric or alphanumeric — with correct check digits.
pub fn is_valid_cnpj(s: &str) -> bool {
    validate_cnpj(s).is_ok()
}

/// CPF check-digit weights: DV1 over the 9 base digits, DV2 over the base plus DV1.
const CPF_DV1_WEIGHTS: [u32; 9] = [10, 9, 8, 7, 6, 5, 4, 3, 2];
const CPF_DV2_WEIGHTS: [u32; 10] = [11, 10, 9, 8, 7, 6, 5, 4, 3, 2];
/// CNPJ check-digit weights (unchanged by the alphanumeric format).
const CNPJ_DV1_WEIGHTS: [u32; 12] = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
const CNPJ_DV2_WEIGHTS: [u32; 13] = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];

fn validate_cpf(s: &str) -> Result<(), DocumentError> {
    let bytes = s.as_bytes();
    if !s.chars().all(|c| c.is_ascii_digit()) {
        return Err(DocumentError::InvalidCharacters);
    }
    if bytes.len() != CPF_LEN {
        return Err(DocumentError::InvalidLength);
    }
    // Every repeated-digit CPF passes the mod-11 check (e.g. 111.111.111-11), yet none was
    // ever issued; they are the classic fake inputs, so they are rejected explicitly.
    if is_repeated_digit(bytes) {
        return Err(DocumentError::RepeatedDigits);
    }
    let values: Vec<u32> = bytes.iter().map(|&b| char_value(b)).collect();
    check_digits(&values, &CPF_DV1_WEIGHTS, &CPF_DV2_WEIGHTS)
}

fn validate_cnpj(s: &str) -> Result<(), DocumentError> {
    let bytes = s.as_bytes();
    // The char count is checked before the byte layout so that multi-byte characters are
    // reported as bad characters, consistently with `TaxDocument::parse`.
    if s.chars().count() != CNPJ_LEN {
        return Err(DocumentError::InvalidLength);
    }
    if bytes.len() != CNPJ_LEN {
        return Err(DocumentError::InvalidCharacters);
    }
    let (base, dvs) = bytes.split_at(CNPJ_LEN - 2);
    // Lowercase is rejected rather than normalised: the Receita defines the format in
    // uppercase, and silently changing what the client sent would hide their bug.
    let base_ok = base
        .iter()
        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
    if !base_ok || !dvs.iter().all(u8::is_ascii_digit) {
        return Err(DocumentError::InvalidCharacters);
    }
    // 00.000.000/0000-00 passes the mod-11 check; like the CPF, repeated digits are fake.
    if is_repeated_digit(bytes) {
        return Err(DocumentError::RepeatedDigits);
    }
    let values: Vec<u32> = bytes.iter().map(|&b| char_value(b)).collect();
    check_digits(&values, &CNPJ_DV1_WEIGHTS, &CNPJ_DV2_WEIGHTS)
}

fn is_repeated_digit(bytes: &[u8]) -> bool {
    match bytes.first() {
        Some(first) => first.is_ascii_digit() && bytes.iter().all(|b| b == first),
        None => false,
    }
}

/// The value of a document character: ASCII code minus 48. The Receita defines it this way
/// for the alphanumeric CNPJ so that digits keep their old values ('0'..'9' → 0..9) and letters
/// continue from there ('A' → 17 … 'Z' → 42). Callers validate the character set first.
fn char_value(b: u8) -> u32 {
    u32::from(b).saturating_sub(48)
}

/// Verifies the last two values against the mod-11 check digits computed from the others.
/// `dv1_weights.len()` is the number of base values; DV2 covers the base plus DV1.
fn check_digits(
    values: &[u32],
    dv1_weights: &[u32],
    dv2_weights: &[u32],
) -> Result<(), DocumentError> {
    let n = dv1_weights.len();
    let (Some(base), Some(&dv1), Some(&dv2)) = (values.get(..n), values.get(n), values.get(n + 1))
    else {
        return Err(DocumentError::InvalidLength);
    };
    if mod11_digit(base, dv1_weights) != dv1 {
        return Err(DocumentError::InvalidCheckDigits);
    }
    let Some(base_and_dv1) = values.get(..=n) else {
        return Err(DocumentError::InvalidLength);
    };
    if mod11_digit(base_and_dv1, dv2_weights) != dv2 {
        return Err(DocumentError::InvalidCheckDigits);
    }
    Ok(())
}

/// The common CPF/CNPJ check digit: remainders 0 and 1 both map to 0 (there is no single digit
/// for "10"), otherwise 11 − remainder.
fn mod11_digit(values: &[u32], weights: &[u32]) -> u32 {
    let sum: u32 = values.iter().zip(weights).map(|(v, w)| v * w).sum();
    match sum % 11 {
        0 | 1 => 0,
        r => 11 - r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // --- Independent reference implementations for the tests ------------------------------
    //
    // Written differently from the production code on purpose (the textbook "sum × 10 mod 11"
    // form for CPF, explicit position-based weights for CNPJ), so that a shared mistake is
    // unlikely.

    fn ref_cpf_dvs(base: &[u8; 9]) -> (u8, u8) {
        let mut s1 = 0u32;
        for (i, d) in base.iter().enumerate() {
            s1 += u32::from(*d) * (10 - i as u32);
        }
        let dv1 = ((s1 * 10) % 11 % 10) as u8;
        let mut s2 = 0u32;
        for (i, d) in base.iter().chain(std::iter::once(&dv1)).enumerate() {
            s2 += u32::from(*d) * (11 - i as u32);
        }
        let dv2 = ((s2 * 10) % 11 % 10) as u8;
        (dv1, dv2)
    }

    fn ref_cpf(base: [u8; 9]) -> String {
        let (dv1, dv2) = ref_cpf_dvs(&base);
        base.iter()
            .chain([dv1, dv2].iter())
            .map(|d| char::from(b'0' + d))
            .collect()
    }

    /// CNPJ weights cycle 2..=9 from the right.
    fn ref_cnpj_dv(chars: &[char]) -> char {
        let mut sum = 0u32;
        for (i, c) in chars.iter().rev().enumerate() {
            let weight = 2 + (i as u32 % 8);
            sum += (*c as u32 - '0' as u32) * weight;
        }
        let r = sum % 11;
        let dv = if r < 2 { 0 } else { 11 - r };
        char::from_digit(dv, 10).unwrap()
    }

    fn ref_cnpj(base: &str) -> String {
        let mut chars: Vec<char> = base.chars().collect();
        assert_eq!(chars.len(), 12);
        let dv1 = ref_cnpj_dv(&chars);
        chars.push(dv1);
        let dv2 = ref_cnpj_dv(&chars);
        chars.push(dv2);
        chars.into_iter().collect()
    }

    /// Sum mod 11 for both check digits, as (r1, r2). Used to state *when* a single change can
    /// go undetected.
    fn residues(doc: &str) -> (u32, u32) {
        let v: Vec<u32> = doc.bytes().map(char_value).collect();
        let (w1, w2): (&[u32], &[u32]) = if v.len() == CPF_LEN {
            (&CPF_DV1_WEIGHTS, &CPF_DV2_WEIGHTS)
        } else {
            (&CNPJ_DV1_WEIGHTS, &CNPJ_DV2_WEIGHTS)
        };
        let s = |w: &[u32]| v.iter().zip(w).map(|(a, b)| a * b).sum::<u32>() % 11;
        (s(w1), s(w2))
    }

    fn replace_at(s: &str, pos: usize, c: char) -> String {
        s.chars()
            .enumerate()
            .map(|(i, o)| if i == pos { c } else { o })
            .collect()
    }

    // --- Fixtures --------------------------------------------------------------------------

    #[test]
    fn known_valid_documents() {
        let cpf = TaxDocument::parse("12345678909").unwrap();
        assert_eq!(cpf.kind(), DocumentKind::Cpf);
        assert_eq!(cpf.as_str(), "12345678909");

        let cnpj = TaxDocument::parse("11222333000181").unwrap();
        assert_eq!(cnpj.kind(), DocumentKind::Cnpj);
        assert_eq!(cnpj.as_str(), "11222333000181");

        // The Receita Federal's own example of the alphanumeric CNPJ.
        let alnum = TaxDocument::parse("12ABC34501DE35").unwrap();
        assert_eq!(alnum.kind(), DocumentKind::Cnpj);
        assert!(is_valid_cnpj("12ABC34501DE35"));

        assert!(is_valid_cpf("12345678909"));
        assert!(is_valid_cpf("11144477735"));
        assert!(is_valid_cnpj("11222333000181"));
    }

    #[test]
    fn reference_generators_agree_with_fixtures() {
        assert_eq!(ref_cpf([1, 2, 3, 4, 5, 6, 7, 8, 9]), "12345678909");
        assert_eq!(ref_cnpj("112223330001"), "11222333000181");
        assert_eq!(ref_cnpj("12ABC34501DE"), "12ABC34501DE35");
    }

    #[test]
    fn known_invalid_check_digits() {
        for bad in ["12345678901", "11144477736", "11144477753"] {
            assert!(!is_valid_cpf(bad), "{bad}");
            assert_eq!(
                TaxDocument::parse(bad),
                Err(DocumentError::InvalidCheckDigits),
                "{bad}"
            );
        }
        for bad in ["98765432000188", "11222333000144", "55666777000199"] {
            assert!(!is_valid_cnpj(bad), "{bad}");
            assert_eq!(
                TaxDocument::parse(bad),
                Err(DocumentError::InvalidCheckDigits),
                "{bad}"
            );
        }
        assert_eq!(
            TaxDocument::parse("12ABC34501DE36"),
            Err(DocumentError::InvalidCheckDigits)
        );
    }

    #[test]
    fn spec_example_98765432100_is_in_fact_a_valid_cpf() {
        // Often quoted as an invalid CPF, but the arithmetic says otherwise:
        // DV1: 9·10+8·9+7·8+6·7+5·6+4·5+3·4+2·3+1·2 = 330 ≡ 0 (mod 11) → 0
        // DV2: 9·11+8·10+7·9+6·8+5·7+4·6+3·5+2·4+1·3+0·2 = 375 ≡ 1 (mod 11) → 0
        assert_eq!(ref_cpf([9, 8, 7, 6, 5, 4, 3, 2, 1]), "98765432100");
        assert!(is_valid_cpf("98765432100"));
        // Changing either check digit does make it invalid.
        assert!(!is_valid_cpf("98765432101"));
        assert!(!is_valid_cpf("98765432110"));
    }

    #[test]
    fn repeated_digits_are_rejected() {
        for d in '0'..='9' {
            let cpf: String = std::iter::repeat_n(d, 11).collect();
            assert_eq!(
                TaxDocument::parse(&cpf),
                Err(DocumentError::RepeatedDigits),
                "{cpf}"
            );
            assert!(!is_valid_cpf(&cpf));
            let cnpj: String = std::iter::repeat_n(d, 14).collect();
            assert_eq!(
                TaxDocument::parse(&cnpj),
                Err(DocumentError::RepeatedDigits),
                "{cnpj}"
            );
            assert!(!is_valid_cnpj(&cnpj));
        }
    }

    #[test]
    fn repeated_digit_cpfs_would_otherwise_pass_the_checksum() {
        // Documents why the explicit rule exists: the arithmetic alone accepts them.
        for d in 0..=9u8 {
            let base = [d; 9];
            assert_eq!(
                ref_cpf(base),
                std::iter::repeat_n(char::from(b'0' + d), 11).collect::<String>()
            );
        }
        assert_eq!(ref_cnpj("000000000000"), "00000000000000");
    }

    #[test]
    fn length_decides_kind_and_bad_lengths_are_rejected() {
        for bad in [
            "",
            "1",
            "1234567890",
            "123456789012",
            "1122233300018",
            "112223330001810",
        ] {
            assert_eq!(
                TaxDocument::parse(bad),
                Err(DocumentError::InvalidLength),
                "{bad:?}"
            );
        }
        // A valid CPF padded to CNPJ length is judged as a CNPJ.
        assert!(TaxDocument::parse("00012345678909").is_err());
        assert!(!is_valid_cpf("11222333000181"));
        assert!(!is_valid_cnpj("12345678909"));
    }

    #[test]
    fn punctuation_whitespace_and_lowercase_are_invalid_characters() {
        let cases = [
            "123.456.789-09",        // 14 chars: judged as a CNPJ with bad characters
            "1234567890 ",           // trailing space
            " 2345678909",           // leading space
            "1234567890a",           // letter in a CPF
            "1234567890A",           // letters are never allowed in a CPF
            "12abc34501de35",        // lowercase alphanumeric CNPJ
            "12ABC34501DE3A",        // letter in a CNPJ check digit
            "12ABC34501DE\u{00bd}5", // non-ASCII, 14 chars
            "11222333/00018",
            "1122233300018\u{0}",
        ];
        for bad in cases {
            assert_eq!(
                TaxDocument::parse(bad),
                Err(DocumentError::InvalidCharacters),
                "{bad:?}"
            );
        }
        // A formatted CNPJ is 18 chars: wrong length before anything else.
        assert_eq!(
            TaxDocument::parse("11.222.333/0001-81"),
            Err(DocumentError::InvalidLength)
        );
        // Non-ASCII with an 11-char count is a character problem, not a length problem.
        assert_eq!(
            TaxDocument::parse("1234567890é"),
            Err(DocumentError::InvalidCharacters)
        );
    }

    #[test]
    fn masked_never_shows_the_whole_number() {
        let cpf = TaxDocument::parse("12345678909").unwrap();
        assert_eq!(cpf.masked(), "***.456.789-**");
        let cnpj = TaxDocument::parse("11222333000181").unwrap();
        assert_eq!(cnpj.masked(), "11.***.***/0001-**");
        let alnum = TaxDocument::parse("12ABC34501DE35").unwrap();
        assert_eq!(alnum.masked(), "12.***.***/01DE-**");
        for doc in [cpf, cnpj, alnum] {
            assert!(!doc.masked().contains(doc.as_str()));
        }
    }

    #[test]
    fn serde_is_a_plain_string_and_validates() {
        let doc = TaxDocument::parse("11222333000181").unwrap();
        let json = serde_json::to_string(&doc).unwrap();
        assert_eq!(json, "\"11222333000181\"");
        let back: TaxDocument = serde_json::from_str(&json).unwrap();
        assert_eq!(back, doc);
        let alnum: TaxDocument = serde_json::from_str("\"12ABC34501DE35\"").unwrap();
        assert_eq!(alnum.kind(), DocumentKind::Cnpj);

        assert!(serde_json::from_str::<TaxDocument>("\"12345678901\"").is_err());
        assert!(serde_json::from_str::<TaxDocument>("\"123.456.789-09\"").is_err());
        assert!(serde_json::from_str::<TaxDocument>("12345678909").is_err());

        assert_eq!(
            serde_json::to_string(&DocumentKind::Cpf).unwrap(),
            "\"CPF\""
        );
        assert_eq!(
            serde_json::from_str::<DocumentKind>("\"CNPJ\"").unwrap(),
            DocumentKind::Cnpj
        );
        assert!(serde_json::from_str::<DocumentKind>("\"cnpj\"").is_err());
    }

    #[test]
    fn from_str_matches_parse() {
        let doc: TaxDocument = "12345678909".parse().unwrap();
        assert_eq!(doc, TaxDocument::parse("12345678909").unwrap());
        assert!("12345678901".parse::<TaxDocument>().is_err());
        assert_eq!(String::from(doc), "12345678909");
    }

    #[test]
    fn error_messages_are_short_english() {
        assert_eq!(
            DocumentError::InvalidCheckDigits.to_string(),
            "check digits do not match"
        );
        assert_eq!(DocumentKind::Cnpj.to_string(), "CNPJ");
    }

    // --- Single-character changes ----------------------------------------------------------
    //
    // The mod-11 schemes do NOT detect every single-character change, for two reasons:
    //  1. Remainders 0 and 1 both give check digit 0, so a change that moves a remainder
    //     between 0 and 1 leaves that check digit unchanged.
    //  2. A weight ≡ 0 (mod 11) makes a position invisible to that check digit — the CPF's
    //     first digit has weight 11 in DV2 — and, in the alphanumeric CNPJ, a change whose value
    //     difference is a multiple of 11 (e.g. '6' ↔ 'A', '1' ↔ 'G', 'A' ↔ 'L' ↔ 'W') is
    //     invisible to both check digits.
    // The check digits themselves are always protected: they must equal the values computed
    // from the unchanged base.
    // The tests below pin down exactly these facts.

    #[test]
    fn cpf_single_digit_change_can_go_undetected() {
        // 100000000-19: r1 = 10 mod 11 = 10 → DV1 = 1. Find a concrete undetected change by
        // search over a small space and check it is explained by a remainder collapsing 0↔1.
        let mut found = None;
        'outer: for a in 1..=9u8 {
            for b in 0..=9u8 {
                let base = [a, b, 0, 0, 0, 0, 0, 0, 3];
                let doc = ref_cpf(base);
                let changed = replace_at(&doc, 0, char::from(b'0' + a - 1));
                if is_valid_cpf(&changed) {
                    found = Some((doc, changed));
                    break 'outer;
                }
            }
        }
        let (doc, changed) = found.expect("an undetected first-digit change exists");
        let (r1, _) = residues(&doc);
        let (r1b, _) = residues(&changed);
        assert!(matches!((r1, r1b), (0, 1) | (1, 0)), "{doc} -> {changed}");
    }

    #[test]
    fn alphanumeric_cnpj_change_by_multiple_of_eleven_goes_undetected() {
        // '1' (value 1) and 'G' (value 23) differ by 22.
        assert!(is_valid_cnpj("12ABC34501DE35"));
        assert!(is_valid_cnpj("G2ABC34501DE35"));
        // 'A' (17) → 'L' (28) → 'W' (39).
        assert!(is_valid_cnpj("12LBC34501DE35"));
        assert!(is_valid_cnpj("12WBC34501DE35"));
    }

    #[test]
    fn exhaustive_single_changes_of_fixtures_are_explained() {
        for doc in ["12345678909", "11222333000181", "12ABC34501DE35"] {
            let len = doc.len();
            let alphabet: Vec<char> = ('0'..='9').chain('A'..='Z').collect();
            let mut undetected_digit_changes = 0;
            for pos in 0..len {
                let original = doc.as_bytes()[pos] as char;
                for &c in &alphabet {
                    if c == original {
                        continue;
                    }
                    let changed = replace_at(doc, pos, c);
                    let valid = TaxDocument::parse(&changed).is_ok();
                    assert_eq!(
                        valid,
                        undetected_expected(doc, pos, c),
                        "{doc} -> {changed}"
                    );
                    if valid && c.is_ascii_digit() && original.is_ascii_digit() {
                        undetected_digit_changes += 1;
                    }
                }
            }
            // Sanity: only a handful of the ~100 digit-for-digit changes slip through. (Letter
            // substitutions by a multiple of 11 always do, so they are not counted here.)
            assert!(
                undetected_digit_changes < 10,
                "{doc}: {undetected_digit_changes}"
            );
        }
    }

    /// Whether changing `doc[pos]` to `c` keeps the document valid, stated in terms of the two
    /// failure modes documented above rather than by re-running the validator.
    fn undetected_expected(doc: &str, pos: usize, c: char) -> bool {
        let len = doc.len();
        let cpf = len == CPF_LEN;
        let allowed = if cpf {
            c.is_ascii_digit()
        } else if pos < CNPJ_LEN - 2 {
            c.is_ascii_digit() || c.is_ascii_uppercase()
        } else {
            c.is_ascii_digit()
        };
        if !allowed || pos >= len - 2 {
            return false;
        }
        let changed = replace_at(doc, pos, c);
        if changed.bytes().all(|b| b == changed.as_bytes()[0]) {
            return false;
        }
        let (r1, r2) = residues(doc);
        let (s1, s2) = residues(&changed);
        let same_digit = |a: u32, b: u32| a == b || matches!((a, b), (0, 1) | (1, 0));
        same_digit(r1, s1) && same_digit(r2, s2)
    }

    fn cpf_base() -> impl Strategy<Value = [u8; 9]> {
        prop::array::uniform9(0u8..=9)
    }

    fn cnpj_base() -> impl Strategy<Value = String> {
        "[0-9A-Z]{12}"
    }

    fn numeric_cnpj_base() -> impl Strategy<Value = String> {
        "[0-9]{12}"
    }

    proptest! {
        #[test]
        fn generated_cpfs_validate(base in cpf_base()) {
            let doc = ref_cpf(base);
            let repeated = base.iter().all(|d| *d == base[0]);
            match TaxDocument::parse(&doc) {
                Ok(d) => {
                    prop_assert!(!repeated);
                    prop_assert_eq!(d.kind(), DocumentKind::Cpf);
                    prop_assert_eq!(d.as_str(), doc.as_str());
                }
                Err(e) => {
                    prop_assert!(repeated);
                    prop_assert_eq!(e, DocumentError::RepeatedDigits);
                }
            }
        }

        #[test]
        fn generated_cnpjs_validate(base in cnpj_base()) {
            let doc = ref_cnpj(&base);
            let repeated = doc.bytes().all(|b| b == doc.as_bytes()[0]);
            prop_assert_eq!(is_valid_cnpj(&doc), !repeated);
            if !repeated {
                prop_assert_eq!(TaxDocument::parse(&doc).map(|d| d.kind()), Ok(DocumentKind::Cnpj));
            }
        }

        #[test]
        fn generated_numeric_cnpjs_validate(base in numeric_cnpj_base()) {
            let doc = ref_cnpj(&base);
            let repeated = doc.bytes().all(|b| b == doc.as_bytes()[0]);
            prop_assert_eq!(is_valid_cnpj(&doc), !repeated);
        }

        #[test]
        fn wrong_check_digits_are_rejected(base in cpf_base(), dv in 0u8..=9, which in 0usize..2) {
            let doc = ref_cpf(base);
            let pos = 9 + which;
            let original = doc.as_bytes()[pos];
            prop_assume!(original != b'0' + dv);
            let changed = replace_at(&doc, pos, char::from(b'0' + dv));
            prop_assert!(!is_valid_cpf(&changed));
        }

        /// Any single-digit change of a CPF is rejected unless it falls into the documented
        /// remainder-collapse case.
        #[test]
        fn cpf_single_changes(base in cpf_base(), pos in 0usize..11, d in 0u8..=9) {
            let doc = ref_cpf(base);
            prop_assume!(is_valid_cpf(&doc));
            let c = char::from(b'0' + d);
            prop_assume!(doc.as_bytes()[pos] != b'0' + d);
            let changed = replace_at(&doc, pos, c);
            let valid = is_valid_cpf(&changed);
            prop_assert_eq!(valid, undetected_expected(&doc, pos, c));
            // The positions never protected by both digits' full strength: an undetected change
            // is always in the base.
            if valid {
                prop_assert!(pos < 9);
            }
        }

        /// Same for CNPJ, over the full alphanumeric alphabet.
        #[test]
        fn cnpj_single_changes(base in cnpj_base(), pos in 0usize..14, c in "[0-9A-Z]") {
            let doc = ref_cnpj(&base);
            prop_assume!(is_valid_cnpj(&doc));
            let c = c.chars().next().unwrap();
            prop_assume!(doc.as_bytes()[pos] as char != c);
            let changed = replace_at(&doc, pos, c);
            let valid = is_valid_cnpj(&changed);
            prop_assert_eq!(valid, undetected_expected(&doc, pos, c));
            // A change by a multiple of 11 in the base is always invisible.
            let delta = (c as i32 - doc.as_bytes()[pos] as i32).rem_euclid(11);
            if pos < 12 && delta == 0 {
                prop_assert!(valid);
            }
        }

        /// For purely numeric CNPJ digit changes, |delta| ≤ 9 is never a multiple of 11, so the
        /// only escape is the 0↔1 remainder collapse — which needs BOTH check digits to collapse.
        #[test]
        fn numeric_cnpj_single_digit_changes(base in numeric_cnpj_base(), pos in 0usize..14, d in 0u8..=9) {
            let doc = ref_cnpj(&base);
            prop_assume!(is_valid_cnpj(&doc));
            prop_assume!(doc.as_bytes()[pos] != b'0' + d);
            let changed = replace_at(&doc, pos, char::from(b'0' + d));
            if is_valid_cnpj(&changed) {
                let (r1, r2) = residues(&doc);
                let (s1, s2) = residues(&changed);
                prop_assert!(pos < 12);
                prop_assert!(r1 != s1 && r1 + s1 == 1, "r1 {} -> {}", r1, s1);
                prop_assert!(r2 != s2 && r2 + s2 == 1, "r2 {} -> {}", r2, s2);
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,20}") {
            let _ = TaxDocument::parse(&s);
            let _ = is_valid_cpf(&s);
            let _ = is_valid_cnpj(&s);
        }

        #[test]
        fn masked_is_stable_shape(base in cpf_base()) {
            let doc = ref_cpf(base);
            if let Ok(d) = TaxDocument::parse(&doc) {
                let m = d.masked();
                prop_assert_eq!(m.len(), 14);
                prop_assert!(m.starts_with("***.") && m.ends_with("-**"));
            }
        }
    }
}
