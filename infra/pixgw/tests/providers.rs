//! `pixgw serve --providers …`: real providers built from their variables (no call is made to
//! them at start), named in the banner, their webhooks routed; a wrong configuration stops the
//! gateway with a message naming the variable and never the secret.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

mod common;

use common::{BIN, free_port};
const CLIENT_SECRET: &str = "connectpsp-client-secret-xyz";
const WEBHOOK_TOKEN: &str = "connectpsp-webhook-token-0123456789";

/// `pixgw serve` with only the given provider variables (none inherited from the caller).
fn serve(data_dir: &std::path::Path, port: u16, providers: &str, vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "serve",
        "--port",
        &port.to_string(),
        "--providers",
        providers,
    ])
    .arg("--data-dir")
    .arg(data_dir)
    .env("RUST_LOG", "warn")
    .env_remove("PIXGW_STORE")
    .env_remove("PIXGW_PROVIDERS");
    for (name, _) in std::env::vars() {
        if name.starts_with("CONNECTPSP_")
            || name.starts_with("PAGFAST_")
            || name.starts_with("PIXGW_FAILOVER_")
        {
            cmd.env_remove(name);
        }
    }
    for (name, value) in vars {
        cmd.env(name, value);
    }
    cmd
}

fn connectpsp_vars() -> Vec<(&'static str, &'static str)> {
    vec![
        // Never called at start; a closed local port if it were.
        ("CONNECTPSP_BASE_URL", "http://127.0.0.1:9"),
        ("CONNECTPSP_CLIENT_ID", "client-1"),
        ("CONNECTPSP_CLIENT_SECRET", CLIENT_SECRET),
        ("CONNECTPSP_APPLICATION_TOKEN", "application-token"),
        ("CONNECTPSP_CRYPTO_TOKEN", "crypto-token"),
        ("CONNECTPSP_WEBHOOK_TOKEN", WEBHOOK_TOKEN),
    ]
}

/// Starts `pixgw serve --providers {providers}` with ConnectPSP's variables, waits for the
/// banner, runs `check(banner, port)`, and stops the gateway.
fn with_gateway(providers: &str, check: impl FnOnce(&str, u16)) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Killed when dropped, also when `check` panics.
    let running = common::spawn(serve(dir.path(), port, providers, &connectpsp_vars()));
    check(&running.banner, port);
}

/// `(status, code)` of a request to the gateway.
fn call(method: reqwest::Method, port: u16, path: &str) -> (u16, String) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .request(method, format!("http://127.0.0.1:{port}{path}"))
            .header("content-type", "application/json")
            .body(r#"{"event":"CASH_IN_PAID"}"#)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        (status, body["code"].as_str().unwrap_or_default().to_owned())
    })
}

#[test]
fn real_providers_are_configured_named_in_the_banner_and_receive_webhooks() {
    with_gateway("connectpsp,sandbox", |banner, port| {
        assert!(
            banner.contains("PIX providers: connectpsp, sandbox"),
            "{banner}"
        );
        assert!(!banner.contains(CLIENT_SECRET) && !banner.contains(WEBHOOK_TOKEN));
        // ConnectPSP is configured: a call without its token is refused as unauthenticated.
        assert_eq!(
            call(reqwest::Method::POST, port, "/webhooks/provider/connectpsp"),
            (401, "PROVIDER_WEBHOOK_UNAUTHENTICATED".to_owned())
        );
        // PagFast is not listed, so there is no such provider here.
        assert_eq!(
            call(reqwest::Method::POST, port, "/webhooks/provider/pagfast"),
            (404, "PUB_NOT_FOUND".to_owned())
        );
        // The sandbox is listed: its routes are served (an unknown charge, not an unknown route).
        let loc = "/pix/loc/0123456789abcdef0123456789abcdef";
        assert_eq!(
            call(reqwest::Method::GET, port, loc),
            (404, "PUB_NOT_FOUND".to_owned())
        );
    });
}

#[test]
fn without_the_sandbox_its_routes_are_not_served() {
    with_gateway("connectpsp", |banner, port| {
        assert!(banner.contains("PIX providers: connectpsp)"), "{banner}");
        let loc = "/pix/loc/0123456789abcdef0123456789abcdef";
        assert_eq!(
            call(reqwest::Method::GET, port, loc),
            (404, "PUB_ROUTE_NOT_FOUND".to_owned())
        );
    });
}

#[test]
fn a_wrong_provider_configuration_stops_the_gateway_without_printing_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = connectpsp_vars();
    vars.retain(|(name, _)| *name != "CONNECTPSP_WEBHOOK_TOKEN");
    let short_token = "tooshort";
    vars.push(("CONNECTPSP_WEBHOOK_TOKEN", short_token));
    let output = serve(dir.path(), free_port(), "connectpsp", &vars)
        .output()
        .expect("run pixgw");
    assert!(!output.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("CONNECTPSP_WEBHOOK_TOKEN"), "{text}");
    assert!(
        !text.contains(short_token) && !text.contains(CLIENT_SECRET),
        "{text}"
    );

    let output = serve(
        dir.path(),
        free_port(),
        "connectpsp,stripe",
        &connectpsp_vars(),
    )
    .output()
    .expect("run pixgw");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("unknown PIX provider \"stripe\""),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
