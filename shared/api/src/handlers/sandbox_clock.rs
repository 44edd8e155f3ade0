//! `POST /api/sandbox/clock/advance` `{"seconds": N}` (local gateway only): moves the sandbox
//! clock forward by N seconds (1 to 31,536,000 = 365 days) for every service of the gateway —
//! the API, the payout scheduler loop, the pipeline's workers — and answers `{now}`, the new
//! sandbox time. The route exists only where the state holds an adjustable clock
//! ([`AppState::sandbox_clock`]): never on Lambda.

use chrono::Duration;
use http::StatusCode;
use pixgw_domain::pix::ids::AccountId;
use serde_json::Value;

use crate::error::ApiError;
use crate::handlers::json_body;
use crate::http_types::{ApiRequest, ApiResponse};
use crate::idempotency;
use crate::sandbox_clock::MAX_ADVANCE_SECONDS;
use crate::state::AppState;
use crate::views::{SandboxClockView, timestamp};

pub async fn advance(
    state: &AppState,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let clock = state
        .sandbox_clock
        .as_ref()
        .ok_or(ApiError::RouteNotFound)?;
    let seconds = parse_seconds(&json_body(request)?)?;
    idempotency::run(state, request, account_id, |claim| async move {
        let now = clock.advance(Duration::seconds(seconds))?;
        let response = ApiResponse::json(
            StatusCode::OK,
            &SandboxClockView {
                now: timestamp(now),
            },
        );
        idempotency::remember(state, claim, &response).await;
        Ok(response)
    })
    .await
}

/// `{"seconds": N}`, N an integer in 1..=31,536,000; every problem reported at once.
fn parse_seconds(body: &Value) -> Result<i64, ApiError> {
    let Value::Object(fields) = body else {
        return Err(ApiError::Validation(vec![
            "body must be a JSON object".into(),
        ]));
    };
    let mut errors: Vec<String> = fields
        .keys()
        .filter(|key| key.as_str() != "seconds")
        .map(|key| format!("property {key} should not exist"))
        .collect();
    let too_small = "seconds must not be less than 1".to_owned();
    let too_big = format!("seconds must not be greater than {MAX_ADVANCE_SECONDS}");
    let seconds = match fields.get("seconds") {
        None | Some(Value::Null) => {
            errors.push("seconds should not be empty".into());
            None
        }
        Some(Value::Number(n)) => match n.as_i64() {
            Some(s) if s < 1 => {
                errors.push(too_small);
                None
            }
            Some(s) if s > MAX_ADVANCE_SECONDS => {
                errors.push(too_big);
                None
            }
            Some(s) => Some(s),
            // Beyond 64 bits, but still an integer literal: out of range either way.
            None if is_integer_literal(&n.to_string()) => {
                errors.push(if n.to_string().starts_with('-') {
                    too_small
                } else {
                    too_big
                });
                None
            }
            None => {
                errors.push("seconds must be an integer number".into());
                None
            }
        },
        Some(_) => {
            errors.push("seconds must be an integer number".into());
            None
        }
    };
    match seconds {
        Some(s) if errors.is_empty() => Ok(s),
        _ => Err(ApiError::Validation(errors)),
    }
}

fn is_integer_literal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn errors(body: &str) -> Vec<String> {
        let value: Value = serde_json::from_str(body).unwrap();
        match parse_seconds(&value) {
            Err(ApiError::Validation(errors)) => errors,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn accepts_whole_seconds_in_range() {
        assert_eq!(parse_seconds(&json!({"seconds": 1})), Ok(1));
        assert_eq!(
            parse_seconds(&json!({"seconds": 31_536_000})),
            Ok(31_536_000)
        );
    }

    #[test]
    fn lists_every_problem() {
        assert_eq!(errors("{}"), ["seconds should not be empty"]);
        assert_eq!(
            errors(r#"{"seconds": null}"#),
            ["seconds should not be empty"]
        );
        assert_eq!(
            errors(r#"{"seconds": 0}"#),
            ["seconds must not be less than 1"]
        );
        assert_eq!(
            errors(r#"{"seconds": -99999999999999999999999}"#),
            ["seconds must not be less than 1"]
        );
        assert_eq!(
            errors(r#"{"seconds": 31536001}"#),
            ["seconds must not be greater than 31536000"]
        );
        assert_eq!(
            errors(r#"{"seconds": 99999999999999999999999}"#),
            ["seconds must not be greater than 31536000"]
        );
        for body in [
            r#"{"seconds": 1.5}"#,
            r#"{"seconds": 1e3}"#,
            r#"{"seconds": "60"}"#,
            r#"{"seconds": true}"#,
        ] {
            assert_eq!(
                errors(body),
                ["seconds must be an integer number"],
                "{body}"
            );
        }
        assert_eq!(
            errors(r#"{"seconds": "x", "minutes": 1, "days": 2}"#),
            [
                "property days should not exist",
                "property minutes should not exist",
                "seconds must be an integer number"
            ]
        );
        assert_eq!(errors("[1]"), ["body must be a JSON object"]);
    }
}
