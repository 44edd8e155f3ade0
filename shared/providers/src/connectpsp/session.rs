//! Authenticated calls to ConnectPSP: the documented headers on every call, one renewal and
//! resend on a 401, retries (through [`ProviderHttp::send`]) on timeouts and 5xx.

use bytes::Bytes;
use pixgw_domain::error::ProviderError;
use reqwest::Method;

use super::auth::{self, TokenCache};
use super::errors;
use crate::http::{HttpReply, ProviderHttp, RetryServerErrors};
use crate::secret::Secret;

/// One API call, described once and rebuilt for every attempt.
pub(crate) struct Call<'a> {
    pub method: Method,
    /// From the base URL on, already percent-encoded (`/cash-in/US7B1JQ/refund`).
    pub path: String,
    pub body: Option<Bytes>,
    /// Our stable key; sent as the derived `X-Idempotency-Key`.
    pub idempotency_key: Option<&'a str>,
    /// Whether the call needs a `DigitalSignature` (refunds, cash-outs).
    pub signed: bool,
    /// What the call is, for error messages (`cash-in creation`).
    pub what: &'static str,
}

pub(crate) struct Session {
    pub base_url: String,
    pub application_token: Secret,
    pub crypto_token: Secret,
    pub http: ProviderHttp,
    pub tokens: TokenCache,
}

impl Session {
    /// Sends `call` and returns ConnectPSP's answer, whatever its status, except: transport
    /// failures and a 5xx left after the retries are `Unavailable`, and so is a second 401
    /// (ConnectPSP does not accept our credentials).
    pub async fn send(&self, call: Call<'_>) -> Result<HttpReply, ProviderError> {
        let url = format!("{}{}", self.base_url, call.path);
        let idempotency = call.idempotency_key.map(auth::idempotency_uuid);
        for attempt in 1..=2 {
            let token = self.tokens.get(&self.http).await?;
            // Recomputed per token: the signature covers the exact JWT sent with it.
            let signature = call
                .signed
                .then(|| auth::digital_signature(&self.crypto_token, &token.jwt));
            let reply = self
                .http
                .send(
                    |client| {
                        let mut request = client
                            .request(call.method.clone(), &url)
                            .header("Authorization", format!("Bearer {}", token.jwt))
                            .header("ApplicationToken", self.application_token.expose())
                            .header("Accept", "application/json");
                        if let Some(key) = &idempotency {
                            request = request.header("X-Idempotency-Key", key);
                        }
                        if let Some(signature) = &signature {
                            request = request.header("DigitalSignature", signature);
                        }
                        if let Some(body) = &call.body {
                            request = request
                                .header("Content-Type", "application/json")
                                .body(body.clone());
                        }
                        request
                    },
                    // Safe for POSTs: every attempt carries the same X-Idempotency-Key.
                    RetryServerErrors::Yes,
                )
                .await
                .map_err(|e| errors::transport(call.what, e))?;
            if reply.status == 401 {
                if attempt == 1 {
                    tracing::info!(
                        call = call.what,
                        "ConnectPSP refused our token; renewing it"
                    );
                    self.tokens.invalidate(&token).await;
                    continue;
                }
                return Err(auth::refused());
            }
            // 403: our integration is not allowed (credentials, not the merchant's request);
            // 429: throttled. Neither did anything, and both are reasons to fail over.
            if reply.is_server_error() || matches!(reply.status, 403 | 429) {
                return Err(errors::unexpected(call.what, &reply));
            }
            return Ok(reply);
        }
        Err(auth::refused())
    }
}

/// Percent-encodes one path segment or query value (everything but RFC 3986 unreserved).
pub(crate) fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode_component;

    #[test]
    fn components_are_encoded() {
        assert_eq!(encode_component("US7B1JQ"), "US7B1JQ");
        assert_eq!(encode_component("a b/c?d&e=f"), "a%20b%2Fc%3Fd%26e%3Df");
    }
}
