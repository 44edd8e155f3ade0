//! The settlement contract (`pixgw_tests::settlement_contract`) run against every adapter: one
//! `#[tokio::test]` per case per adapter, e.g. `embedded::confirm_applies_every_effect` and
//! `dynamodb::confirm_applies_every_effect`.
//!
//! - `embedded`: a fresh redb file in its own temporary directory per test (its outbox feed is
//!   checked too).
//! - `dynamodb`: a fresh table per test in DynamoDB Local, at `PIXGW_TEST_DYNAMODB_ENDPOINT`
//!   (`./scripts/test.sh` starts it and sets the variable). Without it these tests FAIL.

/// One module per adapter, one test per contract case.
macro_rules! adapter_suite {
    (
        $adapter:ident, $backend:ident;
        sequential: [$($sequential:ident),* $(,)?],
        concurrent: [$($concurrent:ident),* $(,)?] $(,)?
    ) => {
        mod $adapter {
            use pixgw_tests::harness::Backend;
            use pixgw_tests::settlement_contract::{self as contract, Subject};

            $(
                #[tokio::test]
                async fn $sequential() {
                    contract::$sequential(Subject::fresh(Backend::$backend).await).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $concurrent() {
                    contract::$concurrent(Subject::fresh(Backend::$backend).await).await;
                }
            )*
        }
    };
}

pixgw_tests::settlement_contract_cases!(adapter_suite!(embedded, Embedded));
pixgw_tests::settlement_contract_cases!(adapter_suite!(dynamodb, Dynamodb));
