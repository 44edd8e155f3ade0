//! The charge insert transaction against DynamoDB Local: round trips, cancellation reasons
//! decoded by item position, and TransactionConflict handling under fifty concurrent writers.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{T0_MS, charge, claim_request, fresh_store, must_claim};
use pixgw_domain::charge::ports::{ChargeStore, InsertChargeError};
use pixgw_domain::idempotency::{IdempotencyCompletion, StoredResponse};
use pixgw_domain::pix::ids::AccountId;

fn completion(
    claim: pixgw_domain::idempotency::IdempotencyClaim,
    body: &str,
) -> IdempotencyCompletion {
    IdempotencyCompletion {
        claim,
        response: StoredResponse {
            status: 201,
            body: body.to_owned(),
        },
    }
}

#[tokio::test]
async fn cancellation_reasons_are_decoded_by_item_position() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let first = charge(&account, "dup", T0_MS);
    store
        .insert_charge(&first, None)
        .await
        .expect("first insert");

    // Guard (position 1) failed.
    let second = charge(&account, "dup", T0_MS + 1);
    assert_eq!(
        store.insert_charge(&second, None).await,
        Err(InsertChargeError::DuplicateExternalId)
    );
    assert_eq!(store.get_charge(&second.transaction_id).await, Ok(None));

    // Charge (position 0) failed: same transaction id, fresh externalId. Nothing of it stays.
    let mut collision = charge(&account, "fresh", T0_MS + 2);
    collision.transaction_id = first.transaction_id.clone();
    assert_eq!(
        store.insert_charge(&collision, None).await,
        Err(InsertChargeError::IdCollision)
    );
    assert_eq!(
        store.find_charge_by_external_id(&account, "fresh").await,
        Ok(None)
    );

    // Idempotency update (position 2) failed: the lease ran out and a retry took the key over.
    let stale = must_claim(&store, &claim_request(&account, "k", "h", "tok-a", T0_MS)).await;
    must_claim(
        &store,
        &claim_request(&account, "k", "h", "tok-b", T0_MS + 31_000),
    )
    .await;
    let late = charge(&account, "late", T0_MS + 3);
    assert_eq!(
        store
            .insert_charge(&late, Some(&completion(stale.clone(), "{}")))
            .await,
        Err(InsertChargeError::ClaimLost)
    );
    assert_eq!(store.get_charge(&late.transaction_id).await, Ok(None));
    assert_eq!(
        store.find_charge_by_external_id(&account, "late").await,
        Ok(None)
    );

    // Claim lost AND duplicate externalId: claim lost wins.
    let both = charge(&account, "dup", T0_MS + 4);
    assert_eq!(
        store
            .insert_charge(&both, Some(&completion(stale, "{}")))
            .await,
        Err(InsertChargeError::ClaimLost)
    );

    // A claim that was already completed cannot complete a second charge.
    let done = must_claim(&store, &claim_request(&account, "k2", "h", "tok-c", T0_MS)).await;
    let ok = charge(&account, "ok", T0_MS + 5);
    store
        .insert_charge(&ok, Some(&completion(done.clone(), "{}")))
        .await
        .expect("insert with claim");
    let again = charge(&account, "ok-2", T0_MS + 6);
    assert_eq!(
        store
            .insert_charge(&again, Some(&completion(done, "{}")))
            .await,
        Err(InsertChargeError::ClaimLost)
    );
}
