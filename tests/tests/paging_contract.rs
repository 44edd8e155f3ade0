//! The paging contract (`pixgw_tests::paging_contract`) run against every storage adapter:
//! one `#[tokio::test]` per listing per adapter, e.g. `embedded::the_statement_walks_exactly`
//! and `dynamodb::the_statement_walks_exactly`.
//!
//! - `embedded`: a fresh redb file in its own temporary directory per test.
//! - `dynamodb`: a fresh table per test in DynamoDB Local, at `PIXGW_TEST_DYNAMODB_ENDPOINT`
//!   (`./scripts/test.sh` starts it and sets the variable); without it these tests FAIL. The
//!   table never has a stream: the cases read nothing from it, and DynamoDB Local slows every
//!   request to a streamed table down as stream records pile up (a few thousand items here).

use std::sync::Arc;

use pixgw_api::store::DynStore;
use pixgw_tests::harness::{Backend, fresh_dynamodb_store_without_stream, fresh_store};
use tempfile::TempDir;

async fn fresh_embedded() -> (DynStore, Option<TempDir>) {
    fresh_store(Backend::Embedded).await
}

async fn fresh_dynamodb() -> (DynStore, Option<TempDir>) {
    (Arc::new(fresh_dynamodb_store_without_stream().await), None)
}

/// One module per adapter, one test per listing.
macro_rules! adapter_suite {
    ($adapter:ident, $fresh:ident; cases: [$($case:ident),* $(,)?] $(,)?) => {
        mod $adapter {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (store, _dir) = super::$fresh().await;
                    pixgw_tests::paging_contract::$case(store).await;
                }
            )*
        }
    };
}

pixgw_tests::paging_contract_cases!(adapter_suite!(embedded, fresh_embedded));
pixgw_tests::paging_contract_cases!(adapter_suite!(dynamodb, fresh_dynamodb));
