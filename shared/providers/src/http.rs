//! The HTTP client every real provider adapter talks through: rustls with the aws-lc-rs
//! provider (already linked by the AWS SDK) and the Mozilla roots, no redirects, no proxies
//! from the environment, a per-request timeout, and retries with exponential backoff and
//! jitter on the failures that leave the outcome unknown (timeouts, connection errors, 5xx).
//!
//! Retrying a POST is only safe because every adapter sends the same idempotency key (or, for
//! PagFast, the same `orderId`) on every attempt: the provider answers a repeat with the first
//! call's outcome. Callers build the request afresh for each attempt with the same key.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;

/// How often and how patiently a call is repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// The wait before the second attempt; doubled for each further one.
    pub base_delay: Duration,
    /// No wait is longer than this (before jitter).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Three attempts, 200 ms then 400 ms apart (±20 %): a request path can afford about a
    /// second of patience before failing over to the next provider.
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// No retries (tests that count calls, one-shot probes).
    pub const NONE: RetryPolicy = RetryPolicy {
        attempts: 1,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };

    /// The wait after failed attempt `attempt` (1-based), jittered by ±20 % so many clients
    /// retrying at once spread out.
    fn delay_after(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let capped = exp.min(self.max_delay);
        let factor = rand::rng().random_range(0.8..=1.2);
        capped.mul_f64(factor)
    }
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub body: Bytes,
}

impl HttpReply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn is_server_error(&self) -> bool {
        self.status >= 500
    }
}

/// The request never got an answer: the outcome is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Other(String),
}

#[derive(Debug, thiserror::Error)]
#[error("HTTP client could not be built: {0}")]
pub struct BuildError(String);

/// Whether a 5xx answer may be retried: yes wherever the request carries an idempotency key
/// the provider honours; callers pass `No` for requests a 5xx may be deterministic for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryServerErrors {
    Yes,
    No,
}

/// A client for one provider.
#[derive(Clone)]
pub struct ProviderHttp {
    client: reqwest::Client,
    retry: RetryPolicy,
}

impl std::fmt::Debug for ProviderHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderHttp")
            .field("retry", &self.retry)
            .finish()
    }
}

impl ProviderHttp {
    /// `timeout` bounds each attempt, connection and body included.
    pub fn new(timeout: Duration, retry: RetryPolicy) -> Result<ProviderHttp, BuildError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let crypto = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(crypto)
            .with_safe_default_protocol_versions()
            .map_err(|e| BuildError(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| BuildError(e.to_string()))?;
        Ok(ProviderHttp { client, retry })
    }

    /// Sends the request `build` makes, up to the policy's attempts while the answer is a
    /// transport failure or (when `server_errors` allows) a 5xx. Returns the last answer; a
    /// final transport failure is an error.
    pub async fn send<F>(
        &self,
        build: F,
        server_errors: RetryServerErrors,
    ) -> Result<HttpReply, TransportError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let mut attempt = 1;
        loop {
            let result = self.send_once(build(&self.client)).await;
            let retryable = match &result {
                Err(_) => true,
                Ok(reply) => reply.is_server_error() && server_errors == RetryServerErrors::Yes,
            };
            if !retryable || attempt >= self.retry.attempts {
                return result;
            }
            tracing::warn!(
                attempt,
                outcome = %describe(&result),
                "PIX provider call failed; retrying with the same idempotency key"
            );
            tokio::time::sleep(self.retry.delay_after(attempt)).await;
            attempt += 1;
        }
    }

    async fn send_once(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<HttpReply, TransportError> {
        let response = request.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(classify)?;
        Ok(HttpReply { status, body })
    }
}

fn describe(result: &Result<HttpReply, TransportError>) -> String {
    match result {
        Ok(reply) => format!("HTTP {}", reply.status),
        Err(e) => e.to_string(),
    }
}

fn classify(error: reqwest::Error) -> TransportError {
    // Never the URL: ours carry webhook tokens in their query strings.
    let error = error.without_url();
    if error.is_timeout() {
        TransportError::Timeout(error.to_string())
    } else if error.is_connect() {
        TransportError::Connect(error.to_string())
    } else {
        TransportError::Other(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
        let policy = RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
        };
        for _ in 0..50 {
            let first = policy.delay_after(1);
            assert!(first >= Duration::from_millis(80) && first <= Duration::from_millis(120));
            let second = policy.delay_after(2);
            assert!(second >= Duration::from_millis(160) && second <= Duration::from_millis(240));
            let capped = policy.delay_after(4);
            assert!(capped >= Duration::from_millis(240) && capped <= Duration::from_millis(360));
        }
    }
}
