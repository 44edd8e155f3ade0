//! Host-neutral request and response types.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::Serialize;

/// Requests larger than this are refused with a 400 envelope before any parsing.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A request as every host can build it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// The path without query string, e.g. `/api/pix/cash-in/abc`.
    pub path: String,
    /// Decoded query parameters in arrival order.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiRequest {
    pub fn new(method: Method, path: impl Into<String>) -> ApiRequest {
        ApiRequest {
            method,
            path: path.into(),
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// Splits `path?query` and percent-decodes the query.
    pub fn from_uri(method: Method, path_and_query: &str) -> ApiRequest {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut request = ApiRequest::new(method, path);
        request.query = parse_query(query);
        request
    }

    /// From the parts of an `http` request, as both hosts (lambda_http, axum) receive it.
    pub fn from_http(parts: http::request::Parts, body: Bytes) -> ApiRequest {
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or_else(|| parts.uri.path());
        let mut request = ApiRequest::from_uri(parts.method.clone(), path_and_query);
        request.headers = parts.headers;
        request.body = body;
        request
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> ApiRequest {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.insert(name, value);
        }
        self
    }

    pub fn with_json(mut self, body: &serde_json::Value) -> ApiRequest {
        self.body = Bytes::from(body.to_string());
        self.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// All values of a query parameter (repeated parameters are an input error for us).
    pub fn query_values(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Decodes `a=1&b=x%20y` (form encoding: `+` is a space).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// A response as every host can send it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiResponse {
    pub fn json<T: Serialize>(status: StatusCode, value: &T) -> ApiResponse {
        // Serialising our own view types cannot fail (no maps with non-string keys).
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        ApiResponse::raw_json(status, Bytes::from(body))
    }

    pub fn raw_json(status: StatusCode, body: Bytes) -> ApiResponse {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        ApiResponse {
            status,
            headers,
            body,
        }
    }

    pub fn body_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_percent_decoded() {
        let q = parse_query("externalId=ORD%2F1+2&status=PENDING&x=%zz&y=%4");
        assert_eq!(q[0], ("externalId".into(), "ORD/1 2".into()));
        assert_eq!(q[1], ("status".into(), "PENDING".into()));
        assert_eq!(q[2], ("x".into(), "%zz".into()));
        assert_eq!(q[3], ("y".into(), "%4".into()));
    }
}
