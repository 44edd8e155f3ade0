//! The `pixgw` binary as a user runs it: start, follow the quickstart, stop, start again and
//! find everything still there; `pixgw account create` prints working credentials.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

mod common;

use common::{BIN, banner_value, free_port, serve_command};

/// A running `pixgw serve`, killed on drop.
struct Server {
    /// Killed on drop.
    _running: common::Running,
    base: String,
    banner: String,
}

fn start(data_dir: &Path, port: u16) -> Server {
    start_with(data_dir, port, &[])
}

fn start_with(data_dir: &Path, port: u16, extra: &[&str]) -> Server {
    let mut command = serve_command(data_dir, port);
    command.args(extra);
    let running = common::spawn(command);
    Server {
        base: format!("http://127.0.0.1:{port}"),
        banner: running.banner.clone(),
        _running: running,
    }
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

/// A JSON money value as written (`10.00`), to compare exactly.
fn money(v: &Value) -> String {
    v.to_string()
}

/// Polls `GET path` until `done` holds (the pipeline runs in the background), for up to 10 s.
async fn wait_for(
    client: &reqwest::Client,
    url: &str,
    bearer: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = client
            .get(url)
            .bearer_auth(bearer)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not reached; last: {last}");
}

/// The walkthrough: the seed's marketplace charge paid through the sandbox (whose
/// PIX network calls our webhook endpoint over HTTP), splits SCHEDULED, the remainder in the
/// balance; then the immediate-split example, paid out at once.
#[tokio::test]
async fn pay_with_the_sandbox_and_watch_the_splits_settle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), free_port());
    let client = reqwest::Client::new();
    let client_id = banner_value(&server.banner, "clientId");
    let secret = banner_value(&server.banner, "clientSecret");
    let bearer = token(&client, &server.base, &client_id, &secret).await;
    let base = &server.base;

    let create = |body: Value| {
        let client = client.clone();
        let bearer = bearer.clone();
        async move {
            let response = client
                .post(format!("{base}/api/pix/cash-in"))
                .bearer_auth(&bearer)
                .json(&body)
                .send()
                .await
                .expect("create");
            assert_eq!(response.status(), 201);
            let body: Value = response.json().await.expect("json");
            body["transactionId"].as_str().expect("id").to_owned()
        }
    };
    let pay = |id: String| {
        let client = client.clone();
        let bearer = bearer.clone();
        async move {
            let response = client
                .post(format!("{base}/api/sandbox/cash-in/{id}/pay"))
                .bearer_auth(&bearer)
                .send()
                .await
                .expect("pay");
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.expect("json")
        }
    };

    let marketplace = create(json!({
        "transaction": {"value": 200.00, "description": "Pedido #12345 - Marketplace", "externalId": "PED-12345"},
        "payer": {"fullName": "João Pereira", "document": "12345678909"},
        "splits": [
            {"pixKey": "vendedor@email.com", "pixKeyType": "EMAIL", "name": "Loja do João", "document": "11222333000181", "type": "PERCENTAGE", "value": 70},
            {"pixKey": "11222333000181", "pixKeyType": "CNPJ", "name": "Marketplace Ltda", "document": "11222333000181", "type": "PERCENTAGE", "value": 20},
            {"pixKey": "+5511999887766", "pixKeyType": "PHONE", "name": "Entregador Silva", "document": "98765432100", "type": "FIXED", "value": 10.00}
        ]
    }))
    .await;
    let paid = pay(marketplace.clone()).await;
    assert_eq!(paid["status"], "CONFIRMED");
    assert!(paid["endToEndId"].as_str().expect("e2e").starts_with('E'));
    assert!(paid["paidBy"]["bankData"]["ispb"].is_string());

    let url = format!("{base}/api/pix/cash-in/{marketplace}");
    let charge = wait_for(&client, &url, &bearer, |c| {
        c["splits"][0]["status"] == "SCHEDULED"
    })
    .await;
    let amounts: Vec<String> = charge["splits"]
        .as_array()
        .expect("splits")
        .iter()
        .map(|s| s["amount"].to_string())
        .collect();
    assert_eq!(amounts, ["140.00", "40.00", "10.00"]);
    let balance_url = format!("{base}/api/account/balance");
    let balance = wait_for(&client, &balance_url, &bearer, |b| {
        money(&b["available"]) == "10.00"
    })
    .await;
    assert_eq!(balance["reservedForSplits"].to_string(), "190.00");

    let immediate = create(json!({
        "transaction": {"value": 350.00, "description": "Serviço de consultoria - Projeto Alpha", "externalId": "SVC-ALPHA-001"},
        "payer": {"fullName": "Empresa XYZ S.A.", "document": "11222333000181"},
        "splits": [{"pixKey": "a1b2c3d4-e5f6-4890-abcd-ef1234567890", "pixKeyType": "RANDOM", "name": "Consultor Freelancer", "document": "12345678909", "type": "PERCENTAGE", "value": 80, "immediate": true}]
    }))
    .await;
    pay(immediate.clone()).await;
    let url = format!("{base}/api/pix/cash-in/{immediate}");
    let charge = wait_for(&client, &url, &bearer, |c| {
        c["splits"][0]["status"] == "PAID"
    })
    .await;
    assert!(
        charge["splits"][0]["endToEndId"]
            .as_str()
            .expect("split e2e")
            .starts_with('E')
    );
    let balance = wait_for(&client, &balance_url, &bearer, |b| {
        money(&b["available"]) == "80.00"
    })
    .await;
    assert_eq!(balance["reservedForSplits"].to_string(), "190.00");
}

/// The walkthrough on the sandbox clock: scheduled splits wait for the payout window;
/// `POST /api/sandbox/clock/advance` moves the whole gateway two days ahead, and the in-process
/// scheduler (ticking every second here) pays one payout per recipient by itself. The same
/// move expires a pending charge. The quickstart shows all of it.
#[tokio::test]
async fn the_sandbox_clock_makes_the_scheduler_pay_and_charges_expire() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_with(dir.path(), free_port(), &["--scheduler-interval", "1"]);
    for route in [
        "/api/sandbox/payouts/run",
        "/api/sandbox/clock/advance",
        "/api/payouts",
    ] {
        assert!(
            server.banner.contains(route),
            "{route} in\n{}",
            server.banner
        );
    }
    assert!(server.banner.contains("the scheduler ticks every 1 s"));
    let client = reqwest::Client::new();
    let client_id = banner_value(&server.banner, "clientId");
    let secret = banner_value(&server.banner, "clientSecret");
    let bearer = token(&client, &server.base, &client_id, &secret).await;
    let base = &server.base;

    let create = |body: Value, bearer: String| {
        let client = client.clone();
        async move {
            let response = client
                .post(format!("{base}/api/pix/cash-in"))
                .bearer_auth(&bearer)
                .json(&body)
                .send()
                .await
                .expect("create");
            assert_eq!(response.status(), 201);
            let body: Value = response.json().await.expect("json");
            body["transactionId"].as_str().expect("id").to_owned()
        }
    };
    let pay = |id: String, bearer: String| {
        let client = client.clone();
        async move {
            let response = client
                .post(format!("{base}/api/sandbox/cash-in/{id}/pay"))
                .bearer_auth(&bearer)
                .send()
                .await
                .expect("pay");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        }
    };

    let marketplace = create(json!({
        "transaction": {"value": 200.00, "description": "Pedido #12345 - Marketplace", "externalId": "PED-CLOCK"},
        "payer": {"fullName": "João Pereira", "document": "12345678909"},
        "splits": [
            {"pixKey": "vendedor@email.com", "pixKeyType": "EMAIL", "name": "Loja do João", "document": "11222333000181", "type": "PERCENTAGE", "value": 70},
            {"pixKey": "11222333000181", "pixKeyType": "CNPJ", "name": "Marketplace Ltda", "document": "11222333000181", "type": "PERCENTAGE", "value": 20},
            {"pixKey": "+5511999887766", "pixKeyType": "PHONE", "name": "Entregador Silva", "document": "98765432100", "type": "FIXED", "value": 10.00}
        ]
    }), bearer.clone())
    .await;
    let expiring = create(json!({
        "transaction": {"value": 15.00, "description": "Expira em 5 minutos", "externalId": "EXP-1", "expirationTime": 300},
        "payer": {"fullName": "Maria Silva", "document": "12345678909"}
    }), bearer.clone())
    .await;
    let (status, _) = pay(marketplace.clone(), bearer.clone()).await;
    assert_eq!(status, 200);
    wait_for(
        &client,
        &format!("{base}/api/pix/cash-in/{marketplace}"),
        &bearer,
        |c| c["splits"][2]["status"] == "SCHEDULED",
    )
    .await;
    // The window (DAILY 09:00 São Paulo) has not come: the ticks pay nothing.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let payouts: Value = client
        .get(format!("{base}/api/payouts"))
        .bearer_auth(&bearer)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(payouts["items"].as_array().map(Vec::len), Some(0));

    // The response shows milliseconds: compare at that precision, or a call within the same
    // millisecond would look like time going backwards.
    let before = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 3);
    let advanced = client
        .post(format!("{base}/api/sandbox/clock/advance"))
        .bearer_auth(&bearer)
        .json(&json!({"seconds": 172_800}))
        .send()
        .await
        .expect("advance");
    assert_eq!(advanced.status(), 200);
    let advanced: Value = advanced.json().await.expect("json");
    let now = advanced["now"]
        .as_str()
        .map(chrono::DateTime::parse_from_rfc3339);
    let Some(Ok(now)) = now else {
        panic!("{advanced}");
    };
    assert!(now >= before + chrono::Duration::days(2), "{advanced}");

    // Two sandbox days later the old token has expired.
    let stale = client
        .get(format!("{base}/api/payouts"))
        .bearer_auth(&bearer)
        .send()
        .await
        .expect("list");
    assert_eq!(stale.status(), 401);
    let bearer = token(&client, base, &client_id, &secret).await;

    let paid = wait_for(
        &client,
        &format!("{base}/api/payouts?status=PAID"),
        &bearer,
        |p| p["items"].as_array().map(Vec::len) == Some(3),
    )
    .await;
    let mut amounts: Vec<String> = paid["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["amount"].to_string())
        .collect();
    amounts.sort();
    assert_eq!(amounts, ["10.00", "140.00", "40.00"]);
    let first = &paid["items"][0];
    assert_eq!(first["trigger"], "SCHEDULED");
    // Paid on the sandbox clock: two days ahead of real time.
    let created = first["createdAt"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .expect("createdAt");
    assert!(created >= before + chrono::Duration::days(2), "{first}");
    // A payout is PAID first; its splits are marked paid (with the end-to-end id) by the
    // executor's next writes, chunk by chunk, moments later.
    let detail = wait_for(
        &client,
        &format!("{base}/api/payouts/{}", first["id"].as_str().expect("id")),
        &bearer,
        |d| d["splits"][0]["endToEndId"].is_string(),
    )
    .await;
    assert_eq!(detail["splits"][0]["transactionId"], marketplace.as_str());
    assert_eq!(detail["splits"][0]["amount"], first["amount"]);
    assert_eq!(detail["splits"][0]["endToEndId"], first["endToEndId"]);

    // The 5-minute charge is two days past its expirationDate.
    let (status, refused) = pay(expiring, bearer.clone()).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "CHARGE_EXPIRED");
}

/// Merchant webhooks on the local gateway: a receiver on 127.0.0.1 (allowed here, unlike on
/// AWS) is registered, a paid charge's CASHIN_CONFIRMED reaches it through the gateway's own
/// outbox relay, queue and dispatcher, and the Standard Webhooks reference library verifies
/// it with the secret the registration showed. Private addresses stay refused.
#[tokio::test]
async fn a_localhost_receiver_gets_signed_webhooks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), free_port());
    assert!(
        server.banner.contains("/api/account/webhook"),
        "the quickstart shows how to register a webhook:\n{}",
        server.banner
    );
    let client = reqwest::Client::new();
    let client_id = banner_value(&server.banner, "clientId");
    let secret = banner_value(&server.banner, "clientSecret");
    let bearer = token(&client, &server.base, &client_id, &secret).await;
    let base = &server.base;

    let receiver = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/webhooks"))
        .respond_with(wiremock::ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let register = |url: String| {
        let client = client.clone();
        let bearer = bearer.clone();
        async move {
            let response = client
                .put(format!("{base}/api/account/webhook"))
                .bearer_auth(&bearer)
                .json(&json!({"url": url}))
                .send()
                .await
                .expect("register");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        }
    };
    let (status, refused) = register("http://10.0.0.7/webhooks".to_owned()).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["code"], "INVALID_WEBHOOK_URL");
    let (status, registered) = register(format!("{}/webhooks", receiver.uri())).await;
    assert_eq!(status, 201, "{registered}");
    let whsec = registered["secret"].as_str().expect("secret").to_owned();

    let response = client
        .post(format!("{base}/api/pix/cash-in"))
        .bearer_auth(&bearer)
        .json(&json!({
            "transaction": {"value": 49.90, "description": "Assinatura mensal", "externalId": "SUB-WEBHOOK"},
            "payer": {"fullName": "Maria Silva", "document": "12345678909"}
        }))
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), 201);
    let charge: Value = response.json().await.expect("json");
    let id = charge["transactionId"].as_str().expect("id").to_owned();
    let paid = client
        .post(format!("{base}/api/sandbox/cash-in/{id}/pay"))
        .bearer_auth(&bearer)
        .send()
        .await
        .expect("pay");
    assert_eq!(paid.status(), 200);

    let mut posts = Vec::new();
    for _ in 0..200 {
        posts = receiver.received_requests().await.expect("recorded");
        if !posts.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(posts.len(), 1, "one CASHIN_CONFIRMED");
    let post = &posts[0];
    let webhook = standardwebhooks::Webhook::new(&whsec).expect("whsec");
    webhook
        .verify(&post.body, &post.headers)
        .expect("the signature verifies");
    let body: Value = serde_json::from_slice(&post.body).expect("json body");
    assert_eq!(body["type"], "CASHIN_CONFIRMED");
    assert_eq!(body["data"]["transactionId"], id.as_str());
    assert_eq!(body["data"]["status"], "CONFIRMED");
    assert_eq!(
        post.headers.get("webhook-id").and_then(|v| v.to_str().ok()),
        body["id"].as_str()
    );

    let log = wait_for(
        &client,
        &format!("{base}/api/webhooks/deliveries"),
        &bearer,
        |page| page["items"][0]["status"] == "DELIVERED",
    )
    .await;
    assert_eq!(log["items"][0]["eventId"], body["id"]);
    assert_eq!(log["items"][0]["attempts"][0]["statusCode"], 204);
}
