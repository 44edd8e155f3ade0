//! Building the real providers from the host's configuration: environment variables on Lambda
//! (set by `template.yaml`, secrets resolved from Secrets Manager at deploy time) and in the
//! local gateway. Hosts pass the lookup as a closure so tests can use a map instead of the
//! process environment.
//!
//! Errors name the variable that is missing or invalid and never carry a secret's value: they
//! end up in Lambda's init-error logs and on the local gateway's terminal.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use pixgw_domain::provider::directory::FailoverPolicy;
use pixgw_domain::provider::{PixProvider, ProviderCapabilities};

use crate::connectpsp::{ConnectPspConfig, ConnectPspEnvironment, ConnectPspProvider};
use crate::http::RetryPolicy;
use crate::pagfast::{PagFastConfig, PagFastEnvironment, PagFastProvider, PagFastWebhooks};
use crate::secret::Secret;

/// The providers a deployment may list in `PIXGW_PROVIDERS`.
pub const KNOWN_PROVIDERS: [&str; 3] = ["sandbox", "connectpsp", "pagfast"];

/// The header PagFast sends with every webhook unless `PAGFAST_WEBHOOK_HEADER_NAME` says
/// otherwise.
pub const DEFAULT_PAGFAST_WEBHOOK_HEADER: &str = "X-Pixgw-Webhook-Token";

/// `PIXGW_PROVIDER_TIMEOUT_MS` when unset.
pub const DEFAULT_PROVIDER_TIMEOUT: Duration = Duration::from_millis(10_000);

/// Webhook tokens are ours to choose: anything shorter is guessable.
const MIN_WEBHOOK_SECRET_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderConfigError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    /// `reason` never contains the variable's value when the variable holds a secret.
    #[error("invalid environment variable {variable}: {reason}")]
    Invalid {
        variable: &'static str,
        reason: String,
    },
    #[error("unknown PIX provider {0:?} in PIXGW_PROVIDERS (known: sandbox, connectpsp, pagfast)")]
    Unknown(String),
    #[error("PIX provider {0} is listed twice in PIXGW_PROVIDERS")]
    Duplicate(&'static str),
    #[error("PIXGW_PROVIDERS lists no provider")]
    Empty,
    #[error("cannot build the {provider} HTTP client: {reason}")]
    Build {
        provider: &'static str,
        reason: String,
    },
}

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A variable's value, trimmed; blank counts as unset (CloudFormation writes `''` for an empty
/// parameter).
fn optional(env: Env<'_>, name: &'static str) -> Option<String> {
    env(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn required(env: Env<'_>, name: &'static str) -> Result<String, ProviderConfigError> {
    optional(env, name).ok_or(ProviderConfigError::Missing(name))
}

fn invalid(variable: &'static str, reason: impl Into<String>) -> ProviderConfigError {
    ProviderConfigError::Invalid {
        variable,
        reason: reason.into(),
    }
}

/// A required secret. Only its presence is checked: its value never reaches an error.
fn secret(env: Env<'_>, name: &'static str) -> Result<Secret, ProviderConfigError> {
    required(env, name).map(Secret::new)
}

/// A secret we generate and the provider echoes back (webhook token / header value): it must
/// be long enough not to be guessed and printable ASCII, since it travels in a URL query or an
/// HTTP header. `url_safe` narrows it to characters that need no escaping in a query.
fn webhook_secret(
    env: Env<'_>,
    name: &'static str,
    url_safe: bool,
) -> Result<Secret, ProviderConfigError> {
    let value = required(env, name)?;
    if value.len() < MIN_WEBHOOK_SECRET_LEN {
        return Err(invalid(
            name,
            format!("must be at least {MIN_WEBHOOK_SECRET_LEN} characters"),
        ));
    }
    let allowed = |c: char| {
        if url_safe {
            c.is_ascii_alphanumeric() || "-._~".contains(c)
        } else {
            c.is_ascii_graphic()
        }
    };
    if !value.chars().all(allowed) {
        let what = if url_safe {
            "letters, digits and - . _ ~ only (it travels in a URL query)"
        } else {
            "printable ASCII without spaces only (it travels in an HTTP header)"
        };
        return Err(invalid(name, what));
    }
    Ok(Secret::new(value))
}

/// A base URL override (a mock server): https, or plain http to this machine only, since the
/// credentials travel with every request.
fn base_url(
    env: Env<'_>,
    name: &'static str,
    default: &str,
) -> Result<String, ProviderConfigError> {
    let Some(value) = optional(env, name) else {
        return Ok(default.to_owned());
    };
    let value = value.trim_end_matches('/').to_owned();
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|prefix| {
            value
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        });
    let https = value
        .strip_prefix("https://")
        .is_some_and(|rest| !rest.is_empty());
    if !(https || loopback) {
        return Err(invalid(
            name,
            "expected an https:// URL (http:// only to 127.0.0.1, localhost or [::1])",
        ));
    }
    Ok(value)
}

fn timeout(env: Env<'_>) -> Result<Duration, ProviderConfigError> {
    const NAME: &str = "PIXGW_PROVIDER_TIMEOUT_MS";
    match optional(env, NAME) {
        None => Ok(DEFAULT_PROVIDER_TIMEOUT),
        Some(v) => match v.parse::<u64>() {
            Ok(ms @ 100..=60_000) => Ok(Duration::from_millis(ms)),
            _ => Err(invalid(NAME, "expected milliseconds between 100 and 60000")),
        },
    }
}

fn webhook_url(public_base_url: &str, provider: &str) -> String {
    format!(
        "{}/webhooks/provider/{provider}",
        public_base_url.trim().trim_end_matches('/')
    )
}

/// ConnectPSP's configuration from `CONNECTPSP_*` (see the README's "PIX providers").
pub fn connectpsp_config_from_env(
    public_base_url: &str,
    env: Env<'_>,
) -> Result<ConnectPspConfig, ProviderConfigError> {
    let environment = match optional(env, "CONNECTPSP_ENVIRONMENT") {
        None => ConnectPspEnvironment::Staging,
        Some(v) => ConnectPspEnvironment::parse(&v)
            .ok_or_else(|| invalid("CONNECTPSP_ENVIRONMENT", "expected staging or production"))?,
    };
    Ok(ConnectPspConfig {
        base_url: base_url(env, "CONNECTPSP_BASE_URL", environment.base_url())?,
        client_id: required(env, "CONNECTPSP_CLIENT_ID")?,
        client_secret: secret(env, "CONNECTPSP_CLIENT_SECRET")?,
        application_token: secret(env, "CONNECTPSP_APPLICATION_TOKEN")?,
        crypto_token: secret(env, "CONNECTPSP_CRYPTO_TOKEN")?,
        webhook_url: webhook_url(public_base_url, "connectpsp"),
        webhook_token: webhook_secret(env, "CONNECTPSP_WEBHOOK_TOKEN", true)?,
        timeout: timeout(env)?,
        retry: RetryPolicy::default(),
    })
}

/// PagFast's configuration from `PAGFAST_*` (see the README's "PIX providers").
pub fn pagfast_config_from_env(
    public_base_url: &str,
    env: Env<'_>,
) -> Result<PagFastConfig, ProviderConfigError> {
    let environment = match optional(env, "PAGFAST_ENVIRONMENT") {
        None => PagFastEnvironment::Sandbox,
        Some(v) => PagFastEnvironment::parse(&v)
            .ok_or_else(|| invalid("PAGFAST_ENVIRONMENT", "expected sandbox or production"))?,
    };
    Ok(PagFastConfig {
        base_url: base_url(env, "PAGFAST_BASE_URL", environment.base_url())?,
        api_token: secret(env, "PAGFAST_API_TOKEN")?,
        webhook_url: webhook_url(public_base_url, "pagfast"),
        webhook_header_name: pagfast_webhook_header_name(env)?,
        webhook_header_value: webhook_secret(env, "PAGFAST_WEBHOOK_HEADER_VALUE", false)?,
        timeout: timeout(env)?,
        retry: RetryPolicy::default(),
    })
}

/// What authenticates PagFast's webhooks, from `PAGFAST_WEBHOOK_HEADER_NAME` (optional) and
/// `PAGFAST_WEBHOOK_HEADER_VALUE`, and nothing else: for a host that receives them but never
/// calls PagFast.
pub fn pagfast_webhooks_from_env(env: Env<'_>) -> Result<PagFastWebhooks, ProviderConfigError> {
    Ok(PagFastWebhooks::new(
        pagfast_webhook_header_name(env)?,
        webhook_secret(env, "PAGFAST_WEBHOOK_HEADER_VALUE", false)?,
    ))
}

fn pagfast_webhook_header_name(env: Env<'_>) -> Result<String, ProviderConfigError> {
    let header_name = optional(env, "PAGFAST_WEBHOOK_HEADER_NAME")
        .unwrap_or_else(|| DEFAULT_PAGFAST_WEBHOOK_HEADER.to_owned());
    if reqwest::header::HeaderName::from_bytes(header_name.as_bytes()).is_err() {
        return Err(invalid(
            "PAGFAST_WEBHOOK_HEADER_NAME",
            "not a valid HTTP header name",
        ));
    }
    Ok(header_name)
}

/// What provider `name` can do besides creating charges, without building it (so without its
/// credentials): a host that knows a provider but never calls it still chooses by it.
pub fn capabilities_of(name: &str) -> Result<ProviderCapabilities, ProviderConfigError> {
    match name {
        "sandbox" => Ok(crate::sandbox::CAPABILITIES),
        "connectpsp" => Ok(crate::connectpsp::CAPABILITIES),
        "pagfast" => Ok(crate::pagfast::CAPABILITIES),
        other => Err(ProviderConfigError::Unknown(other.to_owned())),
    }
}

/// The provider called `name`, built from its variables; `None` for `sandbox`, which hosts
/// build themselves (it needs their clock, keys and delivery).
pub fn provider_from_env(
    name: &str,
    public_base_url: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Arc<dyn PixProvider>>, ProviderConfigError> {
    let built: Arc<dyn PixProvider> = match name {
        "sandbox" => return Ok(None),
        "connectpsp" => Arc::new(
            ConnectPspProvider::new(connectpsp_config_from_env(public_base_url, env)?).map_err(
                |e| ProviderConfigError::Build {
                    provider: "connectpsp",
                    reason: e.to_string(),
                },
            )?,
        ),
        "pagfast" => Arc::new(
            PagFastProvider::new(pagfast_config_from_env(public_base_url, env)?).map_err(|e| {
                ProviderConfigError::Build {
                    provider: "pagfast",
                    reason: e.to_string(),
                }
            })?,
        ),
        other => return Err(ProviderConfigError::Unknown(other.to_owned())),
    };
    Ok(Some(built))
}

/// `connectpsp,pagfast` → the names in that order (the deployment's default failover order).
pub fn parse_provider_names(list: &str) -> Result<Vec<&'static str>, ProviderConfigError> {
    let mut names: Vec<&'static str> = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let lower = item.to_ascii_lowercase();
        let name = KNOWN_PROVIDERS
            .iter()
            .copied()
            .find(|known| *known == lower)
            .ok_or_else(|| ProviderConfigError::Unknown(item.to_owned()))?;
        if names.contains(&name) {
            return Err(ProviderConfigError::Duplicate(name));
        }
        names.push(name);
    }
    if names.is_empty() {
        return Err(ProviderConfigError::Empty);
    }
    Ok(names)
}

/// `PIXGW_PROVIDERS`, or `default` when it is unset (an error when there is no default).
pub fn provider_names_from_env(
    env: &dyn Fn(&str) -> Option<String>,
    default: Option<&str>,
) -> Result<Vec<&'static str>, ProviderConfigError> {
    match (optional(env, "PIXGW_PROVIDERS"), default) {
        (Some(list), _) => parse_provider_names(&list),
        (None, Some(default)) => parse_provider_names(default),
        (None, None) => Err(ProviderConfigError::Missing("PIXGW_PROVIDERS")),
    }
}

/// `PIXGW_FAILOVER_*`, each defaulting to [`FailoverPolicy::default`].
pub fn failover_policy_from_env(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<FailoverPolicy, ProviderConfigError> {
    let defaults = FailoverPolicy::default();
    let positive = |name: &'static str| -> Result<Option<u32>, ProviderConfigError> {
        optional(env, name)
            .map(|v| match v.parse::<u32>() {
                Ok(n @ 1..=86_400) => Ok(n),
                _ => Err(invalid(name, "expected a whole number between 1 and 86400")),
            })
            .transpose()
    };
    let seconds =
        |n: Option<u32>, default| n.map_or(default, |n| chrono::Duration::seconds(n.into()));
    Ok(FailoverPolicy {
        failure_threshold: positive("PIXGW_FAILOVER_THRESHOLD")?
            .unwrap_or(defaults.failure_threshold),
        window: seconds(positive("PIXGW_FAILOVER_WINDOW_SECONDS")?, defaults.window),
        cool_down: seconds(
            positive("PIXGW_FAILOVER_COOL_DOWN_SECONDS")?,
            defaults.cool_down,
        ),
    })
}

/// The process environment as a lookup, for hosts.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A lookup over a map (tests, and hosts that layer command-line flags over the environment).
pub fn map_env(vars: HashMap<String, String>) -> impl Fn(&str) -> Option<String> {
    move |name| vars.get(name).cloned()
}

#[cfg(test)]
mod tests;
