//! The PIX providers of one function, each held only as far as its flow uses it
//! ([`PspUse`]): with its credentials when the function calls it, with just its webhook secret
//! when the function only authenticates its webhooks, or by name and capabilities when the
//! function only chooses among providers (or never calls this one). So a function is given,
//! and reads, only the credentials of the providers it talks to.
//!
//! Environment (only where the plan needs it):
//! - `PIXGW_SANDBOX`, `PIXGW_PROVIDERS` — the listed providers (see [`crate::configured_providers`]).
//! - `PIXGW_PUBLIC_HOST` — read by every function that may build a provider (see the crate doc).
//! - `CONNECTPSP_*`, `PAGFAST_*`, `PIXGW_PROVIDER_TIMEOUT_MS` — a provider's settings, read when
//!   it is built ([`pixgw_providers::env`]); `PAGFAST_WEBHOOK_HEADER_*` alone where PagFast's
//!   webhooks are only authenticated.
//! - `PIXGW_FAILOVER_*` — optional tuning of the directory.

use std::sync::Arc;

use async_trait::async_trait;
use pixgw_api::auth::AuthKeys;
use pixgw_api::state::{SandboxConfig, SandboxDelivery};
use pixgw_domain::error::{ProviderError, ProviderRejection, RejectionKind};
use pixgw_domain::pix::clock::Clock;
use pixgw_domain::provider::directory::ProviderDirectory;
use pixgw_domain::provider::{
    InboundWebhook, ProviderCapabilities, ProviderEvent, ProviderWebhookError, RefundOutcome,
    RefundRequest, TransferOutcome, TransferRequest,
};
use pixgw_domain::provider::{PixProvider, ProviderCharge, ProviderChargeRequest};
use pixgw_providers::env::{
    capabilities_of, failover_policy_from_env, pagfast_webhooks_from_env, provider_from_env,
};
use pixgw_providers::sandbox::SandboxProvider;

use crate::aws::{Env, optional};
use crate::needs::PspUse;
use crate::{BootstrapError, SANDBOX, SANDBOX_LOCATION_HOST_WITHOUT_DOMAIN, configured_providers};

/// The providers a function built: where its flow finds them.
pub struct Providers {
    pub directory: Arc<ProviderDirectory>,
    /// The sandbox routes' configuration, when the function built the sandbox provider.
    pub sandbox: Option<SandboxConfig>,
}

/// How a function holds one listed provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holding {
    /// Built with its credentials: the function calls it.
    Credentials,
    /// Only what authenticates its webhooks (PagFast's header value).
    WebhookSecret,
    /// Its name and capabilities: the function chooses by them, never calls it.
    Known,
}

/// Which providers a function builds, and how, before anything secret is read.
pub struct ProviderPlan {
    holdings: Vec<(&'static str, Holding)>,
    /// `PIXGW_PUBLIC_HOST`, read by every plan that may build a provider.
    host: Option<String>,
}

impl ProviderPlan {
    /// The plan for `psp`: the listed providers (`PIXGW_SANDBOX`, `PIXGW_PROVIDERS`), each held
    /// as the flow uses it. [`PspUse::None`] reads nothing.
    pub fn read(psp: PspUse, env: Env<'_>) -> Result<ProviderPlan, BootstrapError> {
        if psp == PspUse::None {
            return Ok(ProviderPlan {
                holdings: Vec::new(),
                host: None,
            });
        }
        let sandbox_enabled = env("PIXGW_SANDBOX").is_some_and(|v| v == "true");
        let holdings = configured_providers(env, sandbox_enabled)?
            .into_iter()
            .map(|name| Ok((name, holding(psp, name)?)))
            .collect::<Result<Vec<_>, BootstrapError>>()?;
        // Choosing needs no address; every other use may build a provider that does.
        let host = match psp {
            PspUse::None | PspUse::Chooses => None,
            _ => optional(env, "PIXGW_PUBLIC_HOST"),
        };
        Ok(ProviderPlan { holdings, host })
    }

    /// Whether the plan builds the sandbox provider, whose webhook signing key is derived from
    /// the data key: the function then needs `PIXGW_DATA_KEY`.
    pub fn builds_sandbox(&self) -> bool {
        self.holdings.contains(&(SANDBOX, Holding::Credentials))
    }

    /// Builds the planned providers (reading each one's settings) and their directory. `keys`
    /// must hold the data key when [`ProviderPlan::builds_sandbox`].
    pub fn build(
        self,
        env: Env<'_>,
        keys: &AuthKeys,
        clock: &Arc<dyn Clock>,
    ) -> Result<Providers, BootstrapError> {
        if self.holdings.is_empty() {
            return Ok(Providers {
                directory: Arc::new(ProviderDirectory::single(
                    Arc::new(Uncalled::NO_PROVIDER),
                    clock.clone(),
                )),
                sandbox: None,
            });
        }
        let mut providers: Vec<Arc<dyn PixProvider>> = Vec::with_capacity(self.holdings.len());
        let mut sandbox = None;
        for &(name, holding) in &self.holdings {
            let provider: Arc<dyn PixProvider> = match holding {
                Holding::Known => Arc::new(Uncalled {
                    name,
                    capabilities: capabilities_of(name)?,
                }),
                Holding::WebhookSecret => Arc::new(pagfast_webhooks_from_env(env)?),
                Holding::Credentials if name == SANDBOX => {
                    let provider = self.sandbox_provider(keys, clock)?;
                    sandbox = Some(SandboxConfig {
                        provider: provider.clone(),
                        delivery: SandboxDelivery::InProcess,
                    });
                    Arc::new(provider)
                }
                Holding::Credentials => self.real_provider(name, env)?,
            };
            providers.push(provider);
        }
        let policy = failover_policy_from_env(env)?;
        let directory = ProviderDirectory::new(providers, policy, clock.clone())
            .map_err(|e| BootstrapError::Invalid(e.to_string()))?;
        Ok(Providers {
            directory: Arc::new(directory),
            sandbox,
        })
    }

    fn sandbox_provider(
        &self,
        keys: &AuthKeys,
        clock: &Arc<dyn Clock>,
    ) -> Result<SandboxProvider, BootstrapError> {
        let location_host = self
            .host
            .as_deref()
            .unwrap_or(SANDBOX_LOCATION_HOST_WITHOUT_DOMAIN);
        let secret = keys
            .sandbox_webhook_secret()
            .map_err(|e| BootstrapError::Invalid(e.to_string()))?;
        SandboxProvider::new(location_host, clock.clone(), secret)
            .map_err(|e| BootstrapError::Invalid(e.to_string()))
    }

    fn real_provider(
        &self,
        name: &'static str,
        env: Env<'_>,
    ) -> Result<Arc<dyn PixProvider>, BootstrapError> {
        // A real PSP is told where to send its webhooks: never a guess.
        let host = self
            .host
            .as_deref()
            .ok_or(BootstrapError::Missing("PIXGW_PUBLIC_HOST"))?;
        let public_base_url = format!("https://{}", host.trim_end_matches('/'));
        provider_from_env(name, &public_base_url, env)?
            .ok_or_else(|| BootstrapError::Invalid(format!("{name} is built by its host")))
    }
}

/// How a function whose flow is `psp` holds the listed provider `name`.
fn holding(psp: PspUse, name: &'static str) -> Result<Holding, BootstrapError> {
    Ok(match psp {
        PspUse::None | PspUse::Chooses => Holding::Known,
        PspUse::Charges => Holding::Credentials,
        PspUse::MovesMoneyOut => {
            let can = capabilities_of(name)?;
            if can.refunds || can.transfers {
                Holding::Credentials
            } else {
                Holding::Known
            }
        }
        // PagFast's webhooks carry the settlement, authenticated by the header we registered;
        // ConnectPSP's are confirmed by reading the charge back (its API credentials), and the
        // sandbox signs with a key derived from the data key.
        PspUse::Webhooks if name == "pagfast" => Holding::WebhookSecret,
        PspUse::Webhooks => Holding::Credentials,
        PspUse::Sandbox if name == SANDBOX => Holding::Credentials,
        PspUse::Sandbox => Holding::Known,
    })
}

/// A provider the function holds no credentials for: its name and capabilities steer the
/// directory's choices (which provider a cash-out's transfer goes to, whether a charge's
/// provider can refund), and any call to it is refused, as the deployment mistake it would be.
#[derive(Debug, Clone, Copy)]
struct Uncalled {
    name: &'static str,
    capabilities: ProviderCapabilities,
}

impl Uncalled {
    /// What the directory of a function that never consults the providers holds: the API state
    /// needs a directory, and this one names no real provider.
    const NO_PROVIDER: Uncalled = Uncalled {
        name: "none",
        capabilities: ProviderCapabilities::CHARGES_ONLY,
    };

    fn refused(&self) -> ProviderError {
        ProviderError::Rejected(ProviderRejection {
            kind: RejectionKind::NotAllowed,
            reason: format!(
                "this function holds no credentials for provider {}: its flow never calls it",
                self.name
            ),
            message: None,
            errors: Vec::new(),
        })
    }
}

#[async_trait]
impl PixProvider for Uncalled {
    fn name(&self) -> &'static str {
        self.name
    }

    fn capabilities(&self) -> ProviderCapabilities {
        self.capabilities
    }

    async fn create_charge(
        &self,
        _: &ProviderChargeRequest,
    ) -> Result<ProviderCharge, ProviderError> {
        Err(self.refused())
    }

    async fn transfer(&self, _: &TransferRequest) -> Result<TransferOutcome, ProviderError> {
        Err(self.refused())
    }

    async fn refund(&self, _: &RefundRequest) -> Result<RefundOutcome, ProviderError> {
        Err(self.refused())
    }

    async fn verify_webhook(
        &self,
        _: &InboundWebhook<'_>,
    ) -> Result<ProviderEvent, ProviderWebhookError> {
        Err(ProviderWebhookError::Unauthenticated(
            "this function does not receive this provider's webhooks",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_providers_a_flow_calls_are_held_with_credentials() {
        use Holding::*;
        let held = |psp| {
            ["sandbox", "connectpsp", "pagfast"]
                .map(|name| holding(psp, name).expect("a known provider"))
        };
        assert_eq!(
            held(PspUse::Charges),
            [Credentials, Credentials, Credentials]
        );
        // PagFast neither refunds nor transfers.
        assert_eq!(
            held(PspUse::MovesMoneyOut),
            [Credentials, Credentials, Known]
        );
        assert_eq!(held(PspUse::Chooses), [Known, Known, Known]);
        assert_eq!(
            held(PspUse::Webhooks),
            [Credentials, Credentials, WebhookSecret]
        );
        assert_eq!(held(PspUse::Sandbox), [Credentials, Known, Known]);
    }
}
