//! Idempotency claims against DynamoDB Local: the single conditional PutItem, expiry without
//! TTL, lease takeover, and fifty racing claims.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Duration;
use common::{T0_MS, at_ms, claim_request, fresh_store, must_claim};
use pixgw_domain::idempotency::{
    ClaimOutcome, ClaimRequest, IdempotencyCompletion, IdempotencyStore, StoredResponse,
};
use pixgw_domain::pix::ids::AccountId;
use pixgw_store_dynamodb::DynamoStore;

fn response(body: &str) -> StoredResponse {
    StoredResponse {
        status: 201,
        body: body.to_owned(),
    }
}

async fn raw_record(
    store: &DynamoStore,
    account: &AccountId,
    key: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key(
            "pk",
            AttributeValue::S(format!("ACCOUNT#{account}#IDEM#{key}")),
        )
        .key("sk", AttributeValue::S("IDEM".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("get raw record")
        .item
}

#[tokio::test]
async fn claim_outcomes_follow_the_stored_record() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let key = "5f0c8a51-0c36-4b2e-9a53-0f5e4cc1b3a1";

    let claim = must_claim(&store, &claim_request(&account, key, "h1", "tok-a", T0_MS)).await;
    assert_eq!(claim.lock_token, "tok-a");
    let same = claim_request(&account, key, "h1", "tok-b", T0_MS + 1_000);
    assert_eq!(store.claim(&same).await, Ok(ClaimOutcome::InUse));
    let other = claim_request(&account, key, "h2", "tok-c", T0_MS + 1_000);
    assert_eq!(store.claim(&other).await, Ok(ClaimOutcome::Mismatch));

    // The same key in another account is another record.
    let stranger = AccountId::generate();
    must_claim(&store, &claim_request(&stranger, key, "h2", "tok-d", T0_MS)).await;

    let body = r#"{"transactionId":"abc","status":"PENDING"}"#;
    store
        .complete(&IdempotencyCompletion {
            claim: claim.clone(),
            response: response(body),
        })
        .await
        .expect("complete");
    assert_eq!(
        store.claim(&same).await,
        Ok(ClaimOutcome::Replay(response(body)))
    );
    assert_eq!(store.claim(&other).await, Ok(ClaimOutcome::Mismatch));

    // Releasing a completed record changes nothing: only running claims can be given up.
    store.release(&claim).await.expect("release is a no-op");
    assert_eq!(
        store.claim(&same).await,
        Ok(ClaimOutcome::Replay(response(body)))
    );

    // The TTL attribute is the expiry in epoch seconds, a number.
    let raw = raw_record(&store, &account, key).await.expect("record");
    let expected_ttl = (at_ms(T0_MS) + Duration::hours(24)).timestamp();
    assert_eq!(
        raw.get("ttl"),
        Some(&AttributeValue::N(expected_ttl.to_string()))
    );
    assert_eq!(
        raw.get("state"),
        Some(&AttributeValue::S("COMPLETED".into()))
    );
    assert_eq!(
        raw.get("responseStatus"),
        Some(&AttributeValue::N("201".into()))
    );
}

#[tokio::test]
async fn expired_records_count_as_absent_before_ttl_deletes_them() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let key = "k-expiring";
    let now = at_ms(T0_MS);
    let short = ClaimRequest {
        account_id: &account,
        key,
        request_hash: "h1",
        lock_token: "tok-a",
        now,
        lease_until: now + Duration::milliseconds(500),
        expires_at: now + Duration::seconds(1),
    };
    let claim = must_claim(&store, &short).await;
    store
        .complete(&IdempotencyCompletion {
            claim,
            response: response("{}"),
        })
        .await
        .expect("complete");
    // Before expiry a different request is a mismatch …
    let before = claim_request(&account, key, "h2", "tok-b", T0_MS + 999);
    assert_eq!(store.claim(&before).await, Ok(ClaimOutcome::Mismatch));
    // … after it the item is still there (DynamoDB's TTL is lazy) but counts as absent.
    let after = claim_request(&account, key, "h2", "tok-b", T0_MS + 1_001);
    assert!(raw_record(&store, &account, key).await.is_some());
    let claim = must_claim(&store, &after).await;
    assert_eq!(claim.lock_token, "tok-b");
    // The fresh claim is a normal running claim again.
    let again = claim_request(&account, key, "h2", "tok-c", T0_MS + 2_000);
    assert_eq!(store.claim(&again).await, Ok(ClaimOutcome::InUse));
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_only_by_the_same_request() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let key = "k-lease";
    let first = must_claim(&store, &claim_request(&account, key, "h1", "tok-a", T0_MS)).await;
    let after_lease = T0_MS + 31_000;

    // A different body never takes a running claim over, even with its lease gone.
    let other = claim_request(&account, key, "h2", "tok-x", after_lease);
    assert_eq!(store.claim(&other).await, Ok(ClaimOutcome::Mismatch));
    // The same request does, with a new lock token.
    let second = must_claim(
        &store,
        &claim_request(&account, key, "h1", "tok-b", after_lease),
    )
    .await;

    // The crashed owner's late completion and release are silently ignored.
    store
        .complete(&IdempotencyCompletion {
            claim: first.clone(),
            response: response("stale"),
        })
        .await
        .expect("stale complete is Ok");
    store.release(&first).await.expect("stale release is Ok");
    let probe = claim_request(&account, key, "h1", "tok-c", after_lease + 1_000);
    assert_eq!(store.claim(&probe).await, Ok(ClaimOutcome::InUse));

    // The real owner releases: a corrected request may use the key now.
    store.release(&second).await.expect("release");
    assert!(raw_record(&store, &account, key).await.is_none());
    let corrected = claim_request(&account, key, "h2", "tok-d", after_lease + 2_000);
    must_claim(&store, &corrected).await;
}
