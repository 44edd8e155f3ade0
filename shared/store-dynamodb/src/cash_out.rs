//! [`CashOutStore`]: cash-outs, their per-account `externalId` guards, and their writes.
//!
//! - A cash-out is one item under its own id (`CASHOUT#{cashOutId}`) with its listing keys
//!   ([`cash_out_item`]): `gsi1` (all of the account's cash-outs) and `gsi2` (those in its
//!   state), newest first through [`crate::listing`]; its guard is
//!   `ACCOUNT#{accountId}#CASHOUT_EXTID#{externalId}`.
//! - Requesting one is ONE money-out transaction (see [`crate::ledger_write`]): the cash-out and
//!   its guard (both created only if absent), the movement with its balance shard updates
//!   (each part of the `available` debit conditioned on its shard holding it), the outbox
//!   messages and the idempotency completion.
//! - Settling one replaces it whole in the state it was read in (its `gsi2pk` follows the new
//!   state), with the ledger half of [`crate::ledger_write`].
//! - Reads: by id (GetItem), by `externalId` (guard, then cash-out), and the listing.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use pixgw_domain::cash_out::ports::{
    CashOutCursor, CashOutPage, CashOutQuery, CashOutStore, RequestCashOut, UpdateCashOut,
};
use pixgw_domain::cash_out::record::CashOutRecord;
use pixgw_domain::cash_out::{CashOut, CashOutId, CashOutState};
use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::ledger::AvailableDraw;
use pixgw_domain::ledger::ports::MoneyOutOutcome;
use pixgw_domain::pix::ids::AccountId;
use tracing::{debug, instrument};

use crate::DynamoStore;
use crate::errors;
use crate::items::{ACCOUNT_ID, STATE, decode, record_item};
use crate::keys::{
    ENTITY, GSI1PK, GSI1SK, GSI2PK, GSI2SK, Item, PK, SK, SK_CASHOUT, SK_CASHOUT_EXTID, SortRange,
    cash_out_external_id_pk, cash_out_pk, cash_out_sort_range, cash_outs_by_account_pk,
    cash_outs_by_state_pk, created_id_sort_key, fits_partition_key, s,
};
use crate::ledger_write::{Role, completion_item, distinct_events, ledger_half, witnesses};
use crate::listing::{MAX_LIMIT, NewestFirst};
use crate::table::{GSI1, GSI2};
use crate::transact::put_new;

/// Attribute of the cash-out `externalId` guard naming the cash-out it protects.
const GUARD_CASH_OUT_ID: &str = "cashOutId";

const PUT: &str = "PutItem";

/// A cash-out with its listing keys: `gsi1` (all of the account's cash-outs) and `gsi2` (those
/// in its state), both sorted by `{createdAtMs:015}#{id}`.
fn cash_out_item(cash_out: &CashOut) -> Result<Item, StoreError> {
    let record = CashOutRecord::from(cash_out);
    let sort =
        created_id_sort_key(record.created_at_ms, cash_out.id.as_str()).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "createdAt of cash-out {} is outside the sortable range",
                cash_out.id
            ))
        })?;
    record_item(
        "cash-out",
        &record,
        [
            (PK, s(cash_out_pk(&cash_out.id))),
            (SK, s(SK_CASHOUT)),
            (ENTITY, s(SK_CASHOUT)),
            (GSI1PK, s(cash_outs_by_account_pk(&cash_out.account_id))),
            (GSI1SK, s(sort.clone())),
            (
                GSI2PK,
                s(cash_outs_by_state_pk(&cash_out.account_id, cash_out.state)),
            ),
            (GSI2SK, s(sort)),
        ],
    )
}

fn cash_out_from_item(item: Item) -> Result<CashOut, StoreError> {
    CashOut::try_from(decode::<CashOutRecord>("cash-out", item)?)
}

/// The per-account `externalId` guard of a cash-out.
fn cash_out_guard_item(cash_out: &CashOut) -> Item {
    Item::from([
        (
            PK.to_owned(),
            s(cash_out_external_id_pk(
                &cash_out.account_id,
                &cash_out.external_id,
            )),
        ),
        (SK.to_owned(), s(SK_CASHOUT_EXTID)),
        (ENTITY.to_owned(), s(SK_CASHOUT_EXTID)),
        (ACCOUNT_ID.to_owned(), s(cash_out.account_id.to_string())),
        ("externalId".to_owned(), s(cash_out.external_id.clone())),
        (GUARD_CASH_OUT_ID.to_owned(), s(cash_out.id.to_string())),
    ])
}

/// Replaces the cash-out stored in state `from` (of the same account) by `cash_out`, whole:
/// its `gsi2pk` follows the new state.
fn cash_out_replace_put(
    table: &str,
    cash_out: &CashOut,
    from: CashOutState,
) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(cash_out_item(cash_out)?))
        .condition_expression("#state = :from AND #acc = :acc")
        .expression_attribute_names("#state", STATE)
        .expression_attribute_names("#acc", ACCOUNT_ID)
        .expression_attribute_values(":from", s(from.as_str()))
        .expression_attribute_values(":acc", s(cash_out.account_id.to_string()))
        .build()
        .map_err(|e| errors::build_failed(PUT, &e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

impl DynamoStore {
    async fn read_cash_out(&self, id: &CashOutId) -> Result<Option<CashOut>, StoreError> {
        let Some(item) = self.get_item(cash_out_pk(id), SK_CASHOUT).await? else {
            return Ok(None);
        };
        let cash_out = cash_out_from_item(item)?;
        if &cash_out.id != id {
            return Err(StoreError::Corrupt(format!(
                "cash-out {} stored under {id}",
                cash_out.id
            )));
        }
        Ok(Some(cash_out))
    }

    /// The guard (strongly consistent), then its cash-out: both are written in one
    /// transaction, so a guard without its cash-out is damage, not a race.
    async fn read_cash_out_by_external_id(
        &self,
        account: &AccountId,
        external_id: &str,
    ) -> Result<Option<CashOut>, StoreError> {
        let pk = cash_out_external_id_pk(account, external_id);
        if !fits_partition_key(&pk) {
            return Ok(None);
        }
        let Some(guard) = self.get_item(pk, SK_CASHOUT_EXTID).await? else {
            return Ok(None);
        };
        let id = guard
            .get(GUARD_CASH_OUT_ID)
            .and_then(|v| v.as_s().ok())
            .and_then(|text| CashOutId::parse(text))
            .ok_or_else(|| StoreError::Corrupt("cash-out guard without a cash-out id".into()))?;
        match self.read_cash_out(&id).await? {
            Some(cash_out) if &cash_out.account_id == account => Ok(Some(cash_out)),
            Some(_) => Err(StoreError::Corrupt(format!(
                "cash-out guard of {account} points to another account's cash-out {id}"
            ))),
            None => Err(StoreError::Corrupt(format!(
                "cash-out guard points to missing cash-out {id}"
            ))),
        }
    }

    /// Newest first, `[from, to)`, strictly older than the cursor; with a state, that state's
    /// `gsi2` partition.
    async fn query_cash_outs(
        &self,
        account: &AccountId,
        query: &CashOutQuery,
    ) -> Result<CashOutPage, StoreError> {
        let (index, pk_attr, sk_attr, pk) = match query.state {
            None => (GSI1, GSI1PK, GSI1SK, cash_outs_by_account_pk(account)),
            Some(state) => (GSI2, GSI2PK, GSI2SK, cash_outs_by_state_pk(account, state)),
        };
        let (lower, upper) = match cash_out_sort_range(query.from, query.to, query.after.as_ref()) {
            SortRange::Empty => {
                debug!("empty range, no query");
                return Ok(CashOutPage {
                    items: Vec::new(),
                    next: None,
                });
            }
            SortRange::Bounds { lower, upper } => (lower, upper),
        };
        let q = NewestFirst {
            index,
            pk_attr,
            sk_attr,
            pk,
            lower,
            upper,
            limit: query.limit.clamp(1, MAX_LIMIT) as usize,
        };
        let wanted_state = query.state;
        let (items, more) = self
            .query_newest_first(q, |item| {
                let cash_out = cash_out_from_item(item)?;
                if &cash_out.account_id != account {
                    return Err(StoreError::Corrupt(format!(
                        "cash-out {} listed under the wrong account",
                        cash_out.id
                    )));
                }
                if let Some(state) = wanted_state
                    && cash_out.state != state
                {
                    return Err(StoreError::Corrupt(format!(
                        "cash-out {} is {} but listed as {}",
                        cash_out.id,
                        cash_out.state.as_str(),
                        state.as_str()
                    )));
                }
                Ok(Some(cash_out))
            })
            .await?;
        let next = if more {
            items.last().map(CashOutCursor::of)
        } else {
            None
        };
        debug!(count = items.len(), more, "listed cash-outs");
        Ok(CashOutPage { items, next })
    }
}

#[async_trait]
impl CashOutStore for DynamoStore {
    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %write.cash_out.account_id, cash_out_id = %write.cash_out.id))]
    async fn request_cash_out(
        &self,
        write: &RequestCashOut,
    ) -> Result<MoneyOutOutcome, StoreError> {
        let cash_out = &write.cash_out;
        let guard_pk = cash_out_external_id_pk(&cash_out.account_id, &cash_out.external_id);
        if !fits_partition_key(&guard_pk) {
            return Err(StoreError::Unavailable(
                "externalId too long for a key".into(),
            ));
        }
        let mut items = vec![
            (put_new(&self.table, cash_out_item(cash_out)?)?, Role::Other),
            (
                put_new(&self.table, cash_out_guard_item(cash_out))?,
                Role::ExternalId,
            ),
        ];
        items.extend(ledger_half(
            &self.table,
            Some((&write.movement, &write.draw)),
            &[],
            &write.outbox,
        )?);
        items.extend(completion_item(&self.table, write.completion.as_ref())?);
        self.money_out_write(
            "request_cash_out",
            items,
            write.completion.as_ref(),
            Some(guard_pk),
            &write.movement,
        )
        .await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, cash_out_id = %write.cash_out.id, from = write.from.as_str(), to = write.cash_out.state.as_str()))]
    async fn update_cash_out(&self, write: &UpdateCashOut) -> Result<WriteOutcome, StoreError> {
        if !distinct_events(&write.events) {
            return Ok(WriteOutcome::Conflict);
        }
        let no_draw = AvailableDraw::default();
        let mut items = vec![cash_out_replace_put(
            &self.table,
            &write.cash_out,
            write.from,
        )?];
        items.extend(
            ledger_half(
                &self.table,
                write.movement.as_ref().map(|m| (m, &no_draw)),
                &write.events,
                &[],
            )?
            .into_iter()
            .map(|(item, _)| item),
        );
        let witnesses = witnesses(write.movement.as_ref(), &write.events);
        self.settlement_write("update_cash_out", items, witnesses)
            .await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, cash_out_id = %id))]
    async fn get_cash_out(&self, id: &CashOutId) -> Result<Option<CashOut>, StoreError> {
        self.read_cash_out(id).await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account))]
    async fn find_cash_out_by_external_id(
        &self,
        account: &AccountId,
        external_id: &str,
    ) -> Result<Option<CashOut>, StoreError> {
        self.read_cash_out_by_external_id(account, external_id)
            .await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account, state = ?query.state, limit = query.limit))]
    async fn list_cash_outs(
        &self,
        account: &AccountId,
        query: &CashOutQuery,
    ) -> Result<CashOutPage, StoreError> {
        self.query_cash_outs(account, query).await
    }
}
