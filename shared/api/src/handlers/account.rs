//! `GET /api/account/balance`.

use http::StatusCode;
use pixgw_domain::pix::ids::AccountId;

use crate::error::ApiError;
use crate::http_types::ApiResponse;
use crate::state::AppState;
use crate::views::BalanceView;

pub async fn balance(state: &AppState, account_id: &AccountId) -> Result<ApiResponse, ApiError> {
    let balance = state.store.get_balance(account_id).await?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &BalanceView::new(&balance),
    ))
}
