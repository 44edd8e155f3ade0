//! Which PIX provider serves what.
//!
//! A deployment configures one or more providers (`sandbox`, `connectpsp`, `pagfast`) in a
//! default order; an account may list its own order ([`Account::providers`]). Then:
//! - **New charges** go to the first provider of the account's order that is not down; when a
//!   provider answers a charge request with "unavailable" (timeouts and 5xx after the adapter's
//!   own retries), the same charge is offered to the next one. A provider is *down* after
//!   [`FailoverPolicy::failure_threshold`] such answers in a row within
//!   [`FailoverPolicy::window`]; it is then tried last for [`FailoverPolicy::cool_down`], after
//!   which one request probes it again (a failure re-opens it at once, a success closes it).
//!   A provider that *rejects* a request is up: the request was the problem, so the merchant
//!   gets the refusal and nothing fails over.
//! - **Each charge remembers its provider** (`Charge::provider`): its refund, its status and
//!   its webhooks go to that provider only, whatever the account's order says today.
//! - **Transfers** (payouts and cash-outs) go to the first provider of the account's order
//!   that can make them, and never fail over: a transfer whose outcome is unknown at one
//!   provider must be retried at the same provider with the same key, or money could leave
//!   twice. A cash-out records its provider when it is created. A payout is not pinned (it is
//!   created by the split pipeline, which knows no providers): its transfer goes to the
//!   account's transfer provider at execution, so an operator changes an account's transfer
//!   provider only while it has no payout PROCESSING (`GET /api/payouts?status=PROCESSING`).
//! - **Webhooks settle only the sender's own work**: a payment or refund report only a charge
//!   that provider issued, a transfer report only a cash-out sent through it or a payout of
//!   an account whose transfer provider it is. Anything else is not found to that provider.
//!
//! Health is kept per process (each Lambda container, the local gateway): a container learns
//! a provider is down from its own requests. That is the usual circuit-breaker trade: no shared
//! state on the request path, at the cost of each container paying the threshold once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

use crate::account::Account;
use crate::account::ports::AccountStore;
use crate::error::{DomainError, ProviderError};
use crate::pix::clock::Clock;
use crate::pix::ids::AccountId;
use crate::provider::PixProvider;

/// Every provider name an account may list (the adapters' [`PixProvider::name`]s).
pub const KNOWN_PROVIDERS: [&str; 3] = ["sandbox", "connectpsp", "pagfast"];

/// Checks an account's provider order before it is stored: each name known, none twice (a
/// repeat would only retry a provider that just failed), so at most one of each.
pub fn validate_provider_list(names: &[String]) -> Result<(), String> {
    if names.len() > KNOWN_PROVIDERS.len() {
        return Err(format!(
            "at most {} providers may be listed, got {}",
            KNOWN_PROVIDERS.len(),
            names.len()
        ));
    }
    for (i, name) in names.iter().enumerate() {
        if !KNOWN_PROVIDERS.contains(&name.as_str()) {
            return Err(format!(
                "unknown PIX provider {name:?} (known: {})",
                KNOWN_PROVIDERS.join(", ")
            ));
        }
        if names[..i].contains(name) {
            return Err(format!("PIX provider {name:?} is listed twice"));
        }
    }
    Ok(())
}

/// When a provider counts as down, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailoverPolicy {
    /// Unavailable answers in a row that make a provider down.
    pub failure_threshold: u32,
    /// The run of failures must fit in this window (older failures are forgotten).
    pub window: Duration,
    /// How long a down provider is tried last before it is probed again.
    pub cool_down: Duration,
}

impl Default for FailoverPolicy {
    fn default() -> Self {
        FailoverPolicy {
            failure_threshold: 3,
            window: Duration::seconds(60),
            cool_down: Duration::seconds(30),
        }
    }
}

/// Why a directory could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("at least one PIX provider must be configured")]
    Empty,
    #[error("PIX provider {0} is configured twice")]
    Duplicate(&'static str),
}

#[derive(Debug, Default, Clone, Copy)]
struct Health {
    consecutive_failures: u32,
    first_failure_at: Option<DateTime<Utc>>,
    down_until: Option<DateTime<Utc>>,
}

/// The configured providers, in the deployment's default order, with their health.
pub struct ProviderDirectory {
    providers: Vec<Arc<dyn PixProvider>>,
    policy: FailoverPolicy,
    clock: Arc<dyn Clock>,
    health: Mutex<HashMap<&'static str, Health>>,
}

impl std::fmt::Debug for ProviderDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderDirectory")
            .field("providers", &self.names())
            .field("policy", &self.policy)
            .finish()
    }
}

impl ProviderDirectory {
    /// `providers` in the deployment's default order (the order of accounts that list none).
    pub fn new(
        providers: Vec<Arc<dyn PixProvider>>,
        policy: FailoverPolicy,
        clock: Arc<dyn Clock>,
    ) -> Result<ProviderDirectory, DirectoryError> {
        if providers.is_empty() {
            return Err(DirectoryError::Empty);
        }
        for (i, p) in providers.iter().enumerate() {
            if providers[..i].iter().any(|q| q.name() == p.name()) {
                return Err(DirectoryError::Duplicate(p.name()));
            }
        }
        Ok(ProviderDirectory {
            providers,
            policy,
            clock,
            health: Mutex::new(HashMap::new()),
        })
    }

    /// A deployment with one provider (the sandbox, most tests).
    pub fn single(provider: Arc<dyn PixProvider>, clock: Arc<dyn Clock>) -> ProviderDirectory {
        ProviderDirectory {
            providers: vec![provider],
            policy: FailoverPolicy::default(),
            clock,
            health: Mutex::new(HashMap::new()),
        }
    }

    /// The configured provider called `name`.
    pub fn named(&self, name: &str) -> Option<&Arc<dyn PixProvider>> {
        self.providers.iter().find(|p| p.name() == name)
    }

    /// The first provider of the deployment's default order.
    pub fn default_provider(&self) -> &Arc<dyn PixProvider> {
        &self.providers[0]
    }

    /// The configured providers' names, in the default order.
    pub fn names(&self) -> Vec<&'static str> {
        self.providers.iter().map(|p| p.name()).collect()
    }

    /// The account's order: its own list (names not configured here are skipped) or, when it
    /// lists none that exist here, the deployment's default order.
    fn order_for(&self, account: &Account) -> Vec<Arc<dyn PixProvider>> {
        let listed: Vec<_> = account
            .providers
            .iter()
            .filter_map(|name| self.named(name).cloned())
            .collect();
        if listed.is_empty() {
            self.providers.clone()
        } else {
            listed
        }
    }

    /// Where a new charge of `account` should be tried, in order: the account's order with the
    /// providers that are down moved to the end (tried only when all before them failed).
    pub fn charge_candidates(&self, account: &Account) -> Vec<Arc<dyn PixProvider>> {
        let now = self.clock.now();
        let (up, down): (Vec<_>, Vec<_>) = self
            .order_for(account)
            .into_iter()
            .partition(|p| !self.is_down_at(p.name(), now));
        up.into_iter().chain(down).collect()
    }

    /// The provider that sends `account`'s money out: the first of its order that can.
    pub fn transfer_provider(
        &self,
        account: &Account,
    ) -> Result<Arc<dyn PixProvider>, DomainError> {
        self.order_for(account)
            .into_iter()
            .find(|p| p.capabilities().transfers)
            .ok_or_else(|| DomainError::ProviderOperationUnsupported {
                provider: self.order_for(account)[0].name().to_owned(),
                operation: "transfers",
            })
    }

    /// [`ProviderDirectory::transfer_provider`] for an account known by id: reads the account
    /// only when there is a choice to make (more than one provider configured).
    pub async fn transfer_provider_of(
        &self,
        accounts: &dyn AccountStore,
        account_id: &AccountId,
    ) -> Result<Arc<dyn PixProvider>, DomainError> {
        if let [only] = self.providers.as_slice() {
            return if only.capabilities().transfers {
                Ok(only.clone())
            } else {
                Err(DomainError::ProviderOperationUnsupported {
                    provider: only.name().to_owned(),
                    operation: "transfers",
                })
            };
        }
        let account = accounts
            .get_account(account_id)
            .await?
            .ok_or(DomainError::NotFound("account"))?;
        self.transfer_provider(&account)
    }

    /// Whether `name` is down now.
    pub fn is_down(&self, name: &str) -> bool {
        self.is_down_at(name, self.clock.now())
    }

    /// Learns from one answer of `name`: unavailable counts towards down, anything else
    /// (success or refusal) shows the provider is up.
    pub fn record<T>(&self, name: &'static str, result: &Result<T, ProviderError>) {
        let now = self.clock.now();
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = health.entry(name).or_default();
        match result {
            Err(ProviderError::Unavailable(_)) => {
                // A failed probe after the cool-down makes it down again at once.
                let probing = entry.down_until.is_some_and(|until| until <= now);
                let fresh = entry
                    .first_failure_at
                    .is_some_and(|first| now - first <= self.policy.window);
                if fresh {
                    entry.consecutive_failures += 1;
                } else {
                    entry.consecutive_failures = 1;
                    entry.first_failure_at = Some(now);
                }
                if probing || entry.consecutive_failures >= self.policy.failure_threshold {
                    if entry.down_until.is_none_or(|until| until <= now) {
                        tracing::warn!(provider = name, "PIX provider down: failing over");
                    }
                    entry.down_until = Some(now + self.policy.cool_down);
                }
            }
            Ok(_) | Err(ProviderError::Rejected(_)) => *entry = Health::default(),
        }
    }

    fn is_down_at(&self, name: &str, now: DateTime<Utc>) -> bool {
        let health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        health
            .get(name)
            .and_then(|h| h.down_until)
            .is_some_and(|until| now < until)
    }
}

#[cfg(test)]
mod tests;
