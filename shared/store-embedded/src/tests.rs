//! Embedded-specific tests of the store as a whole: durability across reopen, opening (twice,
//! into missing directories, with loose permissions) and corrupt values. Each module's own
//! specifics are tested beside it (`<module>/tests.rs`); the behaviour shared with DynamoDB is
//! held by the contract suite (`tests/tests/store_contract.rs`).

use chrono::Duration;
use pixgw_domain::account::ports::AccountStore;
use pixgw_domain::account::{Account, ClientCredential};
use pixgw_domain::charge::ports::ChargeStore;
use pixgw_domain::charge::record::ChargeRecord;
use pixgw_domain::idempotency::{
    ClaimOutcome, IdempotencyCompletion, IdempotencyStore, StoredResponse,
};
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use redb::TableDefinition;
use tempfile::TempDir;

use super::*;
use crate::account::ACCOUNTS;
use crate::charge::CHARGES;
use crate::idempotency::IDEMPOTENCY;
use crate::keys;
use crate::tables::Bytes;
use crate::test_support::*;

fn account() -> (Account, ClientCredential) {
    let id = AccountId::generate();
    let account = Account {
        id: id.clone(),
        name: "Loja Exemplo".into(),
        merchant_name: "LOJA EXEMPLO".into(),
        merchant_city: "SAO PAULO".into(),
        crypto_token_encrypted: "ciphertext".into(),
        providers: Vec::new(),
        refund_liability: Default::default(),
        created_at: t0(),
    };
    let credential = ClientCredential {
        client_id: format!("client-{}", uuid::Uuid::new_v4()),
        account_id: id,
        secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: t0(),
    };
    (account, credential)
}

#[tokio::test]
async fn everything_survives_close_and_reopen() {
    let dir = TempDir::new().expect("temp dir");
    let (account, credential) = account();
    let first = charge_at(&account.id, "ext-1", t0());
    let completed = charge_at(&account.id, "ext-2", t0() + Duration::seconds(1));
    {
        let store = EmbeddedStore::open(dir.path()).expect("open");
        assert_eq!(store.path(), dir.path().join(FILE_NAME));
        store
            .create_account(&account, &credential)
            .await
            .expect("create account");
        store.insert_charge(&first, None).await.expect("insert");
        let ClaimOutcome::Claimed(claim) = store
            .claim(&claim_request(&account.id, "key-1", "token-1", t0()))
            .await
            .expect("claim")
        else {
            panic!("expected a fresh claim");
        };
        let completion = IdempotencyCompletion {
            claim,
            response: StoredResponse {
                status: 201,
                body: "{\"ok\":true}".into(),
            },
        };
        store
            .insert_charge(&completed, Some(&completion))
            .await
            .expect("insert with completion");
        store
            .claim(&claim_request(&account.id, "key-2", "token-2", t0()))
            .await
            .expect("claim still in progress");
        // Dropping the last clone closes the database file.
    }

    let store = EmbeddedStore::open(dir.path()).expect("reopen");
    assert_eq!(
        store.get_account(&account.id).await.expect("get"),
        Some(account.clone())
    );
    assert_eq!(
        store
            .find_client(&credential.client_id)
            .await
            .expect("find"),
        Some(credential)
    );
    assert_eq!(
        store.get_charge(&first.transaction_id).await.expect("get"),
        Some(first.clone())
    );
    assert_eq!(
        store
            .find_charge_by_external_id(&account.id, "ext-2")
            .await
            .expect("find"),
        Some(completed.clone())
    );
    let page = store
        .list_charges(&account.id, &query(10))
        .await
        .expect("list");
    assert_eq!(page.items, vec![completed, first]);
    assert_eq!(page.next, None);
    let later = t0() + Duration::seconds(5);
    assert_eq!(
        store
            .claim(&claim_request(&account.id, "key-1", "token-3", later))
            .await
            .expect("replay"),
        ClaimOutcome::Replay(StoredResponse {
            status: 201,
            body: "{\"ok\":true}".into()
        })
    );
    assert_eq!(
        store
            .claim(&claim_request(&account.id, "key-2", "token-4", later))
            .await
            .expect("in use"),
        ClaimOutcome::InUse
    );
}

#[tokio::test]
async fn a_second_open_of_the_same_file_is_an_error_not_a_panic() {
    let dir = TempDir::new().expect("temp dir");
    let _store = EmbeddedStore::open(dir.path()).expect("open");
    let second = EmbeddedStore::open(dir.path());
    assert!(
        matches!(second, Err(StoreError::Unavailable(_))),
        "{second:?}"
    );
}

#[tokio::test]
async fn open_creates_missing_directories() {
    let dir = TempDir::new().expect("temp dir");
    let nested = dir.path().join("a").join("b");
    let store = EmbeddedStore::open(&nested).expect("open");
    assert!(nested.join(FILE_NAME).is_file());
    assert_eq!(store.get_charge(&TransactionId::generate()).await, Ok(None));
}

/// The file holds payers' CPF/CNPJ: `0600` in a `0700` directory, also when an older
/// version (or a copy) left them readable by others.
#[cfg(unix)]
#[tokio::test]
async fn the_store_is_private_to_its_owner_and_tightened_on_open() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let root = TempDir::new().expect("temp dir");
    let dir = root.path().join("data");
    let store = EmbeddedStore::open(&dir).expect("open");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(FILE_NAME)), 0o600);
    let (account, credential) = account();
    store
        .create_account(&account, &credential)
        .await
        .expect("account");
    drop(store);

    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir.join(FILE_NAME), std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = EmbeddedStore::open(&dir).expect("reopen");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(FILE_NAME)), 0o600);
    // Still the same database, contents intact.
    assert_eq!(store.get_account(&account.id).await, Ok(Some(account)));
}

/// Writes raw bytes under `key` of `table`, bypassing the adapter.
fn poke(store: &EmbeddedStore, table: TableDefinition<&str, Bytes>, key: &str, value: &[u8]) {
    let txn = store.db.begin_write().expect("write");
    txn.open_table(table)
        .expect("table")
        .insert(key, value)
        .expect("insert");
    txn.commit().expect("commit");
}

#[tokio::test]
async fn undecodable_values_are_corrupt_not_panics() {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    let (account, credential) = account();
    store
        .create_account(&account, &credential)
        .await
        .expect("create");
    let stored = charge_at(&account.id, "ext-1", t0());
    store.insert_charge(&stored, None).await.expect("insert");

    // Not JSON at all.
    poke(
        &store,
        CHARGES,
        stored.transaction_id.as_str(),
        b"\xff not json",
    );
    assert!(matches!(
        store.get_charge(&stored.transaction_id).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.list_charges(&account.id, &query(10)).await,
        Err(StoreError::Corrupt(_))
    ));
    // JSON of the right shape whose content fails the domain's validation.
    let mut record = ChargeRecord::from(&stored);
    record.payer_document = "11111111111".into();
    let bytes = serde_json::to_vec(&record).expect("encode");
    poke(&store, CHARGES, stored.transaction_id.as_str(), &bytes);
    assert!(matches!(
        store.get_charge(&stored.transaction_id).await,
        Err(StoreError::Corrupt(_))
    ));

    poke(&store, ACCOUNTS, account.id.as_str(), b"{}");
    assert!(matches!(
        store.get_account(&account.id).await,
        Err(StoreError::Corrupt(_))
    ));
    let key = keys::idempotency(account.id.as_str(), "k");
    poke(&store, IDEMPOTENCY, &key, b"[1,2]");
    assert!(matches!(
        store
            .claim(&claim_request(&account.id, "k", "t", t0()))
            .await,
        Err(StoreError::Corrupt(_))
    ));
}
