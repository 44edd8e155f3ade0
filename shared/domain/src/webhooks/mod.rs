//! Merchant webhooks: every recorded [`AccountEvent`](crate::messaging::events::AccountEvent) delivered to
//! the account's endpoint, signed per Standard Webhooks, retried with backoff for at least 24 h,
//! and kept in a delivery log the merchant can read and replay from.
//!
//! How an event travels:
//! 1. The state change writes the event in its own atomic write (see [`crate::messaging::events`]); the
//!    event item doubles as an outbox message for the `webhook-deliveries` queue
//!    ([`WebhookMessage::Event`]): the DynamoDB stream relay / the embedded outbox sends it.
//! 2. The [`dispatcher`] creates the delivery record (one per event, id derived from the event,
//!    so duplicate queue messages find the same record), claims the attempt, POSTs, and records
//!    the attempt together with the next attempt's message ([`WebhookMessage::Attempt`]) in one
//!    write: a crash can repeat an attempt (at least once) but never lose the retry.
//! 3. A retry due later than SQS's 15-minute delay limit hops: a message that arrives before its
//!    `notBefore` is sent again with the remaining delay (at most 15 minutes per hop).
//!
//! Modules: [`endpoint`] (the account's endpoint and its secrets), [`signing`] (the signature
//! headers), [`url_policy`] (which URLs may receive events: https, no private addresses),
//! [`delivery`] (the delivery log and the backoff), [`ports`] (what adapters implement),
//! [`dispatcher`] (the queue consumer) and [`service`] (the API's use cases).

pub mod delivery;
pub mod dispatcher;
pub mod endpoint;
pub mod message;
pub mod ports;
pub mod record;
pub mod service;
pub mod signing;
pub mod url_policy;

pub use delivery::{Delivery, DeliveryAttempt, DeliveryStatus};
pub use endpoint::{EndpointStatus, SealedSecret, WebhookEndpoint, WebhookSecret};
pub use message::WebhookMessage;
pub use ports::{
    DeliveryPage, DeliveryQuery, SecretSealer, WebhookRequest, WebhookResponse, WebhookSender,
    WebhookStore,
};
