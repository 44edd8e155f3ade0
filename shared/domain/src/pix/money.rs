//! Money: Brazilian reais with exactly two decimal places.
//!
//! Rules, written down once:
//! - An amount is a [`Decimal`] with scale 2. Inputs with more than two significant decimal
//!   places are *rejected*, never rounded (`49.999` is an error, `49.900` is `49.90`).
//! - Storage keeps integer centavos (`i64`), so conditions and atomic `ADD`s are exact.
//! - The only rounding anywhere is in split shares: a percentage share is rounded DOWN to the
//!   cent (see [`crate::split`]); the account keeps the dust.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

/// The largest amount a single charge or split may carry: R$ 100,000,000.00.
///
/// PIX itself has no protocol limit; ours keeps every product of amounts and percentages far
/// inside `i64` centavos and stops typos like `1e12` from becoming real charges.
pub const MAX_AMOUNT_CENTS: i64 = 10_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("has more than 2 decimal places")]
    TooManyDecimals,
    #[error("is out of range")]
    OutOfRange,
    #[error("is not a number")]
    NotANumber,
}

/// An amount in BRL, always at scale 2. May be negative only where a ledger needs it;
/// API inputs are checked for their own minimums by the validators.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_cents(cents: i64) -> Money {
        Money(cents)
    }

    pub const fn cents(self) -> i64 {
        self.0
    }

    /// Converts a decimal with at most two significant decimal places.
    pub fn from_decimal(value: Decimal) -> Result<Money, MoneyError> {
        let normalized = value.normalize();
        if normalized.scale() > 2 {
            return Err(MoneyError::TooManyDecimals);
        }
        // Checked: near Decimal's limits (~7.9e28) the multiplication itself would overflow.
        let cents = normalized
            .checked_mul(Decimal::ONE_HUNDRED)
            .ok_or(MoneyError::OutOfRange)?;
        i64::try_from(cents)
            .map(Money)
            .map_err(|_| MoneyError::OutOfRange)
    }

    /// Parses the decimal text of a JSON number (`"49.90"`, `"1e2"`).
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        Money::from_decimal(parse_decimal(text)?)
    }

    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 2)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }
}

/// Parses the text of a JSON number exactly, scientific notation included.
pub fn parse_decimal(text: &str) -> Result<Decimal, MoneyError> {
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).map_err(|_| MoneyError::OutOfRange)
    } else {
        Decimal::from_str(text).map_err(|_| MoneyError::OutOfRange)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_decimal())
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "R${}", self.to_decimal())
    }
}

/// Serialises as a JSON *number* with exactly two decimals (`49.90`), never through `f64`.
impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_decimal_2dp(&self.to_decimal(), serializer)
    }
}

/// Writes a decimal as a JSON number with two decimal places.
pub fn serialize_decimal_2dp<S: Serializer>(
    value: &Decimal,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let text = format!("{value:.2}");
    match serde_json::Number::from_str(&text) {
        Ok(number) => number.serialize(serializer),
        Err(_) => serializer.serialize_str(&text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_up_to_two_decimals_and_trailing_zeros() {
        assert_eq!(Money::parse("49.90").unwrap().cents(), 4990);
        assert_eq!(Money::parse("49.900").unwrap().cents(), 4990);
        assert_eq!(Money::parse("15750").unwrap().cents(), 1_575_000);
        assert_eq!(Money::parse("1e2").unwrap().cents(), 10_000);
        assert_eq!(Money::parse("0.01").unwrap().cents(), 1);
    }

    #[test]
    fn rejects_more_than_two_decimals_instead_of_rounding() {
        assert_eq!(Money::parse("49.999"), Err(MoneyError::TooManyDecimals));
        assert_eq!(Money::parse("0.001"), Err(MoneyError::TooManyDecimals));
        assert_eq!(
            Money::parse("1.0000000000000000001"),
            Err(MoneyError::TooManyDecimals)
        );
    }

    #[test]
    fn huge_numbers_are_errors_not_panics() {
        assert!(Money::parse("1e400").is_err());
        assert!(Money::parse("99999999999999999999999999999999").is_err());
    }

    #[test]
    fn serialises_as_number_with_two_decimals() {
        let json = serde_json::to_string(&Money::from_cents(4990)).unwrap();
        assert_eq!(json, "49.90");
        let json = serde_json::to_string(&Money::from_cents(1_575_000)).unwrap();
        assert_eq!(json, "15750.00");
    }

    proptest! {
        #[test]
        fn cents_round_trip_through_text(cents in 0i64..MAX_AMOUNT_CENTS) {
            let money = Money::from_cents(cents);
            prop_assert_eq!(Money::parse(&money.to_string()).unwrap(), money);
            let json = serde_json::to_string(&money).unwrap();
            prop_assert_eq!(Money::parse(&json).unwrap(), money);
        }
    }

    #[test]
    fn amounts_at_the_edge_of_decimal_are_out_of_range_not_a_panic() {
        for text in ["79228162514264337593543950335", "-7e28", "7.9e28"] {
            assert_eq!(Money::parse(text), Err(MoneyError::OutOfRange), "{text}");
        }
    }
}
