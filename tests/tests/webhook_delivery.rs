//! Merchant webhooks end to end (`pixgw_tests::webhook_delivery`) against every store
//! adapter: one `#[tokio::test]` per case per adapter.
//!
//! - `embedded`: a fresh redb file in its own temporary directory per test.
//! - `dynamodb`: a fresh table in DynamoDB Local, read through its stream (run under
//!   `infra/scripts/emulators.sh run cargo test -p pixgw-tests --test webhook_delivery`;
//!   without the emulator these tests fail, they never skip).
//!
//! Both use in-process queues on the case's manual clock and a real HTTP receiver on
//! 127.0.0.1.

use pixgw_tests::webhook_delivery::Subject;

macro_rules! adapter_suite {
    ($adapter:ident, $fresh:ident; cases: [$($case:ident),* $(,)?] $(,)?) => {
        mod $adapter {
            use pixgw_tests::webhook_delivery as scenarios;

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    scenarios::$case(super::Subject::$fresh().await).await;
                }
            )*
        }
    };
}

pixgw_tests::webhook_delivery_cases!(adapter_suite!(embedded, fresh_embedded));
pixgw_tests::webhook_delivery_cases!(adapter_suite!(dynamodb, fresh_dynamodb));
