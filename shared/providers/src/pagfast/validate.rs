//! Checks our own cash-in request against seed 003's schema before it leaves.
//!
//! The seed warns that incomplete or malformed requests can make PagFast answer `500`. A 500
//! caused by our request would be deterministic: retrying it would only hammer PagFast and
//! count a healthy provider as down. So the adapter never sends a request this module refuses,
//! and can then treat every 500 PagFast does return as PagFast's own failure (retryable).

use std::str::FromStr;

use rust_decimal::Decimal;

use super::wire::CashInRequest;

/// Every problem found, as `"{path}: {message}"` (the seed's JSON-pointer paths), or nothing.
pub fn problems(request: &CashInRequest) -> Vec<String> {
    let mut found = Vec::new();
    let mut check = |ok: bool, path: &str, message: &str| {
        if !ok {
            found.push(format!("{path}: {message}"));
        }
    };

    if let Some(payer) = &request.payment.payer {
        check(
            payer.cpf.len() == 11 && payer.cpf.bytes().all(|b| b.is_ascii_digit()),
            "/payment/payer/cpf",
            "must be 11 digits",
        );
    }
    check(
        is_positive_amount(&request.payment.value.original),
        "/payment/value/original",
        "must be a decimal string greater than 0 with at most 2 decimal places",
    );
    check(
        !request.transaction.order_id.trim().is_empty(),
        "/transaction/orderId",
        "must not be empty",
    );
    check(
        !request.transaction.order_description.trim().is_empty(),
        "/transaction/orderDescription",
        "must not be empty",
    );
    check(
        is_absolute_http_url(&request.webhook.url),
        "/webhook/url",
        "must be an absolute http(s) URL",
    );
    check(
        is_token(&request.webhook.custom_header_name),
        "/webhook/customHeaderName",
        "must be a valid HTTP header name",
    );
    check(
        is_header_value(&request.webhook.custom_header_value),
        "/webhook/customHeaderValue",
        "must be a non-empty, printable HTTP header value",
    );
    found
}

/// `"50.00"`, `"0.01"`, `"50"`; not `"0"`, `"-1"`, `"1.001"`, `"1e2"`, `" 1"`.
fn is_positive_amount(text: &str) -> bool {
    let plain = text.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !text.is_empty();
    match Decimal::from_str(text) {
        Ok(value) => plain && value > Decimal::ZERO && value.scale() <= 2,
        Err(_) => false,
    }
}

fn is_absolute_http_url(text: &str) -> bool {
    match reqwest::Url::parse(text) {
        Ok(url) => matches!(url.scheme(), "https" | "http") && url.host_str().is_some(),
        Err(_) => false,
    }
}

/// RFC 9110 `token`: what a header name may be.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Visible ASCII and inner spaces, so PagFast can send it back verbatim.
fn is_header_value(text: &str) -> bool {
    !text.trim().is_empty()
        && text == text.trim()
        && text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        for ok in ["50.00", "0.01", "50", "1234567.8"] {
            assert!(is_positive_amount(ok), "{ok}");
        }
        for bad in [
            "0", "0.00", "-1.00", "1.001", "1e2", " 1", "", "abc", "1,00",
        ] {
            assert!(!is_positive_amount(bad), "{bad}");
        }
    }

    #[test]
    fn urls_and_headers() {
        assert!(is_absolute_http_url(
            "https://pix.example.com/webhooks/pagfast"
        ));
        assert!(is_absolute_http_url("http://127.0.0.1:8080/x"));
        assert!(!is_absolute_http_url("/webhooks/pagfast"));
        assert!(!is_absolute_http_url("ftp://example.com/x"));
        assert!(is_token("X-PagFast-Token"));
        assert!(!is_token("X PagFast"));
        assert!(!is_token(""));
        assert!(is_header_value("abc def"));
        assert!(!is_header_value("abc\r\nX-Evil: 1"));
        assert!(!is_header_value(" "));
    }
}
