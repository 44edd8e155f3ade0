//! Marketplace splits: who gets what out of a paid charge.
//!
//! Rounding rule (the only rounding in the system):
//! - FIXED: the share is the split's value, exactly.
//! - PERCENTAGE: the share is `gross × pct / 100` rounded DOWN to the cent, computed in integer
//!   centavos × hundredths of a percent, so it is exact and never exceeds its definition.
//! - The account keeps the remainder `gross − Σ shares`, rounding dust included, so
//!   `Σ shares + remainder = gross` to the cent, always.

pub mod entry;
pub mod ports;
pub mod record;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::pix::document::TaxDocument;
use crate::pix::money::Money;
use crate::pix::pii::Pii;
use crate::pix::pix_key::PixKeyType;

/// At most this many recipients per charge (seed 004).
pub const MAX_SPLITS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SplitKind {
    Fixed,
    Percentage,
}

impl SplitKind {
    pub fn parse(s: &str) -> Option<SplitKind> {
        match s {
            "FIXED" => Some(SplitKind::Fixed),
            "PERCENTAGE" => Some(SplitKind::Percentage),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SplitKind::Fixed => "FIXED",
            SplitKind::Percentage => "PERCENTAGE",
        }
    }
}

/// How a split's value is defined, in exact integer units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SplitValue {
    /// A BRL amount.
    Fixed(Money),
    /// Hundredths of a percent: `7000` = 70.00 %. At most `10_000`.
    Percentage(u32),
}

impl SplitValue {
    pub fn kind(self) -> SplitKind {
        match self {
            SplitValue::Fixed(_) => SplitKind::Fixed,
            SplitValue::Percentage(_) => SplitKind::Percentage,
        }
    }

    /// The value as the merchant wrote it: BRL for FIXED, percent for PERCENTAGE.
    pub fn as_decimal(self) -> Decimal {
        match self {
            SplitValue::Fixed(money) => money.to_decimal(),
            SplitValue::Percentage(hundredths) => Decimal::new(i64::from(hundredths), 2),
        }
    }

    /// This split's share of `gross`, per the rounding rule in the module docs.
    ///
    /// Validated input always fits (amounts ≤ [`MAX_AMOUNT_CENTS`](crate::pix::money::MAX_AMOUNT_CENTS),
    /// percentages ≤ 100 %); a share that does not is refused rather than clamped, since a
    /// clamped share would be a wrong amount of money.
    pub fn share_of(self, gross: Money) -> Result<Money, AmountOutOfRange> {
        match self {
            SplitValue::Fixed(money) => Ok(money),
            SplitValue::Percentage(hundredths) => {
                // i128: an i64 times a u32 cannot overflow it, and integer division of
                // non-negative numbers is the floor we want.
                let cents = i128::from(gross.cents()) * i128::from(hundredths) / 10_000;
                money_from_cents(cents)
            }
        }
    }
}

/// An amount computed from split rules that is beyond what [`Money`] holds (i64 centavos).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{cents} centavos is beyond the largest amount ({max} centavos)", max = i64::MAX)]
pub struct AmountOutOfRange {
    pub cents: i128,
}

fn money_from_cents(cents: i128) -> Result<Money, AmountOutOfRange> {
    i64::try_from(cents)
        .map(Money::from_cents)
        .map_err(|_| AmountOutOfRange { cents })
}

/// One recipient of a split, as the merchant defined it on the charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitRule {
    pub pix_key: Pii,
    pub pix_key_type: PixKeyType,
    pub name: Pii,
    pub document: TaxDocument,
    pub value: SplitValue,
    pub immediate: bool,
}

/// The division of a gross amount among split recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// One share per rule, in the rules' order.
    pub shares: Vec<Money>,
    /// What the account keeps: gross − Σ shares.
    pub remainder: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    #[error("the sum of splits ({total}) exceeds the transaction amount ({gross})")]
    ExceedsGross { total: Money, gross: Money },
    #[error("split {index} would receive less than 0.01 ({share})")]
    ShareTooSmall { index: usize, share: Money },
    /// Out-of-contract rules only (validation bounds amounts and percentages far below this).
    #[error("split {index}'s share: {source}")]
    ShareOutOfRange {
        index: usize,
        source: AmountOutOfRange,
    },
    /// Out-of-contract rules only; the sum is then above the gross as well.
    #[error("the sum of splits: {0}")]
    TotalOutOfRange(AmountOutOfRange),
}

/// Divides `gross` among `values`; errors if any share is below one cent or the shares
/// exceed the gross. Every error is reported, in order: the caller lists them all.
pub fn allocate(gross: Money, values: &[SplitValue]) -> Result<Allocation, Vec<AllocationError>> {
    let mut errors = Vec::new();
    let mut shares = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        match value.share_of(gross) {
            Ok(share) => {
                if share.cents() < 1 {
                    errors.push(AllocationError::ShareTooSmall { index, share });
                }
                shares.push(share);
            }
            Err(source) => errors.push(AllocationError::ShareOutOfRange { index, source }),
        }
    }
    // i128: no realistic number of i64 shares overflows it.
    let total_cents: i128 = shares.iter().map(|s| i128::from(s.cents())).sum();
    if total_cents > i128::from(gross.cents()) {
        errors.push(match money_from_cents(total_cents) {
            Ok(total) => AllocationError::ExceedsGross { total, gross },
            Err(out_of_range) => AllocationError::TotalOutOfRange(out_of_range),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // No error: every share is positive and in range, so every partial sum is at most the
    // total, which is at most the gross: no i64 overflow.
    let total = shares.iter().map(|s| s.cents()).sum::<i64>();
    Ok(Allocation {
        remainder: Money::from_cents(gross.cents() - total),
        shares,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn brl(cents: i64) -> Money {
        Money::from_cents(cents)
    }

    #[test]
    fn seed_004_marketplace_example() {
        let values = [
            SplitValue::Percentage(7000),
            SplitValue::Percentage(2000),
            SplitValue::Fixed(brl(1000)),
        ];
        let allocation = allocate(brl(20000), &values).unwrap();
        assert_eq!(allocation.shares, vec![brl(14000), brl(4000), brl(1000)]);
        assert_eq!(allocation.remainder, brl(1000));
    }

    #[test]
    fn percentage_rounds_down_and_account_keeps_the_dust() {
        // 33.33 % of R$ 0.10 is 3.333 cents → 3 cents; three of them leave 1 cent.
        let values = [SplitValue::Percentage(3333); 3];
        let allocation = allocate(brl(10), &values).unwrap();
        assert_eq!(allocation.shares, vec![brl(3); 3]);
        assert_eq!(allocation.remainder, brl(1));
    }

    #[test]
    fn reports_every_problem() {
        let values = [SplitValue::Percentage(1), SplitValue::Fixed(brl(500))];
        let errors = allocate(brl(100), &values).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(matches!(
            errors[0],
            AllocationError::ShareTooSmall { index: 0, .. }
        ));
        assert!(matches!(errors[1], AllocationError::ExceedsGross { .. }));
    }

    #[test]
    fn exactly_the_gross_is_allowed() {
        let values = [SplitValue::Percentage(10_000)];
        let allocation = allocate(brl(4990), &values).unwrap();
        assert_eq!(allocation.remainder, Money::ZERO);
    }

    #[test]
    fn a_share_beyond_the_largest_amount_is_an_error_not_a_clamp() {
        // 200 % of i64::MAX centavos: out of contract (validation caps both), and once clamped
        // to i64::MAX it was a wrong amount reported as a plain "exceeds the gross".
        let gross = brl(i64::MAX);
        let too_big = SplitValue::Percentage(20_000);
        let expected = AmountOutOfRange {
            cents: i128::from(i64::MAX) * 2,
        };
        assert_eq!(too_big.share_of(gross), Err(expected));
        let errors = allocate(gross, &[SplitValue::Fixed(brl(1)), too_big]).unwrap_err();
        assert_eq!(
            errors,
            vec![AllocationError::ShareOutOfRange {
                index: 1,
                source: expected
            }]
        );
        assert_eq!(
            errors[0].to_string(),
            "split 1's share: 18446744073709551614 centavos is beyond the largest amount \
             (9223372036854775807 centavos)"
        );
    }

    #[test]
    fn a_total_beyond_the_largest_amount_is_an_error_not_a_clamp() {
        let values = [SplitValue::Fixed(brl(i64::MAX)), SplitValue::Fixed(brl(2))];
        let errors = allocate(brl(100), &values).unwrap_err();
        assert_eq!(
            errors,
            vec![AllocationError::TotalOutOfRange(AmountOutOfRange {
                cents: i128::from(i64::MAX) + 2
            })]
        );
        assert!(errors[0].to_string().contains("beyond the largest amount"));
    }

    fn split_value() -> impl Strategy<Value = SplitValue> {
        prop_oneof![
            (1i64..2_000_000).prop_map(|c| SplitValue::Fixed(brl(c))),
            (1u32..=10_000).prop_map(SplitValue::Percentage),
        ]
    }

    proptest! {
        #[test]
        fn shares_plus_remainder_equal_gross(
            gross in 1i64..crate::pix::money::MAX_AMOUNT_CENTS,
            values in proptest::collection::vec(split_value(), 0..=MAX_SPLITS),
        ) {
            let gross = brl(gross);
            match allocate(gross, &values) {
                Ok(allocation) => {
                    let sum: i64 = allocation.shares.iter().map(|s| s.cents()).sum();
                    prop_assert_eq!(sum + allocation.remainder.cents(), gross.cents());
                    prop_assert!(allocation.remainder.cents() >= 0);
                    for (share, value) in allocation.shares.iter().zip(&values) {
                        prop_assert!(share.cents() >= 1);
                        // Never above its own definition: exact for FIXED, ≤ gross×pct for %.
                        match value {
                            SplitValue::Fixed(m) => prop_assert_eq!(share, m),
                            SplitValue::Percentage(h) => {
                                let exact = i128::from(gross.cents()) * i128::from(*h);
                                prop_assert!(i128::from(share.cents()) * 10_000 <= exact);
                                // …and less than one cent below it (rounded down, not more).
                                prop_assert!(exact - i128::from(share.cents()) * 10_000 < 10_000);
                            }
                        }
                    }
                }
                Err(errors) => {
                    prop_assert!(!errors.is_empty());
                    let shares: Vec<Money> =
                        values.iter().map(|v| v.share_of(gross).unwrap()).collect();
                    let sum: i64 = shares.iter().map(|s| s.cents()).sum();
                    prop_assert!(sum > gross.cents() || shares.iter().any(|s| s.cents() < 1));
                }
            }
        }
    }
}
