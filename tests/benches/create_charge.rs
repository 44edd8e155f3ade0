//! Create-charge benchmark (run with `./scripts/bench.sh`, which starts DynamoDB Local).
//!
//! Reported as ratios against baselines measured in the same run, never as absolute pass/fail
//! thresholds (these machines are noisy):
//! 1. DynamoDB: `POST /api/pix/cash-in` through the whole API (JWT, validation, BR Code,
//!    idempotency, the adapter) vs the bare DynamoDB calls that request makes, issued directly
//!    with the SDK: GetItem (account) + PutItem (idempotency claim) + TransactWriteItems
//!    (charge + externalId guard + idempotency completion).
//! 2. Embedded: create-charge throughput through the whole API at several concurrencies,
//!    req/s and p50/p99 latency, against the bare embedded store insert as the baseline.
//!
//! Env: `BENCH_REQUESTS` (default 400), `PIXGW_TEST_DYNAMODB_ENDPOINT` (required).

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::Utc;
use pixgw_api::accounts::create_account;
use pixgw_api::store::DynStore;
use pixgw_domain::charge::record::ChargeRecord;
use pixgw_domain::pix::clock::Clock;
use pixgw_domain::pix::ids::AccountId;
use pixgw_store_dynamodb::DynamoStore;
use pixgw_tests::harness::{Backend, Gateway};
use serde_json::{Value, json};

fn requests() -> usize {
    std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

fn body(i: usize) -> Value {
    json!({
        "transaction": {"value": 200.00, "description": "Pedido #12345 - Marketplace", "externalId": format!("BENCH-{i}-{}", uuid::Uuid::new_v4().simple())},
        "payer": {"fullName": "João Pereira", "document": "12345678909"},
        "splits": [
            {"pixKey": "vendedor@email.com", "pixKeyType": "EMAIL", "name": "Loja do João", "document": "11222333000181", "type": "PERCENTAGE", "value": 70},
            {"pixKey": "11222333000181", "pixKeyType": "CNPJ", "name": "Marketplace Ltda", "document": "11222333000181", "type": "PERCENTAGE", "value": 20},
            {"pixKey": "+5511999887766", "pixKeyType": "PHONE", "name": "Entregador Silva", "document": "98765432100", "type": "FIXED", "value": 10.00}
        ]
    })
}

struct Stats {
    count: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn new(elapsed: Duration, mut latencies: Vec<Duration>) -> Stats {
        latencies.sort();
        Stats {
            count: latencies.len(),
            elapsed,
            latencies,
        }
    }
    fn merge(parts: Vec<Stats>) -> Stats {
        let elapsed = parts.iter().map(|p| p.elapsed).sum();
        Stats::new(
            elapsed,
            parts.into_iter().flat_map(|p| p.latencies).collect(),
        )
    }

    fn pct(&self, p: f64) -> Duration {
        let idx = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies.get(idx).copied().unwrap_or_default()
    }
    fn rps(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }
    fn line(&self, label: &str) -> String {
        format!(
            "{label:<44} {:>8.1} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms",
            self.rps(),
            self.pct(0.50).as_secs_f64() * 1e3,
            self.pct(0.99).as_secs_f64() * 1e3
        )
    }
}

/// Runs `n` calls of `op` with `concurrency` workers, recording each call's latency.
async fn drive<F, Fut>(n: usize, concurrency: usize, op: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (op, next) = (op.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        break latencies;
                    }
                    let t = Instant::now();
                    op(i).await;
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    for worker in workers {
        all.extend(worker.await.expect("worker"));
    }
    Stats::new(started.elapsed(), all)
}

async fn api_create(gw: Arc<Gateway>, token: Arc<String>, n: usize, concurrency: usize) -> Stats {
    drive(n, concurrency, move |i| {
        let (gw, token) = (gw.clone(), token.clone());
        async move {
            let key = uuid::Uuid::new_v4().to_string();
            let response = gw
                .post("/api/pix/cash-in", &token, &body(i), Some(&key))
                .await;
            assert_eq!(response.status, 201, "{}", response.body_json());
        }
    })
    .await
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// The DynamoDB calls of one create-charge request, made directly with the SDK.
async fn bare_dynamodb(
    store: Arc<DynamoStore>,
    account: AccountId,
    template: ChargeRecord,
    n: usize,
    concurrency: usize,
) -> Stats {
    drive(n, concurrency, move |_| {
        let (store, account, mut record) = (store.clone(), account.clone(), template.clone());
        async move {
            let client = store.client();
            let table = store.table().to_owned();
            let now = Utc::now().timestamp_millis();
            let key = uuid::Uuid::new_v4().to_string();
            let id = uuid::Uuid::new_v4().simple().to_string();
            record.transaction_id = id.clone();
            record.external_id = format!("BARE-{id}");
            client
                .get_item()
                .table_name(&table)
                .key("pk", s(format!("ACCOUNT#{account}")))
                .key("sk", s("ACCOUNT"))
                .consistent_read(true)
                .send()
                .await
                .expect("get account");
            let idem_pk = format!("ACCOUNT#{account}#IDEM#{key}");
            client
                .put_item()
                .table_name(&table)
                .item("pk", s(&idem_pk))
                .item("sk", s("IDEM"))
                .item("state", s("IN_PROGRESS"))
                .item("requestHash", s("0".repeat(64)))
                .item("lockToken", s(&key))
                .item(
                    "leaseUntilMs",
                    AttributeValue::N((now + 60_000).to_string()),
                )
                .item(
                    "expiresAtMs",
                    AttributeValue::N((now + 86_400_000).to_string()),
                )
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await
                .expect("claim");
            let mut item: std::collections::HashMap<String, AttributeValue> =
                serde_dynamo::to_item(&record).expect("item");
            item.insert("pk".into(), s(format!("CHARGE#{id}")));
            item.insert("sk".into(), s("CHARGE"));
            item.insert("gsi1pk".into(), s(format!("ACCOUNT#{account}#CHARGES")));
            item.insert("gsi1sk".into(), s(format!("{now:015}#{id}")));
            item.insert(
                "gsi2pk".into(),
                s(format!("ACCOUNT#{account}#CHARGES#PENDING")),
            );
            item.insert("gsi2sk".into(), s(format!("{now:015}#{id}")));
            let put = |item| {
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&table)
                            .set_item(Some(item))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()
                            .expect("put"),
                    )
                    .build()
            };
            let guard = [
                (
                    "pk".to_owned(),
                    s(format!("ACCOUNT#{account}#EXTID#{}", record.external_id)),
                ),
                ("sk".to_owned(), s("EXTID")),
                ("transactionId".to_owned(), s(&id)),
            ]
            .into_iter()
            .collect();
            let complete = TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&table)
                        .key("pk", s(&idem_pk))
                        .key("sk", s("IDEM"))
                        .update_expression(
                            "SET #state = :done, responseStatus = :status, responseBody = :body",
                        )
                        .condition_expression("#state = :running AND lockToken = :token")
                        .expression_attribute_names("#state", "state")
                        .expression_attribute_values(":done", s("COMPLETED"))
                        .expression_attribute_values(":running", s("IN_PROGRESS"))
                        .expression_attribute_values(":token", s(&key))
                        .expression_attribute_values(":status", AttributeValue::N("201".into()))
                        .expression_attribute_values(":body", s("x".repeat(2500)))
                        .build()
                        .expect("update"),
                )
                .build();
            client
                .transact_write_items()
                .transact_items(put(item))
                .transact_items(put(guard))
                .transact_items(complete)
                .send()
                .await
                .expect("transaction");
        }
    })
    .await
}

async fn dynamodb_section(n: usize) {
    println!(
        "== DynamoDB Local: create-charge through the API vs the bare DynamoDB calls it makes =="
    );
    let gw = Arc::new(Gateway::start(Backend::Dynamodb).await);
    let (credentials, token) = gw.merchant("Bench Ltda").await;
    let token = Arc::new(token);
    // A second store on its own fresh table for the bare calls, with the same account layout.
    let bare_store = Arc::new(pixgw_tests::harness::fresh_dynamodb_store().await);
    let bare_dyn: DynStore = bare_store.clone();
    let keys = pixgw_tests::harness::test_keys();
    let bare_account = create_account(&bare_dyn, &keys, "Bare", "SAO PAULO", gw.clock.now())
        .await
        .expect("account");
    let bare_account = AccountId::parse(&bare_account.account_id).expect("id");
    let _ = credentials;

    // A realistic stored charge to copy: create one through the API and read its record.
    let sample = gw
        .post("/api/pix/cash-in", &token, &body(0), None)
        .await
        .body_json();
    let sample_id =
        pixgw_domain::pix::ids::TransactionId::parse(sample["transactionId"].as_str().expect("id"))
            .expect("id");
    let charge = gw
        .state
        .store
        .get_charge(&sample_id)
        .await
        .expect("get")
        .expect("charge");
    let template = ChargeRecord::from(&charge);

    // Warm up both paths (connections, JIT-free but caches and DynamoDB Local's JVM).
    api_create(gw.clone(), token.clone(), 50, 4).await;
    bare_dynamodb(
        bare_store.clone(),
        bare_account.clone(),
        template.clone(),
        50,
        4,
    )
    .await;

    for concurrency in [1, 8] {
        // Alternate halves (bare, API, bare, API) so table growth and machine noise hit
        // both sides alike.
        let mut bare = Vec::new();
        let mut api = Vec::new();
        for _ in 0..2 {
            let (store, account) = (bare_store.clone(), bare_account.clone());
            bare.push(bare_dynamodb(store, account, template.clone(), n / 2, concurrency).await);
            api.push(api_create(gw.clone(), token.clone(), n / 2, concurrency).await);
        }
        let (bare, api) = (Stats::merge(bare), Stats::merge(api));
        println!(
            "{}",
            bare.line(&format!("bare DynamoDB calls (concurrency {concurrency})"))
        );
        println!(
            "{}",
            api.line(&format!(
                "POST /api/pix/cash-in (concurrency {concurrency})"
            ))
        );
        println!(
            "ratio API / bare: p50 {:.2}x   p99 {:.2}x   throughput {:.2}x",
            api.pct(0.5).as_secs_f64() / bare.pct(0.5).as_secs_f64(),
            api.pct(0.99).as_secs_f64() / bare.pct(0.99).as_secs_f64(),
            api.rps() / bare.rps()
        );
    }
}

async fn embedded_section(n: usize) {
    println!("== Embedded store: create-charge throughput on this machine ==");
    let gw = Arc::new(Gateway::start(Backend::Embedded).await);
    let (_, token) = gw.merchant("Bench Ltda").await;
    let token = Arc::new(token);
    api_create(gw.clone(), token.clone(), 50, 4).await;
    for concurrency in [1, 4, 16] {
        let stats = api_create(gw.clone(), token.clone(), n * 2, concurrency).await;
        println!(
            "{}",
            stats.line(&format!(
                "POST /api/pix/cash-in (concurrency {concurrency})"
            ))
        );
    }
    // Baseline: the bare store insert (one redb write transaction + fsync) per charge.
    let sample = gw
        .post("/api/pix/cash-in", &token, &body(0), None)
        .await
        .body_json();
    let id =
        pixgw_domain::pix::ids::TransactionId::parse(sample["transactionId"].as_str().expect("id"))
            .expect("id");
    let charge = gw
        .state
        .store
        .get_charge(&id)
        .await
        .expect("get")
        .expect("charge");
    let store = gw.state.store.clone();
    let bare = drive(n * 2, 4, move |_| {
        let (store, mut charge) = (store.clone(), charge.clone());
        async move {
            charge.transaction_id = pixgw_domain::pix::ids::TransactionId::generate();
            charge.external_id = format!("BARE-{}", charge.transaction_id);
            store.insert_charge(&charge, None).await.expect("insert");
        }
    })
    .await;
    println!(
        "{}",
        bare.line("bare embedded insert_charge (concurrency 4)")
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it,
    // and then a tiny smoke run proves the benchmark still works without spending minutes.
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let n = if smoke { 20 } else { requests() };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        embedded_section(n).await;
        dynamodb_section(n).await;
    });
}
