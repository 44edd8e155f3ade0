//! The storage contract (`pixgw_tests::contract`) run against every adapter: one
//! `#[tokio::test]` per case per adapter, named `{adapter}::{aggregate}::{case}`, e.g.
//! `embedded::split::book_splits_creates_entries_payouts_and_movement` and
//! `dynamodb::split::book_splits_creates_entries_payouts_and_movement` (so
//! `cargo test --test store_contract split::` runs one aggregate's cases).
//!
//! - `embedded`: a fresh redb file in its own temporary directory per test.
//! - `dynamodb`: a fresh table per test in DynamoDB Local, at `PIXGW_TEST_DYNAMODB_ENDPOINT`
//!   (`infra/scripts/emulators.sh run …` starts it and sets the variable); only the cases that
//!   read the outbox (`streamed`, `concurrent`) get a table with a stream, read through it. Without the emulator these tests FAIL: a
//!   contract that silently skips its production adapter proves nothing.
//!
//! One binary for every aggregate: each test binary links the AWS SDK.

/// One module per adapter, one per aggregate inside it, one test per case.
macro_rules! adapter_suite {
    (
        $adapter:ident, $backend:ident;
        $(
            $module:ident {
                sequential: [$($sequential:ident),* $(,)?],
                streamed: [$($streamed:ident),* $(,)?],
                concurrent: [$($concurrent:ident),* $(,)?],
                large: [$($large:ident),* $(,)?] $(,)?
            }
        ),* $(,)?
    ) => {
        mod $adapter {
            $(
                mod $module {
                    use pixgw_tests::contract::{$module as cases, Subject};
                    use pixgw_tests::harness::Backend;

                    $(
                        #[tokio::test]
                        async fn $sequential() {
                            let subject = Subject::fresh_without_stream(Backend::$backend).await;
                            cases::$sequential(subject).await;
                        }
                    )*
                    $(
                        #[tokio::test]
                        async fn $streamed() {
                            cases::$streamed(Subject::fresh(Backend::$backend).await).await;
                        }
                    )*
                    $(
                        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                        async fn $concurrent() {
                            cases::$concurrent(Subject::fresh(Backend::$backend).await).await;
                        }
                    )*
                    $(
                        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                        async fn $large() {
                            let subject = Subject::fresh_without_stream(Backend::$backend).await;
                            cases::$large(subject).await;
                        }
                    )*
                }
            )*
        }
    };
}

pixgw_tests::store_contract_cases!(adapter_suite!(embedded, Embedded));
pixgw_tests::store_contract_cases!(adapter_suite!(dynamodb, Dynamodb));

/// DynamoDB's own layout, beside the contract because this runner already holds a DynamoDB
/// Local table per test (its home is `shared/store-dynamodb/tests/`, where it can move once
/// that crate's file map settles). The schedule item written with the account carries the
/// due-index keys of the crate docs, and a key-bounded Query on its `gsi1` partition finds it
/// exactly when it is due.
#[tokio::test]
async fn dynamodb_schedule_item_is_in_the_due_index() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use pixgw_domain::account::ports::AccountStore;
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
        refund_liability: Default::default(),
        created_at,
    };
    let credential = ClientCredential {
        client_id: format!("cli_{}", uuid::Uuid::new_v4().simple()),
        account_id: id.clone(),
        secret_hash: "hash".into(),
        created_at,
    };
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
    // 2026-01-01T12:00:00Z is 09:00 in São Paulo: the first run strictly after it is a day
    // later.
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
