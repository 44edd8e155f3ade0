//! `GET /api/account/payout-schedule` and `PUT /api/account/payout-schedule` (the route table
//! has already checked the bearer token and, for PUT, the `DigitalSignature`).

use http::StatusCode;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::schedule::parse_schedule;

use crate::error::ApiError;
use crate::handlers::json_body;
use crate::http_types::{ApiRequest, ApiResponse};
use crate::idempotency;
use crate::state::AppState;
use crate::views::schedule_view;

pub async fn get(state: &AppState, account_id: &AccountId) -> Result<ApiResponse, ApiError> {
    let current = state.schedules.current(account_id).await?;
    Ok(ApiResponse::json(StatusCode::OK, &schedule_view(&current)))
}

pub async fn put(
    state: &AppState,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let body = json_body(request)?;
    let schedule = parse_schedule(&body).map_err(ApiError::Validation)?;
    idempotency::run(state, request, account_id, |claim| async move {
        let saved = state.schedules.replace(account_id, schedule).await?;
        let response = ApiResponse::json(StatusCode::OK, &schedule_view(&saved));
        idempotency::remember(state, claim, &response).await;
        Ok(response)
    })
    .await
}
