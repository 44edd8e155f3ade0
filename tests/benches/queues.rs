//! Local queue benchmark (run with `./scripts/bench.sh`): what journaling the in-process queues
//! costs, and what group commit buys back.
//!
//! N messages are sent one per call by S concurrent senders and received and acked one by one
//! by C concurrent consumers (every message: one send, one receive, one ack — three journal
//! writes). Reported as messages/s and as the ratio journaled / in-memory (the adapter before
//! the journal, the baseline), measured in the same run, at 1 and at 8 senders and consumers:
//! alone, each write pays its own fsync; concurrent writes share one commit.
//!
//! Env: `BENCH_MESSAGES` (default 2000).

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pixgw_domain::messaging::queue::{MessageQueue, OutgoingMessage, QueueName};
use pixgw_domain::pix::clock::SystemClock;
use pixgw_queue_local::{LocalQueueConfig, LocalQueues};

const Q: QueueName = QueueName::PayoutRequests;

fn messages() -> usize {
    std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// Sends `n` messages with `workers` senders while `workers` consumers take and ack them;
/// returns the time until the last ack.
async fn run(queues: Arc<LocalQueues>, n: usize, workers: usize) -> Duration {
    let acked = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let sender = queues.clone();
        tasks.spawn(async move {
            for i in (w..n).step_by(workers) {
                let body = format!("{{\"type\":\"CASH_OUT_REQUESTED\",\"n\":{i}}}");
                sender
                    .send(Q, OutgoingMessage::new(body))
                    .await
                    .expect("send");
            }
        });
        let (queues, acked) = (queues.clone(), acked.clone());
        tasks.spawn(async move {
            while acked.load(Ordering::Relaxed) < n {
                let got = queues
                    .receive(Q, 1, Duration::from_millis(50))
                    .await
                    .expect("receive");
                for message in got {
                    queues.ack(Q, &message.receipt).await.expect("ack");
                    acked.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while let Some(task) = tasks.join_next().await {
        task.expect("worker");
    }
    assert_eq!(
        queues.depth(Q).expect("depth"),
        (0, 0),
        "every message acked once"
    );
    started.elapsed()
}

fn main() {
    // `cargo test --all-targets` runs this binary without `--bench`: a tiny smoke run.
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let n = if smoke { 40 } else { messages() };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!("local queues, {n} messages (send + receive + ack each):");
        for workers in [1, 8] {
            let memory = run(
                Arc::new(LocalQueues::new(Arc::new(SystemClock))),
                n,
                workers,
            )
            .await;
            let dir = tempfile::tempdir().expect("temp dir");
            let journaled = LocalQueues::open_dir(
                dir.path(),
                Arc::new(SystemClock),
                LocalQueueConfig::default(),
            )
            .expect("journal");
            let journaled = run(Arc::new(journaled), n, workers).await;
            let rate = |d: Duration| n as f64 / d.as_secs_f64();
            println!(
                "  {workers} sender(s) + {workers} consumer(s): in-memory {:>9.0} msg/s   journaled {:>7.0} msg/s   journaled/in-memory time {:>6.1}x",
                rate(memory),
                rate(journaled),
                journaled.as_secs_f64() / memory.as_secs_f64()
            );
        }
    });
}
