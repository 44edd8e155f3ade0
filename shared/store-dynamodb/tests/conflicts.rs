//! What DynamoDB Local never produces but real DynamoDB does: `TransactionConflict`,
//! throttling, unreachable endpoints. Injected at the HTTP layer (see `common/faults.rs`) in
//! front of a real DynamoDB Local, so everything not injected is the real thing.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{T0_MS, at_ms, charge, claim_request, faulty_store, must_claim};
use pixgw_domain::account::ports::{AccountStore, CreateAccountError};
use pixgw_domain::account::{Account, ClientCredential};
use pixgw_domain::charge::ports::{ChargeStore, InsertChargeError};
use pixgw_domain::error::StoreError;
use pixgw_domain::idempotency::{
    ClaimOutcome, IdempotencyClaim, IdempotencyCompletion, IdempotencyStore, StoredResponse,
};
use pixgw_domain::pix::ids::AccountId;
use pixgw_store_dynamodb::DynamoStore;
use pixgw_store_dynamodb::errors::CONFLICT_ATTEMPTS;

const TX: &str = "TransactWriteItems";
const CONFLICT: &str = "TransactionConflict";

fn completion(claim: IdempotencyClaim) -> IdempotencyCompletion {
    IdempotencyCompletion {
        claim,
        response: StoredResponse {
            status: 201,
            body: "{}".into(),
        },
    }
}

fn account_pair(client_id: &str) -> (Account, ClientCredential) {
    let account = Account {
        id: AccountId::generate(),
        name: "Loja".into(),
        merchant_name: "LOJA".into(),
        merchant_city: "RECIFE".into(),
        crypto_token_encrypted: "enc".into(),
        providers: Vec::new(),
        refund_liability: Default::default(),
        created_at: at_ms(T0_MS),
    };
    let credential = ClientCredential {
        client_id: client_id.into(),
        account_id: account.id.clone(),
        secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: at_ms(T0_MS),
    };
    (account, credential)
}

#[tokio::test]
async fn transaction_conflicts_are_retried_until_the_write_goes_through() {
    let (store, faults) = faulty_store().await;
    let account = AccountId::generate();

    faults.cancel_transactions(Some(3), &["None", CONFLICT]);
    let c = charge(&account, "e1", T0_MS);
    store
        .insert_charge(&c, None)
        .await
        .expect("insert after conflicts");
    assert_eq!((faults.injected(TX), faults.forwarded(TX)), (3, 1));
    assert_eq!(store.get_charge(&c.transaction_id).await, Ok(Some(c)));

    // The three-item form, conflicting on the idempotency record.
    let claim = must_claim(&store, &claim_request(&account, "k", "h", "t", T0_MS)).await;
    faults.cancel_transactions(Some(2), &["None", "None", CONFLICT]);
    let c2 = charge(&account, "e2", T0_MS + 1);
    store
        .insert_charge(&c2, Some(&completion(claim)))
        .await
        .expect("insert with claim after conflicts");
    let retry = claim_request(&account, "k", "h", "t2", T0_MS + 1);
    assert!(matches!(
        store.claim(&retry).await,
        Ok(ClaimOutcome::Replay(_))
    ));

    faults.cancel_transactions(Some(2), &[CONFLICT, "None"]);
    let (a, cred) = account_pair("client-conflict");
    store
        .create_account(&a, &cred)
        .await
        .expect("account after conflicts");
    assert!(store.get_account(&a.id).await.expect("read").is_some());
}

#[tokio::test]
async fn conflicts_that_never_clear_are_reevaluated_from_the_items() {
    let (store, faults) = faulty_store().await;
    let account = AccountId::generate();
    store
        .insert_charge(&charge(&account, "taken", T0_MS), None)
        .await
        .expect("seed");
    let (a, cred) = account_pair("client-taken");
    store.create_account(&a, &cred).await.expect("seed account");
    let stale = must_claim(&store, &claim_request(&account, "k", "h", "old", T0_MS)).await;
    must_claim(
        &store,
        &claim_request(&account, "k", "h", "new", T0_MS + 31_000),
    )
    .await;

    faults.cancel_transactions(None, &["None", CONFLICT, "None"]);
    // Someone holds the guard: once it is visible, it is a duplicate.
    assert_eq!(
        store
            .insert_charge(&charge(&account, "taken", T0_MS + 1), None)
            .await,
        Err(InsertChargeError::DuplicateExternalId)
    );
    assert_eq!(faults.injected(TX), CONFLICT_ATTEMPTS as usize);
    // Our claim was taken over meanwhile: claim lost comes first.
    assert_eq!(
        store
            .insert_charge(
                &charge(&account, "taken", T0_MS + 2),
                Some(&completion(stale))
            )
            .await,
        Err(InsertChargeError::ClaimLost)
    );
    // Nothing explains the conflict: the store is unavailable, honestly.
    assert!(matches!(
        store
            .insert_charge(&charge(&account, "free", T0_MS + 3), None)
            .await,
        Err(InsertChargeError::Store(StoreError::Unavailable(_)))
    ));
    assert_eq!(
        store.create_account(&a, &cred).await,
        Err(CreateAccountError::AlreadyExists)
    );
    let (b, cred_b) = account_pair("client-free");
    assert!(matches!(
        store.create_account(&b, &cred_b).await,
        Err(CreateAccountError::Store(StoreError::Unavailable(_)))
    ));
    assert_eq!(
        faults.forwarded(TX),
        2,
        "only the two seeds reached DynamoDB"
    );
}

#[tokio::test]
async fn single_item_conflicts_are_retried() {
    let (store, faults) = faulty_store().await;
    let account = AccountId::generate();
    faults.fail("PutItem", Some(2), "TransactionConflictException");
    let claim = must_claim(&store, &claim_request(&account, "k", "h", "t", T0_MS)).await;
    assert_eq!(faults.injected("PutItem"), 2);

    faults.fail("DeleteItem", Some(2), "TransactionConflictException");
    store
        .release(&claim)
        .await
        .expect("release after conflicts");
    let claim = must_claim(&store, &claim_request(&account, "k", "h2", "t2", T0_MS)).await;

    faults.fail("UpdateItem", Some(2), "TransactionConflictException");
    store
        .complete(&completion(claim))
        .await
        .expect("complete after conflicts");
    let retry = claim_request(&account, "k", "h2", "t3", T0_MS + 1);
    assert!(matches!(
        store.claim(&retry).await,
        Ok(ClaimOutcome::Replay(_))
    ));
    assert_eq!(
        faults.injected("DeleteItem") + faults.injected("UpdateItem"),
        4
    );
}

#[tokio::test]
async fn throttling_and_unreachable_endpoints_are_unavailable() {
    let (store, faults) = faulty_store().await;
    let account = AccountId::generate();

    // Throttling inside a transaction is not retried by us (the SDK does not see it either).
    faults.cancel_transactions(None, &["None", "ThrottlingError"]);
    match store
        .insert_charge(&charge(&account, "e", T0_MS), None)
        .await
    {
        Err(InsertChargeError::Store(StoreError::Unavailable(message))) => {
            assert!(message.contains("[None, ThrottlingError]"), "{message}");
            assert!(
                message.contains("TransactionCanceledException"),
                "{message}"
            );
            // Causes are printed with Display only, never the raw response (`Debug`).
            assert!(!message.contains("CancellationReasons"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(faults.injected(TX), 1);
    faults.clear();

    // Throttled reads: the SDK retries, then the cause reaches the caller.
    faults.fail("GetItem", None, "ProvisionedThroughputExceededException");
    match store
        .get_charge(&charge(&account, "x", T0_MS).transaction_id)
        .await
    {
        Err(StoreError::Unavailable(message)) => {
            assert!(
                message.contains("ProvisionedThroughputExceededException"),
                "{message}"
            )
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(
        faults.injected("GetItem") > 1,
        "the SDK retried throttling itself"
    );

    // Nothing listens on port 9.
    let offline = DynamoStore::connect(Some("http://127.0.0.1:9".into()), "t").await;
    assert!(matches!(
        offline.get_account(&account).await,
        Err(StoreError::Unavailable(_))
    ));
}
