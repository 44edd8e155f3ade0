//! The transactional outbox ([`OutboxFeed`]): its items ([`outbox_item`]) and the feed that
//! reads them back from the table's DynamoDB Stream.
//!
//! Outbox items are written in the same transaction as the state change they announce, so the
//! table's stream carries an INSERT for a message if and only if its transaction committed
//! (a cancelled transaction leaves no stream record at all). Two item types are messages:
//!
//! - `OUTBOX` items: the message they store;
//! - `EVENT` items (account events): each stands for its webhook message
//!   ([`WebhookMessage::for_event`], to the `webhook-deliveries` queue). An event is created
//!   only if absent and never changed, so it is inserted exactly once — the same guarantee an
//!   outbox item gives — without a second item per event in every settlement transaction
//!   (whose 100-item limit already holds up to 48 events).
//!
//! Two readers turn those inserts into [`OutboxMessage`]s with the same function,
//! [`outbox_message_from_image`]:
//!
//! - on AWS, the `outbox-relay` Lambda's event source mapping reads the stream and hands it
//!   `aws_lambda_events::dynamodb::Event` records, whose `change.new_image` is a
//!   [`serde_dynamo::Item`] that goes straight into the function; the mapping checkpoints;
//! - elsewhere (the local stack on DynamoDB Local, tests), [`DynamoStreamFeed`] reads the
//!   stream itself and implements [`OutboxFeed`].
//!
//! # How the feed reads
//!
//! Every poll re-describes the stream (shards close every few hours and children appear),
//! then reads each shard with GetRecords from TRIM_HORIZON on, keeping one iterator per shard
//! in memory. A child shard is read only once its parent is drained, so the messages of one
//! item keep their order. Expired iterators (15 minutes idle) are re-opened right after the
//! last sequence number seen; a shard the stream no longer lists (trimmed after 24 h) is
//! dropped. Outbox messages read but not yet acked wait in a map keyed by message id and are
//! returned again by every poll until [`OutboxFeed::ack_outbox`].
//!
//! Positions live in memory only: a new feed replays the stream's 24 h from the start. That is
//! at-least-once delivery, which every consumer handles (message ids are deterministic).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodbstreams::Client as StreamsClient;
use aws_sdk_dynamodbstreams::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodbstreams::operation::get_records::GetRecordsError;
use aws_sdk_dynamodbstreams::operation::get_shard_iterator::GetShardIteratorError;
use aws_sdk_dynamodbstreams::types::{OperationType, Record, ShardIteratorType};
use pixgw_domain::error::StoreError;
use pixgw_domain::messaging::events::{AccountEvent, AccountEventRecord};
use pixgw_domain::messaging::outbox::OutboxFeed;
use pixgw_domain::messaging::outbox::OutboxMessage;
use pixgw_domain::messaging::outbox::OutboxRecord;
use pixgw_domain::webhooks::WebhookMessage;
use tokio::sync::Mutex;
use tracing::{debug, error, warn};

use crate::errors;
use crate::items::record_item;
use crate::keys::{
    ENTITY, Item, OUTBOX_TTL_SECONDS, PK, SK, SK_EVENT, SK_OUTBOX, TTL, n, outbox_pk, s,
};

/// An outbox message. Its TTL only cleans up after the relay (the stream keeps an insert for
/// 24 h; the item lives 7 days).
pub(crate) fn outbox_item(message: &OutboxMessage) -> Result<Item, StoreError> {
    record_item(
        "outbox message",
        &OutboxRecord::from(message),
        [
            (PK, s(outbox_pk(&message.id))),
            (SK, s(SK_OUTBOX)),
            (ENTITY, s(SK_OUTBOX)),
            (TTL, n(message.created_at.timestamp() + OUTBOX_TTL_SECONDS)),
        ],
    )
}

/// Records per GetRecords call (the API's maximum).
const GET_RECORDS_LIMIT: i32 = 1_000;

/// Turns a stream record's new image (of an INSERT: callers pass inserts only) into the
/// message it stands for: an `OUTBOX` item's stored message, or an `EVENT` item's webhook
/// message ([`WebhookMessage::for_event`]: id `webhook-event:{eventId}`, queue
/// `webhook-deliveries`, created at the event's `occurredAt`); `None` for any other item type.
/// A corrupt image of either type is [`StoreError::Corrupt`].
///
/// Takes anything [`serde_dynamo::Item`] converts from: the Lambda event's `new_image` (a
/// `serde_dynamo::Item`) as is, or a map of `aws_sdk_dynamodbstreams` or `aws_sdk_dynamodb`
/// attribute values. On AWS, the relay's event source mapping must let both entities through
/// its filter (`entity` = `OUTBOX` or `EVENT`).
pub fn outbox_message_from_image(
    image: impl Into<serde_dynamo::Item>,
) -> Result<Option<OutboxMessage>, StoreError> {
    let item: serde_dynamo::Item = image.into();
    let entity = match item.get(ENTITY) {
        Some(serde_dynamo::AttributeValue::S(entity)) => entity.as_str(),
        _ => return Ok(None),
    };
    match entity {
        SK_OUTBOX => {
            let record: OutboxRecord =
                serde_dynamo::from_item(item).map_err(|e| errors::corrupt("outbox message", &e))?;
            OutboxMessage::try_from(record).map(Some)
        }
        SK_EVENT => {
            let record: AccountEventRecord =
                serde_dynamo::from_item(item).map_err(|e| errors::corrupt("event", &e))?;
            let event = AccountEvent::try_from(record)?;
            Ok(Some(WebhookMessage::for_event(&event)))
        }
        _ => Ok(None),
    }
}

/// Reads outbox messages from the table's DynamoDB Stream (see the module docs): those of
/// inserted `OUTBOX` items and the webhook messages of inserted `EVENT` items, both through
/// [`outbox_message_from_image`].
#[derive(Debug)]
pub struct DynamoStreamFeed {
    dynamodb: aws_sdk_dynamodb::Client,
    streams: StreamsClient,
    table: String,
    state: Mutex<FeedState>,
}

#[derive(Debug, Default)]
struct FeedState {
    /// Resolved on the first poll (and again after the stream went away).
    stream_arn: Option<String>,
    /// By shard id, which sorts by creation time, so parents come before their children.
    shards: BTreeMap<String, ShardCursor>,
    pending: HashMap<String, Pending>,
    /// Arrival counter: ties of `created_at` are returned in the order they were read.
    arrivals: u64,
}

#[derive(Debug, Default)]
struct ShardCursor {
    parent: Option<String>,
    /// Where the next GetRecords continues; `None` = open one (again).
    iterator: Option<String>,
    /// The last record read, to re-open an expired iterator right after it.
    last_sequence: Option<String>,
    /// Closed by DynamoDB and read to its end: nothing will ever come from it again.
    finished: bool,
}

#[derive(Debug)]
struct Pending {
    message: OutboxMessage,
    arrival: u64,
}

/// What reading one shard once ended with.
enum ShardRead {
    Records(Vec<Record>, Option<String>),
    /// The iterator expired: re-open from the last sequence number.
    Expired,
    /// The shard (or the whole stream) no longer exists.
    Gone,
}

impl DynamoStreamFeed {
    pub fn new(
        dynamodb: aws_sdk_dynamodb::Client,
        streams: StreamsClient,
        table: impl Into<String>,
    ) -> DynamoStreamFeed {
        DynamoStreamFeed {
            dynamodb,
            streams,
            table: table.into(),
            state: Mutex::new(FeedState::default()),
        }
    }

    /// Both clients from the default AWS configuration chain, pointing at `endpoint` when
    /// one is given (DynamoDB Local serves Streams on the same endpoint), like
    /// [`crate::DynamoStore::connect`].
    pub async fn connect(endpoint: Option<String>, table: impl Into<String>) -> DynamoStreamFeed {
        let config = crate::sdk_config(endpoint).await;
        DynamoStreamFeed::new(
            aws_sdk_dynamodb::Client::new(&config),
            StreamsClient::new(&config),
            table,
        )
    }

    async fn stream_arn(&self, state: &mut FeedState) -> Result<String, StoreError> {
        if let Some(arn) = &state.stream_arn {
            return Ok(arn.clone());
        }
        let out = self
            .dynamodb
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|err| errors::unavailable("DescribeTable", &err))?;
        let arn = out.table.and_then(|t| t.latest_stream_arn).ok_or_else(|| {
            StoreError::Unavailable(format!("table {} has no stream", self.table))
        })?;
        state.stream_arn = Some(arn.clone());
        Ok(arn)
    }

    /// Adds shards that appeared and drops the ones the stream no longer lists.
    async fn refresh_shards(&self, state: &mut FeedState, arn: &str) -> Result<(), StoreError> {
        let mut listed = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let out = self
                .streams
                .describe_stream()
                .stream_arn(arn)
                .set_exclusive_start_shard_id(start.take())
                .send()
                .await;
            let out = match out {
                Ok(out) => out,
                Err(err) if err.code() == Some("ResourceNotFoundException") => {
                    // The stream was disabled or the table re-created: start over next time.
                    warn!(table = %self.table, "stream not found, resolving it again");
                    *state = FeedState {
                        pending: std::mem::take(&mut state.pending),
                        arrivals: state.arrivals,
                        ..FeedState::default()
                    };
                    return Err(errors::unavailable("DescribeStream", &err));
                }
                Err(err) => return Err(errors::unavailable("DescribeStream", &err)),
            };
            let Some(description) = out.stream_description else {
                break;
            };
            for shard in description.shards() {
                if let Some(id) = shard.shard_id() {
                    listed.push((id.to_owned(), shard.parent_shard_id().map(str::to_owned)));
                }
            }
            match description.last_evaluated_shard_id {
                Some(last) => start = Some(last),
                None => break,
            }
        }
        state.shards.retain(|id, cursor| {
            let keep = listed.iter().any(|(listed_id, _)| listed_id == id);
            if !keep && !cursor.finished {
                warn!(shard = %id, "shard trimmed before it was read to its end");
            }
            keep
        });
        for (id, parent) in listed {
            state.shards.entry(id).or_insert_with(|| ShardCursor {
                parent,
                ..ShardCursor::default()
            });
        }
        Ok(())
    }

    async fn open_iterator(
        &self,
        arn: &str,
        shard_id: &str,
        after: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let request = |kind: ShardIteratorType, sequence: Option<&str>| {
            self.streams
                .get_shard_iterator()
                .stream_arn(arn)
                .shard_id(shard_id)
                .shard_iterator_type(kind)
                .set_sequence_number(sequence.map(str::to_owned))
                .send()
        };
        let opened = match after {
            Some(sequence) => {
                match request(ShardIteratorType::AfterSequenceNumber, Some(sequence)).await {
                    Err(err) if is_trimmed(&err) => {
                        // Our position is older than the 24 h retention: whatever was between
                        // it and the trim point is gone; continue with what is left.
                        warn!(shard = %shard_id, "position trimmed, reading from TRIM_HORIZON");
                        request(ShardIteratorType::TrimHorizon, None).await
                    }
                    other => other,
                }
            }
            None => request(ShardIteratorType::TrimHorizon, None).await,
        };
        match opened {
            Ok(out) => Ok(out.shard_iterator),
            Err(err) if err.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(err) => Err(errors::unavailable("GetShardIterator", &err)),
        }
    }

    async fn get_records(&self, iterator: String) -> Result<ShardRead, StoreError> {
        match self
            .streams
            .get_records()
            .shard_iterator(iterator)
            .limit(GET_RECORDS_LIMIT)
            .send()
            .await
        {
            Ok(out) => Ok(ShardRead::Records(
                out.records.unwrap_or_default(),
                out.next_shard_iterator,
            )),
            Err(err) => match err.as_service_error() {
                Some(GetRecordsError::ExpiredIteratorException(_)) => Ok(ShardRead::Expired),
                Some(GetRecordsError::ResourceNotFoundException(_)) => Ok(ShardRead::Gone),
                // Data under the iterator was trimmed meanwhile: re-open (see open_iterator).
                Some(GetRecordsError::TrimmedDataAccessException(_)) => Ok(ShardRead::Expired),
                _ => Err(errors::unavailable("GetRecords", &err)),
            },
        }
    }

    /// One GetRecords on one shard (re-opening its iterator first if needed), adding the
    /// outbox messages it holds to `pending`.
    async fn read_shard(
        &self,
        state: &mut FeedState,
        arn: &str,
        shard_id: &str,
    ) -> Result<(), StoreError> {
        // An expired iterator is re-opened once per poll; more would mean a broken stream.
        for _ in 0..2 {
            let Some(cursor) = state.shards.get_mut(shard_id) else {
                return Ok(());
            };
            let iterator = match cursor.iterator.take() {
                Some(it) => it,
                None => match self
                    .open_iterator(arn, shard_id, cursor.last_sequence.as_deref())
                    .await?
                {
                    Some(it) => it,
                    None => {
                        state.shards.remove(shard_id);
                        return Ok(());
                    }
                },
            };
            let (records, next) = match self.get_records(iterator).await? {
                ShardRead::Records(records, next) => (records, next),
                ShardRead::Expired => continue,
                ShardRead::Gone => {
                    warn!(shard = %shard_id, "shard disappeared while reading it");
                    state.shards.remove(shard_id);
                    return Ok(());
                }
            };
            let mut last = None;
            for record in records {
                if let Some(sequence) = record.dynamodb().and_then(|r| r.sequence_number()) {
                    last = Some(sequence.to_owned());
                }
                if let Some(message) = message_of(record) {
                    state.arrivals += 1;
                    let arrival = state.arrivals;
                    state
                        .pending
                        .insert(message.id.clone(), Pending { message, arrival });
                }
            }
            if let Some(cursor) = state.shards.get_mut(shard_id) {
                if last.is_some() {
                    cursor.last_sequence = last;
                }
                // No next iterator: the shard is closed and we have read all of it.
                cursor.finished = next.is_none();
                cursor.iterator = next;
            }
            return Ok(());
        }
        Ok(())
    }
}

/// The outbox message of an INSERT record, if it is one. A corrupt outbox or event image is
/// logged and skipped: it can never be relayed, and failing every poll on it would stop all
/// the others.
fn message_of(record: Record) -> Option<OutboxMessage> {
    if record.event_name() != Some(&OperationType::Insert) {
        return None;
    }
    let image = record.dynamodb?.new_image?;
    match outbox_message_from_image(image) {
        Ok(message) => message,
        Err(err) => {
            error!(error = %err, "unreadable outbox or event item in the stream, skipped");
            None
        }
    }
}

fn is_trimmed<R>(err: &SdkError<GetShardIteratorError, R>) -> bool {
    matches!(
        err.as_service_error(),
        Some(GetShardIteratorError::TrimmedDataAccessException(_))
    )
}

#[async_trait]
impl OutboxFeed for DynamoStreamFeed {
    async fn poll_outbox(&self, max: usize) -> Result<Vec<OutboxMessage>, StoreError> {
        let mut state = self.state.lock().await;
        let arn = self.stream_arn(&mut state).await?;
        self.refresh_shards(&mut state, &arn).await?;
        let ids: Vec<String> = state.shards.keys().cloned().collect();
        for id in ids {
            // Enough waiting already: reading on would only grow memory.
            if state.pending.len() >= max {
                break;
            }
            let Some(cursor) = state.shards.get(&id) else {
                continue;
            };
            let parent_busy = cursor
                .parent
                .as_ref()
                .and_then(|p| state.shards.get(p))
                .is_some_and(|p| !p.finished);
            if cursor.finished || parent_busy {
                continue;
            }
            self.read_shard(&mut state, &arn, &id).await?;
        }
        let mut pending: Vec<&Pending> = state.pending.values().collect();
        pending.sort_by_key(|p| (p.message.created_at, p.arrival));
        let messages: Vec<OutboxMessage> = pending
            .into_iter()
            .take(max)
            .map(|p| p.message.clone())
            .collect();
        debug!(
            count = messages.len(),
            waiting = state.pending.len(),
            shards = state.shards.len(),
            "polled outbox"
        );
        Ok(messages)
    }

    async fn ack_outbox(&self, ids: &[String]) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        for id in ids {
            state.pending.remove(id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodbstreams::types::AttributeValue as StreamValue;
    use chrono::{TimeZone, Utc};
    use pixgw_domain::messaging::events::EventType;
    use pixgw_domain::messaging::queue::QueueName;
    use pixgw_domain::pix::ids::AccountId;

    use crate::events::event_item;

    use super::*;

    fn image(entity: &str) -> HashMap<String, StreamValue> {
        HashMap::from([
            ("pk".to_owned(), StreamValue::S("OUTBOX#m-1".into())),
            ("sk".to_owned(), StreamValue::S("OUTBOX".into())),
            ("entity".to_owned(), StreamValue::S(entity.into())),
            ("messageId".to_owned(), StreamValue::S("m-1".into())),
            (
                "queue".to_owned(),
                StreamValue::S(QueueName::ChargeConfirmed.as_str().into()),
            ),
            ("body".to_owned(), StreamValue::S("{}".into())),
            (
                "createdAtMs".to_owned(),
                StreamValue::N("1705314600000".into()),
            ),
            ("ttl".to_owned(), StreamValue::N("1705919400".into())),
        ])
    }

    #[test]
    fn outbox_images_decode_and_other_items_are_ignored() {
        let message = outbox_message_from_image(image("OUTBOX")).unwrap().unwrap();
        assert_eq!(message.id, "m-1");
        assert_eq!(message.queue, QueueName::ChargeConfirmed);
        assert_eq!(
            message.created_at,
            Utc.timestamp_millis_opt(1_705_314_600_000).unwrap()
        );
        assert_eq!(outbox_message_from_image(image("CHARGE")), Ok(None));
        let mut bad = image("OUTBOX");
        bad.insert("queue".into(), StreamValue::S("nowhere".into()));
        assert!(matches!(
            outbox_message_from_image(bad),
            Err(StoreError::Corrupt(_))
        ));
    }

    fn event() -> AccountEvent {
        AccountEvent::new(
            &AccountId::generate(),
            EventType::CashinConfirmed,
            "0123456789abcdef0123456789abcdef",
            Utc.timestamp_millis_opt(1_705_314_600_123).unwrap(),
            serde_json::json!({"transactionId": "0123456789abcdef0123456789abcdef"}),
        )
    }

    /// The item exactly as the settlement transactions write it, as a stream image.
    fn event_image(event: &AccountEvent) -> serde_dynamo::Item {
        serde_dynamo::Item::from(event_item(event).unwrap())
    }

    #[test]
    fn an_inserted_event_is_its_webhook_message() {
        let event = event();
        let message = outbox_message_from_image(event_image(&event))
            .unwrap()
            .unwrap();
        assert_eq!(message, WebhookMessage::for_event(&event));
        assert_eq!(message.id, format!("webhook-event:{}", event.id));
        assert_eq!(message.queue, QueueName::WebhookDeliveries);
        assert_eq!(message.created_at, event.occurred_at);
        assert_eq!(
            WebhookMessage::parse(&message.body).unwrap(),
            WebhookMessage::Event {
                event_id: event.id.clone(),
                account_id: event.account_id.clone(),
            }
        );
        // Through the streams SDK's attribute values too (what `DynamoStreamFeed` reads).
        let streams: HashMap<String, StreamValue> = event_image(&event).into();
        assert_eq!(outbox_message_from_image(streams), Ok(Some(message)));
    }

    #[test]
    fn a_corrupt_event_image_is_an_error_and_other_entities_are_not_messages() {
        let event = event();
        let mut bad = event_item(&event).unwrap();
        bad.insert(
            "eventType".into(),
            aws_sdk_dynamodb::types::AttributeValue::S("NOPE".into()),
        );
        assert!(matches!(
            outbox_message_from_image(bad),
            Err(StoreError::Corrupt(_))
        ));
        let mut missing = event_item(&event).unwrap();
        missing.remove("accountId");
        assert!(matches!(
            outbox_message_from_image(missing),
            Err(StoreError::Corrupt(_))
        ));
        // The same attributes under another entity (or none) are not a message.
        for entity in [Some("DELIVERY"), Some("event"), None] {
            let mut other = event_item(&event).unwrap();
            match entity {
                Some(e) => other.insert(
                    "entity".into(),
                    aws_sdk_dynamodb::types::AttributeValue::S(e.into()),
                ),
                None => other.remove("entity"),
            };
            assert_eq!(outbox_message_from_image(other), Ok(None), "{entity:?}");
        }
    }
}
