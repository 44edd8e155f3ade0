//! PagFast's non-2xx answers, in our terms.
//!
//! | PagFast | us |
//! |---|---|
//! | `400 InvalidRequestFormatError` | `Rejected(InvalidRequest)`, each detail as `"{path}: {message}"` |
//! | `401 AuthenticationError`, 403 | `Unavailable`: our token, not the merchant's input; counts toward failover |
//! | 429 | `Unavailable`: throttled, nothing done |
//! | `409 OperationError` `CounterpartyTaxNumberInvalid` | `Rejected(PayerDocumentRestricted)` |
//! | `409 OperationError` `CounterpartyServiceError` | `Rejected(PayerDocumentInvalid)` |
//! | `409 OperationError`, other reasons | `Rejected(Other)` |
//! | other 4xx | `Rejected(Other)` with the error name (or `HTTP {status}`) |
//! | 5xx (after retries), anything else | `Unavailable` |
//!
//! PagFast echoes the payer's CPF in its messages (`TaxNumber:50194184190`); every message we
//! keep goes through [`mask_documents`] first, because it ends up in logs and in the
//! merchant's error `details`.

use pixgw_domain::error::{ProviderError, ProviderRejection, RejectionKind};
use serde_json::Value;

use super::wire::{ErrorBody, ErrorEnvelope};
use crate::http::HttpReply;
use crate::mask::mask_documents;

/// Maps a non-2xx reply (after the HTTP layer's retries).
pub fn map_error(reply: &HttpReply) -> ProviderError {
    let body: Option<ErrorBody> = serde_json::from_slice::<ErrorEnvelope>(&reply.body)
        .ok()
        .and_then(|envelope| envelope.error);
    let name = body.as_ref().and_then(|b| b.name.clone());
    let details = body.as_ref().and_then(|b| b.details.as_ref());
    let message = body
        .as_ref()
        .and_then(|b| b.message.as_deref())
        .map(mask_documents);

    match reply.status {
        // Our own credentials refused or not allowed: the operator's problem, never the
        // merchant's, and a reason to fail over.
        401 | 403 => {
            let reason = details
                .and_then(|d| detail_str(d, "reason"))
                .or(name)
                .unwrap_or_else(|| format!("HTTP {}", reply.status));
            ProviderError::Unavailable(format!(
                "PagFast refused our API token ({})",
                mask_documents(&reason)
            ))
        }
        400 if name.as_deref() == Some("InvalidRequestFormatError") => {
            ProviderError::Rejected(ProviderRejection {
                kind: RejectionKind::InvalidRequest,
                reason: "InvalidRequestFormatError".to_owned(),
                message,
                errors: details.map(field_errors).unwrap_or_default(),
            })
        }
        409 if name.as_deref() == Some("OperationError") => {
            let reason = details
                .and_then(|d| detail_str(d, "reason"))
                .unwrap_or_else(|| "OperationError".to_owned());
            let kind = match reason.as_str() {
                "CounterpartyTaxNumberInvalid" => RejectionKind::PayerDocumentRestricted,
                "CounterpartyServiceError" => RejectionKind::PayerDocumentInvalid,
                _ => RejectionKind::Other,
            };
            ProviderError::Rejected(ProviderRejection {
                kind,
                reason: mask_documents(&reason),
                message: details
                    .and_then(|d| detail_str(d, "message"))
                    .map(|m| mask_documents(&m))
                    .or(message),
                errors: Vec::new(),
            })
        }
        // Throttled: nothing was done; the request may be repeated later.
        429 => ProviderError::Unavailable("PagFast is rate limiting us (HTTP 429)".to_owned()),
        400..=499 => ProviderError::Rejected(ProviderRejection {
            kind: RejectionKind::Other,
            reason: name
                .map(|n| mask_documents(&n))
                .unwrap_or_else(|| format!("HTTP {}", reply.status)),
            message,
            errors: details.map(field_errors).unwrap_or_default(),
        }),
        status => ProviderError::Unavailable(format!("PagFast answered HTTP {status}")),
    }
}

fn detail_str(details: &Value, key: &str) -> Option<String> {
    details.get(key)?.as_str().map(str::to_owned)
}

/// The 400's `details` list as `"{path}: {message}"` (`"/payment/payer: must have required
/// property 'cpf'"`), masked.
fn field_errors(details: &Value) -> Vec<String> {
    let Some(items) = details.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .map(|item| {
            let path = item.get("path").and_then(Value::as_str).unwrap_or("");
            let message = item
                .get("message")
                .and_then(Value::as_str)
                .or_else(|| item.get("code").and_then(Value::as_str))
                .unwrap_or("invalid");
            mask_documents(&format!("{path}: {message}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn forbidden_and_throttled_are_ours_to_fix_not_the_merchants() {
        for status in [403, 429] {
            let reply = HttpReply {
                status,
                body: Bytes::from_static(b"{}"),
            };
            assert!(
                matches!(map_error(&reply), ProviderError::Unavailable(_)),
                "{status}"
            );
        }
        let reply = HttpReply {
            status: 404,
            body: Bytes::from_static(b"{}"),
        };
        assert!(matches!(map_error(&reply), ProviderError::Rejected(_)));
    }
}
