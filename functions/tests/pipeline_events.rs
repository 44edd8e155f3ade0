//! The pipeline's Lambda glue without a Lambda runtime: real SQS and DynamoDB Stream event
//! payloads in, batch responses out.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use pixgw_domain::messaging::consumer::{HandlerError, MessageHandler};
use pixgw_domain::messaging::queue::{MessageQueue, QueueName};
use pixgw_domain::pix::clock::SystemClock;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::webhooks::WebhookMessage;
use pixgw_functions::pipeline::handle_stream;
use pixgw_functions::runner::{handle_sqs, handle_sqs_concurrently};
use pixgw_queue_local::LocalQueues;
use serde_json::{Value, json};

/// Accepts bodies that say "ok", refuses the rest.
struct Picky;

#[async_trait]
impl MessageHandler for Picky {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        if body == "ok" {
            Ok(())
        } else {
            Err(HandlerError::Poison(format!("refused {body}")))
        }
    }
}

fn sqs_record(id: &str, body: &str) -> Value {
    json!({
        "messageId": id, "receiptHandle": format!("rh-{id}"), "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000",
                       "SenderId": "AIDA", "ApproximateFirstReceiveTimestamp": "1700000000001"},
        "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:sa-east-1:123456789012:pixgw-charge-confirmed",
        "awsRegion": "sa-east-1"
    })
}

#[tokio::test]
async fn sqs_batches_report_only_the_failed_messages() {
    let event: SqsEvent = serde_json::from_value(json!({"Records": [
        sqs_record("m1", "ok"), sqs_record("m2", "bad"), sqs_record("m3", "ok"), sqs_record("m4", "worse")
    ]}))
    .expect("SQS event");
    let response = handle_sqs(&Picky, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m2", "m4"]);
    let json = serde_json::to_value(&response).expect("serialise");
    assert_eq!(json["batchItemFailures"][0]["itemIdentifier"], "m2");
}

/// A stream record of an inserted item, in the DynamoDB JSON Lambda receives.
fn stream_record(sequence: &str, event_name: &str, image: Value) -> Value {
    json!({
        "eventID": format!("ev-{sequence}"), "eventName": event_name, "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "sa-east-1",
        "eventSourceARN": "arn:aws:dynamodb:sa-east-1:123456789012:table/pixgw/stream/2026-01-01T00:00:00.000",
        "dynamodb": {
            "ApproximateCreationDateTime": 1700000000.0,
            "Keys": {"pk": image["pk"].clone(), "sk": image["sk"].clone()},
            "NewImage": image, "SequenceNumber": sequence, "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        }
    })
}

fn outbox_image(id: &str, queue: &str, body: &str) -> Value {
    json!({
        "pk": {"S": format!("OUTBOX#{id}")}, "sk": {"S": "OUTBOX"}, "entity": {"S": "OUTBOX"},
        "messageId": {"S": id}, "queue": {"S": queue}, "body": {"S": body},
        "createdAtMs": {"N": "1700000000000"}, "ttl": {"N": "1700604800"}
    })
}

#[tokio::test]
async fn the_relay_sends_inserted_outbox_items_and_skips_everything_else() {
    let queues = LocalQueues::new(Arc::new(SystemClock));
    let charge = json!({"pk": {"S": "CHARGE#x"}, "sk": {"S": "CHARGE"}, "entity": {"S": "CHARGE"}});
    let event: StreamEvent = serde_json::from_value(json!({"Records": [
        stream_record("100", "INSERT", outbox_image("charge-confirmed:a", "charge-confirmed", "{\"n\":1}")),
        stream_record("101", "MODIFY", charge.clone()),
        stream_record("102", "INSERT", charge),
        stream_record("103", "INSERT", outbox_image("payout-requested:b", "payout-requests", "{\"n\":2}")),
    ]}))
    .expect("stream event");
    let response = handle_stream(&queues, event).await;
    assert!(response.batch_item_failures.is_empty());
    let confirmed = queues
        .receive(QueueName::ChargeConfirmed, 10, Duration::ZERO)
        .await
        .unwrap();
    let payouts = queues
        .receive(QueueName::PayoutRequests, 10, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(confirmed.len(), 1);
    assert_eq!(confirmed[0].body, "{\"n\":1}");
    assert_eq!(payouts.len(), 1);
}

#[tokio::test]
async fn an_unreadable_outbox_record_is_reported_not_dropped() {
    let queues = LocalQueues::new(Arc::new(SystemClock));
    let event: StreamEvent = serde_json::from_value(json!({"Records": [
        stream_record("200", "INSERT", outbox_image("charge-confirmed:a", "charge-confirmed", "first")),
        stream_record("201", "INSERT", outbox_image("x:b", "no-such-queue", "bad")),
        stream_record("202", "INSERT", outbox_image("charge-confirmed:c", "charge-confirmed", "after")),
    ]}))
    .expect("stream event");
    let response = handle_stream(&queues, event).await;
    let failed: Vec<Option<String>> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    // Lambda retries from the bad record; the one before it is done.
    assert_eq!(failed, [Some("201".to_owned())]);
    let sent = queues
        .receive(QueueName::ChargeConfirmed, 10, Duration::ZERO)
        .await
        .unwrap();
    let bodies: Vec<&str> = sent.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["first"]);
}

/// Waits until `n` messages are being handled at the same time (a barrier): only a concurrent
/// batch gets through. Bodies other than "ok" fail.
struct Together(tokio::sync::Barrier);

#[async_trait]
impl MessageHandler for Together {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        self.0.wait().await;
        if body == "ok" {
            Ok(())
        } else {
            Err(HandlerError::Transient(format!("refused {body}")))
        }
    }
}

#[tokio::test]
async fn webhook_batches_are_handled_concurrently_and_report_their_failures() {
    let event: SqsEvent = serde_json::from_value(json!({"Records": [
        sqs_record("w1", "ok"), sqs_record("w2", "slow-merchant"), sqs_record("w3", "ok")
    ]}))
    .expect("SQS event");
    let handler = Together(tokio::sync::Barrier::new(3));
    // One after the other, the first message would wait for the others for ever.
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        handle_sqs_concurrently(&handler, event),
    )
    .await
    .expect("the batch's messages run at the same time");
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["w2"]);
}

/// An account event item as the settlement writes store it.
fn event_image(event_id: &str, account: &AccountId) -> Value {
    json!({
        "pk": {"S": format!("EVENT#{event_id}")}, "sk": {"S": "EVENT"}, "entity": {"S": "EVENT"},
        "eventId": {"S": event_id}, "accountId": {"S": account.to_string()},
        "eventType": {"S": "CASHIN_CONFIRMED"}, "occurredAtMs": {"N": "1700000000123"},
        "data": {"S": "{\"transactionId\":\"abc\",\"status\":\"CONFIRMED\"}"}
    })
}

#[tokio::test]
async fn an_inserted_event_is_relayed_as_its_webhook_message() {
    let queues = LocalQueues::new(Arc::new(SystemClock));
    let account = AccountId::generate();
    let event_id = "evt_0123456789abcdef0123456789abcdef";
    let event: StreamEvent = serde_json::from_value(json!({"Records": [
        stream_record("300", "INSERT", event_image(event_id, &account)),
        stream_record("301", "MODIFY", event_image(event_id, &account)),
    ]}))
    .expect("stream event");
    let response = handle_stream(&queues, event).await;
    assert!(response.batch_item_failures.is_empty());
    let sent = queues
        .receive(QueueName::WebhookDeliveries, 10, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(sent.len(), 1, "the INSERT only");
    assert_eq!(
        WebhookMessage::parse(&sent[0].body).expect("a webhook message"),
        WebhookMessage::Event {
            event_id: event_id.to_owned(),
            account_id: account,
        }
    );
}
