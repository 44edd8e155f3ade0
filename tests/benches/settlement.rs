//! Settlement pipeline benchmark (run with `./scripts/bench.sh`, which starts the emulators).
//!
//! Reported as figures and ratios measured in the same run, never as pass/fail thresholds:
//! 1. Embedded mode: confirmed charges per second through the whole pipeline — sandbox pay
//!    (signed webhook, confirmation) → outbox relay → split calculator → payout executor (PIX
//!    transfer) → split PAID — against the bare store writes those stages need (confirm, book,
//!    settle with prebuilt commands), same store, same run. Twice: with the in-memory queues
//!    (the adapter before the journal, kept as the baseline) and with the journaled queues the
//!    local gateway runs, so the cost of durability is a ratio of the same run. The pipeline
//!    is driven one message at a time (the harness's `run_pipeline`), the worst case for the
//!    journal's group commit: every send, receive and ack pays its own fsync.
//! 2. DynamoDB (Local): items written per confirmed charge with k splits, counted by an SDK
//!    interceptor on every successful write call, against what the design needs and against
//!    the bare minimum any design with per-split records and a ledger needs.
//!
//! Env: `BENCH_CHARGES` (default 300), `PIXGW_TEST_DYNAMODB_ENDPOINT` and
//! `PIXGW_TEST_SQS_ENDPOINT` (required for part 2).

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use chrono::Utc;
use pixgw_domain::charge::ports::ConfirmCharge;
use pixgw_domain::flows::book_splits::booking;
use pixgw_domain::pix::clock::Clock;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::payment::{EndToEndId, EndToEndKind, Ispb, PaidBy, PayerBankData, Payment};
use pixgw_store_dynamodb::DynamoStore;
use pixgw_tests::harness::{
    Backend, Gateway, ManualClock, PipelineParts, dynamodb_endpoint, fresh_sqs_queues,
};
use serde_json::{Value, json};

fn charges() -> usize {
    std::env::var("BENCH_CHARGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// A charge of R$ 100 with `k` splits of R$ 1.00 each, the first `immediate` of them paid at
/// once.
fn body(k: usize, immediate: usize) -> Value {
    let splits: Vec<Value> = (0..k)
        .map(|i| {
            json!({"pixKey": format!("r{i}@example.com"), "pixKeyType": "EMAIL", "name": "Recebedor",
                   "document": "12345678909", "type": "FIXED", "value": 1.00, "immediate": i < immediate})
        })
        .collect();
    json!({
        "transaction": {"value": 100.00, "description": "Bench", "externalId": uuid::Uuid::new_v4().to_string()},
        "payer": {"fullName": "Maria Silva", "document": "12345678909"},
        "splits": splits
    })
}

async fn create(gw: &Gateway, token: &str, body: &Value) -> String {
    let response = gw.post("/api/pix/cash-in", token, body, None).await;
    assert_eq!(response.status, 201, "{:?}", response.body_json());
    response.body_json()["transactionId"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn pay(gw: &Gateway, token: &str, id: &str) {
    let path = format!("/api/sandbox/cash-in/{id}/pay");
    let response = gw.post(&path, token, &json!({}), None).await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
}

/// Part 1: charges/s through the whole pipeline, with `concurrency` payers, on in-memory or
/// journaled queues; returns the pipeline's time.
async fn embedded_section(n: usize, concurrency: usize, journaled: bool) -> Duration {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let parts = pixgw_tests::harness::fresh_embedded_pipeline(clock.clone(), journaled);
    let gw = Arc::new(Gateway::start_with(Backend::Embedded, clock, parts));
    let (_, token) = gw.merchant("Bench").await;
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(create(&gw, &token, &body(1, 1)).await);
    }

    let started = Instant::now();
    let chunks: Vec<Vec<String>> = ids
        .chunks(n.div_ceil(concurrency))
        .map(<[String]>::to_vec)
        .collect();
    let payers = chunks.into_iter().map(|chunk| {
        let gw = gw.clone();
        let token = token.clone();
        tokio::spawn(async move {
            for id in chunk {
                pay(&gw, &token, &id).await;
            }
        })
    });
    for payer in futures::future::join_all(payers).await {
        payer.expect("payer");
    }
    gw.run_pipeline().await;
    let pipeline = started.elapsed();
    let paid = gw.sandbox.transfers().len();
    assert_eq!(paid, n, "every immediate split paid exactly once");

    // Baseline: the three atomic writes the pipeline needs per charge, prebuilt and issued
    // straight at the store (no HTTP, signatures, queues, provider).
    let store = gw.state.store.clone();
    let mut bare_ids = Vec::with_capacity(n);
    for _ in 0..n {
        bare_ids.push(create(&gw, &token, &body(1, 1)).await);
    }
    let started = Instant::now();
    for id in &bare_ids {
        bare_writes(&gw, &store, id).await;
    }
    let bare = started.elapsed();

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let queues = if journaled {
        "journaled queues"
    } else {
        "in-memory queues"
    };
    println!(
        "embedded pipeline, {queues}, {n} charges (pay → CONFIRMED → booked → immediate split PAID), {concurrency} payers:"
    );
    println!(
        "  whole pipeline   {:>8.0} confirmed charges/s ({:.1} ms/charge)",
        rate(pipeline),
        pipeline.as_secs_f64() * 1000.0 / n as f64
    );
    println!(
        "  bare store writes{:>8.0} charges/s (confirm + book + settle, sequential)",
        rate(bare)
    );
    println!(
        "  ratio            {:>8.2}x the bare writes' time per charge",
        pipeline.as_secs_f64() / bare.as_secs_f64()
    );
    pipeline
}

/// confirm_charge + book_splits + settle_payout for one charge, built with the domain's own
/// builders, without any of the machinery around them.
async fn bare_writes(gw: &Gateway, store: &pixgw_api::store::DynStore, id: &str) {
    use pixgw_domain::error::WriteOutcome;
    use pixgw_domain::ledger::{Bucket, LedgerAccount, Movement, MovementKind};
    use pixgw_domain::payout::PayoutState;
    use pixgw_domain::payout::ports::SettlePayout;
    use pixgw_domain::split::entry::SplitState;

    let now = gw.clock.now();
    let id = TransactionId::parse(id).expect("id");
    let mut charge = store.get_charge(&id).await.expect("get").expect("charge");
    let ispb = Ispb::parse("00000000").expect("ispb");
    let payment = Payment {
        end_to_end_id: EndToEndId::generate(EndToEndKind::Payment, &ispb, now),
        paid_at: now,
        paid_by: PaidBy {
            name: "Maria".into(),
            document: "12345678909".into(),
            bank: PayerBankData::new(ispb, "1", "1").expect("bank"),
        },
        provider: "sandbox".into(),
        provider_event_id: "evt".into(),
    };
    let account = charge.account_id.clone();
    let confirm = ConfirmCharge {
        hold: None,
        transaction_id: id.clone(),
        account_id: account.clone(),
        payment: payment.clone(),
        confirmed_at: now,
        movement: Movement::transfer(
            MovementKind::ChargeConfirmed,
            &account,
            id.as_str(),
            LedgerAccount::PixNetwork,
            LedgerAccount::Merchant(account.clone(), Bucket::Incoming),
            charge.amount,
            now,
        )
        .expect("movement"),
        events: Vec::new(),
        outbox: Vec::new(),
    };
    assert_eq!(
        store.confirm_charge(&confirm).await.expect("confirm"),
        WriteOutcome::Applied
    );
    charge.status = pixgw_domain::charge::ChargeStatus::Confirmed;
    let mut book = booking(&charge, now).expect("booking");
    book.outbox.clear();
    assert_eq!(
        store.book_splits(&book).await.expect("book"),
        WriteOutcome::Applied
    );
    let mut payout = book.payouts[0].clone();
    payout.state = PayoutState::Paid;
    payout.end_to_end_id = Some(EndToEndId::generate(
        EndToEndKind::Payment,
        &ispb_sandbox(),
        now,
    ));
    let mut split = book.splits[0].clone();
    split.state = SplitState::Paid;
    split.end_to_end_id = payout.end_to_end_id.clone();
    let settle = SettlePayout {
        events: Vec::new(),
        movement: Some(
            Movement::transfer(
                MovementKind::PayoutPaid,
                &account,
                payout.id.as_str(),
                LedgerAccount::Merchant(account.clone(), Bucket::ReservedForSplits),
                LedgerAccount::PixNetwork,
                payout.amount,
                now,
            )
            .expect("movement"),
        ),
        payout,
        splits: vec![split],
        recipient: None,
        totals: None,
        outbox: Vec::new(),
    };
    assert_eq!(
        store.settle_payout(&settle).await.expect("settle"),
        WriteOutcome::Applied
    );
}

fn ispb_sandbox() -> Ispb {
    Ispb::parse(pixgw_providers::sandbox::SANDBOX_ISPB).expect("ispb")
}

/// Counts items written by successful DynamoDB write calls: each Put/Update/Delete of a
/// TransactWriteItems (ConditionChecks write nothing), and each PutItem/UpdateItem/DeleteItem.
#[derive(Debug, Default)]
struct WriteCounter(Arc<AtomicU64>);

#[derive(Debug, Clone)]
struct PendingWrites(u64);

impl Storable for PendingWrites {
    type Storer = StoreReplace<Self>;
}

impl Intercept for WriteCounter {
    fn name(&self) -> &'static str {
        "WriteCounter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let writes = if let Some(tx) = input.downcast_ref::<TransactWriteItemsInput>() {
            tx.transact_items()
                .iter()
                .filter(|i| i.put().is_some() || i.update().is_some() || i.delete().is_some())
                .count() as u64
        } else if input
            .downcast_ref::<aws_sdk_dynamodb::operation::put_item::PutItemInput>()
            .is_some()
            || input
                .downcast_ref::<aws_sdk_dynamodb::operation::update_item::UpdateItemInput>()
                .is_some()
            || input
                .downcast_ref::<aws_sdk_dynamodb::operation::delete_item::DeleteItemInput>()
                .is_some()
        {
            1
        } else {
            0
        };
        cfg.interceptor_state().store_put(PendingWrites(writes));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let succeeded = matches!(context.output_or_error(), Some(Ok(_)));
        if succeeded && let Some(PendingWrites(n)) = cfg.load::<PendingWrites>() {
            self.0.fetch_add(*n, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Part 2: items written per confirmed charge, pay → pipeline settled.
async fn dynamodb_section(samples: usize) {
    let endpoint = dynamodb_endpoint();
    let counter = Arc::new(AtomicU64::new(0));
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint.clone())
        .load()
        .await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(WriteCounter(counter.clone()))
        .build();
    let table = format!("pixgw-bench-{}", uuid::Uuid::new_v4().simple());
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    pixgw_store_dynamodb::create_table(&client, &table)
        .await
        .expect("create table");
    let store = DynamoStore::new(client, table.clone());
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let feed = pixgw_store_dynamodb::outbox::DynamoStreamFeed::connect(Some(endpoint), table).await;
    let parts = PipelineParts {
        store: Arc::new(store),
        feed: Arc::new(feed),
        queues: Arc::new(fresh_sqs_queues().await),
        dir: None,
    };
    let gw = Gateway::start_with(Backend::Dynamodb, clock, parts);
    let (_, token) = gw.merchant("Bench").await;

    println!(
        "DynamoDB items written per confirmed charge (pay → settled), {samples} charges each:"
    );
    println!("  splits (immediate)   measured   design   bare minimum");
    for (k, immediate) in [(0, 0), (1, 0), (3, 0), (10, 0), (1, 1), (3, 3)] {
        let mut ids = Vec::new();
        for _ in 0..samples {
            ids.push(create(&gw, &token, &body(k, immediate)).await);
        }
        let before = counter.load(Ordering::Relaxed);
        for id in &ids {
            pay(&gw, &token, id).await;
        }
        gw.run_pipeline().await;
        let written = (counter.load(Ordering::Relaxed) - before) as f64 / samples as f64;
        // confirm: charge + end-to-end guard + movement + balance shard + outbox + the
        // CASHIN_CONFIRMED event = 6;
        // book: k splits + k recipients (their running totals; the bench's recipients are
        // distinct) + movement + shard + per immediate split (payout + outbox) = 2k + 2 + 2i;
        // per immediate split, its netting (the payout's deductions decided) = 1, and its
        // settlement: payout + split + movement + shard + recipient + PAYOUT_PAID and
        // SPLIT_PAID events = 7.
        let design = 6 + 2 * k + 2 + 2 * immediate + immediate + 7 * immediate;
        // Any design with one record per split and a ledger: the charge, the k splits, one
        // ledger entry; plus per immediate split its payout record and its ledger entry.
        let minimum = 1 + k + 1 + 2 * immediate;
        println!(
            "  {k:>2} ({immediate:>2})              {written:>6.2}   {design:>6}   {minimum:>6}"
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it,
    // and then a tiny smoke run proves the benchmark still works without spending minutes.
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let n = if smoke { 10 } else { charges() };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let memory = embedded_section(n, 8, false).await;
        let journaled = embedded_section(n, 8, true).await;
        println!(
            "journaled / in-memory queues: {:.2}x the pipeline's time ({:.0} vs {:.0} charges/s)",
            journaled.as_secs_f64() / memory.as_secs_f64(),
            n as f64 / journaled.as_secs_f64(),
            n as f64 / memory.as_secs_f64()
        );
        dynamodb_section(if smoke { 2 } else { 20 }).await;
    });
}
