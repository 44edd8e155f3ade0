//! Paying charges through the sandbox, the provider webhook, the split pipeline and the
//! balance, through the API, on both backends (embedded + in-process queues, DynamoDB Local +
//! SQS on moto).

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Duration;
use http::Method;
use pixgw_api::ApiRequest;
use pixgw_domain::ledger::{Balance, MovementKind};
use pixgw_domain::messaging::queue::QueueName;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::{EndToEndId, Ispb, PaidBy, PayerBankData};
use pixgw_providers::sandbox::{SandboxPayment, SignedWebhook};
use pixgw_tests::bodies::{immediate_split, marketplace, rejected_immediate_split, rounding_dust};
use pixgw_tests::harness::{Backend, Gateway};
use pixgw_tests::on_both_backends;
use serde_json::{Value, json};

async fn create(gw: &Gateway, token: &str, body: &Value) -> String {
    let response = gw.post("/api/pix/cash-in", token, body, None).await;
    assert_eq!(response.status, 201, "{:?}", response.body_json());
    response.body_json()["transactionId"]
        .as_str()
        .expect("transactionId")
        .to_owned()
}

async fn pay(gw: &Gateway, token: &str, id: &str, body: &Value) -> (u16, Value) {
    let response = gw
        .post(&format!("/api/sandbox/cash-in/{id}/pay"), token, body, None)
        .await;
    (response.status.as_u16(), response.body_json())
}

async fn balance(gw: &Gateway, token: &str) -> Value {
    let response = gw.get("/api/account/balance", token).await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    response.body_json()
}

fn is_end_to_end_id(v: &Value) -> bool {
    v.as_str()
        .and_then(EndToEndId::parse)
        .is_some_and(|e| e.as_str().starts_with('E'))
}

fn amount(v: &Value) -> String {
    v.to_string()
}

async fn marketplace_charge_confirms_and_books_scheduled_splits(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (_, token) = gw.merchant("Marketplace Ltda").await;
    let id = create(&gw, &token, &marketplace("PED-12345")).await;

    let (status, paid) = pay(
        &gw,
        &token,
        &id,
        &json!({"name": "João Pereira", "document": "12345678909", "ispb": "60746948", "branch": "1234", "account": "987654"}),
    )
    .await;
    assert_eq!(status, 200, "{paid:?}");
    assert_eq!(paid["status"], "CONFIRMED");
    assert!(is_end_to_end_id(&paid["endToEndId"]), "{paid:?}");
    assert!(
        paid["endToEndId"]
            .as_str()
            .unwrap()
            .starts_with("E60746948")
    );
    assert!(paid["paidAt"].is_string());
    assert_eq!(
        paid["paidBy"],
        json!({"name": "João Pereira", "document": "12345678909", "bankData": {"ispb": "60746948", "branch": "1234", "account": "987654"}})
    );
    // Splits are booked by the pipeline, not by the webhook.
    assert!(
        paid["splits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "PENDING")
    );
    // Paid but not booked yet: the balance shows the money on its way, never nothing.
    let b = balance(&gw, &token).await;
    assert_eq!(amount(&b["incoming"]), "200.00", "{b}");
    assert_eq!(amount(&b["available"]), "0.00", "{b}");
    assert_eq!(amount(&b["reservedForSplits"]), "0.00", "{b}");

    gw.run_pipeline().await;
    let charge = gw
        .get(&format!("/api/pix/cash-in/{id}"), &token)
        .await
        .body_json();
    let splits = charge["splits"].as_array().unwrap();
    let amounts: Vec<String> = splits.iter().map(|s| amount(&s["amount"])).collect();
    assert_eq!(amounts, ["140.00", "40.00", "10.00"]);
    assert!(
        splits.iter().all(|s| s["status"] == "SCHEDULED"),
        "{splits:?}"
    );
    assert_eq!(charge["endToEndId"], paid["endToEndId"]);

    let b = balance(&gw, &token).await;
    assert_eq!(
        amount(&b["incoming"]),
        "0.00",
        "booked: nothing left on its way"
    );
    assert_eq!(amount(&b["available"]), "10.00");
    assert_eq!(amount(&b["reservedForSplits"]), "190.00");
    assert_eq!(b["currency"], "BRL");
    assert!(
        gw.sandbox.transfers().is_empty(),
        "scheduled splits are not paid yet"
    );

    // Paying again is refused and changes nothing.
    let (status, again) = pay(&gw, &token, &id, &json!({})).await;
    assert_eq!(status, 409);
    assert_eq!(again["code"], "CHARGE_NOT_PENDING");
    gw.run_pipeline().await;
    assert_eq!(balance(&gw, &token).await, b);
}

async fn immediate_split_is_paid_with_its_own_end_to_end_id(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (_, token) = gw.merchant("Consultoria").await;
    let id = create(&gw, &token, &immediate_split("SVC-ALPHA-001")).await;
    let (status, paid) = pay(&gw, &token, &id, &json!({})).await;
    assert_eq!(status, 200, "{paid:?}");
    gw.run_pipeline().await;

    let charge = gw
        .get(&format!("/api/pix/cash-in/{id}"), &token)
        .await
        .body_json();
    let split = &charge["splits"][0];
    assert_eq!(split["status"], "PAID", "{charge:?}");
    assert_eq!(amount(&split["amount"]), "280.00");
    assert!(is_end_to_end_id(&split["endToEndId"]));
    assert_ne!(split["endToEndId"], charge["endToEndId"]);
    assert!(split["payoutId"].as_str().unwrap().starts_with("po_"));

    let b = balance(&gw, &token).await;
    assert_eq!(amount(&b["available"]), "70.00");
    assert_eq!(amount(&b["reservedForSplits"]), "0.00");
    let transfers = gw.sandbox.transfers();
    assert_eq!(transfers.len(), 1);
    assert_eq!(transfers[0].amount, Money::from_cents(28_000));
}

async fn a_refused_payout_fails_and_returns_the_money(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (_, token) = gw.merchant("Loja").await;
    let id = create(&gw, &token, &rejected_immediate_split("REJ-1")).await;
    assert_eq!(pay(&gw, &token, &id, &json!({})).await.0, 200);
    gw.run_pipeline().await;

    let charge = gw
        .get(&format!("/api/pix/cash-in/{id}"), &token)
        .await
        .body_json();
    let split = &charge["splits"][0];
    assert_eq!(split["status"], "FAILED", "{charge:?}");
    assert!(split["failureReason"].as_str().unwrap().contains("DICT"));
    assert!(split.get("endToEndId").is_none());
    let b = balance(&gw, &token).await;
    assert_eq!(amount(&b["available"]), "100.00");
    assert_eq!(amount(&b["reservedForSplits"]), "0.00");
}

async fn rounding_dust_stays_with_the_account(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (_, token) = gw.merchant("Centavos").await;
    let id = create(&gw, &token, &rounding_dust("DUST-1")).await;
    assert_eq!(pay(&gw, &token, &id, &json!({})).await.0, 200);
    gw.run_pipeline().await;
    let charge = gw
        .get(&format!("/api/pix/cash-in/{id}"), &token)
        .await
        .body_json();
    for split in charge["splits"].as_array().unwrap() {
        assert_eq!(amount(&split["amount"]), "0.03");
        assert_eq!(split["status"], "PAID");
    }
    let b = balance(&gw, &token).await;
    assert_eq!(amount(&b["available"]), "0.01");
    assert_eq!(gw.sandbox.transfers().len(), 3);
}

async fn sandbox_pay_refuses_what_a_bank_would(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (credentials, token) = gw.merchant("Loja").await;
    let (_, other) = gw.merchant("Outra").await;
    let id = create(&gw, &token, &marketplace("PED-1")).await;

    // Another account's charge does not exist for this caller.
    let (status, body) = pay(&gw, &other, &id, &json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("PUB_NOT_FOUND"))
    );
    // Every body problem at once.
    let (status, body) = pay(
        &gw,
        &token,
        &id,
        &json!({"document": "12345678900", "ispb": "123", "branch": "12345", "account": "12-3", "bank": "x", "name": 5}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "PUB_VALIDATION_ERROR");
    assert_eq!(
        body["details"]["errors"].as_array().unwrap().len(),
        6,
        "{body:?}"
    );
    let (status, body) = pay(&gw, &token, &id, &json!([1])).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("PUB_VALIDATION_ERROR"))
    );
    let response = gw
        .call(
            ApiRequest::new(Method::POST, format!("/api/sandbox/cash-in/{id}/pay"))
                .with_header("authorization", &format!("Bearer {token}"))
                .with_header("content-type", "application/json"),
        )
        .await;
    assert_eq!(response.status, 200, "an empty body pays with the defaults");
    // Unknown and malformed ids, no token.
    let (status, _) = pay(
        &gw,
        &token,
        &TransactionId::generate().to_string(),
        &json!({}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = pay(&gw, &token, "nope", &json!({})).await;
    assert_eq!(status, 404);
    let response = gw
        .call(ApiRequest::new(
            Method::POST,
            format!("/api/sandbox/cash-in/{id}/pay"),
        ))
        .await;
    assert_eq!(response.status, 401);

    // Expired charges cannot be paid.
    let late = create(&gw, &token, &marketplace("PED-2")).await;
    gw.clock.advance(Duration::seconds(86_400));
    let token = gw.token_for(&credentials).await;
    let (status, body) = pay(&gw, &token, &late, &json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("CHARGE_EXPIRED"))
    );
    let charge = gw
        .get(&format!("/api/pix/cash-in/{late}"), &token)
        .await
        .body_json();
    // GET shows EXPIRED from `expirationDate` on, before the sweeper stores it.
    assert_eq!(charge["status"], "EXPIRED");
}

/// A signed CASHIN_PAID for `id`, as the sandbox PIX network would send it.
fn paid_webhook(gw: &Gateway, id: &str, cents: i64) -> SignedWebhook {
    gw.sandbox.pay_charge(&SandboxPayment {
        hold: false,
        transaction_id: TransactionId::parse(id).expect("id"),
        amount: Money::from_cents(cents),
        paid_by: PaidBy {
            name: "João Pereira".into(),
            document: "12345678909".into(),
            bank: PayerBankData::new(Ispb::parse("00000000").unwrap(), "0001", "123456").unwrap(),
        },
    })
}

fn webhook_request(webhook: &SignedWebhook, provider: &str) -> ApiRequest {
    let mut request = ApiRequest::new(Method::POST, format!("/webhooks/provider/{provider}"));
    for (k, v) in &webhook.headers {
        request.headers.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    request.body = webhook.body.clone().into();
    request
}

async fn confirmations(gw: &Gateway, account: &pixgw_domain::pix::ids::AccountId) -> usize {
    gw.state
        .store
        .list_movements(account)
        .await
        .unwrap()
        .iter()
        .filter(|m| m.kind == MovementKind::ChargeConfirmed)
        .count()
}

async fn duplicate_webhooks_confirm_once(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (credentials, token) = gw.merchant("Loja").await;
    let account = pixgw_domain::pix::ids::AccountId::parse(&credentials.account_id).unwrap();
    let id = create(&gw, &token, &marketplace("PED-DUP")).await;
    let webhook = paid_webhook(&gw, &id, 20_000);

    // Sequential duplicates.
    let first = gw.call(webhook_request(&webhook, "sandbox")).await;
    assert_eq!(first.status, 200, "{:?}", first.body_json());
    assert_eq!(first.body_json()["outcome"], "CONFIRMED");
    let again = gw.call(webhook_request(&webhook, "sandbox")).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body_json()["outcome"], "DUPLICATE");

    // 20 concurrent duplicates of a fresh charge's payment.
    let id2 = create(&gw, &token, &marketplace("PED-DUP-2")).await;
    let webhook2 = paid_webhook(&gw, &id2, 20_000);
    let responses =
        futures::future::join_all((0..20).map(|_| gw.call(webhook_request(&webhook2, "sandbox"))))
            .await;
    let outcomes: Vec<String> = responses
        .iter()
        .map(|r| {
            assert_eq!(r.status, 200, "{:?}", r.body_json());
            r.body_json()["outcome"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "CONFIRMED").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(outcomes.iter().filter(|o| *o == "DUPLICATE").count(), 19);

    // One ledger movement per charge, one hand-off each.
    assert_eq!(confirmations(&gw, &account).await, 2);
    let balance: Balance = gw.state.store.get_balance(&account).await.unwrap();
    assert_eq!(balance.incoming, Money::from_cents(40_000));
    gw.relay().await;
    assert_eq!(gw.receive_all(QueueName::ChargeConfirmed).await.len(), 2);
}

async fn provider_webhooks_are_authenticated_and_checked(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (credentials, token) = gw.merchant("Loja").await;
    let account = pixgw_domain::pix::ids::AccountId::parse(&credentials.account_id).unwrap();
    let id = create(&gw, &token, &marketplace("PED-W")).await;
    let good = paid_webhook(&gw, &id, 20_000);

    let mut tampered = good.clone();
    tampered.body = String::from_utf8(good.body.clone())
        .unwrap()
        .replace("200.00", "2.00")
        .into_bytes();
    let response = gw.call(webhook_request(&tampered, "sandbox")).await;
    assert_eq!(response.status, 401);
    assert_eq!(
        response.body_json()["code"],
        "PROVIDER_WEBHOOK_UNAUTHENTICATED"
    );

    let mut unsigned = webhook_request(&good, "sandbox");
    unsigned.headers.remove("webhook-signature");
    assert_eq!(gw.call(unsigned).await.status, 401);

    // Signed, but not a payload we understand.
    let garbage = gw
        .sandbox
        .sign_webhook("evt_1", b"{\"eventType\":\"CASHIN_PAID\"}".to_vec());
    let response = gw.call(webhook_request(&garbage, "sandbox")).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.body_json()["code"], "PROVIDER_WEBHOOK_MALFORMED");

    // Unknown provider, unknown charge, wrong amount.
    let response = gw.call(webhook_request(&good, "connectpsp")).await;
    assert_eq!(response.status, 404);
    let stranger = paid_webhook(&gw, &TransactionId::generate().to_string(), 20_000);
    assert_eq!(
        gw.call(webhook_request(&stranger, "sandbox")).await.status,
        404
    );
    let short = paid_webhook(&gw, &id, 19_999);
    let response = gw.call(webhook_request(&short, "sandbox")).await;
    assert_eq!(response.status, 422);
    assert_eq!(response.body_json()["code"], "PAYMENT_AMOUNT_MISMATCH");

    // The same end-to-end id cannot settle a second charge.
    assert_eq!(gw.call(webhook_request(&good, "sandbox")).await.status, 200);
    let other = create(&gw, &token, &marketplace("PED-W2")).await;
    let body = String::from_utf8(good.body.clone())
        .unwrap()
        .replace(&id, &other);
    let replayed = gw.sandbox.sign_webhook("evt_replay", body.into_bytes());
    let response = gw.call(webhook_request(&replayed, "sandbox")).await;
    assert_eq!(response.status, 409, "{:?}", response.body_json());
    assert_eq!(response.body_json()["code"], "END_TO_END_ID_CONFLICT");
    let other_charge = gw
        .get(&format!("/api/pix/cash-in/{other}"), &token)
        .await
        .body_json();
    assert_eq!(other_charge["status"], "PENDING");

    // Nothing but the one good payment moved money.
    assert_eq!(confirmations(&gw, &account).await, 1);
    let response = gw.get("/api/account/balance", "not-a-token").await;
    assert_eq!(response.status, 401);
}

on_both_backends!(
    marketplace_charge_confirms_and_books_scheduled_splits,
    immediate_split_is_paid_with_its_own_end_to_end_id,
    a_refused_payout_fails_and_returns_the_money,
    rounding_dust_stays_with_the_account,
    sandbox_pay_refuses_what_a_bank_would,
    duplicate_webhooks_confirm_once,
    provider_webhooks_are_authenticated_and_checked,
);
