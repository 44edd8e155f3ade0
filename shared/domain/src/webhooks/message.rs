//! The messages of the `webhook-deliveries` queue.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::messaging::events::AccountEvent;
use crate::messaging::outbox::OutboxMessage;
use crate::messaging::queue::QueueName;
use crate::pix::ids::AccountId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WebhookMessage {
    /// An event was recorded: deliver it (first attempt). Relayed from the event itself.
    #[serde(rename_all = "camelCase")]
    Event {
        event_id: String,
        account_id: AccountId,
    },
    /// Attempt `attempt` of round `round` of a delivery, not before `not_before_ms`.
    #[serde(rename_all = "camelCase")]
    Attempt {
        delivery_id: String,
        account_id: AccountId,
        round: u32,
        attempt: u32,
        not_before_ms: i64,
    },
}

impl WebhookMessage {
    /// Deterministic, so a write retried after a crash cannot produce a second message.
    pub fn outbox_id(&self) -> String {
        match self {
            WebhookMessage::Event { event_id, .. } => format!("webhook-event:{event_id}"),
            WebhookMessage::Attempt {
                delivery_id,
                round,
                attempt,
                ..
            } => format!("webhook-attempt:{delivery_id}:{round}:{attempt}"),
        }
    }

    pub fn to_outbox(&self, created_at: DateTime<Utc>) -> OutboxMessage {
        OutboxMessage {
            id: self.outbox_id(),
            queue: QueueName::WebhookDeliveries,
            body: self.to_body(),
            created_at,
        }
    }

    /// The outbox message every recorded event stands for (the stores emit it with the event).
    pub fn for_event(event: &AccountEvent) -> OutboxMessage {
        WebhookMessage::Event {
            event_id: event.id.clone(),
            account_id: event.account_id.clone(),
        }
        .to_outbox(event.occurred_at)
    }

    pub fn to_body(&self) -> String {
        // Strings and integers only: serialisation cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn parse(body: &str) -> Result<WebhookMessage, serde_json::Error> {
        serde_json::from_str(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_stable_ids() {
        let account = AccountId::generate();
        let attempt = WebhookMessage::Attempt {
            delivery_id: "dlv_1".into(),
            account_id: account.clone(),
            round: 1,
            attempt: 3,
            not_before_ms: 1_700_000_000_000,
        };
        let out = attempt.to_outbox(Utc::now());
        assert_eq!(out.queue, QueueName::WebhookDeliveries);
        assert_eq!(out.id, "webhook-attempt:dlv_1:1:3");
        assert!(out.body.contains("\"type\":\"ATTEMPT\""));
        assert!(out.body.contains("\"notBeforeMs\":1700000000000"));
        assert_eq!(WebhookMessage::parse(&out.body).unwrap(), attempt);
        let event = WebhookMessage::Event {
            event_id: "evt_1".into(),
            account_id: account,
        };
        assert_eq!(event.outbox_id(), "webhook-event:evt_1");
        assert_eq!(WebhookMessage::parse(&event.to_body()).unwrap(), event);
        assert!(WebhookMessage::parse("{\"type\":\"EVENT\"}").is_err());
    }
}
