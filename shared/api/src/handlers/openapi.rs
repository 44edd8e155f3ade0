//! `GET /api/openapi.json`: the OpenAPI 3.1 document of every route.

use bytes::Bytes;
use http::StatusCode;

use crate::http_types::ApiResponse;

pub fn serve() -> ApiResponse {
    ApiResponse::raw_json(
        StatusCode::OK,
        Bytes::from_static(crate::openapi::DOCUMENT.as_bytes()),
    )
}
