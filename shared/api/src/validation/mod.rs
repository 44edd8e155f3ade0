//! Body validation of the money-out routes (refund, cash-out), in the style of
//! [`pixgw_domain::validation`]: the JSON is walked as a `serde_json::Value` so that EVERY
//! failure (wrong types, unknown properties, bad values) is listed at once in
//! `details.errors`, with the seed-004 wording (`value must not be less than 0.01`,
//! `description should not be empty`, `property x should not exist`).

pub mod cash_out;
pub mod refund;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use pixgw_domain::document::TaxDocument;
use pixgw_domain::money::{MAX_AMOUNT_CENTS, Money, MoneyError, parse_decimal};

/// Collects error messages while reading fields.
#[derive(Default)]
pub(crate) struct Errors(Vec<String>);

impl Errors {
    pub(crate) fn push(&mut self, path: &str, problem: impl std::fmt::Display) {
        self.0.push(format!("{path} {problem}"));
    }

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

/// The body as an object, or the one error saying it is not.
pub(crate) fn root(body: &Value) -> Result<&Map<String, Value>, Vec<String>> {
    body.as_object()
        .ok_or_else(|| vec!["request body must be a JSON object".to_owned()])
}

/// One error per property not in `known`.
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

/// A present, non-null field.
pub(crate) fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

/// A required string: non-blank, at most `max_chars` characters, no control characters.
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
pub(crate) fn checked_text(
    s: &str,
    path: &str,
    max_chars: usize,
    errors: &mut Errors,
) -> Option<String> {
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

/// A required JSON number with at most two decimals, `0.01 ≤ value ≤ 100000000` (the rules
/// and messages of the cash-in's `transaction.value`).
pub(crate) fn amount_field(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    errors: &mut Errors,
) -> Option<Money> {
    const MIN_TEXT: &str = "0.01";
    const MAX_TEXT: &str = "100000000";
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
    let too_big = || format!("must not be greater than {MAX_TEXT}");
    let money = match Money::parse(&text) {
        Ok(money) => money,
        Err(MoneyError::TooManyDecimals) => {
            errors.push(path, "must have no more than 2 decimal places");
            if parse_decimal(&text).is_ok_and(|d| d < Decimal::new(1, 2)) {
                errors.push(path, format_args!("must not be less than {MIN_TEXT}"));
            }
            return None;
        }
        Err(MoneyError::OutOfRange | MoneyError::NotANumber) => {
            errors.push(path, too_big());
            return None;
        }
    };
    if money.cents() < 1 {
        errors.push(path, format_args!("must not be less than {MIN_TEXT}"));
        return None;
    }
    if money.cents() > MAX_AMOUNT_CENTS {
        errors.push(path, too_big());
        return None;
    }
    Some(money)
}

/// A CPF or CNPJ with valid check digits.
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

/// A required string from a closed set.
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
