//! [`WebhookStore`]: the account's webhook endpoint and its delivery log.
//!
//! - The endpoint is one item in the account's own partition (`ACCOUNT#{accountId}` /
//!   `WEBHOOK_ENDPOINT`), written whole by one conditional PutItem: `attribute_not_exists`
//!   to create, `version = :expected` to replace (optimistic lock; the caller bumps the
//!   version).
//! - A delivery is one item under its own id (`DELIVERY#{deliveryId}` / `DELIVERY`), created
//!   only if absent (the id is derived from the event, so duplicate queue messages meet at
//!   the key) and replaced whole on `version = :expected AND accountId = :acc`. When the
//!   replacement carries the next attempt's message, both go in ONE `TransactWriteItems`
//!   (the outbox item exactly like the settlement writes': `attribute_not_exists`), so a
//!   recorded attempt never loses its retry.
//! - The delivery log is `gsi1` partition `ACCOUNT#{accountId}#DELIVERIES`, sorted by
//!   `{createdAtMs:015}#{deliveryId}`: newest first is a backwards Query, and the event type
//!   and status filters are a FilterExpression. A call reads at most
//!   [`MAX_QUERIES_PER_PAGE`] index pages, so a filter that matches little returns a short
//!   (even empty) page with a cursor instead of scanning the account's whole history.
//!
//! Listing cursors are opaque to callers: `base64url("dlv1|{accountId}|{sortKey}")`, the
//! position (exclusive) where the next page continues. A cursor that does not decode, names
//! another account or holds no valid sort key is answered with an empty last page
//! (`next_cursor: None`), never an error: the API has already validated what it could, and
//! no cursor can move a query out of the account's own partition anyway (the partition key
//! is always built from the `account` argument).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pixgw_domain::error::StoreError;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::messaging::events::AccountEvent;
use pixgw_domain::messaging::outbox::OutboxMessage;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::webhooks::record::{DeliveryRecord, WebhookEndpointRecord};
use pixgw_domain::webhooks::{
    Delivery, DeliveryPage, DeliveryQuery, WebhookEndpoint, WebhookStore,
};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};
use tracing::{debug, instrument};

use crate::DynamoStore;
use crate::errors::{self, Reason, SingleWrite};
use crate::events::event_from_item;
use crate::keys::{
    ENTITY, GSI1PK, GSI1SK, Item, PK, SK, SK_DELIVERY, SK_EVENT, SK_WEBHOOK_ENDPOINT, account_pk,
    created_id_sort_key, deliveries_pk, delivery_pk, event_pk, fits_partition_key,
    is_created_id_sort_key, s,
};
use crate::outbox::outbox_item;
use crate::table::GSI1;
use crate::transact::{TransactFailure, put_new, transact_write};
use crate::versioned::write_versioned;

/// How many index pages (Queries) one `list_deliveries` call reads at most. With a filter
/// each evaluates up to [`FILTERED_QUERY_LIMIT`] deliveries, so a call examines at most
/// 5 × 200 = 1,000 of them (and reads at most 5 × 1 MB).
pub const MAX_QUERIES_PER_PAGE: usize = 5;

/// Deliveries a filtered Query evaluates (DynamoDB's `Limit` counts items before the
/// filter): enough that a selective filter still fills pages, small enough to bound a call.
pub const FILTERED_QUERY_LIMIT: usize = 200;

/// The port promises 1..=100; anything else is clamped rather than sent to DynamoDB.
const MAX_LIMIT: usize = 100;

/// Record attributes the conditions and filters look at (names as `serde` writes them;
/// unit-tested against the records below).
const VERSION: &str = "version";
const ACCOUNT_ID: &str = "accountId";
const EVENT_TYPE: &str = "eventType";
const STATUS: &str = "status";

const ENDPOINT: &str = "webhook endpoint";
const DELIVERY: &str = "delivery";
const PUT: &str = "PutItem";

/// Tags the cursor format, so a cursor of another listing never parses as a position here.
const CURSOR_VERSION: &str = "dlv1";

fn endpoint_item(endpoint: &WebhookEndpoint) -> Result<Item, StoreError> {
    let mut item: Item = to_item(WebhookEndpointRecord::from(endpoint))
        .map_err(|e| errors::corrupt(ENDPOINT, &e))?;
    item.insert(PK.to_owned(), s(account_pk(&endpoint.account_id)));
    item.insert(SK.to_owned(), s(SK_WEBHOOK_ENDPOINT));
    item.insert(ENTITY.to_owned(), s(SK_WEBHOOK_ENDPOINT));
    Ok(item)
}

fn endpoint_from_item(item: Item) -> Result<WebhookEndpoint, StoreError> {
    let record: WebhookEndpointRecord =
        from_item(item).map_err(|e| errors::corrupt(ENDPOINT, &e))?;
    WebhookEndpoint::try_from(record)
}

/// A delivery with its listing keys. A creation time outside the sortable range cannot be
/// indexed: refused as corrupt rather than stored unlisted.
fn delivery_item(delivery: &Delivery) -> Result<Item, StoreError> {
    let record = DeliveryRecord::from(delivery);
    let sort = created_id_sort_key(record.created_at_ms, &delivery.id).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "createdAt of delivery {} is outside the sortable range",
            delivery.id
        ))
    })?;
    let mut item: Item = to_item(record).map_err(|e| errors::corrupt(DELIVERY, &e))?;
    item.insert(PK.to_owned(), s(delivery_pk(&delivery.id)));
    item.insert(SK.to_owned(), s(SK_DELIVERY));
    item.insert(ENTITY.to_owned(), s(SK_DELIVERY));
    item.insert(GSI1PK.to_owned(), s(deliveries_pk(&delivery.account_id)));
    item.insert(GSI1SK.to_owned(), s(sort));
    Ok(item)
}

fn delivery_from_item(item: Item) -> Result<Delivery, StoreError> {
    let record: DeliveryRecord = from_item(item).map_err(|e| errors::corrupt(DELIVERY, &e))?;
    Delivery::try_from(record)
}

/// The condition of a delivery replacement: the stored delivery is of the same account and
/// at the expected version (a missing item fails it too).
struct Replace {
    item: Item,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

const REPLACE_CONDITION: &str = "#version = :expected AND #acc = :acc";

impl Replace {
    fn of(delivery: &Delivery, expected_version: u64) -> Result<Replace, StoreError> {
        Ok(Replace {
            item: delivery_item(delivery)?,
            names: HashMap::from([
                ("#version".to_owned(), VERSION.to_owned()),
                ("#acc".to_owned(), ACCOUNT_ID.to_owned()),
            ]),
            values: HashMap::from([
                (
                    ":expected".to_owned(),
                    AttributeValue::N(expected_version.to_string()),
                ),
                (":acc".to_owned(), s(delivery.account_id.to_string())),
            ]),
        })
    }

    /// As an item of a transaction.
    fn transact_item(self, table: &str) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(self.item))
            .condition_expression(REPLACE_CONDITION)
            .set_expression_attribute_names(Some(self.names))
            .set_expression_attribute_values(Some(self.values))
            .build()
            .map_err(|e| errors::build_failed(PUT, &e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

fn encode_cursor(account: &AccountId, sort_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_VERSION}|{account}|{sort_key}"))
}

/// The sort key a cursor of `account`'s listing continues before; `None` for anything else
/// (see the module docs).
fn decode_cursor(cursor: &str, account: &AccountId) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let rest = text.strip_prefix(CURSOR_VERSION)?.strip_prefix('|')?;
    let (owner, sort_key) = rest.split_once('|')?;
    (owner == account.as_str() && is_created_id_sort_key(sort_key)).then(|| sort_key.to_owned())
}

/// The listing position of an index item or a `LastEvaluatedKey` of the delivery index.
fn position_of(item: &Item) -> Result<String, StoreError> {
    item.get(GSI1SK)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| StoreError::Corrupt("delivery listed without its gsi1sk".into()))
}

/// The FilterExpression of a query's filters, if it has any.
struct Filter {
    expression: String,
    names: Vec<(&'static str, &'static str)>,
    values: Vec<(&'static str, AttributeValue)>,
}

impl Filter {
    fn of(query: &DeliveryQuery) -> Option<Filter> {
        let mut terms = Vec::new();
        let mut names = Vec::new();
        let mut values = Vec::new();
        if let Some(event_type) = query.event_type {
            terms.push("#eventType = :eventType");
            names.push(("#eventType", EVENT_TYPE));
            values.push((":eventType", s(event_type.as_str())));
        }
        if let Some(status) = query.status {
            // `status` is a DynamoDB reserved word: only ever named through a placeholder.
            terms.push("#status = :status");
            names.push(("#status", STATUS));
            values.push((":status", s(status.as_str())));
        }
        (!terms.is_empty()).then(|| Filter {
            expression: terms.join(" AND "),
            names,
            values,
        })
    }
}

impl DynamoStore {
    /// Writes `delivery` alone (no outbox message) on its version, retrying transaction
    /// conflicts.
    async fn replace_delivery(
        &self,
        delivery: &Delivery,
        expected_version: u64,
    ) -> Result<WriteOutcome, StoreError> {
        let replace = Replace::of(delivery, expected_version)?;
        let written = errors::write_retrying_conflicts(PUT, || {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(replace.item.clone()))
                .condition_expression(REPLACE_CONDITION)
                .set_expression_attribute_names(Some(replace.names.clone()))
                .set_expression_attribute_values(Some(replace.values.clone()))
                .send()
        })
        .await?;
        match written {
            SingleWrite::Written => Ok(WriteOutcome::Applied),
            SingleWrite::ConditionFailed => {
                debug!("delivery version moved on; nothing written");
                Ok(WriteOutcome::Conflict)
            }
            SingleWrite::StillConflicting => {
                self.conflicting_delivery(delivery, expected_version).await
            }
        }
    }

    /// After every try of a delivery write met another transaction on it: if the stored
    /// version has moved on, that competitor won (Conflict); otherwise the write could not be
    /// made (Unavailable). Either way, nothing of ours was written.
    async fn conflicting_delivery(
        &self,
        delivery: &Delivery,
        expected_version: u64,
    ) -> Result<WriteOutcome, StoreError> {
        match self
            .get_delivery(&delivery.account_id, &delivery.id)
            .await?
        {
            Some(stored) if stored.version == expected_version => {
                Err(StoreError::Unavailable(format!(
                    "delivery {} kept conflicting with other writes",
                    delivery.id
                )))
            }
            _ => Ok(WriteOutcome::Conflict),
        }
    }
}

#[async_trait]
impl WebhookStore for DynamoStore {
    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account))]
    async fn get_webhook_endpoint(
        &self,
        account: &AccountId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let Some(item) = self
            .get_item(account_pk(account), SK_WEBHOOK_ENDPOINT)
            .await?
        else {
            return Ok(None);
        };
        let endpoint = endpoint_from_item(item)?;
        if &endpoint.account_id != account {
            return Err(StoreError::Corrupt(format!(
                "webhook endpoint of {} stored under account {account}",
                endpoint.account_id
            )));
        }
        Ok(Some(endpoint))
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %endpoint.account_id, version = endpoint.version, expected = ?expected_version))]
    async fn put_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        expected_version: Option<u64>,
    ) -> Result<WriteOutcome, StoreError> {
        let item = endpoint_item(endpoint)?;
        write_versioned(PUT, ENDPOINT, expected_version, || {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
        })
        .await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account))]
    async fn get_event(
        &self,
        account: &AccountId,
        event_id: &str,
    ) -> Result<Option<AccountEvent>, StoreError> {
        let pk = event_pk(event_id);
        // An id that cannot be a key cannot name a stored event (and DynamoDB would reject it).
        if !fits_partition_key(&pk) {
            return Ok(None);
        }
        let Some(item) = self.get_item(pk, SK_EVENT).await? else {
            return Ok(None);
        };
        let event = event_from_item(item)?;
        if event.id != event_id {
            return Err(StoreError::Corrupt(format!(
                "event {} stored under {event_id}",
                event.id
            )));
        }
        Ok((&event.account_id == account).then_some(event))
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %delivery.account_id, delivery_id = %delivery.id))]
    async fn create_delivery(&self, delivery: &Delivery) -> Result<WriteOutcome, StoreError> {
        let pk = delivery_pk(&delivery.id);
        if !fits_partition_key(&pk) {
            return Err(StoreError::Corrupt(format!(
                "delivery id of {} bytes cannot be a key",
                delivery.id.len()
            )));
        }
        let item = delivery_item(delivery)?;
        let written = errors::write_retrying_conflicts(PUT, || {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK)
                .send()
        })
        .await?;
        match written {
            SingleWrite::Written => {
                debug!("delivery created");
                Ok(WriteOutcome::Applied)
            }
            SingleWrite::ConditionFailed => {
                debug!("delivery exists already");
                Ok(WriteOutcome::Conflict)
            }
            // Only a transaction on this very item conflicts with us, i.e. an update of an
            // existing delivery: it exists, so ours was not the first.
            SingleWrite::StillConflicting => match self.get_item(pk, SK_DELIVERY).await? {
                Some(_) => Ok(WriteOutcome::Conflict),
                None => Err(StoreError::Unavailable(format!(
                    "creating delivery {} kept conflicting with other writes",
                    delivery.id
                ))),
            },
        }
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account, delivery_id = %id))]
    async fn get_delivery(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<Delivery>, StoreError> {
        let pk = delivery_pk(id);
        if !fits_partition_key(&pk) {
            return Ok(None);
        }
        let Some(item) = self.get_item(pk, SK_DELIVERY).await? else {
            return Ok(None);
        };
        let delivery = delivery_from_item(item)?;
        if delivery.id != id {
            return Err(StoreError::Corrupt(format!(
                "delivery {} stored under {id}",
                delivery.id
            )));
        }
        Ok((&delivery.account_id == account).then_some(delivery))
    }

    /// With an outbox message: ONE `TransactWriteItems` of the delivery's Put (on its version)
    /// and the message's Put (`attribute_not_exists`). Without one: the same Put alone, as a
    /// conditional PutItem (atomic by itself, at half a transaction's cost). A message that
    /// already exists is left as it is and the delivery is still written, as the port says
    /// ("creates `outbox` if absent"): its id names the round and attempt, so it is the very
    /// message this write would have created.
    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %delivery.account_id, delivery_id = %delivery.id, version = delivery.version, expected = expected_version, outbox = outbox.is_some()))]
    async fn update_delivery(
        &self,
        delivery: &Delivery,
        expected_version: u64,
        outbox: Option<&OutboxMessage>,
    ) -> Result<WriteOutcome, StoreError> {
        if !fits_partition_key(&delivery_pk(&delivery.id)) {
            // No such delivery can be stored, so none is at `expected_version`.
            return Ok(WriteOutcome::Conflict);
        }
        let Some(message) = outbox else {
            return self.replace_delivery(delivery, expected_version).await;
        };
        let items: Vec<TransactWriteItem> = vec![
            Replace::of(delivery, expected_version)?.transact_item(&self.table)?,
            put_new(&self.table, outbox_item(message)?)?,
        ];
        match transact_write(&self.client, items).await {
            Ok(()) => {
                debug!("delivery and outbox message written");
                Ok(WriteOutcome::Applied)
            }
            // Reasons by position: 0 = the delivery, 1 = the outbox message.
            Err(TransactFailure::Cancelled { reasons, codes }) => {
                if reasons.first() == Some(&Reason::ConditionFailed) {
                    debug!(reasons = %codes, "delivery version moved on; nothing written");
                    return Ok(WriteOutcome::Conflict);
                }
                debug!(
                    reasons = %codes,
                    message_id = %message.id,
                    "outbox message exists; writing the delivery alone"
                );
                self.replace_delivery(delivery, expected_version).await
            }
            Err(TransactFailure::StillConflicting) => {
                self.conflicting_delivery(delivery, expected_version).await
            }
            Err(TransactFailure::Store(err)) => Err(err),
        }
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account, limit = query.limit))]
    async fn list_deliveries(
        &self,
        account: &AccountId,
        query: &DeliveryQuery,
    ) -> Result<DeliveryPage, StoreError> {
        let before = match &query.cursor {
            None => None,
            Some(cursor) => match decode_cursor(cursor, account) {
                Some(position) => Some(position),
                None => {
                    debug!("cursor is not a position in this account's deliveries");
                    return Ok(DeliveryPage {
                        deliveries: Vec::new(),
                        next_cursor: None,
                    });
                }
            },
        };
        let limit = query.limit.clamp(1, MAX_LIMIT);
        let filter = Filter::of(query);
        let mut found: Vec<(String, Delivery)> = Vec::with_capacity(limit + 1);
        let mut start: Option<Item> = None;
        let mut examined_up_to: Option<String> = None;
        for _ in 0..MAX_QUERIES_PER_PAGE {
            // One more than the page holds, to know whether another page exists.
            let wanted = limit + 1 - found.len();
            let evaluate = match filter {
                Some(_) => wanted.max(FILTERED_QUERY_LIMIT),
                None => wanted,
            };
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .expression_attribute_names("#pk", GSI1PK)
                .expression_attribute_values(":pk", s(deliveries_pk(account)))
                .scan_index_forward(false)
                .limit(i32::try_from(evaluate).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            request = match &before {
                None => request.key_condition_expression("#pk = :pk"),
                Some(position) => request
                    .key_condition_expression("#pk = :pk AND #sk < :before")
                    .expression_attribute_names("#sk", GSI1SK)
                    .expression_attribute_values(":before", s(position.clone())),
            };
            if let Some(filter) = &filter {
                request = request.filter_expression(&filter.expression);
                for (placeholder, name) in &filter.names {
                    request = request.expression_attribute_names(*placeholder, *name);
                }
                for (placeholder, value) in &filter.values {
                    request = request.expression_attribute_values(*placeholder, value.clone());
                }
            }
            let out = request
                .send()
                .await
                .map_err(|err| errors::unavailable("Query", &err))?;
            for item in out.items.unwrap_or_default() {
                let position = position_of(&item)?;
                let delivery = delivery_from_item(item)?;
                if &delivery.account_id != account {
                    return Err(StoreError::Corrupt(format!(
                        "delivery {} listed under the wrong account",
                        delivery.id
                    )));
                }
                found.push((position, delivery));
            }
            if found.len() > limit {
                // The next page starts right after the last delivery shown (the extra one and
                // anything examined past it are read again then).
                found.truncate(limit);
                let next_cursor = found
                    .last()
                    .map(|(position, _)| encode_cursor(account, position));
                debug!(count = found.len(), "listed deliveries, more follow");
                return Ok(DeliveryPage {
                    deliveries: found.into_iter().map(|(_, d)| d).collect(),
                    next_cursor,
                });
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => {
                    examined_up_to = Some(position_of(&key)?);
                    start = Some(key);
                }
                _ => {
                    debug!(count = found.len(), "listed deliveries, the last page");
                    return Ok(DeliveryPage {
                        deliveries: found.into_iter().map(|(_, d)| d).collect(),
                        next_cursor: None,
                    });
                }
            }
        }
        // The read budget is spent and the partition goes on: continue after the last item
        // examined (filtered out or not), so the next call never reads these again.
        debug!(count = found.len(), "listed deliveries, read budget spent");
        Ok(DeliveryPage {
            deliveries: found.into_iter().map(|(_, d)| d).collect(),
            next_cursor: examined_up_to.map(|position| encode_cursor(account, &position)),
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use pixgw_domain::messaging::events::EventType;
    use pixgw_domain::webhooks::{DeliveryStatus, EndpointStatus, SealedSecret};

    use super::*;
    use crate::keys::{GSI2PK, GSI2SK, TTL};

    fn delivery() -> Delivery {
        let at = Utc.timestamp_millis_opt(1_705_314_600_123).unwrap();
        Delivery::new(&AccountId::generate(), "evt_1", EventType::PayoutPaid, at)
    }

    fn endpoint() -> WebhookEndpoint {
        let at = Utc.timestamp_millis_opt(1_705_314_600_000).unwrap();
        WebhookEndpoint {
            account_id: AccountId::generate(),
            url: "https://example.com/hook".into(),
            events: Some([EventType::PayoutPaid].into_iter().collect()),
            secrets: vec![SealedSecret {
                sealed: "sealed".into(),
                created_at: at,
                expires_at: Some(at),
            }],
            status: EndpointStatus::Disabled {
                reason: "410 Gone".into(),
                at,
            },
            created_at: at,
            updated_at: at,
            version: 3,
        }
    }

    #[test]
    fn items_carry_their_keys_and_round_trip() {
        let d = delivery();
        let item = delivery_item(&d).unwrap();
        assert_eq!(item[PK], s(format!("DELIVERY#{}", d.id)));
        assert_eq!(item[SK], s("DELIVERY"));
        assert_eq!(item[ENTITY], s("DELIVERY"));
        assert_eq!(
            item[GSI1PK],
            s(format!("ACCOUNT#{}#DELIVERIES", d.account_id))
        );
        assert_eq!(item[GSI1SK], s(format!("001705314600123#{}", d.id)));
        assert!(!item.contains_key(GSI2PK) && !item.contains_key(TTL));
        assert_eq!(delivery_from_item(item).unwrap(), d);

        let e = endpoint();
        let item = endpoint_item(&e).unwrap();
        assert_eq!(item[PK], s(format!("ACCOUNT#{}", e.account_id)));
        assert_eq!(item[SK], s("WEBHOOK_ENDPOINT"));
        assert_eq!(item[ENTITY], s("WEBHOOK_ENDPOINT"));
        assert!(!item.contains_key(GSI1PK));
        assert_eq!(endpoint_from_item(item).unwrap(), e);

        let mut early = delivery();
        early.created_at = Utc.timestamp_millis_opt(-1).unwrap();
        assert!(matches!(delivery_item(&early), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn record_fields_never_collide_with_key_attributes_and_conditions_name_real_fields() {
        let fields = |item: Item| -> Vec<String> { item.into_keys().collect() };
        let d: Item = to_item(DeliveryRecord::from(&delivery())).unwrap();
        let e: Item = to_item(WebhookEndpointRecord::from(&endpoint())).unwrap();
        for record in [fields(d.clone()), fields(e.clone())] {
            for key in [PK, SK, ENTITY, GSI1PK, GSI1SK, GSI2PK, GSI2SK, TTL] {
                assert!(!record.iter().any(|f| f == key), "{key} collides");
            }
        }
        for name in [VERSION, ACCOUNT_ID, EVENT_TYPE, STATUS] {
            assert!(d.contains_key(name), "delivery has no {name}");
        }
        assert!(e.contains_key(VERSION));
        assert_eq!(d[STATUS], s(DeliveryStatus::Pending.as_str()));
        assert_eq!(d[EVENT_TYPE], s(EventType::PayoutPaid.as_str()));
    }

    #[test]
    fn cursors_belong_to_one_account_and_hold_a_sort_key() {
        let account = AccountId::generate();
        let other = AccountId::generate();
        let position = created_id_sort_key(1_000, "dlv_1").unwrap();
        let cursor = encode_cursor(&account, &position);
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(decode_cursor(&cursor, &account), Some(position.clone()));
        assert_eq!(decode_cursor(&cursor, &other), None, "another account's");
        let forged = |text: &str| URL_SAFE_NO_PAD.encode(text);
        for bad in [
            String::new(),
            "not base64!".to_owned(),
            forged(&format!("dlv2|{account}|{position}")),
            forged(&format!("dlv1|{account}|dlv_1")),
            forged(&format!("dlv1|{account}")),
            forged(&format!("dlv1|{account}|")),
            forged(&position),
            URL_SAFE_NO_PAD.encode([0xff, 0xfe]),
        ] {
            assert_eq!(decode_cursor(&bad, &account), None, "{bad:?}");
        }
    }

    #[test]
    fn filters_become_one_expression() {
        let mut query = DeliveryQuery {
            event_type: None,
            status: None,
            cursor: None,
            limit: 10,
        };
        assert!(Filter::of(&query).is_none());
        query.status = Some(DeliveryStatus::Failed);
        let filter = Filter::of(&query).unwrap();
        assert_eq!(filter.expression, "#status = :status");
        assert_eq!(filter.values, vec![(":status", s("FAILED"))]);
        query.event_type = Some(EventType::SplitPaid);
        let filter = Filter::of(&query).unwrap();
        assert_eq!(
            filter.expression,
            "#eventType = :eventType AND #status = :status"
        );
        assert_eq!(filter.names.len(), 2);
        assert_eq!(filter.values[0], (":eventType", s("SPLIT_PAID")));
    }
}
