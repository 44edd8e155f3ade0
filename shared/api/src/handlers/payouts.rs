//! `GET /api/payouts` and `GET /api/payouts/{payoutId}` (bearer token checked by the route
//! table). The listing validates its query exactly like `GET /api/pix/cash-in`.

use chrono::{DateTime, Utc};
use http::StatusCode;
use pixgw_domain::payout::ports::PayoutQuery;
use pixgw_domain::payout::{PayoutId, PayoutState, SplitRef};
use pixgw_domain::pix::ids::AccountId;

use crate::error::ApiError;
use crate::handlers::listing::{ListingFilters, QueryReader, read_listing};
use crate::http_types::{ApiRequest, ApiResponse};
use crate::payouts::{
    self, decode_list_cursor, decode_splits_cursor, encode_list_cursor, encode_splits_cursor,
};
use crate::routes::PathParams;
use crate::state::AppState;
use crate::views::{ManifestSplitView, PageView, PayoutDetailView, PayoutView};

/// The statuses a listed payout can have (ASSEMBLING payouts are not payouts yet).
const LISTED_STATES: [PayoutState; 3] = [
    PayoutState::Processing,
    PayoutState::Paid,
    PayoutState::Failed,
];

pub async fn list(
    state: &AppState,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let query = parse_list_query(request)?;
    let page = payouts::list(&state.store, account_id, &query).await?;
    let view = PageView {
        items: page.items.iter().map(PayoutView::new).collect(),
        next_cursor: page.next.as_ref().map(encode_list_cursor),
    };
    Ok(ApiResponse::json(StatusCode::OK, &view))
}

pub async fn get(
    state: &AppState,
    params: &PathParams,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let after = parse_get_query(request)?;
    let id = params.parse_or_404("payoutId", PayoutId::parse, ApiError::PayoutNotFound)?;
    let details = payouts::get(&state.store, account_id, &id, after.as_ref()).await?;
    let view = PayoutDetailView {
        payout: PayoutView::new(&details.payout),
        splits: details
            .splits
            .iter()
            .map(|(key, entry)| ManifestSplitView::new(&details.payout, key, entry))
            .collect(),
        next_splits_cursor: details.next.as_ref().map(encode_splits_cursor),
    };
    Ok(ApiResponse::json(StatusCode::OK, &view))
}

const LIST_PARAMS: [&str; 5] = ["status", "from", "to", "limit", "cursor"];

/// Reads `status, from, to, limit, cursor`, reporting every problem at once.
fn parse_list_query(request: &ApiRequest) -> Result<PayoutQuery, ApiError> {
    let ListingFilters {
        status,
        from,
        to,
        limit,
        after,
        ..
    } = read_listing(
        request,
        &LIST_PARAMS,
        &LISTED_STATES.map(PayoutState::as_str),
        |s| LISTED_STATES.into_iter().find(|st| st.as_str() == s),
        decode_list_cursor,
    )?;
    Ok(PayoutQuery {
        state: status,
        // `[from, to)` like every listing. Stored times are whole milliseconds and the
        // store's bounds are inclusive: the first millisecond at or after `from`, the last one
        // before `to`.
        from: from.and_then(|t| whole_millis(t, Rounding::Up)),
        to: to.and_then(|t| whole_millis(t, Rounding::DownStrictlyBefore)),
        limit,
        after,
    })
}

enum Rounding {
    /// The first whole millisecond at or after the instant.
    Up,
    /// The last whole millisecond strictly before the instant.
    DownStrictlyBefore,
}

fn whole_millis(t: DateTime<Utc>, rounding: Rounding) -> Option<DateTime<Utc>> {
    let floor = t.timestamp_millis();
    let aligned = t.timestamp_subsec_nanos().is_multiple_of(1_000_000);
    let ms = match rounding {
        Rounding::Up if aligned => floor,
        Rounding::Up => floor.checked_add(1)?,
        Rounding::DownStrictlyBefore if aligned => floor.checked_sub(1)?,
        Rounding::DownStrictlyBefore => floor,
    };
    DateTime::from_timestamp_millis(ms)
}

/// Reads the one parameter of `GET /api/payouts/{payoutId}`: `splitsCursor`.
fn parse_get_query(request: &ApiRequest) -> Result<Option<SplitRef>, ApiError> {
    let mut q = QueryReader::new(request, &["splitsCursor"]);
    let cursor = q.single("splitsCursor");
    let after = q.cursor(
        "splitsCursor",
        "nextSplitsCursor",
        cursor,
        decode_splits_cursor,
    );
    q.finish()?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> DateTime<Utc> {
        crate::handlers::listing::parse_time(text).unwrap()
    }

    #[test]
    fn bounds_become_whole_inclusive_milliseconds() {
        let up = |s| whole_millis(t(s), Rounding::Up).unwrap();
        let before = |s| whole_millis(t(s), Rounding::DownStrictlyBefore).unwrap();
        assert_eq!(
            up("2024-01-15T10:30:00.000Z"),
            t("2024-01-15T10:30:00.000Z")
        );
        assert_eq!(
            up("2024-01-15T10:30:00.0005Z"),
            t("2024-01-15T10:30:00.001Z")
        );
        assert_eq!(
            before("2024-01-15T10:30:00.000Z"),
            t("2024-01-15T10:29:59.999Z")
        );
        assert_eq!(
            before("2024-01-15T10:30:00.0005Z"),
            t("2024-01-15T10:30:00.000Z")
        );
    }
}
