//! ConnectPSP's refusals in our terms, and the masking that keeps CPF/CNPJ numbers out of
//! what we log or hand back to merchants.
//!
//! ConnectPSP's error body is not in our seeds, so it is read tolerantly: the reason comes
//! from `code`, `error` or `name`, the message from `message`, field problems from `details`
//! or `errors` (strings, `{field, message}` objects or a `{field: message}` map); anything
//! else falls back to `HTTP {status}`.

use pixgw_domain::error::{ProviderError, ProviderRejection, RejectionKind};
use serde_json::Value;

use crate::http::{HttpReply, TransportError};
use crate::mask::mask_documents;

/// A 4xx (other than 401, which the session handles) as a [`ProviderError::Rejected`].
pub(crate) fn rejected(reply: &HttpReply) -> ProviderError {
    ProviderError::Rejected(rejection(reply.status, &reply.body))
}

pub(crate) fn rejection(status: u16, body: &[u8]) -> ProviderRejection {
    let kind = match status {
        400 | 422 => RejectionKind::InvalidRequest,
        409 => RejectionKind::NotAllowed,
        _ => RejectionKind::Other,
    };
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let object = parsed.as_ref().and_then(Value::as_object);
    let text_field = |names: &[&str]| {
        names.iter().find_map(|name| {
            object
                .and_then(|o| o.get(*name))
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(mask_documents)
        })
    };
    let reason = text_field(&["code", "error", "name"]).unwrap_or_else(|| format!("HTTP {status}"));
    let message = text_field(&["message"]);
    let errors = object
        .and_then(|o| o.get("details").or_else(|| o.get("errors")))
        .map(list_errors)
        .unwrap_or_default();
    ProviderRejection {
        kind,
        reason,
        message,
        errors,
    }
}

fn list_errors(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![mask_documents(s)],
        Value::Array(items) => items.iter().filter_map(describe_item).collect(),
        Value::Object(map) => map
            .iter()
            .map(|(field, problem)| mask_documents(&format!("{field}: {}", plain(problem))))
            .collect(),
        _ => Vec::new(),
    }
}

fn describe_item(item: &Value) -> Option<String> {
    let text = match item {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let field = ["field", "path", "property"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_str));
            let message = ["message", "error", "description"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_str));
            match (field, message) {
                (Some(f), Some(m)) => format!("{f}: {m}"),
                (None, Some(m)) => m.to_owned(),
                _ => item.to_string(),
            }
        }
        Value::Null => return None,
        other => other.to_string(),
    };
    Some(mask_documents(&text))
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An answer we cannot act on: the outcome is unknown, so the caller may retry (same key) or
/// fail over.
pub(crate) fn unexpected(what: &str, reply: &HttpReply) -> ProviderError {
    ProviderError::Unavailable(format!("ConnectPSP {what} answered HTTP {}", reply.status))
}

pub(crate) fn transport(what: &str, error: TransportError) -> ProviderError {
    ProviderError::Unavailable(format!("ConnectPSP {what}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerant_error_bodies() {
        let r = rejection(
            422,
            br#"{"code":"INVALID_DOCUMENT","message":"document 12345678909 is invalid","details":[{"field":"payer.document","message":"invalid"}]}"#,
        );
        assert_eq!(r.kind, RejectionKind::InvalidRequest);
        assert_eq!(r.reason, "INVALID_DOCUMENT");
        assert_eq!(
            r.message.as_deref(),
            Some("document ***.***.***-** is invalid")
        );
        assert_eq!(r.errors, vec!["payer.document: invalid".to_owned()]);

        let r = rejection(
            409,
            br#"{"error":"NOT_PAID","errors":{"id":"not refundable"}}"#,
        );
        assert_eq!(r.kind, RejectionKind::NotAllowed);
        assert_eq!(r.reason, "NOT_PAID");
        assert_eq!(r.errors, vec!["id: not refundable".to_owned()]);

        let r = rejection(404, b"<html>not found</html>");
        assert_eq!(r.kind, RejectionKind::Other);
        assert_eq!(r.reason, "HTTP 404");
        assert_eq!(r.message, None);
        assert!(r.errors.is_empty());
    }
}
