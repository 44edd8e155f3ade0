//! [`ScheduleStore`]: one item per account, `ACCOUNT#{accountId}` / `SCHEDULE`, in the account's
//! partition, carrying the due-index keys (`gsi1`) the payout scheduler queries.
//!
//! Replacing a schedule is ONE conditional UpdateItem on the version read by the caller
//! (optimistic lock). It sets every schedule attribute, index keys included (so `gsi1sk`
//! always follows `nextRunAtMs`), but never the payout scheduler's lease attributes
//! (`leaseRunId`, `leaseWindowMs`, `leaseUntilMs`, see [`crate::payout_run`]): a schedule
//! replaced while a run holds its window keeps the lease, as the port requires.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use pixgw_domain::error::StoreError;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::schedule::ports::{ScheduleState, ScheduleStore};
use pixgw_domain::schedule::record::ScheduleRecord;
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};
use tracing::instrument;

use crate::DynamoStore;
use crate::errors;
use crate::keys::{
    ENTITY, GSI1PK, GSI1SK, Item, PK, SK, SK_SCHEDULE, account_pk, due_schedule_sort_key,
    due_schedules_pk, primary_key, s, schedule_shard,
};
use crate::transact::put_new;
use crate::versioned::write_versioned;

const WHAT: &str = "payout schedule";

/// The whole item of a schedule: the record's attributes plus its primary and index keys.
fn schedule_item(state: &ScheduleState) -> Result<Item, StoreError> {
    let record = ScheduleRecord::from(state);
    let mut item: Item = to_item(&record).map_err(|e| errors::corrupt(WHAT, &e))?;
    item.insert(PK.to_owned(), s(account_pk(&state.account_id)));
    item.insert(SK.to_owned(), s(SK_SCHEDULE));
    item.insert(ENTITY.to_owned(), s(SK_SCHEDULE));
    item.insert(
        GSI1PK.to_owned(),
        s(due_schedules_pk(schedule_shard(&state.account_id))),
    );
    item.insert(
        GSI1SK.to_owned(),
        s(due_schedule_sort_key(
            record.next_run_at_ms,
            &state.account_id,
        )),
    );
    Ok(item)
}

/// The transaction item that stores a new account's first schedule (account creation).
pub(crate) fn put_new_schedule(
    table: &str,
    state: &ScheduleState,
) -> Result<TransactWriteItem, StoreError> {
    put_new(table, schedule_item(state)?)
}

/// The scheduler's lease attributes on the schedule item (`ScheduleRecord`'s `lease*` fields).
pub(crate) const LEASE_RUN_ID: &str = "leaseRunId";
pub(crate) const LEASE_WINDOW: &str = "leaseWindowMs";
pub(crate) const LEASE_UNTIL: &str = "leaseUntilMs";
const LEASE_ATTRIBUTES: [&str; 3] = [LEASE_RUN_ID, LEASE_WINDOW, LEASE_UNTIL];
/// Optional schedule attributes: a replacement without them must remove the stored ones
/// (a WEEKLY schedule turned DAILY loses its weekday).
const OPTIONAL_ATTRIBUTES: [&str; 2] = ["weekday", "dayOfMonth"];

/// `SET` of every given attribute plus `REMOVE` of the absent optional ones, with
/// placeholders for every name and value (attribute names such as `time` are reserved words).
struct ScheduleUpdate {
    expression: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl ScheduleUpdate {
    fn new(item: Item) -> ScheduleUpdate {
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut sets = Vec::new();
        let mut removes = Vec::new();
        for optional in OPTIONAL_ATTRIBUTES {
            if !item.contains_key(optional) {
                let name = format!("#r{}", removes.len());
                names.insert(name.clone(), optional.to_owned());
                removes.push(name);
            }
        }
        for (i, (attribute, value)) in item.into_iter().enumerate() {
            names.insert(format!("#a{i}"), attribute);
            values.insert(format!(":v{i}"), value);
            sets.push(format!("#a{i} = :v{i}"));
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        ScheduleUpdate {
            expression,
            names,
            values,
        }
    }
}

#[async_trait]
impl ScheduleStore for DynamoStore {
    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account))]
    async fn get_schedule(&self, account: &AccountId) -> Result<Option<ScheduleState>, StoreError> {
        let Some(item) = self.get_item(account_pk(account), SK_SCHEDULE).await? else {
            return Ok(None);
        };
        let record: ScheduleRecord = from_item(item).map_err(|e| errors::corrupt(WHAT, &e))?;
        ScheduleState::try_from(record).map(Some)
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %state.account_id, version = state.version, expected = ?expected_version))]
    async fn put_schedule(
        &self,
        state: &ScheduleState,
        expected_version: Option<u64>,
    ) -> Result<WriteOutcome, StoreError> {
        let mut item = schedule_item(state)?;
        // The key is the Update's key, not an attribute to set; the lease is not ours to write.
        item.remove(PK);
        item.remove(SK);
        for lease in LEASE_ATTRIBUTES {
            item.remove(lease);
        }
        let update = ScheduleUpdate::new(item);
        write_versioned("UpdateItem", WHAT, expected_version, || {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(primary_key(
                    account_pk(&state.account_id),
                    SK_SCHEDULE,
                )))
                .update_expression(&update.expression)
                .set_expression_attribute_names(Some(update.names.clone()))
                .set_expression_attribute_values(Some(update.values.clone()))
        })
        .await
    }
}
