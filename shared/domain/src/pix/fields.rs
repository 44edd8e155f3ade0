//! The field readers every body validator shares: each reads one property of a JSON object,
//! pushes every problem it finds in the seed-004 wording (`path problem`) and returns the value
//! only when it is valid, so a validator can read all fields and list every failure at once.

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::pix::document::TaxDocument;
use crate::pix::money::{MAX_AMOUNT_CENTS, Money, MoneyError, parse_decimal};

/// Collects error messages while reading fields.
#[derive(Default)]
pub(crate) struct Errors(Vec<String>);

impl Errors {
    pub(crate) fn push(&mut self, path: &str, problem: impl std::fmt::Display) {
        self.0.push(format!("{path} {problem}"));
    }

    /// A message that is not about one path (`property x should not exist`).
    pub(crate) fn raw(&mut self, message: impl Into<String>) {
        self.0.push(message.into());
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn into_vec(self) -> Vec<String> {
        self.0
    }
}

pub(crate) fn reject_unknown(
    object: &Map<String, Value>,
    prefix: &str,
    known: &[&str],
    errors: &mut Errors,
) {
    for key in object.keys().filter(|k| !known.contains(&k.as_str())) {
        errors.raw(format!("property {prefix}{key} should not exist"));
    }
}

/// The body as an object, or the one error saying it is not.
pub(crate) fn root(body: &Value) -> Result<&Map<String, Value>, Vec<String>> {
    body.as_object()
        .ok_or_else(|| vec!["request body must be a JSON object".to_owned()])
}

/// A present, non-null field.
pub(crate) fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

pub(crate) fn required_object<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
    errors: &mut Errors,
) -> Option<&'a Map<String, Value>> {
    match present(object, key) {
        None => {
            errors.push(path, "should not be empty");
            None
        }
        Some(Value::Object(map)) => Some(map),
        Some(_) => {
            errors.push(path, "must be an object");
            None
        }
    }
}

pub(crate) fn required_string(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    max_chars: usize,
    errors: &mut Errors,
) -> Option<String> {
    match present(object, key) {
        None => {
            errors.push(path, "should not be empty");
            None
        }
        Some(Value::String(s)) => checked_text(s, path, max_chars, errors),
        Some(_) => {
            errors.push(path, "must be a string");
            None
        }
    }
}

/// An optional string (absent and `null` = empty): at most `max_chars` characters, no
/// control characters. Blank is allowed.
pub(crate) fn optional_string(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    max_chars: usize,
    errors: &mut Errors,
) -> Option<String> {
    match present(object, key) {
        None => Some(String::new()),
        Some(Value::String(s)) => {
            let mut ok = true;
            if s.chars().count() > max_chars {
                errors.push(
                    path,
                    format_args!("must be shorter than or equal to {max_chars} characters"),
                );
                ok = false;
            }
            if s.chars().any(char::is_control) {
                errors.push(path, "must not contain control characters");
                ok = false;
            }
            ok.then(|| s.to_owned())
        }
        Some(_) => {
            errors.push(path, "must be a string");
            None
        }
    }
}

/// Non-blank, within `max_chars` characters, no control characters.
fn checked_text(s: &str, path: &str, max_chars: usize, errors: &mut Errors) -> Option<String> {
    let mut ok = true;
    if s.trim().is_empty() {
        errors.push(path, "should not be empty");
        ok = false;
    }
    if s.chars().count() > max_chars {
        errors.push(
            path,
            format_args!("must be shorter than or equal to {max_chars} characters"),
        );
        ok = false;
    }
    if s.chars().any(char::is_control) {
        errors.push(path, "must not contain control characters");
        ok = false;
    }
    ok.then(|| s.to_owned())
}

pub(crate) fn optional_bool(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    errors: &mut Errors,
) -> Option<bool> {
    match present(object, key) {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            errors.push(path, "must be a boolean value");
            None
        }
    }
}

pub(crate) fn optional_integer(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    min: i64,
    max: i64,
    errors: &mut Errors,
) -> Option<i64> {
    let value = present(object, key)?;
    let Value::Number(number) = value else {
        errors.push(path, "must be an integer number");
        return None;
    };
    let Ok(decimal) = parse_decimal(&number.to_string()) else {
        errors.push(path, format_args!("must not be greater than {max}"));
        return None;
    };
    if !decimal.normalize().is_integer() {
        errors.push(path, "must be an integer number");
        return None;
    }
    if decimal < Decimal::from(min) {
        errors.push(path, format_args!("must not be less than {min}"));
        return None;
    }
    if decimal > Decimal::from(max) {
        errors.push(path, format_args!("must not be greater than {max}"));
        return None;
    }
    i64::try_from(decimal).ok()
}

/// Bounds of a decimal field, in cents or hundredths.
#[derive(Clone, Copy)]
pub(crate) struct Limits {
    min_text: &'static str,
    max_cents: i64,
    max_text: &'static str,
}

impl Limits {
    pub(crate) fn amount() -> Limits {
        Limits {
            min_text: "0.01",
            max_cents: MAX_AMOUNT_CENTS,
            max_text: "100000000",
        }
    }

    pub(crate) fn percentage() -> Limits {
        Limits {
            min_text: "0.01",
            max_cents: 10_000,
            max_text: "100",
        }
    }
}

/// A required JSON number with at most two decimals, `0.01 ≤ value ≤ max`.
pub(crate) fn money_field(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    limits: Limits,
    errors: &mut Errors,
) -> Option<Money> {
    let Some(value) = present(object, key) else {
        errors.push(path, "should not be empty");
        return None;
    };
    let Value::Number(number) = value else {
        errors.push(
            path,
            "must be a number conforming to the specified constraints",
        );
        return None;
    };
    let text = number.to_string();
    let too_big = || format!("must not be greater than {}", limits.max_text);
    let money = match Money::parse(&text) {
        Ok(money) => money,
        Err(MoneyError::TooManyDecimals) => {
            errors.push(path, "must have no more than 2 decimal places");
            // Still say if it is also out of range, so the merchant fixes both at once.
            if parse_decimal(&text).is_ok_and(|d| d < Decimal::new(1, 2)) {
                errors.push(
                    path,
                    format_args!("must not be less than {}", limits.min_text),
                );
            }
            return None;
        }
        Err(MoneyError::OutOfRange | MoneyError::NotANumber) => {
            errors.push(path, too_big());
            return None;
        }
    };
    if money.cents() < 1 {
        errors.push(
            path,
            format_args!("must not be less than {}", limits.min_text),
        );
        return None;
    }
    if money.cents() > limits.max_cents {
        errors.push(path, too_big());
        return None;
    }
    Some(money)
}

pub(crate) fn document_field(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    errors: &mut Errors,
) -> Option<TaxDocument> {
    match present(object, key) {
        None => {
            errors.push(path, "should not be empty");
            None
        }
        Some(Value::String(s)) => match TaxDocument::parse(s) {
            Ok(document) => Some(document),
            Err(problem) => {
                errors.push(
                    path,
                    format_args!(
                        "must be a valid CPF (11 digits) or CNPJ (14 characters): {problem}"
                    ),
                );
                None
            }
        },
        Some(_) => {
            errors.push(path, "must be a string");
            None
        }
    }
}

pub(crate) fn enum_field<T>(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    allowed: &str,
    parse: impl Fn(&str) -> Option<T>,
    errors: &mut Errors,
) -> Option<T> {
    match present(object, key) {
        None => {
            errors.push(path, "should not be empty");
            None
        }
        Some(Value::String(s)) => {
            let parsed = parse(s);
            if parsed.is_none() {
                errors.push(
                    path,
                    format_args!("must be one of the following values: {allowed}"),
                );
            }
            parsed
        }
        Some(_) => {
            errors.push(
                path,
                format_args!("must be one of the following values: {allowed}"),
            );
            None
        }
    }
}
