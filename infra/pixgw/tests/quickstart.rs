//! The quickstart `pixgw serve` prints, taken exactly as printed and pasted whole into `bash`
//! against the real binary, as its banner invites. `curl` is the real one behind a recorder
//! (first on `PATH`), so every answer of every step is checked by method, path, status and
//! JSON body — including the order: a step that needs the background pipeline's work runs
//! only after an answer showed that work done. README.md's Quickstart must be the same block.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

use common::free_port;

const PASTE_HEADING: &str = "Quickstart — paste into a shell:";
const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
/// Longer than every bounded wait of the block together (each `wait_for` gives up at 10 s).
const PASTE_DEADLINE: Duration = Duration::from_secs(120);

/// Stands in for `curl` in the pasted block: runs the real one with the same arguments and
/// records the call (arguments, response headers, output). The output is written to a file
/// first and shown after, so a reader that stops early (`grep -q`) cannot cut the record short.
const RECORDER: &str = r#"#!/usr/bin/env bash
n=$(( $(cat "$QS_LOG/count" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$QS_LOG/count"
printf '%s\0' "$@" > "$QS_LOG/$n.args"
"$QS_REAL_CURL" -D "$QS_LOG/$n.headers" "$@" > "$QS_LOG/$n.out"
rc=$?
cat "$QS_LOG/$n.out"
exit $rc
"#;

fn start(data_dir: &Path, port: u16) -> common::Running {
    common::spawn(common::serve_command(data_dir, port))
}

/// The paste block exactly as printed: the indented lines after the heading, up to the first
/// line of text that is not indented (blank lines inside the block included).
fn paste_block(banner: &str) -> String {
    let lines = banner.lines().skip_while(|l| *l != PASTE_HEADING).skip(1);
    let mut block: Vec<&str> = lines
        .take_while(|l| l.is_empty() || l.starts_with("  "))
        .collect();
    while block.last().is_some_and(|l| l.is_empty()) {
        block.pop();
    }
    while block.first().is_some_and(|l| l.is_empty()) {
        block.remove(0);
    }
    assert!(
        block.iter().any(|l| !l.is_empty()),
        "no paste block after {PASTE_HEADING:?} in\n{banner}"
    );
    let mut text = block.join("\n");
    text.push('\n');
    text
}

/// Where `curl` is on this machine's `PATH`.
fn real_curl() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("curl"))
        .find(|p| p.is_file())
        .expect("curl on PATH (the quickstart uses it)")
}

/// One recorded curl call and its answer.
#[derive(Debug)]
struct Call {
    method: String,
    /// Path and query, e.g. `/api/payouts?status=PAID&limit=10`.
    target: String,
    status: u16,
    body: Value,
}

impl Call {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} → {} {}",
            self.method, self.target, self.status, self.body
        )
    }
}

fn read_call(log: &Path, n: usize, base: &str) -> Call {
    let args = std::fs::read(log.join(format!("{n}.args"))).expect("args");
    let args: Vec<String> = args
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let method = args
        .iter()
        .position(|a| a == "-X")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "GET".to_owned());
    let url = args
        .iter()
        .find(|a| a.starts_with("http://"))
        .unwrap_or_else(|| panic!("call {n} has no URL: {args:?}"));
    let target = url
        .strip_prefix(base)
        .unwrap_or_else(|| panic!("call {n} is not to the gateway: {url}"))
        .to_owned();
    let headers = std::fs::read_to_string(log.join(format!("{n}.headers"))).unwrap_or_default();
    let status = headers
        .lines()
        .rfind(|l| l.starts_with("HTTP/"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("call {n} ({method} {target}) got no HTTP answer"));
    let out = std::fs::read(log.join(format!("{n}.out"))).expect("output");
    let body = serde_json::from_slice(&out).unwrap_or_else(|e| {
        panic!(
            "call {n} ({method} {target}, {status}) answered no JSON ({e}): {}",
            String::from_utf8_lossy(&out)
        )
    });
    Call {
        method,
        target,
        status,
        body,
    }
}

/// What pasting `block` into `bash` (in `work`) did: every curl call in order, and the
/// shell's own stdout and stderr.
struct Paste {
    calls: Vec<Call>,
    stdout: String,
    stderr: String,
}

fn paste(block: &str, work: &Path, base: &str) -> Paste {
    let bin = work.join("bin");
    let log = work.join("calls");
    std::fs::create_dir_all(&bin).expect("bin dir");
    std::fs::create_dir_all(&log).expect("log dir");
    let recorder = bin.join("curl");
    std::fs::write(&recorder, RECORDER).expect("recorder");
    let mut perms = std::fs::metadata(&recorder).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&recorder, perms).expect("chmod");
    let path = std::env::join_paths(
        std::iter::once(bin.clone()).chain(
            std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths),
        ),
    )
    .expect("PATH");

    let mut shell = Command::new("bash")
        .current_dir(work)
        .env("PATH", path)
        .env("QS_LOG", &log)
        .env("QS_REAL_CURL", real_curl())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash");
    shell
        .stdin
        .take()
        .expect("stdin")
        .write_all(block.as_bytes())
        .expect("paste");
    let started = Instant::now();
    while shell.try_wait().expect("wait").is_none() {
        if started.elapsed() > PASTE_DEADLINE {
            let _ = shell.kill();
            panic!("the pasted quickstart did not finish within {PASTE_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = shell.wait_with_output().expect("output");
    let count: usize = std::fs::read_to_string(log.join("count"))
        .map(|c| c.trim().parse().expect("count"))
        .unwrap_or(0);
    Paste {
        calls: (1..=count).map(|n| read_call(&log, n, base)).collect(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl Paste {
    /// Index and call of every call to `method path` (path without the query).
    fn to(&self, method: &str, path: &str) -> Vec<(usize, &Call)> {
        self.calls
            .iter()
            .enumerate()
            .filter(|(_, c)| c.method == method && c.path() == path)
            .collect()
    }

    /// The one call to `method path`, with its index.
    fn once(&self, method: &str, path: &str) -> (usize, &Call) {
        let calls = self.to(method, path);
        assert_eq!(calls.len(), 1, "one {method} {path}; calls:\n{self}");
        calls[0]
    }

    /// The `nth` call to `method path`.
    fn nth(&self, method: &str, path: &str, nth: usize) -> (usize, &Call) {
        *self
            .to(method, path)
            .get(nth)
            .unwrap_or_else(|| panic!("call {nth} of {method} {path}; calls:\n{self}"))
    }

    /// The last call to `method path`.
    fn last(&self, method: &str, path: &str) -> (usize, &Call) {
        *self
            .to(method, path)
            .last()
            .unwrap_or_else(|| panic!("no {method} {path}; calls:\n{self}"))
    }
}

impl std::fmt::Display for Paste {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, call) in self.calls.iter().enumerate() {
            let line: String = call.to_string().chars().take(300).collect();
            writeln!(f, "  {i}: {line}")?;
        }
        Ok(())
    }
}

/// A money value as the API writes it (a JSON number with exactly two decimals), in cents.
fn cents(v: &Value) -> i64 {
    let text = v.to_string();
    let (units, decimals) = text
        .split_once('.')
        .unwrap_or_else(|| panic!("{text} is not a two-decimal amount"));
    assert_eq!(decimals.len(), 2, "{text} is not a two-decimal amount");
    format!("{units}{decimals}").parse().expect("amount")
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

#[test]
fn the_printed_quickstart_pasted_whole_answers_every_step() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let server = start(&dir.path().join("data"), port);
    let base = format!("http://127.0.0.1:{port}");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");

    let pasted = paste(&paste_block(&server.banner), &work, &base);
    let p = &pasted;
    assert_eq!(p.stderr, "", "the shell complained; calls:\n{p}");
    for call in &p.calls {
        assert!(
            (200..300).contains(&call.status),
            "every answer is a success; calls:\n{p}"
        );
    }
    for line in p.stdout.lines().filter(|l| !l.is_empty()) {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "every answer shown is one JSON line: {line}"
        );
    }

    // 1. The token.
    let (_, token) = p.once("POST", "/api/auth/token");
    assert_eq!(token.status, 200, "{token}");
    assert_eq!(token.body["tokenType"], "Bearer");

    // 2–3. The charge, its QR code as a PNG, fetched and listed.
    let (_, charge) = p.nth("POST", "/api/pix/cash-in", 0);
    assert_eq!(charge.status, 201, "{charge}");
    assert_eq!(charge.body["status"], "PENDING", "{charge}");
    let id = str_of(&charge.body, "transactionId").to_owned();
    let png = std::fs::read(work.join("pix.png")).expect("pix.png written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "pix.png is a PNG");
    let charge_path = format!("/api/pix/cash-in/{id}");
    let (_, fetched) = p.nth("GET", &charge_path, 0);
    assert_eq!(fetched.body["status"], "PENDING", "{fetched}");
    let (_, listed) = p.once("GET", "/api/pix/cash-in");
    assert_eq!(listed.body["items"][0]["transactionId"], id.as_str());

    // 4. Paid: CONFIRMED, and the balance shows the money at once, booked or on its way.
    let (_, paid) = p.once("POST", &format!("/api/sandbox/cash-in/{id}/pay"));
    assert_eq!(paid.body["status"], "CONFIRMED", "{paid}");
    let (_, balance) = p.nth("GET", "/api/account/balance", 0);
    let b = &balance.body;
    assert_eq!(
        cents(&b["incoming"]) + cents(&b["available"]),
        18_990,
        "the paid charge is in the balance: {b}"
    );
    assert_eq!(cents(&b["reservedForSplits"]), 0, "{b}");

    // 5. The marketplace charge, paid.
    let (_, marketplace) = p.nth("POST", "/api/pix/cash-in", 1);
    assert_eq!(marketplace.status, 201, "{marketplace}");
    let mkt = str_of(&marketplace.body, "transactionId").to_owned();
    let (_, paid) = p.once("POST", &format!("/api/sandbox/cash-in/{mkt}/pay"));
    assert_eq!(paid.body["status"], "CONFIRMED", "{paid}");

    // 6. The payout run comes only after an answer showed the splits booked, and pays them.
    let mkt_path = format!("/api/pix/cash-in/{mkt}");
    let (run_at, run) = p.once("POST", "/api/sandbox/payouts/run");
    let booked = p
        .to("GET", &mkt_path)
        .into_iter()
        .find(|(_, c)| c.body["splits"][0]["status"] == "SCHEDULED")
        .unwrap_or_else(|| panic!("the splits were seen booked; calls:\n{p}"));
    assert!(booked.0 < run_at, "booked before the run; calls:\n{p}");
    let (_, shown) = p.last("GET", &mkt_path);
    let amounts: Vec<i64> = shown.body["splits"]
        .as_array()
        .expect("splits")
        .iter()
        .map(|s| cents(&s["amount"]))
        .collect();
    assert_eq!(amounts, [14_000, 4_000, 1_000], "{shown}");
    assert_eq!(run.body["payouts"], 3, "{run}");
    assert_eq!(run.body["splits"], 3, "{run}");
    assert_eq!(cents(&run.body["amount"]), 19_000, "{run}");

    // The paid payouts are listed only after no payout was PROCESSING any more.
    let (settled_at, settled) = p.last("GET", "/api/payouts");
    assert_eq!(settled.target, "/api/payouts?status=PAID&limit=10");
    let (drained_at, drained) = p
        .to("GET", "/api/payouts")
        .into_iter()
        .find(|(_, c)| {
            c.target.contains("status=PROCESSING") && c.body["items"] == Value::Array(vec![])
        })
        .unwrap_or_else(|| panic!("no payout PROCESSING was seen; calls:\n{p}"));
    assert!(drained_at < settled_at, "{drained}");
    let mut paid: Vec<i64> = settled.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|po| {
            assert_eq!(po["status"], "PAID", "{po}");
            cents(&po["amount"])
        })
        .collect();
    paid.sort_unstable();
    assert_eq!(paid, [1_000, 4_000, 14_000], "{settled}");
    let (_, opened) = p
        .calls
        .iter()
        .enumerate()
        .find(|(_, c)| c.path().starts_with("/api/payouts/po_"))
        .unwrap_or_else(|| panic!("a payout opened; calls:\n{p}"));
    assert_eq!(opened.body["status"], "PAID", "{opened}");
    assert_eq!(
        opened.body["splits"][0]["transactionId"],
        mkt.as_str(),
        "{opened}"
    );

    // 7. Money out: the refund (202, D…), REFUNDED; the cash-out (202), COMPLETED.
    let (_, refund) = p.once("POST", &format!("/api/pix/cash-in/{id}/refund"));
    assert_eq!(refund.status, 202, "{refund}");
    assert_eq!(refund.body["status"], "REFUND_PROCESSING", "{refund}");
    assert!(
        str_of(&refund.body, "endToEndId").starts_with('D'),
        "{refund}"
    );
    let (_, refunded) = p.last("GET", &charge_path);
    assert_eq!(refunded.body["status"], "REFUNDED", "{refunded}");
    let (_, cash_out) = p.once("POST", "/api/pix/cash-out");
    assert_eq!(cash_out.status, 202, "{cash_out}");
    assert_eq!(cash_out.body["status"], "PROCESSING", "{cash_out}");
    let cash_out_id = str_of(&cash_out.body, "id");
    let (_, completed) = p.last("GET", &format!("/api/pix/cash-out/{cash_out_id}"));
    assert_eq!(completed.body["status"], "COMPLETED", "{completed}");

    // The balance after all of it, and the statement it is the sum of, bucket by bucket:
    // 189.90 + 200.00 in; 190.00 paid out to the recipients, 189.90 refunded, 5.00 cashed out.
    let (_, balance) = p.last("GET", "/api/account/balance");
    let b = &balance.body;
    assert_eq!(
        [
            cents(&b["incoming"]),
            cents(&b["available"]),
            cents(&b["reservedForSplits"])
        ],
        [0, 500, 0],
        "{b}"
    );
    let (_, statement) = p.once("GET", "/api/account/statement");
    assert_eq!(statement.body["nextCursor"], Value::Null, "{statement}");
    for (bucket, field) in [
        ("INCOMING", "incoming"),
        ("AVAILABLE", "available"),
        ("RESERVED_FOR_SPLITS", "reservedForSplits"),
    ] {
        let sum: i64 = statement.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|e| e["bucket"] == bucket)
            .map(|e| match e["direction"].as_str() {
                Some("CREDIT") => cents(&e["amount"]),
                Some("DEBIT") => -cents(&e["amount"]),
                other => panic!("direction {other:?} in {e}"),
            })
            .sum();
        assert_eq!(sum, cents(&b[field]), "{bucket} entries sum to {field}");
    }

    // 8. The webhook endpoint registered (201, its secret shown once), the delivery log read.
    let (_, webhook) = p.once("PUT", "/api/account/webhook");
    assert_eq!(webhook.status, 201, "{webhook}");
    assert!(
        str_of(&webhook.body, "secret").starts_with("whsec_"),
        "{webhook}"
    );
    let (_, deliveries) = p.once("GET", "/api/webhooks/deliveries");
    assert!(deliveries.body["items"].is_array(), "{deliveries}");
    drop(server);
}

/// README.md's Quickstart block: its variables (`NAME=…` lines before the first blank one)
/// and the rest, the steps.
fn split_variables(block: &str) -> (Vec<String>, String) {
    let (variables, steps) = block
        .split_once("\n\n")
        .unwrap_or_else(|| panic!("variables, a blank line, then the steps:\n{block}"));
    let names = variables
        .lines()
        .map(|l| {
            l.split_once('=')
                .map(|(name, _)| name.to_owned())
                .unwrap_or_else(|| panic!("{l:?} is not a variable"))
        })
        .collect();
    (names, steps.to_owned())
}

fn readme_quickstart() -> String {
    let readme = std::fs::read_to_string(README).expect("README.md");
    let section = readme
        .split_once("\n## Quickstart")
        .map(|(_, rest)| rest)
        .expect("a Quickstart section in README.md");
    let code = section
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```\n"))
        .map(|(code, _)| code)
        .expect("a sh block in README.md's Quickstart");
    code.to_owned()
}

#[test]
fn the_readme_shows_the_quickstart_the_gateway_prints() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), free_port());
    let printed: String = paste_block(&server.banner)
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
        .collect();
    let (printed_names, printed_steps) = split_variables(&printed);
    let (readme_names, readme_steps) = split_variables(&readme_quickstart());
    assert_eq!(printed_names, readme_names);
    assert_eq!(
        printed_names,
        ["BASE", "CLIENT_ID", "CLIENT_SECRET", "CRYPTO_TOKEN"]
    );
    assert_eq!(
        printed_steps, readme_steps,
        "README.md's Quickstart block is the printed one"
    );
}
