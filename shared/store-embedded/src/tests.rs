//! Embedded-specific tests: durability across reopen, the on-disk layout, corruption and the
//! expiry purge. The behaviour shared with DynamoDB is held by the contract suite
//! (`tests/tests/store_contract.rs`).

use std::collections::BTreeMap;

use chrono::{Duration, TimeZone};
use pixgw_domain::charge::{ChargeStatus, Payer};
use pixgw_domain::pix::document::TaxDocument;
use pixgw_domain::pix::money::Money;
use tempfile::TempDir;

use super::*;

fn t0() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_705_314_600_123)
        .single()
        .unwrap_or_default()
}

fn account() -> (Account, ClientCredential) {
    let id = AccountId::generate();
    let account = Account {
        id: id.clone(),
        name: "Loja Exemplo".into(),
        merchant_name: "LOJA EXEMPLO".into(),
        merchant_city: "SAO PAULO".into(),
        crypto_token_encrypted: "ciphertext".into(),
        providers: Vec::new(),
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

fn charge(account_id: &AccountId, external_id: &str, created_at: DateTime<Utc>) -> Charge {
    Charge {
        transaction_id: TransactionId::generate(),
        account_id: account_id.clone(),
        correlation_id: uuid::Uuid::new_v4(),
        external_id: external_id.to_owned(),
        status: ChargeStatus::Pending,
        amount: Money::from_cents(4990),
        description: "Pedido nº 42 — café".into(),
        payer: Payer {
            full_name: "João da Silva".into(),
            document: TaxDocument::parse("12345678909").expect("valid CPF"),
        },
        additional_info: BTreeMap::from([("pedido".to_owned(), "42".to_owned())]),
        splits: Vec::new(),
        remainder: Money::from_cents(4990),
        pix_code: "000201...6304ABCD".into(),
        generate_qr_code: true,
        provider: "sandbox".into(),
        provider_charge_id: "sbx-1".into(),
        expiration_seconds: 3600,
        created_at,
        expires_at: created_at + Duration::seconds(3600),
        payment: None,
        refund: None,
    }
}

fn claim_request<'a>(
    account_id: &'a AccountId,
    key: &'a str,
    token: &'a str,
    now: DateTime<Utc>,
) -> ClaimRequest<'a> {
    ClaimRequest {
        account_id,
        key,
        request_hash: "hash-1",
        lock_token: token,
        now,
        lease_until: now + Duration::seconds(30),
        expires_at: now + Duration::hours(24),
    }
}

fn query(limit: u32) -> ChargeQuery {
    ChargeQuery {
        status: None,
        from: None,
        to: None,
        limit,
        after: None,
    }
}

#[tokio::test]
async fn everything_survives_close_and_reopen() {
    let dir = TempDir::new().expect("temp dir");
    let (account, credential) = account();
    let first = charge(&account.id, "ext-1", t0());
    let completed = charge(&account.id, "ext-2", t0() + Duration::seconds(1));
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
    let stored = charge(&account.id, "ext-1", t0());
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

fn count(store: &EmbeddedStore, table: TableDefinition<&str, impl redb::Value + 'static>) -> u64 {
    use redb::ReadableTableMetadata;
    let txn = store.db.begin_read().expect("read");
    txn.open_table(table).expect("table").len().expect("len")
}

#[tokio::test]
async fn purge_expired_deletes_only_expired_records_and_their_index_entries() {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    let account_id = AccountId::generate();
    for (key, at) in [
        ("old-1", t0()),
        ("old-2", t0()),
        ("new", t0() + Duration::hours(2)),
    ] {
        let outcome = store
            .claim(&claim_request(&account_id, key, "tok", at))
            .await
            .expect("claim");
        assert!(matches!(outcome, ClaimOutcome::Claimed(_)));
    }
    assert_eq!(count(&store, IDEMPOTENCY), 3);
    assert_eq!(count(&store, IDEMPOTENCY_BY_EXPIRY), 3);

    // Exactly at expires_at a record is still live (expired means expires_at < now).
    let expiry = t0() + Duration::hours(24);
    assert_eq!(store.purge_expired(expiry).await, Ok(0));
    assert_eq!(
        store
            .purge_expired(expiry + Duration::milliseconds(1))
            .await,
        Ok(2)
    );
    assert_eq!(count(&store, IDEMPOTENCY), 1);
    assert_eq!(count(&store, IDEMPOTENCY_BY_EXPIRY), 1);

    // The survivor is untouched: still in progress for its owner.
    let outcome = store
        .claim(&claim_request(
            &account_id,
            "new",
            "other",
            t0() + Duration::hours(2),
        ))
        .await
        .expect("claim");
    assert_eq!(outcome, ClaimOutcome::InUse);
}

#[tokio::test]
async fn claims_purge_expired_records_on_their_way() {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    let account_id = AccountId::generate();
    for i in 0..3 {
        let key = format!("old-{i}");
        store
            .claim(&claim_request(&account_id, &key, "tok", t0()))
            .await
            .expect("claim");
    }
    let much_later = t0() + Duration::days(2);
    store
        .claim(&claim_request(&account_id, "fresh", "tok", much_later))
        .await
        .expect("claim");
    assert_eq!(count(&store, IDEMPOTENCY), 1);
    assert_eq!(count(&store, IDEMPOTENCY_BY_EXPIRY), 1);
}

#[tokio::test]
async fn retaking_an_expired_key_replaces_its_expiry_entry() {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    let account_id = AccountId::generate();
    store
        .claim(&claim_request(&account_id, "k", "tok-1", t0()))
        .await
        .expect("claim");
    let later = t0() + Duration::hours(25);
    let outcome = store
        .claim(&claim_request(&account_id, "k", "tok-2", later))
        .await
        .expect("claim");
    assert!(matches!(outcome, ClaimOutcome::Claimed(c) if c.lock_token == "tok-2"));
    assert_eq!(count(&store, IDEMPOTENCY), 1);
    assert_eq!(count(&store, IDEMPOTENCY_BY_EXPIRY), 1);
}

#[tokio::test]
async fn rewriting_a_charge_moves_its_status_index_entry() {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    let account_id = AccountId::generate();
    let pending = charge(&account_id, "ext-1", t0());
    store.insert_charge(&pending, None).await.expect("insert");

    let mut confirmed = pending.clone();
    confirmed.status = ChargeStatus::Confirmed;
    {
        let txn = store.db.begin_write().expect("write");
        put_charge(
            &txn,
            &ChargeRecord::from(&confirmed),
            Some(&ChargeRecord::from(&pending)),
        )
        .expect("put");
        txn.commit().expect("commit");
    }

    let by_status = |status| ChargeQuery {
        status: Some(status),
        ..query(10)
    };
    let listed = |status| {
        let store = store.clone();
        let account_id = account_id.clone();
        async move {
            store
                .list_charges(&account_id, &by_status(status))
                .await
                .expect("list")
                .items
        }
    };
    assert_eq!(listed(ChargeStatus::Pending).await, Vec::new());
    assert_eq!(
        listed(ChargeStatus::Confirmed).await,
        vec![confirmed.clone()]
    );
    assert_eq!(
        store
            .list_charges(&account_id, &query(10))
            .await
            .expect("list")
            .items,
        vec![confirmed]
    );
    assert_eq!(count(&store, CHARGES_BY_STATUS), 1);
    assert_eq!(count(&store, CHARGES_BY_ACCOUNT), 1);
}
