//! `X-Idempotency-Key` for every POST and PUT (PRODUCT.md):
//! - same key + same request → the original status and body, with `Idempotent-Replayed: true`;
//! - same key + different request → 422 `IDEMPOTENCY_KEY_REUSED`;
//! - same key while the first is still running → 409 `IDEMPOTENCY_KEY_IN_USE`;
//! - keys live 24 h.
//!
//! The key is claimed with one conditional write before the handler runs. A handler that
//! succeeds must have completed the claim in the SAME atomic write as its effect (the charge
//! insert does), so "effect stored" and "response remembered" can never disagree. A handler
//! that fails changed nothing, so the claim is released and a corrected retry may reuse the key.
//! If the process dies mid-request the claim's lease (below) expires and a retry of the same
//! request takes it over.
//!
//! Handlers whose effect is not a store transaction of ours (a sandbox payment, a schedule
//! PutItem) complete the claim right after the effect with [`remember`]. A crash in between
//! loses only the stored response: the retry runs the handler again, which its own conditions
//! make harmless (the charge is no longer PENDING; the same schedule is simply set again).
//!
//! A response that shows a secret (a new webhook signing secret) is remembered with
//! [`remember_sealed`]: encrypted under the data key like the secret itself, so the
//! idempotency record never holds it in plain text, and opened again for the replay.

use std::future::Future;

use chrono::Duration;
use http::{HeaderValue, StatusCode};
use pixgw_domain::idempotency::{
    ClaimOutcome, ClaimRequest, IdempotencyClaim, IdempotencyCompletion, StoredResponse,
};
use pixgw_domain::pix::ids::AccountId;
use sha2::{Digest, Sha256};

use crate::auth::{decrypt_secret, encrypt_secret};
use crate::error::ApiError;
use crate::http_types::{ApiRequest, ApiResponse};
use crate::state::AppState;

pub const HEADER: &str = "x-idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// How long a key is remembered.
pub const KEY_TTL_HOURS: i64 = 24;
/// Marks a stored body sealed by [`remember_sealed`]. A JSON body never starts with it.
const SEALED_PREFIX: &str = "sealed:";
/// How long a running request owns its key before a retry may take over (longer than any
/// handler may run: API Gateway stops waiting after 29 s).
pub const LEASE_SECONDS: i64 = 60;

/// Runs `handler` under the request's idempotency key, if it has one.
pub async fn run<F, Fut>(
    state: &AppState,
    request: &ApiRequest,
    account_id: &AccountId,
    handler: F,
) -> Result<ApiResponse, ApiError>
where
    F: FnOnce(Option<IdempotencyClaim>) -> Fut,
    Fut: Future<Output = Result<ApiResponse, ApiError>>,
{
    let Some(key) = request.header(HEADER) else {
        if request.headers.contains_key(HEADER) {
            return Err(ApiError::InvalidIdempotencyKey);
        }
        return handler(None).await;
    };
    let key = uuid::Uuid::parse_str(key.trim())
        .map_err(|_| ApiError::InvalidIdempotencyKey)?
        .hyphenated()
        .to_string();

    let now = state.clock.now();
    let lock_token = uuid::Uuid::new_v4().to_string();
    let request_hash = request_hash(request);
    let outcome = state
        .store
        .claim(&ClaimRequest {
            account_id,
            key: &key,
            request_hash: &request_hash,
            lock_token: &lock_token,
            now,
            lease_until: now + Duration::seconds(LEASE_SECONDS),
            expires_at: now + Duration::hours(KEY_TTL_HOURS),
        })
        .await?;
    match outcome {
        ClaimOutcome::Claimed(claim) => {
            let result = handler(Some(claim.clone())).await;
            if result.is_err() {
                // Nothing was stored; forget the claim. Failing to release only delays a
                // retry until the lease ends, so it must not mask the real error.
                if let Err(e) = state.store.release(&claim).await {
                    tracing::warn!(error = %e, "could not release idempotency claim");
                }
            }
            result
        }
        ClaimOutcome::Replay(stored) => {
            let status = StatusCode::from_u16(stored.status)
                .map_err(|_| ApiError::Internal("stored status".into()))?;
            let body = match stored.body.strip_prefix(SEALED_PREFIX) {
                Some(sealed) => decrypt_secret(&state.keys, sealed)?,
                None => stored.body,
            };
            let mut response = ApiResponse::raw_json(status, body.into_bytes().into());
            response
                .headers
                .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
            Ok(response)
        }
        ClaimOutcome::Mismatch => Err(ApiError::IdempotencyKeyReused),
        ClaimOutcome::InUse => Err(ApiError::IdempotencyKeyInUse),
    }
}

/// Completes `claim` (when the request had a key) with `response`, for replays. The effect
/// already happened: failing to remember the response must not turn it into an error, it only
/// means a retry with this key runs the handler again instead of replaying.
pub async fn remember(state: &AppState, claim: Option<IdempotencyClaim>, response: &ApiResponse) {
    let Some(claim) = claim else {
        return;
    };
    let body = String::from_utf8_lossy(&response.body).into_owned();
    complete(state, claim, response.status, body).await;
}

/// [`remember`] for a response that shows a secret: the stored body is encrypted under the
/// data key and decrypted again for the replay. If it cannot be sealed the response is not
/// remembered (a retry runs the handler again once the claim's lease has passed) rather than
/// stored in plain text.
pub async fn remember_sealed(
    state: &AppState,
    claim: Option<IdempotencyClaim>,
    response: &ApiResponse,
) {
    let Some(claim) = claim else {
        return;
    };
    let plain = String::from_utf8_lossy(&response.body);
    match encrypt_secret(&state.keys, &plain) {
        Ok(sealed) => {
            let body = format!("{SEALED_PREFIX}{sealed}");
            complete(state, claim, response.status, body).await;
        }
        Err(e) => tracing::warn!(error = %e, "could not seal the response to remember"),
    }
}

async fn complete(state: &AppState, claim: IdempotencyClaim, status: StatusCode, body: String) {
    let completion = IdempotencyCompletion {
        claim,
        response: StoredResponse {
            status: status.as_u16(),
            body,
        },
    };
    if let Err(e) = state.store.complete(&completion).await {
        tracing::warn!(error = %e, "could not complete idempotency claim");
    }
}

/// A digest of what makes two requests "the same": method, path and body. JSON bodies are
/// compared by content (key order and whitespace do not matter; number spelling does).
pub fn request_hash(request: &ApiRequest) -> String {
    let canonical_body = serde_json::from_slice::<serde_json::Value>(&request.body)
        .map(|value| value.to_string().into_bytes())
        .unwrap_or_else(|_| request.body.to_vec());
    let mut hasher = Sha256::new();
    hasher.update(request.method.as_str().as_bytes());
    hasher.update([0]);
    hasher.update(request.path.as_bytes());
    hasher.update([0]);
    hasher.update(&canonical_body);
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;
    use serde_json::json;

    #[test]
    fn same_json_in_another_key_order_hashes_the_same() {
        let a = ApiRequest::new(Method::POST, "/api/x").with_json(&json!({"a": 1, "b": {"c": 2}}));
        let mut b = ApiRequest::new(Method::POST, "/api/x");
        b.body = bytes::Bytes::from_static(b"{ \"b\": {\"c\": 2}, \"a\": 1 }");
        assert_eq!(request_hash(&a), request_hash(&b));
    }

    #[test]
    fn different_body_or_path_hashes_differently() {
        let a = ApiRequest::new(Method::POST, "/api/x").with_json(&json!({"a": 1}));
        let b = ApiRequest::new(Method::POST, "/api/x").with_json(&json!({"a": 2}));
        let c = ApiRequest::new(Method::POST, "/api/y").with_json(&json!({"a": 1}));
        assert_ne!(request_hash(&a), request_hash(&b));
        assert_ne!(request_hash(&a), request_hash(&c));
    }
}
