//! Personal data the domain must hold in full (names, PIX keys, bank branches and accounts):
//! [`Pii`] prints masked under `{:?}`, so a struct holding it is as safe to log as one holding
//! a [`TaxDocument`](crate::pix::document::TaxDocument); its serialised form is the bare
//! string, so API bodies and stored records do not change.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// A piece of personal data (LGPD) kept as text.
///
/// Like `TaxDocument`, there is intentionally no `Display`: writing the value somewhere takes
/// an explicit [`Pii::as_str`] (or a deref to `&str`), never a stray `{}` or `{:?}`.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pii(String);

impl Pii {
    pub fn new(value: impl Into<String>) -> Pii {
        Pii(value.into())
    }

    /// The full value, for the places that really need it (an API body, a record, a PSP call).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// A form safe for logs: the first character and a fixed-width mask, so neither the value
    /// nor its length shows (`"Maria Silva"` → `M***`; empty stays empty).
    pub fn masked(&self) -> String {
        match self.0.chars().next() {
            Some(first) => format!("{first}***"),
            None => String::new(),
        }
    }
}

/// Masked, so `{:?}` of any struct holding personal data is safe to log.
impl fmt::Debug for Pii {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pii({})", self.masked())
    }
}

/// Reads as the text it holds (`&pii` where a `&str` is expected, `pii.len()`), so only
/// printing needs to be explicit.
impl Deref for Pii {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for Pii {
    fn from(value: String) -> Pii {
        Pii(value)
    }
}

impl From<&str> for Pii {
    fn from(value: &str) -> Pii {
        Pii(value.to_owned())
    }
}

impl From<Pii> for String {
    fn from(value: Pii) -> String {
        value.0
    }
}

impl PartialEq<str> for Pii {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Pii {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Pii {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_the_value_and_its_length() {
        let name = Pii::new("Maria da Silva");
        assert_eq!(format!("{name:?}"), "Pii(M***)");
        assert_eq!(format!("{:?}", Pii::new("M")), "Pii(M***)");
        assert_eq!(format!("{:?}", Pii::new("")), "Pii()");
        // Multi-byte first characters are kept whole.
        assert_eq!(Pii::new("Ângela").masked(), "Â***");
        assert_eq!(name.as_str(), "Maria da Silva");
    }

    #[test]
    fn serialises_as_the_bare_string_and_round_trips() {
        for text in [
            "Maria da Silva",
            "",
            "joão+pix@example.com",
            "0001",
            "\"quoted\\\"",
        ] {
            let pii = Pii::new(text);
            let json = serde_json::to_string(&pii).unwrap();
            assert_eq!(json, serde_json::to_string(text).unwrap());
            assert_eq!(serde_json::from_str::<Pii>(&json).unwrap(), pii);
        }
        let optional: Option<Pii> = serde_json::from_str("null").unwrap();
        assert_eq!(optional, None);
    }
}
