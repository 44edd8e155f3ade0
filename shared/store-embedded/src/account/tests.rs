//! The provider order on the embedded store: set, replaced and cleared in place, nothing else
//! on the account touched, unknown accounts refused without creating one, and account values
//! written before the field existed still read and update.

use chrono::{TimeZone, Utc};
use pixgw_domain::account::ports::{AccountStore, AccountUpdateError};
use pixgw_domain::account::{Account, ClientCredential};
use pixgw_domain::error::StoreError;
use pixgw_domain::pix::ids::AccountId;
use redb::ReadableDatabase;
use serde_json::{Value, json};
use tempfile::TempDir;

use super::ACCOUNTS;
use crate::EmbeddedStore;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|n| (*n).to_owned()).collect()
}

fn store() -> (TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    (dir, store)
}

async fn created_account(store: &EmbeddedStore, providers: &[&str]) -> Account {
    let created_at = Utc.timestamp_millis_opt(1_705_314_600_123).unwrap();
    let account = Account {
        id: AccountId::generate(),
        name: "Loja Exemplo Ltda".into(),
        merchant_name: "LOJA EXEMPLO".into(),
        merchant_city: "SAO PAULO".into(),
        crypto_token_encrypted: "ciphertext".into(),
        providers: names(providers),
        refund_liability: Default::default(),
        created_at,
    };
    let credential = ClientCredential {
        client_id: format!("client-{}", account.id),
        account_id: account.id.clone(),
        secret_hash: "$argon2id$hash".into(),
        created_at,
    };
    store.create_account(&account, &credential).await.unwrap();
    account
}

/// The stored value of an account as JSON, bypassing the adapter.
fn raw(store: &EmbeddedStore, id: &str) -> Option<Value> {
    let txn = store.db.begin_read().unwrap();
    let table = txn.open_table(ACCOUNTS).unwrap();
    let value = table.get(id).unwrap()?;
    Some(serde_json::from_slice(value.value()).unwrap())
}

/// Writes raw bytes as an account value, bypassing the adapter.
fn poke(store: &EmbeddedStore, id: &str, value: &[u8]) {
    let txn = store.db.begin_write().unwrap();
    txn.open_table(ACCOUNTS).unwrap().insert(id, value).unwrap();
    txn.commit().unwrap();
}

fn without_providers(mut value: Value) -> Value {
    value.as_object_mut().unwrap().remove("providers");
    value
}

#[tokio::test]
async fn providers_are_set_replaced_and_cleared_without_touching_the_rest() {
    let (_dir, store) = store();
    let account = created_account(&store, &[]).await;
    let id = account.id.as_str();
    let before = raw(&store, id).unwrap();
    assert!(before.get("providers").is_none(), "{before}");

    store
        .set_account_providers(&account.id, &names(&["pagfast", "connectpsp"]))
        .await
        .unwrap();
    assert_eq!(
        store.get_account(&account.id).await,
        Ok(Some(Account {
            providers: names(&["pagfast", "connectpsp"]),
            refund_liability: Default::default(),
            ..account.clone()
        }))
    );
    let after = raw(&store, id).unwrap();
    assert_eq!(after["providers"], json!(["pagfast", "connectpsp"]));
    assert_eq!(without_providers(after), before);

    store
        .set_account_providers(&account.id, &names(&["sandbox"]))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_account(&account.id)
            .await
            .unwrap()
            .unwrap()
            .providers,
        names(&["sandbox"])
    );

    // Clearing removes the field: the value is again exactly what creation wrote.
    store.set_account_providers(&account.id, &[]).await.unwrap();
    assert_eq!(raw(&store, id), Some(before));
    assert_eq!(store.get_account(&account.id).await, Ok(Some(account)));
}

#[tokio::test]
async fn providers_set_and_given_at_creation_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let account = created_account(&store, &["connectpsp", "sandbox"]).await;
        store
            .set_account_providers(&account.id, &names(&["pagfast"]))
            .await
            .unwrap();
        account.id
    };
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let read = store.get_account(&id).await.unwrap().unwrap();
    assert_eq!(read.providers, names(&["pagfast"]));
}

#[tokio::test]
async fn accounts_written_before_providers_existed_read_and_update_keeping_every_field() {
    let (_dir, store) = store();
    let id = AccountId::generate();
    // An account value from before `providers`, plus a field this version does not know
    // (as a newer version could have written): the update must keep both intact.
    let old = json!({
        "id": id.as_str(),
        "name": "Loja Antiga Ltda",
        "merchant_name": "LOJA ANTIGA",
        "merchant_city": "RECIFE",
        "crypto_token_encrypted": "ciphertext-old",
        "created_at": "2024-01-15T10:30:00Z",
        "future_field": {"kept": true},
    });
    poke(&store, id.as_str(), old.to_string().as_bytes());

    let read = store.get_account(&id).await.unwrap().unwrap();
    assert_eq!(read.merchant_city, "RECIFE");
    assert!(read.providers.is_empty());

    store
        .set_account_providers(&id, &names(&["connectpsp"]))
        .await
        .unwrap();
    let updated = store.get_account(&id).await.unwrap().unwrap();
    assert_eq!(
        updated,
        Account {
            providers: names(&["connectpsp"]),
            refund_liability: Default::default(),
            ..read
        }
    );
    assert_eq!(without_providers(raw(&store, id.as_str()).unwrap()), old);
}

#[tokio::test]
async fn a_corrupt_account_is_reported_and_left_as_it_was() {
    let (_dir, store) = store();
    let id = AccountId::generate();
    poke(&store, id.as_str(), br#"{"name":"no id"}"#);
    let result = store.set_account_providers(&id, &names(&["pagfast"])).await;
    assert!(
        matches!(
            result,
            Err(AccountUpdateError::Store(StoreError::Corrupt(_)))
        ),
        "{result:?}"
    );
    assert_eq!(raw(&store, id.as_str()), Some(json!({"name": "no id"})));
}
