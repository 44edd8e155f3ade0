//! PIX BR Code: the "copia e cola" string behind a PIX QR code.
//!
//! A BR Code is an EMV® Merchant-Presented QR payload (EMV MPM) in the profile the Banco
//! Central do Brasil defines for PIX. It is a flat sequence of TLV fields — a 2-digit id, a
//! 2-digit decimal length and the value — some of which are templates holding TLVs of their own,
//! closed by a CRC-16 in field 63.
//!
//! We only *build* dynamic codes: the PIX template (26) carries a location URL (sub-field 25)
//! where the payer's bank fetches a signed payload with the amount, the txid and the expiry.
//! The amount (54) and txid (62.05) are therefore deliberately absent/placeholder here; the
//! payload served at the location is the single source of truth.
//!
//! The parser is general (it accepts static codes too) because it also validates codes that
//! providers hand back to us before we show them to payers.
//!
//! Everything is pure string manipulation: images live in `pixgw-providers`.

use crc::{CRC_16_IBM_3740, Crc};
use thiserror::Error;

/// Maximum length of a whole BR Code (Banco Central's limit).
pub const MAX_CODE_LEN: usize = 512;
/// Maximum length of the location URL (template 26, sub-field 25). With the GUI sub-field this
/// fills the template to exactly 99 characters, the most a 2-digit length can describe.
pub const MAX_LOCATION_LEN: usize = 77;
/// Maximum length of the merchant name (field 59).
pub const MAX_MERCHANT_NAME_LEN: usize = 25;
/// Maximum length of the merchant city (field 60).
pub const MAX_MERCHANT_CITY_LEN: usize = 15;
/// The globally unique identifier of the PIX arrangement (template 26, sub-field 00).
pub const PIX_GUI: &str = "br.gov.bcb.pix";

// Field ids of the BR Code profile.
const ID_PAYLOAD_FORMAT: &str = "00";
const ID_POINT_OF_INITIATION: &str = "01";
const ID_PIX_TEMPLATE: &str = "26";
const ID_MCC: &str = "52";
const ID_CURRENCY: &str = "53";
const ID_AMOUNT: &str = "54";
const ID_COUNTRY: &str = "58";
const ID_MERCHANT_NAME: &str = "59";
const ID_MERCHANT_CITY: &str = "60";
const ID_ADDITIONAL_DATA: &str = "62";
const ID_CRC: &str = "63";
// Sub-field ids.
const SUB_GUI: &str = "00";
const SUB_PIX_KEY: &str = "01";
const SUB_LOCATION: &str = "25";
const SUB_REFERENCE_LABEL: &str = "05";

/// `6304` + 4 hex digits: the CRC field always closes the code.
const CRC_FIELD_LEN: usize = 8;

/// CRC-16/CCITT-FALSE, which the `crc` crate catalogues under its canonical name
/// CRC-16/IBM-3740 (poly 0x1021, init 0xFFFF, no reflection, no final XOR).
const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_3740);

/// The inputs of a dynamic PIX BR Code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DynamicBrCode<'a> {
    /// The payload location URL *without* the scheme (the payer's bank always uses https), e.g.
    /// `pix.example.com/pix/v2/loc/0f3c…`.
    pub location: &'a str,
    /// Already sanitised with [`sanitize_merchant_name`].
    pub merchant_name: &'a str,
    /// Already sanitised with [`sanitize_merchant_city`].
    pub merchant_city: &'a str,
}

/// Why a BR Code could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BrCodeError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} must be at most {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} must contain only printable ASCII characters")]
    NotPrintableAscii { field: &'static str },
    #[error("location must not contain whitespace")]
    LocationWhitespace,
    #[error("location must not include the URL scheme")]
    LocationHasScheme,
    #[error("BR Code must be at most {MAX_CODE_LEN} characters")]
    CodeTooLong,
    #[error("BR Code must start with the payload format indicator 000201")]
    MissingPayloadFormat,
    #[error("malformed TLV at position {position}")]
    Malformed { position: usize },
    #[error("field {id} appears more than once")]
    DuplicateField { id: String },
    #[error("BR Code must end with the CRC field (6304 and 4 uppercase hex digits)")]
    MissingCrc,
    #[error("CRC mismatch: computed {computed}, found {found}")]
    CrcMismatch { computed: String, found: String },
}

/// CRC-16/CCITT-FALSE of `data`, as BR Codes use it.
fn crc16_ccitt_false(data: &[u8]) -> u16 {
    CRC16.checksum(data)
}

/// Builds a dynamic PIX BR Code. The fields are emitted in the order of the Banco Central's
/// manual; some wallets are known to be stricter than EMV about order, so it is kept exact.
pub fn build_dynamic(code: &DynamicBrCode) -> Result<String, BrCodeError> {
    validate_location(code.location)?;
    validate_text("merchant_name", code.merchant_name, MAX_MERCHANT_NAME_LEN)?;
    validate_text("merchant_city", code.merchant_city, MAX_MERCHANT_CITY_LEN)?;

    let mut pix_template = String::with_capacity(99);
    push_tlv(&mut pix_template, SUB_GUI, PIX_GUI)?;
    push_tlv(&mut pix_template, SUB_LOCATION, code.location)?;

    // For dynamic codes the txid lives in the served payload; "***" is the Banco Central's
    // placeholder meaning "no reference label here".
    let mut additional = String::with_capacity(7);
    push_tlv(&mut additional, SUB_REFERENCE_LABEL, "***")?;

    let mut out = String::with_capacity(256);
    push_tlv(&mut out, ID_PAYLOAD_FORMAT, "01")?;
    // "12": the code may be used only once (dynamic).
    push_tlv(&mut out, ID_POINT_OF_INITIATION, "12")?;
    push_tlv(&mut out, ID_PIX_TEMPLATE, &pix_template)?;
    // MCC 0000 ("not informed"), currency 986 (BRL, ISO 4217), country BR.
    push_tlv(&mut out, ID_MCC, "0000")?;
    push_tlv(&mut out, ID_CURRENCY, "986")?;
    push_tlv(&mut out, ID_COUNTRY, "BR")?;
    push_tlv(&mut out, ID_MERCHANT_NAME, code.merchant_name)?;
    push_tlv(&mut out, ID_MERCHANT_CITY, code.merchant_city)?;
    push_tlv(&mut out, ID_ADDITIONAL_DATA, &additional)?;
    // The CRC covers everything before its value, including its own id and length.
    out.push_str(ID_CRC);
    out.push_str("04");
    let crc = crc16_ccitt_false(out.as_bytes());
    out.push_str(&format!("{crc:04X}"));

    // Unreachable with the per-field limits above (the longest code is ~200 characters), but
    // cheap, and it keeps the 512 limit true if fields are added later.
    if out.len() > MAX_CODE_LEN {
        return Err(BrCodeError::CodeTooLong);
    }
    Ok(out)
}

/// Makes a merchant name fit field 59: transliterated to ASCII, uppercased, control characters
/// dropped, whitespace runs collapsed, trimmed, at most 25 characters. May return `""`;
/// [`build_dynamic`] then rejects it, so the caller decides what to show instead.
pub fn sanitize_merchant_name(s: &str) -> String {
    sanitize(s, MAX_MERCHANT_NAME_LEN)
}

/// Like [`sanitize_merchant_name`], for field 60 (at most 15 characters).
pub fn sanitize_merchant_city(s: &str) -> String {
    sanitize(s, MAX_MERCHANT_CITY_LEN)
}

fn sanitize(s: &str, max: usize) -> String {
    // Accents are common in Brazilian names ("São Paulo", "Padaria Conceição") but many wallets
    // render non-ASCII in a BR Code badly or reject it, and EMV lengths count characters of
    // the ASCII "ans" set. Unknown characters are dropped rather than replaced by "[?]".
    let ascii = deunicode::deunicode_with_tofu(s, "");
    let mut out = String::with_capacity(max);
    let mut pending_space = false;
    for c in ascii.chars() {
        if c.is_ascii_whitespace() {
            pending_space = !out.is_empty();
        } else if c.is_ascii_graphic() {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c.to_ascii_uppercase());
        }
        // Anything else (control characters) is dropped.
        if out.len() >= max {
            break;
        }
    }
    // Everything pushed is ASCII, so byte truncation is on a char boundary.
    out.truncate(max);
    out.trim_end().to_owned()
}

fn validate_text(field: &'static str, value: &str, max: usize) -> Result<(), BrCodeError> {
    if value.trim().is_empty() {
        return Err(BrCodeError::Empty { field });
    }
    if !value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        return Err(BrCodeError::NotPrintableAscii { field });
    }
    if value.len() > max {
        return Err(BrCodeError::TooLong { field, max });
    }
    Ok(())
}

fn validate_location(location: &str) -> Result<(), BrCodeError> {
    const FIELD: &str = "location";
    if location.is_empty() {
        return Err(BrCodeError::Empty { field: FIELD });
    }
    if location.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err(BrCodeError::LocationWhitespace);
    }
    if !location.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BrCodeError::NotPrintableAscii { field: FIELD });
    }
    if location.len() > MAX_LOCATION_LEN {
        return Err(BrCodeError::TooLong {
            field: FIELD,
            max: MAX_LOCATION_LEN,
        });
    }
    // The payer's bank prepends "https://"; a scheme here would produce "https://https://…".
    if location.contains("://") {
        return Err(BrCodeError::LocationHasScheme);
    }
    Ok(())
}

fn push_tlv(out: &mut String, id: &'static str, value: &str) -> Result<(), BrCodeError> {
    // Two decimal digits of length: 99 is the hard ceiling of the format.
    if value.len() > 99 {
        return Err(BrCodeError::TooLong { field: id, max: 99 });
    }
    out.push_str(id);
    out.push_str(&format!("{:02}", value.len()));
    out.push_str(value);
    Ok(())
}

/// A structurally valid BR Code, split into its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedBrCode {
    /// Top-level fields, in order, as (id, raw value). Template values are kept raw here.
    pub fields: Vec<(String, String)>,
    /// The sub-fields of every template field (26–51, 62, 64, 80–99), in order of appearance.
    pub templates: Vec<(String, Vec<(String, String)>)>,
}

/// Ids whose value is itself a TLV sequence: merchant account information (26–51), additional
/// data (62), merchant information in an alternate language (64) and unreserved templates
/// (80–99).
fn is_template_id(id: &str) -> bool {
    match id.parse::<u8>() {
        Ok(n) => matches!(n, 26..=51 | 62 | 64 | 80..=99),
        Err(_) => false,
    }
}

struct Tlv<'a> {
    id: &'a str,
    value: &'a str,
    position: usize,
}

/// Splits `s` into TLVs. `base` is the offset of `s` in the whole code, for error positions.
fn split_tlvs(s: &str, base: usize) -> Result<Vec<Tlv<'_>>, BrCodeError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let malformed = BrCodeError::Malformed { position: base + i };
        let (Some(id), Some(len)) = (s.get(i..i + 2), s.get(i + 2..i + 4)) else {
            return Err(malformed);
        };
        if !id.bytes().all(|b| b.is_ascii_digit()) || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed);
        }
        let len: usize = len.parse().map_err(|_| malformed.clone())?;
        // EMV lengths are 01..99: an empty field should be omitted, not sent as length 00.
        if len == 0 {
            return Err(malformed);
        }
        let start = i + 4;
        let Some(value) = s.get(start..start + len) else {
            return Err(malformed);
        };
        out.push(Tlv {
            id,
            value,
            position: base + i,
        });
        i = start + len;
    }
    Ok(out)
}

fn reject_duplicates(tlvs: &[Tlv], prefix: &str) -> Result<(), BrCodeError> {
    for (n, tlv) in tlvs.iter().enumerate() {
        if tlvs.iter().take(n).any(|earlier| earlier.id == tlv.id) {
            return Err(BrCodeError::DuplicateField {
                id: format!("{prefix}{}", tlv.id),
            });
        }
    }
    Ok(())
}

/// Parses and verifies a BR Code: printable ASCII, at most 512 characters, a well-formed TLV
/// structure (templates included), no duplicate ids, payload format indicator `000201` first
/// and a correct CRC in field 63, last. PIX-specific meaning (GUI, location, currency…) is left
/// to the getters and the caller.
pub fn parse(code: &str) -> Result<ParsedBrCode, BrCodeError> {
    if code.len() > MAX_CODE_LEN {
        return Err(BrCodeError::CodeTooLong);
    }
    // Copy-and-paste codes arrive from providers and users; EMV's "ans" set is printable ASCII,
    // and allowing anything else would make "length" ambiguous (bytes or characters?).
    if !code.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        return Err(BrCodeError::NotPrintableAscii { field: "code" });
    }

    // The CRC is checked first and by position, so that any corruption of the body is reported
    // as what it most likely is — a damaged code — rather than as whatever structural oddity the
    // damage happens to produce.
    let crc_start = code
        .len()
        .checked_sub(CRC_FIELD_LEN)
        .ok_or(BrCodeError::MissingCrc)?;
    let (Some(covered), Some(found)) = (code.get(..crc_start + 4), code.get(crc_start + 4..))
    else {
        return Err(BrCodeError::MissingCrc);
    };
    let crc_header_ok = covered.ends_with("6304");
    let crc_value_ok = found
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
    if !crc_header_ok || !crc_value_ok {
        return Err(BrCodeError::MissingCrc);
    }
    let computed = format!("{:04X}", crc16_ccitt_false(covered.as_bytes()));
    if computed != found {
        return Err(BrCodeError::CrcMismatch {
            computed,
            found: found.to_owned(),
        });
    }

    let tlvs = split_tlvs(code, 0)?;
    match tlvs.first() {
        Some(first) if first.id == ID_PAYLOAD_FORMAT && first.value == "01" => {}
        _ => return Err(BrCodeError::MissingPayloadFormat),
    }
    // The "6304" found by position must really be the last TLV, not the tail of another value.
    match tlvs.last() {
        Some(last) if last.id == ID_CRC && last.position == crc_start => {}
        _ => return Err(BrCodeError::MissingCrc),
    }
    reject_duplicates(&tlvs, "")?;

    let mut templates = Vec::new();
    for tlv in tlvs.iter().filter(|t| is_template_id(t.id)) {
        let subs = split_tlvs(tlv.value, tlv.position + 4)?;
        reject_duplicates(&subs, &format!("{}.", tlv.id))?;
        templates.push((
            tlv.id.to_owned(),
            subs.into_iter()
                .map(|s| (s.id.to_owned(), s.value.to_owned()))
                .collect(),
        ));
    }

    Ok(ParsedBrCode {
        fields: tlvs
            .into_iter()
            .map(|t| (t.id.to_owned(), t.value.to_owned()))
            .collect(),
        templates,
    })
}

impl ParsedBrCode {
    /// The raw value of top-level field `id`.
    pub fn field(&self, id: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, v)| v.as_str())
    }

    /// The sub-fields of template `id`.
    pub fn template(&self, id: &str) -> Option<&[(String, String)]> {
        self.templates
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, subs)| subs.as_slice())
    }

    /// Sub-field `sub` of template `id`.
    fn subfield(&self, id: &str, sub: &str) -> Option<&str> {
        find_sub(self.template(id)?, sub)
    }

    /// The PIX merchant-account template: the first of 26–51 whose GUI is `br.gov.bcb.pix`.
    /// Usually 26, but EMV lets a code carry several schemes, so it is looked up by GUI.
    /// The GUI is compared case-insensitively: the manual's own examples use `BR.GOV.BCB.PIX`.
    fn pix_template(&self) -> Option<&[(String, String)]> {
        self.templates
            .iter()
            .filter(|(id, _)| matches!(id.parse::<u8>(), Ok(26..=51)))
            .map(|(_, subs)| subs.as_slice())
            .find(|subs| find_sub(subs, SUB_GUI).is_some_and(|g| g.eq_ignore_ascii_case(PIX_GUI)))
    }

    /// Whether the code carries a PIX merchant-account template.
    pub fn is_pix(&self) -> bool {
        self.pix_template().is_some()
    }

    /// The GUI of the PIX template, as written.
    pub fn gui(&self) -> Option<&str> {
        find_sub(self.pix_template()?, SUB_GUI)
    }

    /// The PIX key of a static code (PIX template, sub-field 01).
    pub fn pix_key(&self) -> Option<&str> {
        find_sub(self.pix_template()?, SUB_PIX_KEY)
    }

    /// The payload location of a dynamic code (PIX template, sub-field 25), without scheme.
    pub fn location(&self) -> Option<&str> {
        find_sub(self.pix_template()?, SUB_LOCATION)
    }

    pub fn payload_format_indicator(&self) -> Option<&str> {
        self.field(ID_PAYLOAD_FORMAT)
    }

    /// Field 01: `"12"` for single-use (dynamic) codes, `"11"` for reusable ones.
    pub fn point_of_initiation_method(&self) -> Option<&str> {
        self.field(ID_POINT_OF_INITIATION)
    }

    pub fn merchant_category_code(&self) -> Option<&str> {
        self.field(ID_MCC)
    }

    pub fn currency(&self) -> Option<&str> {
        self.field(ID_CURRENCY)
    }

    /// Field 54, as written (e.g. `"123.45"`). Absent in dynamic codes.
    pub fn amount(&self) -> Option<&str> {
        self.field(ID_AMOUNT)
    }

    pub fn country_code(&self) -> Option<&str> {
        self.field(ID_COUNTRY)
    }

    pub fn merchant_name(&self) -> Option<&str> {
        self.field(ID_MERCHANT_NAME)
    }

    pub fn merchant_city(&self) -> Option<&str> {
        self.field(ID_MERCHANT_CITY)
    }

    /// The reference label (62.05): the txid of a static code, `"***"` in dynamic ones.
    pub fn txid(&self) -> Option<&str> {
        self.subfield(ID_ADDITIONAL_DATA, SUB_REFERENCE_LABEL)
    }

    /// The CRC as written (4 uppercase hex digits); already verified by [`parse`].
    pub fn crc(&self) -> Option<&str> {
        self.field(ID_CRC)
    }
}

fn find_sub<'a>(subs: &'a [(String, String)], sub: &str) -> Option<&'a str> {
    subs.iter().find(|(i, _)| i == sub).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The static example from the public PIX documentation (CRC verified independently).
    const STATIC_EXAMPLE: &str = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D";

    /// The Banco Central manual's fuller example: amount, postal code, a second merchant-account
    /// template, a txid and an unreserved template (80).
    const FULL_EXAMPLE: &str = "00020104141234567890123426580014BR.GOV.BCB.PIX0136123e4567-e12b-12d1-a456-42665544000027300012BR.COM.OUTRO011001234567895204000053039865406123.455802BR5917NOME DO RECEBEDOR6008BRASILIA61087007490062190515RP12345678-201980390012BR.COM.OUTRO01190123.ABCD.3456.WXYZ6304AD38";

    const LOCATION: &str = "127.0.0.1:3000/pix/v2/loc/0f3c2a9e-7b1d-4c55-9e0a-3f6b2d8c1a47";

    /// Independent bitwise CRC-16/CCITT-FALSE, to cross-check the table-driven `crc` crate.
    fn bitwise_crc(data: &[u8]) -> u16 {
        let mut crc: u16 = 0xFFFF;
        for &byte in data {
            crc ^= u16::from(byte) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    fn sample() -> String {
        build_dynamic(&DynamicBrCode {
            location: LOCATION,
            merchant_name: "LOJA EXEMPLO LTDA",
            merchant_city: "SAO PAULO",
        })
        .unwrap()
    }

    #[test]
    fn crc_known_answer() {
        assert_eq!(crc16_ccitt_false(b"123456789"), 0x29B1);
        assert_eq!(bitwise_crc(b"123456789"), 0x29B1);
        assert_eq!(crc16_ccitt_false(b""), 0xFFFF);
    }

    #[test]
    fn crc_matches_bitwise_on_examples() {
        for code in [STATIC_EXAMPLE, FULL_EXAMPLE, &sample()] {
            let body = &code.as_bytes()[..code.len() - 4];
            assert_eq!(crc16_ccitt_false(body), bitwise_crc(body));
            assert_eq!(format!("{:04X}", bitwise_crc(body)), code[code.len() - 4..]);
        }
    }

    #[test]
    fn parses_the_public_static_example() {
        let p = parse(STATIC_EXAMPLE).unwrap();
        assert!(p.is_pix());
        assert_eq!(p.payload_format_indicator(), Some("01"));
        assert_eq!(p.point_of_initiation_method(), None);
        assert_eq!(p.gui(), Some("br.gov.bcb.pix"));
        assert_eq!(p.pix_key(), Some("123e4567-e12b-12d1-a456-426655440000"));
        assert_eq!(p.location(), None);
        assert_eq!(p.merchant_category_code(), Some("0000"));
        assert_eq!(p.currency(), Some("986"));
        assert_eq!(p.amount(), None);
        assert_eq!(p.country_code(), Some("BR"));
        assert_eq!(p.merchant_name(), Some("Fulano de Tal"));
        assert_eq!(p.merchant_city(), Some("BRASILIA"));
        assert_eq!(p.txid(), Some("***"));
        assert_eq!(p.crc(), Some("1D3D"));
        let ids: Vec<&str> = p.fields.iter().map(|(i, _)| i.as_str()).collect();
        assert_eq!(ids, ["00", "26", "52", "53", "58", "59", "60", "62", "63"]);
    }

    #[test]
    fn parses_the_full_manual_example() {
        let p = parse(FULL_EXAMPLE).unwrap();
        assert_eq!(p.gui(), Some("BR.GOV.BCB.PIX"));
        assert_eq!(p.pix_key(), Some("123e4567-e12b-12d1-a456-426655440000"));
        assert_eq!(p.field("04"), Some("12345678901234"));
        assert_eq!(p.subfield("27", "00"), Some("BR.COM.OUTRO"));
        assert_eq!(p.amount(), Some("123.45"));
        assert_eq!(p.field("61"), Some("70074900"));
        assert_eq!(p.txid(), Some("RP12345678-2019"));
        assert_eq!(p.subfield("80", "01"), Some("0123.ABCD.3456.WXYZ"));
        assert_eq!(p.merchant_name(), Some("NOME DO RECEBEDOR"));
    }

    #[test]
    fn builds_the_exact_expected_layout() {
        let code = build_dynamic(&DynamicBrCode {
            location: "pix.example.com/qr/v2/9d36b84f",
            merchant_name: "FULANO DE TAL",
            merchant_city: "BRASILIA",
        })
        .unwrap();
        let body = concat!(
            "000201",
            "010212",
            "2652",
            "0014br.gov.bcb.pix",
            "2530pix.example.com/qr/v2/9d36b84f",
            "52040000",
            "5303986",
            "5802BR",
            "5913FULANO DE TAL",
            "6008BRASILIA",
            "62070503***",
            "6304",
        );
        assert_eq!(&code[..code.len() - 4], body);
        assert_eq!(
            &code[code.len() - 4..],
            format!("{:04X}", bitwise_crc(body.as_bytes()))
        );
        let p = parse(&code).unwrap();
        let ids: Vec<&str> = p.fields.iter().map(|(i, _)| i.as_str()).collect();
        // No amount (54): it lives in the payload served at the location.
        assert_eq!(
            ids,
            ["00", "01", "26", "52", "53", "58", "59", "60", "62", "63"]
        );
    }

    #[test]
    fn round_trip() {
        let code = sample();
        let p = parse(&code).unwrap();
        assert_eq!(p.location(), Some(LOCATION));
        assert_eq!(p.merchant_name(), Some("LOJA EXEMPLO LTDA"));
        assert_eq!(p.merchant_city(), Some("SAO PAULO"));
        assert_eq!(p.gui(), Some(PIX_GUI));
        assert_eq!(p.point_of_initiation_method(), Some("12"));
        assert_eq!(p.currency(), Some("986"));
        assert_eq!(p.country_code(), Some("BR"));
        assert_eq!(p.merchant_category_code(), Some("0000"));
        assert_eq!(p.txid(), Some("***"));
        assert_eq!(p.amount(), None);
        assert_eq!(p.pix_key(), None);
        assert_eq!(p.crc(), Some(&code[code.len() - 4..]));
    }

    #[test]
    fn maximal_inputs_fit() {
        let location = format!("h/{}", "x".repeat(MAX_LOCATION_LEN - 2));
        let name = "N".repeat(MAX_MERCHANT_NAME_LEN);
        let city = "C".repeat(MAX_MERCHANT_CITY_LEN);
        let code = build_dynamic(&DynamicBrCode {
            location: &location,
            merchant_name: &name,
            merchant_city: &city,
        })
        .unwrap();
        // The PIX template is exactly 99 characters long.
        assert!(code.contains("26990014br.gov.bcb.pix2577h/"));
        assert!(code.len() <= MAX_CODE_LEN);
        let p = parse(&code).unwrap();
        assert_eq!(p.location(), Some(location.as_str()));
    }

    #[test]
    fn build_rejects_bad_inputs() {
        let ok = DynamicBrCode {
            location: LOCATION,
            merchant_name: "LOJA",
            merchant_city: "RIO",
        };
        let long_loc = "x".repeat(MAX_LOCATION_LEN + 1);
        let cases: Vec<(DynamicBrCode, BrCodeError)> = vec![
            (
                DynamicBrCode { location: "", ..ok },
                BrCodeError::Empty { field: "location" },
            ),
            (
                DynamicBrCode {
                    location: &long_loc,
                    ..ok
                },
                BrCodeError::TooLong {
                    field: "location",
                    max: 77,
                },
            ),
            (
                DynamicBrCode {
                    location: "https://pix.example.com/loc/1",
                    ..ok
                },
                BrCodeError::LocationHasScheme,
            ),
            (
                DynamicBrCode {
                    location: "pix.example.com/loc /1",
                    ..ok
                },
                BrCodeError::LocationWhitespace,
            ),
            (
                DynamicBrCode {
                    location: "pix.exámple.com/loc/1",
                    ..ok
                },
                BrCodeError::NotPrintableAscii { field: "location" },
            ),
            (
                DynamicBrCode {
                    merchant_name: "",
                    ..ok
                },
                BrCodeError::Empty {
                    field: "merchant_name",
                },
            ),
            (
                DynamicBrCode {
                    merchant_name: "   ",
                    ..ok
                },
                BrCodeError::Empty {
                    field: "merchant_name",
                },
            ),
            (
                DynamicBrCode {
                    merchant_name: "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                    ..ok
                },
                BrCodeError::TooLong {
                    field: "merchant_name",
                    max: 25,
                },
            ),
            (
                DynamicBrCode {
                    merchant_name: "JOÃO",
                    ..ok
                },
                BrCodeError::NotPrintableAscii {
                    field: "merchant_name",
                },
            ),
            (
                DynamicBrCode {
                    merchant_name: "A\tB",
                    ..ok
                },
                BrCodeError::NotPrintableAscii {
                    field: "merchant_name",
                },
            ),
            (
                DynamicBrCode {
                    merchant_city: "",
                    ..ok
                },
                BrCodeError::Empty {
                    field: "merchant_city",
                },
            ),
            (
                DynamicBrCode {
                    merchant_city: "SAO JOSE DOS CAMPOS",
                    ..ok
                },
                BrCodeError::TooLong {
                    field: "merchant_city",
                    max: 15,
                },
            ),
            (
                DynamicBrCode {
                    merchant_city: "SÃO PAULO",
                    ..ok
                },
                BrCodeError::NotPrintableAscii {
                    field: "merchant_city",
                },
            ),
        ];
        assert!(build_dynamic(&ok).is_ok());
        for (input, expected) in cases {
            assert_eq!(build_dynamic(&input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn sanitize_examples() {
        assert_eq!(
            sanitize_merchant_name("Padaria Conceição"),
            "PADARIA CONCEICAO"
        );
        assert_eq!(
            sanitize_merchant_name("  Padaria São João & Filhos Ltda ME  "),
            "PADARIA SAO JOAO & FILHOS"
        );
        assert_eq!(sanitize_merchant_name("a\t\tb\n c"), "A B C");
        assert_eq!(sanitize_merchant_name("Straße"), "STRASSE");
        assert_eq!(sanitize_merchant_name("\u{0}\u{7}x\u{1b}"), "X");
        assert_eq!(sanitize_merchant_name(""), "");
        assert_eq!(sanitize_merchant_name("   \t "), "");
        // Truncation never leaves a trailing space.
        assert_eq!(
            sanitize_merchant_name("ABCDEFGHIJKLMNOPQRSTUVWX YZ"),
            "ABCDEFGHIJKLMNOPQRSTUVWX"
        );
        assert_eq!(sanitize_merchant_city("São Paulo"), "SAO PAULO");
        assert_eq!(
            sanitize_merchant_city("São José dos Campos"),
            "SAO JOSE DOS CA"
        );
        assert_eq!(sanitize_merchant_city("Brasília"), "BRASILIA");
        assert_eq!(sanitize_merchant_city("Itaú"), "ITAU");
    }

    #[test]
    fn sanitized_values_are_accepted_by_build() {
        for raw in [
            "Padaria Conceição",
            "Ñandú & Cía.",
            "東京",
            "😀 Lojinha 😀",
            "x",
        ] {
            let name = sanitize_merchant_name(raw);
            let city = sanitize_merchant_city(raw);
            if name.is_empty() {
                continue;
            }
            let code = build_dynamic(&DynamicBrCode {
                location: LOCATION,
                merchant_name: &name,
                merchant_city: &city,
            })
            .unwrap();
            assert_eq!(parse(&code).unwrap().merchant_name(), Some(name.as_str()));
        }
    }

    #[test]
    fn parse_rejects_bad_codes() {
        let code = sample();
        assert_eq!(parse(""), Err(BrCodeError::MissingCrc));
        assert_eq!(parse("6304"), Err(BrCodeError::MissingCrc));
        assert_eq!(parse(&"0".repeat(513)), Err(BrCodeError::CodeTooLong));
        assert_eq!(
            parse(&format!("{code}\n")),
            Err(BrCodeError::NotPrintableAscii { field: "code" })
        );
        assert_eq!(
            parse(&code.replace("SAO", "SÃO")),
            Err(BrCodeError::NotPrintableAscii { field: "code" })
        );
        // Lowercase CRC digits are not the Banco Central's format.
        let lower = format!(
            "{}{}",
            &code[..code.len() - 4],
            code[code.len() - 4..].to_lowercase()
        );
        if lower != code {
            assert_eq!(parse(&lower), Err(BrCodeError::MissingCrc));
        }
        // CRC field not last.
        assert_eq!(parse(&format!("{code}00")), Err(BrCodeError::MissingCrc));
        // Wrong CRC.
        let wrong = format!("{}0000", &code[..code.len() - 4]);
        if wrong != code {
            assert!(matches!(
                parse(&wrong),
                Err(BrCodeError::CrcMismatch { .. })
            ));
        }
    }

    /// Appends a correct CRC to `body` (which must end before "6304").
    fn with_crc(body: &str) -> String {
        let covered = format!("{body}6304");
        format!("{covered}{:04X}", bitwise_crc(covered.as_bytes()))
    }

    #[test]
    fn parse_checks_structure_behind_a_valid_crc() {
        // Missing payload format indicator.
        assert_eq!(
            parse(&with_crc("5802BR")),
            Err(BrCodeError::MissingPayloadFormat)
        );
        assert_eq!(
            parse(&with_crc("0002025802BR")),
            Err(BrCodeError::MissingPayloadFormat)
        );
        // Truncated value.
        assert_eq!(
            parse(&with_crc("0002015830BR")),
            Err(BrCodeError::Malformed { position: 6 })
        );
        // Non-digit id / length.
        assert_eq!(
            parse(&with_crc("000201A802BR")),
            Err(BrCodeError::Malformed { position: 6 })
        );
        assert_eq!(
            parse(&with_crc("00020158X2BR")),
            Err(BrCodeError::Malformed { position: 6 })
        );
        // Zero length.
        assert_eq!(
            parse(&with_crc("0002015800")),
            Err(BrCodeError::Malformed { position: 6 })
        );
        // Duplicate top-level field.
        assert_eq!(
            parse(&with_crc("0002015802BR5802BR")),
            Err(BrCodeError::DuplicateField { id: "58".into() })
        );
        // Broken template: 26 claims to hold a sub-field longer than itself.
        assert_eq!(
            parse(&with_crc("00020126060099AB")),
            Err(BrCodeError::Malformed { position: 10 })
        );
        // Duplicate sub-field.
        assert_eq!(
            parse(&with_crc("00020126100001X0001Y")),
            Err(BrCodeError::DuplicateField { id: "26.00".into() })
        );
        // A "6304" that is the tail of another field's value, not a TLV of its own.
        let sneaky = with_crc("0002015910AB");
        assert_eq!(parse(&sneaky), Err(BrCodeError::MissingCrc));
        // Minimal structurally valid code.
        let minimal = parse(&with_crc("000201")).unwrap();
        assert_eq!(minimal.fields.len(), 2);
        assert!(!minimal.is_pix());
        assert_eq!(minimal.location(), None);
    }

    #[test]
    fn errors_display_short_english() {
        assert_eq!(
            BrCodeError::TooLong {
                field: "merchant_city",
                max: 15
            }
            .to_string(),
            "merchant_city must be at most 15 characters"
        );
        assert_eq!(
            BrCodeError::CrcMismatch {
                computed: "ABCD".into(),
                found: "0000".into()
            }
            .to_string(),
            "CRC mismatch: computed ABCD, found 0000"
        );
    }

    // --- Independent cross-check with the `brcode` crate (naomijub) ------------------------

    #[test]
    fn brcode_crate_reads_our_codes() {
        let code = sample();
        let theirs = ::brcode::str_to_brcode(&code);
        assert!(theirs.is_pix());
        assert_eq!(theirs.payload_version, 1);
        assert_eq!(theirs.initiation_method, Some(12));
        assert_eq!(theirs.merchant_name, "LOJA EXEMPLO LTDA");
        assert_eq!(theirs.merchant_city, "SAO PAULO");
        assert_eq!(theirs.currency, "986");
        assert_eq!(theirs.country_code, "BR");
        assert_eq!(theirs.merchant_category_code, 0);
        assert_eq!(theirs.amount, None);
        assert_eq!(theirs.get_transaction_id().as_deref(), Some("***"));
        assert_eq!(theirs.crc1610, code[code.len() - 4..]);
        let pix = theirs
            .merchant_information
            .iter()
            .find(|m| m.id == 26)
            .expect("template 26");
        let sub = |id: usize| pix.info.iter().find(|i| i.id == id).map(|i| i.info.clone());
        assert_eq!(sub(0).as_deref(), Some(PIX_GUI));
        assert_eq!(sub(25).as_deref(), Some(LOCATION));
        // Their CRC (bitwise, string-based) agrees.
        assert_eq!(
            ::brcode::crc16_ccitt(&code[..code.len() - 4]),
            code[code.len() - 4..]
        );
        // Their emitter, fed what their parser read, reproduces our code byte for byte: same
        // field order, lengths and CRC.
        assert_eq!(theirs.encode(), code);
    }

    proptest! {
        #[test]
        fn crc_agrees_with_bitwise(data in prop::collection::vec(any::<u8>(), 0..600)) {
            prop_assert_eq!(crc16_ccitt_false(&data), bitwise_crc(&data));
        }

        #[test]
        fn build_parse_round_trip_and_brcode_crate_agrees(
            location in "[!-~]{1,77}",
            name in "[A-Z0-9][ -~]{0,23}[A-Z0-9]",
            city in "[A-Z][A-Z ]{0,13}[A-Z]",
        ) {
            prop_assume!(!location.contains("://"));
            let code = build_dynamic(&DynamicBrCode {
                location: &location,
                merchant_name: &name,
                merchant_city: &city,
            }).unwrap();
            prop_assert!(code.len() <= MAX_CODE_LEN);
            let p = parse(&code).unwrap();
            prop_assert_eq!(p.location(), Some(location.as_str()));
            prop_assert_eq!(p.merchant_name(), Some(name.as_str()));
            prop_assert_eq!(p.merchant_city(), Some(city.as_str()));
            prop_assert_eq!(p.gui(), Some(PIX_GUI));

            let theirs = ::brcode::str_to_brcode(&code);
            prop_assert_eq!(&theirs.merchant_name, &name);
            prop_assert_eq!(&theirs.merchant_city, &city);
            let pix = theirs.merchant_information.iter().find(|m| m.id == 26);
            prop_assert!(pix.is_some());
            let info = pix.map(|m| m.info.clone()).unwrap_or_default();
            let gui = info.iter().find(|i| i.id == 0).map(|i| i.info.as_str());
            let loc = info.iter().find(|i| i.id == 25).map(|i| i.info.as_str());
            prop_assert_eq!(gui, Some(PIX_GUI));
            prop_assert_eq!(loc, Some(location.as_str()));
            prop_assert_eq!(theirs.encode(), code);
        }

        /// CRC-16 detects every error confined to 16 consecutive bits, so replacing any single
        /// character of the covered part is always caught — and reported as a CRC mismatch,
        /// because the CRC is checked before the structure.
        #[test]
        fn single_char_corruption_is_a_crc_mismatch(pos in 0usize..1000, c in "[ -~]") {
            let code = sample();
            let covered = code.len() - 4;
            let pos = pos % covered;
            let c = c.as_bytes()[0];
            prop_assume!(code.as_bytes()[pos] != c);
            let mut bytes = code.clone().into_bytes();
            bytes[pos] = c;
            let corrupted = String::from_utf8(bytes).unwrap();
            if pos + 4 >= covered {
                // The "6304" itself: no CRC field any more.
                prop_assert_eq!(parse(&corrupted), Err(BrCodeError::MissingCrc));
            } else {
                let is_mismatch = matches!(parse(&corrupted), Err(BrCodeError::CrcMismatch { .. }));
                prop_assert!(is_mismatch);
            }
        }

        /// Any change anywhere (CRC digits included, any character) is rejected.
        #[test]
        fn any_single_char_change_is_rejected(pos in 0usize..1000, c in any::<char>()) {
            let code = sample();
            let idx = pos % code.len();
            let mut chars: Vec<char> = code.chars().collect();
            prop_assume!(chars[idx] != c);
            chars[idx] = c;
            let corrupted: String = chars.into_iter().collect();
            prop_assert!(parse(&corrupted).is_err());
        }

        #[test]
        fn sanitize_output_is_always_buildable(s in "\\PC{0,60}") {
            let name = sanitize_merchant_name(&s);
            let city = sanitize_merchant_city(&s);
            prop_assert!(name.len() <= MAX_MERCHANT_NAME_LEN);
            prop_assert!(city.len() <= MAX_MERCHANT_CITY_LEN);
            for v in [&name, &city] {
                prop_assert!(v.bytes().all(|b| b == b' ' || b.is_ascii_graphic()));
                prop_assert_eq!(v.trim(), v.as_str());
                prop_assert!(!v.contains("  "));
                prop_assert_eq!(v.to_ascii_uppercase(), v.to_string());
            }
            let built = build_dynamic(&DynamicBrCode {
                location: LOCATION,
                merchant_name: &name,
                merchant_city: &city,
            });
            if name.is_empty() || city.is_empty() {
                let is_empty_error = matches!(built, Err(BrCodeError::Empty { .. }));
                prop_assert!(is_empty_error);
            } else {
                prop_assert!(built.is_ok());
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn parse_never_panics_on_near_codes(s in "[0-9A-Za-z. *]{0,120}") {
            let _ = parse(&with_crc(&s));
        }
    }
}
