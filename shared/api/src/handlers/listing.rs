//! Query-string reading shared by the listings (`GET /api/pix/cash-in`, `/api/pix/cash-out`,
//! `/api/payouts`, the webhook deliveries, the statement),
//! so they validate alike and report every problem at once: unknown and repeated parameters,
//! `from`/`to` (RFC 3339 with an offset, `from` before `to`), `limit` (1..=100, default 20)
//! and opaque cursors.

use chrono::{DateTime, Utc};

use crate::error::ApiError;
use crate::http_types::ApiRequest;

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

/// Collects the problems of one query string; [`QueryReader::finish`] turns them into the
/// 400 envelope.
pub struct QueryReader<'a> {
    request: &'a ApiRequest,
    errors: Vec<String>,
}

impl<'a> QueryReader<'a> {
    /// Starts with one error per parameter not in `supported`.
    pub fn new(request: &'a ApiRequest, supported: &[&str]) -> QueryReader<'a> {
        let errors = request
            .query
            .iter()
            .filter(|(name, _)| !supported.contains(&name.as_str()))
            .map(|(name, _)| format!("query parameter {name} is not supported"))
            .collect();
        QueryReader { request, errors }
    }

    pub fn error(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
    }

    /// The parameter's value; repeating it is an error.
    pub fn single(&mut self, name: &str) -> Option<String> {
        let values = self.request.query_values(name);
        if values.len() > 1 {
            self.errors
                .push(format!("query parameter {name} must appear at most once"));
            return None;
        }
        values.first().map(|v| (*v).to_owned())
    }

    /// An enum-valued parameter: `parse` or the error listing the allowed `values`.
    pub fn one_of<T>(
        &mut self,
        name: &str,
        value: Option<String>,
        values: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let text = value?;
        let parsed = parse(&text);
        if parsed.is_none() {
            self.errors.push(format!(
                "{name} must be one of the following values: {}",
                values.join(", ")
            ));
        }
        parsed
    }

    /// An instant (`from`, `to`).
    pub fn time(&mut self, name: &str, value: Option<String>) -> Option<DateTime<Utc>> {
        value.and_then(|v| match parse_time(&v) {
            Ok(t) => Some(t),
            Err(_) => {
                self.errors.push(format!(
                    "{name} must be an ISO 8601 date-time with offset (e.g. 2024-01-15T10:30:00.000Z)"
                ));
                None
            }
        })
    }

    /// `[from, to)` must not be empty.
    pub fn range(&mut self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) {
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            self.errors.push("from must be before to".into());
        }
    }

    /// The page size: 1..=100, [`DEFAULT_PAGE_SIZE`] when absent.
    pub fn limit(&mut self, value: Option<String>) -> u32 {
        match value {
            None => DEFAULT_PAGE_SIZE,
            Some(text) => match text.parse::<u32>() {
                Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
                _ => {
                    self.errors.push(format!(
                        "limit must be an integer between 1 and {MAX_PAGE_SIZE}"
                    ));
                    DEFAULT_PAGE_SIZE
                }
            },
        }
    }

    /// An opaque cursor handed out as `previous` (e.g. `nextCursor`) by an earlier response.
    pub fn cursor<T>(
        &mut self,
        name: &str,
        previous: &str,
        value: Option<String>,
        decode: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let text = value?;
        let decoded = decode(&text);
        if decoded.is_none() {
            self.errors.push(format!(
                "{name} is invalid (use {previous} from a previous page)"
            ));
        }
        decoded
    }

    /// `Ok` when nothing was wrong; otherwise 400 `PUB_VALIDATION_ERROR` listing everything.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::InvalidQuery(self.errors))
        }
    }
}

/// The filters every listing reads: `externalId` (only where `supported` lists it), `status`,
/// `from`/`to`, `limit` and `cursor`.
#[derive(Debug)]
pub struct ListingFilters<S, C> {
    pub external_id: Option<String>,
    pub status: Option<S>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: u32,
    pub after: Option<C>,
}

/// Reads a listing's query string, reporting every problem at once: unsupported or repeated
/// parameters first, then each value in the order above. `statuses` are the values `status`
/// accepts (named in its error), `parse_status` reads one, `decode_cursor` reads a
/// `nextCursor` handed out by an earlier page.
pub fn read_listing<S, C>(
    request: &ApiRequest,
    supported: &[&str],
    statuses: &[&str],
    parse_status: impl Fn(&str) -> Option<S>,
    decode_cursor: impl Fn(&str) -> Option<C>,
) -> Result<ListingFilters<S, C>, ApiError> {
    let mut q = QueryReader::new(request, supported);
    let external_id = if supported.contains(&"externalId") {
        q.single("externalId")
    } else {
        None
    };
    let status = q.single("status");
    let from = q.single("from");
    let to = q.single("to");
    let limit = q.single("limit");
    let cursor = q.single("cursor");

    if external_id.as_deref().is_some_and(|e| e.trim().is_empty()) {
        q.error("externalId should not be empty");
    }
    let status = q.one_of("status", status, statuses, parse_status);
    let from = q.time("from", from);
    let to = q.time("to", to);
    q.range(from, to);
    let limit = q.limit(limit);
    let after = q.cursor("cursor", "nextCursor", cursor, decode_cursor);
    q.finish()?;
    Ok(ListingFilters {
        external_id,
        status,
        from,
        to,
        limit,
        after,
    })
}

/// RFC 3339 with an offset. A `+01:00` offset sent without URL-encoding arrives as a space
/// (form decoding turns `+` into ` `), so a space in the offset position is read as `+`.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
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
    use http::Method;

    use super::*;

    #[test]
    fn times_with_offsets_survive_form_decoding() {
        let z = parse_time("2024-01-15T10:30:00.000Z").unwrap();
        assert_eq!(parse_time("2024-01-15T07:30:00-03:00").unwrap(), z);
        assert_eq!(parse_time("2024-01-15T11:30:00 01:00").unwrap(), z);
        assert!(parse_time("2024-01-15").is_err());
    }

    #[test]
    fn every_problem_is_reported_in_order() {
        let request = ApiRequest::from_uri(
            Method::GET,
            "/x?foo=1&limit=0&limit=3&from=yesterday&to=2024-01-15T10:30:00Z",
        );
        let mut q = QueryReader::new(&request, &["limit", "from", "to"]);
        let limit = q.single("limit");
        let from = q.single("from");
        let from = q.time("from", from);
        assert_eq!(q.limit(limit), DEFAULT_PAGE_SIZE);
        assert!(from.is_none());
        let Err(ApiError::InvalidQuery(errors)) = q.finish() else {
            panic!("errors expected");
        };
        assert_eq!(
            errors,
            [
                "query parameter foo is not supported",
                "query parameter limit must appear at most once",
                "from must be an ISO 8601 date-time with offset (e.g. 2024-01-15T10:30:00.000Z)",
            ]
        );
    }
}
