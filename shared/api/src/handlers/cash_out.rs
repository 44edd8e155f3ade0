//! `POST /api/pix/cash-out` (bearer token and `DigitalSignature` checked by the route table),
//! `GET /api/pix/cash-out/{id}` and `GET /api/pix/cash-out` (model: seed 002).
//!
//! The cash-out is created PROCESSING with its money already out of `available`, in one write
//! that also completes the idempotency claim (the `render` closure, like the cash-in's); the
//! transfer follows asynchronously (`CASHOUT_COMPLETED` / `CASHOUT_FAILED`).

use std::sync::OnceLock;

use http::StatusCode;
use pixgw_domain::cash_out::ports::{CashOutCursor, CashOutQuery};
use pixgw_domain::cash_out::view::CashOutView;
use pixgw_domain::cash_out::{CashOut, CashOutId, CashOutState};
use pixgw_domain::idempotency::StoredResponse;
use pixgw_domain::pix::ids::AccountId;

use crate::error::ApiError;
use crate::handlers::json_body;
use crate::handlers::listing::read_listing;
use crate::http_types::{ApiRequest, ApiResponse};
use crate::idempotency;
use crate::routes::PathParams;
use crate::state::AppState;
use crate::views::PageView;
use pixgw_domain::cash_out::validation::validate_cash_out;

pub async fn create(
    state: &AppState,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let body = json_body(request)?;
    let input = validate_cash_out(&body).map_err(ApiError::Validation)?;
    idempotency::run(state, request, account_id, |claim| async move {
        // Rendered once, inside the write's inputs (for replays), and returned as is.
        let rendered: OnceLock<StoredResponse> = OnceLock::new();
        let render = |c: &CashOut| rendered.get_or_init(|| render_accepted(c)).clone();
        let cash_out = state
            .cash_outs
            .request(account_id, input, claim, &render)
            .await?;
        let stored = rendered.get_or_init(|| render_accepted(&cash_out));
        Ok(ApiResponse::raw_json(
            StatusCode::ACCEPTED,
            stored.body.clone().into_bytes().into(),
        ))
    })
    .await
}

fn render_accepted(cash_out: &CashOut) -> StoredResponse {
    StoredResponse {
        status: StatusCode::ACCEPTED.as_u16(),
        body: serde_json::to_string(&CashOutView::new(cash_out)).unwrap_or_default(),
    }
}

pub async fn get(
    state: &AppState,
    params: &PathParams,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let id = params.parse_or_404(
        "cashOutId",
        CashOutId::parse,
        ApiError::NotFound("cash-out"),
    )?;
    let cash_out = state.cash_outs.get(account_id, &id).await?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &CashOutView::new(&cash_out),
    ))
}

pub async fn list(
    state: &AppState,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let (external_id, query) = parse_list_query(request)?;
    let page = state
        .cash_outs
        .list(account_id, external_id.as_deref(), &query)
        .await?;
    let view = PageView {
        items: page.items.iter().map(CashOutView::new).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    };
    Ok(ApiResponse::json(StatusCode::OK, &view))
}

const LIST_PARAMS: [&str; 6] = ["externalId", "status", "from", "to", "limit", "cursor"];

/// Reads `externalId, status, from, to, limit, cursor`, reporting every problem at once.
fn parse_list_query(request: &ApiRequest) -> Result<(Option<String>, CashOutQuery), ApiError> {
    let f = read_listing(
        request,
        &LIST_PARAMS,
        &CashOutState::ALL.map(CashOutState::as_str),
        CashOutState::parse,
        CashOutCursor::decode,
    )?;
    Ok((
        f.external_id,
        CashOutQuery {
            state: f.status,
            from: f.from,
            to: f.to,
            limit: f.limit,
            after: f.after,
        },
    ))
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;

    #[test]
    fn list_queries_report_every_problem() {
        let request = ApiRequest::from_uri(
            Method::GET,
            "/api/pix/cash-out?status=DONE&limit=500&cursor=zz&from=2024-01-02T00:00:00Z&to=2024-01-01T00:00:00Z&page=2",
        );
        let Err(ApiError::InvalidQuery(errors)) = parse_list_query(&request) else {
            panic!("errors expected");
        };
        assert_eq!(
            errors,
            [
                "query parameter page is not supported",
                "status must be one of the following values: PROCESSING, COMPLETED, FAILED",
                "from must be before to",
                "limit must be an integer between 1 and 100",
                "cursor is invalid (use nextCursor from a previous page)",
            ]
        );
    }

    #[test]
    fn a_valid_list_query_is_read() {
        let request = ApiRequest::from_uri(
            Method::GET,
            "/api/pix/cash-out?externalId=CO-1&status=COMPLETED&limit=5",
        );
        let (external_id, query) = parse_list_query(&request).unwrap();
        assert_eq!(external_id.as_deref(), Some("CO-1"));
        assert_eq!(query.state, Some(CashOutState::Completed));
        assert_eq!(query.limit, 5);
        assert!(query.after.is_none());
    }
}
