//! `POST /webhooks/provider/{provider}`: a PIX provider tells us what happened on the network.
//!
//! Public (no JWT): the provider adapter authenticates the call by its signature before
//! anything is read. Replays and duplicates answer 200 and change nothing, so a provider that
//! retries until it sees a 2xx is always satisfied exactly once.
//!
//! A provider's event only touches that provider's work: the charge it issued (payment,
//! refund), the cash-out sent through it, the payout whose transfer it holds. An event naming
//! another provider's work is answered 404 `PUB_NOT_FOUND`, exactly as an unknown id: through
//! this provider that work does not exist. Not 200, which would tell the sender its report was
//! taken; not 401, since the sender did authenticate as itself; and 404 reveals nothing about
//! which provider does hold it. The domain logs the mismatch for operators.

use http::StatusCode;
use pixgw_domain::error::DomainError;
use pixgw_domain::flows::confirm::ConfirmationResult;
use pixgw_domain::provider::InboundWebhook;
use serde_json::json;

use crate::error::ApiError;
use crate::http_types::{ApiRequest, ApiResponse};
use crate::routes::PathParams;
use crate::state::AppState;

pub async fn receive(
    state: &AppState,
    params: &PathParams,
    request: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let name = params.get("provider").unwrap_or_default();
    accept(state, name, request).await
}

/// Verifies and applies one webhook from the provider called `name`.
pub async fn accept(
    state: &AppState,
    name: &str,
    request: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let provider = state
        .provider_named(name)
        .ok_or(ApiError::NotFound("provider"))?;
    let headers: Vec<(String, String)> = request
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let webhook = InboundWebhook {
        headers: &headers,
        query: &request.query,
        body: &request.body,
        now: state.clock.now(),
    };
    let event = provider
        .verify_webhook(&webhook)
        .await
        .map_err(DomainError::from)?;
    let outcome = match state.confirmations.apply(provider.name(), event).await? {
        ConfirmationResult::Confirmed(_) => "CONFIRMED",
        ConfirmationResult::Duplicate => "DUPLICATE",
        ConfirmationResult::TransferSettled => "TRANSFER_SETTLED",
        ConfirmationResult::DisputeChanged => "DISPUTE_CHANGED",
        ConfirmationResult::HoldEnded => "HOLD_ENDED",
        ConfirmationResult::Ignored => "IGNORED",
    };
    Ok(ApiResponse::json(
        StatusCode::OK,
        &json!({ "received": true, "outcome": outcome }),
    ))
}
