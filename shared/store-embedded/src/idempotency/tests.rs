//! Embedded specifics of idempotency records: the expiry index and the purge.

use chrono::Duration;
use tempfile::TempDir;

use super::*;
use crate::test_support::*;

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
