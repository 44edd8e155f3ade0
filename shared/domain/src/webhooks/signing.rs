//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): the three headers every
//! delivery carries, so any off-the-shelf library verifies them.
//!
//! - `webhook-id`: the event id, the same on every attempt (receivers deduplicate on it);
//! - `webhook-timestamp`: the attempt's time, Unix seconds;
//! - `webhook-signature`: `v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>` per
//!   signing secret, space separated (two during a secret rotation).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::Mac;

use super::endpoint::WebhookSecret;
use crate::pix::hmac::hmac_sha256;

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// One `v1,<base64>` signature of `body` sent as `id` at `timestamp` (Unix seconds).
pub fn sign(secret: &WebhookSecret, id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = hmac_sha256(&secret.key());
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The headers of one attempt, signed with every secret given (newest first).
pub fn headers(
    secrets: &[WebhookSecret],
    id: &str,
    at: DateTime<Utc>,
    body: &str,
) -> Vec<(&'static str, String)> {
    let timestamp = at.timestamp();
    let signatures: Vec<String> = secrets
        .iter()
        .map(|secret| sign(secret, id, timestamp, body))
        .collect();
    vec![
        (HEADER_ID, id.to_owned()),
        (HEADER_TIMESTAMP, timestamp.to_string()),
        (HEADER_SIGNATURE, signatures.join(" ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn matches_the_specification_example() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn one_signature_per_secret() {
        let a = WebhookSecret::generate();
        let b = WebhookSecret::generate();
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let h = headers(&[a.clone(), b.clone()], "evt_1", at, "{}");
        assert_eq!(h[0], (HEADER_ID, "evt_1".to_owned()));
        assert_eq!(h[1], (HEADER_TIMESTAMP, "1700000000".to_owned()));
        let expected = format!(
            "{} {}",
            sign(&a, "evt_1", 1_700_000_000, "{}"),
            sign(&b, "evt_1", 1_700_000_000, "{}")
        );
        assert_eq!(h[2], (HEADER_SIGNATURE, expected));
    }
}
