//! The merchant's webhooks (bearer token checked by the route table):
//! `PUT`/`GET /api/account/webhook`, `POST /api/account/webhook/rotate-secret`,
//! `GET /api/webhooks/deliveries` and `POST /api/webhooks/deliveries/{deliveryId}/redeliver`.
//! The rules are [`WebhookService`](pixgw_domain::webhooks::service::WebhookService)'s.

use http::StatusCode;
use pixgw_domain::messaging::events::EventType;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::webhooks::{DeliveryQuery, DeliveryStatus};

use crate::error::ApiError;
use crate::handlers::listing::QueryReader;
use crate::handlers::{json_body, no_body};
use crate::http_types::{ApiRequest, ApiResponse};
use crate::idempotency;
use crate::routes::PathParams;
use crate::state::AppState;
use crate::views::{DeliveryView, PageView, WebhookEndpointView};
use crate::webhooks::{
    decode_delivery_cursor, encode_delivery_cursor, is_delivery_id, parse_endpoint_body,
};

/// Registers or replaces the endpoint: 201 with the new signing secret when created, 200
/// without it when replaced (the secrets are kept).
pub async fn put_endpoint(
    state: &AppState,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let body = json_body(request)?;
    let wanted =
        parse_endpoint_body(&body, state.webhooks.policy()).map_err(ApiError::Validation)?;
    idempotency::run(state, request, account_id, |claim| async move {
        let registered = state
            .webhooks
            .put_endpoint(account_id, &wanted.url, wanted.events)
            .await?;
        let status = match registered.secret {
            Some(_) => StatusCode::CREATED,
            None => StatusCode::OK,
        };
        let view = WebhookEndpointView::new(
            &registered.endpoint,
            registered.secret.as_ref(),
            state.clock.now(),
        );
        let response = ApiResponse::json(status, &view);
        // A 201 shows the secret: its replay must not keep it in plain text.
        idempotency::remember_sealed(state, claim, &response).await;
        Ok(response)
    })
    .await
}

pub async fn get_endpoint(
    state: &AppState,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let endpoint = state.webhooks.get_endpoint(account_id).await?;
    let view = WebhookEndpointView::new(&endpoint, None, state.clock.now());
    Ok(ApiResponse::json(StatusCode::OK, &view))
}

/// A new signing secret, shown in this response only; the previous one keeps signing for 24 h.
pub async fn rotate_secret(
    state: &AppState,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    no_body(request)?;
    idempotency::run(state, request, account_id, |claim| async move {
        let rotated = state.webhooks.rotate_secret(account_id).await?;
        let view = WebhookEndpointView::new(
            &rotated.endpoint,
            rotated.secret.as_ref(),
            state.clock.now(),
        );
        let response = ApiResponse::json(StatusCode::OK, &view);
        idempotency::remember_sealed(state, claim, &response).await;
        Ok(response)
    })
    .await
}

pub async fn list_deliveries(
    state: &AppState,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let query = parse_list_query(request)?;
    let page = state.webhooks.list_deliveries(account_id, &query).await?;
    let view = PageView {
        items: page.deliveries.iter().map(DeliveryView::new).collect(),
        next_cursor: page.next_cursor.as_deref().map(encode_delivery_cursor),
    };
    Ok(ApiResponse::json(StatusCode::OK, &view))
}

/// Starts a new round of the delivery now (202: the attempt runs on the queue).
pub async fn redeliver(
    state: &AppState,
    params: &PathParams,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let id = params.parse_or_404(
        "deliveryId",
        |id| is_delivery_id(id).then_some(id),
        ApiError::WebhookDeliveryNotFound,
    )?;
    no_body(request)?;
    idempotency::run(state, request, account_id, |claim| async move {
        let delivery = state.webhooks.redeliver(account_id, id).await?;
        let response = ApiResponse::json(StatusCode::ACCEPTED, &DeliveryView::new(&delivery));
        idempotency::remember(state, claim, &response).await;
        Ok(response)
    })
    .await
}

const LIST_PARAMS: [&str; 4] = ["type", "status", "limit", "cursor"];

/// Reads `type, status, limit, cursor`, reporting every problem at once.
fn parse_list_query(request: &ApiRequest) -> Result<DeliveryQuery, ApiError> {
    let mut q = QueryReader::new(request, &LIST_PARAMS);
    let event_type = q.single("type");
    let status = q.single("status");
    let limit = q.single("limit");
    let cursor = q.single("cursor");

    let event_type = q.one_of(
        "type",
        event_type,
        &EventType::ALL.map(EventType::as_str),
        EventType::parse,
    );
    let status = q.one_of(
        "status",
        status,
        &DeliveryStatus::ALL.map(DeliveryStatus::as_str),
        DeliveryStatus::parse,
    );
    let limit = q.limit(limit);
    let cursor = q.cursor("cursor", "nextCursor", cursor, decode_delivery_cursor);
    q.finish()?;
    Ok(DeliveryQuery {
        event_type,
        status,
        cursor,
        // 1..=100, checked by the reader.
        limit: limit as usize,
    })
}
