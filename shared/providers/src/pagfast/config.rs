//! What the PagFast adapter needs to know, from the host's configuration (env locally;
//! Secrets Manager / SSM through `template.yaml` on Lambda).

use std::time::Duration;

use crate::http::RetryPolicy;
use crate::secret::Secret;

/// Which PagFast the credentials belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagFastEnvironment {
    /// `https://api.sandbox.pagfast.com/v1` (seed 003's `qrCodeLocation` host).
    Sandbox,
    /// `https://api.pagfast.com/v1`.
    Production,
}

impl PagFastEnvironment {
    pub fn base_url(self) -> &'static str {
        match self {
            PagFastEnvironment::Sandbox => "https://api.sandbox.pagfast.com/v1",
            PagFastEnvironment::Production => "https://api.pagfast.com/v1",
        }
    }

    /// `sandbox` / `staging` or `production`.
    pub fn parse(value: &str) -> Option<PagFastEnvironment> {
        match value.trim().to_ascii_lowercase().as_str() {
            "sandbox" | "staging" => Some(PagFastEnvironment::Sandbox),
            "production" | "prod" => Some(PagFastEnvironment::Production),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PagFastConfig {
    /// Without a trailing slash; requests go to `{base_url}/accounts/pix/cashin`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer {api_token}` (the seed documents the 401 for an invalid
    /// or expired token, not how it is issued: PagFast hands integrators a token).
    pub api_token: Secret,
    /// Our public inbound endpoint for PagFast (`webhook.url`).
    pub webhook_url: String,
    /// `webhook.customHeaderName` / `customHeaderValue`: PagFast sends this header with every
    /// webhook, and we accept a webhook only when it carries exactly this value.
    pub webhook_header_name: String,
    pub webhook_header_value: Secret,
    pub timeout: Duration,
    pub retry: RetryPolicy,
}
