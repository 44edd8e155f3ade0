//! Payout-scheduler benchmark (run with `./scripts/bench.sh`, which starts the emulators).
//!
//! ONE `PayoutScheduler::run_due` over N due SCHEDULED splits of one account (1,000
//! recipients, 10 splits per charge, booked through the real write path: insert, confirm,
//! `book_splits`), on the embedded store (redb in a temporary directory) and on DynamoDB Local
//! (a fresh table per case). Reported as figures and ratios measured in the same run, never as
//! pass/fail thresholds (these machines are noisy):
//! - seeding time (not part of the run);
//! - the run's wall time and splits/s, against a same-run baseline: the bare store calls the
//!   run cannot avoid — paging every due split with `scheduled_splits_page`, nothing else;
//! - DynamoDB: the calls the run made (count and mean latency per operation, timed by an SDK
//!   interceptor) and how much of the run was spent waiting for DynamoDB Local (at least one
//!   call in flight) against the rest (our code, the SDK, the machine);
//! - the heap during the run, counted by this binary's global allocator: peak, peak minus the
//!   heap right before the run (the figure that matters: on the embedded store the absolute
//!   heap includes redb's page cache, filled by the seeding), and what is still allocated
//!   after it;
//! - the growth between consecutive sizes: time should grow like N (linear), the heap much
//!   less (the scheduler holds one page of splits, never all of them).
//!
//! Every run is verified before its figures count: all N splits PROCESSING in a payout, one
//! payout per recipient, Σ payouts = Σ splits to the cent, every manifest complete.
//!
//! Without `--bench` (`cargo test --all-targets` runs this binary so) it is a smoke run of 200
//! splits per backend. Env: `PIXGW_BENCH_SIZES` (default `10000,100000`; multiples of 10),
//! `PIXGW_BENCH_BACKENDS` (default `embedded,dynamodb`), `PIXGW_BENCH_PAGE_SIZE` and
//! `PIXGW_BENCH_CONCURRENCY` (default: the scheduler's own defaults),
//! `PIXGW_BENCH_SEED_CONCURRENCY` (default 8),
//! `PIXGW_BENCH_DYNAMODB_STREAM=on` (keep the table's stream, off by default: see
//! [`disable_stream`]), and `PIXGW_TEST_DYNAMODB_ENDPOINT` (for `dynamodb`).

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use pixgw_api::store::DynStore;
use pixgw_domain::charge::Charge;
use pixgw_domain::flows::run_payout_windows::{PayoutScheduler, RunReport, SchedulerConfig};
use pixgw_domain::payout::runs::{PayoutRunStore, ScheduledSplitCursor};
use pixgw_domain::payout::{PayoutId, PayoutState};
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::split::entry::SplitState;
use pixgw_store_dynamodb::DynamoStore;
use pixgw_store_embedded::EmbeddedStore;
use pixgw_tests::contract::{account_due_at, book, charge_for, nine_am};
use pixgw_tests::harness::ManualClock;

// =============================================================================================
// Heap accounting

/// `System`, counting the bytes currently allocated and their peak.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    CURRENT.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, i.e. by `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by `System` with `layout`; the caller upholds the rest.
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated now.
fn heap_now() -> usize {
    CURRENT.load(Ordering::Relaxed)
}

/// Starts a new peak at the current heap; returns it (the baseline).
fn reset_peak() -> usize {
    let now = heap_now();
    PEAK.store(now, Ordering::Relaxed);
    now
}

fn heap_peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

// =============================================================================================
// Configuration

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BackendKind {
    Embedded,
    Dynamodb,
}

impl BackendKind {
    fn name(self) -> &'static str {
        match self {
            BackendKind::Embedded => "embedded",
            BackendKind::Dynamodb => "dynamodb",
        }
    }
}

struct Config {
    sizes: Vec<usize>,
    backends: Vec<BackendKind>,
    page_size: usize,
    /// The scheduler's attaches in flight.
    concurrency: usize,
    seed_concurrency: usize,
    /// Keep the DynamoDB table's stream on (see [`disable_stream`]).
    dynamodb_stream: bool,
    /// A tiny run without `--bench` (as `cargo test --all-targets` runs this binary).
    smoke: bool,
}

const SPLITS_PER_CHARGE: usize = 10;
const RECIPIENTS: usize = 1_000;

fn env_list(name: &str) -> Option<Vec<String>> {
    let value = std::env::var(name).ok()?;
    let items: Vec<String> = value
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    (!items.is_empty()).then_some(items)
}

fn env_number(name: &str) -> Option<usize> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

impl Config {
    fn from_env() -> Config {
        let smoke = !std::env::args().any(|arg| arg == "--bench");
        let sizes = match env_list("PIXGW_BENCH_SIZES") {
            Some(items) => items
                .iter()
                .map(|s| {
                    s.replace('_', "")
                        .parse::<usize>()
                        .unwrap_or_else(|_| panic!("PIXGW_BENCH_SIZES: {s:?} is not a number"))
                })
                .collect(),
            None if smoke => vec![200],
            None => vec![10_000, 100_000],
        };
        for &n in &sizes {
            assert!(
                n > 0 && n.is_multiple_of(SPLITS_PER_CHARGE),
                "PIXGW_BENCH_SIZES: {n} is not a positive multiple of {SPLITS_PER_CHARGE}"
            );
        }
        let backends = env_list("PIXGW_BENCH_BACKENDS")
            .unwrap_or_else(|| vec!["embedded".into(), "dynamodb".into()])
            .iter()
            .map(|s| match s.to_ascii_lowercase().as_str() {
                "embedded" => BackendKind::Embedded,
                "dynamodb" => BackendKind::Dynamodb,
                other => panic!("PIXGW_BENCH_BACKENDS: unknown backend {other:?}"),
            })
            .collect();
        let page_size =
            env_number("PIXGW_BENCH_PAGE_SIZE").unwrap_or(SchedulerConfig::default().page_size);
        assert!(page_size > 0, "PIXGW_BENCH_PAGE_SIZE must be positive");
        let concurrency =
            env_number("PIXGW_BENCH_CONCURRENCY").unwrap_or(SchedulerConfig::default().concurrency);
        let seed_concurrency = env_number("PIXGW_BENCH_SEED_CONCURRENCY")
            .unwrap_or(8)
            .max(1);
        let dynamodb_stream = std::env::var("PIXGW_BENCH_DYNAMODB_STREAM")
            .is_ok_and(|v| matches!(v.trim(), "1" | "on" | "true"));
        Config {
            sizes,
            backends,
            page_size,
            concurrency,
            seed_concurrency,
            dynamodb_stream,
            smoke,
        }
    }
}

// =============================================================================================
// DynamoDB calls: how many, and how long the emulator took to answer them

/// Every DynamoDB call the store made so far.
#[derive(Debug, Clone, Default)]
struct CallTotals {
    /// Per operation: calls, and Σ of the time from each SDK call to its answer (retries
    /// included). Calls may overlap (the sharded reads are concurrent), so these sums can
    /// exceed the wall time.
    by_operation: BTreeMap<&'static str, (u64, Duration)>,
    in_flight: usize,
    busy_since: Option<Instant>,
    /// Wall time with at least one call in flight, up to `busy_since`.
    busy: Duration,
}

impl CallTotals {
    /// A copy with the wall time still being waited folded into `busy`.
    fn snapshot(&self) -> CallTotals {
        CallTotals {
            by_operation: self.by_operation.clone(),
            in_flight: 0,
            busy_since: None,
            busy: self.busy + self.busy_since.map_or(Duration::ZERO, |at| at.elapsed()),
        }
    }

    fn calls(&self) -> u64 {
        self.by_operation.values().map(|v| v.0).sum()
    }
}

/// Times every DynamoDB operation the store makes, so a run's wall time can be split into
/// waiting for DynamoDB Local (at least one call in flight) and the rest.
#[derive(Debug, Default)]
struct CallTimer(Arc<Mutex<CallTotals>>);

#[derive(Debug, Clone)]
struct CallStarted(&'static str, Instant);

impl Storable for CallStarted {
    type Storer = StoreReplace<Self>;
}

fn operation_name(context: &BeforeSerializationInterceptorContextRef<'_>) -> &'static str {
    let input = context.input();
    if input
        .downcast_ref::<operation::transact_write_items::TransactWriteItemsInput>()
        .is_some()
    {
        "TransactWriteItems"
    } else if input
        .downcast_ref::<operation::query::QueryInput>()
        .is_some()
    {
        "Query"
    } else if input
        .downcast_ref::<operation::get_item::GetItemInput>()
        .is_some()
    {
        "GetItem"
    } else if input
        .downcast_ref::<operation::put_item::PutItemInput>()
        .is_some()
    {
        "PutItem"
    } else if input
        .downcast_ref::<operation::update_item::UpdateItemInput>()
        .is_some()
    {
        "UpdateItem"
    } else if input
        .downcast_ref::<operation::delete_item::DeleteItemInput>()
        .is_some()
    {
        "DeleteItem"
    } else if input
        .downcast_ref::<operation::batch_get_item::BatchGetItemInput>()
        .is_some()
    {
        "BatchGetItem"
    } else if input
        .downcast_ref::<operation::transact_get_items::TransactGetItemsInput>()
        .is_some()
    {
        "TransactGetItems"
    } else {
        "other"
    }
}

impl Intercept for CallTimer {
    fn name(&self) -> &'static str {
        "CallTimer"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = operation_name(context);
        let now = Instant::now();
        cfg.interceptor_state().store_put(CallStarted(name, now));
        let mut totals = self.0.lock().expect("call totals");
        totals.in_flight += 1;
        if totals.in_flight == 1 {
            totals.busy_since = Some(now);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(CallStarted(name, at)) = cfg.load::<CallStarted>() {
            let took = at.elapsed();
            let mut totals = self.0.lock().expect("call totals");
            let entry = totals.by_operation.entry(name).or_default();
            entry.0 += 1;
            entry.1 += took;
            totals.in_flight -= 1;
            if totals.in_flight == 0
                && let Some(since) = totals.busy_since.take()
            {
                totals.busy += since.elapsed();
            }
        }
        Ok(())
    }
}

/// Calls made between two snapshots.
fn calls_between(before: &CallTotals, after: &CallTotals) -> CallTotals {
    CallTotals {
        by_operation: after
            .by_operation
            .iter()
            .filter_map(|(name, &(n, t))| {
                let (n0, t0) = before.by_operation.get(name).copied().unwrap_or_default();
                (n > n0).then(|| (*name, (n - n0, t.saturating_sub(t0))))
            })
            .collect(),
        in_flight: 0,
        busy_since: None,
        busy: after.busy.saturating_sub(before.busy),
    }
}

/// `Query 21 × 12.3 ms, TransactWriteItems 10000 × 20.1 ms` (mean latency per call).
fn describe_calls(calls: &CallTotals) -> String {
    let parts: Vec<String> = calls
        .by_operation
        .iter()
        .map(|(name, &(n, t))| {
            format!(
                "{name} {n} × {:.1} ms",
                t.as_secs_f64() * 1e3 / n.max(1) as f64
            )
        })
        .collect();
    parts.join(", ")
}

// =============================================================================================
// The store under test

/// One store seen through both ports: whole (to seed and verify) and as the scheduler's.
struct Subject {
    store: DynStore,
    runs: Arc<dyn PayoutRunStore>,
}

/// One fresh store seen through both ports, and what must live as long as it.
struct Bench {
    subject: Subject,
    _dir: Option<tempfile::TempDir>,
    dynamo: Option<Arc<DynamoStore>>,
    /// DynamoDB only: every call the store made so far.
    calls: Option<Arc<Mutex<CallTotals>>>,
}

impl Bench {
    async fn fresh(kind: BackendKind, keep_stream: bool) -> Bench {
        match kind {
            BackendKind::Embedded => {
                let dir = tempfile::tempdir().expect("temp dir");
                let store = Arc::new(EmbeddedStore::open(dir.path()).expect("open embedded store"));
                Bench {
                    subject: Subject {
                        store: store.clone(),
                        runs: store,
                    },
                    _dir: Some(dir),
                    dynamo: None,
                    calls: None,
                }
            }
            BackendKind::Dynamodb => {
                // As `DynamoStore::connect` builds it, plus the call timer.
                let calls = Arc::new(Mutex::new(CallTotals::default()));
                let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .endpoint_url(pixgw_tests::harness::dynamodb_endpoint())
                    .load()
                    .await;
                let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
                    .interceptor(CallTimer(calls.clone()))
                    .build();
                let client = aws_sdk_dynamodb::Client::from_conf(config);
                let table = format!("pixgw-bench-{}", uuid::Uuid::new_v4().simple());
                pixgw_store_dynamodb::create_table(&client, &table)
                    .await
                    .unwrap_or_else(|e| panic!("cannot create table {table}: {e}"));
                if !keep_stream {
                    disable_stream(&client, &table).await;
                }
                let store = Arc::new(DynamoStore::new(client, table));
                Bench {
                    subject: Subject {
                        store: store.clone(),
                        runs: store.clone(),
                    },
                    _dir: None,
                    dynamo: Some(store),
                    calls: Some(calls),
                }
            }
        }
    }

    fn calls(&self) -> CallTotals {
        self.calls
            .as_ref()
            .map(|c| c.lock().expect("call totals").snapshot())
            .unwrap_or_default()
    }

    /// Drops the DynamoDB table, so DynamoDB Local's memory does not carry one case into the
    /// next; the embedded store's directory goes with `self`.
    async fn dispose(self) {
        if let Some(store) = &self.dynamo {
            let _ = store
                .client()
                .delete_table()
                .table_name(store.table())
                .send()
                .await;
        }
    }
}

/// Turns the table's stream off. DynamoDB Local keeps every stream record (of every table it
/// ever had, deleted ones included) in one SQLite table and scans them on EVERY write
/// (`getStreamDescription`), so with the stream on a write costs O(all writes so far in the
/// process): the 100k case would measure the emulator's quadratic bookkeeping, not our calls
/// (DynamoDB itself maintains streams off the write path). Nothing here reads the stream.
async fn disable_stream(client: &aws_sdk_dynamodb::Client, table: &str) {
    let off = aws_sdk_dynamodb::types::StreamSpecification::builder()
        .stream_enabled(false)
        .build()
        .expect("stream specification");
    client
        .update_table()
        .table_name(table)
        .stream_specification(off)
        .send()
        .await
        .unwrap_or_else(|e| panic!("cannot turn the stream of {table} off: {e:?}"));
    for _ in 0..600 {
        let description = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .expect("describe table");
        let table_description = description.table().expect("table");
        let active =
            table_description.table_status() == Some(&aws_sdk_dynamodb::types::TableStatus::Active);
        let streaming = table_description
            .stream_specification()
            .is_some_and(|spec| spec.stream_enabled());
        if active && !streaming {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the stream of {table} is still on");
}

// =============================================================================================
// Seeding (the scheduler contract's own builders: real insert, confirm, `book_splits`)

/// The window: daily at 09:00 São Paulo, 10 January 2031.
fn window() -> DateTime<Utc> {
    nine_am(10)
}

/// Charge `i` pays ten recipients, each recipient is in every hundredth charge (so a page in
/// booking order mixes many recipients, as real marketplace traffic does).
fn recipients_of(i: usize) -> Vec<usize> {
    (0..SPLITS_PER_CHARGE)
        .map(|j| (i + j * 100) % RECIPIENTS)
        .collect()
}

/// Odd amounts so a lost or doubled cent shows.
fn cents_of(i: usize) -> i64 {
    101 + i64::try_from(i % 37).expect("small")
}

/// Booked 3 h before the window, 1 ms apart.
fn booked_at(i: usize) -> DateTime<Utc> {
    window() - chrono::Duration::hours(3)
        + chrono::Duration::milliseconds(i64::try_from(i).expect("i"))
}

/// What the seeding promises the run must pay.
struct Seeded {
    account: AccountId,
    charges: Vec<TransactionId>,
    /// Per recipient pix key: (Σ cents, splits).
    per_recipient: BTreeMap<String, (i64, u32)>,
    total_cents: i64,
    elapsed: Duration,
}

/// An account due at [`window`] with `n` SCHEDULED splits, `concurrency` charges booked at
/// once, progress printed every tenth.
async fn seed(subject: &Subject, n: usize, concurrency: usize, label: &str) -> Seeded {
    let account = account_due_at(&subject.store, window()).await;
    let charges = n / SPLITS_PER_CHARGE;
    let built: Vec<(Charge, DateTime<Utc>)> = (0..charges)
        .map(|i| {
            let at = booked_at(i);
            (charge_for(&account, &recipients_of(i), cents_of(i), at), at)
        })
        .collect();
    let mut per_recipient: BTreeMap<String, (i64, u32)> = BTreeMap::new();
    let mut total_cents = 0;
    let mut ids = Vec::with_capacity(charges);
    for (c, _) in &built {
        ids.push(c.transaction_id.clone());
        for s in &c.splits {
            let e = per_recipient
                .entry(s.rule.pix_key.as_str().to_owned())
                .or_default();
            e.0 += s.amount.cents();
            e.1 += 1;
            total_cents += s.amount.cents();
        }
    }

    let step = (charges / 10).max(1);
    let done = &AtomicUsize::new(0);
    let started = Instant::now();
    futures::stream::iter(built)
        .map(|(c, at)| async move {
            book(&subject.store, c, at).await;
            let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
            if finished.is_multiple_of(step) || finished == charges {
                let secs = started.elapsed().as_secs_f64();
                println!(
                    "  [{label}] seeded {:>7}/{n} splits  {secs:>6.1} s  ({:.0} splits/s)",
                    finished * SPLITS_PER_CHARGE,
                    (finished * SPLITS_PER_CHARGE) as f64 / secs
                );
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
    Seeded {
        account,
        charges: ids,
        per_recipient,
        total_cents,
        elapsed: started.elapsed(),
    }
}

// =============================================================================================
// The baseline and the run

struct Measured {
    elapsed: Duration,
    /// Heap right before (after the peak was reset).
    heap_before: usize,
    heap_peak: usize,
    heap_after: usize,
}

impl Measured {
    fn peak_over_baseline(&self) -> usize {
        self.heap_peak.saturating_sub(self.heap_before)
    }
    fn retained(&self) -> isize {
        self.heap_after as isize - self.heap_before as isize
    }
}

async fn measure<T>(work: impl std::future::Future<Output = T>) -> (T, Measured) {
    let heap_before = reset_peak();
    let started = Instant::now();
    let out = work.await;
    let elapsed = started.elapsed();
    let heap_peak = heap_peak();
    let heap_after = heap_now();
    (
        out,
        Measured {
            elapsed,
            heap_before,
            heap_peak,
            heap_after,
        },
    )
}

/// The bare store calls the run cannot avoid: every due split, page by page, nothing done
/// with them. Returns (splits, Σ cents, pages).
async fn page_all(
    runs: &Arc<dyn PayoutRunStore>,
    account: &AccountId,
    page_size: usize,
) -> (usize, i64, usize) {
    let (mut splits, mut cents, mut pages) = (0, 0, 0);
    let mut cursor: Option<ScheduledSplitCursor> = None;
    loop {
        let (page, next) = runs
            .scheduled_splits_page(account, window(), cursor.as_ref(), page_size)
            .await
            .expect("page");
        pages += 1;
        splits += page.len();
        cents += page.iter().map(|s| s.split.amount.cents()).sum::<i64>();
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    (splits, cents, pages)
}

/// Checks the store after the run, independently of the run's own report.
async fn verify(subject: &Subject, seeded: &Seeded, report: &RunReport, concurrency: usize) {
    let n: usize = seeded.per_recipient.values().map(|v| v.1 as usize).sum();
    assert_eq!(report.accounts, 1, "the account's window ran: {report:?}");
    assert_eq!(report.skipped, 0, "{report:?}");
    assert_eq!(report.splits, n, "every split attached: {report:?}");
    assert_eq!(report.payouts, seeded.per_recipient.len(), "{report:?}");
    assert_eq!(report.amount.cents(), seeded.total_cents, "{report:?}");

    // Nothing due is left SCHEDULED.
    let (left, _) = subject
        .runs
        .scheduled_splits_page(&seeded.account, window(), None, 10)
        .await
        .expect("page");
    assert!(left.is_empty(), "{} splits still SCHEDULED", left.len());

    // Every split PROCESSING in a payout; per payout, Σ and count of its splits.
    let store = &subject.store;
    let per_charge: Vec<Vec<(PayoutId, i64)>> = futures::stream::iter(&seeded.charges)
        .map(|id| async move {
            let splits = store.get_splits(id).await.expect("splits");
            assert_eq!(splits.len(), SPLITS_PER_CHARGE);
            splits
                .into_iter()
                .map(|s| {
                    assert_eq!(s.state, SplitState::Processing, "split {id}/{}", s.index);
                    let payout = s.payout_id.expect("a PROCESSING split names its payout");
                    (payout, s.split.amount.cents())
                })
                .collect()
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut from_splits: BTreeMap<PayoutId, (i64, u32)> = BTreeMap::new();
    for (payout, cents) in per_charge.into_iter().flatten() {
        let e = from_splits.entry(payout).or_default();
        e.0 += cents;
        e.1 += 1;
    }
    assert_eq!(
        from_splits.len(),
        seeded.per_recipient.len(),
        "one payout per recipient"
    );

    // Each payout: PROCESSING, = Σ of its splits, = what its recipient was booked, and its
    // manifest lists each of its splits once.
    let checked: Vec<(String, i64)> = futures::stream::iter(&from_splits)
        .map(|(id, &(cents, count))| async move {
            let payout = store
                .get_payout(id)
                .await
                .expect("read")
                .expect("payout exists");
            assert_eq!(payout.state, PayoutState::Processing, "payout {id}");
            assert_eq!(
                payout.amount.cents(),
                cents,
                "payout {id} = Σ of its splits"
            );
            assert_eq!(payout.split_count, count, "payout {id} counts its splits");
            let expected = seeded
                .per_recipient
                .get(payout.recipient.pix_key.as_str())
                .expect("a seeded recipient");
            assert_eq!(
                *expected,
                (cents, count),
                "payout {id} pays its recipient's splits"
            );
            let mut listed = BTreeSet::new();
            let mut after = None;
            loop {
                let (page, next) = store
                    .payout_splits_page(id, after.as_ref(), 250)
                    .await
                    .expect("manifest");
                for split in page {
                    assert!(listed.insert(split), "manifest of {id} lists a split twice");
                }
                match next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            assert_eq!(listed.len(), count as usize, "manifest of {id} is complete");
            (
                payout.recipient.pix_key.into_string(),
                payout.amount.cents(),
            )
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let recipients: BTreeSet<&String> = checked.iter().map(|(k, _)| k).collect();
    assert_eq!(
        recipients.len(),
        seeded.per_recipient.len(),
        "distinct recipients"
    );
    let total: i64 = checked.iter().map(|(_, c)| c).sum();
    assert_eq!(
        total, seeded.total_cents,
        "Σ payouts = Σ splits to the cent"
    );

    let schedule = store
        .get_schedule(&seeded.account)
        .await
        .expect("read")
        .expect("schedule");
    assert_eq!(schedule.next_run_at, window() + chrono::Duration::days(1));
    assert_eq!(schedule.lease, None);
}

struct CaseResult {
    backend: BackendKind,
    n: usize,
    seed: Duration,
    paging: Measured,
    pages: usize,
    run: Measured,
    /// DynamoDB: Σ of the run's call times.
    run_waited: Option<Duration>,
    payouts: usize,
}

fn reais(cents: i64) -> String {
    format!("R$ {}.{:02}", cents / 100, cents % 100)
}

async fn case(config: &Config, backend: BackendKind, n: usize) -> CaseResult {
    let label = format!("{} N={n}", backend.name());
    println!("-- {label} --");
    let bench = Bench::fresh(backend, config.dynamodb_stream).await;
    let subject = &bench.subject;
    let seeded = seed(subject, n, config.seed_concurrency, &label).await;
    println!(
        "  seeding: {n} splits ({} charges, {} recipients) in {:.1} s ({:.0} splits/s, {} concurrent) — not part of the run",
        seeded.charges.len(),
        seeded.per_recipient.len(),
        seeded.elapsed.as_secs_f64(),
        n as f64 / seeded.elapsed.as_secs_f64(),
        config.seed_concurrency
    );

    // Baseline first: it reads without writing, so the run still finds every split due.
    let calls_before = bench.calls();
    let ((paged, paged_cents, pages), paging) =
        measure(page_all(&subject.runs, &seeded.account, config.page_size)).await;
    let paging_calls = calls_between(&calls_before, &bench.calls());
    assert_eq!(paged, n, "the baseline pages every seeded split");
    assert_eq!(paged_cents, seeded.total_cents);
    println!(
        "  baseline (scheduled_splits_page × {pages}, nothing else): {:>8.3} s  {:>9.0} splits/s  heap peak {:>7.1} MiB (+{:.1} over {:.1})",
        paging.elapsed.as_secs_f64(),
        n as f64 / paging.elapsed.as_secs_f64(),
        mib(paging.heap_peak),
        mib(paging.peak_over_baseline()),
        mib(paging.heap_before),
    );
    if paging_calls.calls() > 0 {
        println!("    its DynamoDB calls: {}", describe_calls(&paging_calls));
    }

    let scheduler = PayoutScheduler::with_config(
        subject.runs.clone(),
        Arc::new(ManualClock::new(window())),
        SchedulerConfig {
            page_size: config.page_size,
            concurrency: config.concurrency,
            ..SchedulerConfig::default()
        },
    );
    let now = window() + chrono::Duration::minutes(1);
    let calls_before = bench.calls();
    let ticker = tokio::spawn(progress(bench.calls.clone(), calls_before.calls()));
    let (report, run) = measure(scheduler.run_due(now)).await;
    let run_calls = calls_between(&calls_before, &bench.calls());
    ticker.abort();
    let report = report.expect("run");
    println!(
        "  run (PayoutScheduler::run_due):                    {:>8.3} s  {:>9.0} splits/s  heap peak {:>7.1} MiB (+{:.1} over {:.1}), retained after {:+.1} MiB",
        run.elapsed.as_secs_f64(),
        n as f64 / run.elapsed.as_secs_f64(),
        mib(run.heap_peak),
        mib(run.peak_over_baseline()),
        mib(run.heap_before),
        run.retained() as f64 / (1024.0 * 1024.0),
    );
    let run_waited: Option<Duration> = (run_calls.calls() > 0).then_some(run_calls.busy);
    if let Some(waited) = run_waited {
        println!("    its DynamoDB calls: {}", describe_calls(&run_calls));
        println!(
            "    waiting for DynamoDB Local (≥ 1 call in flight): {:.1}% of the run; the rest (our code, the SDK, the machine): {:.3} s",
            100.0 * waited.as_secs_f64() / run.elapsed.as_secs_f64(),
            run.elapsed.saturating_sub(waited).as_secs_f64()
        );
    }
    println!(
        "  run / baseline: time {:.1}x, heap peak over baseline {:.1}x",
        run.elapsed.as_secs_f64() / paging.elapsed.as_secs_f64(),
        run.peak_over_baseline() as f64 / paging.peak_over_baseline().max(1) as f64
    );

    let started = Instant::now();
    verify(subject, &seeded, &report, config.seed_concurrency).await;
    println!(
        "  verified: {} splits PROCESSING in {} payouts (one per recipient), Σ payouts = Σ splits = {}, manifests complete, next window set ({:.1} s)",
        report.splits,
        report.payouts,
        reais(seeded.total_cents),
        started.elapsed().as_secs_f64()
    );
    bench.dispose().await;
    CaseResult {
        backend,
        n,
        seed: seeded.elapsed,
        paging,
        pages,
        run,
        run_waited,
        payouts: report.payouts,
    }
}

/// Prints where a long run is, every minute (the DynamoDB runs take a while).
async fn progress(calls: Option<Arc<Mutex<CallTotals>>>, calls_before: u64) {
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(60)).await;
        let made = calls
            .as_ref()
            .map(|c| {
                let totals = c.lock().expect("call totals");
                format!(
                    ", {} DynamoDB calls so far",
                    totals.calls().saturating_sub(calls_before)
                )
            })
            .unwrap_or_default();
        println!(
            "    … run at {:.0} s: heap {:.1} MiB{made}",
            started.elapsed().as_secs_f64(),
            mib(heap_now())
        );
    }
}

fn summary(config: &Config, results: &[CaseResult]) {
    println!();
    println!(
        "== summary: one scheduler run over N due splits, page_size {}, concurrency {} ==",
        config.page_size, config.concurrency
    );
    println!(
        "{:<9} {:>7} {:>8} {:>9} {:>10} {:>8} {:>11} {:>8} {:>12} {:>12} {:>10} {:>11} {:>10}",
        "backend",
        "N",
        "payouts",
        "seed s",
        "run s",
        "splits/s",
        "baseline s",
        "run/base",
        "peak MiB",
        "peak-base",
        "retained",
        "DDB wait s",
        "rest s"
    );
    for r in results {
        println!(
            "{:<9} {:>7} {:>8} {:>9.1} {:>10.3} {:>8.0} {:>11.3} {:>7.1}x {:>12.1} {:>12.1} {:>+10.1} {:>11} {:>10}",
            r.backend.name(),
            r.n,
            r.payouts,
            r.seed.as_secs_f64(),
            r.run.elapsed.as_secs_f64(),
            r.n as f64 / r.run.elapsed.as_secs_f64(),
            r.paging.elapsed.as_secs_f64(),
            r.run.elapsed.as_secs_f64() / r.paging.elapsed.as_secs_f64(),
            mib(r.run.heap_peak),
            mib(r.run.peak_over_baseline()),
            r.run.retained() as f64 / (1024.0 * 1024.0),
            r.run_waited
                .map_or("-".to_owned(), |w| format!("{:.1}", w.as_secs_f64())),
            r.run_waited.map_or("-".to_owned(), |w| format!(
                "{:.1}",
                r.run.elapsed.saturating_sub(w).as_secs_f64()
            )),
        );
    }
    for &backend in &config.backends {
        let cases: Vec<&CaseResult> = results.iter().filter(|r| r.backend == backend).collect();
        for pair in cases.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let size = b.n as f64 / a.n as f64;
            println!(
                "growth {:<9} {} → {} (N ×{:.1}): run time ×{:.2} (baseline ×{:.2}), heap peak over baseline ×{:.2} ({:.1} → {:.1} MiB; baseline's ×{:.2}), pages {} → {}",
                backend.name(),
                a.n,
                b.n,
                size,
                b.run.elapsed.as_secs_f64() / a.run.elapsed.as_secs_f64(),
                b.paging.elapsed.as_secs_f64() / a.paging.elapsed.as_secs_f64(),
                b.run.peak_over_baseline() as f64 / a.run.peak_over_baseline().max(1) as f64,
                mib(a.run.peak_over_baseline()),
                mib(b.run.peak_over_baseline()),
                b.paging.peak_over_baseline() as f64 / a.paging.peak_over_baseline().max(1) as f64,
                a.pages,
                b.pages,
            );
            if let (Some(wa), Some(wb)) = (a.run_waited, b.run_waited) {
                let rest =
                    |r: &CaseResult, w: Duration| r.run.elapsed.saturating_sub(w).as_secs_f64();
                println!(
                    "       of which: waiting for DynamoDB Local ×{:.2}, the rest ×{:.2}",
                    wb.as_secs_f64() / wa.as_secs_f64(),
                    rest(b, wb) / rest(a, wa).max(1e-9)
                );
            }
        }
    }
}

fn main() {
    let config = Config::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "== payout scheduler: one run over N due SCHEDULED splits of one account ({RECIPIENTS} recipients max, {SPLITS_PER_CHARGE} splits per charge) =="
    );
    println!(
        "sizes {:?}, backends {:?}, scheduler page_size {} concurrency {}, seeding concurrency {}{}",
        config.sizes,
        config.backends.iter().map(|b| b.name()).collect::<Vec<_>>(),
        config.page_size,
        config.concurrency,
        config.seed_concurrency,
        if config.smoke {
            " (smoke run: no --bench)"
        } else {
            ""
        }
    );
    if config.backends.contains(&BackendKind::Dynamodb) {
        println!(
            "DynamoDB Local: a fresh table per case, stream {} (PIXGW_BENCH_DYNAMODB_STREAM; on, the emulator scans all its stream records on every write)",
            if config.dynamodb_stream { "ON" } else { "off" }
        );
    }
    let results = runtime.block_on(async {
        let mut results = Vec::new();
        for &backend in &config.backends {
            for &n in &config.sizes {
                results.push(case(&config, backend, n).await);
            }
        }
        results
    });
    summary(&config, &results);
}
