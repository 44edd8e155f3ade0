//! `GET /api/recipients?limit=&cursor=` and `GET /api/recipients/{recipientId}` (bearer token
//! checked by the route table; read-only): the account's split recipients — what a payout
//! groups by (PIX key type + key + document) — with what is scheduled to them, what they were
//! paid and what they owe (see [`pixgw_domain::recipient`]).
//!
//! The listing reads its query like every other listing (`limit` 1..=100, default 20; an
//! opaque `cursor`; unknown or repeated parameters refused, every problem at once) and pages in
//! ascending recipient id, the order the store keeps them in.

use http::StatusCode;
use pixgw_domain::pix::ids::{AccountId, RecipientId};

use crate::error::ApiError;
use crate::handlers::listing::QueryReader;
use crate::http_types::{ApiRequest, ApiResponse};
use crate::routes::PathParams;
use crate::state::AppState;
use crate::views::{PageView, RecipientView};

pub async fn list(
    state: &AppState,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let query = parse_list_query(request)?;
    let (recipients, next) = state
        .store
        .list_recipients(account_id, query.after.as_ref(), query.limit)
        .await?;
    let view = PageView {
        items: recipients.iter().map(RecipientView::summary).collect(),
        next_cursor: next.as_ref().map(encode_list_cursor),
    };
    Ok(ApiResponse::json(StatusCode::OK, &view))
}

pub async fn get(
    state: &AppState,
    params: &PathParams,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let id = params.parse_or_404(
        "recipientId",
        RecipientId::parse,
        ApiError::RecipientNotFound,
    )?;
    // The store reads within the account, so another account's id finds nothing; the check
    // is kept anyway: a recipient is never shown to an account that does not own it.
    let recipient = state
        .store
        .get_recipient(account_id, &id)
        .await?
        .filter(|r| &r.account_id == account_id)
        .ok_or(ApiError::RecipientNotFound)?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &RecipientView::detail(&recipient),
    ))
}

/// What the listing's query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ListQuery {
    limit: usize,
    /// The page starts strictly after this recipient.
    after: Option<RecipientId>,
}

const LIST_PARAMS: [&str; 2] = ["limit", "cursor"];

/// Reads `limit, cursor`, reporting every problem at once.
fn parse_list_query(request: &ApiRequest) -> Result<ListQuery, ApiError> {
    let mut q = QueryReader::new(request, &LIST_PARAMS);
    let limit = q.single("limit");
    let cursor = q.single("cursor");
    let limit = q.limit(limit);
    let after = q.cursor("cursor", "nextCursor", cursor, decode_list_cursor);
    q.finish()?;
    Ok(ListQuery {
        // 1..=100 by `QueryReader::limit`, so it always fits.
        limit: usize::try_from(limit).unwrap_or(1),
        after,
    })
}

/// The grammar of the recipient listing's cursor: the id of the last recipient of the previous
/// page, what [`decode_list_cursor`] accepts, exactly. A well-formed id that names no recipient
/// of the account just starts the page after where it would be (ids are ordered), so a cursor
/// never reveals anything beyond the caller's own recipients.
pub const LIST_CURSOR_PATTERN: &str = r"^rc_[0-9a-f]{32}$";

pub fn encode_list_cursor(after: &RecipientId) -> String {
    after.to_string()
}

pub fn decode_list_cursor(text: &str) -> Option<RecipientId> {
    RecipientId::parse(text)
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;

    fn errors(uri: &str) -> Vec<String> {
        match parse_list_query(&ApiRequest::from_uri(Method::GET, uri)) {
            Err(ApiError::InvalidQuery(errors)) => errors,
            other => panic!("{uri}: errors expected, got {other:?}"),
        }
    }

    #[test]
    fn every_problem_is_reported() {
        assert_eq!(
            errors("/api/recipients?status=PAID&limit=0&cursor=rc_x&limit=5"),
            [
                "query parameter status is not supported",
                "query parameter limit must appear at most once",
                "cursor is invalid (use nextCursor from a previous page)",
            ]
        );
        assert_eq!(
            errors("/api/recipients?limit=101&cursor=po_0123456789abcdef0123456789abcdef"),
            [
                "limit must be an integer between 1 and 100",
                "cursor is invalid (use nextCursor from a previous page)",
            ]
        );
    }

    #[test]
    fn limits_default_and_cursors_round_trip() {
        let query =
            parse_list_query(&ApiRequest::from_uri(Method::GET, "/api/recipients")).unwrap();
        assert_eq!(
            query,
            ListQuery {
                limit: 20,
                after: None
            }
        );
        let id = RecipientId::derive(
            &AccountId::generate(),
            ("EMAIL", "vendedor@email.com", "11222333000181"),
        );
        let uri = format!(
            "/api/recipients?limit=100&cursor={}",
            encode_list_cursor(&id)
        );
        let query = parse_list_query(&ApiRequest::from_uri(Method::GET, &uri)).unwrap();
        assert_eq!(
            query,
            ListQuery {
                limit: 100,
                after: Some(id)
            }
        );
    }
}
