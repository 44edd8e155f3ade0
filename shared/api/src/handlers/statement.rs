//! `GET /api/account/statement?from=&to=&limit=&cursor=`: the account's ledger entries, oldest
//! first, one per leg of each movement touching one of its buckets (see
//! [`pixgw_domain::flows::statement`]). Each balance is the sum of its bucket's entries.

use http::StatusCode;
use pixgw_domain::flows::statement::{
    StatementCursor, StatementEntry, StatementQuery, statement_page,
};
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::money::Money;
use serde::Serialize;

use crate::error::ApiError;
use crate::handlers::listing::QueryReader;
use crate::http_types::{ApiRequest, ApiResponse};
use crate::state::AppState;
use crate::views::{PageView, timestamp};

/// One statement line.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatementEntryView {
    pub id: String,
    pub created_at: String,
    /// Positive; `direction` says which way.
    pub amount: Money,
    /// `CREDIT` (into the bucket) or `DEBIT`.
    pub direction: &'static str,
    /// `INCOMING`, `AVAILABLE` or `RESERVED_FOR_SPLITS`.
    pub bucket: &'static str,
    pub cause: CauseView,
    pub movement_id: String,
    pub movement_kind: &'static str,
}

/// What caused an entry: `CASH_IN` (transaction id), `PAYOUT` (payout id), `REFUND`
/// (transaction id) or `CASH_OUT` (cash-out id).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CauseView {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
}

impl StatementEntryView {
    pub fn new(entry: &StatementEntry) -> StatementEntryView {
        StatementEntryView {
            id: entry.id.clone(),
            created_at: timestamp(entry.created_at),
            amount: entry.amount,
            direction: entry.direction.as_str(),
            bucket: entry.bucket.as_str(),
            cause: CauseView {
                kind: entry.cause_type,
                id: entry.cause_id.clone(),
            },
            movement_id: entry.movement_id.clone(),
            movement_kind: entry.kind.as_str(),
        }
    }
}

pub async fn get(
    state: &AppState,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let query = parse_query(request)?;
    let page = statement_page(&*state.store, account_id, &query).await?;
    let view = PageView {
        items: page.entries.iter().map(StatementEntryView::new).collect(),
        next_cursor: page.next.as_ref().map(StatementCursor::encode),
    };
    Ok(ApiResponse::json(StatusCode::OK, &view))
}

const PARAMS: [&str; 4] = ["from", "to", "limit", "cursor"];

/// Reads `from, to, limit, cursor`, reporting every problem at once.
fn parse_query(request: &ApiRequest) -> Result<StatementQuery, ApiError> {
    let mut q = QueryReader::new(request, &PARAMS);
    let from = q.single("from");
    let to = q.single("to");
    let limit = q.single("limit");
    let cursor = q.single("cursor");
    let from = q.time("from", from);
    let to = q.time("to", to);
    q.range(from, to);
    let limit = q.limit(limit);
    let after = q.cursor("cursor", "nextCursor", cursor, StatementCursor::decode);
    q.finish()?;
    Ok(StatementQuery {
        from,
        to,
        after,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;

    #[test]
    fn every_problem_is_reported() {
        let request = ApiRequest::from_uri(
            Method::GET,
            "/api/account/statement?from=yesterday&to=2024-01-01T00:00:00Z&limit=0&cursor=%21%21&status=X",
        );
        let Err(ApiError::InvalidQuery(errors)) = parse_query(&request) else {
            panic!("errors expected");
        };
        assert_eq!(
            errors,
            [
                "query parameter status is not supported",
                "from must be an ISO 8601 date-time with offset (e.g. 2024-01-15T10:30:00.000Z)",
                "limit must be an integer between 1 and 100",
                "cursor is invalid (use nextCursor from a previous page)",
            ]
        );
    }

    #[test]
    fn cursors_round_trip_and_limits_default() {
        let cursor = StatementCursor {
            created_at_ms: 1_700_000_000_000,
            movement_id: "mv_1".into(),
            leg: 1,
        };
        let request = ApiRequest::from_uri(
            Method::GET,
            &format!("/api/account/statement?cursor={}", cursor.encode()),
        );
        let query = parse_query(&request).unwrap();
        assert_eq!(query.after, Some(cursor));
        assert_eq!(query.limit, 20);
    }
}
