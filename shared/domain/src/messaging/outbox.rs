//! The transactional outbox: how a state change hands work to the next stage without ever
//! losing it.
//!
//! A stage never sends to a queue directly after writing, because the process may die between
//! the write and the send. Instead the message is written as an [`OutboxMessage`] in the SAME
//! atomic write as the state change (so it exists if and only if the change happened), and a
//! relay moves outbox messages to their queue afterwards:
//!
//! - on AWS, the table's DynamoDB Stream triggers the `outbox-relay` Lambda on every inserted
//!   outbox item; the event source mapping retries a failed batch until it succeeds, so a
//!   committed message always reaches SQS (at least once);
//! - locally, the embedded store keeps outbox messages in their own table until the relay
//!   loop acks them after sending.
//!
//! Either way a message can be relayed twice (crash after send, before ack/checkpoint), which
//! is fine: every consumer is idempotent. Message ids are deterministic
//! (`charge-confirmed:{transactionId}`, …), so a write retried after a crash cannot produce a
//! second message either.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use async_trait::async_trait;

use crate::cash_out::CashOutId;
use crate::error::StoreError;
use crate::error::corrupt;
use crate::messaging::queue::QueueName;
use crate::payout::PayoutId;
use crate::pix::clock::millis_to_time;
use crate::pix::ids::{AccountId, RefundId, TransactionId};

/// A message waiting to be relayed to `queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Deterministic: the same effect always produces the same id.
    pub id: String,
    pub queue: QueueName,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// The messages of the settlement pipeline (JSON bodies on the queues).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PipelineMessage {
    /// To `charge-confirmed`: book the charge's splits.
    #[serde(rename_all = "camelCase")]
    ChargeConfirmed {
        transaction_id: TransactionId,
        account_id: AccountId,
    },
    /// To `payout-requests`: execute the payout.
    #[serde(rename_all = "camelCase")]
    PayoutRequested {
        payout_id: PayoutId,
        account_id: AccountId,
    },
    /// To `payout-requests` (every money-out request shares the executor queue): send the
    /// cash-out's transfer.
    #[serde(rename_all = "camelCase")]
    CashOutRequested {
        cash_out_id: CashOutId,
        account_id: AccountId,
    },
    /// To `payout-requests`: ask the provider for refund `refund_id` of the charge (a message
    /// queued before refunds had ids names it by `attempt`: see [`RefundId::legacy`]).
    #[serde(rename_all = "camelCase")]
    RefundRequested {
        transaction_id: TransactionId,
        account_id: AccountId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refund_id: Option<RefundId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt: Option<u32>,
    },
}

impl PipelineMessage {
    pub fn queue(&self) -> QueueName {
        match self {
            PipelineMessage::ChargeConfirmed { .. } => QueueName::ChargeConfirmed,
            PipelineMessage::PayoutRequested { .. }
            | PipelineMessage::CashOutRequested { .. }
            | PipelineMessage::RefundRequested { .. } => QueueName::PayoutRequests,
        }
    }

    /// The deterministic outbox id of this message.
    pub fn outbox_id(&self) -> String {
        match self {
            PipelineMessage::ChargeConfirmed { transaction_id, .. } => {
                format!("charge-confirmed:{transaction_id}")
            }
            PipelineMessage::PayoutRequested { payout_id, .. } => {
                format!("payout-requested:{payout_id}")
            }
            PipelineMessage::CashOutRequested { cash_out_id, .. } => {
                format!("cash-out-requested:{cash_out_id}")
            }
            PipelineMessage::RefundRequested {
                transaction_id,
                refund_id,
                attempt,
                ..
            } => match (refund_id, attempt) {
                (Some(refund_id), _) => format!("refund-requested:{transaction_id}#{refund_id}"),
                (None, attempt) => {
                    format!("refund-requested:{transaction_id}#{}", attempt.unwrap_or(0))
                }
            },
        }
    }

    pub fn to_outbox(&self, created_at: DateTime<Utc>) -> OutboxMessage {
        OutboxMessage {
            id: self.outbox_id(),
            queue: self.queue(),
            body: serde_json::to_string(self).unwrap_or_default(),
            created_at,
        }
    }

    pub fn parse(body: &str) -> Result<PipelineMessage, serde_json::Error> {
        serde_json::from_str(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_stable_ids() {
        let m = PipelineMessage::ChargeConfirmed {
            transaction_id: TransactionId::generate(),
            account_id: AccountId::generate(),
        };
        let out = m.to_outbox(Utc::now());
        assert_eq!(out.queue, QueueName::ChargeConfirmed);
        assert!(out.body.contains("\"type\":\"CHARGE_CONFIRMED\""));
        assert!(out.body.contains("\"transactionId\""));
        assert_eq!(PipelineMessage::parse(&out.body).unwrap(), m);
        assert_eq!(out.id, m.outbox_id());
        assert!(PipelineMessage::parse("{\"type\":\"NOPE\"}").is_err());
    }
}

/// Reads committed outbox messages so a relay can move them to their queues.
#[async_trait]
pub trait OutboxFeed: Send + Sync {
    /// Up to `max` messages not yet acked (oldest first where the adapter can tell). A message
    /// may be returned again until acked.
    async fn poll_outbox(&self, max: usize) -> Result<Vec<OutboxMessage>, StoreError>;

    /// Marks messages as relayed. Unknown ids are ignored.
    async fn ack_outbox(&self, ids: &[String]) -> Result<(), StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxRecord {
    pub message_id: String,
    pub queue: String,
    pub body: String,
    pub created_at_ms: i64,
}

impl From<&OutboxMessage> for OutboxRecord {
    fn from(m: &OutboxMessage) -> Self {
        OutboxRecord {
            message_id: m.id.clone(),
            queue: m.queue.as_str().to_owned(),
            body: m.body.clone(),
            created_at_ms: m.created_at.timestamp_millis(),
        }
    }
}

impl TryFrom<OutboxRecord> for OutboxMessage {
    type Error = StoreError;

    fn try_from(r: OutboxRecord) -> Result<Self, StoreError> {
        Ok(OutboxMessage {
            queue: QueueName::parse(&r.queue).ok_or_else(|| corrupt("queue", &r.message_id))?,
            created_at: millis_to_time(r.created_at_ms)
                .ok_or_else(|| corrupt("createdAt", &r.message_id))?,
            id: r.message_id,
            body: r.body,
        })
    }
}
