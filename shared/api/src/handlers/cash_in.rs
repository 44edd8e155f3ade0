//! `POST /api/pix/cash-in`, `GET /api/pix/cash-in/{transactionId}`, `GET /api/pix/cash-in`.

use std::sync::OnceLock;

use http::StatusCode;
use pixgw_domain::charge::ports::{ChargeCursor, ChargeQuery};
use pixgw_domain::charge::validation::validate_create_charge;
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::flows::create_charge::ChargeListRequest;
use pixgw_domain::idempotency::StoredResponse;
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::split::entry::SplitEntry;

use crate::error::ApiError;
use crate::handlers::json_body;
use crate::handlers::listing::read_listing;
use crate::http_types::{ApiRequest, ApiResponse};
use crate::idempotency;
use crate::routes::PathParams;
use crate::state::AppState;
use crate::views::{ChargeView, PageView};

pub use crate::handlers::listing::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

pub async fn create(
    state: &AppState,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let body = json_body(request)?;
    let input = validate_create_charge(&body).map_err(ApiError::Validation)?;
    // A token outliving its account (deleted or moved) is no longer a valid session.
    let account = state
        .store
        .get_account(account_id)
        .await?
        .ok_or(ApiError::InvalidToken)?;

    idempotency::run(state, request, account_id, |claim| async move {
        // The response is rendered inside the store transaction's inputs (for replays), so
        // keep the one rendering and return it as is.
        let rendered: OnceLock<StoredResponse> = OnceLock::new();
        let render = |charge: &Charge| rendered.get_or_init(|| render_created(charge)).clone();
        let charge = state
            .charges
            .create_charge(&account, input, claim, &render)
            .await?;
        let stored = rendered.get_or_init(|| render_created(&charge));
        Ok(ApiResponse::raw_json(
            StatusCode::CREATED,
            stored.body.clone().into_bytes().into(),
        ))
    })
    .await
}

fn render_created(charge: &Charge) -> StoredResponse {
    let view = charge_view(charge, &[]);
    StoredResponse {
        status: StatusCode::CREATED.as_u16(),
        body: serde_json::to_string(&view).unwrap_or_default(),
    }
}

/// The view, with the QR image when the merchant asked for it at creation.
pub fn charge_view(charge: &Charge, splits: &[SplitEntry]) -> ChargeView {
    let qr = charge.generate_qr_code.then(|| {
        pixgw_providers::qr::qr_png_data_url(&charge.pix_code)
            .inspect_err(|e| tracing::error!(error = %e, "QR rendering failed"))
            .ok()
    });
    ChargeView::new(charge, splits, qr.flatten())
}

pub async fn get(
    state: &AppState,
    params: &PathParams,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let id = params.parse_or_404(
        "transactionId",
        TransactionId::parse,
        ApiError::NotFound("charge"),
    )?;
    let details = state.charges.get_charge_details(account_id, &id).await?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &charge_view(&details.charge, &details.splits),
    ))
}

pub async fn list(
    state: &AppState,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let list_request = parse_list_query(request)?;
    let page = state
        .charges
        .list_charge_details(account_id, &list_request)
        .await?;
    let view = PageView {
        // Listings stay light: no QR images (GET one charge for that).
        items: page
            .items
            .iter()
            .map(|d| ChargeView::new(&d.charge, &d.splits, None))
            .collect(),
        next_cursor: page.next.map(|c| c.encode()),
    };
    Ok(ApiResponse::json(StatusCode::OK, &view))
}

const LIST_PARAMS: [&str; 6] = ["externalId", "status", "from", "to", "limit", "cursor"];

/// Reads `externalId, status, from, to, limit, cursor`, reporting every problem at once.
fn parse_list_query(request: &ApiRequest) -> Result<ChargeListRequest, ApiError> {
    let f = read_listing(
        request,
        &LIST_PARAMS,
        &ChargeStatus::ALL.map(ChargeStatus::as_str),
        ChargeStatus::parse,
        ChargeCursor::decode,
    )?;
    Ok(ChargeListRequest {
        external_id: f.external_id,
        query: ChargeQuery {
            status: f.status,
            from: f.from,
            to: f.to,
            limit: f.limit,
            after: f.after,
        },
    })
}
