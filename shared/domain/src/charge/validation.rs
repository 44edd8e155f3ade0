//! Validation of the seed-004 cash-in request, collecting EVERY failure at once.
//!
//! We walk a `serde_json::Value` instead of deserialising into structs because serde stops at
//! the first error and we must list all of them (`details.errors`), including wrong types and
//! unknown properties (a typo such as `generateQRCode` must not be silently ignored). Messages
//! follow the seed's wording (class-validator style): `transaction.value must not be less than
//! 0.01`, `transaction.description should not be empty`, `property x should not exist`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::pix::fields::{
    Errors, Limits, document_field, enum_field, money_field, optional_bool, optional_integer,
    present, reject_unknown, required_object, required_string,
};

use crate::charge::Payer;
use crate::pix::money::Money;
use crate::pix::pii::Pii;
use crate::pix::pix_key::{PixKeyType, validate_pix_key};
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
                full_name: Pii::from(full_name),
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
            if errors.is_empty() =>
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
        _ => Err(errors.into_vec()),
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
                // Unreachable within the field limits (amounts ≤ MAX_AMOUNT_CENTS, percentages
                // ≤ 100); reported as what they are should those limits ever widen.
                AllocationError::ShareOutOfRange { index, .. } => errors.push(
                    &format!("splits[{index}].value"),
                    "results in a share beyond the largest amount",
                ),
                AllocationError::TotalOutOfRange(_) => errors.push(
                    "splits",
                    format_args!("total must not exceed transaction.value ({gross})"),
                ),
            }
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
        pix_key: Pii::from(pix_key),
        pix_key_type: pix_key_type?,
        name: Pii::from(name?),
        document: document?,
        value: value?,
        immediate,
    })
}
