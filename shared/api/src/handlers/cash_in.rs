//! `POST /api/pix/cash-in`, `GET /api/pix/cash-in/{transactionId}`, `GET /api/pix/cash-in`.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use http::StatusCode;
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::ids::{AccountId, TransactionId};
use pixgw_domain::payout::SplitEntry;
use pixgw_domain::ports::{ChargeCursor, ChargeQuery, StoredResponse};
use pixgw_domain::service::ChargeListRequest;
use pixgw_domain::validation::validate_create_charge;

use crate::error::ApiError;
use crate::handlers::json_body;
use crate::http_types::{ApiRequest, ApiResponse};
use crate::idempotency;
use crate::routes::PathParams;
use crate::state::AppState;
use crate::views::{ChargeView, PageView};

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

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
    let id = params
        .get("transactionId")
        .and_then(TransactionId::parse)
        .ok_or(ApiError::NotFound("charge"))?;
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
    let mut errors = Vec::new();
    for (name, _) in &request.query {
        if !LIST_PARAMS.contains(&name.as_str()) {
            errors.push(format!("query parameter {name} is not supported"));
        }
    }
    let mut single = |name: &str| -> Option<String> {
        let values = request.query_values(name);
        if values.len() > 1 {
            errors.push(format!("query parameter {name} must appear at most once"));
            return None;
        }
        values.first().map(|v| (*v).to_owned())
    };
    let external_id = single("externalId");
    let status = single("status");
    let from = single("from");
    let to = single("to");
    let limit = single("limit");
    let cursor = single("cursor");

    if external_id.as_deref().is_some_and(|e| e.trim().is_empty()) {
        errors.push("externalId should not be empty".into());
    }
    let status = status.and_then(|s| {
        let parsed = ChargeStatus::parse(&s);
        if parsed.is_none() {
            errors.push(
                "status must be one of the following values: PENDING, CONFIRMED, REFUNDED, EXPIRED"
                    .into(),
            );
        }
        parsed
    });
    let mut time = |name: &str, value: Option<String>| {
        value.and_then(|v| match parse_time(&v) {
            Ok(t) => Some(t),
            Err(_) => {
                errors.push(format!("{name} must be an ISO 8601 date-time with offset (e.g. 2024-01-15T10:30:00.000Z)"));
                None
            }
        })
    };
    let from = time("from", from);
    let to = time("to", to);
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        errors.push("from must be before to".into());
    }
    let limit = match limit {
        None => DEFAULT_PAGE_SIZE,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => {
                errors.push(format!(
                    "limit must be an integer between 1 and {MAX_PAGE_SIZE}"
                ));
                DEFAULT_PAGE_SIZE
            }
        },
    };
    let after = cursor.and_then(|c| {
        let decoded = ChargeCursor::decode(&c);
        if decoded.is_none() {
            errors.push("cursor is invalid (use nextCursor from a previous page)".into());
        }
        decoded
    });
    if !errors.is_empty() {
        return Err(ApiError::InvalidQuery(errors));
    }
    Ok(ChargeListRequest {
        external_id,
        query: ChargeQuery {
            status,
            from,
            to,
            limit,
            after,
        },
    })
}

/// RFC 3339 with an offset. A `+01:00` offset sent without URL-encoding arrives as a space
/// (form decoding turns `+` into ` `), so a space in the offset position is read as `+`.
fn parse_time(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|e| {
            if text.contains(' ') {
                DateTime::parse_from_rfc3339(&text.replace(' ', "+"))
            } else {
                Err(e)
            }
        })
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_with_offsets_survive_form_decoding() {
        let z = parse_time("2024-01-15T10:30:00.000Z").unwrap();
        assert_eq!(parse_time("2024-01-15T07:30:00-03:00").unwrap(), z);
        assert_eq!(parse_time("2024-01-15T11:30:00 01:00").unwrap(), z);
        assert!(parse_time("2024-01-15").is_err());
    }
}
