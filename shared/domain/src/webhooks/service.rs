//! The webhook use cases behind the API: register the endpoint, rotate its secret, read the
//! delivery log, redeliver by hand.

use std::collections::BTreeSet;
use std::sync::Arc;

use tracing::info;

use crate::error::StoreError;
use crate::error::WriteOutcome;
use crate::messaging::events::EventType;
use crate::pix::clock::Clock;
use crate::pix::ids::AccountId;

use super::delivery::{Delivery, DeliveryStatus};
use super::endpoint::{EndpointStatus, WebhookEndpoint, WebhookSecret};
use super::message::WebhookMessage;
use super::ports::{DeliveryPage, DeliveryQuery, SecretSealer, WebhookStore};
use super::url_policy::{HostResolver, UrlError, UrlPolicy};

/// Optimistic-lock retries before a write gives up ([`MerchantWebhookError::Concurrent`]).
const WRITE_ATTEMPTS: usize = 3;

/// Why a change to a merchant's webhook endpoint or deliveries failed (the webhooks we send;
/// the ones PSPs send us fail with [`ProviderWebhookError`](crate::provider::ProviderWebhookError)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerchantWebhookError {
    #[error(transparent)]
    InvalidUrl(#[from] UrlError),
    #[error("webhook endpoint not found")]
    EndpointNotFound,
    #[error("delivery not found")]
    DeliveryNotFound,
    /// Other requests kept changing the same record; nothing was written by this one.
    #[error("changed concurrently, try again")]
    Concurrent,
    /// The data key cannot seal or open secrets (configuration).
    #[error("secret sealing failed")]
    Sealing,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The endpoint as registered, with its secret when this call created one (shown once).
#[derive(Debug, Clone)]
pub struct Registered {
    pub endpoint: WebhookEndpoint,
    pub secret: Option<WebhookSecret>,
}

#[derive(Clone)]
pub struct WebhookService {
    store: Arc<dyn WebhookStore>,
    sealer: Arc<dyn SecretSealer>,
    resolver: Arc<dyn HostResolver>,
    clock: Arc<dyn Clock>,
    policy: UrlPolicy,
}

impl WebhookService {
    pub fn new(
        store: Arc<dyn WebhookStore>,
        sealer: Arc<dyn SecretSealer>,
        resolver: Arc<dyn HostResolver>,
        clock: Arc<dyn Clock>,
        policy: UrlPolicy,
    ) -> WebhookService {
        WebhookService {
            store,
            sealer,
            resolver,
            clock,
            policy,
        }
    }

    pub fn policy(&self) -> UrlPolicy {
        self.policy
    }

    /// Registers (or replaces) the account's endpoint. The URL must pass the full policy,
    /// DNS included. A new endpoint gets a secret, returned this once; replacing the URL or
    /// event filter keeps the secrets and enables the endpoint again.
    pub async fn put_endpoint(
        &self,
        account: &AccountId,
        url: &str,
        events: Option<BTreeSet<EventType>>,
    ) -> Result<Registered, MerchantWebhookError> {
        let (target, _) = self.policy.check(url, self.resolver.as_ref()).await?;
        for _ in 0..WRITE_ATTEMPTS {
            let now = self.clock.now();
            let current = self.store.get_webhook_endpoint(account).await?;
            let (endpoint, secret, expected) = match current {
                Some(current) => {
                    let expected = current.version;
                    let endpoint = WebhookEndpoint {
                        url: target.url.clone(),
                        events: events.clone(),
                        status: EndpointStatus::Enabled,
                        updated_at: now,
                        version: expected + 1,
                        ..current
                    };
                    (endpoint, None, Some(expected))
                }
                None => {
                    let secret = WebhookSecret::generate();
                    let mut endpoint = WebhookEndpoint {
                        account_id: account.clone(),
                        url: target.url.clone(),
                        events: events.clone(),
                        secrets: Vec::new(),
                        status: EndpointStatus::Enabled,
                        created_at: now,
                        updated_at: now,
                        version: 1,
                    };
                    endpoint.rotate(self.seal(&secret)?, now);
                    (endpoint, Some(secret), None)
                }
            };
            if self.store.put_webhook_endpoint(&endpoint, expected).await? == WriteOutcome::Applied
            {
                info!(%account, "webhook endpoint registered");
                return Ok(Registered { endpoint, secret });
            }
        }
        Err(MerchantWebhookError::Concurrent)
    }

    pub async fn get_endpoint(
        &self,
        account: &AccountId,
    ) -> Result<WebhookEndpoint, MerchantWebhookError> {
        self.store
            .get_webhook_endpoint(account)
            .await?
            .ok_or(MerchantWebhookError::EndpointNotFound)
    }

    /// A new current secret (returned this once); the previous one keeps signing for
    /// [`ROTATION_OVERLAP`](super::endpoint::ROTATION_OVERLAP).
    pub async fn rotate_secret(
        &self,
        account: &AccountId,
    ) -> Result<Registered, MerchantWebhookError> {
        for _ in 0..WRITE_ATTEMPTS {
            let now = self.clock.now();
            let current = self.get_endpoint(account).await?;
            let expected = current.version;
            let secret = WebhookSecret::generate();
            let mut endpoint = current;
            endpoint.rotate(self.seal(&secret)?, now);
            endpoint.updated_at = now;
            endpoint.version = expected + 1;
            if self
                .store
                .put_webhook_endpoint(&endpoint, Some(expected))
                .await?
                == WriteOutcome::Applied
            {
                info!(%account, "webhook secret rotated");
                return Ok(Registered {
                    endpoint,
                    secret: Some(secret),
                });
            }
        }
        Err(MerchantWebhookError::Concurrent)
    }

    pub async fn list_deliveries(
        &self,
        account: &AccountId,
        query: &DeliveryQuery,
    ) -> Result<DeliveryPage, MerchantWebhookError> {
        Ok(self.store.list_deliveries(account, query).await?)
    }

    pub async fn get_delivery(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Delivery, MerchantWebhookError> {
        self.store
            .get_delivery(account, id)
            .await?
            .ok_or(MerchantWebhookError::DeliveryNotFound)
    }

    /// Starts a new round for the delivery, whatever its status: PENDING again, the next
    /// attempt due now (same `webhook-id`), a fresh retry window. The attempt's message is
    /// written with the record, so it cannot be lost; messages of the earlier round become
    /// stale.
    pub async fn redeliver(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Delivery, MerchantWebhookError> {
        for _ in 0..WRITE_ATTEMPTS {
            let now = self.clock.now();
            let current = self.get_delivery(account, id).await?;
            let expected = current.version;
            let mut next = current;
            next.round += 1;
            next.round_started_at = now;
            next.status = DeliveryStatus::Pending;
            next.next_attempt_at = Some(now);
            next.in_flight = None;
            next.updated_at = now;
            next.version = expected + 1;
            let message = WebhookMessage::Attempt {
                delivery_id: next.id.clone(),
                account_id: account.clone(),
                round: next.round,
                attempt: next.next_attempt(),
                not_before_ms: now.timestamp_millis(),
            }
            .to_outbox(now);
            if self
                .store
                .update_delivery(&next, expected, Some(&message))
                .await?
                == WriteOutcome::Applied
            {
                info!(%account, delivery_id = id, round = next.round, "webhook redelivery requested");
                return Ok(next);
            }
        }
        Err(MerchantWebhookError::Concurrent)
    }

    fn seal(&self, secret: &WebhookSecret) -> Result<String, MerchantWebhookError> {
        self.sealer
            .seal(secret.expose())
            .map_err(|_| MerchantWebhookError::Sealing)
    }
}
