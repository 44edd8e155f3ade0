//! What the ConnectPSP adapter needs to know, from the host's configuration (env locally;
//! Secrets Manager / SSM through `template.yaml` on Lambda).

use std::time::Duration;

use crate::http::RetryPolicy;
use crate::secret::Secret;

/// Which ConnectPSP the credentials belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectPspEnvironment {
    /// `https://api.homologacao.connectpsp.com` (seeds 000/001).
    Staging,
    /// `https://api.connectpsp.com`.
    Production,
}

impl ConnectPspEnvironment {
    pub fn base_url(self) -> &'static str {
        match self {
            ConnectPspEnvironment::Staging => "https://api.homologacao.connectpsp.com",
            ConnectPspEnvironment::Production => "https://api.connectpsp.com",
        }
    }

    /// `staging` / `homologacao` or `production`.
    pub fn parse(value: &str) -> Option<ConnectPspEnvironment> {
        match value.trim().to_ascii_lowercase().as_str() {
            "staging" | "homologacao" | "sandbox" => Some(ConnectPspEnvironment::Staging),
            "production" | "prod" => Some(ConnectPspEnvironment::Production),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConnectPspConfig {
    /// Without a trailing slash. [`ConnectPspEnvironment::base_url`] in deployments; a mock
    /// server in tests.
    pub base_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// The fixed GUID of our integration (`ApplicationToken` header).
    pub application_token: Secret,
    /// Keys the `DigitalSignature` of cash-outs and refunds.
    pub crypto_token: Secret,
    /// Our public inbound endpoint for ConnectPSP, without query: the adapter appends
    /// `?token={webhook_token}` when it registers it as a charge's / transfer's `webhookUrl`.
    pub webhook_url: String,
    /// Authenticates ConnectPSP's calls to `webhook_url` (ConnectPSP does not sign them).
    pub webhook_token: Secret,
    /// Bounds each HTTP attempt.
    pub timeout: Duration,
    pub retry: RetryPolicy,
}
