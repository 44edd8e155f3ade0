//! The storage contract (`pixgw_tests::contract`) run against every adapter: one
//! `#[tokio::test]` per case per adapter, e.g. `embedded::claim_is_exclusive` and
//! `dynamodb::claim_is_exclusive`.
//!
//! - `embedded`: a fresh redb file in its own temporary directory per test.
//! - `dynamodb`: a fresh table per test in DynamoDB Local, at `PIXGW_TEST_DYNAMODB_ENDPOINT`
//!   (`./scripts/test.sh` starts it and sets the variable). Without it these tests FAIL: a
//!   contract that silently skips its production adapter proves nothing.

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

async fn fresh_embedded() -> Fresh {
    fresh(Backend::Embedded).await
}

async fn fresh_dynamodb() -> Fresh {
    fresh(Backend::Dynamodb).await
}

/// One module per adapter, one test per contract case.
macro_rules! adapter_suite {
    (
        $adapter:ident, $fresh:ident;
        sequential: [$($sequential:ident),* $(,)?],
        concurrent: [$($concurrent:ident),* $(,)?] $(,)?
    ) => {
        mod $adapter {
            $(
                #[tokio::test]
                async fn $sequential() {
                    let fresh = super::$fresh().await;
                    pixgw_tests::contract::$sequential(fresh.store.clone()).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $concurrent() {
                    let fresh = super::$fresh().await;
                    pixgw_tests::contract::$concurrent(fresh.store.clone()).await;
                }
            )*
        }
    };
}

pixgw_tests::store_contract_cases!(adapter_suite!(embedded, fresh_embedded));
pixgw_tests::store_contract_cases!(adapter_suite!(dynamodb, fresh_dynamodb));
