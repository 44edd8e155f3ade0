//! The outbox feed over the table's DynamoDB Stream, against DynamoDB Local: committed outbox
//! messages come out, un-acked ones come out again, messages of cancelled transactions never
//! do, and iterator trouble is survived. Also: the Lambda relay's event type feeds
//! `outbox_message_from_image` directly.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_dynamodbstreams::Client as StreamsClient;
use common::settlement::{confirm_write, split_charge};
use common::{T0_MS, endpoint, faults, fresh_store, init_tracing, unique_table};
use pixgw_domain::charge::ports::ChargeStore;
use pixgw_domain::charge::ports::ChargeTransitions;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::messaging::outbox::OutboxFeed;
use pixgw_domain::messaging::outbox::OutboxMessage;
use pixgw_domain::pix::ids::AccountId;
use pixgw_store_dynamodb::{DynamoStore, DynamoStreamFeed, outbox_message_from_image, sdk_client};

fn ids<'a>(messages: impl IntoIterator<Item = &'a OutboxMessage>) -> BTreeSet<String> {
    messages.into_iter().map(|m| m.id.clone()).collect()
}

/// Polls until every id in `wanted` has come out (the stream lags writes a little), returning
/// the last poll. Panics after 15 s.
async fn poll_until(feed: &dyn OutboxFeed, wanted: &BTreeSet<String>) -> Vec<OutboxMessage> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let polled = feed.poll_outbox(100).await.expect("poll");
        if wanted.is_subset(&ids(&polled)) {
            return polled;
        }
        assert!(
            Instant::now() < deadline,
            "wanted {wanted:?}, the feed still only has {:?}",
            ids(&polled)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn confirmed_charge(store: &DynamoStore, account: &AccountId) -> OutboxMessage {
    let c = split_charge(account, T0_MS);
    store.insert_charge(&c, None).await.expect("insert");
    let confirm = confirm_write(&c, T0_MS + 1_000);
    assert_eq!(
        store.confirm_charge(&confirm).await,
        Ok(WriteOutcome::Applied)
    );
    confirm.outbox[0].clone()
}

#[tokio::test]
async fn the_feed_returns_committed_messages_until_they_are_acked() {
    let store = fresh_store().await;
    let feed = DynamoStreamFeed::connect(Some(endpoint()), store.table()).await;
    let account = AccountId::generate();
    let first = confirmed_charge(&store, &account).await;
    let second = confirmed_charge(&store, &account).await;
    let both = ids([&first, &second]);

    let polled = poll_until(&feed, &both).await;
    assert_eq!(
        ids(&polled),
        both,
        "only outbox items, no charges or movements"
    );
    assert!(
        polled.contains(&first) && polled.contains(&second),
        "decoded whole"
    );
    // Not acked: returned again, exactly once each.
    let again = feed.poll_outbox(100).await.expect("poll");
    assert_eq!(again.len(), 2);
    assert_eq!(ids(&again), both);
    // `max` bounds a poll.
    assert_eq!(feed.poll_outbox(1).await.expect("poll").len(), 1);

    feed.ack_outbox(&[first.id.clone(), "unknown".to_owned()])
        .await
        .expect("ack");
    assert_eq!(feed.poll_outbox(100).await, Ok(vec![second.clone()]));
    feed.ack_outbox(std::slice::from_ref(&second.id))
        .await
        .expect("ack");
    assert_eq!(feed.poll_outbox(100).await, Ok(vec![]));

    // Positions are in memory: a new feed reads the stream from TRIM_HORIZON again
    // (at least once; consumers are idempotent).
    let fresh = DynamoStreamFeed::connect(Some(endpoint()), store.table()).await;
    assert_eq!(ids(&poll_until(&fresh, &both).await), both);
}

/// A store on a fresh table, and a feed on it whose requests pass through `faults`.
async fn store_and_faulty_feed() -> (DynamoStore, DynamoStreamFeed, faults::Faults) {
    let store = fresh_store().await;
    let faults = faults::Faults::default();
    let config = faults::faulty_config(&endpoint(), &faults).await;
    let feed = DynamoStreamFeed::new(
        aws_sdk_dynamodb::Client::new(&config),
        StreamsClient::new(&config),
        store.table(),
    );
    (store, feed, faults)
}

#[tokio::test]
async fn an_expired_iterator_is_reopened_after_the_last_record_read() {
    let (store, feed, faults) = store_and_faulty_feed().await;
    let account = AccountId::generate();
    let first = confirmed_charge(&store, &account).await;
    poll_until(&feed, &ids([&first])).await;
    feed.ack_outbox(std::slice::from_ref(&first.id))
        .await
        .expect("ack");
    let opened = faults.forwarded("GetShardIterator");

    faults.fail("GetRecords", Some(1), "ExpiredIteratorException");
    let second = confirmed_charge(&store, &account).await;
    let polled = poll_until(&feed, &ids([&second])).await;

    assert_eq!(faults.injected("GetRecords"), 1);
    assert_eq!(
        faults.forwarded("GetShardIterator"),
        opened + 1,
        "re-opened once"
    );
    // Re-opened AFTER the last sequence number, not at the start: the acked message stays
    // gone.
    assert_eq!(polled, vec![second]);
}

#[tokio::test]
async fn a_trimmed_position_restarts_from_the_trim_horizon() {
    let (store, feed, faults) = store_and_faulty_feed().await;
    let account = AccountId::generate();
    let first = confirmed_charge(&store, &account).await;
    poll_until(&feed, &ids([&first])).await;
    feed.ack_outbox(std::slice::from_ref(&first.id))
        .await
        .expect("ack");

    faults.fail("GetRecords", Some(1), "ExpiredIteratorException");
    faults.fail("GetShardIterator", Some(1), "TrimmedDataAccessException");
    let second = confirmed_charge(&store, &account).await;
    let both = ids([&first, &second]);
    // Whatever the stream still holds is read again rather than skipped.
    assert_eq!(ids(&poll_until(&feed, &both).await), both);
    assert_eq!(faults.injected("GetShardIterator"), 1);
}

#[tokio::test]
async fn a_closed_shard_is_not_read_again_but_the_stream_is_re_described_every_poll() {
    let (store, feed, faults) = store_and_faulty_feed().await;
    let account = AccountId::generate();
    let first = confirmed_charge(&store, &account).await;
    poll_until(&feed, &ids([&first])).await;

    // What GetRecords answers at the end of a closed shard: no next iterator.
    faults.answer("GetRecords", Some(1), 200, r#"{"Records":[]}"#.to_owned());
    let read = faults.forwarded("GetRecords");
    let described = faults.forwarded("DescribeStream");
    for _ in 0..3 {
        assert_eq!(feed.poll_outbox(100).await, Ok(vec![first.clone()]));
    }
    assert_eq!(faults.injected("GetRecords"), 1);
    assert_eq!(
        faults.forwarded("GetRecords"),
        read,
        "closed shard read again"
    );
    assert_eq!(faults.forwarded("DescribeStream"), described + 3);
}

#[tokio::test]
async fn a_table_without_a_stream_is_an_error_not_an_empty_feed() {
    init_tracing();
    let client = sdk_client(Some(endpoint())).await;
    let table = unique_table();
    client
        .create_table()
        .table_name(&table)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create bare table");
    let feed = DynamoStreamFeed::connect(Some(endpoint()), &table).await;
    assert!(matches!(
        feed.poll_outbox(10).await,
        Err(pixgw_domain::error::StoreError::Unavailable(_))
    ));
}

/// Every stream record of `table` so far, read the way the Lambda event source mapping does.
async fn stream_records(table: &str) -> Vec<aws_sdk_dynamodbstreams::types::Record> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .load()
        .await;
    let described = aws_sdk_dynamodb::Client::new(&config)
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe table");
    let arn = described
        .table
        .and_then(|t| t.latest_stream_arn)
        .expect("stream arn");
    let streams = StreamsClient::new(&config);
    let stream = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .expect("describe stream");
    let mut records = Vec::new();
    for shard in stream.stream_description.expect("description").shards() {
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id().expect("shard id"))
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("iterator")
            .shard_iterator;
        // An open shard always has a next iterator; stop once a read comes back empty.
        while let Some(it) = iterator {
            let out = streams
                .get_records()
                .shard_iterator(it)
                .send()
                .await
                .expect("records");
            let batch = out.records.unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            records.extend(batch);
            iterator = out.next_shard_iterator;
        }
    }
    records
}

#[tokio::test]
async fn lambda_stream_events_feed_outbox_message_from_image_directly() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let message = confirmed_charge(&store, &account).await;
    let wanted = message.id.clone();
    let deadline = Instant::now() + Duration::from_secs(15);
    let records = loop {
        let records = stream_records(store.table()).await;
        let inserts = records
            .iter()
            .filter(|r| r.event_name().map(|e| e.as_str()) == Some("INSERT"))
            .count();
        // Charge, movement, balance shard, e2e guard and the outbox item.
        if inserts >= 5 || Instant::now() > deadline {
            break records;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The same records in the wire format Lambda receives them in.
    let json_records: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            let change = r.dynamodb().expect("change");
            let image = change.new_image().cloned().unwrap_or_default();
            serde_json::json!({
                "eventID": r.event_id().unwrap_or("1"),
                "eventName": r.event_name().map(|e| e.as_str()).unwrap_or_default(),
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1_705_314_600,
                    "Keys": serde_dynamo::Item::from(change.keys().cloned().unwrap_or_default()),
                    "NewImage": serde_dynamo::Item::from(image),
                    "SequenceNumber": change.sequence_number(),
                    "SizeBytes": change.size_bytes().unwrap_or_default(),
                    "StreamViewType": "NEW_AND_OLD_IMAGES"
                },
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x"
            })
        })
        .collect();
    let event: aws_lambda_events::event::dynamodb::Event =
        serde_json::from_value(serde_json::json!({ "Records": json_records }))
            .expect("a Lambda DynamoDB stream event");

    let mut decoded = Vec::new();
    for record in event.records {
        // Exactly what the relay does: the event's `new_image` goes straight in.
        if let Some(m) = outbox_message_from_image(record.change.new_image).expect("decodes") {
            decoded.push(m);
        }
    }
    assert_eq!(
        decoded,
        vec![message],
        "only the outbox insert {wanted} is a message"
    );
}
