//! `POST /api/pix/cash-in/{transactionId}/refund` body: `{reason, description?, value?,
//! liability?}` (model: seed 001, plus partial devoluções). `reason` is a code such as
//! `CUSTOMER_REQUEST`; `description` is free text; `value` (BRL, 2 places) defaults to what is
//! still refundable; `liability` (`MERCHANT` | `PROPORTIONAL`) to the account's refund policy.
//! `PUT /api/account/refund-policy` body: `{liability}`.

use crate::flows::refund::RefundInput;
use serde_json::Value;

use crate::pix::fields::{
    Errors, Limits, enum_field, money_field, optional_string, present, reject_unknown,
    required_string, root,
};
use crate::refund::RefundLiability;

/// The values `liability` takes, as error messages list them.
pub const LIABILITY_VALUES: &str = "MERCHANT, PROPORTIONAL";

pub const REASON_MAX: usize = 50;
pub const DESCRIPTION_MAX: usize = 140;

/// Whether `reason` is an UPPER_SNAKE code: `A-Z`, `0-9` and `_`, starting with a letter.
fn is_reason_code(reason: &str) -> bool {
    reason.starts_with(|c: char| c.is_ascii_uppercase())
        && reason
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Validates a refund body; `Err` lists every failure.
pub fn validate_refund(body: &Value) -> Result<RefundInput, Vec<String>> {
    let root = root(body)?;
    let mut errors = Errors::default();
    reject_unknown(
        root,
        "",
        &["reason", "description", "value", "liability"],
        &mut errors,
    );
    let reason = required_string(root, "reason", "reason", REASON_MAX, &mut errors);
    if let Some(reason) = &reason
        && !is_reason_code(reason)
    {
        errors.push(
            "reason",
            "must be an UPPER_SNAKE_CASE code (A-Z, 0-9 and _, starting with a letter), e.g. CUSTOMER_REQUEST",
        );
    }
    let description = optional_string(
        root,
        "description",
        "description",
        DESCRIPTION_MAX,
        &mut errors,
    );
    let amount = present(root, "value")
        .and_then(|_| money_field(root, "value", "value", Limits::amount(), &mut errors));
    let liability = present(root, "liability").and_then(|_| {
        enum_field(
            root,
            "liability",
            "liability",
            LIABILITY_VALUES,
            RefundLiability::parse,
            &mut errors,
        )
    });
    match (reason, description) {
        (Some(reason), Some(description)) if errors.is_empty() => Ok(RefundInput {
            reason,
            description,
            amount,
            liability,
        }),
        _ => Err(errors.into_vec()),
    }
}

/// Validates a refund-policy body, `{"liability": "MERCHANT" | "PROPORTIONAL"}`.
pub fn validate_refund_policy(body: &Value) -> Result<RefundLiability, Vec<String>> {
    let root = root(body)?;
    let mut errors = Errors::default();
    reject_unknown(root, "", &["liability"], &mut errors);
    let liability = enum_field(
        root,
        "liability",
        "liability",
        LIABILITY_VALUES,
        RefundLiability::parse,
        &mut errors,
    );
    match liability {
        Some(liability) if errors.is_empty() => Ok(liability),
        _ => Err(errors.into_vec()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_seed_body_is_accepted() {
        let input = validate_refund(&json!({
            "reason": "CUSTOMER_REQUEST",
            "description": "Customer requested refund via support ticket #1234."
        }))
        .unwrap();
        assert_eq!(input.reason, "CUSTOMER_REQUEST");
        assert!(input.description.starts_with("Customer"));
        assert_eq!((input.amount, input.liability), (None, None));
        let input = validate_refund(&json!({
            "reason": "CUSTOMER_REQUEST", "value": 50.5, "liability": "PROPORTIONAL"
        }))
        .unwrap();
        assert_eq!(
            input.amount,
            Some(crate::pix::money::Money::from_cents(5050))
        );
        assert_eq!(input.liability, Some(RefundLiability::Proportional));
        let input = validate_refund(&json!({"reason": "FRAUD", "description": null})).unwrap();
        assert_eq!(input.description, "");
    }

    #[test]
    fn every_problem_is_listed() {
        let errors = validate_refund(&json!({
            "reason": "customer request",
            "description": "x".repeat(141),
            "amount": 10,
            "value": 0.001,
            "liability": "SPLITS"
        }))
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "property amount should not exist",
                "reason must be an UPPER_SNAKE_CASE code (A-Z, 0-9 and _, starting with a letter), e.g. CUSTOMER_REQUEST",
                "description must be shorter than or equal to 140 characters",
                "value must have no more than 2 decimal places",
                "value must not be less than 0.01",
                "liability must be one of the following values: MERCHANT, PROPORTIONAL",
            ]
        );
        let errors =
            validate_refund(&json!({"reason": "X", "value": "50", "liability": 1})).unwrap_err();
        assert_eq!(
            errors,
            [
                "value must be a number conforming to the specified constraints",
                "liability must be one of the following values: MERCHANT, PROPORTIONAL",
            ]
        );
        let errors = validate_refund(&json!({"description": 5})).unwrap_err();
        assert_eq!(
            errors,
            ["reason should not be empty", "description must be a string"]
        );
        let errors = validate_refund(&json!({"reason": "A".repeat(51)})).unwrap_err();
        assert_eq!(
            errors,
            ["reason must be shorter than or equal to 50 characters"]
        );
        let errors = validate_refund(&json!({"reason": "  "})).unwrap_err();
        assert_eq!(errors, ["reason should not be empty"]);
        assert_eq!(
            validate_refund(&json!([1])).unwrap_err(),
            ["request body must be a JSON object"]
        );
    }

    #[test]
    fn refund_policy_bodies() {
        assert_eq!(
            validate_refund_policy(&json!({"liability": "PROPORTIONAL"})),
            Ok(RefundLiability::Proportional)
        );
        assert_eq!(
            validate_refund_policy(&json!({"liability": "x", "y": 1})).unwrap_err(),
            [
                "property y should not exist",
                "liability must be one of the following values: MERCHANT, PROPORTIONAL",
            ]
        );
        assert_eq!(
            validate_refund_policy(&json!({})).unwrap_err(),
            ["liability should not be empty"]
        );
    }
}
