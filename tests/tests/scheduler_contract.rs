//! The payout-scheduler contract (`pixgw_tests::scheduler_contract`) run against every adapter
//! of `PayoutRunStore`: one `#[tokio::test]` per case per adapter. Embedded only for now; the
//! DynamoDB adapter adds `scheduler_contract_cases!(adapter_suite!(dynamodb, …))` here.
//!
//! - `embedded`: a fresh redb file in its own temporary directory per test.

use std::sync::Arc;

use pixgw_store_embedded::EmbeddedStore;
use pixgw_tests::scheduler_contract::Subject;

/// A fresh embedded store seen through both ports, plus its temporary directory.
async fn fresh_embedded() -> (Subject, Option<tempfile::TempDir>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("open embedded store"));
    let subject = Subject {
        store: store.clone(),
        runs: store,
    };
    (subject, Some(dir))
}

/// A fresh DynamoDB table seen through both ports (no directory to keep).
async fn fresh_dynamodb() -> (Subject, Option<tempfile::TempDir>) {
    let store = Arc::new(pixgw_tests::harness::fresh_dynamodb_store().await);
    let subject = Subject {
        store: store.clone(),
        runs: store,
    };
    (subject, None)
}

/// One module per adapter, one test per contract case.
macro_rules! adapter_suite {
    (
        $adapter:ident, $fresh:ident;
        sequential: [$($sequential:ident),* $(,)?],
        concurrent: [$($concurrent:ident),* $(,)?] $(,)?
    ) => {
        mod $adapter {
            use pixgw_tests::scheduler_contract as contract;

            $(
                #[tokio::test]
                async fn $sequential() {
                    let (subject, _dir) = super::$fresh().await;
                    contract::$sequential(subject).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $concurrent() {
                    let (subject, _dir) = super::$fresh().await;
                    contract::$concurrent(subject).await;
                }
            )*
        }
    };
}

pixgw_tests::scheduler_contract_cases!(adapter_suite!(embedded, fresh_embedded));
pixgw_tests::scheduler_contract_cases!(adapter_suite!(dynamodb, fresh_dynamodb));
