//! `GET /api/account/refund-policy` and `PUT /api/account/refund-policy` (the route table has
//! already checked the bearer token and, for PUT, the `DigitalSignature`): who bears a refund
//! that does not say (`liability` of `POST /api/pix/cash-in/{transactionId}/refund`).

use http::StatusCode;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::refund::validation::validate_refund_policy;

use crate::error::ApiError;
use crate::handlers::json_body;
use crate::http_types::{ApiRequest, ApiResponse};
use crate::idempotency;
use crate::state::AppState;
use crate::views::RefundPolicyView;

pub async fn get(state: &AppState, account_id: &AccountId) -> Result<ApiResponse, ApiError> {
    // A token outliving its account (deleted or moved) is no longer a valid session.
    let account = state
        .store
        .get_account(account_id)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &RefundPolicyView::new(account.refund_liability),
    ))
}

pub async fn put(
    state: &AppState,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let body = json_body(request)?;
    let liability = validate_refund_policy(&body).map_err(ApiError::Validation)?;
    idempotency::run(state, request, account_id, |claim| async move {
        // One conditional write of the one attribute: the answer is what was written, so
        // no read-back is needed.
        state
            .store
            .set_refund_liability(account_id, liability)
            .await?;
        let response = ApiResponse::json(StatusCode::OK, &RefundPolicyView::new(liability));
        idempotency::remember(state, claim, &response).await;
        Ok(response)
    })
    .await
}
