//! The real `pixgw` binary killed at random moments while it works, and started again on the
//! same data dir, until every accepted operation has reached its final state.
//!
//! Each round starts the gateway and fires a burst of concurrent work at it — charges paid
//! (half of them with an immediate split), signed cash-outs (some to a key the sandbox DICT
//! refuses), signed refunds of charges paid earlier, payout runs, all with a merchant webhook
//! endpoint registered — then kills it with SIGKILL at a random moment (the last round: SIGTERM,
//! which must exit 0 within the grace period). Only answers that came back count as accepted:
//! a 2xx is a promise the gateway must keep whatever happens next.
//!
//! After the last round, on a final start, everything accepted must settle, and then:
//! - every accepted cash-out is COMPLETED (or FAILED for the refused key), never PROCESSING;
//! - every accepted payment is CONFIRMED with its split PAID (or its charge REFUNDED), every
//!   accepted refund REFUNDED; no payout is left PROCESSING;
//! - the sandbox PIX network (its journal in the data dir) made exactly one transfer per
//!   cash-out and payout, and at most one refund per charge: nothing moved twice;
//! - each balance equals the sum of its statement entries, `INCOMING` and
//!   `RESERVED_FOR_SPLITS` are empty (nothing waits without a booking on its way);
//! - the delivery log holds one delivery per event, each DELIVERED, and the receiver got each
//!   event (at least once: retries repeat the same `webhook-id`).
//!
//! `PIXGW_CRASH_SEED` replays a run (the seed is printed).

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Client, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

mod common;

use common::free_port;

const KILL_ROUNDS: usize = 4;
/// Settling after the last start: generous, a debug build on a loaded 2-core machine.
const SETTLE: Duration = Duration::from_secs(180);
const REFUSED_KEY: &str = "reject-crash@example.com";

/// A running gateway; SIGKILLed on drop if still running.
struct Gateway {
    running: common::Running,
    base: String,
    credentials: Credentials,
}

#[derive(Clone)]
struct Credentials {
    client_id: String,
    client_secret: String,
    crypto_token: String,
}

impl Gateway {
    fn start(data_dir: &Path, port: u16) -> Gateway {
        let mut command = common::serve_command(data_dir, port);
        command
            .args(["--scheduler-interval", "1"])
            .env("RUST_LOG", "error");
        let running = common::spawn(command);
        Gateway {
            credentials: Credentials {
                client_id: running.value("clientId"),
                client_secret: running.value("clientSecret"),
                crypto_token: running.value("cryptoToken"),
            },
            running,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn kill(mut self) {
        self.running.child.kill().expect("SIGKILL");
        self.running.child.wait().expect("reaped");
    }

    /// SIGTERM, then the process must exit by itself, successfully, within its grace period.
    fn terminate(mut self) {
        let pid = self.running.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let started = Instant::now();
        loop {
            if let Some(status) = self.running.child.try_wait().expect("wait") {
                assert!(status.success(), "pixgw exited with {status} after SIGTERM");
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(40),
                "pixgw still running 40 s after SIGTERM (grace is 15 s)"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// An authenticated caller of the API.
#[derive(Clone)]
struct Api {
    http: Client,
    base: String,
    token: String,
    signature: String,
}

impl Api {
    async fn login(base: &str, credentials: &Credentials) -> Api {
        let http = Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let response = http
            .post(format!("{base}/api/auth/token"))
            .json(&json!({"clientId": credentials.client_id, "clientSecret": credentials.client_secret}))
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        let token = body["accessToken"].as_str().expect("token").to_owned();
        let mut mac = Hmac::<Sha256>::new_from_slice(credentials.crypto_token.as_bytes())
            .expect("any key length");
        mac.update(token.as_bytes());
        Api {
            http,
            base: base.to_owned(),
            token,
            signature: hex::encode(mac.finalize().into_bytes()),
        }
    }

    /// `Some((status, body))` when an answer came back; `None` when the process died first.
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Option<(StatusCode, Value)> {
        let url = format!("{}{path}", self.base);
        let mut request = match method {
            "GET" => self.http.get(url),
            "PUT" => self.http.put(url),
            _ => self.http.post(url),
        }
        .bearer_auth(&self.token)
        .header("DigitalSignature", &self.signature)
        .header("X-Idempotency-Key", uuid::Uuid::new_v4().to_string());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.ok()?;
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        Some((status, body))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call("GET", path, None).await.expect("gateway answers");
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Every item of a paged listing.
    async fn all(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let separator = if path.contains('?') { '&' } else { '?' };
        loop {
            let page = match &cursor {
                None => self.get(&format!("{path}{separator}limit=50")).await,
                Some(c) => {
                    self.get(&format!("{path}{separator}limit=50&cursor={c}"))
                        .await
                }
            };
            items.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
    }
}

/// What the gateway accepted (answered 2xx to), across every round.
#[derive(Default)]
struct Accepted {
    pays: Vec<String>,
    cash_outs: BTreeMap<String, bool>, // id -> to the refused key
    refunds: BTreeSet<String>,
}

fn money(v: &Value) -> Decimal {
    v.to_string()
        .parse()
        .unwrap_or_else(|_| panic!("money: {v}"))
}

/// The new charge's id; `Err` with the answer (or `None` when the process died first).
async fn create_charge(api: &Api, value: &str, splits: Value) -> Result<String, Option<Value>> {
    let mut body = json!({
        "transaction": {"value": serde_json::from_str::<Value>(value).expect("a JSON number"), "description": "crash test",
                        "externalId": format!("CR-{}", uuid::Uuid::new_v4().simple())},
        "payer": {"fullName": "Maria Silva", "document": "12345678909"},
    });
    if splits.as_array().is_some_and(|s| !s.is_empty()) {
        body["splits"] = splits;
    }
    match api.call("POST", "/api/pix/cash-in", Some(body)).await {
        Some((StatusCode::CREATED, body)) => Ok(body["transactionId"].as_str().unwrap().to_owned()),
        other => Err(other.map(|(_, body)| body)),
    }
}

async fn pay(api: &Api, id: &str) -> bool {
    matches!(
        api.call("POST", &format!("/api/sandbox/cash-in/{id}/pay"), None).await,
        Some((status, _)) if status.is_success()
    )
}

/// One burst against a running gateway until `stop`; records what was accepted.
async fn burst(api: Api, accepted: Arc<Mutex<Accepted>>, stop: Arc<AtomicBool>, seed: u64) {
    let mut tasks = tokio::task::JoinSet::new();
    for payer in 0..3u64 {
        let (api, accepted, stop) = (api.clone(), accepted.clone(), stop.clone());
        tasks.spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let immediate = (n + payer).is_multiple_of(2);
                let split = json!([{"pixKey": format!("seller{}@example.com", n % 3), "pixKeyType": "EMAIL",
                    "name": "Loja", "document": "11222333000181", "type": "FIXED", "value": 1.00,
                    "immediate": immediate}]);
                let Ok(id) = create_charge(&api, "10.00", split).await else { continue };
                if pay(&api, &id).await {
                    accepted.lock().unwrap().pays.push(id);
                }
            }
        });
    }
    for worker in 0..2u64 {
        let (api, accepted, stop) = (api.clone(), accepted.clone(), stop.clone());
        tasks.spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let refused = (n + worker).is_multiple_of(5);
                let key = if refused { REFUSED_KEY.to_owned() } else { format!("payee{worker}@example.com") };
                let body = json!({"value": 0.50, "description": "saque", "pixKey": key, "pixKeyType": "EMAIL",
                                  "externalId": format!("WD-{}", uuid::Uuid::new_v4().simple())});
                if let Some((StatusCode::ACCEPTED, body)) = api.call("POST", "/api/pix/cash-out", Some(body)).await {
                    let id = body["id"].as_str().unwrap().to_owned();
                    accepted.lock().unwrap().cash_outs.insert(id, refused);
                }
            }
        });
    }
    {
        // Refunds of charges paid in earlier rounds (their splits booked or not, paid or not).
        let (api, accepted, stop) = (api.clone(), accepted.clone(), stop.clone());
        tasks.spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            while !stop.load(Ordering::Relaxed) {
                let candidate = {
                    let a = accepted.lock().unwrap();
                    let open: Vec<&String> = a
                        .pays
                        .iter()
                        .filter(|id| !a.refunds.contains(*id))
                        .collect();
                    (!open.is_empty()).then(|| open[rng.random_range(0..open.len())].clone())
                };
                let Some(id) = candidate else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let body = json!({"reason": "CUSTOMER_REQUEST", "description": "crash test"});
                if let Some((StatusCode::ACCEPTED, _)) = api
                    .call("POST", &format!("/api/pix/cash-in/{id}/refund"), Some(body))
                    .await
                {
                    accepted.lock().unwrap().refunds.insert(id);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }
    {
        let (api, stop) = (api.clone(), stop.clone());
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let _ = api.call("POST", "/api/sandbox/payouts/run", None).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Runs a burst for `for_ms`, then ends the process with `end` while the burst still runs.
async fn round(
    data_dir: &Path,
    port: u16,
    accepted: &Arc<Mutex<Accepted>>,
    for_ms: u64,
    seed: u64,
    end: fn(Gateway),
) {
    let gateway = Gateway::start(data_dir, port);
    let api = Api::login(&gateway.base, &gateway.credentials).await;
    let stop = Arc::new(AtomicBool::new(false));
    let work = tokio::spawn(burst(api, accepted.clone(), stop.clone(), seed));
    tokio::time::sleep(Duration::from_millis(for_ms)).await;
    tokio::task::spawn_blocking(move || end(gateway))
        .await
        .expect("end");
    stop.store(true, Ordering::Relaxed);
    // Calls in flight fail (connection refused/reset): not accepted.
    tokio::time::timeout(Duration::from_secs(60), work)
        .await
        .expect("burst ends")
        .expect("burst");
}

fn sandbox_journal(data_dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(data_dir.join("sandbox-network.jsonl")).expect("journal");
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_at_random_moments_the_gateway_loses_nothing_and_moves_nothing_twice() {
    let seed = std::env::var("PIXGW_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("PIXGW_CRASH_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir: PathBuf = dir.path().join("data");
    let port = free_port();
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;

    // Before the storm: a webhook endpoint for every event, and R$ 500 available for cash-outs.
    {
        let gateway = Gateway::start(&data_dir, port);
        let api = Api::login(&gateway.base, &gateway.credentials).await;
        let (status, body) = api
            .call(
                "PUT",
                "/api/account/webhook",
                Some(json!({"url": format!("{}/hooks", receiver.uri())})),
            )
            .await
            .expect("answer");
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = create_charge(&api, "500.00", json!([]))
            .await
            .expect("funding charge");
        assert!(pay(&api, &id).await);
        wait_until(Duration::from_secs(60), || async {
            money(&api.get("/api/account/balance").await["available"]) >= Decimal::from(500)
        })
        .await;
        gateway.terminate();
    }

    let accepted = Arc::new(Mutex::new(Accepted::default()));
    for r in 0..=KILL_ROUNDS {
        let for_ms = rng.random_range(300..1_800);
        // SIGKILL mostly; SIGTERM in the second and the last round (a clean exit is required).
        let end: fn(Gateway) = if r == 1 || r == KILL_ROUNDS {
            Gateway::terminate
        } else {
            Gateway::kill
        };
        round(&data_dir, port, &accepted, for_ms, rng.random(), end).await;
    }

    let gateway = Gateway::start(&data_dir, port);
    let api = Api::login(&gateway.base, &gateway.credentials).await;
    let accepted = std::mem::take(&mut *accepted.lock().unwrap());
    println!(
        "accepted: {} payments, {} cash-outs, {} refunds",
        accepted.pays.len(),
        accepted.cash_outs.len(),
        accepted.refunds.len()
    );
    assert!(
        !accepted.pays.is_empty() && !accepted.cash_outs.is_empty(),
        "the bursts must have been accepted work to lose"
    );

    settle(&api, &accepted).await;
    check_states(&api, &accepted).await;
    check_money_moved_once(&api, &data_dir, &accepted).await;
    check_books(&api).await;
    check_webhooks(&api, &receiver).await;
    gateway.terminate();
}

async fn wait_until<F, Fut>(limit: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < limit, "not settled after {limit:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until nothing accepted is in flight: cash-outs and refunds settled, every payment's
/// split booked and paid out (running the payout window as often as needed), webhooks delivered.
async fn settle(api: &Api, accepted: &Accepted) {
    // A payout run killed midway holds its window's lease (15 min) so that no other run pays
    // it meanwhile; the next run after that continues it with the same payout ids.
    let (status, body) = api
        .call(
            "POST",
            "/api/sandbox/clock/advance",
            Some(json!({"seconds": 16 * 60})),
        )
        .await
        .expect("answer");
    assert_eq!(status, StatusCode::OK, "{body}");
    let last_state = Mutex::new(String::new());
    let polls = AtomicUsize::new(0);
    let result = tokio::time::timeout(SETTLE, async {
        loop {
            polls.fetch_add(1, Ordering::Relaxed);
            let _ = api.call("POST", "/api/sandbox/payouts/run", None).await;
            let mut waiting = Vec::new();
            for id in accepted.cash_outs.keys() {
                let c = api.get(&format!("/api/pix/cash-out/{id}")).await;
                if c["status"] == "PROCESSING" {
                    waiting.push(format!("cash-out {id} PROCESSING"));
                }
            }
            for id in &accepted.pays {
                let c = api.get(&format!("/api/pix/cash-in/{id}")).await;
                let status = c["status"].as_str().unwrap_or_default();
                let split = c["splits"][0]["status"].as_str().unwrap_or_default();
                let done = match status {
                    "CONFIRMED" => matches!(split, "PAID" | "FAILED"),
                    "REFUNDED" => true,
                    _ => false,
                };
                if !done {
                    waiting.push(format!("charge {id} {status} split {split}"));
                }
            }
            let payouts = api.all("/api/payouts?status=PROCESSING").await;
            if !payouts.is_empty() {
                waiting.push(format!("{} payouts PROCESSING", payouts.len()));
            }
            let pending = api.all("/api/webhooks/deliveries").await;
            let pending = pending
                .iter()
                .filter(|d| d["status"] != "DELIVERED")
                .count();
            if pending > 0 {
                waiting.push(format!("{pending} webhook deliveries not delivered"));
            }
            if waiting.is_empty() {
                return;
            }
            *last_state.lock().unwrap() = format!(
                "{} waiting, e.g. {:?}",
                waiting.len(),
                &waiting[..waiting.len().min(5)]
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
    assert!(
        result.is_ok(),
        "accepted work never settled after {SETTLE:?} ({} polls): {}",
        polls.load(Ordering::Relaxed),
        last_state.lock().unwrap()
    );
}

async fn check_states(api: &Api, accepted: &Accepted) {
    for (id, refused) in &accepted.cash_outs {
        let c = api.get(&format!("/api/pix/cash-out/{id}")).await;
        let expected = if *refused { "FAILED" } else { "COMPLETED" };
        assert_eq!(c["status"], expected, "cash-out {id}: {c}");
    }
    for id in &accepted.refunds {
        let c = api.get(&format!("/api/pix/cash-in/{id}")).await;
        assert_eq!(c["status"], "REFUNDED", "refund of {id} was accepted: {c}");
    }
}

/// What the sandbox PIX network moved, read from its journal: one transfer per cash-out and
/// payout, with those very idempotency keys, and at most one devolução per charge.
async fn check_money_moved_once(api: &Api, data_dir: &Path, accepted: &Accepted) {
    let journal = sandbox_journal(data_dir);
    let mut transfers: HashMap<String, usize> = HashMap::new();
    let mut refunded: HashMap<String, usize> = HashMap::new();
    for entry in &journal {
        let key = entry["idempotencyKey"].as_str().expect("key").to_owned();
        match entry["kind"].as_str() {
            Some("TRANSFER") => *transfers.entry(key).or_default() += 1,
            Some("REFUND") => {
                let charge = entry["originalEndToEndId"]
                    .as_str()
                    .expect("e2e")
                    .to_owned();
                *refunded.entry(charge).or_default() += 1;
            }
            other => panic!("unexpected journal entry {other:?}"),
        }
    }
    assert!(
        transfers.values().all(|&n| n == 1),
        "a key transferred twice"
    );
    assert!(
        refunded.values().all(|&n| n == 1),
        "a payment refunded twice: {refunded:?}"
    );

    let cash_outs: BTreeSet<String> = api
        .all("/api/pix/cash-out")
        .await
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let payouts: BTreeSet<String> = api
        .all("/api/payouts")
        .await
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    let keys: BTreeSet<String> = transfers.into_keys().collect();
    let expected: BTreeSet<String> = cash_outs.union(&payouts).cloned().collect();
    assert_eq!(
        keys, expected,
        "sandbox transfers = cash-outs + payouts, one each"
    );
    assert!(accepted.cash_outs.keys().all(|id| keys.contains(id)));
}

/// Each balance is the sum of its statement entries; nothing waits in INCOMING or the reserve.
async fn check_books(api: &Api) {
    let balance = api.get("/api/account/balance").await;
    let entries = api.all("/api/account/statement").await;
    let mut sums: BTreeMap<String, Decimal> = BTreeMap::new();
    for e in &entries {
        let amount = money(&e["amount"]);
        let signed = if e["direction"] == "CREDIT" {
            amount
        } else {
            -amount
        };
        *sums
            .entry(e["bucket"].as_str().unwrap().to_owned())
            .or_default() += signed;
    }
    let sum = |bucket: &str| sums.get(bucket).copied().unwrap_or_default();
    assert_eq!(
        money(&balance["available"]),
        sum("AVAILABLE"),
        "available vs statement: {balance}"
    );
    assert_eq!(
        money(&balance["reservedForSplits"]),
        sum("RESERVED_FOR_SPLITS"),
        "{balance}"
    );
    assert_eq!(
        sum("RESERVED_FOR_SPLITS"),
        Decimal::ZERO,
        "splits still reserved: {balance}"
    );
    assert_eq!(money(&balance["incoming"]), sum("INCOMING"), "{balance}");
    assert_eq!(
        sum("INCOMING"),
        Decimal::ZERO,
        "money left in incoming without a booking"
    );
    assert!(money(&balance["available"]) >= Decimal::ZERO);
}

/// One delivery per event, each delivered; the receiver saw every event id.
async fn check_webhooks(api: &Api, receiver: &MockServer) {
    let deliveries = api.all("/api/webhooks/deliveries").await;
    let mut per_event: HashMap<String, usize> = HashMap::new();
    for d in &deliveries {
        *per_event
            .entry(d["eventId"].as_str().unwrap().to_owned())
            .or_default() += 1;
        assert_eq!(d["status"], "DELIVERED", "{d}");
    }
    let twice: Vec<_> = per_event.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "events with more than one delivery: {twice:?}"
    );
    let received: BTreeSet<String> = receiver
        .received_requests()
        .await
        .expect("recording")
        .iter()
        .filter_map(|r| {
            r.headers
                .get("webhook-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .collect();
    let logged: BTreeSet<String> = per_event.into_keys().collect();
    assert_eq!(
        received, logged,
        "every logged event reached the receiver, and nothing else did"
    );
}
