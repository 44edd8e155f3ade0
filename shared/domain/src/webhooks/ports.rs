//! What the webhook use cases need from the outside: storage, sealing secrets, and an HTTP
//! client that only connects where it is told.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::StoreError;
use crate::error::WriteOutcome;
use crate::messaging::events::{AccountEvent, EventType};
use crate::messaging::outbox::OutboxMessage;
use crate::pix::ids::AccountId;

use super::delivery::{Delivery, DeliveryStatus};
use super::endpoint::WebhookEndpoint;

/// Which deliveries to list, newest first (by `created_at`, then id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryQuery {
    pub event_type: Option<EventType>,
    pub status: Option<DeliveryStatus>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1..=100.
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPage {
    pub deliveries: Vec<Delivery>,
    /// Where the next page starts; `None` only when nothing follows. A filtered page may hold
    /// fewer than `limit` deliveries (even none) while more follow: the store reads a bounded
    /// amount per call, so one call never scans an account's whole history.
    pub next_cursor: Option<String>,
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Strongly consistent.
    async fn get_webhook_endpoint(
        &self,
        account: &AccountId,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// Creates the endpoint when `expected_version` is `None` (Conflict if one exists), else
    /// replaces it if the stored version is `expected_version` (Conflict otherwise). The
    /// endpoint is written as given (the caller has bumped its `version`).
    async fn put_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        expected_version: Option<u64>,
    ) -> Result<WriteOutcome, StoreError>;

    /// One of the account's recorded events; `None` for an unknown id or another account's.
    /// Strongly consistent.
    async fn get_event(
        &self,
        account: &AccountId,
        event_id: &str,
    ) -> Result<Option<AccountEvent>, StoreError>;

    /// Creates the delivery if no delivery has its id (Conflict otherwise: someone else
    /// created it first, e.g. for a duplicate queue message).
    async fn create_delivery(&self, delivery: &Delivery) -> Result<WriteOutcome, StoreError>;

    /// `None` for an unknown id or another account's delivery. Strongly consistent.
    async fn get_delivery(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<Delivery>, StoreError>;

    /// Replaces the delivery if its stored version is `expected_version`, and creates `outbox`
    /// (if any, and if absent) in the same atomic write. Conflict when the version differs.
    async fn update_delivery(
        &self,
        delivery: &Delivery,
        expected_version: u64,
        outbox: Option<&OutboxMessage>,
    ) -> Result<WriteOutcome, StoreError>;

    async fn list_deliveries(
        &self,
        account: &AccountId,
        query: &DeliveryQuery,
    ) -> Result<DeliveryPage, StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sealed secret cannot be opened")]
pub struct SealError;

/// Encrypts secrets at rest with the deployment's data key.
pub trait SecretSealer: Send + Sync {
    fn seal(&self, plaintext: &str) -> Result<String, SealError>;
    fn open(&self, sealed: &str) -> Result<String, SealError>;
}

/// One POST of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    pub url: String,
    pub host: String,
    /// The addresses the URL policy approved: connect to these only, never resolve again.
    pub addrs: Vec<SocketAddr>,
    pub headers: Vec<(&'static str, String)>,
    /// JSON.
    pub body: String,
    pub timeout: Duration,
}

/// What came back. `status` is `None` when no response arrived (timeout, refused, TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    pub status: Option<u16>,
    pub latency: Duration,
    /// Why there was no response (never the response body).
    pub error: Option<String>,
}

/// POSTs webhooks. Must not follow redirects (a redirect could point anywhere), must connect
/// only to `addrs`, and must give up after `timeout`.
#[async_trait]
pub trait WebhookSender: Send + Sync {
    async fn send(&self, request: WebhookRequest) -> WebhookResponse;
}
