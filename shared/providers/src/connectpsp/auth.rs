//! ConnectPSP's access token (`POST /auth/token`, valid for an hour) and the values derived
//! from it or from our keys: the `DigitalSignature` and the `X-Idempotency-Key`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use hmac::Mac;
use pixgw_domain::error::ProviderError;
use pixgw_domain::pix::clock::Clock;
use pixgw_domain::pix::hmac::hmac_sha256;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::errors;
use crate::http::{ProviderHttp, RetryServerErrors};
use crate::secret::Secret;

/// The seed says tokens last an hour; used when the answer has no `expiresIn`.
const DEFAULT_LIFETIME_SECS: i64 = 3600;
/// Renew this long before expiry, so a token never lapses between our check and ConnectPSP's.
const RENEW_MARGIN_SECS: i64 = 300;

/// A token we hold. The JWT is secret: no `Debug` that prints it.
#[derive(Clone)]
pub(crate) struct AccessToken {
    pub jwt: Arc<str>,
    /// When we renew it (expiry minus the margin), on the injected clock.
    renew_at: DateTime<Utc>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("renew_at", &self.renew_at)
            .finish_non_exhaustive()
    }
}

/// Holds the current token. Renewal happens under the lock, so concurrent callers that find
/// it expired wait for one `POST /auth/token` instead of each making their own.
pub(crate) struct TokenCache {
    base_url: String,
    client_id: String,
    client_secret: Secret,
    clock: Arc<dyn Clock>,
    current: Mutex<Option<AccessToken>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenReply {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

impl TokenCache {
    pub fn new(
        base_url: String,
        client_id: String,
        client_secret: Secret,
        clock: Arc<dyn Clock>,
    ) -> TokenCache {
        TokenCache {
            base_url,
            client_id,
            client_secret,
            clock,
            current: Mutex::new(None),
        }
    }

    /// A token with more than the margin left, fetching one if needed.
    pub async fn get(&self, http: &ProviderHttp) -> Result<AccessToken, ProviderError> {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref()
            && self.clock.now() < token.renew_at
        {
            return Ok(token.clone());
        }
        let token = self.fetch(http).await?;
        *current = Some(token.clone());
        Ok(token)
    }

    /// Forgets `rejected` after ConnectPSP answered 401 to it. A token another caller already
    /// renewed is kept, so a burst of 401s renews once.
    pub async fn invalidate(&self, rejected: &AccessToken) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|t| t.jwt == rejected.jwt) {
            *current = None;
        }
    }

    async fn fetch(&self, http: &ProviderHttp) -> Result<AccessToken, ProviderError> {
        let url = format!("{}/auth/token", self.base_url);
        let body = json!({
            "clientId": self.client_id,
            "clientSecret": self.client_secret.expose(),
        })
        .to_string();
        let reply = http
            .send(
                |client| {
                    client
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .header("Accept", "application/json")
                        .body(body.clone())
                },
                // Asking for a token twice is harmless.
                RetryServerErrors::Yes,
            )
            .await
            .map_err(|e| errors::transport("token endpoint", e))?;
        if matches!(reply.status, 401 | 403) {
            return Err(refused());
        }
        if !reply.is_success() {
            return Err(errors::unexpected("token endpoint", &reply));
        }
        let parsed: TokenReply = serde_json::from_slice(&reply.body).map_err(|_| {
            ProviderError::Unavailable("ConnectPSP token endpoint sent an unreadable answer".into())
        })?;
        if parsed.access_token.is_empty() {
            return Err(ProviderError::Unavailable(
                "ConnectPSP token endpoint sent an empty token".into(),
            ));
        }
        let lifetime = parsed
            .expires_in
            .as_ref()
            .and_then(seconds)
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_LIFETIME_SECS);
        // A short-lived token is still used for half its life rather than renewed on every call.
        let margin = RENEW_MARGIN_SECS.min(lifetime / 2);
        Ok(AccessToken {
            jwt: parsed.access_token.into(),
            renew_at: self.clock.now() + Duration::seconds(lifetime - margin),
        })
    }
}

/// `expiresIn` as a number or a numeric string, in seconds.
fn seconds(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Our credentials (or our token) were refused: our configuration, not the merchant's
/// request; counts towards failing over.
pub(crate) fn refused() -> ProviderError {
    ProviderError::Unavailable("ConnectPSP refused our credentials".into())
}

/// `DigitalSignature`: hex HMAC-SHA256 of the exact JWT sent, keyed with the crypto token.
pub(crate) fn digital_signature(crypto_token: &Secret, jwt: &str) -> String {
    let mut mac = hmac_sha256(crypto_token.expose().as_bytes());
    mac.update(jwt.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// `X-Idempotency-Key`: a UUID in v4 format (what the seed asks for) derived from our own
/// stable key, so every retry, every process and every restart sends the same one.
pub(crate) fn idempotency_uuid(key: &str) -> String {
    let digest = Sha256::digest(format!("connectpsp:{key}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_uuid_is_stable_v4_and_key_specific() {
        let a = idempotency_uuid("charge:abc");
        assert_eq!(a, idempotency_uuid("charge:abc"));
        assert_ne!(a, idempotency_uuid("charge:abd"));
        let parsed = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn signature_is_hmac_of_the_jwt() {
        // RFC 4231 test case 2.
        let sig = digital_signature(&Secret::new("Jefe"), "what do ya want for nothing?");
        assert_eq!(
            sig,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
