//! Cash-out reads: by id (GetItem), by `externalId` (guard → cash-out) and the newest-first
//! listing (`gsi1`: all of an account's cash-outs, `gsi2`: one state), keys only.

use pixgw_domain::cash_out::ports::{CashOutCursor, CashOutPage, CashOutQuery};
use pixgw_domain::cash_out::{CashOut, CashOutId};
use pixgw_domain::error::StoreError;
use pixgw_domain::pix::ids::AccountId;
use tracing::debug;

use crate::DynamoStore;
use crate::keys::{
    GSI1PK, GSI1SK, GSI2PK, GSI2SK, SK_CASHOUT, SK_CASHOUT_EXTID, SortRange,
    cash_out_external_id_pk, cash_out_pk, cash_out_sort_range, cash_outs_by_account_pk,
    cash_outs_by_state_pk, fits_partition_key,
};
use crate::lifecycle_items::{GUARD_CASH_OUT_ID, cash_out_from_item};
use crate::listing::{MAX_LIMIT, NewestFirst};
use crate::table::{GSI1, GSI2};

impl DynamoStore {
    pub(crate) async fn read_cash_out(
        &self,
        id: &CashOutId,
    ) -> Result<Option<CashOut>, StoreError> {
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
    pub(crate) async fn read_cash_out_by_external_id(
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
    pub(crate) async fn query_cash_outs(
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
