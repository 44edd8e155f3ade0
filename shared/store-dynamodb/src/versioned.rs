//! Versioned single-item writes (optimistic lock), shared by the webhook endpoint (a whole-item
//! PutItem) and the payout schedule (an UpdateItem that leaves the scheduler's lease alone).
//!
//! With no expected version the write creates the item: `attribute_not_exists(pk)`. With one it
//! replaces version `v`: `version = :expected` (a missing item fails this too: "replace version
//! v" needs version v stored). The caller bumps the version in what it writes. A failed
//! condition is [`WriteOutcome::Conflict`], nothing written; transaction conflicts are retried
//! by [`errors::write_retrying_conflicts`].

use std::error::Error as StdError;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use pixgw_domain::error::StoreError;
use pixgw_domain::error::WriteOutcome;
use tracing::debug;

use crate::errors::{self, SingleWrite};
use crate::keys::PK;

/// The version attribute of versioned records (`version` N, +1 per write).
const VERSION: &str = "version";

/// A conditional single-item request that can carry the version condition.
pub(crate) trait VersionedRequest: Sized {
    type Output;
    type Error;

    /// This request, conditioned on `expected_version` (see the module documentation).
    fn on_version(self, expected_version: Option<u64>) -> Self;

    fn send_request(
        self,
    ) -> impl Future<Output = Result<Self::Output, SdkError<Self::Error>>> + Send;
}

macro_rules! versioned_request {
    ($builder:ty, $output:ty, $error:ty) => {
        impl VersionedRequest for $builder {
            type Output = $output;
            type Error = $error;

            fn on_version(self, expected_version: Option<u64>) -> Self {
                match expected_version {
                    None => self
                        .condition_expression("attribute_not_exists(#pk)")
                        .expression_attribute_names("#pk", PK),
                    Some(version) => self
                        .condition_expression("#version = :expected")
                        .expression_attribute_names("#version", VERSION)
                        .expression_attribute_values(
                            ":expected",
                            AttributeValue::N(version.to_string()),
                        ),
                }
            }

            fn send_request(
                self,
            ) -> impl Future<Output = Result<Self::Output, SdkError<Self::Error>>> + Send {
                self.send()
            }
        }
    };
}

versioned_request!(PutItemFluentBuilder, PutItemOutput, PutItemError);
versioned_request!(UpdateItemFluentBuilder, UpdateItemOutput, UpdateItemError);

/// Sends the request `build` makes (afresh on every try) on `expected_version`: `Applied`, or
/// `Conflict` when the item exists (create) or is not at that version (replace). `what` names
/// the item in logs and errors.
pub(crate) async fn write_versioned<R>(
    operation: &'static str,
    what: &'static str,
    expected_version: Option<u64>,
    mut build: impl FnMut() -> R,
) -> Result<WriteOutcome, StoreError>
where
    R: VersionedRequest,
    R::Error: StdError + ProvideErrorMetadata + 'static,
{
    let written = errors::write_retrying_conflicts(operation, || {
        build().on_version(expected_version).send_request()
    })
    .await?;
    match written {
        SingleWrite::Written => {
            debug!("{what} written");
            Ok(WriteOutcome::Applied)
        }
        SingleWrite::ConditionFailed => {
            debug!("{what} exists or its version moved on; nothing written");
            Ok(WriteOutcome::Conflict)
        }
        // Only a transaction holding the item for all those tries: report it.
        SingleWrite::StillConflicting => Err(StoreError::Unavailable(format!(
            "{what} write kept conflicting"
        ))),
    }
}
