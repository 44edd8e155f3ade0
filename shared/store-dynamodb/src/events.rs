//! [`EventLog`]: an account's recorded events, oldest first.
//!
//! Events are written by the transactions whose facts they record ([`event_item`]: one item
//! per event under `EVENT#{eventId}`, created only if absent, see [`crate::ledger_write`]) and
//! indexed in 32 `gsi1` partitions per account (`ACCOUNT#{accountId}#EVENTS#{shard:02}`, shard
//! = a stable hash of the event id), sorted by `{occurredAtMs:015}#{eventId}` — (occurred_at,
//! id) order, unique. A listing merges the 32
//! partitions ([`crate::merge`]); the `after` event is read first (strongly consistent) for its
//! sort key, which is then every partition's position.

use async_trait::async_trait;
use pixgw_domain::error::StoreError;
use pixgw_domain::messaging::events::{AccountEvent, AccountEventRecord, EventLog};
use pixgw_domain::pix::ids::AccountId;
use tracing::{debug, instrument};

use crate::DynamoStore;
use crate::items::{decode, record_item};
use crate::keys::{
    ENTITY, GSI1PK, GSI1SK, Item, PK, SK, SK_EVENT, created_id_sort_key, event_pk, events_pk,
    events_pks, fits_partition_key, s,
};
use crate::merge::ShardedRange;
use crate::table::GSI1;

/// An account event under its own id (created with `attribute_not_exists`: a fact is recorded
/// once), indexed in one of its account's event partitions by `{occurredAtMs:015}#{eventId}`.
pub(crate) fn event_item(event: &AccountEvent) -> Result<Item, StoreError> {
    let record = AccountEventRecord::from(event);
    let sort = created_id_sort_key(record.occurred_at_ms, &event.id).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "occurredAt of event {} is outside the sortable range",
            event.id
        ))
    })?;
    record_item(
        "event",
        &record,
        [
            (PK, s(event_pk(&event.id))),
            (SK, s(SK_EVENT)),
            (ENTITY, s(SK_EVENT)),
            (GSI1PK, s(events_pk(&event.account_id, &event.id))),
            (GSI1SK, s(sort)),
        ],
    )
}

pub(crate) fn event_from_item(item: Item) -> Result<AccountEvent, StoreError> {
    AccountEvent::try_from(decode::<AccountEventRecord>("event", item)?)
}

impl DynamoStore {
    /// The index position of the account's event `id`: `None` when there is no such event of
    /// this account (then nothing is known to follow it).
    async fn event_position(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<String>, StoreError> {
        let pk = event_pk(id);
        if !fits_partition_key(&pk) {
            return Ok(None);
        }
        let Some(item) = self.get_item(pk, SK_EVENT).await? else {
            return Ok(None);
        };
        let event = event_from_item(item)?;
        if event.id != id {
            return Err(StoreError::Corrupt(format!(
                "event {} stored under {id}",
                event.id
            )));
        }
        if &event.account_id != account {
            return Ok(None);
        }
        created_id_sort_key(event.occurred_at.timestamp_millis(), &event.id)
            .map(Some)
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "occurredAt of event {id} is outside the sortable range"
                ))
            })
    }
}

#[async_trait]
impl EventLog for DynamoStore {
    /// An `after` that is not an event of `account` (unknown, or another account's) has no
    /// position in this account's log: nothing is listed after it.
    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account, limit))]
    async fn list_events(
        &self,
        account: &AccountId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AccountEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let position = match after {
            None => None,
            Some(id) => match self.event_position(account, id).await? {
                Some(position) => Some(position),
                None => {
                    debug!("unknown cursor event, nothing after it");
                    return Ok(Vec::new());
                }
            },
        };
        let range = ShardedRange {
            index: GSI1,
            pk_attr: GSI1PK,
            sk_attr: GSI1SK,
            after: position.as_deref(),
            upper: None,
        };
        let decode = |item: Item| {
            let event = event_from_item(item)?;
            if &event.account_id != account {
                return Err(StoreError::Corrupt(format!(
                    "event {} listed under the wrong account",
                    event.id
                )));
            }
            Ok(event)
        };
        let events = self
            .merged_ascending(events_pks(account), &range, limit, &decode)
            .await?;
        debug!(count = events.len(), "listed events");
        Ok(events)
    }
}
