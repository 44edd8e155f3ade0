//! The `webhook-deliveries` consumer: turns events into signed POSTs, and failed POSTs into
//! retries, without ever losing one (see the module docs of [`crate::webhooks`]).
//!
//! Every message names what it is for, and the delivery record says what has happened, so the
//! dispatcher can tell a message that is due from a duplicate or a late one:
//! - an attempt message for an attempt already made, an older round, or a delivery no longer
//!   PENDING is acked and does nothing;
//! - while another dispatcher holds the attempt (an unexpired [`InFlight`] claim), the message
//!   is failed so the queue delivers it again later: if that dispatcher died, the claim will
//!   have expired by then and this message makes the attempt.
//!
//! An attempt is claimed with a conditional write, made, and recorded together with the next
//! attempt's message in one write. A crash after the POST and before the record makes the same
//! attempt again (at least once, same `webhook-id`), never a second delivery record and never
//! a lost retry.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use tracing::{debug, info, warn};

use crate::error::StoreError;
use crate::error::WriteOutcome;
use crate::messaging::consumer::{HandlerError, MessageHandler};
use crate::messaging::events::AccountEvent;
use crate::messaging::queue::{MessageQueue, OutgoingMessage, QueueName};
use crate::pix::clock::millis_to_time;
use crate::pix::clock::{Clock, SystemClock};
use crate::pix::ids::AccountId;

use super::delivery::{
    ATTEMPT_LEASE, ATTEMPT_TIMEOUT, Delivery, DeliveryAttempt, DeliveryStatus, InFlight,
};
use super::endpoint::{EndpointStatus, WebhookEndpoint, WebhookSecret};
use super::message::WebhookMessage;
use super::ports::{SecretSealer, WebhookRequest, WebhookResponse, WebhookSender, WebhookStore};
use super::signing;
use super::url_policy::{HostResolver, UrlPolicy};

/// A uniform number in [0, 1) for the backoff's jitter (injectable, so tests are exact).
pub type Jitter = Arc<dyn Fn() -> f64 + Send + Sync>;

/// The body every attempt POSTs: `{id, type, createdAt, data}`.
pub fn payload(event: &AccountEvent) -> String {
    json!({
        "id": event.id,
        "type": event.event_type.as_str(),
        "createdAt": event.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": event.data,
    })
    .to_string()
}

#[derive(Clone)]
pub struct WebhookDispatcher {
    store: Arc<dyn WebhookStore>,
    queue: Arc<dyn MessageQueue>,
    sender: Arc<dyn WebhookSender>,
    resolver: Arc<dyn HostResolver>,
    sealer: Arc<dyn SecretSealer>,
    clock: Arc<dyn Clock>,
    policy: UrlPolicy,
    jitter: Jitter,
}

/// The collaborators of a [`WebhookDispatcher`].
pub struct DispatcherParts {
    pub store: Arc<dyn WebhookStore>,
    pub queue: Arc<dyn MessageQueue>,
    pub sender: Arc<dyn WebhookSender>,
    pub resolver: Arc<dyn HostResolver>,
    pub sealer: Arc<dyn SecretSealer>,
    pub clock: Arc<dyn Clock>,
    pub policy: UrlPolicy,
}

/// What became of one message (for logs and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dispatched {
    /// The account has no endpoint, or it does not take this event type.
    NotSubscribed,
    /// Not due yet: sent on again with the remaining delay.
    Deferred,
    /// A duplicate or late message: nothing to do.
    Stale,
    /// An attempt was made and recorded.
    Attempted {
        status: DeliveryStatus,
        code: Option<u16>,
    },
    /// The endpoint was disabled or removed: the delivery is FAILED without an attempt.
    EndpointUnavailable,
    /// Another dispatcher changed the delivery while this one attempted: its record stands.
    Superseded,
}

impl WebhookDispatcher {
    pub fn new(parts: DispatcherParts) -> WebhookDispatcher {
        WebhookDispatcher {
            store: parts.store,
            queue: parts.queue,
            sender: parts.sender,
            resolver: parts.resolver,
            sealer: parts.sealer,
            clock: parts.clock,
            policy: parts.policy,
            jitter: Arc::new(rand::random::<f64>),
        }
    }

    pub fn with_jitter(mut self, jitter: Jitter) -> WebhookDispatcher {
        self.jitter = jitter;
        self
    }

    /// Handles one queue message body.
    pub async fn dispatch(&self, body: &str) -> Result<Dispatched, HandlerError> {
        let message = WebhookMessage::parse(body)
            .map_err(|e| HandlerError::Poison(format!("unreadable webhook message: {e}")))?;
        match message {
            WebhookMessage::Event {
                event_id,
                account_id,
            } => self.on_event(&account_id, &event_id).await,
            WebhookMessage::Attempt {
                delivery_id,
                account_id,
                round,
                attempt,
                not_before_ms,
            } => {
                let not_before = millis_to_time(not_before_ms)
                    .ok_or_else(|| HandlerError::Poison("notBeforeMs out of range".into()))?;
                let now = self.clock.now();
                if now < not_before {
                    return self.defer(body, not_before - now).await;
                }
                self.attempt(&account_id, &delivery_id, round, attempt)
                    .await
            }
        }
    }

    /// A new event: open its delivery (once, however often the message comes) and make the
    /// first attempt.
    async fn on_event(
        &self,
        account: &AccountId,
        event_id: &str,
    ) -> Result<Dispatched, HandlerError> {
        let event = self
            .store
            .get_event(account, event_id)
            .await
            .map_err(store)?
            .ok_or_else(|| HandlerError::Poison(format!("event {event_id} does not exist")))?;
        let endpoint = self
            .store
            .get_webhook_endpoint(account)
            .await
            .map_err(store)?;
        let Some(endpoint) = endpoint.filter(|e| e.wants(event.event_type)) else {
            debug!(%account, event_id, "no endpoint takes this event");
            return Ok(Dispatched::NotSubscribed);
        };
        let now = self.clock.now();
        let mut delivery = Delivery::new(account, event_id, event.event_type, now);
        if !endpoint.is_enabled() {
            // Kept in the log as FAILED, so the merchant can redeliver it once the endpoint
            // is enabled again.
            delivery.status = DeliveryStatus::Failed;
            delivery.next_attempt_at = None;
        }
        // Both outcomes are fine: a Conflict means the delivery exists (a redelivered message).
        let _: WriteOutcome = self.store.create_delivery(&delivery).await.map_err(store)?;
        if !endpoint.is_enabled() {
            return Ok(Dispatched::EndpointUnavailable);
        }
        // A duplicate of this message finds the delivery created: the attempt's own checks
        // decide whether attempt 1 is still to be made.
        self.attempt_with(account, &delivery.id, 0, 1, Some((endpoint, event)))
            .await
    }

    /// Sends the message on, hidden for what is left of its wait (at most the queue's longest
    /// delay a hop: 15 minutes on SQS).
    async fn defer(&self, body: &str, wait: chrono::Duration) -> Result<Dispatched, HandlerError> {
        let max_delay = self.queue.limits().max_delay;
        let wait = wait.to_std().unwrap_or(StdDuration::ZERO).min(max_delay);
        self.queue
            .send(
                QueueName::WebhookDeliveries,
                OutgoingMessage::new(body).with_delay(wait),
            )
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?;
        Ok(Dispatched::Deferred)
    }

    /// An attempt due by an Attempt message: reads the endpoint and the event itself.
    async fn attempt(
        &self,
        account: &AccountId,
        delivery_id: &str,
        round: u32,
        attempt: u32,
    ) -> Result<Dispatched, HandlerError> {
        self.attempt_with(account, delivery_id, round, attempt, None)
            .await
    }

    /// Makes `attempt` of the delivery if it is due. `loaded` is the enabled endpoint and the
    /// event when the caller has just read them (the first attempt, from [`Self::on_event`]);
    /// without it they are read once the attempt is claimed.
    async fn attempt_with(
        &self,
        account: &AccountId,
        delivery_id: &str,
        round: u32,
        attempt: u32,
        loaded: Option<(WebhookEndpoint, AccountEvent)>,
    ) -> Result<Dispatched, HandlerError> {
        let now = self.clock.now();
        let delivery = self
            .store
            .get_delivery(account, delivery_id)
            .await
            .map_err(store)?
            .ok_or_else(|| {
                HandlerError::Poison(format!("delivery {delivery_id} does not exist"))
            })?;
        let current = delivery.round == round && delivery.next_attempt() == attempt;
        if delivery.status != DeliveryStatus::Pending
            || delivery.round > round
            || (delivery.round == round && delivery.attempt_count >= attempt)
        {
            return Ok(Dispatched::Stale);
        }
        if !current {
            // Messages are written with the record that makes them due, so this cannot
            // happen; if it does, let the queue try again rather than drop it.
            return Err(HandlerError::Transient(format!(
                "message for round {round} attempt {attempt} is ahead of delivery {delivery_id}"
            )));
        }
        if let Some(claim) = &delivery.in_flight
            && claim.lease_until > now
        {
            return Err(HandlerError::Transient(format!(
                "attempt {} of {delivery_id} is in flight",
                claim.attempt
            )));
        }

        let mut claimed = delivery.clone();
        claimed.in_flight = Some(InFlight {
            attempt,
            lease_until: now + ATTEMPT_LEASE,
        });
        claimed.updated_at = now;
        claimed.version = delivery.version + 1;
        if self
            .store
            .update_delivery(&claimed, delivery.version, None)
            .await
            .map_err(store)?
            == WriteOutcome::Conflict
        {
            return Err(HandlerError::Transient(format!(
                "delivery {delivery_id} changed while claiming attempt {attempt}"
            )));
        }

        let (endpoint, event) = match loaded {
            Some(loaded) => loaded,
            None => {
                let endpoint = self
                    .store
                    .get_webhook_endpoint(account)
                    .await
                    .map_err(store)?;
                let endpoint = match endpoint {
                    Some(endpoint) if endpoint.is_enabled() => endpoint,
                    _ => return self.give_up_unreachable(claimed).await,
                };
                let event = self
                    .store
                    .get_event(account, &claimed.event_id)
                    .await
                    .map_err(store)?
                    .ok_or_else(|| {
                        HandlerError::Poison(format!("event {} does not exist", claimed.event_id))
                    })?;
                (endpoint, event)
            }
        };
        let response = self.post(&endpoint, &event, now).await?;
        self.record(claimed, &endpoint, attempt, now, response)
            .await
    }

    /// The POST itself: URL checked again (DNS may have changed since registration), signed
    /// with every live secret, sent only to the checked addresses.
    async fn post(
        &self,
        endpoint: &WebhookEndpoint,
        event: &AccountEvent,
        now: DateTime<Utc>,
    ) -> Result<WebhookResponse, HandlerError> {
        let (target, addrs) = match self
            .policy
            .check(&endpoint.url, self.resolver.as_ref())
            .await
        {
            Ok(checked) => checked,
            Err(e) => {
                return Ok(WebhookResponse {
                    status: None,
                    latency: StdDuration::ZERO,
                    error: Some(format!("not sent: {e}")),
                });
            }
        };
        let secrets = endpoint
            .signing_secrets(now)
            .map(|s| {
                self.sealer
                    .open(&s.sealed)
                    .ok()
                    .and_then(|plain| WebhookSecret::parse(&plain))
            })
            .collect::<Option<Vec<_>>>()
            .filter(|secrets| !secrets.is_empty())
            .ok_or_else(|| {
                // The data key changed or the item is damaged: an operator must look.
                HandlerError::Transient(format!(
                    "signing secret of account {} cannot be opened",
                    endpoint.account_id
                ))
            })?;
        let body = payload(event);
        // `webhook-timestamp` is real time, even when `clock` is the sandbox's movable clock
        // that schedules the retries: receivers check it against their own clock (Standard
        // Webhooks libraries refuse one more than 5 minutes off).
        let headers = signing::headers(&secrets, &event.id, SystemClock.now(), &body);
        Ok(self
            .sender
            .send(WebhookRequest {
                url: target.url,
                host: target.host,
                addrs,
                headers,
                body,
                timeout: ATTEMPT_TIMEOUT,
            })
            .await)
    }

    async fn record(
        &self,
        claimed: Delivery,
        endpoint: &WebhookEndpoint,
        attempt: u32,
        started: DateTime<Utc>,
        response: WebhookResponse,
    ) -> Result<Dispatched, HandlerError> {
        let now = self.clock.now();
        let mut done = claimed.clone();
        done.log_attempt(DeliveryAttempt {
            number: attempt,
            round: claimed.round,
            at: started,
            status_code: response.status,
            latency_ms: u64::try_from(response.latency.as_millis()).unwrap_or(u64::MAX),
            error: response.error.clone(),
        });
        done.in_flight = None;
        done.updated_at = now;
        done.version = claimed.version + 1;
        let mut next_message = None;
        let succeeded = done.last_attempt().is_some_and(DeliveryAttempt::succeeded);
        if succeeded {
            done.status = DeliveryStatus::Delivered;
            done.next_attempt_at = None;
        } else if response.status == Some(410) {
            // 410 Gone: the merchant retired this endpoint. Stop sending anything to it.
            done.status = DeliveryStatus::Failed;
            done.next_attempt_at = None;
            self.disable(endpoint, now).await?;
        } else if let Some(at) = done.retry_at(attempt, now, (self.jitter)()) {
            done.next_attempt_at = Some(at);
            next_message = Some(
                WebhookMessage::Attempt {
                    delivery_id: done.id.clone(),
                    account_id: done.account_id.clone(),
                    round: done.round,
                    attempt: attempt + 1,
                    not_before_ms: at.timestamp_millis(),
                }
                .to_outbox(now),
            );
        } else {
            done.status = DeliveryStatus::Failed;
            done.next_attempt_at = None;
            // Parked for operators first: were the process to die after the record, a
            // redelivered message would find the delivery FAILED and stop.
            self.queue
                .send_dead_letter(
                    QueueName::WebhookDeliveries,
                    OutgoingMessage::new(
                        WebhookMessage::Attempt {
                            delivery_id: done.id.clone(),
                            account_id: done.account_id.clone(),
                            round: done.round,
                            attempt,
                            not_before_ms: started.timestamp_millis(),
                        }
                        .to_body(),
                    ),
                )
                .await
                .map_err(|e| HandlerError::Transient(e.to_string()))?;
            warn!(delivery_id = %done.id, attempts = done.attempt_count, "webhook retries exhausted");
        }
        match self
            .store
            .update_delivery(&done, claimed.version, next_message.as_ref())
            .await
            .map_err(store)?
        {
            WriteOutcome::Applied => {
                info!(
                    delivery_id = %done.id,
                    attempt,
                    code = ?response.status,
                    status = done.status.as_str(),
                    "webhook attempt recorded"
                );
                Ok(Dispatched::Attempted {
                    status: done.status,
                    code: response.status,
                })
            }
            WriteOutcome::Conflict => {
                warn!(delivery_id = %done.id, attempt, "delivery changed during the attempt; keeping the other record");
                Ok(Dispatched::Superseded)
            }
        }
    }

    /// The endpoint is gone or disabled: the claimed delivery ends FAILED, unattempted.
    async fn give_up_unreachable(&self, claimed: Delivery) -> Result<Dispatched, HandlerError> {
        let mut done = claimed.clone();
        done.status = DeliveryStatus::Failed;
        done.next_attempt_at = None;
        done.in_flight = None;
        done.updated_at = self.clock.now();
        done.version = claimed.version + 1;
        match self
            .store
            .update_delivery(&done, claimed.version, None)
            .await
            .map_err(store)?
        {
            WriteOutcome::Applied => Ok(Dispatched::EndpointUnavailable),
            WriteOutcome::Conflict => Ok(Dispatched::Superseded),
        }
    }

    async fn disable(
        &self,
        endpoint: &WebhookEndpoint,
        now: DateTime<Utc>,
    ) -> Result<(), HandlerError> {
        // Re-read: the merchant may have changed the endpoint while we were sending.
        for _ in 0..3 {
            let Some(current) = self
                .store
                .get_webhook_endpoint(&endpoint.account_id)
                .await
                .map_err(store)?
            else {
                return Ok(());
            };
            if current.url != endpoint.url || !current.is_enabled() {
                return Ok(());
            }
            let mut disabled = current.clone();
            disabled.status = EndpointStatus::Disabled {
                reason: "the endpoint answered 410 Gone".into(),
                at: now,
            };
            disabled.updated_at = now;
            disabled.version = current.version + 1;
            if self
                .store
                .put_webhook_endpoint(&disabled, Some(current.version))
                .await
                .map_err(store)?
                == WriteOutcome::Applied
            {
                warn!(account = %endpoint.account_id, "webhook endpoint disabled after 410 Gone");
                return Ok(());
            }
        }
        Err(HandlerError::Transient(
            "webhook endpoint kept changing while disabling it".into(),
        ))
    }
}

fn store(e: StoreError) -> HandlerError {
    match e {
        StoreError::Unavailable(_) => HandlerError::Transient(e.to_string()),
        StoreError::Corrupt(_) => HandlerError::Poison(e.to_string()),
    }
}

#[async_trait]
impl MessageHandler for WebhookDispatcher {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        self.dispatch(body).await.map(|_| ())
    }
}
