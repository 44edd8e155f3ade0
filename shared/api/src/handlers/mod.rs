//! Handlers: parse → call the domain → render. No business rules live here.

pub mod account;
pub mod cash_in;
pub mod cash_out;
pub mod disputes;
pub mod listing;
pub mod openapi;
pub mod payout_schedule;
pub mod payouts;
pub mod pix_location;
pub mod provider_webhook;
pub mod recipients;
pub mod refund;
pub mod refund_policy;
pub mod sandbox_clock;
pub mod sandbox_disputes;
pub mod sandbox_holds;
pub mod sandbox_pay;
pub mod sandbox_payouts;
pub mod statement;
pub mod token;
pub mod webhooks;

use serde_json::Value;

use crate::error::ApiError;
use crate::http_types::ApiRequest;

/// The request body as JSON: empty → `PUB_EMPTY_BODY`; not JSON → `PUB_MALFORMED_JSON`
/// (with serde's line/column, which tells the developer where it broke).
pub fn json_body(request: &ApiRequest) -> Result<Value, ApiError> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::EmptyBody);
    }
    serde_json::from_slice(&request.body).map_err(|e| ApiError::MalformedJson(e.to_string()))
}

/// For routes that take no parameters: no body, or an empty JSON object. Anything else is
/// refused rather than ignored, so a client never believes a field it sent had an effect.
pub fn no_body(request: &ApiRequest) -> Result<(), ApiError> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match json_body(request)? {
        Value::Object(fields) if fields.is_empty() => Ok(()),
        Value::Object(fields) => Err(ApiError::Validation(
            fields
                .keys()
                .map(|key| format!("property {key} should not exist"))
                .collect(),
        )),
        _ => Err(ApiError::Validation(vec![
            "body must be a JSON object".into(),
        ])),
    }
}
