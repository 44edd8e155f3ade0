//! Queue names and creation: what the SAM template mirrors.

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;
use pixgw_domain::messaging::queue::{QueueError, QueueName};

use crate::{ceil_secs, unavailable};

/// How long a dead-letter queue keeps a message: 14 days, SQS's maximum.
const DEAD_LETTER_RETENTION_SECS: u32 = 14 * 24 * 60 * 60;

/// The SQS name of `queue`: `<prefix>-<queue>`, or just `<queue>` with an empty prefix.
pub fn queue_name(prefix: &str, queue: QueueName) -> String {
    if prefix.is_empty() {
        queue.as_str().to_string()
    } else {
        format!("{prefix}-{queue}")
    }
}

/// The SQS name of `queue`'s dead-letter queue: `<queue name>-dlq`.
pub fn dead_letter_queue_name(prefix: &str, queue: QueueName) -> String {
    format!("{}-dlq", queue_name(prefix, queue))
}

/// Creates every [`QueueName`] and its dead-letter queue under `prefix`: the dead-letter queue
/// first (14 days' retention), then the queue with `VisibilityTimeout = visibility_timeout`
/// (whole seconds, rounded up) and `RedrivePolicy = {deadLetterTargetArn, maxReceiveCount:
/// max_receives}`. Re-running with the same settings is harmless (`CreateQueue` is idempotent
/// for identical attributes).
pub async fn create_queues(
    client: &Client,
    prefix: &str,
    visibility_timeout: Duration,
    max_receives: u32,
) -> Result<(), QueueError> {
    let visibility = ceil_secs(visibility_timeout).to_string();
    for queue in QueueName::ALL {
        let dead = client
            .create_queue()
            .queue_name(dead_letter_queue_name(prefix, queue))
            .attributes(QueueAttributeName::VisibilityTimeout, &visibility)
            .attributes(
                QueueAttributeName::MessageRetentionPeriod,
                DEAD_LETTER_RETENTION_SECS.to_string(),
            )
            .send()
            .await
            .map_err(unavailable)?;
        let dead_url = dead
            .queue_url()
            .ok_or_else(|| QueueError::Unavailable("CreateQueue returned no URL".into()))?;
        let attributes = client
            .get_queue_attributes()
            .queue_url(dead_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(unavailable)?;
        let dead_arn = attributes
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .ok_or_else(|| QueueError::Unavailable("dead-letter queue without an ARN".into()))?;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dead_arn,
            "maxReceiveCount": max_receives.max(1),
        });
        client
            .create_queue()
            .queue_name(queue_name(prefix, queue))
            .attributes(QueueAttributeName::VisibilityTimeout, &visibility)
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .send()
            .await
            .map_err(unavailable)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix() {
        assert_eq!(
            queue_name("pixgw-prod", QueueName::PayoutRequests),
            "pixgw-prod-payout-requests"
        );
        assert_eq!(
            queue_name("", QueueName::ChargeConfirmed),
            "charge-confirmed"
        );
        assert_eq!(
            dead_letter_queue_name("p", QueueName::WebhookDeliveries),
            "p-webhook-deliveries-dlq"
        );
    }
}
