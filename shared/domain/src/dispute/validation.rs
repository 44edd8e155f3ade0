//! Request bodies about disputes: the merchant's defence (`POST /api/disputes/{disputeId}/defence`
//! `{text}`), and the sandbox's payer bank (`POST /api/sandbox/cash-in/{transactionId}/infraction`
//! `{reason, value?}`, `POST /api/sandbox/disputes/{disputeId}/decide` `{outcome}`).

use serde_json::Value;

use crate::dispute::{DisputeOutcome, DisputeReason, MAX_DEFENCE_CHARS};
use crate::pix::fields::{Errors, Limits, enum_field, money_field, present, reject_unknown, root};
use crate::pix::money::Money;

/// The values `reason` takes, as error messages list them.
pub const REASON_VALUES: &str = "FRAUD, OPERATIONAL_FLAW";
/// The values `outcome` takes.
pub const OUTCOME_VALUES: &str = "WON, LOST";

/// Validates a defence body; the defence text (trimmed) or every failure. A defence is a
/// letter: unlike other text fields it may have line breaks and tabs (no other control
/// characters), up to [`MAX_DEFENCE_CHARS`] once trimmed.
pub fn validate_defence(body: &Value) -> Result<String, Vec<String>> {
    let root = root(body)?;
    let mut errors = Errors::default();
    reject_unknown(root, "", &["text"], &mut errors);
    let text = match root.get("text") {
        None | Some(Value::Null) => {
            errors.push("text", "should not be empty");
            None
        }
        Some(Value::String(text)) => letter(text, &mut errors),
        Some(_) => {
            errors.push("text", "must be a string");
            None
        }
    };
    match text {
        Some(text) if errors.is_empty() => Ok(text),
        _ => Err(errors.into_vec()),
    }
}

fn letter(text: &str, errors: &mut Errors) -> Option<String> {
    let trimmed = text.trim();
    let mut ok = true;
    if trimmed.is_empty() {
        errors.push("text", "should not be empty");
        ok = false;
    }
    if trimmed.chars().count() > MAX_DEFENCE_CHARS {
        errors.push(
            "text",
            format_args!("must be shorter than or equal to {MAX_DEFENCE_CHARS} characters"),
        );
        ok = false;
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        errors.push(
            "text",
            "must not contain control characters other than line breaks and tabs",
        );
        ok = false;
    }
    ok.then(|| trimmed.to_owned())
}

/// What the sandbox's payer bank reports as an infraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfractionInput {
    pub reason: DisputeReason,
    /// `None`: all of the charge still disputable.
    pub amount: Option<Money>,
}

/// Validates a sandbox infraction body.
pub fn validate_infraction(body: &Value) -> Result<InfractionInput, Vec<String>> {
    let root = root(body)?;
    let mut errors = Errors::default();
    reject_unknown(root, "", &["reason", "value"], &mut errors);
    let reason = enum_field(
        root,
        "reason",
        "reason",
        REASON_VALUES,
        DisputeReason::parse,
        &mut errors,
    );
    let amount = present(root, "value")
        .and_then(|_| money_field(root, "value", "value", Limits::amount(), &mut errors));
    match reason {
        Some(reason) if errors.is_empty() => Ok(InfractionInput { reason, amount }),
        _ => Err(errors.into_vec()),
    }
}

/// Validates a sandbox decision body.
pub fn validate_decision(body: &Value) -> Result<DisputeOutcome, Vec<String>> {
    let root = root(body)?;
    let mut errors = Errors::default();
    reject_unknown(root, "", &["outcome"], &mut errors);
    let outcome = enum_field(
        root,
        "outcome",
        "outcome",
        OUTCOME_VALUES,
        DisputeOutcome::parse,
        &mut errors,
    );
    match outcome {
        Some(outcome) if errors.is_empty() => Ok(outcome),
        _ => Err(errors.into_vec()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_defence_is_trimmed_text_of_bounded_length() {
        assert_eq!(
            validate_defence(&json!({"text": "  delivered, receipt attached "})),
            Ok("delivered, receipt attached".to_owned())
        );
        let errors = validate_defence(&json!({"text": "", "extra": 1})).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(validate_defence(&json!({"text": "x".repeat(MAX_DEFENCE_CHARS + 1)})).is_err());
        assert!(validate_defence(&json!({"text": 5})).is_err());
        assert_eq!(
            validate_defence(&json!({"text": "Entregue.\r\nRecibo anexo.\n"})),
            Ok("Entregue.\r\nRecibo anexo.".to_owned())
        );
        assert!(validate_defence(&json!({"text": "bell\u{7}"})).is_err());
        assert!(validate_defence(&json!([])).is_err());
    }

    #[test]
    fn infractions_and_decisions_name_known_values() {
        assert_eq!(
            validate_infraction(&json!({"reason": "FRAUD", "value": 12.5})),
            Ok(InfractionInput {
                reason: DisputeReason::Fraud,
                amount: Some(Money::from_cents(1_250))
            })
        );
        assert_eq!(
            validate_infraction(&json!({"reason": "OPERATIONAL_FLAW"})).map(|i| i.amount),
            Ok(None)
        );
        let errors = validate_infraction(&json!({"reason": "SCAM", "value": 0})).unwrap_err();
        assert_eq!(
            errors,
            vec![
                "reason must be one of the following values: FRAUD, OPERATIONAL_FLAW",
                "value must not be less than 0.01"
            ]
        );
        assert_eq!(
            validate_decision(&json!({"outcome": "LOST"})),
            Ok(DisputeOutcome::Lost)
        );
        assert!(validate_decision(&json!({"outcome": "lost"})).is_err());
        assert!(validate_decision(&json!({})).is_err());
    }
}
