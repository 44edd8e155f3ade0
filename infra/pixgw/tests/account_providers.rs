//! `pixgw account create --providers` and `pixgw account providers` as an operator runs them,
//! on both stores: the order given at creation is stored, read, replaced and cleared; unknown
//! names and unknown accounts fail with exit code 1 and a clear message, changing nothing.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_pixgw");

/// Runs `pixgw ARGS… STORAGE…` with nothing taken from the caller's PIXGW_* environment.
fn pixgw(args: &[&str], storage: &[String]) -> Output {
    Command::new(BIN)
        .args(args)
        .args(storage)
        .env("RUST_LOG", "warn")
        .env_remove("PIXGW_STORE")
        .env_remove("PIXGW_DATA_DIR")
        .env_remove("PIXGW_TABLE")
        .env_remove("DYNAMODB_ENDPOINT")
        .output()
        .expect("run pixgw")
}

/// The JSON a successful run printed.
fn ok_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "pixgw failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// The message of a run that must fail with exit code 1 and print nothing on stdout.
fn failure(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn providers(account: &str, extra: &[&str], storage: &[String]) -> Output {
    let mut args = vec!["account", "providers", "--account", account];
    args.extend_from_slice(extra);
    pixgw(&args, storage)
}

/// The whole operator story against one store.
fn operator_story(storage: &[String]) {
    let created = ok_json(&pixgw(
        &[
            "account",
            "create",
            "--name",
            "Loja Failover",
            "--providers",
            "connectpsp,pagfast",
        ],
        storage,
    ));
    let id = created["accountId"].as_str().expect("accountId").to_owned();
    assert!(created["clientSecret"].is_string(), "{created}");

    // No flag: just shows the stored order.
    assert_eq!(
        ok_json(&providers(&id, &[], storage)),
        json!({"accountId": id, "providers": ["connectpsp", "pagfast"]})
    );
    assert_eq!(
        ok_json(&providers(&id, &["--set", "pagfast,sandbox"], storage)),
        json!({"accountId": id, "providers": ["pagfast", "sandbox"]})
    );
    assert_eq!(
        ok_json(&providers(&id, &[], storage)),
        json!({"accountId": id, "providers": ["pagfast", "sandbox"]})
    );
    assert_eq!(
        ok_json(&providers(&id, &["--clear"], storage)),
        json!({"accountId": id, "providers": []})
    );
    assert_eq!(
        ok_json(&providers(&id, &["--set", "connectpsp"], storage)),
        json!({"accountId": id, "providers": ["connectpsp"]})
    );

    // An unknown name and a repeated one are refused, and the stored order stays.
    let unknown = failure(&providers(&id, &["--set", "pagfast,acme"], storage));
    assert!(
        unknown.contains("unknown PIX provider \"acme\""),
        "{unknown}"
    );
    let twice = failure(&providers(&id, &["--set", "pagfast,pagfast"], storage));
    assert!(twice.contains("listed twice"), "{twice}");
    assert_eq!(
        ok_json(&providers(&id, &[], storage)),
        json!({"accountId": id, "providers": ["connectpsp"]})
    );

    // An account that does not exist is reported as such, for reads and writes alike.
    let missing = "acc_0123456789abcdef0123456789abcdef";
    for extra in [&[][..], &["--set", "pagfast"], &["--clear"]] {
        let message = failure(&providers(missing, extra, storage));
        assert!(
            message.contains(&format!("account {missing} not found")),
            "{message}"
        );
    }
    let malformed = failure(&providers("not-an-account", &[], storage));
    assert!(malformed.contains("is not an account id"), "{malformed}");

    // A creation with an unknown provider creates nothing and prints no credentials.
    let refused = failure(&pixgw(
        &[
            "account",
            "create",
            "--name",
            "Loja X",
            "--providers",
            "acme",
        ],
        storage,
    ));
    assert!(
        refused.contains("unknown PIX provider \"acme\""),
        "{refused}"
    );
}

fn embedded(dir: &Path) -> Vec<String> {
    vec![
        "--store".into(),
        "embedded".into(),
        "--data-dir".into(),
        dir.display().to_string(),
    ]
}

#[test]
fn operator_sets_and_clears_providers_on_the_embedded_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    operator_story(&embedded(&data_dir));
    // `--set` and `--clear` together are a usage error (clap's exit code 2), not a change.
    let both = providers(
        "acc_0123456789abcdef0123456789abcdef",
        &["--set", "pagfast", "--clear"],
        &embedded(&data_dir),
    );
    assert_eq!(both.status.code(), Some(2), "{both:?}");
}

#[test]
fn an_invalid_provider_list_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("never-created");
    let message = failure(&pixgw(
        &[
            "account",
            "create",
            "--name",
            "Loja",
            "--providers",
            "sandbox,connectpsp,pagfast,sandbox",
        ],
        &embedded(&data_dir),
    ));
    assert!(message.contains("at most 3"), "{message}");
    // Not even the data dir (secrets, store file) was created.
    assert!(!data_dir.exists());
}

#[test]
fn operator_sets_and_clears_providers_on_dynamodb() {
    // As the store crate's own tests: DynamoDB Local must be running (scripts/test.sh and
    // infra/scripts/emulators.sh start it); its absence is a broken setup, not a skip.
    let endpoint = std::env::var("PIXGW_TEST_DYNAMODB_ENDPOINT")
        .expect("PIXGW_TEST_DYNAMODB_ENDPOINT (run under infra/scripts/emulators.sh)");
    let dir = tempfile::tempdir().expect("temp dir");
    let table = format!("pixgw-cli-{}", uuid::Uuid::new_v4().simple());
    let storage = vec![
        "--store".to_owned(),
        "dynamodb".to_owned(),
        "--table".to_owned(),
        table,
        "--dynamodb-endpoint".to_owned(),
        endpoint,
        "--data-dir".to_owned(),
        dir.path().display().to_string(),
    ];
    let made = pixgw(&["table", "create"], &storage);
    assert!(made.status.success(), "{made:?}");
    operator_story(&storage);
}
