//! Validation of the seed-004 cash-in request, collecting EVERY failure at once.
//!
//! We walk a `serde_json::Value` instead of deserialising into structs because serde stops at
//! the first error and we must list all of them (`details.errors`), including wrong types and
//! unknown properties (a typo such as `generateQRCode` must not be silently ignored). Messages
//! follow the seed's wording (class-validator style): `transaction.value must not be less than
//! 0.01`, `transaction.description should not be empty`, `property x should not exist`.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::charge::Payer;
use crate::document::TaxDocument;
use crate::money::{MAX_AMOUNT_CENTS, Money, MoneyError, parse_decimal};
use crate::pix_key::{PixKeyType, validate_pix_key};
use crate::split::{self, AllocationError, MAX_SPLITS, SplitKind, SplitRule, SplitValue};

pub const DESCRIPTION_MAX: usize = 140;
/// Not limited by the seed; bounded so it always fits a storage key.
pub const EXTERNAL_ID_MAX: usize = 255;
pub const EXPIRATION_MIN: i64 = 300;
pub const EXPIRATION_MAX: i64 = 604_800;
pub const EXPIRATION_DEFAULT: u32 = 86_400;
pub const FULL_NAME_MAX: usize = 100;
pub const ADDITIONAL_INFO_MAX_KEYS: usize = 10;
/// Not limited by the seed; bounded so a charge always fits one storage item.
pub const ADDITIONAL_INFO_KEY_MAX: usize = 100;
pub const ADDITIONAL_INFO_VALUE_MAX: usize = 500;
pub const SPLIT_TEXT_MAX: usize = 255;

/// A cash-in request that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateChargeInput {
    pub amount: Money,
    pub description: String,
    pub external_id: String,
    pub expiration_seconds: u32,
    pub generate_qr_code: bool,
    pub payer: Payer,
    pub additional_info: BTreeMap<String, String>,
    pub splits: Vec<SplitRule>,
}

/// Collects error messages while reading fields.
#[derive(Default)]
struct Errors(Vec<String>);

impl Errors {
    fn push(&mut self, path: &str, problem: impl std::fmt::Display) {
        self.0.push(format!("{path} {problem}"));
    }
}

/// Validates a parsed cash-in body. `Err` lists every failure, in document order.
pub fn validate_create_charge(body: &Value) -> Result<CreateChargeInput, Vec<String>> {
    let mut errors = Errors::default();
    let Some(root) = body.as_object() else {
        return Err(vec!["request body must be a JSON object".to_owned()]);
    };
    reject_unknown(
        root,
        "",
        &["transaction", "payer", "additionalInfo", "splits"],
        &mut errors,
    );

    let transaction = required_object(root, "transaction", "transaction", &mut errors);
    let payer = required_object(root, "payer", "payer", &mut errors);

    let mut amount = None;
    let mut description = None;
    let mut external_id = None;
    let mut expiration_seconds = EXPIRATION_DEFAULT;
    let mut generate_qr_code = false;
    if let Some(tx) = transaction {
        reject_unknown(
            tx,
            "transaction.",
            &[
                "value",
                "description",
                "externalId",
                "expirationTime",
                "generateQrCode",
            ],
            &mut errors,
        );
        amount = money_field(
            tx,
            "value",
            "transaction.value",
            Limits::amount(),
            &mut errors,
        );
        description = required_string(
            tx,
            "description",
            "transaction.description",
            DESCRIPTION_MAX,
            &mut errors,
        );
        external_id = required_string(
            tx,
            "externalId",
            "transaction.externalId",
            EXTERNAL_ID_MAX,
            &mut errors,
        );
        if let Some(seconds) = optional_integer(
            tx,
            "expirationTime",
            "transaction.expirationTime",
            EXPIRATION_MIN,
            EXPIRATION_MAX,
            &mut errors,
        ) {
            expiration_seconds = u32::try_from(seconds).unwrap_or(EXPIRATION_DEFAULT);
        }
        if let Some(flag) = optional_bool(
            tx,
            "generateQrCode",
            "transaction.generateQrCode",
            &mut errors,
        ) {
            generate_qr_code = flag;
        }
    }

    let mut payer_out = None;
    if let Some(p) = payer {
        reject_unknown(p, "payer.", &["fullName", "document"], &mut errors);
        let full_name =
            required_string(p, "fullName", "payer.fullName", FULL_NAME_MAX, &mut errors);
        let document = document_field(p, "document", "payer.document", &mut errors);
        if let (Some(full_name), Some(document)) = (full_name, document) {
            payer_out = Some(Payer {
                full_name,
                document,
            });
        }
    }

    let additional_info = additional_info(root, &mut errors);
    let splits = splits(root, &mut errors);

    if let (Some(gross), Some(rules)) = (amount, splits.as_ref()) {
        check_allocation(gross, rules, &mut errors);
    }

    match (amount, description, external_id, payer_out, splits) {
        (Some(amount), Some(description), Some(external_id), Some(payer), Some(splits))
            if errors.0.is_empty() =>
        {
            Ok(CreateChargeInput {
                amount,
                description,
                external_id,
                expiration_seconds,
                generate_qr_code,
                payer,
                additional_info,
                splits,
            })
        }
        _ => Err(errors.0),
    }
}

fn check_allocation(gross: Money, rules: &[SplitRule], errors: &mut Errors) {
    let values: Vec<SplitValue> = rules.iter().map(|r| r.value).collect();
    if let Err(problems) = split::allocate(gross, &values) {
        for problem in problems {
            match problem {
                AllocationError::ShareTooSmall { index, .. } => errors.push(
                    &format!("splits[{index}].value"),
                    "results in a share of less than 0.01 on transaction.value",
                ),
                AllocationError::ExceedsGross { total, gross } => errors.push(
                    "splits",
                    format_args!("total ({total}) must not exceed transaction.value ({gross})"),
                ),
            }
        }
    }
}

fn reject_unknown(object: &Map<String, Value>, prefix: &str, known: &[&str], errors: &mut Errors) {
    for key in object.keys().filter(|k| !known.contains(&k.as_str())) {
        errors
            .0
            .push(format!("property {prefix}{key} should not exist"));
    }
}

/// A present, non-null field.
fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

fn required_object<'a>(
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

fn required_string(
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

fn optional_bool(
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

fn optional_integer(
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
struct Limits {
    min_text: &'static str,
    max_cents: i64,
    max_text: &'static str,
}

impl Limits {
    fn amount() -> Limits {
        Limits {
            min_text: "0.01",
            max_cents: MAX_AMOUNT_CENTS,
            max_text: "100000000",
        }
    }

    fn percentage() -> Limits {
        Limits {
            min_text: "0.01",
            max_cents: 10_000,
            max_text: "100",
        }
    }
}

/// A required JSON number with at most two decimals, `0.01 ≤ value ≤ max`.
fn money_field(
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

fn document_field(
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

fn additional_info(root: &Map<String, Value>, errors: &mut Errors) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(value) = present(root, "additionalInfo") else {
        return out;
    };
    let Value::Object(map) = value else {
        errors.push("additionalInfo", "must be an object");
        return out;
    };
    if map.len() > ADDITIONAL_INFO_MAX_KEYS {
        errors.push(
            "additionalInfo",
            format_args!("must not have more than {ADDITIONAL_INFO_MAX_KEYS} keys"),
        );
    }
    for (key, value) in map {
        let path = format!("additionalInfo.{key}");
        if key.trim().is_empty() || key.chars().count() > ADDITIONAL_INFO_KEY_MAX {
            errors.push(
                &path,
                format_args!("key must have between 1 and {ADDITIONAL_INFO_KEY_MAX} characters"),
            );
            continue;
        }
        match value {
            Value::String(s) if s.chars().count() > ADDITIONAL_INFO_VALUE_MAX => errors.push(
                &path,
                format_args!(
                    "must be shorter than or equal to {ADDITIONAL_INFO_VALUE_MAX} characters"
                ),
            ),
            Value::String(s) => {
                out.insert(key.clone(), s.clone());
            }
            _ => errors.push(&path, "must be a string"),
        }
    }
    out
}

/// `None` when the list itself is unusable (its errors are recorded).
fn splits(root: &Map<String, Value>, errors: &mut Errors) -> Option<Vec<SplitRule>> {
    let Some(value) = present(root, "splits") else {
        return Some(Vec::new());
    };
    let Value::Array(items) = value else {
        errors.push("splits", "must be an array");
        return None;
    };
    if items.len() > MAX_SPLITS {
        errors.push(
            "splits",
            format_args!("must contain no more than {MAX_SPLITS} elements"),
        );
    }
    let mut rules = Vec::with_capacity(items.len());
    let mut all_valid = true;
    for (index, item) in items.iter().enumerate() {
        match split_rule(item, index, errors) {
            Some(rule) => rules.push(rule),
            None => all_valid = false,
        }
    }
    (all_valid && items.len() <= MAX_SPLITS).then_some(rules)
}

fn split_rule(item: &Value, index: usize, errors: &mut Errors) -> Option<SplitRule> {
    let at = |field: &str| format!("splits[{index}].{field}");
    let Value::Object(object) = item else {
        errors.push(&format!("splits[{index}]"), "must be an object");
        return None;
    };
    reject_unknown(
        object,
        &format!("splits[{index}]."),
        &[
            "pixKey",
            "pixKeyType",
            "name",
            "document",
            "type",
            "value",
            "immediate",
        ],
        errors,
    );
    let pix_key = required_string(object, "pixKey", &at("pixKey"), SPLIT_TEXT_MAX, errors);
    let pix_key_type = enum_field(
        object,
        "pixKeyType",
        &at("pixKeyType"),
        "EMAIL, PHONE, CPF, CNPJ, RANDOM",
        PixKeyType::parse,
        errors,
    );
    let name = required_string(object, "name", &at("name"), SPLIT_TEXT_MAX, errors);
    let document = document_field(object, "document", &at("document"), errors);
    let kind = enum_field(
        object,
        "type",
        &at("type"),
        "FIXED, PERCENTAGE",
        SplitKind::parse,
        errors,
    );
    let immediate = optional_bool(object, "immediate", &at("immediate"), errors).unwrap_or(false);

    if let (Some(key), Some(key_type)) = (&pix_key, pix_key_type)
        && let Err(problem) = validate_pix_key(key_type, key)
    {
        errors.push(&at("pixKey"), problem);
    }
    let value = match kind {
        Some(SplitKind::Fixed) => {
            money_field(object, "value", &at("value"), Limits::amount(), errors)
                .map(SplitValue::Fixed)
        }
        Some(SplitKind::Percentage) => {
            money_field(object, "value", &at("value"), Limits::percentage(), errors)
                .and_then(|pct| u32::try_from(pct.cents()).ok())
                .map(SplitValue::Percentage)
        }
        // Without a valid type we still report a missing or non-numeric value.
        None => {
            money_field(object, "value", &at("value"), Limits::amount(), errors);
            None
        }
    };
    let pix_key =
        pix_key.filter(|key| pix_key_type.is_some_and(|t| validate_pix_key(t, key).is_ok()))?;
    Some(SplitRule {
        pix_key,
        pix_key_type: pix_key_type?,
        name: name?,
        document: document?,
        value: value?,
        immediate,
    })
}

fn enum_field<T>(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    allowed: &str,
    parse: fn(&str) -> Option<T>,
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
