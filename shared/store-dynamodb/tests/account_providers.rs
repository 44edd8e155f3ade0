//! An account's provider order and refund policy against DynamoDB Local: each set (and the
//! order replaced and cleared) with one conditional update that changes nothing else on the
//! item, refused for an unknown account (without creating a stray item), and account items
//! written before the fields existed still read (with the default order, MERCHANT) and update.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{T0_MS, at_ms, fresh_store};
use pixgw_domain::account::ports::{AccountStore, AccountUpdateError};
use pixgw_domain::account::{Account, ClientCredential};
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::refund::RefundLiability;
use pixgw_store_dynamodb::DynamoStore;

type Item = HashMap<String, AttributeValue>;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|n| (*n).to_owned()).collect()
}

async fn created_account(store: &DynamoStore, providers: &[&str]) -> Account {
    let account = Account {
        id: AccountId::generate(),
        name: "Loja Exemplo Ltda".into(),
        merchant_name: "LOJA EXEMPLO".into(),
        merchant_city: "SAO PAULO".into(),
        crypto_token_encrypted: "enc:v1:abc".into(),
        providers: names(providers),
        refund_liability: RefundLiability::Merchant,
        created_at: at_ms(T0_MS),
    };
    let credential = ClientCredential {
        client_id: format!("client-{}", account.id),
        account_id: account.id.clone(),
        secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: at_ms(T0_MS),
    };
    store
        .create_account(&account, &credential)
        .await
        .expect("create account");
    account
}

fn account_key(id: &AccountId) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(format!("ACCOUNT#{id}"))),
        ("sk".to_owned(), AttributeValue::S("ACCOUNT".to_owned())),
    ])
}

/// The account item exactly as stored, to see what an update touched.
async fn raw_account(store: &DynamoStore, id: &AccountId) -> Option<Item> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(account_key(id)))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
}

fn without_providers(mut item: Item) -> Item {
    item.remove("providers");
    item
}

#[tokio::test]
async fn providers_are_set_replaced_and_cleared_without_touching_the_rest() {
    let store = fresh_store().await;
    let account = created_account(&store, &[]).await;
    let before = raw_account(&store, &account.id).await.expect("item");
    assert!(!before.contains_key("providers"), "{before:?}");

    store
        .set_account_providers(&account.id, &names(&["pagfast", "connectpsp"]))
        .await
        .expect("set");
    let read = store
        .get_account(&account.id)
        .await
        .expect("get")
        .expect("account");
    assert_eq!(read.providers, names(&["pagfast", "connectpsp"]));
    assert_eq!(
        read,
        Account {
            providers: names(&["pagfast", "connectpsp"]),
            ..account.clone()
        }
    );
    let after = raw_account(&store, &account.id).await.expect("item");
    // Stored as an ordered list (not a string set, which has no order).
    assert_eq!(
        after.get("providers"),
        Some(&AttributeValue::L(vec![
            AttributeValue::S("pagfast".into()),
            AttributeValue::S("connectpsp".into()),
        ]))
    );
    assert_eq!(without_providers(after), before);

    store
        .set_account_providers(&account.id, &names(&["sandbox"]))
        .await
        .expect("replace");
    assert_eq!(
        store
            .get_account(&account.id)
            .await
            .expect("get")
            .expect("account")
            .providers,
        names(&["sandbox"])
    );

    // Clearing removes the attribute: the item is again exactly what creation wrote.
    store
        .set_account_providers(&account.id, &[])
        .await
        .expect("clear");
    assert_eq!(raw_account(&store, &account.id).await, Some(before));
    assert_eq!(store.get_account(&account.id).await, Ok(Some(account)));
}

#[tokio::test]
async fn account_items_written_before_providers_existed_still_read_and_update() {
    let store = fresh_store().await;
    let id = AccountId::generate();
    // The account item as the adapter wrote it before `providers` was a field.
    let mut old = account_key(&id);
    for (name, value) in [
        ("entity", "ACCOUNT"),
        ("id", id.as_str()),
        ("name", "Loja Antiga Ltda"),
        ("merchant_name", "LOJA ANTIGA"),
        ("merchant_city", "RECIFE"),
        ("crypto_token_encrypted", "enc:v1:old"),
        ("created_at", "2024-01-15T10:30:00Z"),
    ] {
        old.insert(name.to_owned(), AttributeValue::S(value.to_owned()));
    }
    store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(old.clone()))
        .send()
        .await
        .expect("PutItem");

    let read = store.get_account(&id).await.expect("get").expect("account");
    assert_eq!(read.name, "Loja Antiga Ltda");
    assert_eq!(read.merchant_city, "RECIFE");
    assert_eq!(read.created_at, at_ms(T0_MS));
    assert!(read.providers.is_empty());
    assert_eq!(read.refund_liability, RefundLiability::Merchant);

    store
        .set_account_providers(&id, &names(&["connectpsp"]))
        .await
        .expect("set on an old item");
    let updated = store.get_account(&id).await.expect("get").expect("account");
    assert_eq!(
        updated,
        Account {
            providers: names(&["connectpsp"]),
            ..read.clone()
        }
    );
    let raw = raw_account(&store, &id).await.expect("item");
    assert_eq!(without_providers(raw), old);

    store
        .set_refund_liability(&id, RefundLiability::Proportional)
        .await
        .expect("set the policy on an old item");
    assert_eq!(
        store.get_account(&id).await.expect("get").expect("account"),
        Account {
            providers: names(&["connectpsp"]),
            refund_liability: RefundLiability::Proportional,
            ..read
        }
    );
}

fn without_liability(mut item: Item) -> Item {
    item.remove(LIABILITY);
    item
}

/// The account item's attribute holding the refund policy (serde's field name).
const LIABILITY: &str = "refund_liability";

#[tokio::test]
async fn the_refund_policy_is_set_without_touching_the_rest() {
    let store = fresh_store().await;
    let account = created_account(&store, &["pagfast"]).await;
    let before = raw_account(&store, &account.id).await.expect("item");
    assert_eq!(
        before.get(LIABILITY),
        Some(&AttributeValue::S("MERCHANT".into()))
    );

    store
        .set_refund_liability(&account.id, RefundLiability::Proportional)
        .await
        .expect("set");
    assert_eq!(
        store.get_account(&account.id).await,
        Ok(Some(Account {
            refund_liability: RefundLiability::Proportional,
            ..account.clone()
        }))
    );
    let after = raw_account(&store, &account.id).await.expect("item");
    assert_eq!(
        after.get(LIABILITY),
        Some(&AttributeValue::S("PROPORTIONAL".into()))
    );
    assert_eq!(without_liability(after), without_liability(before.clone()));

    // And back: the item is again exactly what creation wrote.
    store
        .set_refund_liability(&account.id, RefundLiability::Merchant)
        .await
        .expect("set back");
    assert_eq!(raw_account(&store, &account.id).await, Some(before));
    assert_eq!(store.get_account(&account.id).await, Ok(Some(account)));
}

#[tokio::test]
async fn updates_of_an_unknown_account_are_refused_without_a_stray_item() {
    let store = fresh_store().await;
    let id = AccountId::generate();
    assert_eq!(
        store
            .set_refund_liability(&id, RefundLiability::Proportional)
            .await,
        Err(AccountUpdateError::AccountNotFound)
    );
    assert_eq!(
        store.set_account_providers(&id, &names(&["sandbox"])).await,
        Err(AccountUpdateError::AccountNotFound)
    );
    assert_eq!(
        store.set_account_providers(&id, &[]).await,
        Err(AccountUpdateError::AccountNotFound)
    );
    assert_eq!(raw_account(&store, &id).await, None);
    assert_eq!(store.get_account(&id).await, Ok(None));
}
