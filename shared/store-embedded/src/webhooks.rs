//! The merchant-webhook storage port ([`WebhookStore`]) on redb.
//!
//! | table                           | key                                          | value                      |
//! |---------------------------------|----------------------------------------------|----------------------------|
//! | `webhook_endpoints`             | account id                                   | [`WebhookEndpointRecord`]  |
//! | `webhook_deliveries`            | delivery id                                  | [`DeliveryRecord`]         |
//! | `webhook_deliveries_by_account` | account, sortable created-at ms, delivery id | status `\0` event type     |
//!
//! Endpoints and deliveries carry a `version` (optimistic lock): every replacement checks the
//! stored version and writes inside ONE write transaction ([`conditional_write`]), so no other
//! writer can slip in between the check and the write. A delivery update that schedules the
//! next attempt stores that message in the `outbox` table in the same transaction (only if it
//! is not waiting already), where the relay loop finds it like any settlement message.
//!
//! `webhook_deliveries_by_account` lists an account's deliveries newest first (a reverse range
//! read, like `charges_by_account`). Its value holds the delivery's status and event type,
//! rewritten by every update in the same transaction, so a filtered listing decides on each
//! entry without reading the delivery: a page reads at most [`MAX_SCANNED`] index entries and
//! only the deliveries it returns. A page cut short by that bound carries a cursor all the
//! same (the port allows short, even empty, filtered pages while more follow).
//!
//! The cursor is `{accountId}:{createdAtMs}:{deliveryId}`, the position of the last index entry
//! the page examined; the next page starts strictly after it (older). It is opaque to callers;
//! one that does not parse, or names another account, yields an empty page without a cursor,
//! never the listing from its start again.

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, TableDefinition, WriteTransaction};

use pixgw_domain::error::StoreError;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::messaging::events::AccountEvent;
use pixgw_domain::messaging::outbox::OutboxMessage;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::webhooks::record::{DeliveryRecord, WebhookEndpointRecord};
use pixgw_domain::webhooks::{
    Delivery, DeliveryPage, DeliveryQuery, WebhookEndpoint, WebhookStore,
};

use crate::EmbeddedStore;
use crate::events::read_event;
use crate::keys;
use crate::outbox::put_outbox_if_absent;
use crate::tables::{Bytes, contains, db_err, decode, encode, get_decoded, read_one};
use crate::transact::conditional_write;

const ENDPOINTS: TableDefinition<&str, Bytes> = TableDefinition::new("webhook_endpoints");
const DELIVERIES: TableDefinition<&str, Bytes> = TableDefinition::new("webhook_deliveries");
const DELIVERIES_BY_ACCOUNT: TableDefinition<&str, &str> =
    TableDefinition::new("webhook_deliveries_by_account");

/// The most deliveries one page may hold, whatever the query asks (the port's 1..=100).
const MAX_PAGE: usize = 100;

/// The most index entries one listing call reads: bounds the work of a filtered page over a
/// long history where few deliveries match. Well above [`MAX_PAGE`], so an unfiltered page is
/// never cut short.
const MAX_SCANNED: usize = 1_000;

/// Separates the parts of a cursor (`:` cannot occur in an account id or a millisecond count,
/// and the delivery id comes last, so it may hold anything).
const CURSOR_SEP: char = ':';

/// Creates the webhook tables (called by [`EmbeddedStore::open`]).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(ENDPOINTS).map_err(db_err)?;
    txn.open_table(DELIVERIES).map_err(db_err)?;
    txn.open_table(DELIVERIES_BY_ACCOUNT).map_err(db_err)?;
    Ok(())
}

fn decode_endpoint(bytes: &[u8], key: &str) -> Result<WebhookEndpointRecord, StoreError> {
    decode(bytes, "webhook endpoint", key)
}

fn decode_delivery(bytes: &[u8], key: &str) -> Result<DeliveryRecord, StoreError> {
    decode(bytes, "webhook delivery", key)
}

// ---------------------------------------------------------------------------------------------
// Deliveries and their listing index

/// A delivery's entry in `webhook_deliveries_by_account`.
fn index_key(r: &DeliveryRecord) -> String {
    keys::delivery_entry(&r.account_id, r.created_at_ms, &r.delivery_id)
}

/// What the index entry says about its delivery: the two fields a listing filters on.
fn index_value(r: &DeliveryRecord) -> String {
    format!("{}{}{}", r.status, keys::SEP, r.event_type)
}

/// The `(status, event type)` of an index value.
fn split_index_value<'v>(key: &str, value: &'v str) -> Result<(&'v str, &'v str), StoreError> {
    value.split_once(keys::SEP).ok_or_else(|| {
        StoreError::Corrupt(format!("webhook delivery index entry {key:?} is {value:?}"))
    })
}

fn load_delivery(txn: &WriteTransaction, id: &str) -> Result<Option<DeliveryRecord>, StoreError> {
    let deliveries = txn.open_table(DELIVERIES).map_err(db_err)?;
    get_decoded(&deliveries, id, decode_delivery)
}

/// Writes a delivery, replacing `previous` (its stored version), and keeps its index entry
/// exact: moved if `created_at` changed, its value rewritten for the new status.
fn put_delivery(
    txn: &WriteTransaction,
    record: &DeliveryRecord,
    previous: Option<&DeliveryRecord>,
) -> Result<(), StoreError> {
    let value = encode(record, "webhook delivery")?;
    let entry = index_key(record);
    {
        let mut index = txn.open_table(DELIVERIES_BY_ACCOUNT).map_err(db_err)?;
        if let Some(old) = previous.map(index_key).filter(|old| *old != entry) {
            index.remove(old.as_str()).map_err(db_err)?;
        }
        index
            .insert(entry.as_str(), index_value(record).as_str())
            .map_err(db_err)?;
    }
    let mut deliveries = txn.open_table(DELIVERIES).map_err(db_err)?;
    deliveries
        .insert(record.delivery_id.as_str(), value.as_slice())
        .map_err(db_err)?;
    Ok(())
}

fn create_in(txn: &WriteTransaction, record: &DeliveryRecord) -> Result<WriteOutcome, StoreError> {
    let taken = {
        let deliveries = txn.open_table(DELIVERIES).map_err(db_err)?;
        contains(&deliveries, &record.delivery_id)?
    };
    if taken {
        return Ok(WriteOutcome::Conflict);
    }
    put_delivery(txn, record, None)?;
    Ok(WriteOutcome::Applied)
}

fn update_in(
    txn: &WriteTransaction,
    record: &DeliveryRecord,
    expected_version: u64,
    outbox: Option<&OutboxMessage>,
) -> Result<WriteOutcome, StoreError> {
    let Some(stored) = load_delivery(txn, &record.delivery_id)? else {
        return Ok(WriteOutcome::Conflict);
    };
    // A delivery never changes account: a write naming another account's delivery id must
    // not move it (nor its index entry) across accounts.
    if stored.version != expected_version || stored.account_id != record.account_id {
        return Ok(WriteOutcome::Conflict);
    }
    put_delivery(txn, record, Some(&stored))?;
    if let Some(message) = outbox {
        put_outbox_if_absent(txn, std::slice::from_ref(message))?;
    }
    Ok(WriteOutcome::Applied)
}

/// Where a listing page starts (exclusive): the last index entry the previous page examined.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    created_at_ms: i64,
    delivery_id: String,
}

impl Cursor {
    fn encode(&self, account: &str) -> String {
        format!(
            "{account}{CURSOR_SEP}{}{CURSOR_SEP}{}",
            self.created_at_ms, self.delivery_id
        )
    }

    /// `None` unless `text` is a cursor of `account`'s listing.
    fn parse(text: &str, account: &str) -> Option<Cursor> {
        let mut parts = text.splitn(3, CURSOR_SEP);
        let (owner, ms, id) = (parts.next()?, parts.next()?, parts.next()?);
        // A key part must not hold the key separator, or the bound would land elsewhere.
        if owner != account || id.is_empty() || id.contains(keys::SEP) {
            return None;
        }
        Some(Cursor {
            created_at_ms: ms.parse().ok()?,
            delivery_id: id.to_owned(),
        })
    }
}

/// One page of `account`'s deliveries, reading at most `budget` index entries.
fn list_in(
    db: &Database,
    account: &str,
    query: &DeliveryQuery,
    budget: usize,
) -> Result<DeliveryPage, StoreError> {
    let empty = DeliveryPage {
        deliveries: Vec::new(),
        next_cursor: None,
    };
    let prefix = keys::account_prefix(account);
    let mut upper = keys::prefix_end(&prefix);
    if let Some(text) = &query.cursor {
        let Some(cursor) = Cursor::parse(text, account) else {
            return Ok(empty);
        };
        // Strictly older than the cursor: its own entry is the exclusive bound.
        upper = upper.min(keys::delivery_entry(
            account,
            cursor.created_at_ms,
            &cursor.delivery_id,
        ));
    }
    if prefix >= upper {
        return Ok(empty);
    }
    let limit = query.limit.clamp(1, MAX_PAGE);
    // At least one entry per call, so a page always moves the cursor forward.
    let budget = budget.max(1);
    let status = query.status.map(|s| s.as_str());
    let event_type = query.event_type.map(|t| t.as_str());

    let txn = db.begin_read().map_err(db_err)?;
    let index = txn.open_table(DELIVERIES_BY_ACCOUNT).map_err(db_err)?;
    let deliveries = txn.open_table(DELIVERIES).map_err(db_err)?;
    let mut ids = Vec::with_capacity(limit);
    // The last entry this page examined and is done with (returned or filtered out).
    let mut last: Option<Cursor> = None;
    let mut more = false;
    // `scanned`: how many entries this call has examined before this one.
    for (scanned, entry) in index
        .range::<&str>(prefix.as_str()..upper.as_str())
        .map_err(db_err)?
        .rev()
        .enumerate()
    {
        let (key, value) = entry.map_err(db_err)?;
        if scanned == budget {
            // Out of budget with an entry still unexamined: the next page starts here.
            more = true;
            break;
        }
        let key = key.value();
        let (entry_status, entry_type) = split_index_value(key, value.value())?;
        let wanted =
            status.is_none_or(|s| s == entry_status) && event_type.is_none_or(|t| t == entry_type);
        if wanted && ids.len() == limit {
            // A match beyond the page: something does follow, and the next page starts with it.
            more = true;
            break;
        }
        let (created_at_ms, id) = keys::split_index_entry(&prefix, key).ok_or_else(|| {
            StoreError::Corrupt(format!("webhook delivery index entry {key:?} is malformed"))
        })?;
        if wanted {
            ids.push(id.to_owned());
        }
        last = Some(Cursor {
            created_at_ms,
            delivery_id: id.to_owned(),
        });
    }

    let mut page = Vec::with_capacity(ids.len());
    for id in ids {
        let record = get_decoded(&deliveries, &id, decode_delivery)?.ok_or_else(|| {
            StoreError::Corrupt(format!("webhook delivery index names missing {id:?}"))
        })?;
        if record.account_id != account {
            return Err(StoreError::Corrupt(format!(
                "webhook delivery {id:?} is listed under account {account}"
            )));
        }
        page.push(Delivery::try_from(record)?);
    }
    Ok(DeliveryPage {
        deliveries: page,
        next_cursor: last.filter(|_| more).map(|c| c.encode(account)),
    })
}

// ---------------------------------------------------------------------------------------------
// Port

#[async_trait]
impl WebhookStore for EmbeddedStore {
    async fn get_webhook_endpoint(
        &self,
        account: &AccountId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let account = account.to_string();
        self.blocking("get_webhook_endpoint", move |db| {
            read_one(db, ENDPOINTS, &account, decode_endpoint)?
                .map(WebhookEndpoint::try_from)
                .transpose()
        })
        .await
    }

    async fn put_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        expected_version: Option<u64>,
    ) -> Result<WriteOutcome, StoreError> {
        let record = WebhookEndpointRecord::from(endpoint);
        let value = encode(&record, "webhook endpoint")?;
        self.blocking("put_webhook_endpoint", move |db| {
            conditional_write(db, |txn| {
                let mut endpoints = txn.open_table(ENDPOINTS).map_err(db_err)?;
                let key = record.account_id.as_str();
                let stored = get_decoded(&endpoints, key, decode_endpoint)?;
                let expected = match (&stored, expected_version) {
                    (None, None) => true,
                    (Some(stored), Some(version)) => stored.version == version,
                    // Creating over an existing endpoint, or replacing a missing one.
                    _ => false,
                };
                if !expected {
                    return Ok(WriteOutcome::Conflict);
                }
                endpoints.insert(key, value.as_slice()).map_err(db_err)?;
                Ok(WriteOutcome::Applied)
            })
        })
        .await
    }

    async fn get_event(
        &self,
        account: &AccountId,
        event_id: &str,
    ) -> Result<Option<AccountEvent>, StoreError> {
        let account = account.to_string();
        let event_id = event_id.to_owned();
        self.blocking("get_event", move |db| read_event(db, &account, &event_id))
            .await
    }

    async fn create_delivery(&self, delivery: &Delivery) -> Result<WriteOutcome, StoreError> {
        let record = DeliveryRecord::from(delivery);
        self.blocking("create_delivery", move |db| {
            conditional_write(db, |txn| create_in(txn, &record))
        })
        .await
    }

    async fn get_delivery(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<Delivery>, StoreError> {
        let account = account.to_string();
        let id = id.to_owned();
        self.blocking("get_delivery", move |db| {
            match read_one(db, DELIVERIES, &id, decode_delivery)? {
                Some(record) if record.account_id == account => {
                    Delivery::try_from(record).map(Some)
                }
                _ => Ok(None),
            }
        })
        .await
    }

    async fn update_delivery(
        &self,
        delivery: &Delivery,
        expected_version: u64,
        outbox: Option<&OutboxMessage>,
    ) -> Result<WriteOutcome, StoreError> {
        let record = DeliveryRecord::from(delivery);
        let outbox = outbox.cloned();
        self.blocking("update_delivery", move |db| {
            conditional_write(db, |txn| {
                update_in(txn, &record, expected_version, outbox.as_ref())
            })
        })
        .await
    }

    async fn list_deliveries(
        &self,
        account: &AccountId,
        query: &DeliveryQuery,
    ) -> Result<DeliveryPage, StoreError> {
        let account = account.to_string();
        let query = query.clone();
        self.blocking("list_deliveries", move |db| {
            list_in(db, &account, &query, MAX_SCANNED)
        })
        .await
    }
}

#[cfg(test)]
mod tests;
