//! The charge insert transaction against DynamoDB Local: round trips, cancellation reasons
//! decoded by item position, and TransactionConflict handling under fifty concurrent writers.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{T0_MS, charge, claim_request, fresh_store, must_claim};
use pixgw_domain::account::ports::{AccountStore, CreateAccountError};
use pixgw_domain::account::{Account, ClientCredential};
use pixgw_domain::charge::ports::{ChargeStore, InsertChargeError};
use pixgw_domain::idempotency::{
    ClaimOutcome, IdempotencyCompletion, IdempotencyStore, StoredResponse,
};
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
async fn a_charge_round_trips_through_every_read_and_completes_its_claim() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let request = claim_request(&account, "k1", "h1", "tok-a", T0_MS);
    let claim = must_claim(&store, &request).await;
    let c = charge(&account, "order-42", T0_MS);
    store
        .insert_charge(&c, Some(&completion(claim, "{\"ok\":true}")))
        .await
        .expect("insert");

    assert_eq!(
        store.get_charge(&c.transaction_id).await,
        Ok(Some(c.clone()))
    );
    assert_eq!(
        store.find_charge_by_external_id(&account, "order-42").await,
        Ok(Some(c.clone()))
    );
    // The guard is per account: the same externalId elsewhere is unknown.
    let other = AccountId::generate();
    assert_eq!(
        store.find_charge_by_external_id(&other, "order-42").await,
        Ok(None)
    );
    assert_eq!(
        store.find_charge_by_external_id(&account, "nope").await,
        Ok(None)
    );
    assert_eq!(
        store
            .find_charge_by_external_id(&account, &"x".repeat(5_000))
            .await,
        Ok(None)
    );
    // The completion was part of the same write.
    let retry = claim_request(&account, "k1", "h1", "tok-b", T0_MS + 1_000);
    assert_eq!(
        store.claim(&retry).await,
        Ok(ClaimOutcome::Replay(StoredResponse {
            status: 201,
            body: "{\"ok\":true}".into()
        }))
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn fifty_concurrent_inserts_with_one_external_id_store_exactly_one() {
    let store = Arc::new(fresh_store().await);
    let account = AccountId::generate();
    let charges: Vec<_> = (0..50)
        .map(|i| charge(&account, "same-ext", T0_MS + i))
        .collect();
    let tasks: Vec<_> = charges
        .iter()
        .cloned()
        .map(|c| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.insert_charge(&c, None).await.map(|()| c) })
        })
        .collect();
    let mut winners = vec![];
    let mut duplicates = 0;
    for result in futures::future::join_all(tasks).await {
        match result.expect("task") {
            Ok(c) => winners.push(c),
            Err(InsertChargeError::DuplicateExternalId) => duplicates += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((winners.len(), duplicates), (1, 49));
    assert_eq!(
        store.find_charge_by_external_id(&account, "same-ext").await,
        Ok(Some(winners[0].clone()))
    );
    for c in &charges {
        let stored = store.get_charge(&c.transaction_id).await.expect("read");
        assert_eq!(stored.is_some(), c == &winners[0]);
    }
}

/// The full three-item transaction under contention: each writer holds its own idempotency
/// claim and completes it in the same write as the charge.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn fifty_concurrent_idempotent_inserts_complete_only_the_winners_claim() {
    let store = Arc::new(fresh_store().await);
    let account = Arc::new(AccountId::generate());
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = Arc::clone(&store);
            let account = Arc::clone(&account);
            tokio::spawn(async move {
                let key = format!("key-{i}");
                let request = claim_request(&account, &key, "h", "tok", T0_MS);
                let claim = must_claim(&store, &request).await;
                let c = charge(&account, "contended", T0_MS + i);
                let result = store
                    .insert_charge(&c, Some(&completion(claim, "{}")))
                    .await;
                let retry = claim_request(&account, &key, "h", "tok-2", T0_MS + 1);
                (result, store.claim(&retry).await)
            })
        })
        .collect();
    let (mut ok, mut duplicates) = (0, 0);
    for joined in futures::future::join_all(tasks).await {
        match joined.expect("task") {
            (Ok(()), Ok(ClaimOutcome::Replay(_))) => ok += 1,
            // The loser's claim stays running (the service then releases or completes it).
            (Err(InsertChargeError::DuplicateExternalId), Ok(ClaimOutcome::InUse)) => {
                duplicates += 1
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, duplicates), (1, 49));
}

#[tokio::test]
async fn accounts_and_credentials_are_created_together_or_not_at_all() {
    let store = fresh_store().await;
    let now = common::at_ms(T0_MS);
    let account = Account {
        id: AccountId::generate(),
        name: "Loja Exemplo Ltda".into(),
        merchant_name: "LOJA EXEMPLO".into(),
        merchant_city: "SAO PAULO".into(),
        crypto_token_encrypted: "enc:v1:abc".into(),
        providers: Vec::new(),
        created_at: now,
    };
    let credential = ClientCredential {
        client_id: "client-1".into(),
        account_id: account.id.clone(),
        secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: now,
    };
    store
        .create_account(&account, &credential)
        .await
        .expect("create");
    assert_eq!(
        store.get_account(&account.id).await,
        Ok(Some(account.clone()))
    );
    assert_eq!(
        store.find_client("client-1").await,
        Ok(Some(credential.clone()))
    );

    // Taken account id: the new client must not appear.
    let new_client = ClientCredential {
        client_id: "client-2".into(),
        ..credential.clone()
    };
    assert_eq!(
        store.create_account(&account, &new_client).await,
        Err(CreateAccountError::AlreadyExists)
    );
    assert_eq!(store.find_client("client-2").await, Ok(None));

    // Taken client id: the new account must not appear.
    let new_account = Account {
        id: AccountId::generate(),
        ..account.clone()
    };
    let reused = ClientCredential {
        account_id: new_account.id.clone(),
        ..credential.clone()
    };
    assert_eq!(
        store.create_account(&new_account, &reused).await,
        Err(CreateAccountError::AlreadyExists)
    );
    assert_eq!(store.get_account(&new_account.id).await, Ok(None));

    // Impossible client ids are simply unknown.
    assert_eq!(store.find_client("").await, Ok(None));
    assert_eq!(store.find_client(&"c".repeat(4_000)).await, Ok(None));
}
