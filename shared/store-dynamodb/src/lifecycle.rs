//! The money-lifecycle ports (charge transitions, refunds, the ledger's reads, cash-outs):
//! refunds, cash-outs, charge expiry and the statement.
//!
//! Every write is ONE `TransactWriteItems` sent through [`transact_write`], like the
//! settlement writes: the state change, the movement (`attribute_not_exists`, deterministic
//! id) with its balance shard updates ([`shard_updates`](pixgw_domain::ledger::shard_updates):
//! each part of an `available` debit conditioned on its shard holding it, so no shard ever
//! goes negative), the events and outbox messages (`attribute_not_exists`), and the
//! idempotency completion. The writes that debit `available` decode their cancellation reasons
//! by item role ([`decode_money_out`]). Reads live in [`crate::cash_outs`],
//! [`crate::expiry`] and [`crate::statement`].

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};
use pixgw_domain::cash_out::ports::CashOutStore;
use pixgw_domain::cash_out::ports::{CashOutPage, CashOutQuery};
use pixgw_domain::cash_out::ports::{RequestCashOut, UpdateCashOut};
use pixgw_domain::cash_out::{CashOut, CashOutId};
use pixgw_domain::charge::Charge;
use pixgw_domain::charge::ports::ChargeTransition;
use pixgw_domain::charge::ports::ChargeTransitions;
use pixgw_domain::charge::ports::ConfirmCharge;
use pixgw_domain::error::StoreError;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::idempotency::IdempotencyCompletion;
use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::ledger::ports::{MoneyOutOutcome, MovementPage, MovementQuery};
use pixgw_domain::ledger::{AvailableDraw, Balance, Movement};
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::payment::EndToEndId;
use pixgw_domain::refund::ports::RefundStore;
use pixgw_domain::refund::ports::{RefundSplits, RequestRefund};
use serde_dynamo::aws_sdk_dynamodb_1::from_item;
use tracing::{debug, instrument};

use crate::DynamoStore;
use crate::errors;
use crate::idempotency::{IdempotencyItem, STATE_IN_PROGRESS, completion_update};
use crate::keys::SK_E2E;
use crate::keys::end_to_end_pk;
use crate::keys::{
    SK_CASHOUT_EXTID, SK_IDEM, SK_MOVEMENT, cash_out_external_id_pk, fits_partition_key,
    idempotency_pk, movement_pk,
};
use crate::lifecycle_items::{
    Role, cancelled_split_put, cash_out_guard_item, cash_out_item, cash_out_replace_put,
    charge_replace_update, decode_money_out, ledger_half, splits_not_booked_check,
};
use crate::settlement::ledger_events_outbox;
use crate::settlement::{MAX_TRANSACT_ITEMS, distinct_events, witnesses};
use crate::settlement_items::GUARD_TRANSACTION_ID;
use crate::settlement_items::confirm_charge_update;
use crate::settlement_items::end_to_end_guard_item;
use crate::transact::{TransactFailure, put_new, transact_write};

fn completion_item(
    table: &str,
    completion: Option<&IdempotencyCompletion>,
) -> Result<Option<(TransactWriteItem, Role)>, StoreError> {
    completion
        .map(|c| {
            let update = completion_update(table, c)?;
            Ok((
                TransactWriteItem::builder().update(update).build(),
                Role::Claim,
            ))
        })
        .transpose()
}

fn too_many(operation: &str, count: usize) -> StoreError {
    StoreError::Unavailable(format!(
        "{operation} needs {count} items, more than one transaction holds ({MAX_TRANSACT_ITEMS})"
    ))
}

impl DynamoStore {
    /// Sends one money-out transaction (items with their roles) and decodes its outcome.
    /// After conflicts outlasted the retries, re-reads: the claim (no longer ours = ClaimLost),
    /// the externalId guard (exists = DuplicateExternalId), the movement (exists = someone
    /// made this change: Conflict).
    async fn money_out_write(
        &self,
        operation: &'static str,
        items: Vec<(TransactWriteItem, Role)>,
        completion: Option<&IdempotencyCompletion>,
        guard_pk: Option<String>,
        movement: &Movement,
    ) -> Result<MoneyOutOutcome, StoreError> {
        if items.len() > MAX_TRANSACT_ITEMS {
            return Err(too_many(operation, items.len()));
        }
        let (items, roles): (Vec<_>, Vec<_>) = items.into_iter().unzip();
        match transact_write(&self.client, items).await {
            Ok(()) => {
                debug!(operation, "applied");
                Ok(MoneyOutOutcome::Applied)
            }
            Err(TransactFailure::Cancelled { reasons, codes }) => {
                let outcome = decode_money_out(&roles, &reasons);
                debug!(operation, reasons = %codes, ?outcome, "condition failed, nothing written");
                Ok(outcome)
            }
            Err(TransactFailure::Store(err)) => Err(err),
            Err(TransactFailure::StillConflicting) => {
                if let Some(completion) = completion {
                    let claim = &completion.claim;
                    let pk = idempotency_pk(&claim.account_id, &claim.key);
                    let ours = match self.get_item(pk, SK_IDEM).await? {
                        Some(item) => from_item::<IdempotencyItem>(item)
                            .map(|r| {
                                r.state == STATE_IN_PROGRESS && r.lock_token == claim.lock_token
                            })
                            .map_err(|e| errors::corrupt("idempotency record", &e))?,
                        None => false,
                    };
                    if !ours {
                        return Ok(MoneyOutOutcome::ClaimLost);
                    }
                }
                if let Some(pk) = guard_pk
                    && self.get_item(pk, SK_CASHOUT_EXTID).await?.is_some()
                {
                    return Ok(MoneyOutOutcome::DuplicateExternalId);
                }
                if self
                    .get_item(movement_pk(&movement.id), SK_MOVEMENT)
                    .await?
                    .is_some()
                {
                    return Ok(MoneyOutOutcome::Conflict);
                }
                Err(StoreError::Unavailable(format!(
                    "{operation} kept conflicting with other transactions"
                )))
            }
        }
    }
}

#[async_trait]
impl ChargeTransitions for DynamoStore {
    #[instrument(level = "debug", skip_all, fields(table = %self.table, transaction_id = %write.charge.transaction_id, from = write.from.as_str(), to = write.charge.status.as_str()))]
    async fn transition_charge(
        &self,
        write: &ChargeTransition,
    ) -> Result<WriteOutcome, StoreError> {
        if !distinct_events(&write.events) {
            return Ok(WriteOutcome::Conflict);
        }
        let no_draw = AvailableDraw::default();
        let mut items = vec![charge_replace_update(
            &self.table,
            &write.charge,
            write.from,
        )?];
        items.extend(
            ledger_half(
                &self.table,
                write.movement.as_ref().map(|m| (m, &no_draw)),
                &write.events,
                &write.outbox,
            )?
            .into_iter()
            .map(|(item, _)| item),
        );
        let witnesses = witnesses(write.movement.as_ref(), &write.events);
        self.settlement_write("transition_charge", items, witnesses)
            .await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, limit))]
    async fn expired_pending_charges(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Charge>, StoreError> {
        self.read_expired_pending(now, limit).await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %write.account_id, transaction_id = %write.transaction_id))]
    async fn confirm_charge(&self, write: &ConfirmCharge) -> Result<WriteOutcome, StoreError> {
        if !distinct_events(&write.events) {
            return Ok(WriteOutcome::Conflict);
        }
        let mut items = vec![
            confirm_charge_update(&self.table, write)?,
            put_new(&self.table, end_to_end_guard_item(write))?,
        ];
        // The CASHIN_CONFIRMED event exactly like a payout settlement's events: created only
        // if absent, in this transaction, so it exists if and only if the charge confirmed
        // (its insert is also what takes it to the merchant's webhook, see `stream_feed`).
        items.extend(ledger_events_outbox(
            &self.table,
            Some(&write.movement),
            &write.events,
            &write.outbox,
        )?);
        let witnesses = witnesses(Some(&write.movement), &write.events);
        self.settlement_write("confirm_charge", items, witnesses)
            .await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table))]
    async fn find_charge_by_end_to_end_id(
        &self,
        id: &EndToEndId,
    ) -> Result<Option<TransactionId>, StoreError> {
        let Some(guard) = self.get_item(end_to_end_pk(id), SK_E2E).await? else {
            return Ok(None);
        };
        guard
            .get(GUARD_TRANSACTION_ID)
            .and_then(|v| v.as_s().ok())
            .and_then(|text| TransactionId::parse(text))
            .map(Some)
            .ok_or_else(|| {
                StoreError::Corrupt(format!("end-to-end guard {id} without a charge id"))
            })
    }
}

#[async_trait]
impl RefundStore for DynamoStore {
    #[instrument(level = "debug", skip_all, fields(table = %self.table, transaction_id = %write.charge.transaction_id, movement_id = %write.movement.id))]
    async fn request_refund(&self, write: &RequestRefund) -> Result<MoneyOutOutcome, StoreError> {
        let mut items = vec![(
            charge_replace_update(
                &self.table,
                &write.charge,
                pixgw_domain::charge::ChargeStatus::Confirmed,
            )?,
            Role::Other,
        )];
        match &write.splits {
            RefundSplits::NotBooked => items.push((
                splits_not_booked_check(&self.table, &write.charge)?,
                Role::Other,
            )),
            RefundSplits::Booked { cancelled } => {
                for entry in cancelled {
                    items.push((cancelled_split_put(&self.table, entry)?, Role::Other));
                }
            }
        }
        items.extend(ledger_half(
            &self.table,
            Some((&write.movement, &write.draw)),
            &[],
            &write.outbox,
        )?);
        items.extend(completion_item(&self.table, write.completion.as_ref())?);
        self.money_out_write(
            "request_refund",
            items,
            write.completion.as_ref(),
            None,
            &write.movement,
        )
        .await
    }
}

#[async_trait]
impl LedgerStore for DynamoStore {
    #[instrument(level = "debug", skip_all, fields(table = %self.table))]
    async fn movement_exists(&self, movement_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .get_item(movement_pk(movement_id), SK_MOVEMENT)
            .await?
            .is_some())
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account))]
    async fn balance_shards(&self, account: &AccountId) -> Result<Vec<(u32, Balance)>, StoreError> {
        self.read_balance_shards(account).await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account, limit = query.limit))]
    async fn movements_page(
        &self,
        account: &AccountId,
        query: &MovementQuery,
    ) -> Result<MovementPage, StoreError> {
        self.read_movements_page(account, query).await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account))]
    async fn get_balance(&self, account: &AccountId) -> Result<Balance, StoreError> {
        self.read_balance(account).await
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %account))]
    async fn list_movements(&self, account: &AccountId) -> Result<Vec<Movement>, StoreError> {
        self.read_movements(account).await
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
