//! The payout-scheduler contract (`pixgw_tests::scheduler_contract`) run against every adapter
//! of `PayoutRunStore`: one `#[tokio::test]` per case per adapter.
//!
//! - `embedded`: a fresh redb file in its own temporary directory per test.
//! - `dynamodb`: a fresh table in DynamoDB Local (started by `scripts/test.sh`); the `large`
//!   cases' table never has a stream (they read nothing from it, and DynamoDB Local slows
//!   every request to a streamed table down as stream records pile up).

use pixgw_tests::scheduler_contract::Subject;

/// One module per adapter, one test per contract case.
macro_rules! adapter_suite {
    (
        $adapter:ident, $fresh:ident, $fresh_large:ident;
        sequential: [$($sequential:ident),* $(,)?],
        concurrent: [$($concurrent:ident),* $(,)?],
        large: [$($large:ident),* $(,)?] $(,)?
    ) => {
        mod $adapter {
            use pixgw_tests::scheduler_contract as contract;

            $(
                #[tokio::test]
                async fn $sequential() {
                    let (subject, _dir) = super::Subject::$fresh().await;
                    contract::$sequential(subject).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $concurrent() {
                    let (subject, _dir) = super::Subject::$fresh().await;
                    contract::$concurrent(subject).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $large() {
                    let (subject, _dir) = super::Subject::$fresh_large().await;
                    contract::$large(subject).await;
                }
            )*
        }
    };
}

pixgw_tests::scheduler_contract_cases!(adapter_suite!(embedded, fresh_embedded, fresh_embedded));
pixgw_tests::scheduler_contract_cases!(adapter_suite!(
    dynamodb,
    fresh_dynamodb,
    fresh_dynamodb_without_stream
));
