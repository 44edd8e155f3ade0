//! The payout-schedule contract (`pixgw_tests::schedule_contract`) run against every adapter:
//! one `#[tokio::test]` per case per adapter, e.g. `embedded::new_account_has_the_default_schedule`
//! and `dynamodb::new_account_has_the_default_schedule`; plus the DynamoDB item layout the
//! payout scheduler's due-index query relies on.
//!
//! - `embedded`: a fresh redb file in its own temporary directory per test.
//! - `dynamodb`: a fresh table per test in DynamoDB Local, at `PIXGW_TEST_DYNAMODB_ENDPOINT`
//!   (`./scripts/test.sh` starts it and sets the variable). Without it these tests FAIL.

use pixgw_api::store::DynStore;
use pixgw_tests::harness::{Backend, fresh_store};

/// A fresh, empty store plus whatever must live as long as it (the temporary directory).
struct Fresh {
    store: DynStore,
    _keep: Option<tempfile::TempDir>,
}

async fn fresh(backend: Backend) -> Fresh {
    let (store, keep) = fresh_store(backend).await;
    Fresh { store, _keep: keep }
}

/// One module per adapter, one test per contract case.
macro_rules! adapter_suite {
    (
        $adapter:ident, $backend:ident;
        sequential: [$($sequential:ident),* $(,)?],
        concurrent: [$($concurrent:ident),* $(,)?] $(,)?
    ) => {
        mod $adapter {
            use pixgw_tests::harness::Backend;
            use pixgw_tests::schedule_contract as contract;

            $(
                #[tokio::test]
                async fn $sequential() {
                    let fresh = super::fresh(Backend::$backend).await;
                    contract::$sequential(fresh.store.clone()).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $concurrent() {
                    let fresh = super::fresh(Backend::$backend).await;
                    contract::$concurrent(fresh.store.clone()).await;
                }
            )*
        }
    };
}

pixgw_tests::schedule_contract_cases!(adapter_suite!(embedded, Embedded));
pixgw_tests::schedule_contract_cases!(adapter_suite!(dynamodb, Dynamodb));

/// The schedule item carries the due-index keys of the crate docs, and a key-bounded Query on
/// its `gsi1` partition finds it exactly when it is due.
#[tokio::test]
async fn dynamodb_schedule_item_is_in_the_due_index() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use pixgw_domain::account::{Account, ClientCredential};
    use pixgw_domain::ledger::balance_shard;
    use pixgw_domain::pix::ids::AccountId;
    use pixgw_store_dynamodb::keys::{account_pk, primary_key};

    let store = pixgw_tests::harness::fresh_dynamodb_store().await;
    let id = AccountId::generate();
    let created_at = chrono::DateTime::from_timestamp_millis(1_767_268_800_000).expect("instant");
    let account = Account {
        id: id.clone(),
        name: "Indexada".into(),
        merchant_name: "INDEXADA".into(),
        merchant_city: "SAO PAULO".into(),
        crypto_token_encrypted: "v1:x".into(),
        providers: Vec::new(),
        created_at,
    };
    let credential = ClientCredential {
        client_id: format!("cli_{}", uuid::Uuid::new_v4().simple()),
        account_id: id.clone(),
        secret_hash: "hash".into(),
        created_at,
    };
    use pixgw_domain::account::ports::AccountStore;
    store
        .create_account(&account, &credential)
        .await
        .expect("create account");

    let item = store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(primary_key(account_pk(&id), "SCHEDULE")))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("schedule item written with the account");
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    // 2026-01-01T12:00:00Z is 09:00 in São Paulo: the first run strictly after it is a day later.
    let next_ms = 1_767_268_800_000_i64 + 86_400_000;
    let shard = balance_shard(id.as_str()) % 16;
    assert_eq!(text("entity").as_deref(), Some("SCHEDULE"));
    assert_eq!(text("gsi1pk"), Some(format!("PAYOUT_SCHEDULES#{shard:02}")));
    assert_eq!(text("gsi1sk"), Some(format!("{next_ms:015}#{id}")));
    assert_eq!(text("frequency").as_deref(), Some("DAILY"));
    assert_eq!(text("time").as_deref(), Some("09:00"));
    assert!(!item.contains_key("weekday") && !item.contains_key("dayOfMonth"));
    let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).cloned();
    assert_eq!(number("nextRunAtMs"), Some(next_ms.to_string()));
    assert_eq!(number("version").as_deref(), Some("1"));

    // The scheduler's query: due at or before t = gsi1sk < {t + 1 ms:015}.
    let due_at = |t: i64| {
        let store = &store;
        async move {
            store
                .client()
                .query()
                .table_name(store.table())
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :pk AND gsi1sk < :bound")
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(format!("PAYOUT_SCHEDULES#{shard:02}")),
                )
                .expression_attribute_values(":bound", AttributeValue::S(format!("{:015}", t + 1)))
                .send()
                .await
                .expect("Query gsi1")
                .items
                .unwrap_or_default()
                .len()
        }
    };
    // GSIs are eventually consistent: give DynamoDB Local a moment to index the item.
    let mut found = 0;
    for _ in 0..50 {
        found = due_at(next_ms).await;
        if found == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(found, 1);
    assert_eq!(due_at(next_ms - 1).await, 0, "not due a millisecond before");
}
