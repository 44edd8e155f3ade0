//! Every function's IAM policy in `template.yaml` against the AWS calls it really makes.
//!
//! `template.yaml` is deployed on DynamoDB Local and moto ([`aws::world`]): every function the
//! template creates is built the way its binary builds itself, on the environment the template
//! gives it, with a recorder on its DynamoDB and SQS clients. The flows below drive each
//! function through the paths that touch AWS — successes, failures, retries, duplicates — and
//! then [`aws::check`] compares, per function:
//! - each recorded call (operation, table, index, queue) with the function's role: a call the
//!   role does not allow would be AccessDenied on AWS;
//! - each permission the role grants explicitly with the calls and event sources that need it:
//!   a grant nothing needs is a permission too many;
//! - the event source side from the template's `Events`: SQS mappings poll, delete and read
//!   the attributes of their queue, the stream mapping reads the table's stream and reports to
//!   its on-failure queue.
//!
//! And the environment: every function is started on exactly the variables the template gives
//! it, in several shapes of deployment, and must read every one of them (no secret it never
//! reads) and find everything it needs ([`aws::environment`]).
//!
//! The flows need DynamoDB Local and moto (`./scripts/test.sh` starts them) and fail without
//! them; the environment check makes no AWS call.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::unreachable)]

mod aws;
mod common;

use std::sync::Arc;

use aws::check::Unreached;
use aws::world::{PRIVATE_HOST, World};
use chrono::{DateTime, Duration, Utc};
use pixgw_api::accounts::create_account;
use pixgw_api::auth::digital_signature;
use pixgw_api::{AppState, Route};
use pixgw_domain::dispute::{DisputeOutcome, DisputeReason};
use pixgw_domain::messaging::events::{AccountEvent, EventType};
use pixgw_domain::pix::clock::{Clock, SystemClock};
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::webhooks::WebhookMessage;
use pixgw_providers::sandbox::{SandboxInfraction, SandboxPayment, SignedWebhook};
use serde_json::{Value, json};

/// Grants a function needs on a path no flow here can reach (`template.yaml` says the same next
/// to each).
const UNREACHED: &[Unreached] = &[
    Unreached {
        function: "expiry-sweeper",
        action: "dynamodb:GetItem",
        path: "re-reading a transition's witnesses once TransactionConflict retries ran out \
               (settlement_write); DynamoDB Local never answers TransactionConflict. And \
               re-reading a charge whose hold release lost its condition to a racing write \
               (HoldService::apply), which the hold index's fresh projection never hands it",
    },
    Unreached {
        function: "payout-schedule-put",
        action: "dynamodb:DeleteItem",
        path: "releasing the X-Idempotency-Key claim after the schedule write failed (a store error)",
    },
    Unreached {
        function: "refund-policy-put",
        action: "dynamodb:DeleteItem",
        path: "releasing the X-Idempotency-Key claim after the policy write failed (a store error)",
    },
    Unreached {
        function: "sandbox-payouts-run",
        action: "dynamodb:DeleteItem",
        path: "releasing the X-Idempotency-Key claim after the run failed (a store error)",
    },
];

/// A clock stopped at one instant: fixtures made in the past.
struct Fixed(DateTime<Utc>);

impl Clock for Fixed {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// A merchant account and a bearer token for it.
struct Merchant {
    account_id: String,
    client_id: String,
    client_secret: String,
    crypto_token: String,
    token: String,
}

impl Merchant {
    fn headers(&self) -> Value {
        json!({"content-type": "application/json", "authorization": format!("Bearer {}", self.token)})
    }

    /// With `DigitalSignature`, for the money-moving routes.
    fn signed(&self) -> Value {
        let mut headers = self.headers();
        headers["digitalsignature"] = json!(digital_signature(&self.crypto_token, &self.token));
        headers
    }

    fn account(&self) -> AccountId {
        AccountId::parse(&self.account_id).expect("account id")
    }
}

fn with_key(mut headers: Value, key: &str) -> Value {
    headers["x-idempotency-key"] = json!(key);
    headers
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A charge body (seed 004), `splits` as given.
fn charge(external_id: &str, value: f64, splits: Value) -> Value {
    json!({
        "transaction": {"value": value, "description": "Pedido", "externalId": external_id},
        "payer": {"fullName": "João Pereira", "document": "12345678909"},
        "splits": splits
    })
}

fn split(pix_key: &str, percent: u32, immediate: bool) -> Value {
    json!({"pixKey": pix_key, "pixKeyType": "EMAIL", "name": "Loja do João",
           "document": "11222333000181", "type": "PERCENTAGE", "value": percent,
           "immediate": immediate})
}

/// Creates an account as an operator does (no function does) and gets its token from the
/// auth-token function.
async fn merchant(w: &World, name: &str) -> Merchant {
    let account = create_account(
        &w.operator_store,
        &w.keys,
        name,
        "RECIFE",
        SystemClock.now(),
    )
    .await
    .expect("account");
    let m = Merchant {
        account_id: account.account_id,
        client_id: account.client_id,
        client_secret: account.client_secret,
        crypto_token: account.crypto_token,
        token: String::new(),
    };
    token_now(w, m).await
}

/// A token valid now for a merchant made in the past, from the auth-token function.
async fn token_now(w: &World, m: Merchant) -> Merchant {
    let body = json!({"clientId": m.client_id, "clientSecret": m.client_secret});
    let (status, token, _) = w
        .http(
            "auth-token",
            "POST",
            "/api/auth/token",
            json!({}),
            Some(&body),
        )
        .await;
    assert_eq!(status, 200, "{token}");
    Merchant {
        token: token["accessToken"].as_str().expect("token").to_owned(),
        ..m
    }
}

/// The same, as of `state`'s clock (fixtures in the past), through `state` itself.
async fn merchant_at(w: &World, state: &AppState, name: &str) -> Merchant {
    let account = create_account(&state.store, &w.keys, name, "RECIFE", state.clock.now())
        .await
        .expect("account");
    let body = json!({"clientId": account.client_id, "clientSecret": account.client_secret});
    let (status, token) = call(
        state,
        Route::AuthToken,
        "POST",
        "/api/auth/token",
        json!({}),
        Some(&body),
    )
    .await;
    assert_eq!(status, 200, "{token}");
    Merchant {
        account_id: account.account_id,
        client_id: account.client_id,
        client_secret: account.client_secret,
        crypto_token: account.crypto_token,
        token: token["accessToken"].as_str().expect("token").to_owned(),
    }
}

/// A request through `state` (fixtures made by an operator state, not a function).
async fn call(
    state: &AppState,
    route: Route,
    method: &str,
    path: &str,
    headers: Value,
    body: Option<&Value>,
) -> (u16, Value) {
    let body = body.map(Value::to_string);
    let response = pixgw_functions::handle(
        state,
        route,
        common::event(method, path, "", headers, body.as_deref()),
    )
    .await;
    (response.status().as_u16(), common::body_json(&response))
}

/// Creates and pays a charge through an operator `state` (fixtures in the past); its id.
async fn create_and_pay_at(state: &AppState, m: &Merchant, body: &Value) -> String {
    create_and_pay_with_at(state, m, body, None).await
}

/// [`create_and_pay_at`] with the payment's body (`{"hold": true}`: a held payment).
async fn create_and_pay_with_at(
    state: &AppState,
    m: &Merchant,
    body: &Value,
    payment: Option<&Value>,
) -> String {
    let (status, created) = call(
        state,
        Route::CashInCreate,
        "POST",
        "/api/pix/cash-in",
        m.headers(),
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["transactionId"].as_str().expect("id").to_owned();
    let path = format!("/api/sandbox/cash-in/{id}/pay");
    let (status, paid) = call(
        state,
        Route::SandboxCashInPay,
        "POST",
        &path,
        m.headers(),
        payment,
    )
    .await;
    assert_eq!(status, 200, "{paid}");
    id
}

/// Creates a charge through cash-in-create; answers its id.
async fn create_charge(w: &World, m: &Merchant, body: &Value) -> String {
    let (status, created, _) = w
        .http(
            "cash-in-create",
            "POST",
            "/api/pix/cash-in",
            m.headers(),
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created["transactionId"].as_str().expect("id").to_owned()
}

/// Pays a charge through sandbox-cash-in-pay.
async fn pay(w: &World, m: &Merchant, id: &str) {
    let (status, paid, _) = w
        .http(
            "sandbox-cash-in-pay",
            "POST",
            &format!("/api/sandbox/cash-in/{id}/pay"),
            m.headers(),
            None,
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["status"], "CONFIRMED", "{paid}");
}

/// Registers `https://hooks.example.com/{account}/{answer}` through webhook-endpoint-put.
async fn register_endpoint(w: &World, m: &Merchant, answer: &str) {
    let body = json!({"url": format!("https://hooks.example.com/{}/{answer}", m.account_id)});
    let (status, endpoint, _) = w
        .http(
            "webhook-endpoint-put",
            "PUT",
            "/api/account/webhook",
            m.headers(),
            Some(&body),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
}

/// A signed webhook as API Gateway hands it to provider-webhook.
async fn provider_webhook(w: &World, webhook: &SignedWebhook) -> (u16, Value) {
    let mut headers = json!({"content-type": "application/json"});
    for (name, value) in &webhook.headers {
        headers[name.to_ascii_lowercase()] = json!(value);
    }
    let body: Value = serde_json::from_slice(&webhook.body).expect("a JSON webhook");
    let (status, answer, _) = w
        .http(
            "provider-webhook",
            "POST",
            "/webhooks/provider/sandbox",
            headers,
            Some(&body),
        )
        .await;
    (status, answer)
}

/// `GET` by `"<binary> <path?query>"` with `m`'s token.
async fn http_get(w: &World, line: &str, m: &Merchant) -> (u16, Value, http::HeaderMap) {
    let (binary, path) = line.split_once(' ').expect("binary and path");
    w.http(binary, "GET", path, m.headers(), None).await
}

fn assert_no_failures(w: &World, after: &str) {
    let failures = w.take_failures();
    assert!(
        failures.is_empty(),
        "after {after}, consumers failed: {failures:?}"
    );
}

#[tokio::test]
async fn every_function_makes_only_the_aws_calls_its_policy_allows() {
    let w = World::deploy(&[]).await;

    // Fixtures in the past (an operator state on the same table): a delivery whose 24 h of
    // retries are over, an account whose payout window is due, a charge past its expiry.
    let dead_letter = delivery_out_of_retries(&w).await;
    let due = due_payout_window(&w).await;
    let held_due = hold_past_its_end(&w).await;

    // --- the API: tokens, endpoint, schedule, charges, payments -------------------------
    let a = merchant(&w, "Marketplace A").await;
    tokens(&w).await;
    webhook_endpoint(&w, &a).await;
    payout_schedule(&w, &a).await;
    refund_policy(&w, &a).await;
    let charges = charges(&w, &a).await;
    payments(&w, &a, &charges).await;
    w.pump().await;
    assert_no_failures(&w, "payments");
    reads(&w, &a, &charges).await;

    // --- money out: cash-outs, refunds, scheduled payouts, provider transfer notices ------
    cash_outs(&w, &a).await;
    refunds(&w, &a, &charges).await;
    recipients(&w, &a).await;
    sandbox_payout_run(&w).await;
    transfer_notices(&w).await;
    payouts_settled_by_notice(&w).await;

    // --- MED disputes: the sandbox's payer bank, the PSP's notices, owed money repaid --------
    disputes(&w).await;
    disputes_by_provider_webhook(&w).await;
    owed_disputes_repaid(&w).await;

    // --- cautelar holds: the sandbox's receiving PSP, the PSP's notices --------------------
    holds(&w).await;
    holds_by_provider_webhook(&w).await;

    // --- scheduled functions -------------------------------------------------------------
    let report = w.tick("payout-scheduler").await;
    assert!(report["payouts"].as_u64() >= Some(1), "{report}");
    w.pump().await;
    assert_no_failures(&w, "the scheduler tick");
    let (status, payouts, _) = w
        .http(
            "payouts-list",
            "GET",
            "/api/payouts?status=PAID",
            due.headers(),
            None,
        )
        .await;
    assert_eq!(status, 200, "{payouts}");
    assert!(
        !payouts["items"].as_array().expect("items").is_empty(),
        "{payouts}"
    );
    let swept = w.tick("expiry-sweeper").await;
    assert!(swept["expired"].as_u64() >= Some(1), "{swept}");
    w.pump().await;
    assert_no_failures(&w, "the sweeper tick");
    released_by_the_sweeper(&w, &held_due).await;

    // --- merchant webhooks ----------------------------------------------------------------
    webhook_deliveries(&w, &dead_letter).await;

    let problems = aws::check::problems(&w, UNREACHED);
    eprintln!("{}", aws::check::summary(&w));
    assert!(
        problems.is_empty(),
        "template.yaml and the functions' AWS calls disagree:\n  {}",
        problems.join("\n  ")
    );
}

async fn tokens(w: &World) {
    let wrong = json!({"clientId": "cli_unknown", "clientSecret": "nope"});
    let (status, body, _) = w
        .http(
            "auth-token",
            "POST",
            "/api/auth/token",
            json!({}),
            Some(&wrong),
        )
        .await;
    assert_eq!(status, 401, "{body}");
}

async fn webhook_endpoint(w: &World, a: &Merchant) {
    let body = json!({"url": format!("https://hooks.example.com/{}/ok", a.account_id)});
    let key = uuid();
    for replay in [false, true] {
        let (status, endpoint, headers) = w
            .http(
                "webhook-endpoint-put",
                "PUT",
                "/api/account/webhook",
                with_key(a.headers(), &key),
                Some(&body),
            )
            .await;
        assert_eq!(status, 201, "{endpoint}");
        assert_eq!(headers.contains_key("idempotent-replayed"), replay);
    }
    // A host that resolves to a private address: refused after the key was claimed, which
    // is released.
    let private = json!({"url": format!("https://{PRIVATE_HOST}/hook")});
    let (status, refused, _) = w
        .http(
            "webhook-endpoint-put",
            "PUT",
            "/api/account/webhook",
            with_key(a.headers(), &uuid()),
            Some(&private),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    // Replacing it (no key).
    let (status, endpoint, _) = w
        .http(
            "webhook-endpoint-put",
            "PUT",
            "/api/account/webhook",
            a.headers(),
            Some(&body),
        )
        .await;
    assert_eq!(status, 200, "{endpoint}");
    let (status, endpoint, _) = w
        .http(
            "webhook-endpoint-get",
            "GET",
            "/api/account/webhook",
            a.headers(),
            None,
        )
        .await;
    assert_eq!(status, 200, "{endpoint}");
    let (status, rotated, _) = w
        .http(
            "webhook-secret-rotate",
            "POST",
            "/api/account/webhook/rotate-secret",
            with_key(a.headers(), &uuid()),
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
}

async fn payout_schedule(w: &World, a: &Merchant) {
    let (status, schedule, _) = w
        .http(
            "payout-schedule-get",
            "GET",
            "/api/account/payout-schedule",
            a.headers(),
            None,
        )
        .await;
    assert_eq!(status, 200, "{schedule}");
    let body = json!({"frequency": "DAILY", "time": "10:00"});
    let key = uuid();
    for _ in 0..2 {
        let (status, schedule, _) = w
            .http(
                "payout-schedule-put",
                "PUT",
                "/api/account/payout-schedule",
                with_key(a.signed(), &key),
                Some(&body),
            )
            .await;
        assert_eq!(status, 200, "{schedule}");
    }
}

/// Read, set (replayed with its key), and back to the default, so the refunds below keep
/// the liability they name or MERCHANT.
async fn refund_policy(w: &World, a: &Merchant) {
    let (status, policy, _) = w
        .http(
            "refund-policy-get",
            "GET",
            "/api/account/refund-policy",
            a.headers(),
            None,
        )
        .await;
    assert_eq!((status, &policy), (200, &json!({"liability": "MERCHANT"})));
    let key = uuid();
    for (liability, key) in [
        ("PROPORTIONAL", Some(&key)),
        ("PROPORTIONAL", Some(&key)),
        ("MERCHANT", None),
    ] {
        let headers = match key {
            Some(key) => with_key(a.signed(), key),
            None => a.signed(),
        };
        let body = json!({"liability": liability});
        let (status, policy, _) = w
            .http(
                "refund-policy-put",
                "PUT",
                "/api/account/refund-policy",
                headers,
                Some(&body),
            )
            .await;
        assert_eq!((status, &policy), (200, &body));
    }
}

/// The charges of merchant A.
struct Charges {
    /// R$ 200, three scheduled splits.
    scheduled: String,
    /// R$ 100, an immediate split to a known key.
    immediate: String,
    /// R$ 100, an immediate split to a key the sandbox's DICT does not know.
    rejected: String,
    /// R$ 300, no splits.
    plain: String,
    /// R$ 50, paid by a provider webhook straight to provider-webhook.
    by_webhook: String,
}

async fn charges(w: &World, a: &Merchant) -> Charges {
    let marketplace = json!([
        split("vendedor@email.com", 70, false),
        split("parceiro@email.com", 20, false),
        {"pixKey": "+5511999887766", "pixKeyType": "PHONE", "name": "Entregador Silva",
         "document": "98765432100", "type": "FIXED", "value": 10.00}
    ]);
    let body = charge("MKT-1", 200.00, marketplace);
    let key = uuid();
    let mut scheduled = String::new();
    for replay in [false, true] {
        let (status, created, headers) = w
            .http(
                "cash-in-create",
                "POST",
                "/api/pix/cash-in",
                with_key(a.headers(), &key),
                Some(&body),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(headers.contains_key("idempotent-replayed"), replay);
        scheduled = created["transactionId"].as_str().expect("id").to_owned();
    }
    // The same key with another body; a taken externalId (its claim is released).
    let other = charge("MKT-2", 1.00, json!([]));
    let (status, reused, _) = w
        .http(
            "cash-in-create",
            "POST",
            "/api/pix/cash-in",
            with_key(a.headers(), &key),
            Some(&other),
        )
        .await;
    assert_eq!(status, 422, "{reused}");
    let (status, duplicate, _) = w
        .http(
            "cash-in-create",
            "POST",
            "/api/pix/cash-in",
            with_key(a.headers(), &uuid()),
            Some(&body),
        )
        .await;
    assert_eq!(status, 409, "{duplicate}");
    Charges {
        scheduled,
        immediate: create_charge(
            w,
            a,
            &charge(
                "IMM-1",
                100.00,
                json!([split("vendedor@email.com", 50, true)]),
            ),
        )
        .await,
        rejected: create_charge(
            w,
            a,
            &charge(
                "IMM-2",
                100.00,
                json!([split("reject@example.com", 30, true)]),
            ),
        )
        .await,
        plain: create_charge(w, a, &charge("PLAIN-1", 300.00, json!([]))).await,
        by_webhook: create_charge(w, a, &charge("HOOK-1", 50.00, json!([]))).await,
    }
}

async fn payments(w: &World, a: &Merchant, c: &Charges) {
    let (status, location, _) = w
        .http(
            "sandbox-pix-location",
            "GET",
            &format!("/pix/loc/{}", c.scheduled),
            json!({}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{location}");
    let key = uuid();
    let path = format!("/api/sandbox/cash-in/{}/pay", c.scheduled);
    for _ in 0..2 {
        let (status, paid, _) = w
            .http(
                "sandbox-cash-in-pay",
                "POST",
                &path,
                with_key(a.headers(), &key),
                None,
            )
            .await;
        assert_eq!(status, 200, "{paid}");
    }
    // Paid already: 409, and a new key's claim is released.
    for headers in [a.headers(), with_key(a.headers(), &uuid())] {
        let (status, again, _) = w
            .http("sandbox-cash-in-pay", "POST", &path, headers, None)
            .await;
        assert_eq!(status, 409, "{again}");
    }
    for id in [&c.immediate, &c.rejected, &c.plain] {
        pay(w, a, id).await;
    }

    // A PSP's webhook straight to provider-webhook: confirmed, then a duplicate, then forged.
    let sandbox = w.lambda("provider-webhook").sandbox();
    let paid_by = pixgw_domain::pix::payment::PaidBy {
        name: "João Pereira".into(),
        document: "12345678909".into(),
        bank: pixgw_domain::pix::payment::PayerBankData::new(
            pixgw_domain::pix::payment::Ispb::parse("00000000").expect("ispb"),
            "0001",
            "1234567",
        )
        .expect("bank"),
    };
    let webhook = sandbox.pay_charge(&SandboxPayment {
        hold: false,
        transaction_id: TransactionId::parse(&c.by_webhook).expect("id"),
        amount: pixgw_domain::pix::money::Money::from_cents(5_000),
        paid_by,
    });
    for outcome in ["CONFIRMED", "DUPLICATE"] {
        let (status, answer) = provider_webhook(w, &webhook).await;
        assert_eq!(
            (status, answer["outcome"].as_str()),
            (200, Some(outcome)),
            "{answer}"
        );
    }
    let mut forged = webhook.clone();
    forged.body = br#"{"eventId":"evt_x","eventType":"CASHIN_PAID","data":{}}"#.to_vec();
    let (status, answer) = provider_webhook(w, &forged).await;
    assert_eq!(status, 401, "{answer}");
}

async fn reads(w: &World, a: &Merchant, c: &Charges) {
    let get = |path: String| async move {
        let (status, body, _) = http_get(w, &path, a).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    };
    let charge = get(format!("cash-in-get /api/pix/cash-in/{}", c.scheduled)).await;
    assert_eq!(
        charge["splits"].as_array().map(Vec::len),
        Some(3),
        "{charge}"
    );
    for query in [
        "",
        "status=CONFIRMED",
        "externalId=MKT-1",
        "from=2020-01-01T00:00:00Z&to=2099-01-01T00:00:00Z",
        "limit=1",
    ] {
        get(format!("cash-in-list /api/pix/cash-in?{query}")).await;
    }
    get("account-balance /api/account/balance".into()).await;
    let page = get("account-statement /api/account/statement?limit=2".into()).await;
    let cursor = page["nextCursor"].as_str().expect("a second page");
    get(format!(
        "account-statement /api/account/statement?limit=2&cursor={cursor}"
    ))
    .await;
    let (status, openapi, _) = w
        .http("openapi", "GET", "/api/openapi.json", a.headers(), None)
        .await;
    assert_eq!(status, 200, "{openapi}");
}

async fn cash_outs(w: &World, a: &Merchant) {
    let to_key = |external_id: &str, pix_key: &str, value: f64| {
        json!({"value": value, "description": "Saque", "externalId": external_id,
               "pixKey": pix_key, "pixKeyType": "EMAIL"})
    };
    let post = |body: Value, headers: Value| async move {
        let (status, answer, _) = w
            .http(
                "cash-out-create",
                "POST",
                "/api/pix/cash-out",
                headers,
                Some(&body),
            )
            .await;
        (status, answer)
    };
    let key = uuid();
    let mut first = String::new();
    for _ in 0..2 {
        let (status, created) = post(
            to_key("CO-1", "maria@example.com", 10.00),
            with_key(a.signed(), &key),
        )
        .await;
        assert_eq!(status, 202, "{created}");
        first = created["id"].as_str().expect("id").to_owned();
    }
    let (status, created) = post(to_key("CO-REJ", "reject@example.com", 5.00), a.signed()).await;
    assert_eq!(status, 202, "{created}");
    let to_account = json!({"value": 5.00, "description": "Saque conta", "externalId": "CO-BANK",
        "bankAccount": {"ispb": "00000000", "branch": "0001", "account": "1234567",
                        "accountType": "CACC", "document": "11222333000181", "name": "Loja"}});
    let (status, created) = post(to_account, a.signed()).await;
    assert_eq!(status, 202, "{created}");
    let (status, duplicate) = post(
        to_key("CO-1", "maria@example.com", 1.00),
        with_key(a.signed(), &uuid()),
    )
    .await;
    assert_eq!(status, 409, "{duplicate}");
    let (status, over) = post(
        to_key("CO-BIG", "maria@example.com", 1_000_000.00),
        a.signed(),
    )
    .await;
    assert_eq!(
        (status, over["code"].as_str()),
        (409, Some("INSUFFICIENT_BALANCE")),
        "{over}"
    );

    // The first transfer attempt meets a provider outage: its message is retried.
    w.lambda("payout-executor").sandbox().fail_next_calls(1);
    w.pump().await;
    let failures = w.take_failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let (status, completed, _) =
        http_get(w, &format!("cash-out-get /api/pix/cash-out/{first}"), a).await;
    assert_eq!(
        (status, completed["status"].as_str()),
        (200, Some("COMPLETED")),
        "{completed}"
    );
    let (status, failed, _) = http_get(w, "cash-out-list /api/pix/cash-out?status=FAILED", a).await;
    assert_eq!(
        (status, failed["items"][0]["externalId"].as_str()),
        (200, Some("CO-REJ")),
        "{failed}"
    );
    for query in ["", "externalId=CO-1"] {
        let (status, body, _) =
            http_get(w, &format!("cash-out-list /api/pix/cash-out?{query}"), a).await;
        assert_eq!(status, 200, "{body}");
    }
}

async fn refunds(w: &World, a: &Merchant, c: &Charges) {
    let body = json!({"reason": "CUSTOMER_REQUEST"});
    let key = uuid();
    // One key: accepted, replayed, then refused for another charge.
    for (id, expected) in [(&c.plain, 202), (&c.plain, 202), (&c.scheduled, 422)] {
        let (status, answer, _) = w
            .http(
                "cash-in-refund",
                "POST",
                &format!("/api/pix/cash-in/{id}/refund"),
                with_key(a.signed(), &key),
                Some(&body),
            )
            .await;
        assert_eq!(status, expected, "{answer}");
    }
    let (status, accepted, _) = w
        .http(
            "cash-in-refund",
            "POST",
            &format!("/api/pix/cash-in/{}/refund", c.scheduled),
            a.signed(),
            Some(&body),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    // Requested already: 409, and a new key's claim is released.
    let (status, again, _) = w
        .http(
            "cash-in-refund",
            "POST",
            &format!("/api/pix/cash-in/{}/refund", c.plain),
            with_key(a.signed(), &uuid()),
            Some(&body),
        )
        .await;
    assert_eq!(status, 409, "{again}");
    // Refunded before the split calculator booked it: the refund checks nothing was booked.
    let early = create_charge(w, a, &charge("EARLY-1", 20.00, json!([]))).await;
    pay(w, a, &early).await;
    let (status, accepted, _) = w
        .http(
            "cash-in-refund",
            "POST",
            &format!("/api/pix/cash-in/{early}/refund"),
            a.signed(),
            Some(&body),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    // Part of a charge whose immediate split is paid, PROPORTIONAL: the split's part becomes
    // its recipient's debt, which the account fronts (the debt writes of a refund).
    let part = json!({"reason": "CUSTOMER_REQUEST", "value": 10.00, "liability": "PROPORTIONAL"});
    let (status, accepted, _) = w
        .http(
            "cash-in-refund",
            "POST",
            &format!("/api/pix/cash-in/{}/refund", c.immediate),
            a.signed(),
            Some(&part),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["liability"], "PROPORTIONAL", "{accepted}");
    w.pump().await;
    assert_no_failures(w, "refunds");
    let (status, refunded, _) =
        http_get(w, &format!("cash-in-get /api/pix/cash-in/{}", c.plain), a).await;
    assert_eq!(
        (status, refunded["status"].as_str()),
        (200, Some("REFUNDED")),
        "{refunded}"
    );
}

/// Merchant A's split recipients, two pages of them (the listing's Query), and one by id (its
/// GetItem): the seller, whose paid immediate split bore 5.00 of the PROPORTIONAL refund above
/// and owes it. An unknown id reads nothing and is a 404.
async fn recipients(w: &World, a: &Merchant) {
    let (status, first, _) = http_get(w, "recipients-list /api/recipients?limit=2", a).await;
    assert_eq!(status, 200, "{first}");
    let cursor = first["nextCursor"].as_str().expect("a second page");
    let (status, rest, _) = http_get(
        w,
        &format!("recipients-list /api/recipients?cursor={cursor}"),
        a,
    )
    .await;
    assert_eq!(status, 200, "{rest}");
    let seller = [&first, &rest]
        .iter()
        .flat_map(|page| page["items"].as_array().expect("items"))
        .find(|r| r["pixKey"] == "vendedor@email.com")
        .unwrap_or_else(|| panic!("the seller is listed: {first} {rest}"))
        .clone();
    let id = seller["recipientId"].as_str().expect("recipientId");
    let (status, detail, _) = http_get(w, &format!("recipient-get /api/recipients/{id}"), a).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["debt"].to_string(), "5.00", "{detail}");
    assert_eq!(
        detail["openDebts"].as_array().map(Vec::len),
        Some(1),
        "{detail}"
    );
    let unknown = format!("recipient-get /api/recipients/rc_{}", "0".repeat(32));
    let (status, missing, _) = http_get(w, &unknown, a).await;
    assert_eq!(status, 404, "{missing}");
}

/// Merchant B: scheduled splits to a known key and to a rejected one, paid out by the sandbox
/// run: one payout PAID, one FAILED (its splits go back to SCHEDULED).
async fn sandbox_payout_run(w: &World) {
    let b = merchant(w, "Marketplace B").await;
    for (external_id, pix_key) in [
        ("B-1", "loja@b.example.com"),
        ("B-2", "reject@b.example.com"),
    ] {
        let id = create_charge(
            w,
            &b,
            &charge(external_id, 80.00, json!([split(pix_key, 50, false)])),
        )
        .await;
        pay(w, &b, &id).await;
    }
    w.pump().await;
    assert_no_failures(w, "B's payments");
    let (status, run, _) = w
        .http(
            "sandbox-payouts-run",
            "POST",
            "/api/sandbox/payouts/run",
            with_key(b.headers(), &uuid()),
            None,
        )
        .await;
    assert_eq!((status, run["payouts"].as_u64()), (200, Some(2)), "{run}");
    w.pump().await;
    assert_no_failures(w, "B's payouts");
    let (status, payouts, _) = http_get(w, "payouts-list /api/payouts", &b).await;
    assert_eq!(status, 200, "{payouts}");
    let items = payouts["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{payouts}");
    for payout in items {
        let id = payout["id"].as_str().expect("id");
        let (status, detail, _) = http_get(w, &format!("payout-get /api/payouts/{id}"), &b).await;
        assert_eq!(status, 200, "{detail}");
    }
    let (status, paid, _) = http_get(w, "payouts-list /api/payouts?status=PAID", &b).await;
    assert_eq!(
        (status, paid["items"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{paid}"
    );
}

/// The notices a PSP sends when a transfer settles (the sandbox settles at once, so each is a
/// late duplicate of what the executor stored): payouts immediate and scheduled, cash-outs,
/// completed and failed.
async fn transfer_notices(w: &World) {
    let sandbox = w.lambda("payout-executor").sandbox();
    let transfers = sandbox.transfers();
    assert!(transfers.len() >= 5, "{transfers:?}");
    for transfer in transfers {
        let webhook = sandbox
            .transfer_webhook(&transfer.idempotency_key)
            .expect("a recorded transfer");
        let (status, answer) = provider_webhook(w, &webhook).await;
        assert_eq!(
            (status, answer["outcome"].as_str()),
            (200, Some("TRANSFER_SETTLED")),
            "{}: {answer}",
            transfer.idempotency_key
        );
    }
}

/// A delivery whose 24 h of retries are over: merchant D's endpoint fails, its charge was paid
/// 25 hours ago and the first attempt made then (by an operator state on that clock). The
/// second attempt, made by webhook-dispatcher, parks it in the dead-letter queue.
async fn delivery_out_of_retries(w: &World) -> Merchant {
    let then = w.operator_state(Arc::new(Fixed(Utc::now() - Duration::hours(25))));
    let d = merchant_at(w, &then, "Merchant D").await;
    let url = json!({"url": format!("https://hooks.example.com/{}/fail", d.account_id)});
    let (status, endpoint) = call(
        &then,
        Route::WebhookEndpointPut,
        "PUT",
        "/api/account/webhook",
        d.headers(),
        Some(&url),
    )
    .await;
    assert_eq!(status, 201, "{endpoint}");
    let id = create_and_pay_at(&then, &d, &charge("D-1", 10.00, json!([]))).await;
    let event = AccountEvent::new(
        &d.account(),
        EventType::CashinConfirmed,
        &id,
        then.clock.now(),
        Value::Null,
    );
    let dispatcher = then.webhook_dispatcher(Arc::new(w.operator_queues()), w.endpoints.clone());
    let first = WebhookMessage::Event {
        event_id: event.id,
        account_id: d.account(),
    };
    dispatcher
        .dispatch(&first.to_body())
        .await
        .expect("first attempt");
    token_now(w, d).await
}

/// Merchant P, created three days ago with a charge paid and its scheduled split booked then:
/// its payout window has come, for the payout-scheduler tick.
async fn due_payout_window(w: &World) -> Merchant {
    let then = w.operator_state(Arc::new(Fixed(Utc::now() - Duration::days(3))));
    let p = merchant_at(w, &then, "Marketplace P").await;
    let body = charge(
        "P-1",
        60.00,
        json!([split("loja@p.example.com", 50, false)]),
    );
    let id = create_and_pay_at(&then, &p, &body).await;
    then.split_calculator
        .book(&TransactionId::parse(&id).expect("id"))
        .await
        .expect("booked");
    // And a charge that expired long ago, for the expiry-sweeper tick.
    let mut short = charge("P-EXP", 5.00, json!([]));
    short["transaction"]["expirationTime"] = json!(300);
    let (status, created) = call(
        &then,
        Route::CashInCreate,
        "POST",
        "/api/pix/cash-in",
        p.headers(),
        Some(&short),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    token_now(w, p).await
}

async fn webhook_deliveries(w: &World, d: &Merchant) {
    // A's endpoint answers 200: delivered during the pumps above.
    assert!(w.endpoints.posted().iter().any(|u| u.ends_with("/ok")));
    // F's answers 503: a retry is scheduled (the record and the next attempt's message in
    // one write). G's answers 410: the endpoint is disabled. N has none.
    let f = merchant(w, "Merchant F").await;
    let g = merchant(w, "Merchant G").await;
    let n = merchant(w, "Merchant N").await;
    register_endpoint(w, &f, "fail").await;
    register_endpoint(w, &g, "gone").await;
    for m in [&f, &g, &n] {
        let id = create_charge(w, m, &charge("W-1", 10.00, json!([]))).await;
        pay(w, m, &id).await;
    }
    w.pump().await;
    assert_no_failures(w, "the webhook deliveries");
    let (status, log, _) =
        http_get(w, "webhook-deliveries-list /api/webhooks/deliveries", &f).await;
    let retried = &log["items"][0];
    assert_eq!(
        (
            status,
            retried["status"].as_str(),
            retried["attempts"][0]["statusCode"].as_u64()
        ),
        (200, Some("PENDING"), Some(503)),
        "{log}"
    );
    assert!(retried["nextAttemptAt"].is_string(), "{log}");
    let (status, endpoint, _) = http_get(w, "webhook-endpoint-get /api/account/webhook", &g).await;
    assert_eq!(
        (status, endpoint["status"].as_str()),
        (200, Some("DISABLED")),
        "{endpoint}"
    );
    // No endpoint to rotate, no such delivery: 404s after the keys were claimed (released).
    let (status, none, _) = w
        .http(
            "webhook-secret-rotate",
            "POST",
            "/api/account/webhook/rotate-secret",
            with_key(n.headers(), &uuid()),
            None,
        )
        .await;
    assert_eq!(status, 404, "{none}");
    let (status, none, _) = w
        .http(
            "webhook-redeliver",
            "POST",
            "/api/webhooks/deliveries/dlv_0123456789abcdef0123456789abcdef/redeliver",
            with_key(n.headers(), &uuid()),
            None,
        )
        .await;
    assert_eq!(status, 404, "{none}");
    // D's second attempt found its retries over: parked in the dead-letter queue.
    let dead = w
        .drain_queue(&w.queue_name("WebhookDeliveriesDeadLetterQueue"))
        .await;
    assert!(dead.iter().any(|b| b.contains(&d.account_id)), "{dead:?}");
    // An attempt due after SQS's 15-minute delay limit is sent on in a hop.
    let later = WebhookMessage::Attempt {
        delivery_id: "dlv_0123456789abcdef0123456789abcdef".into(),
        account_id: d.account(),
        round: 0,
        attempt: 2,
        not_before_ms: (Utc::now() + Duration::hours(1)).timestamp_millis(),
    };
    let failed = w
        .invoke_queue("webhook-dispatcher", &[later.to_body()])
        .await;
    assert!(failed.is_empty(), "{failed:?}");

    // The delivery log, and a new round for D's failed delivery.
    let (status, log, _) = http_get(
        w,
        "webhook-deliveries-list /api/webhooks/deliveries?status=FAILED",
        d,
    )
    .await;
    assert_eq!(status, 200, "{log}");
    let delivery = log["items"][0]["id"]
        .as_str()
        .expect("D's failed delivery")
        .to_owned();
    let (status, all, _) = http_get(w, "webhook-deliveries-list /api/webhooks/deliveries", d).await;
    assert_eq!(status, 200, "{all}");
    let (status, again, _) = w
        .http(
            "webhook-redeliver",
            "POST",
            &format!("/api/webhooks/deliveries/{delivery}/redeliver"),
            with_key(d.headers(), &uuid()),
            None,
        )
        .await;
    assert_eq!(status, 202, "{again}");
    w.pump().await;
    assert_no_failures(w, "the redelivery");
}

/// Merchant E's transfers, a payout immediate and one scheduled and a cash-out, still
/// PROCESSING when the PSP's notices arrive (as when the executor's transfer call timed out):
/// provider-webhook settles them, the scheduled payout's manifest included; the executor then
/// finds them settled.
async fn payouts_settled_by_notice(w: &World) {
    let e = merchant(w, "Marketplace E").await;
    let splits = json!([
        split("agora@e.example.com", 50, true),
        split("depois@e.example.com", 30, false)
    ]);
    let id = create_charge(w, &e, &charge("E-1", 100.00, splits)).await;
    pay(w, &e, &id).await;
    w.pump_except(&["payout-executor"]).await;
    let (status, run, _) = w
        .http(
            "sandbox-payouts-run",
            "POST",
            "/api/sandbox/payouts/run",
            e.headers(),
            None,
        )
        .await;
    assert_eq!((status, run["payouts"].as_u64()), (200, Some(1)), "{run}");
    let cash_out = json!({"value": 5.00, "description": "Saque", "externalId": "E-CO",
                          "pixKey": "e@e.example.com", "pixKeyType": "EMAIL"});
    let (status, created, _) = w
        .http(
            "cash-out-create",
            "POST",
            "/api/pix/cash-out",
            e.signed(),
            Some(&cash_out),
        )
        .await;
    assert_eq!(status, 202, "{created}");
    w.pump_except(&["payout-executor"]).await;
    let (status, processing, _) =
        http_get(w, "payouts-list /api/payouts?status=PROCESSING", &e).await;
    assert_eq!(status, 200, "{processing}");
    let mut keys: Vec<String> = processing["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(keys.len(), 2, "{processing}");
    keys.push(created["id"].as_str().expect("cash-out id").to_owned());
    for key in &keys {
        let (status, answer) = provider_webhook(w, &transfer_completed(w, key)).await;
        assert_eq!(
            (status, answer["outcome"].as_str()),
            (200, Some("TRANSFER_SETTLED")),
            "{key}: {answer}"
        );
    }
    w.pump().await;
    assert_no_failures(w, "E's transfers");
    let (status, paid, _) = http_get(w, "payouts-list /api/payouts?status=PAID", &e).await;
    assert_eq!(
        (status, paid["items"].as_array().map(Vec::len)),
        (200, Some(2)),
        "{paid}"
    );
    let (status, completed, _) =
        http_get(w, "cash-out-list /api/pix/cash-out?status=COMPLETED", &e).await;
    assert_eq!(
        (status, completed["items"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{completed}"
    );
}

/// `POST /api/sandbox/cash-in/{id}/infraction` through sandbox-infraction.
async fn infraction(w: &World, headers: Value, id: &str, body: &Value) -> (u16, Value, bool) {
    let (status, answer, headers) = w
        .http(
            "sandbox-infraction",
            "POST",
            &format!("/api/sandbox/cash-in/{id}/infraction"),
            headers,
            Some(body),
        )
        .await;
    (status, answer, headers.contains_key("idempotent-replayed"))
}

/// `POST /api/sandbox/disputes/{id}/decide` through sandbox-dispute-decide.
async fn decide(w: &World, headers: Value, id: &str, outcome: &str) -> (u16, Value, bool) {
    let (status, answer, headers) = w
        .http(
            "sandbox-dispute-decide",
            "POST",
            &format!("/api/sandbox/disputes/{id}/decide"),
            headers,
            Some(&json!({"outcome": outcome})),
        )
        .await;
    (status, answer, headers.contains_key("idempotent-replayed"))
}

/// `POST /api/disputes/{id}/defence`, signed, through dispute-defence.
async fn defend(w: &World, m: &Merchant, id: &str) -> (u16, Value) {
    let body = json!({"text": "Entregue; comprovante de entrega em anexo."});
    let (status, answer, _) = w
        .http(
            "dispute-defence",
            "POST",
            &format!("/api/disputes/{id}/defence"),
            m.signed(),
            Some(&body),
        )
        .await;
    (status, answer)
}

fn dispute_id(dispute: &Value) -> String {
    dispute["disputeId"]
        .as_str()
        .unwrap_or_else(|| panic!("a dispute: {dispute}"))
        .to_owned()
}

/// Merchant M's MED disputes through the sandbox's payer bank: a marketplace charge paid and
/// not yet booked is reported (the opening books its splits inline: the owing index, the
/// charge's condition), with its key replayed and refused over its remaining amount; a second
/// one; the listings (two pages, by status), one dispute (and an unknown one), a defence, the
/// MED's decision (replayed, then refused as decided) and a defence too late.
async fn disputes(w: &World) {
    let m = merchant(w, "Marketplace M").await;
    let splits = json!([
        split("vendedor@m.example.com", 70, false),
        split("parceiro@m.example.com", 20, false)
    ]);
    let id = create_charge(w, &m, &charge("M-1", 100.00, splits)).await;
    pay(w, &m, &id).await;

    let key = uuid();
    let fraud = json!({"reason": "FRAUD", "value": 10.00});
    let mut first = Value::Null;
    for replay in [false, true] {
        let (status, opened, replayed) =
            infraction(w, with_key(m.headers(), &key), &id, &fraud).await;
        assert_eq!((status, replayed), (201, replay), "{opened}");
        assert_eq!(opened["status"], "OPEN", "{opened}");
        first = opened;
    }
    let first = dispute_id(&first);
    // More than the charge still has: refused after the key was claimed (released).
    let (status, over, _) = infraction(
        w,
        with_key(m.headers(), &uuid()),
        &id,
        &json!({"reason": "FRAUD", "value": 1000.00}),
    )
    .await;
    assert_eq!(
        (status, over["code"].as_str()),
        (409, Some("DISPUTE_EXCEEDS_REMAINING")),
        "{over}"
    );
    let (status, second, _) = infraction(
        w,
        m.headers(),
        &id,
        &json!({"reason": "OPERATIONAL_FLAW", "value": 5.00}),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    let second = dispute_id(&second);
    w.pump().await;
    assert_no_failures(w, "M's disputes");

    // The listings: newest first, two pages of one; by status.
    let (status, page, _) = http_get(w, "disputes-list /api/disputes?limit=1", &m).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"][0]["disputeId"], json!(second), "{page}");
    let cursor = page["nextCursor"].as_str().expect("a second page");
    let (status, page, _) = http_get(
        w,
        &format!("disputes-list /api/disputes?limit=1&cursor={cursor}"),
        &m,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"][0]["disputeId"], json!(first), "{page}");
    let (status, open, _) = http_get(w, "disputes-list /api/disputes?status=OPEN", &m).await;
    assert_eq!(
        (status, open["items"].as_array().map(Vec::len)),
        (200, Some(2)),
        "{open}"
    );

    // One dispute, and one that does not exist.
    let (status, dispute, _) = http_get(w, &format!("dispute-get /api/disputes/{first}"), &m).await;
    assert_eq!(
        (status, dispute["transactionId"].as_str()),
        (200, Some(id.as_str())),
        "{dispute}"
    );
    let unknown = format!("dp_{}", uuid::Uuid::new_v4().simple());
    let (status, none, _) = http_get(w, &format!("dispute-get /api/disputes/{unknown}"), &m).await;
    assert_eq!(status, 404, "{none}");

    // The merchant's defence, then the MED's decision: LOST (its key replayed), and decided.
    let (status, defended) = defend(w, &m, &first).await;
    assert_eq!(
        (status, defended["status"].as_str()),
        (200, Some("DEFENDED")),
        "{defended}"
    );
    let key = uuid();
    for replay in [false, true] {
        let (status, lost, replayed) = decide(w, with_key(m.headers(), &key), &first, "LOST").await;
        assert_eq!((status, replayed), (200, replay), "{lost}");
        assert_eq!(lost["status"], "LOST", "{lost}");
    }
    let (status, again, _) = decide(w, with_key(m.headers(), &uuid()), &first, "WON").await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("DISPUTE_DECIDED")),
        "{again}"
    );
    let (status, late) = defend(w, &m, &first).await;
    assert_eq!(
        (status, late["code"].as_str()),
        (409, Some("DISPUTE_DECIDED")),
        "{late}"
    );
    w.pump().await;
    assert_no_failures(w, "M's decided dispute");
    let (status, lost, _) = http_get(w, "disputes-list /api/disputes?status=LOST", &m).await;
    assert_eq!(
        (status, lost["items"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{lost}"
    );
}

/// The PSP's MED notices straight to provider-webhook: an `INFRACTION_OPENED` on a paid
/// marketplace charge not yet booked (the opening books it inline), delivered twice, then its
/// `INFRACTION_DECIDED` (WON: the splits' reserve restored), delivered twice.
async fn disputes_by_provider_webhook(w: &World) {
    let p = merchant(w, "Marketplace P").await;
    let splits = json!([split("vendedor@p.example.com", 60, false)]);
    let id = create_charge(w, &p, &charge("P-1", 30.00, splits)).await;
    pay(w, &p, &id).await;
    let transaction_id = TransactionId::parse(&id).expect("id");
    let sandbox = w.lambda("provider-webhook").sandbox();
    let notice = sandbox.open_infraction(&SandboxInfraction {
        transaction_id: transaction_id.clone(),
        reason: DisputeReason::Fraud,
        amount: Some(pixgw_domain::pix::money::Money::from_cents(1_000)),
        respond_by: None,
    });
    for outcome in ["DISPUTE_CHANGED", "DUPLICATE"] {
        let (status, answer) = provider_webhook(w, &notice.webhook).await;
        assert_eq!(
            (status, answer["outcome"].as_str()),
            (200, Some(outcome)),
            "{answer}"
        );
    }
    let decided =
        sandbox.decide_infraction(&notice.infraction_id, &transaction_id, DisputeOutcome::Won);
    for outcome in ["DISPUTE_CHANGED", "DUPLICATE"] {
        let (status, answer) = provider_webhook(w, &decided).await;
        assert_eq!(
            (status, answer["outcome"].as_str()),
            (200, Some(outcome)),
            "{answer}"
        );
    }
    w.pump().await;
    assert_no_failures(w, "P's dispute");
    let (status, won, _) = http_get(w, "disputes-list /api/disputes?status=WON", &p).await;
    assert_eq!(
        (status, won["items"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{won}"
    );
}

/// Merchant O's dispute larger than its `available` (drained by a cash-out): the rest is owed,
/// and the next credits pay it first — a charge booked by split-calculator (the owing index,
/// the dispute replaced in the booking's transaction), then a charge refunded before it was
/// booked, whose inline booking in cash-in-refund pays the rest.
async fn owed_disputes_repaid(w: &World) {
    let o = merchant(w, "Loja O").await;
    let id = create_charge(w, &o, &charge("O-1", 100.00, json!([]))).await;
    pay(w, &o, &id).await;
    w.pump().await;
    let cash_out = json!({"value": 90.00, "description": "Saque", "externalId": "O-CO",
                          "pixKey": "o@o.example.com", "pixKeyType": "EMAIL"});
    let (status, created, _) = w
        .http(
            "cash-out-create",
            "POST",
            "/api/pix/cash-out",
            o.signed(),
            Some(&cash_out),
        )
        .await;
    assert_eq!(status, 202, "{created}");
    w.pump().await;
    assert_no_failures(w, "O's cash-out");

    let (status, opened, _) = infraction(w, o.headers(), &id, &json!({"reason": "FRAUD"})).await;
    assert_eq!(status, 201, "{opened}");
    assert_eq!(opened["owed"].as_f64(), Some(90.00), "{opened}");
    let dispute = dispute_id(&opened);
    w.pump().await;
    assert_no_failures(w, "O's dispute");

    // A new credit, booked by split-calculator, pays it first.
    let credit = create_charge(w, &o, &charge("O-2", 50.00, json!([]))).await;
    pay(w, &o, &credit).await;
    w.pump().await;
    assert_no_failures(w, "O's credit");
    let (status, after, _) = http_get(w, &format!("dispute-get /api/disputes/{dispute}"), &o).await;
    assert_eq!(
        (status, after["owed"].as_f64()),
        (200, Some(40.00)),
        "{after}"
    );

    // A charge refunded before split-calculator booked it: the refund books it inline, which
    // pays the rest of what is owed; the refund then draws on what is left.
    let early = create_charge(w, &o, &charge("O-3", 100.00, json!([]))).await;
    pay(w, &o, &early).await;
    let (status, accepted, _) = w
        .http(
            "cash-in-refund",
            "POST",
            &format!("/api/pix/cash-in/{early}/refund"),
            o.signed(),
            Some(&json!({"reason": "CUSTOMER_REQUEST", "value": 10.00})),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    w.pump().await;
    assert_no_failures(w, "O's refund");
    let (status, after, _) = http_get(w, &format!("dispute-get /api/disputes/{dispute}"), &o).await;
    assert_eq!(
        (status, after["owed"].as_f64()),
        (200, Some(0.00)),
        "{after}"
    );
}

/// `POST /api/sandbox/cash-in/{id}/pay` with `{"hold": true}` through sandbox-cash-in-pay: the
/// charge is CONFIRMED, its hold HELD.
async fn pay_held(w: &World, headers: Value, id: &str) -> (Value, bool) {
    let (status, paid, headers) = w
        .http(
            "sandbox-cash-in-pay",
            "POST",
            &format!("/api/sandbox/cash-in/{id}/pay"),
            headers,
            Some(&json!({"hold": true})),
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(
        (paid["status"].as_str(), paid["hold"]["status"].as_str()),
        (Some("CONFIRMED"), Some("HELD")),
        "{paid}"
    );
    (paid, headers.contains_key("idempotent-replayed"))
}

/// `POST /api/sandbox/cash-in/{id}/hold/{ending}` (`release` or `return`) through
/// sandbox-hold-{ending}.
async fn end_hold(w: &World, headers: Value, id: &str, ending: &str) -> (u16, Value, bool) {
    let (status, answer, headers) = w
        .http(
            &format!("sandbox-hold-{ending}"),
            "POST",
            &format!("/api/sandbox/cash-in/{id}/hold/{ending}"),
            headers,
            None,
        )
        .await;
    (status, answer, headers.contains_key("idempotent-replayed"))
}

/// Every split of charge `id` of `m` booked (none PENDING), as GET shows it.
async fn assert_booked(w: &World, m: &Merchant, id: &str) -> Value {
    let (status, charge, _) = http_get(w, &format!("cash-in-get /api/pix/cash-in/{id}"), m).await;
    assert_eq!(status, 200, "{charge}");
    let splits = charge["splits"].as_array().expect("splits");
    assert!(
        !splits.is_empty() && splits.iter().all(|s| s["status"] != "PENDING"),
        "{charge}"
    );
    charge
}

/// Merchant H's cautelar holds through the sandbox's receiving PSP: a marketplace charge paid
/// held (its key replayed), nothing booked; released (its key replayed; released again: 409
/// `CHARGE_NOT_HELD` after the key was claimed, released), then booked by split-calculator
/// from the release's outbox message (its immediate split paid). Another held charge returned
/// to the payer: REFUNDED, its splits CANCELLED; and returned again: 409 (the key released).
async fn holds(w: &World) {
    let h = merchant(w, "Marketplace H").await;
    let splits = json!([
        split("vendedor@h.example.com", 60, true),
        split("parceiro@h.example.com", 20, false)
    ]);
    let released = create_charge(w, &h, &charge("H-1", 100.00, splits.clone())).await;
    let key = uuid();
    for replay in [false, true] {
        let (_, replayed) = pay_held(w, with_key(h.headers(), &key), &released).await;
        assert_eq!(replayed, replay);
    }
    // Held: no charge-confirmed message, nothing booked (only CASHIN_HELD goes out).
    w.pump().await;
    assert_no_failures(w, "H's held payment");
    let (status, held, _) =
        http_get(w, &format!("cash-in-get /api/pix/cash-in/{released}"), &h).await;
    assert_eq!(status, 200, "{held}");
    assert!(
        held["splits"]
            .as_array()
            .expect("splits")
            .iter()
            .all(|s| s["status"] == "PENDING"),
        "{held}"
    );

    let key = uuid();
    for replay in [false, true] {
        let (status, answer, replayed) =
            end_hold(w, with_key(h.headers(), &key), &released, "release").await;
        assert_eq!((status, replayed), (200, replay), "{answer}");
        assert_eq!(
            (answer["status"].as_str(), answer["hold"]["status"].as_str()),
            (Some("CONFIRMED"), Some("RELEASED")),
            "{answer}"
        );
    }
    let (status, again, _) =
        end_hold(w, with_key(h.headers(), &uuid()), &released, "release").await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("CHARGE_NOT_HELD")),
        "{again}"
    );
    w.pump().await;
    assert_no_failures(w, "H's released hold");
    assert_booked(w, &h, &released).await;

    let returned = create_charge(w, &h, &charge("H-2", 50.00, splits)).await;
    pay_held(w, h.headers(), &returned).await;
    let (status, answer, _) = end_hold(w, h.headers(), &returned, "return").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (
            answer["status"].as_str(),
            answer["hold"]["status"].as_str(),
            answer["splits"][0]["status"].as_str()
        ),
        (Some("REFUNDED"), Some("RETURNED"), Some("CANCELLED")),
        "{answer}"
    );
    let (status, again, _) = end_hold(w, with_key(h.headers(), &uuid()), &returned, "return").await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("CHARGE_NOT_HELD")),
        "{again}"
    );
    w.pump().await;
    assert_no_failures(w, "H's returned hold");
}

/// The PSP's notices straight to provider-webhook: two marketplace charges paid held
/// (`CASHIN_PAID` with `data.hold`, delivered twice), one released and one returned
/// (`CASHIN_HOLD_RELEASED`, `CASHIN_HOLD_RETURNED`, each delivered twice); the released one is
/// then booked by split-calculator.
async fn holds_by_provider_webhook(w: &World) {
    let q = merchant(w, "Marketplace Q").await;
    let sandbox = w.lambda("provider-webhook").sandbox();
    let paid_by = pixgw_domain::pix::payment::PaidBy {
        name: "João Pereira".into(),
        document: "12345678909".into(),
        bank: pixgw_domain::pix::payment::PayerBankData::new(
            pixgw_domain::pix::payment::Ispb::parse("00000000").expect("ispb"),
            "0001",
            "1234567",
        )
        .expect("bank"),
    };
    let mut released = String::new();
    for (external_id, ending) in [("Q-1", "release"), ("Q-2", "return")] {
        let splits = json!([split("vendedor@q.example.com", 50, false)]);
        let id = create_charge(w, &q, &charge(external_id, 40.00, splits)).await;
        let transaction_id = TransactionId::parse(&id).expect("id");
        let paid = sandbox.pay_charge(&SandboxPayment {
            hold: true,
            transaction_id: transaction_id.clone(),
            amount: pixgw_domain::pix::money::Money::from_cents(4_000),
            paid_by: paid_by.clone(),
        });
        let notice = match ending {
            "release" => sandbox.release_hold(&transaction_id),
            _ => sandbox.return_hold(&transaction_id),
        };
        for (webhook, outcomes) in [
            (&paid, ["CONFIRMED", "DUPLICATE"]),
            (&notice, ["HOLD_ENDED", "DUPLICATE"]),
        ] {
            for outcome in outcomes {
                let (status, answer) = provider_webhook(w, webhook).await;
                assert_eq!(
                    (status, answer["outcome"].as_str()),
                    (200, Some(outcome)),
                    "{external_id}: {answer}"
                );
            }
        }
        if ending == "release" {
            released = id;
        }
    }
    w.pump().await;
    assert_no_failures(w, "Q's holds");
    assert_booked(w, &q, &released).await;
}

/// Merchant K, created 73 hours ago with a marketplace charge paid held then (by an operator
/// state on that clock): its hold's `until` (72 h after payment) has passed with no word from
/// the PSP, for the expiry-sweeper tick to release. Answers K (a token valid now) and the
/// charge's id.
async fn hold_past_its_end(w: &World) -> (Merchant, String) {
    let then = w.operator_state(Arc::new(Fixed(Utc::now() - Duration::hours(73))));
    let k = merchant_at(w, &then, "Marketplace K").await;
    let body = charge(
        "K-1",
        80.00,
        json!([split("vendedor@k.example.com", 50, false)]),
    );
    let id = create_and_pay_with_at(&then, &k, &body, Some(&json!({"hold": true}))).await;
    (token_now(w, k).await, id)
}

/// After the sweeper's tick (and the pump): K's hold released, its charge booked.
async fn released_by_the_sweeper(w: &World, (k, id): &(Merchant, String)) {
    let charge = assert_booked(w, k, id).await;
    assert_eq!(
        (charge["status"].as_str(), charge["hold"]["status"].as_str()),
        (Some("CONFIRMED"), Some("RELEASED")),
        "{charge}"
    );
}

/// The sandbox PSP's signed `TRANSFER_COMPLETED` notice for the transfer with `key` (a payout
/// or cash-out id), settled now.
fn transfer_completed(w: &World, key: &str) -> SignedWebhook {
    let now = Utc::now();
    let instant = now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let e2e = pixgw_domain::pix::payment::EndToEndId::generate(
        pixgw_domain::pix::payment::EndToEndKind::Payment,
        &pixgw_providers::sandbox::sandbox_ispb(),
        now,
    );
    let event_id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    let body = json!({
        "eventId": event_id, "eventType": "TRANSFER_COMPLETED", "eventAt": instant,
        "data": {"idempotencyKey": key, "transferId": format!("sbx_tr_{}", &event_id[4..]),
                 "endToEndId": e2e.as_str(), "settledAt": instant}
    });
    w.lambda("provider-webhook")
        .sandbox()
        .sign_webhook(&event_id, body.to_string().into_bytes())
}

/// A default `sam deploy` of the sandbox stage: no custom domain (`PublicHost` is empty), the
/// sandbox provider alone. Sandbox pay confirms the charge through provider-webhook's code
/// path, in-process, and the BR Code's location is the reserved placeholder, never a guess.
#[tokio::test]
async fn sandbox_pay_confirms_a_charge_on_a_default_deploy() {
    let w = World::deploy(&[]).await;
    assert_eq!(w.deployment.parameters["Stage"], "sandbox");
    assert_eq!(w.deployment.parameters["PublicHost"], "");
    let pay_env = &w.lambda("sandbox-cash-in-pay").function.environment;
    assert_eq!(pay_env["PIXGW_PUBLIC_HOST"], "");

    let m = merchant(&w, "Loja Padrão").await;
    let (status, created, _) = w
        .http(
            "cash-in-create",
            "POST",
            "/api/pix/cash-in",
            m.headers(),
            Some(&charge("DEFAULT-1", 25.00, json!([]))),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let pix_code = created["pixCode"].as_str().expect("pixCode");
    assert!(
        pix_code.contains(&format!(
            "{}/pix/loc/",
            pixgw_functions::SANDBOX_LOCATION_HOST_WITHOUT_DOMAIN
        )),
        "{pix_code}"
    );
    let id = created["transactionId"].as_str().expect("id");
    let (status, paid, _) = w
        .http(
            "sandbox-cash-in-pay",
            "POST",
            &format!("/api/sandbox/cash-in/{id}/pay"),
            m.headers(),
            None,
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["status"], "CONFIRMED", "{paid}");
    assert!(
        paid["endToEndId"]
            .as_str()
            .is_some_and(|e| e.starts_with('E')),
        "{paid}"
    );
    let (status, charge, _) = http_get(&w, &format!("cash-in-get /api/pix/cash-in/{id}"), &m).await;
    assert_eq!(
        (status, charge["status"].as_str()),
        (200, Some("CONFIRMED")),
        "{charge}"
    );
}

/// The template's deployment with `overrides`, on a stack that is never created (names only).
fn deployment_of(
    template: aws::template::Template,
    overrides: &std::collections::BTreeMap<&str, &str>,
) -> aws::template::Deployment {
    let stack = aws::template::Stack {
        name: "pixgw-env".into(),
        region: "us-east-1".into(),
        account: aws::world::ACCOUNT.into(),
        table: "pixgw-env-Table-1".into(),
        stream_label: "2026-01-01T00:00:00.000".into(),
    };
    let overrides: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (*k, *v)).collect();
    aws::template::Deployment::new(template, stack, &overrides)
}

/// Each function is given exactly the environment its cold start reads, in every shape of
/// deployment: no secret (or other variable) it never reads, nothing it needs missing.
#[test]
fn every_function_is_given_only_the_environment_it_reads() {
    let mut problems = Vec::new();
    for (what, overrides) in aws::environment::configurations() {
        let deployment = deployment_of(aws::template::Template::load(), &overrides);
        let refused = deployment.failing_rules();
        assert!(refused.is_empty(), "{what}: {refused:?}");
        problems.extend(
            aws::environment::problems(deployment)
                .into_iter()
                .map(|problem| format!("{what}: {problem}")),
        );
    }
    assert!(
        problems.is_empty(),
        "template.yaml and the functions' cold starts disagree:\n  {}",
        problems.join("\n  ")
    );
}

/// The environment check itself: a secret put back on a function that never reads it, and a
/// secret taken from a function that needs it, are both caught.
#[test]
fn the_environment_check_catches_a_secret_too_many_and_one_missing() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
        .expect("template.yaml");
    let data_key =
        "          PIXGW_DATA_KEY: !Sub '{{resolve:secretsmanager:${DataKey}:SecretString}}'\n";
    let jwt_key =
        "          PIXGW_JWT_SECRET: !Sub '{{resolve:secretsmanager:${JwtSecret}:SecretString}}'\n";
    // The position of the first `line` in resource `name`.
    let in_resource = |text: &str, name: &str, line: &str| {
        let start = text.find(&format!("\n  {name}:\n")).expect(name);
        start + text[start..].find(line).expect(line)
    };
    let mut edited = text.clone();
    let at = in_resource(&edited, "OpenApiFunction", jwt_key) + jwt_key.len();
    edited.insert_str(at, data_key);
    let at = in_resource(&edited, "CashInRefundFunction", data_key);
    edited.replace_range(at..at + data_key.len(), "");

    let deployment = deployment_of(aws::template::Template::parse(&edited), &Default::default());
    assert_eq!(
        aws::environment::problems(deployment),
        [
            "cash-in-refund: cold start failed on the template's environment: missing \
             environment variable PIXGW_DATA_KEY",
            "openapi: the template gives it secret PIXGW_DATA_KEY, which it never reads",
        ]
    );
}

/// The checker itself, on a two-statement template: IAM's rules the policy test relies on.
#[test]
fn the_checker_knows_what_iam_checks() {
    use aws::iam::{Permission, Role};
    use aws::recorder::needs;
    use aws::template::{Deployment, Stack, Template};

    let template = Template::parse(
        r#"
Resources:
  Table:
    Type: AWS::DynamoDB::Table
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: fn}}
    Properties:
      Policies:
        - Statement:
            - Sid: Items
              Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:PutItem, dynamodb:Query]
              Resource: !GetAtt Table.Arn
            - Sid: Indexes
              Effect: Allow
              Action: dynamodb:Query
              Resource: !Sub '${Table.Arn}/index/*'
"#,
    );
    let stack = Stack {
        name: "s".into(),
        region: "sa-east-1".into(),
        account: "123456789012".into(),
        table: "t".into(),
        stream_label: "label".into(),
    };
    let deployment = Deployment::new(template, stack.clone(), &[]);
    let role = Role::of(&deployment.functions()[0]);
    let table = stack.table_arn();

    // A query of an index is checked against the index's ARN, not the table's.
    let on_index = needs(
        &stack,
        "DynamoDB",
        "Query",
        &json!({"TableName": "t", "IndexName": "gsi1"}),
    );
    assert_eq!(
        on_index,
        [Permission::new(
            "dynamodb:Query",
            format!("{table}/index/gsi1")
        )]
    );
    assert!(role.allows(&on_index[0]));
    let table_only = Role::of(&{
        let mut f = deployment.functions()[0].clone();
        f.policies[0]["Statement"]
            .as_array_mut()
            .expect("statements")
            .pop();
        f
    });
    assert!(
        !table_only.allows(&on_index[0]),
        "a table grant does not cover its indexes"
    );

    // A transaction is checked part by part.
    let parts = needs(
        &stack,
        "DynamoDB",
        "TransactWriteItems",
        &json!({"TransactItems": [{"Put": {"TableName": "t"}}, {"ConditionCheck": {"TableName": "t"}}]}),
    );
    assert_eq!(
        parts,
        [
            Permission::new("dynamodb:PutItem", table.clone()),
            Permission::new("dynamodb:ConditionCheckItem", table.clone()),
        ]
    );
    assert!(role.allows(&parts[0]) && !role.allows(&parts[1]));

    // A batch send is checked as SendMessage on the queue the URL names.
    let batch = needs(
        &stack,
        "SQS",
        "SendMessageBatch",
        &json!({"QueueUrl": "http://127.0.0.1:5000/123456789012/s-charge-confirmed"}),
    );
    assert_eq!(
        batch,
        [Permission::new(
            "sqs:SendMessage",
            stack.queue_arn("s-charge-confirmed")
        )]
    );
    assert!(!role.allows(&batch[0]));

    // A wildcard grants every index it matches, used or not.
    let universe = [
        format!("{table}/index/gsi1"),
        format!("{table}/index/gsi2"),
        table.clone(),
    ]
    .into_iter()
    .collect();
    let granted: Vec<String> = role
        .explicit_grants(&universe)
        .into_iter()
        .filter(|(p, _)| p.resource.contains("/index/"))
        .map(|(p, origin)| format!("{origin}: {p}"))
        .collect();
    assert_eq!(
        granted,
        [
            format!("Fn.Policies[0]/Indexes: dynamodb:Query on {table}/index/gsi1"),
            format!("Fn.Policies[0]/Indexes: dynamodb:Query on {table}/index/gsi2"),
        ]
    );
}
