//! The queue contract (`pixgw_tests::contract::queue`) run against every adapter: one test per
//! case per adapter, e.g. `local::stale_and_invalid_receipts` and
//! `sqs::stale_and_invalid_receipts`.
//!
//! - `local`: fresh in-process queues on a manual clock (visibility 30 s, max_receives 3);
//!   `advance` moves the clock instantly.
//! - `durable`: the same, journaled to a fresh file (what the local gateway runs): the journal
//!   must not change a single semantic.
//! - `sqs`: fresh queues under a unique prefix in moto at `PIXGW_TEST_SQS_ENDPOINT`
//!   (`./scripts/test.sh` starts it and sets the variable), visibility 2 s (60 s for the
//!   concurrent cases, which never wait it out), max_receives 3;
//!   `advance` really sleeps. Without the variable these tests FAIL: a contract that silently
//!   skips its production adapter proves nothing.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use pixgw_domain::messaging::queue::DynQueue;
use pixgw_queue_local::{LocalQueueConfig, LocalQueues};
use pixgw_tests::contract::queue::QueueFixture;
use pixgw_tests::harness::ManualClock;

const MAX_RECEIVES: u32 = 3;

struct LocalFixture {
    queues: Arc<LocalQueues>,
    clock: Arc<ManualClock>,
    /// The journal's directory (durable fixture only), removed with the fixture.
    _dir: Option<tempfile::TempDir>,
}

const LOCAL_VISIBILITY: Duration = Duration::from_secs(30);

async fn fresh_local() -> LocalFixture {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let config = LocalQueueConfig {
        visibility_timeout: LOCAL_VISIBILITY,
        max_receives: MAX_RECEIVES,
    };
    let queues = Arc::new(LocalQueues::with_default_config(clock.clone(), config));
    LocalFixture {
        queues,
        clock,
        _dir: None,
    }
}

async fn fresh_durable() -> LocalFixture {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let config = LocalQueueConfig {
        visibility_timeout: LOCAL_VISIBILITY,
        max_receives: MAX_RECEIVES,
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let queues = LocalQueues::open_dir(dir.path(), clock.clone(), config).expect("journal");
    LocalFixture {
        queues: Arc::new(queues),
        clock,
        _dir: Some(dir),
    }
}

#[async_trait]
impl QueueFixture for LocalFixture {
    fn queue(&self) -> DynQueue {
        self.queues.clone()
    }
    fn visibility(&self) -> Duration {
        LOCAL_VISIBILITY
    }
    fn max_receives(&self) -> u32 {
        MAX_RECEIVES
    }
    async fn advance(&self, by: Duration) {
        self.clock
            .advance(chrono::Duration::from_std(by).expect("small duration"));
        self.queues.wake();
    }
}

const SQS_VISIBILITY: Duration = Duration::from_secs(2);
/// Concurrent cases never wait past visibility; they only need no redelivery while four
/// consumers ack in turn, which 2 s did not guarantee on a busy 2-core machine.
const SQS_CONCURRENT_VISIBILITY: Duration = Duration::from_secs(60);

struct SqsFixture {
    queues: Arc<pixgw_queue_sqs::SqsQueues>,
    visibility: Duration,
}

async fn fresh_sqs() -> SqsFixture {
    sqs_with_visibility(SQS_VISIBILITY).await
}

async fn fresh_sqs_concurrent() -> SqsFixture {
    sqs_with_visibility(SQS_CONCURRENT_VISIBILITY).await
}

async fn sqs_with_visibility(visibility: Duration) -> SqsFixture {
    let endpoint = pixgw_tests::harness::sqs_endpoint();
    let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
    let queues = pixgw_queue_sqs::SqsQueues::connect(Some(endpoint.clone()), prefix.clone()).await;
    pixgw_queue_sqs::create_queues(queues.client(), &prefix, visibility, MAX_RECEIVES)
        .await
        .unwrap_or_else(|e| panic!("cannot create queues {prefix}-* at {endpoint}: {e}"));
    SqsFixture {
        queues: Arc::new(queues),
        visibility,
    }
}

#[async_trait]
impl QueueFixture for SqsFixture {
    fn queue(&self) -> DynQueue {
        self.queues.clone()
    }
    fn visibility(&self) -> Duration {
        self.visibility
    }
    fn max_receives(&self) -> u32 {
        MAX_RECEIVES
    }
    async fn advance(&self, by: Duration) {
        tokio::time::sleep(by).await;
    }
}

/// One module per adapter, one test per contract case.
macro_rules! adapter_suite {
    (
        $adapter:ident, $fresh:ident, $fresh_concurrent:ident;
        sequential: [$($sequential:ident),* $(,)?],
        concurrent: [$($concurrent:ident),* $(,)?] $(,)?
    ) => {
        mod $adapter {
            $(
                #[tokio::test]
                async fn $sequential() {
                    let fixture = super::$fresh().await;
                    pixgw_tests::contract::queue::$sequential(&fixture).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $concurrent() {
                    let fixture = super::$fresh_concurrent().await;
                    pixgw_tests::contract::queue::$concurrent(&fixture).await;
                }
            )*
        }
    };
}

pixgw_tests::queue_contract_cases!(adapter_suite!(local, fresh_local, fresh_local));
pixgw_tests::queue_contract_cases!(adapter_suite!(durable, fresh_durable, fresh_durable));
pixgw_tests::queue_contract_cases!(adapter_suite!(sqs, fresh_sqs, fresh_sqs_concurrent));
