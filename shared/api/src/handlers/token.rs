//! `POST /api/auth/token` `{clientId, clientSecret}` → `{accessToken, tokenType, expiresIn}`.

use http::StatusCode;
use serde::Serialize;
use serde_json::Value;

use crate::auth::{decoy_hash, issue_token, verify_secret};
use crate::error::ApiError;
use crate::handlers::json_body;
use crate::http_types::{ApiRequest, ApiResponse};
use crate::state::AppState;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenView {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
}

pub async fn issue(state: &AppState, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let body = json_body(request)?;
    let (client_id, client_secret) = parse(&body)?;
    let credential = state.store.find_client(&client_id).await?;
    let (hash, account_id) = match &credential {
        Some(c) => (c.secret_hash.clone(), Some(c.account_id.clone())),
        None => (decoy_hash().to_owned(), None),
    };
    // argon2 is deliberately slow; keep it off the async workers.
    let matches = tokio::task::spawn_blocking(move || verify_secret(&client_secret, &hash))
        .await
        .map_err(|e| ApiError::Internal(format!("verifying secret: {e}")))?;
    let account_id = account_id
        .filter(|_| matches)
        .ok_or(ApiError::InvalidCredentials)?;
    let token = issue_token(&state.keys, &account_id, state.clock.now())?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &TokenView {
            access_token: token.access_token,
            token_type: "Bearer",
            expires_in: token.expires_in,
        },
    ))
}

fn parse(body: &Value) -> Result<(String, String), ApiError> {
    let Some(object) = body.as_object() else {
        return Err(ApiError::Validation(vec![
            "request body must be a JSON object".into(),
        ]));
    };
    let mut errors: Vec<String> = object
        .keys()
        .filter(|k| *k != "clientId" && *k != "clientSecret")
        .map(|k| format!("property {k} should not exist"))
        .collect();
    let mut field = |name: &str| match object.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 => Some(s.clone()),
        Some(Value::String(s)) if s.len() > 200 => {
            errors.push(format!(
                "{name} must be shorter than or equal to 200 characters"
            ));
            None
        }
        Some(Value::String(_)) | Some(Value::Null) | None => {
            errors.push(format!("{name} should not be empty"));
            None
        }
        Some(_) => {
            errors.push(format!("{name} must be a string"));
            None
        }
    };
    let client_id = field("clientId");
    let client_secret = field("clientSecret");
    match (client_id, client_secret) {
        (Some(id), Some(secret)) if errors.is_empty() => Ok((id, secret)),
        _ => Err(ApiError::Validation(errors)),
    }
}
