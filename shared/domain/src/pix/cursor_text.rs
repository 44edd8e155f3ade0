//! The text of listing cursors (`nextCursor`, `nextSplitsCursor`): a position in a listing,
//! written as `.`-separated fields, each in a form a regular expression describes exactly.
//!
//! So a cursor's OpenAPI `pattern` is its whole grammar: every string that matches it reads as
//! a position (one where nothing is stored just starts the page there; the account always
//! comes from the token, never from the cursor), and every string that does not is a 400. A
//! schema-valid request is never refused for its cursor, and a client or fuzzer that builds one
//! from the pattern gets an ordinary page. Cursors stay opaque in the documentation: clients
//! pass back what they were given.
//!
//! Fields use only URL-safe characters (`[0-9a-z._-]`), so a cursor pasted into a URL needs
//! no escaping.

/// A millisecond timestamp field: up to 15 digits either side of the epoch (±31,000 years,
/// inside what `chrono` represents).
pub const MS_PATTERN: &str = "-?[0-9]{1,15}";

const MAX_MS: i64 = 999_999_999_999_999;

/// Writes a millisecond timestamp field. Times beyond ±15 digits (no record has one) are
/// clamped to the bound, which is still the same end of every listing.
pub fn write_ms(ms: i64) -> String {
    ms.clamp(-MAX_MS, MAX_MS).to_string()
}

/// Reads a field matching [`MS_PATTERN`]; `None` for anything else.
pub fn read_ms(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A free-text field (a movement id, a store's own cursor) as lowercase hex of its UTF-8
/// bytes, at most `max_bytes` of them: `(?:[0-9a-f]{2}){1,max_bytes}`.
pub fn write_hex(text: &str) -> String {
    hex::encode(text.as_bytes())
}

/// Reads a field matching `(?:[0-9a-f]{2}){1,max_bytes}`. Bytes that are not UTF-8 become
/// U+FFFD: the text is only ever a position to start from, and every string is one.
pub fn read_hex(field: &str, max_bytes: usize) -> Option<String> {
    let lower = field
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if field.is_empty() || field.len() > 2 * max_bytes || !lower {
        return None;
    }
    let bytes = hex::decode(field).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ms_fields_round_trip_and_refuse_other_text() {
        for ms in [0, 1, -1, 1_705_314_600_123, MAX_MS, -MAX_MS] {
            assert_eq!(read_ms(&write_ms(ms)), Some(ms), "{ms}");
        }
        assert_eq!(read_ms(&write_ms(i64::MAX)), Some(MAX_MS));
        assert_eq!(read_ms(&write_ms(i64::MIN)), Some(-MAX_MS));
        assert_eq!(read_ms("007"), Some(7));
        for bad in ["", "-", "+1", "1e3", " 1", "1234567890123456", "--1", "0x1"] {
            assert_eq!(read_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hex_fields_round_trip_and_read_any_bytes() {
        assert_eq!(
            read_hex(&write_hex("confirm:abc#1"), 200).as_deref(),
            Some("confirm:abc#1")
        );
        assert_eq!(read_hex("ff00", 2).as_deref(), Some("\u{fffd}\0"));
        for bad in ["", "a", "abc", "AB", "zz", "00000000"] {
            assert_eq!(read_hex(bad, 3), None, "{bad:?}");
        }
    }
}
