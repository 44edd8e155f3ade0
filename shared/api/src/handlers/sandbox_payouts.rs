//! `POST /api/sandbox/payouts/run` (sandbox only): runs the payout scheduler for the caller's
//! account now, as if its payout window had come — every SCHEDULED split of the account goes
//! out, one payout per recipient — and answers what the run did. The payouts are executed by
//! the pipeline right after (follow them with `GET /api/payouts`). The account's schedule then
//! continues with its regular next window.

use http::StatusCode;
use pixgw_domain::pix::ids::AccountId;

use crate::error::ApiError;
use crate::handlers::no_body;
use crate::http_types::{ApiRequest, ApiResponse};
use crate::idempotency;
use crate::state::AppState;
use crate::views::PayoutRunView;

pub async fn run(
    state: &AppState,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    state.sandbox.as_ref().ok_or(ApiError::RouteNotFound)?;
    no_body(request)?;
    idempotency::run(state, request, account_id, |claim| async move {
        let report = state.payout_scheduler.run_account_now(account_id).await?;
        let response = ApiResponse::json(StatusCode::OK, &PayoutRunView::new(&report));
        // The run happened; failing to remember the response only means a retry with this
        // key runs again, which finds nothing left to pay.
        idempotency::remember(state, claim, &response).await;
        Ok(response)
    })
    .await
}
