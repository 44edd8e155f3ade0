//! Drives the settlement pipeline of a [`Gateway`] step by step, the way the hosts do it
//! (relay the outbox, receive from a queue, handle, ack), so tests can also do what hosts
//! must survive: deliver twice, out of order, or "crash" between handling and acking.

use std::time::Duration;

use pixgw_domain::messaging::consumer::{HandlerError, MessageHandler};
use pixgw_domain::messaging::queue::{QueueName, ReceivedMessage};
use pixgw_domain::messaging::relay::relay_outbox;

use crate::harness::{Backend, Gateway};

impl Gateway {
    /// The consumer of `queue`, as the Lambda function / local worker runs it.
    pub fn handler(&self, queue: QueueName) -> &dyn MessageHandler {
        match queue {
            QueueName::ChargeConfirmed => &self.state.split_calculator,
            QueueName::PayoutRequests => &self.state.money_out,
            // Delivering webhooks needs an HTTP receiver: the webhook_delivery suite builds
            // its own dispatcher around one. This harness leaves those messages queued.
            QueueName::WebhookDeliveries => {
                panic!("the pipeline harness does not deliver webhooks (see webhook_delivery.rs)")
            }
        }
    }

    /// Relays committed outbox messages until none are left. DynamoDB Streams make records
    /// readable a moment after the write, so that backend polls a few times before deciding
    /// the outbox is empty.
    pub async fn relay(&self) -> usize {
        let quiet_polls = match self.backend {
            Backend::Embedded => 1,
            Backend::Dynamodb => 4,
        };
        let mut total = 0;
        let mut empty = 0;
        while empty < quiet_polls {
            let n = relay_outbox(self.feed.as_ref(), self.queues.as_ref(), 100)
                .await
                .expect("relay outbox");
            if n == 0 {
                empty += 1;
                if empty < quiet_polls {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            } else {
                total += n;
                empty = 0;
            }
        }
        total
    }

    /// Receives every message currently visible on `queue` (without processing them).
    pub async fn receive_all(&self, queue: QueueName) -> Vec<ReceivedMessage> {
        // In-process queues answer exactly; SQS (moto) gets a short long-poll so a message
        // sent a moment ago is not missed.
        let wait = match self.backend {
            Backend::Embedded => Duration::ZERO,
            Backend::Dynamodb => Duration::from_millis(200),
        };
        let mut all = Vec::new();
        loop {
            let batch = self.queues.receive(queue, 10, wait).await.expect("receive");
            if batch.is_empty() {
                return all;
            }
            all.extend(batch);
        }
    }

    pub async fn handle(
        &self,
        queue: QueueName,
        message: &ReceivedMessage,
    ) -> Result<(), HandlerError> {
        self.handler(queue).handle(&message.body).await
    }

    pub async fn ack(&self, queue: QueueName, message: &ReceivedMessage) {
        self.queues.ack(queue, &message.receipt).await.expect("ack");
    }

    /// What a crash before the ack leads to: the visibility timeout runs out and the message
    /// is delivered again (simulated by making it visible at once).
    pub async fn crash_before_ack(&self, queue: QueueName, message: &ReceivedMessage) {
        self.queues
            .retry_later(queue, &message.receipt, Duration::ZERO)
            .await
            .expect("release message");
    }

    /// Runs the whole pipeline cleanly (relay, split calculator, relay, payout executor, …)
    /// until nothing is left to do. Panics if a message fails.
    pub async fn run_pipeline(&self) {
        for _ in 0..10 {
            let mut worked = self.relay().await;
            for queue in [QueueName::ChargeConfirmed, QueueName::PayoutRequests] {
                for message in self.receive_all(queue).await {
                    self.handle(queue, &message)
                        .await
                        .unwrap_or_else(|e| panic!("{queue}: {e}"));
                    self.ack(queue, &message).await;
                    worked += 1;
                }
                worked += self.relay().await;
            }
            if worked == 0 {
                return;
            }
        }
        panic!("the pipeline did not settle in 10 rounds");
    }
}
