//! `GET /api/disputes?status=&limit=&cursor=`, `GET /api/disputes/{disputeId}` (bearer token)
//! and `POST /api/disputes/{disputeId}/defence` (bearer token and `DigitalSignature`: the
//! defence decides whose money a MED takes): the account's MED disputes (see
//! [`pixgw_domain::dispute`]).
//!
//! The listing reads its query like every other listing (`limit` 1..=100, default 20; an opaque
//! `cursor`; unknown or repeated parameters refused, every problem at once) and pages newest
//! opened first.

use http::StatusCode;
use pixgw_domain::dispute::DisputeState;
use pixgw_domain::dispute::ports::{DisputeCursor, DisputeQuery};
use pixgw_domain::dispute::validation::validate_defence;
use pixgw_domain::dispute::view::DisputeView;
use pixgw_domain::pix::ids::{AccountId, DisputeId};

use crate::error::ApiError;
use crate::handlers::json_body;
use crate::handlers::listing::QueryReader;
use crate::http_types::{ApiRequest, ApiResponse};
use crate::routes::PathParams;
use crate::state::AppState;
use crate::views::PageView;

pub async fn list(
    state: &AppState,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let query = parse_list_query(request)?;
    let page = state.disputes.list(account_id, &query).await?;
    let view = PageView {
        items: page.items.iter().map(DisputeView::new).collect(),
        next_cursor: page.next.as_ref().map(DisputeCursor::encode),
    };
    Ok(ApiResponse::json(StatusCode::OK, &view))
}

pub async fn get(
    state: &AppState,
    params: &PathParams,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let id = dispute_id(params)?;
    let dispute = state.disputes.get(account_id, &id).await?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &DisputeView::new(&dispute),
    ))
}

pub async fn defend(
    state: &AppState,
    params: &PathParams,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let id = dispute_id(params)?;
    let text = validate_defence(&json_body(request)?).map_err(ApiError::Validation)?;
    let dispute = state.disputes.defend(account_id, &id, &text).await?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &DisputeView::new(&dispute),
    ))
}

pub(crate) fn dispute_id(params: &PathParams) -> Result<DisputeId, ApiError> {
    params.parse_or_404("disputeId", DisputeId::parse, ApiError::NotFound("dispute"))
}

const LIST_PARAMS: [&str; 3] = ["status", "limit", "cursor"];

/// Reads `status, limit, cursor`, reporting every problem at once.
fn parse_list_query(request: &ApiRequest) -> Result<DisputeQuery, ApiError> {
    let mut q = QueryReader::new(request, &LIST_PARAMS);
    let status = q.single("status");
    let limit = q.single("limit");
    let cursor = q.single("cursor");
    let statuses = DisputeState::ALL.map(DisputeState::as_str);
    let status = q.one_of("status", status, &statuses, DisputeState::parse);
    let limit = q.limit(limit);
    let after = q.cursor("cursor", "nextCursor", cursor, DisputeCursor::decode);
    q.finish()?;
    Ok(DisputeQuery {
        status,
        limit,
        after,
    })
}
