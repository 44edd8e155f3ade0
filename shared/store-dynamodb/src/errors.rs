//! Error mapping and the retry policy for transaction conflicts.
//!
//! SDK errors are classified by their error code ([`ProvideErrorMetadata::code`]), never by
//! message text. Whatever becomes a [`StoreError`] (or a log line) keeps the SDK error's whole
//! cause chain, printed with [`Chain`]: the `Display` of every error in the chain and nothing
//! else. Not `DisplayErrorContext`, which appends the `Debug` form — raw HTTP response bodies
//! included, i.e. items returned with a failed condition (stored responses, CPFs).

use std::error::Error as StdError;
use std::time::Duration;

use std::fmt;

use aws_sdk_dynamodb::error::{BuildError, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::CancellationReason;
use pixgw_domain::error::StoreError;
use serde_dynamo::Error as SerdeDynamoError;

/// Error code of a single-item write that collided with an in-flight transaction.
pub const TRANSACTION_CONFLICT_EXCEPTION: &str = "TransactionConflictException";
/// Error code of a single-item write whose condition failed.
pub const CONDITIONAL_CHECK_FAILED_EXCEPTION: &str = "ConditionalCheckFailedException";
/// Cancellation reason codes of `TransactWriteItems` (one per item, by position).
pub const REASON_NONE: &str = "None";
pub const REASON_CONDITION_FAILED: &str = "ConditionalCheckFailed";
pub const REASON_CONFLICT: &str = "TransactionConflict";

/// How many times a write that hit `TransactionConflict` is tried in all.
pub const CONFLICT_ATTEMPTS: u32 = 10;
const BACKOFF_BASE_MS: u64 = 10;
const BACKOFF_CAP_MS: u64 = 320;

/// Displays an error and its sources, `Display` only: `a: b: c`.
pub struct Chain<'a>(pub &'a (dyn StdError + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = self.0.to_string();
        f.write_str(&last)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            // SDK errors often repeat their source's message; say it once.
            let text = err.to_string();
            if text != last {
                write!(f, ": {text}")?;
            }
            last = text;
            source = err.source();
        }
        Ok(())
    }
}

/// Failures of the table-management helpers ([`crate::create_table`], constructors).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("environment variable {0} is not set")]
    MissingEnv(&'static str),
    #[error("DynamoDB {operation} on table {table} failed: {message}")]
    Sdk {
        operation: &'static str,
        table: String,
        /// The SDK error with its whole cause chain.
        message: String,
    },
    #[error("invalid table definition: {0}")]
    Definition(String),
    #[error("table {table} exists but does not match the expected definition: {problem}")]
    Mismatch { table: String, problem: String },
    #[error("table {table} did not become ACTIVE within {seconds} s")]
    NotActive { table: String, seconds: u64 },
}

impl SetupError {
    pub(crate) fn sdk<E>(operation: &'static str, table: &str, err: &SdkError<E>) -> SetupError
    where
        E: StdError + 'static,
    {
        SetupError::Sdk {
            operation,
            table: table.to_owned(),
            message: Chain(err).to_string(),
        }
    }
}

impl From<BuildError> for SetupError {
    fn from(err: BuildError) -> Self {
        SetupError::Definition(Chain(&err).to_string())
    }
}

/// An SDK failure that is nobody's fault but the infrastructure's (throttling after the SDK's
/// own retries, network, timeouts, a missing table, a request DynamoDB rejected).
pub fn unavailable<E>(operation: &'static str, err: &SdkError<E>) -> StoreError
where
    E: StdError + ProvideErrorMetadata + 'static,
{
    let cause = Chain(err);
    tracing::warn!(operation, code = err.code(), error = %cause, "DynamoDB call failed");
    StoreError::Unavailable(format!("DynamoDB {operation}: {cause}"))
}

/// A transaction cancelled for reasons a retry of ours cannot fix (throttling, validation,
/// size limits): reported with every item's reason code, by position.
pub fn cancelled<E>(
    operation: &'static str,
    err: &SdkError<E>,
    list: &[CancellationReason],
) -> StoreError
where
    E: StdError + ProvideErrorMetadata + 'static,
{
    let reasons = describe_reasons(list);
    let cause = Chain(err);
    tracing::warn!(operation, %reasons, error = %cause, "DynamoDB transaction cancelled");
    StoreError::Unavailable(format!("DynamoDB {operation} cancelled {reasons}: {cause}"))
}

/// A request we could not even build (a required field missing: a bug, reported, not hidden).
pub fn build_failed(operation: &'static str, err: &BuildError) -> StoreError {
    let cause = Chain(err);
    tracing::error!(operation, error = %cause, "could not build DynamoDB request");
    StoreError::Unavailable(format!("DynamoDB {operation}: request not built: {cause}"))
}

/// An item that does not (de)serialise: corrupt if read, a bug if written.
pub fn corrupt(what: &str, err: &SerdeDynamoError) -> StoreError {
    tracing::error!(item = what, error = %err, "DynamoDB item does not (de)serialise");
    StoreError::Corrupt(format!("{what}: {err}"))
}

/// Whether a single-item write failed only because a transaction held the item.
pub fn is_conflict<E>(err: &SdkError<E>) -> bool
where
    E: ProvideErrorMetadata,
{
    err.code() == Some(TRANSACTION_CONFLICT_EXCEPTION)
}

/// A write that still conflicted after every retry: nothing of it was written, and nothing
/// re-read showed a competitor made this very change.
pub(crate) fn still_conflicting(what: &str) -> StoreError {
    StoreError::Unavailable(format!("{what} kept conflicting with other transactions"))
}

/// How a conditional single-item write sent through [`write_retrying_conflicts`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SingleWrite {
    Written,
    /// `ConditionalCheckFailedException`: nothing was written.
    ConditionFailed,
    /// `TransactionConflictException` on every one of [`CONFLICT_ATTEMPTS`] tries.
    StillConflicting,
}

/// Sends a conditional single-item write (`send` builds and sends the request afresh on every
/// call), retrying `TransactionConflictException` up to [`CONFLICT_ATTEMPTS`] times in all with
/// [`conflict_backoff`]. Any other failure becomes [`unavailable`] for `operation`.
pub(crate) async fn write_retrying_conflicts<O, E, F, Fut>(
    operation: &'static str,
    mut send: F,
) -> Result<SingleWrite, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<O, SdkError<E>>>,
    E: StdError + ProvideErrorMetadata + 'static,
{
    for attempt in 1..=CONFLICT_ATTEMPTS {
        match send().await {
            Ok(_) => return Ok(SingleWrite::Written),
            Err(err) if err.code() == Some(CONDITIONAL_CHECK_FAILED_EXCEPTION) => {
                return Ok(SingleWrite::ConditionFailed);
            }
            Err(err) if is_conflict(&err) => conflict_backoff(attempt).await,
            Err(err) => return Err(unavailable(operation, &err)),
        }
    }
    Ok(SingleWrite::StillConflicting)
}

/// What each item of a cancelled `TransactWriteItems` did, by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The item was fine; the transaction failed because of another one.
    Fine,
    ConditionFailed,
    Conflict,
    /// Throttling, validation, size limits: not something a retry of ours fixes.
    Other,
}

pub fn reasons(list: &[CancellationReason]) -> Vec<Reason> {
    list.iter()
        .map(|r| match r.code() {
            None | Some(REASON_NONE) => Reason::Fine,
            Some(REASON_CONDITION_FAILED) => Reason::ConditionFailed,
            Some(REASON_CONFLICT) => Reason::Conflict,
            Some(_) => Reason::Other,
        })
        .collect()
}

/// A short, secret-free description of cancellation reasons for errors and logs.
pub fn describe_reasons(list: &[CancellationReason]) -> String {
    let codes: Vec<&str> = list
        .iter()
        .map(|r| r.code().unwrap_or(REASON_NONE))
        .collect();
    format!("[{}]", codes.join(", "))
}

/// Sleeps before conflict retry number `attempt` (1-based): exponential with full jitter, so
/// fifty writers that collided do not collide again in lockstep.
pub async fn conflict_backoff(attempt: u32) {
    let ceiling = BACKOFF_BASE_MS
        .saturating_mul(1 << attempt.min(6))
        .min(BACKOFF_CAP_MS);
    let ms = rand::random_range(BACKOFF_BASE_MS / 2..=ceiling);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);
    #[derive(Debug, thiserror::Error)]
    #[error("middle")]
    struct Middle(#[source] Inner);
    #[derive(Debug, thiserror::Error)]
    #[error("middle")]
    struct Inner {
        /// Debug-only data (think: a returned item) that must never be printed.
        secret: &'static str,
    }

    #[test]
    fn chain_prints_every_cause_once_and_no_debug_data() {
        let err = Outer(Middle(Inner { secret: "s3cr3t" }));
        let text = Chain(&err).to_string();
        assert_eq!(text, "outer: middle");
        assert!(!text.contains(err.0.0.secret));
    }

    #[test]
    fn reasons_are_decoded_by_code() {
        let list = vec![
            CancellationReason::builder().code("None").build(),
            CancellationReason::builder()
                .code("ConditionalCheckFailed")
                .build(),
            CancellationReason::builder()
                .code("TransactionConflict")
                .build(),
            CancellationReason::builder()
                .code("ThrottlingError")
                .build(),
            CancellationReason::builder().build(),
        ];
        assert_eq!(
            reasons(&list),
            vec![
                Reason::Fine,
                Reason::ConditionFailed,
                Reason::Conflict,
                Reason::Other,
                Reason::Fine
            ]
        );
        assert_eq!(
            describe_reasons(&list),
            "[None, ConditionalCheckFailed, TransactionConflict, ThrottlingError, None]"
        );
    }
}
