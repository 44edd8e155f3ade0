//! `POST /api/pix/cash-in/{transactionId}/refund` body: `{reason, description?}` (model: seed
//! 001). `reason` is a code such as `CUSTOMER_REQUEST`; `description` is free text.

use crate::flows::refund::RefundInput;
use serde_json::Value;

use crate::pix::fields::{Errors, optional_string, reject_unknown, required_string, root};

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
    reject_unknown(root, "", &["reason", "description"], &mut errors);
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
    match (reason, description) {
        (Some(reason), Some(description)) if errors.is_empty() => Ok(RefundInput {
            reason,
            description,
        }),
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
        let input = validate_refund(&json!({"reason": "FRAUD", "description": null})).unwrap();
        assert_eq!(input.description, "");
    }

    #[test]
    fn every_problem_is_listed() {
        let errors = validate_refund(&json!({
            "reason": "customer request",
            "description": "x".repeat(141),
            "amount": 10
        }))
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "property amount should not exist",
                "reason must be an UPPER_SNAKE_CASE code (A-Z, 0-9 and _, starting with a letter), e.g. CUSTOMER_REQUEST",
                "description must be shorter than or equal to 140 characters",
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
}
