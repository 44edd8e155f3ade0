//! [`IdempotencyStore`]: one item per (account, `X-Idempotency-Key`).
//!
//! A claim is ONE conditional PutItem; on condition failure the old item comes back in the
//! same response (`ReturnValuesOnConditionCheckFailure = ALL_OLD`) and decides the outcome, so
//! there is no read-then-write race. Response bodies are only ever logged by length.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, Update};
use chrono::{DateTime, Utc};
use pixgw_domain::error::StoreError;
use pixgw_domain::idempotency::{
    ClaimOutcome, ClaimRequest, IdempotencyClaim, IdempotencyCompletion, IdempotencyStore,
    StoredResponse,
};
use pixgw_domain::pix::ids::AccountId;
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};
use tracing::{debug, instrument};

use crate::DynamoStore;
use crate::errors::{self, CONFLICT_ATTEMPTS, SingleWrite};
use crate::keys::{Item, PK, SK_IDEM, fits_partition_key, idempotency_pk, n, primary_key, s};

pub const STATE_IN_PROGRESS: &str = "IN_PROGRESS";
pub const STATE_COMPLETED: &str = "COMPLETED";

/// The stored idempotency record (attribute names are the serde names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyItem {
    pub pk: String,
    pub sk: String,
    pub entity: String,
    pub account_id: String,
    pub idempotency_key: String,
    /// `IN_PROGRESS` or `COMPLETED`.
    pub state: String,
    pub request_hash: String,
    pub lock_token: String,
    pub lease_until_ms: i64,
    pub expires_at_ms: i64,
    /// `expires_at` in epoch seconds: DynamoDB's TTL deletes the item some time after it.
    pub ttl: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn key_of(account: &AccountId, key: &str) -> Result<String, StoreError> {
    let pk = idempotency_pk(account, key);
    if key.is_empty() || !fits_partition_key(&pk) {
        return Err(StoreError::Unavailable(
            "idempotency key is empty or too long for a key".into(),
        ));
    }
    Ok(pk)
}

/// How one conditional PutItem of a claim went.
enum Attempt {
    Claimed,
    /// The condition failed on this record (`None`: DynamoDB did not return it).
    Refused(Option<Item>),
    /// A transaction held the record (`TransactionConflictException`).
    Conflict,
}

/// What an existing record means for a claim attempt.
enum Decision {
    Outcome(ClaimOutcome),
    /// The record is claimable after all (expired, or its lease ran out): try again.
    Retry,
}

fn decide(existing: Item, request: &ClaimRequest<'_>) -> Result<Decision, StoreError> {
    let record: IdempotencyItem =
        from_item(existing).map_err(|e| errors::corrupt("idempotency record", &e))?;
    let now = ms(request.now);
    if record.expires_at_ms < now {
        return Ok(Decision::Retry);
    }
    if record.request_hash != request.request_hash {
        return Ok(Decision::Outcome(ClaimOutcome::Mismatch));
    }
    match record.state.as_str() {
        STATE_COMPLETED => match (record.response_status, record.response_body) {
            (Some(status), Some(body)) => {
                debug!(status, body_len = body.len(), "replaying stored response");
                Ok(Decision::Outcome(ClaimOutcome::Replay(StoredResponse {
                    status,
                    body,
                })))
            }
            _ => Err(StoreError::Corrupt(
                "completed idempotency record without a response".into(),
            )),
        },
        STATE_IN_PROGRESS if record.lease_until_ms < now => Ok(Decision::Retry),
        STATE_IN_PROGRESS => Ok(Decision::Outcome(ClaimOutcome::InUse)),
        other => Err(StoreError::Corrupt(format!(
            "idempotency record in unknown state {other}"
        ))),
    }
}

/// The update that completes a claim; used alone ([`IdempotencyStore::complete`]) and inside
/// the charge transaction. Condition: the claim is still ours and still running.
pub fn completion_update(
    table: &str,
    completion: &IdempotencyCompletion,
) -> Result<Update, StoreError> {
    let claim = &completion.claim;
    Update::builder()
        .table_name(table)
        .set_key(Some(primary_key(
            key_of(&claim.account_id, &claim.key)?,
            SK_IDEM,
        )))
        .update_expression("SET #state = :completed, #status = :status, #body = :body")
        .condition_expression("#state = :in_progress AND #token = :token")
        .expression_attribute_names("#state", "state")
        .expression_attribute_names("#status", "responseStatus")
        .expression_attribute_names("#body", "responseBody")
        .expression_attribute_names("#token", "lockToken")
        .expression_attribute_values(":completed", s(STATE_COMPLETED))
        .expression_attribute_values(":in_progress", s(STATE_IN_PROGRESS))
        .expression_attribute_values(":status", n(i64::from(completion.response.status)))
        .expression_attribute_values(":body", s(completion.response.body.clone()))
        .expression_attribute_values(":token", s(claim.lock_token.clone()))
        .build()
        .map_err(|e| errors::build_failed("UpdateItem", &e))
}

/// For logs: the outcome without its payload (a replayed body may carry anything).
fn outcome_name(outcome: &ClaimOutcome) -> &'static str {
    match outcome {
        ClaimOutcome::Claimed(_) => "claimed",
        ClaimOutcome::Replay(_) => "replay",
        ClaimOutcome::Mismatch => "mismatch",
        ClaimOutcome::InUse => "in_use",
    }
}

impl DynamoStore {
    /// Whether `claim` still holds its record (IN_PROGRESS under its lock token), read strongly
    /// consistent: what a write that completes the claim re-reads when its transaction kept
    /// conflicting (no longer held = the write's claim was lost).
    pub(crate) async fn claim_still_held(
        &self,
        claim: &IdempotencyClaim,
    ) -> Result<bool, StoreError> {
        let pk = idempotency_pk(&claim.account_id, &claim.key);
        match self.get_item(pk, SK_IDEM).await? {
            Some(item) => from_item::<IdempotencyItem>(item)
                .map(|r| r.state == STATE_IN_PROGRESS && r.lock_token == claim.lock_token)
                .map_err(|e| errors::corrupt("idempotency record", &e)),
            None => Ok(false),
        }
    }

    /// One conditional PutItem of the IN_PROGRESS record.
    async fn try_claim(
        &self,
        record: &Item,
        request: &ClaimRequest<'_>,
    ) -> Result<Attempt, StoreError> {
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record.clone()))
            .condition_expression(
                "attribute_not_exists(#pk) OR #expires < :now \
                 OR (#state = :in_progress AND #lease < :now AND #hash = :hash)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#expires", "expiresAtMs")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#lease", "leaseUntilMs")
            .expression_attribute_names("#hash", "requestHash")
            .expression_attribute_values(":now", n(ms(request.now)))
            .expression_attribute_values(":in_progress", s(STATE_IN_PROGRESS))
            .expression_attribute_values(":hash", s(request.request_hash))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Attempt::Claimed),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(Attempt::Refused(failed.item().cloned()))
                }
                _ if errors::is_conflict(&err) => Ok(Attempt::Conflict),
                _ => Err(errors::unavailable("PutItem", &err)),
            },
        }
    }
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %request.account_id, key = %request.key))]
    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<ClaimOutcome, StoreError> {
        let pk = key_of(request.account_id, request.key)?;
        let record = IdempotencyItem {
            pk: pk.clone(),
            sk: SK_IDEM.to_owned(),
            entity: SK_IDEM.to_owned(),
            account_id: request.account_id.to_string(),
            idempotency_key: request.key.to_owned(),
            state: STATE_IN_PROGRESS.to_owned(),
            request_hash: request.request_hash.to_owned(),
            lock_token: request.lock_token.to_owned(),
            lease_until_ms: ms(request.lease_until),
            expires_at_ms: ms(request.expires_at),
            ttl: request.expires_at.timestamp(),
            response_status: None,
            response_body: None,
        };
        let item: Item = to_item(&record).map_err(|e| errors::corrupt("idempotency record", &e))?;
        for attempt in 1..=CONFLICT_ATTEMPTS {
            let existing = match self.try_claim(&item, request).await? {
                Attempt::Claimed => {
                    debug!("claimed");
                    return Ok(ClaimOutcome::Claimed(IdempotencyClaim {
                        account_id: request.account_id.clone(),
                        key: request.key.to_owned(),
                        lock_token: request.lock_token.to_owned(),
                        expires_at: request.expires_at,
                    }));
                }
                Attempt::Refused(Some(old)) if !old.is_empty() => Some(old),
                // No old item in the failure (an emulator without ALL_OLD): read it.
                Attempt::Refused(_) => {
                    debug!("condition failed without the old item; reading it");
                    self.get_item(pk.clone(), SK_IDEM).await?
                }
                Attempt::Conflict => {
                    debug!(attempt, "claim conflicted with a transaction, retrying");
                    errors::conflict_backoff(attempt).await;
                    continue;
                }
            };
            match existing.map(|old| decide(old, request)).transpose()? {
                Some(Decision::Outcome(outcome)) => {
                    debug!(outcome = outcome_name(&outcome), "claim refused");
                    return Ok(outcome);
                }
                // Gone or claimable since the write: the next attempt will tell.
                Some(Decision::Retry) | None => {}
            }
        }
        // Still conflicting: the owner's transaction is touching the record right now.
        let existing = self.get_item(pk, SK_IDEM).await?;
        match existing.map(|old| decide(old, request)).transpose()? {
            Some(Decision::Outcome(outcome)) => Ok(outcome),
            Some(Decision::Retry) | None => Err(StoreError::Unavailable(
                "idempotency claim kept conflicting".into(),
            )),
        }
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %completion.claim.account_id, key = %completion.claim.key, status = completion.response.status, body_len = completion.response.body.len()))]
    async fn complete(&self, completion: &IdempotencyCompletion) -> Result<(), StoreError> {
        let update = completion_update(&self.table, completion)?;
        let written = errors::write_retrying_conflicts("UpdateItem", || {
            self.client
                .update_item()
                .table_name(update.table_name())
                .set_key(Some(update.key().clone()))
                .update_expression(update.update_expression())
                .set_condition_expression(update.condition_expression().map(str::to_owned))
                .set_expression_attribute_names(update.expression_attribute_names().cloned())
                .set_expression_attribute_values(update.expression_attribute_values().cloned())
                .send()
        })
        .await?;
        match written {
            SingleWrite::Written => {
                debug!("completed");
                Ok(())
            }
            SingleWrite::ConditionFailed => {
                debug!("claim was lost before completion; nothing to do");
                Ok(())
            }
            SingleWrite::StillConflicting => Err(StoreError::Unavailable(
                "idempotency completion kept conflicting".into(),
            )),
        }
    }

    #[instrument(level = "debug", skip_all, fields(table = %self.table, account_id = %claim.account_id, key = %claim.key))]
    async fn release(&self, claim: &IdempotencyClaim) -> Result<(), StoreError> {
        let key = primary_key(key_of(&claim.account_id, &claim.key)?, SK_IDEM);
        let written = errors::write_retrying_conflicts("DeleteItem", || {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key.clone()))
                .condition_expression("#token = :token AND #state = :in_progress")
                .expression_attribute_names("#token", "lockToken")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":token", s(claim.lock_token.clone()))
                .expression_attribute_values(":in_progress", s(STATE_IN_PROGRESS))
                .send()
        })
        .await?;
        match written {
            SingleWrite::Written => {
                debug!("released");
                Ok(())
            }
            SingleWrite::ConditionFailed => {
                debug!("claim no longer ours; nothing to release");
                Ok(())
            }
            SingleWrite::StillConflicting => Err(StoreError::Unavailable(
                "idempotency release kept conflicting".into(),
            )),
        }
    }
}
