//! `POST /api/pix/cash-out` body (model: seed 002):
//!
//! ```json
//! {"value": 150.5, "description": "…", "externalId": "…",
//!  "pixKey": "…", "pixKeyType": "EMAIL|PHONE|CPF|CNPJ|RANDOM"}
//! {"value": 150.5, "description": "…", "externalId": "…",
//!  "bankAccount": {"ispb": "…", "branch": "…", "account": "…",
//!                  "accountType": "CACC|SVGS|SLRY|TRAN", "document": "…", "name": "…"}}
//! ```
//!
//! Exactly one destination: a PIX key (with its type) or bank account data. `null` counts as
//! absent. Every failure is listed at once.

use crate::cash_out::{BankAccountType, CashOutDestination};
use crate::flows::cash_out::CashOutInput;
use crate::pix::payment::{Ispb, is_account, is_branch};
use crate::pix::pii::Pii;
use crate::pix::pix_key::{PixKeyType, validate_pix_key};
use serde_json::{Map, Value};

use crate::pix::fields::{
    Errors, Limits, document_field, enum_field, money_field, present, reject_unknown,
    required_string, root,
};

pub const DESCRIPTION_MAX: usize = 140;
pub const EXTERNAL_ID_MAX: usize = 100;
pub const PIX_KEY_MAX: usize = 255;
pub const NAME_MAX: usize = 100;

const FIELDS: [&str; 6] = [
    "value",
    "description",
    "externalId",
    "pixKey",
    "pixKeyType",
    "bankAccount",
];
const BANK_ACCOUNT_FIELDS: [&str; 6] = [
    "ispb",
    "branch",
    "account",
    "accountType",
    "document",
    "name",
];
const PIX_KEY_TYPES: &str = "EMAIL, PHONE, CPF, CNPJ, RANDOM";
const ACCOUNT_TYPES: &str = "CACC, SVGS, SLRY, TRAN";

/// Validates a cash-out body; `Err` lists every failure, in document order.
pub fn validate_cash_out(body: &Value) -> Result<CashOutInput, Vec<String>> {
    let root = root(body)?;
    let mut errors = Errors::default();
    reject_unknown(root, "", &FIELDS, &mut errors);
    let amount = money_field(root, "value", "value", Limits::amount(), &mut errors);
    let description = required_string(
        root,
        "description",
        "description",
        DESCRIPTION_MAX,
        &mut errors,
    );
    let external_id = required_string(
        root,
        "externalId",
        "externalId",
        EXTERNAL_ID_MAX,
        &mut errors,
    );
    let destination = destination(root, &mut errors);
    match (amount, description, external_id, destination) {
        (Some(amount), Some(description), Some(external_id), Some(destination))
            if errors.is_empty() =>
        {
            Ok(CashOutInput {
                external_id,
                amount,
                description,
                destination,
            })
        }
        _ => Err(errors.into_vec()),
    }
}

fn destination(root: &Map<String, Value>, errors: &mut Errors) -> Option<CashOutDestination> {
    let by_key = present(root, "pixKey").is_some() || present(root, "pixKeyType").is_some();
    let by_account = present(root, "bankAccount").is_some();
    match (by_key, by_account) {
        (true, true) => {
            errors.raw("only one of pixKey (with pixKeyType) or bankAccount may be given");
            // Still check both, so every other mistake is reported too.
            pix_key(root, errors);
            bank_account(root, errors);
            None
        }
        (false, false) => {
            errors.raw("one of pixKey (with pixKeyType) or bankAccount must be given");
            None
        }
        (true, false) => pix_key(root, errors),
        (false, true) => bank_account(root, errors),
    }
}

fn pix_key(root: &Map<String, Value>, errors: &mut Errors) -> Option<CashOutDestination> {
    let key = required_string(root, "pixKey", "pixKey", PIX_KEY_MAX, errors);
    let key_type = enum_field(
        root,
        "pixKeyType",
        "pixKeyType",
        PIX_KEY_TYPES,
        PixKeyType::parse,
        errors,
    );
    let (key, key_type) = (key?, key_type?);
    if let Err(problem) = validate_pix_key(key_type, &key) {
        errors.push("pixKey", problem);
        return None;
    }
    Some(CashOutDestination::PixKey {
        key: Pii::from(key),
        key_type,
    })
}

fn bank_account(root: &Map<String, Value>, errors: &mut Errors) -> Option<CashOutDestination> {
    let object = match present(root, "bankAccount") {
        Some(Value::Object(object)) => object,
        Some(_) => {
            errors.push("bankAccount", "must be an object");
            return None;
        }
        None => return None,
    };
    reject_unknown(object, "bankAccount.", &BANK_ACCOUNT_FIELDS, errors);
    let ispb = digits_field(
        object,
        "ispb",
        "bankAccount.ispb",
        "must be exactly 8 digits",
        Ispb::parse,
        errors,
    );
    let branch = digits_field(
        object,
        "branch",
        "bankAccount.branch",
        "must be 1 to 4 digits",
        |s| is_branch(s).then(|| s.to_owned()),
        errors,
    );
    let account = digits_field(
        object,
        "account",
        "bankAccount.account",
        "must be 1 to 20 digits (check digit included, no separators)",
        |s| is_account(s).then(|| s.to_owned()),
        errors,
    );
    let account_type = enum_field(
        object,
        "accountType",
        "bankAccount.accountType",
        ACCOUNT_TYPES,
        BankAccountType::parse,
        errors,
    );
    let document = document_field(object, "document", "bankAccount.document", errors);
    let name = required_string(object, "name", "bankAccount.name", NAME_MAX, errors);
    Some(CashOutDestination::BankAccount {
        ispb: ispb?,
        branch: Pii::from(branch?),
        account: Pii::from(account?),
        account_type: account_type?,
        document: document?,
        name: Pii::from(name?),
    })
}

/// A required string that `parse` accepts, or `problem`.
fn digits_field<T>(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
    problem: &str,
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
                errors.push(path, problem);
            }
            parsed
        }
        Some(_) => {
            errors.push(path, "must be a string");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::pix::money::Money;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_pix_key_cash_out_is_accepted() {
        let input = validate_cash_out(&json!({
            "value": 150.5,
            "description": "Saque",
            "externalId": "CO-1",
            "pixKey": "maria@example.com",
            "pixKeyType": "EMAIL",
            "bankAccount": null
        }))
        .unwrap();
        assert_eq!(input.amount, Money::from_cents(15_050));
        assert_eq!(input.external_id, "CO-1");
        assert_eq!(
            input.destination,
            CashOutDestination::PixKey {
                key: "maria@example.com".into(),
                key_type: PixKeyType::Email
            }
        );
    }

    #[test]
    fn a_bank_account_cash_out_is_accepted() {
        let input = validate_cash_out(&json!({
            "value": 10,
            "description": "Saque",
            "externalId": "CO-2",
            "bankAccount": {
                "ispb": "00000000",
                "branch": "0001",
                "account": "123456",
                "accountType": "CACC",
                "document": "12345678909",
                "name": "Maria Silva"
            }
        }))
        .unwrap();
        let CashOutDestination::BankAccount {
            ispb,
            account_type,
            document,
            ..
        } = input.destination
        else {
            panic!("bank account expected");
        };
        assert_eq!(ispb.as_str(), "00000000");
        assert_eq!(account_type, BankAccountType::Checking);
        assert_eq!(document.as_str(), "12345678909");
    }

    #[test]
    fn every_problem_of_a_bad_body_is_listed() {
        let errors = validate_cash_out(&json!({
            "value": 0.001,
            "description": "",
            "externalId": "x".repeat(101),
            "amount": 5,
            "bankAccount": {
                "ispb": "123",
                "branch": "12345",
                "account": "12-3",
                "accountType": "CHECKING",
                "document": "12345678901",
                "name": " ",
                "bank": "Itaú"
            }
        }))
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "property amount should not exist",
                "value must have no more than 2 decimal places",
                "value must not be less than 0.01",
                "description should not be empty",
                "externalId must be shorter than or equal to 100 characters",
                "property bankAccount.bank should not exist",
                "bankAccount.ispb must be exactly 8 digits",
                "bankAccount.branch must be 1 to 4 digits",
                "bankAccount.account must be 1 to 20 digits (check digit included, no separators)",
                "bankAccount.accountType must be one of the following values: CACC, SVGS, SLRY, TRAN",
                "bankAccount.document must be a valid CPF (11 digits) or CNPJ (14 characters): check digits do not match",
                "bankAccount.name should not be empty",
            ]
        );
    }

    #[test]
    fn destinations_are_exactly_one() {
        let errors = validate_cash_out(&json!({
            "value": 1, "description": "d", "externalId": "e"
        }))
        .unwrap_err();
        assert_eq!(
            errors,
            ["one of pixKey (with pixKeyType) or bankAccount must be given"]
        );
        let errors = validate_cash_out(&json!({
            "value": 1, "description": "d", "externalId": "e",
            "pixKey": "+5511999887766", "pixKeyType": "PHONE",
            "bankAccount": {"ispb": "00000000"}
        }))
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "only one of pixKey (with pixKeyType) or bankAccount may be given",
                "bankAccount.branch should not be empty",
                "bankAccount.account should not be empty",
                "bankAccount.accountType should not be empty",
                "bankAccount.document should not be empty",
                "bankAccount.name should not be empty",
            ]
        );
    }

    #[test]
    fn the_pix_key_must_match_its_type() {
        let errors = validate_cash_out(&json!({
            "value": "10", "externalId": 7,
            "pixKey": "11999887766", "pixKeyType": "PHONE"
        }))
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "value must be a number conforming to the specified constraints",
                "description should not be empty",
                "externalId must be a string",
                "pixKey must be a phone number in the format +55DDNNNNNNNNN",
            ]
        );
        let errors = validate_cash_out(&json!({
            "value": 100000000.01, "description": "d", "externalId": "e",
            "pixKey": "a1b2"
        }))
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "value must not be greater than 100000000",
                "pixKeyType should not be empty",
            ]
        );
        let errors = validate_cash_out(&json!({
            "value": 1, "description": "d", "externalId": "e",
            "pixKeyType": "IBAN", "bankAccount": "x"
        }))
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "only one of pixKey (with pixKeyType) or bankAccount may be given",
                "pixKey should not be empty",
                "pixKeyType must be one of the following values: EMAIL, PHONE, CPF, CNPJ, RANDOM",
                "bankAccount must be an object",
            ]
        );
    }
}
