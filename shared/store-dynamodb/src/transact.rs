//! `TransactWriteItems`: **the** way to write a transaction in this crate.
//!
//! Every multi-item change goes through [`transact_write`], which owns the whole send / decode
//! / retry loop, so the conflict policy lives in one place:
//!
//! - the transaction is sent; on success, `Ok(())`;
//! - a `TransactionCanceledException` is decoded into one [`Reason`] per item, by position;
//! - if any item's condition failed, nothing was written and the caller decides what that
//!   means ([`TransactFailure::Cancelled`], reasons by item position);
//! - if the only failures are `TransactionConflict` (another transaction on one of the items,
//!   expected under concurrent identical requests), the transaction is retried up to
//!   [`CONFLICT_ATTEMPTS`] times in all with [`errors::conflict_backoff`]; if it still
//!   conflicts, the caller re-reads the items to find out what the competitors left behind
//!   ([`TransactFailure::StillConflicting`]);
//! - anything else (throttling, validation, size limits, network, after the SDK's own retries)
//!   is [`TransactFailure::Store`], already mapped with [`errors::unavailable`] or
//!   [`errors::cancelled`] (and logged).
//!
//! Items that must not exist yet are built with [`put_new`].

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use pixgw_domain::error::StoreError;
use tracing::debug;

use crate::errors::{self, CONFLICT_ATTEMPTS, Reason};
use crate::keys::{Item, PK};

const OPERATION: &str = "TransactWriteItems";

/// Why [`transact_write`] did not commit. In every case nothing was written by this call.
#[derive(Debug)]
pub(crate) enum TransactFailure {
    /// At least one item's condition failed. `reasons` has one entry per item, in the order
    /// the items were given, for the caller to decode by position; `codes` is the raw reason
    /// codes (`[None, ConditionalCheckFailed]`, from [`errors::describe_reasons`]) for logs.
    Cancelled { reasons: Vec<Reason>, codes: String },
    /// Only `TransactionConflict`s, still after [`CONFLICT_ATTEMPTS`] tries (each logged at
    /// debug level with its reasons): someone else is writing these items right now. Re-read
    /// them (strongly consistent) to report what the competitors left behind.
    StillConflicting,
    /// Any other failure, already logged and mapped to a [`StoreError`].
    Store(StoreError),
}

impl From<StoreError> for TransactFailure {
    fn from(err: StoreError) -> Self {
        TransactFailure::Store(err)
    }
}

/// What one cancellation means for the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// A condition failed somewhere: final, whatever else happened.
    ConditionFailed,
    /// Nothing but conflicts (and fine items): retry.
    Conflict,
    /// Throttling, validation, size limits, or no reason at all: not ours to retry.
    Other,
}

fn verdict(reasons: &[Reason]) -> Verdict {
    if reasons.contains(&Reason::ConditionFailed) {
        Verdict::ConditionFailed
    } else if reasons.contains(&Reason::Other) || !reasons.contains(&Reason::Conflict) {
        Verdict::Other
    } else {
        Verdict::Conflict
    }
}

/// Writes `items` in one `TransactWriteItems`, retrying transaction conflicts (see the module
/// documentation). This is the only place in the crate that sends `TransactWriteItems`.
pub(crate) async fn transact_write(
    client: &Client,
    items: Vec<TransactWriteItem>,
) -> Result<(), TransactFailure> {
    for attempt in 1..=CONFLICT_ATTEMPTS {
        let sent = client
            .transact_write_items()
            .set_transact_items(Some(items.clone()))
            .send()
            .await;
        let err = match sent {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        else {
            return Err(errors::unavailable(OPERATION, &err).into());
        };
        let list = cancelled.cancellation_reasons();
        let reasons = errors::reasons(list);
        match verdict(&reasons) {
            Verdict::ConditionFailed => {
                return Err(TransactFailure::Cancelled {
                    reasons,
                    codes: errors::describe_reasons(list),
                });
            }
            Verdict::Other => return Err(errors::cancelled(OPERATION, &err, list).into()),
            Verdict::Conflict => {
                debug!(attempt, reasons = %errors::describe_reasons(list), "transaction conflict, retrying");
                errors::conflict_backoff(attempt).await;
            }
        }
    }
    Err(TransactFailure::StillConflicting)
}

/// A transaction item that puts `item`, conditioned on no item with its primary key existing.
pub(crate) fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#pk)")
        .expression_attribute_names("#pk", PK)
        .build()
        .map_err(|e| errors::build_failed(OPERATION, &e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_condition_is_final_and_only_pure_conflicts_are_retried() {
        use Reason::*;
        assert_eq!(
            verdict(&[Fine, ConditionFailed, Conflict]),
            Verdict::ConditionFailed
        );
        assert_eq!(verdict(&[Other, ConditionFailed]), Verdict::ConditionFailed);
        assert_eq!(verdict(&[Fine, Conflict, Fine]), Verdict::Conflict);
        assert_eq!(verdict(&[Conflict, Conflict]), Verdict::Conflict);
        assert_eq!(verdict(&[Other, Conflict]), Verdict::Other);
        assert_eq!(verdict(&[Fine, Fine]), Verdict::Other);
        assert_eq!(verdict(&[]), Verdict::Other);
    }
}
