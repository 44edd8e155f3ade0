//! Webhook authentication, [Standard Webhooks](https://www.standardwebhooks.com/) style.
//!
//! - `webhook-id`: the message id (the sandbox uses the event id, so a redelivery keeps it);
//! - `webhook-timestamp`: unix seconds when it was signed;
//! - `webhook-signature`: space-separated `v1,<base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}"))>`
//!   entries. Several are allowed so a sender can sign with the old and the new secret while a
//!   secret is being rotated; one valid `v1` entry is enough. Other versions are skipped.
//!
//! The timestamp is signed too, so a captured webhook cannot be replayed after
//! [`TIMESTAMP_TOLERANCE_SECS`]; the tolerance applies both ways because a timestamp far in the
//! future is as suspicious as a stale one.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use pixgw_domain::pix::hmac::hmac_sha256;
use pixgw_domain::provider::{InboundWebhook, ProviderWebhookError};
use sha2::Sha256;

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// How far a signed timestamp may be from our clock, either way.
pub const TIMESTAMP_TOLERANCE_SECS: u64 = 5 * 60;

const VERSION_PREFIX: &str = "v1,";

/// A webhook as the sandbox PIX network sends it: lowercase header names and the raw body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedWebhook {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl SignedWebhook {
    /// The webhook as our inbound endpoint would receive it at `now`.
    pub fn inbound(&self, now: DateTime<Utc>) -> InboundWebhook<'_> {
        InboundWebhook {
            headers: &self.headers,
            query: &[],
            body: &self.body,
            now,
        }
    }

    /// A header by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The `v1,<base64>` signature of one message under `secret`.
pub fn sign(secret: &[u8], webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    WebhookKey::new(secret).sign(webhook_id, &timestamp.to_string(), body)
}

/// An HMAC keyed once with the webhook secret and cloned per message (cheaper than re-keying,
/// and the raw secret is not kept around).
#[derive(Clone)]
pub(crate) struct WebhookKey(Hmac<Sha256>);

impl WebhookKey {
    pub(crate) fn new(secret: &[u8]) -> WebhookKey {
        WebhookKey(hmac_sha256(secret))
    }

    fn mac_for(&self, webhook_id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(webhook_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    pub(crate) fn sign(&self, webhook_id: &str, timestamp: &str, body: &[u8]) -> String {
        let tag = self
            .mac_for(webhook_id, timestamp, body)
            .finalize()
            .into_bytes();
        format!("{VERSION_PREFIX}{}", STANDARD.encode(tag))
    }

    /// Signed headers for `body`, stamped at `at`.
    pub(crate) fn signed(
        &self,
        webhook_id: &str,
        at: DateTime<Utc>,
        body: Vec<u8>,
    ) -> SignedWebhook {
        let timestamp = at.timestamp().to_string();
        let signature = self.sign(webhook_id, &timestamp, &body);
        SignedWebhook {
            headers: vec![
                (HEADER_ID.to_owned(), webhook_id.to_owned()),
                (HEADER_TIMESTAMP.to_owned(), timestamp),
                (HEADER_SIGNATURE.to_owned(), signature),
                ("content-type".to_owned(), "application/json".to_owned()),
            ],
            body,
        }
    }

    /// Succeeds only if the headers carry a fresh timestamp and a valid `v1` signature.
    pub(crate) fn verify(&self, webhook: &InboundWebhook<'_>) -> Result<(), ProviderWebhookError> {
        let id = required(webhook, HEADER_ID, "missing webhook-id header")?;
        let timestamp = required(
            webhook,
            HEADER_TIMESTAMP,
            "missing webhook-timestamp header",
        )?;
        let signatures = required(
            webhook,
            HEADER_SIGNATURE,
            "missing webhook-signature header",
        )?;

        // Digits only: `str::parse` would also take `+123`, which would then be signed as a
        // different string than the sender's canonical one.
        if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ProviderWebhookError::Unauthenticated(
                "webhook-timestamp is not a unix timestamp",
            ));
        }
        let signed_at: i64 = timestamp.parse().map_err(|_| {
            ProviderWebhookError::Unauthenticated("webhook-timestamp is not a unix timestamp")
        })?;
        if webhook.now.timestamp().abs_diff(signed_at) > TIMESTAMP_TOLERANCE_SECS {
            return Err(ProviderWebhookError::Unauthenticated(
                "webhook-timestamp is outside the 5-minute tolerance",
            ));
        }

        let mac = self.mac_for(id, timestamp, webhook.body);
        let valid = signatures
            .split_ascii_whitespace()
            .filter_map(|entry| entry.strip_prefix(VERSION_PREFIX))
            .filter_map(|b64| STANDARD.decode(b64).ok())
            // `verify_slice` compares in constant time, so a forger learns nothing from timing.
            .any(|tag| mac.clone().verify_slice(&tag).is_ok());
        if valid {
            Ok(())
        } else {
            Err(ProviderWebhookError::Unauthenticated(
                "no valid v1 signature",
            ))
        }
    }
}

fn required<'a>(
    webhook: &InboundWebhook<'a>,
    name: &str,
    missing: &'static str,
) -> Result<&'a str, ProviderWebhookError> {
    // Re-borrow the headers with the webhook's own lifetime (`InboundWebhook::header` ties
    // the result to `&self`).
    let headers: &'a [(String, String)] = webhook.headers;
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
        .ok_or(ProviderWebhookError::Unauthenticated(missing))
}
