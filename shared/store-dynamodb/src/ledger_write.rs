//! What every write that books a ledger movement shares: charge confirmations and transitions,
//! split bookings, payout settlements, refunds and cash-outs.
//!
//! Every such write is ONE `TransactWriteItems` sent through [`transact_write`]: the state
//! change (built by the aggregate's module), then the **ledger half** built here
//! ([`ledger_events_outbox`], or [`ledger_half`] for a write that may debit `available`): the
//! movement if the change moves money (`attribute_not_exists`, under its deterministic id) with
//! its balance shard update(s), the account events (`attribute_not_exists`, under their
//! deterministic ids) and the outbox messages (`attribute_not_exists`).
//!
//! Two ways to send one and read its outcome:
//!
//! - [`DynamoStore::settlement_write`]: any failed condition means nothing was written and the
//!   answer is [`WriteOutcome::Conflict`]; the caller re-reads to learn why, so the reasons are
//!   only logged (by position) here.
//! - [`DynamoStore::money_out_write`] (refunds, cash-outs): each shard whose `available` the
//!   draw takes ([`shard_updates`](pixgw_domain::ledger::shard_updates)) is conditioned on
//!   holding its part, so no shard ever goes negative, and the cancellation reasons are decoded
//!   by item role ([`decode_money_out`]) into a [`MoneyOutOutcome`].

use std::collections::HashSet;

use aws_sdk_dynamodb::types::TransactWriteItem;
use pixgw_domain::error::{StoreError, WriteOutcome};
use pixgw_domain::idempotency::IdempotencyCompletion;
use pixgw_domain::ledger::ports::MoneyOutOutcome;
use pixgw_domain::ledger::{AvailableDraw, Movement, shard_updates};
use pixgw_domain::messaging::events::AccountEvent;
use pixgw_domain::messaging::outbox::OutboxMessage;
use tracing::debug;

use crate::DynamoStore;
use crate::errors::Reason;
use crate::events::event_item;
use crate::idempotency::completion_update;
use crate::keys::{SK_CASHOUT_EXTID, SK_EVENT, SK_MOVEMENT, event_pk, movement_pk};
use crate::ledger::{balance_update, movement_item, shard_update};
use crate::outbox::outbox_item;
use crate::transact::{TransactFailure, put_new, transact_write};

/// DynamoDB's limit of items in one `TransactWriteItems`. A larger command cannot be atomic,
/// so it is refused before sending rather than split.
pub(crate) const MAX_TRANSACT_ITEMS: usize = 100;

/// The ledger half every settlement write ends with: the movement, if any (created only if
/// absent) with its balance shard, the events (created only if absent: their ids name the fact
/// they record), and the outbox messages (created only if absent: their ids are
/// deterministic, and overwriting one would not produce a new stream insert anyway).
pub(crate) fn ledger_events_outbox(
    table: &str,
    movement: Option<&Movement>,
    events: &[AccountEvent],
    outbox: &[OutboxMessage],
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let mut items = Vec::with_capacity(2 + events.len() + outbox.len());
    if let Some(movement) = movement {
        items.push(put_new(table, movement_item(movement)?)?);
        items.push(balance_update(table, movement)?);
    }
    for event in events {
        items.push(put_new(table, event_item(event)?)?);
    }
    for message in outbox {
        items.push(put_new(table, outbox_item(message)?)?);
    }
    Ok(items)
}

/// Keys whose existence proves that a write's effect was made by someone (its movement, its
/// events: all deterministic ids, created only with that effect).
pub(crate) fn witnesses(
    movement: Option<&Movement>,
    events: &[AccountEvent],
) -> Vec<(String, &'static str)> {
    movement
        .map(|m| (movement_pk(&m.id), SK_MOVEMENT))
        .into_iter()
        .chain(events.iter().map(|e| (event_pk(&e.id), SK_EVENT)))
        .collect()
}

/// A transaction may not name one item twice (DynamoDB rejects the whole request as invalid);
/// for a store, two equal events in one write are a write that cannot apply: a Conflict.
pub(crate) fn distinct_events(events: &[AccountEvent]) -> bool {
    let mut seen = HashSet::new();
    events.iter().all(|e| seen.insert(e.id.as_str()))
}

/// What an item of a money-out transaction is, for decoding its cancellation reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A balance shard update conditioned on holding its part of the draw.
    Shard,
    /// The cash-out `externalId` guard.
    ExternalId,
    /// The idempotency completion.
    Claim,
    /// Anything else (the charge, a split, the movement, an outbox message, the cash-out).
    Other,
}

/// What a cancelled money-out transaction whose conditions failed means, decided by the
/// failed items' roles: ClaimLost > DuplicateExternalId > Conflict > BalanceChanged (a state
/// that changed makes re-planning the draw pointless, so it wins over a stale draw).
fn decode_money_out(roles: &[Role], reasons: &[Reason]) -> MoneyOutOutcome {
    let failed = |role: Role| {
        roles
            .iter()
            .zip(reasons)
            .any(|(r, reason)| *r == role && *reason == Reason::ConditionFailed)
    };
    if failed(Role::Claim) {
        MoneyOutOutcome::ClaimLost
    } else if failed(Role::ExternalId) {
        MoneyOutOutcome::DuplicateExternalId
    } else if failed(Role::Other) {
        MoneyOutOutcome::Conflict
    } else if failed(Role::Shard) {
        MoneyOutOutcome::BalanceChanged
    } else {
        // One reason per item: a failed condition is always one of ours.
        MoneyOutOutcome::Conflict
    }
}

/// The ledger half of a write that may debit `available` (a refund, a cash-out), or of one
/// whose movement is held to an empty draw (a charge transition, a cash-out update): the
/// movement (created only if absent) with its shard updates (the `available` debit as `draw`
/// says), the events and the outbox messages (created only if absent), each with its [`Role`].
pub(crate) fn ledger_half(
    table: &str,
    movement: Option<(&Movement, &AvailableDraw)>,
    events: &[AccountEvent],
    outbox: &[OutboxMessage],
) -> Result<Vec<(TransactWriteItem, Role)>, StoreError> {
    let mut items = Vec::with_capacity(2 + events.len() + outbox.len());
    if let Some((movement, draw)) = movement {
        let updates = shard_updates(movement, draw)
            .map_err(|e| StoreError::Unavailable(format!("refusing to write: {e}")))?;
        items.push((put_new(table, movement_item(movement)?)?, Role::Other));
        for update in &updates {
            let role = if update.requires_available.is_some() {
                Role::Shard
            } else {
                Role::Other
            };
            items.push((shard_update(table, &movement.account_id, update)?, role));
        }
    }
    for event in events {
        items.push((put_new(table, event_item(event)?)?, Role::Other));
    }
    for message in outbox {
        items.push((put_new(table, outbox_item(message)?)?, Role::Other));
    }
    Ok(items)
}

pub(crate) fn completion_item(
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
    /// Sends one settlement transaction and maps its outcome. `witnesses`: keys of items that
    /// only this very effect creates (see [`witnesses`]), read back when the transaction kept
    /// conflicting with others.
    pub(crate) async fn settlement_write(
        &self,
        operation: &'static str,
        items: Vec<TransactWriteItem>,
        witnesses: Vec<(String, &'static str)>,
    ) -> Result<WriteOutcome, StoreError> {
        if items.len() > MAX_TRANSACT_ITEMS {
            return Err(StoreError::Unavailable(format!(
                "{operation} needs {} items, more than one transaction holds ({MAX_TRANSACT_ITEMS})",
                items.len()
            )));
        }
        match transact_write(&self.client, items).await {
            Ok(()) => {
                debug!(operation, "applied");
                Ok(WriteOutcome::Applied)
            }
            Err(TransactFailure::Cancelled { codes, .. }) => {
                debug!(operation, reasons = %codes, "condition failed, nothing written");
                Ok(WriteOutcome::Conflict)
            }
            Err(TransactFailure::Store(err)) => Err(err),
            Err(TransactFailure::StillConflicting) => {
                // Every attempt of ours was cancelled, so we wrote nothing. The witnesses are
                // deterministic per effect: if one exists now, a competitor made this very
                // change, and ours would fail its conditions — a Conflict like any other.
                for (pk, sk) in witnesses {
                    if self.get_item(pk, sk).await?.is_some() {
                        return Ok(WriteOutcome::Conflict);
                    }
                }
                Err(StoreError::Unavailable(format!(
                    "{operation} kept conflicting with other transactions"
                )))
            }
        }
    }

    /// Sends one money-out transaction (items with their roles) and decodes its outcome.
    /// After conflicts outlasted the retries, re-reads: the claim (no longer ours = ClaimLost),
    /// the externalId guard (exists = DuplicateExternalId), the movement (exists = someone
    /// made this change: Conflict).
    pub(crate) async fn money_out_write(
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
                if let Some(completion) = completion
                    && !self.claim_still_held(&completion.claim).await?
                {
                    return Ok(MoneyOutOutcome::ClaimLost);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_out_reasons_decode_by_role() {
        use Reason::*;
        let roles = [
            Role::Other,
            Role::ExternalId,
            Role::Other,
            Role::Shard,
            Role::Shard,
            Role::Claim,
        ];
        let decode = |reasons: &[Reason]| decode_money_out(&roles, reasons);
        assert_eq!(
            decode(&[Fine, Fine, Fine, ConditionFailed, Fine, Fine]),
            MoneyOutOutcome::BalanceChanged
        );
        assert_eq!(
            decode(&[Fine, ConditionFailed, Fine, ConditionFailed, Fine, Fine]),
            MoneyOutOutcome::DuplicateExternalId
        );
        assert_eq!(
            decode(&[Fine, ConditionFailed, Fine, Fine, Fine, ConditionFailed]),
            MoneyOutOutcome::ClaimLost
        );
        assert_eq!(
            decode(&[ConditionFailed, Fine, Fine, Fine, ConditionFailed, Fine]),
            MoneyOutOutcome::Conflict
        );
        assert_eq!(decode(&[Fine; 6]), MoneyOutOutcome::Conflict);
    }
}
