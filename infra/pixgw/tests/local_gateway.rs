//! The `pixgw` binary as a user runs it: start, follow the quickstart, stop, start again and
//! find everything still there; `pixgw account create` prints working credentials.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_pixgw");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running `pixgw serve`, killed on drop.
struct Server {
    child: Child,
    base: String,
    banner: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data_dir: &Path, port: u16) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--port", &port.to_string(), "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .env_remove("PIXGW_STORE")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start pixgw");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut banner = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            banner.push_str(&line);
            banner.push('\n');
            if line.starts_with("API reference:") {
                let _ = tx.send(banner.clone());
            }
        }
    });
    let banner = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("pixgw printed its quickstart");
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        banner,
    }
}

fn banner_value(banner: &str, label: &str) -> String {
    banner
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("{label} in banner:\n{banner}"))
}

async fn token(client: &reqwest::Client, base: &str, client_id: &str, secret: &str) -> String {
    let response = client
        .post(format!("{base}/api/auth/token"))
        .json(&json!({"clientId": client_id, "clientSecret": secret}))
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    body["accessToken"]
        .as_str()
        .expect("accessToken")
        .to_owned()
}

#[tokio::test]
async fn serve_follow_quickstart_restart_and_keep_everything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    // No pooled connections: the server is restarted on the same port.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");

    let server = start(dir.path(), port);
    assert!(
        server
            .banner
            .contains(&format!("PIX gateway running at http://127.0.0.1:{port}"))
    );
    let client_id = banner_value(&server.banner, "clientId");
    let secret = banner_value(&server.banner, "clientSecret");
    let bearer = token(&client, &server.base, &client_id, &secret).await;

    let created = client
        .post(format!("{}/api/pix/cash-in", server.base))
        .bearer_auth(&bearer)
        .header("X-Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .json(&json!({
            "transaction": {"value": 189.90, "description": "Pedido #8842", "externalId": "ORD-8842", "expirationTime": 3600, "generateQrCode": true},
            "payer": {"fullName": "Carlos Oliveira", "document": "11222333000181"}
        }))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let charge: Value = created.json().await.expect("json");
    let id = charge["transactionId"].as_str().expect("id").to_owned();
    assert!(
        charge["pixCode"]
            .as_str()
            .expect("pixCode")
            .contains(&format!("127.0.0.1:{port}/pix/loc/{id}"))
    );

    // The BR Code's location is served by the gateway itself.
    let location: Value = client
        .get(format!("{}/pix/loc/{id}", server.base))
        .send()
        .await
        .expect("location")
        .json()
        .await
        .expect("json");
    assert_eq!(location["valor"]["original"], "189.90");

    // Over HTTP, an oversized body is a 400 envelope too.
    let huge = client
        .post(format!("{}/api/pix/cash-in", server.base))
        .bearer_auth(&bearer)
        .body(vec![b' '; 1024 * 1024 + 10])
        .send()
        .await
        .expect("oversized request");
    assert_eq!(huge.status(), 400);
    let envelope: Value = huge.json().await.expect("json");
    assert_eq!(envelope["code"], "PUB_PAYLOAD_TOO_LARGE");

    // Stop, start again on the same data dir: same demo account, same charge, same keys.
    drop(server);
    let server = start(dir.path(), port);
    assert_eq!(banner_value(&server.banner, "clientId"), client_id);
    let fetched = client
        .get(format!("{}/api/pix/cash-in/{id}", server.base))
        .bearer_auth(&bearer)
        .send()
        .await
        .expect("get after restart");
    assert_eq!(
        fetched.status(),
        200,
        "the old token still verifies: keys persisted"
    );
    let fetched: Value = fetched.json().await.expect("json");
    assert_eq!(fetched, charge);
    drop(server);

    // `pixgw account create` prints credentials that work.
    let output = Command::new(BIN)
        .args([
            "account",
            "create",
            "--name",
            "Loja Nova Ltda",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("account create");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let account: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    for field in ["accountId", "clientId", "clientSecret", "cryptoToken"] {
        assert!(
            account[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field}"
        );
    }
    let server = start(dir.path(), port);
    let new_token = token(
        &client,
        &server.base,
        account["clientId"].as_str().expect("clientId"),
        account["clientSecret"].as_str().expect("secret"),
    )
    .await;
    let list: Value = client
        .get(format!("{}/api/pix/cash-in", server.base))
        .bearer_auth(&new_token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(
        list["items"].as_array().map(Vec::len),
        Some(0),
        "a new account sees no charges"
    );
}
