//! The merchant-webhook API end to end, through the router every host uses, on both backends:
//! registering the endpoint (`PUT /api/account/webhook`, the secret shown once), the URL
//! policy (https only, no private addresses, DNS included), rotating the secret, the delivery
//! log (`GET /api/webhooks/deliveries`) and manual redelivery, and accounts kept apart.
//!
//! Host names resolve through a table, never real DNS. Deliveries are written straight into
//! the store (as the dispatcher would), so the log is tested without the queue.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Duration, Utc};
use http::Method;
use pixgw_api::accounts::NewAccountCredentials;
use pixgw_api::idempotency::request_hash;
use pixgw_api::{ApiRequest, ApiResponse};
use pixgw_domain::idempotency::{ClaimOutcome, ClaimRequest};
use pixgw_domain::messaging::events::EventType;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::webhooks::{Delivery, DeliveryAttempt, DeliveryStatus};
use pixgw_tests::harness::{Backend, Gateway};
use pixgw_tests::on_both_backends;
use serde_json::{Value, json};

const ENDPOINT: &str = "/api/account/webhook";
const ROTATE: &str = "/api/account/webhook/rotate-secret";
const DELIVERIES: &str = "/api/webhooks/deliveries";

/// A public host, a host whose only address is loopback, and one with a private address among
/// public ones (the connection could pick any of them).
async fn gateway(backend: Backend) -> Gateway {
    Gateway::start(backend).await.with_webhook_hosts(&[
        ("hooks.merchant.example", &["93.184.216.34"]),
        ("other.merchant.example", &["93.184.216.35"]),
        ("internal.merchant.example", &["127.0.0.1"]),
        ("mixed.merchant.example", &["93.184.216.34", "10.1.2.3"]),
    ])
}

fn assert_error(response: &ApiResponse, status: u16, code: &str, path: &str) -> Value {
    let body = response.body_json();
    assert_eq!(response.status, status, "{body}");
    assert_eq!(body["statusCode"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["path"], path, "{body}");
    assert!(body["timestamp"].is_string(), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(body["userMessage"].as_str().is_some_and(|m| !m.is_empty()));
    body
}

fn errors(body: &Value) -> Vec<String> {
    body["details"]["errors"]
        .as_array()
        .expect("details.errors")
        .iter()
        .map(|e| e.as_str().expect("error text").to_owned())
        .collect()
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn register(gw: &Gateway, token: &str, body: &Value) -> ApiResponse {
    gw.put(ENDPOINT, token, body, None).await
}

async fn rotate(gw: &Gateway, token: &str) -> ApiResponse {
    gw.post(ROTATE, token, &json!({}), None).await
}

fn account_of(credentials: &NewAccountCredentials) -> AccountId {
    AccountId::parse(&credentials.account_id).expect("account id")
}

/// A delivery the dispatcher would have created, now, for an event of `account`.
async fn delivery(
    gw: &Gateway,
    account: &AccountId,
    event: &str,
    event_type: EventType,
) -> Delivery {
    let delivery = Delivery::new(account, event, event_type, gw.clock_now());
    gw.state
        .store
        .create_delivery(&delivery)
        .await
        .expect("create delivery");
    delivery
}

/// Records one attempt answered with `code`, leaving the delivery `status`.
async fn attempted(gw: &Gateway, mut d: Delivery, code: u16, status: DeliveryStatus) -> Delivery {
    let expected = d.version;
    let now = gw.clock_now();
    d.log_attempt(DeliveryAttempt {
        number: d.next_attempt(),
        round: d.round,
        at: now,
        status_code: Some(code),
        latency_ms: 42,
        error: (code >= 300).then(|| format!("HTTP {code}")),
    });
    d.status = status;
    d.next_attempt_at = (status == DeliveryStatus::Pending).then(|| now + Duration::seconds(5));
    d.updated_at = now;
    d.version = expected + 1;
    gw.state
        .store
        .update_delivery(&d, expected, None)
        .await
        .expect("update delivery");
    d
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| d["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn list(gw: &Gateway, token: &str, query: &str) -> Value {
    let response = gw.get(&format!("{DELIVERIES}{query}"), token).await;
    assert_eq!(response.status, 200, "{query}: {:?}", response.body_json());
    response.body_json()
}

async fn registering_shows_the_secret_once(backend: Backend) {
    let gw = gateway(backend).await;
    let (_, token) = gw.merchant("Webhooks").await;
    let created_at = gw.clock_now();

    let missing = gw.get(ENDPOINT, &token).await;
    assert_error(&missing, 404, "WEBHOOK_NOT_FOUND", ENDPOINT);

    let first = register(
        &gw,
        &token,
        &json!({"url": "https://hooks.merchant.example/pix"}),
    )
    .await;
    let body = first.body_json();
    assert_eq!(first.status, 201, "{body}");
    let secret = body["secret"].as_str().expect("secret on creation");
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(body["url"], "https://hooks.merchant.example/pix");
    assert_eq!(body["events"], Value::Null, "null = every event type");
    assert_eq!(body["status"], "ENABLED");
    assert_eq!(body["createdAt"], ts(created_at));
    assert_eq!(body["updatedAt"], ts(created_at));
    assert!(body.get("previousSecretExpiresAt").is_none(), "{body}");
    assert!(body.get("secretRotatedAt").is_none(), "{body}");

    let shown = gw.get(ENDPOINT, &token).await;
    assert_eq!(shown.status, 200);
    let shown = shown.body_json();
    assert!(shown.get("secret").is_none(), "never shown again: {shown}");
    assert!(!shown.to_string().contains(secret), "{shown}");
    assert_eq!(shown["url"], body["url"]);

    gw.clock.advance(Duration::minutes(5));
    let replaced = register(
        &gw,
        &token,
        &json!({"url": "https://other.merchant.example/v2/pix", "events": ["PAYOUT_PAID", "CASHIN_CONFIRMED"]}),
    )
    .await;
    let replaced_body = replaced.body_json();
    assert_eq!(replaced.status, 200, "{replaced_body}");
    assert!(replaced_body.get("secret").is_none(), "{replaced_body}");
    assert_eq!(
        replaced_body["url"],
        "https://other.merchant.example/v2/pix"
    );
    assert_eq!(
        replaced_body["events"],
        json!(["CASHIN_CONFIRMED", "PAYOUT_PAID"]),
        "a set, in the order of the event type list"
    );
    assert_eq!(replaced_body["createdAt"], ts(created_at));
    assert_eq!(replaced_body["updatedAt"], ts(gw.clock_now()));
    let shown = gw.get(ENDPOINT, &token).await.body_json();
    assert_eq!(shown, replaced_body);

    // Back to every event type with an explicit null.
    let all = register(
        &gw,
        &token,
        &json!({"url": "https://other.merchant.example/v2/pix", "events": null}),
    )
    .await;
    assert_eq!(all.status, 200);
    assert_eq!(all.body_json()["events"], Value::Null);
}

async fn a_retried_registration_replays_the_secret(backend: Backend) {
    let gw = gateway(backend).await;
    let (credentials, token) = gw.merchant("Webhooks").await;
    let key = "6f1d7c1e-2b3a-4c5d-8e9f-0a1b2c3d4e5f";
    let body = json!({"url": "https://hooks.merchant.example/pix"});
    let first = gw.put(ENDPOINT, &token, &body, Some(key)).await;
    assert_eq!(first.status, 201, "{:?}", first.body_json());
    let again = gw.put(ENDPOINT, &token, &body, Some(key)).await;
    assert_eq!(again.status, 201);
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    assert_eq!(
        again.body_json(),
        first.body_json(),
        "the same secret again"
    );

    // What the idempotency record keeps for the replay does not show the secret.
    let secret = first.body_json()["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let request = ApiRequest::new(Method::PUT, ENDPOINT).with_json(&body);
    let now = gw.clock_now();
    let stored = gw
        .state
        .store
        .claim(&ClaimRequest {
            account_id: &account_of(&credentials),
            key,
            request_hash: &request_hash(&request),
            lock_token: "test",
            now,
            lease_until: now + Duration::seconds(60),
            expires_at: now + Duration::hours(24),
        })
        .await
        .expect("claim");
    let ClaimOutcome::Replay(stored) = stored else {
        panic!("the record replays: {stored:?}");
    };
    assert!(!stored.body.contains(&secret), "sealed at rest");
    assert!(!stored.body.contains("whsec_"), "sealed at rest");

    let other = json!({"url": "https://other.merchant.example/pix"});
    let reused = gw.put(ENDPOINT, &token, &other, Some(key)).await;
    assert_error(&reused, 422, "IDEMPOTENCY_KEY_REUSED", ENDPOINT);
}

async fn urls_the_policy_refuses_are_400(backend: Backend) {
    let gw = gateway(backend).await;
    let (_, token) = gw.merchant("Webhooks").await;
    let private = |ip: &str| {
        format!("url must not point at a private, loopback, link-local or reserved address ({ip})")
    };
    let cases = [
        (
            "http://hooks.merchant.example/pix",
            "url must use https".to_owned(),
        ),
        ("https://10.0.0.1/hook", private("10.0.0.1")),
        (
            "https://169.254.169.254/latest/meta-data",
            private("169.254.169.254"),
        ),
        (
            "https://internal.merchant.example/hook",
            private("127.0.0.1"),
        ),
        ("https://mixed.merchant.example/hook", private("10.1.2.3")),
        (
            "https://nowhere.merchant.example/hook",
            "url host could not be resolved: nowhere.merchant.example: no such host".to_owned(),
        ),
        ("not a url", "url is not a valid absolute URL".to_owned()),
        (
            "https://user:pw@hooks.merchant.example/",
            "url must not contain credentials, or a fragment".to_owned(),
        ),
    ];
    for (url, reason) in cases {
        let response = register(&gw, &token, &json!({"url": url})).await;
        let body = assert_error(&response, 400, "INVALID_WEBHOOK_URL", ENDPOINT);
        assert_eq!(errors(&body), [reason], "{url}");
    }
    // Nothing was registered by any of them.
    assert_error(
        &gw.get(ENDPOINT, &token).await,
        404,
        "WEBHOOK_NOT_FOUND",
        ENDPOINT,
    );
}

async fn bad_bodies_list_every_error(backend: Backend) {
    let gw = gateway(backend).await;
    let (_, token) = gw.merchant("Webhooks").await;

    let response = register(
        &gw,
        &token,
        &json!({
            "url": "http://hooks.merchant.example/pix",
            "events": ["PAYOUT_PAID", "PIX_RECEIVED", "PAYOUT_PAID"],
            "secret": "whsec_mine"
        }),
    )
    .await;
    let body = assert_error(&response, 400, "PUB_VALIDATION_ERROR", ENDPOINT);
    let values = EventType::ALL.map(EventType::as_str).join(", ");
    assert_eq!(
        errors(&body),
        [
            "property secret should not exist".to_owned(),
            "url must use https".to_owned(),
            format!("events[1] must be one of the following values: {values}"),
            "events[2] must not repeat PAYOUT_PAID".to_owned(),
        ]
    );

    let response = register(&gw, &token, &json!({"url": 42, "events": []})).await;
    let body = assert_error(&response, 400, "PUB_VALIDATION_ERROR", ENDPOINT);
    assert_eq!(
        errors(&body),
        [
            "url must be a string",
            "events should not be empty (omit it or send null to receive every event type)"
        ]
    );

    let response = register(&gw, &token, &json!({"events": "PAYOUT_PAID"})).await;
    let body = assert_error(&response, 400, "PUB_VALIDATION_ERROR", ENDPOINT);
    assert_eq!(
        errors(&body),
        [
            "url should not be empty",
            "events must be an array of event types"
        ]
    );

    let response = register(&gw, &token, &json!(["https://hooks.merchant.example/"])).await;
    let body = assert_error(&response, 400, "PUB_VALIDATION_ERROR", ENDPOINT);
    assert_eq!(errors(&body), ["request body must be a JSON object"]);

    for (raw, code) in [
        (&b"{\"url\": "[..], "PUB_MALFORMED_JSON"),
        (&b"not json"[..], "PUB_MALFORMED_JSON"),
        (&b""[..], "PUB_EMPTY_BODY"),
    ] {
        let mut request = ApiRequest::new(Method::PUT, ENDPOINT)
            .with_header("authorization", &format!("Bearer {token}"))
            .with_header("content-type", "application/json");
        request.body = bytes::Bytes::copy_from_slice(raw);
        assert_error(&gw.call(request).await, 400, code, ENDPOINT);
    }

    // Rotation and redelivery take no body.
    let response = gw.post(ROTATE, &token, &json!({"secret": "x"}), None).await;
    let body = assert_error(&response, 400, "PUB_VALIDATION_ERROR", ROTATE);
    assert_eq!(errors(&body), ["property secret should not exist"]);

    assert_error(
        &gw.get(ENDPOINT, &token).await,
        404,
        "WEBHOOK_NOT_FOUND",
        ENDPOINT,
    );
}

async fn rotating_keeps_the_previous_secret_for_a_day(backend: Backend) {
    let gw = gateway(backend).await;
    let (credentials, token) = gw.merchant("Webhooks").await;

    assert_error(&rotate(&gw, &token).await, 404, "WEBHOOK_NOT_FOUND", ROTATE);

    let created = register(
        &gw,
        &token,
        &json!({"url": "https://hooks.merchant.example/pix"}),
    )
    .await;
    assert_eq!(created.status, 201);
    let original = created.body_json()["secret"]
        .as_str()
        .expect("secret")
        .to_owned();

    gw.clock.advance(Duration::minutes(30));
    let rotated_at = gw.clock_now();
    let response = rotate(&gw, &token).await;
    let body = response.body_json();
    assert_eq!(response.status, 200, "{body}");
    let secret = body["secret"].as_str().expect("the new secret");
    assert!(secret.starts_with("whsec_"));
    assert_ne!(secret, original);
    assert_eq!(body["secretRotatedAt"], ts(rotated_at));
    assert_eq!(
        body["previousSecretExpiresAt"],
        ts(rotated_at + Duration::hours(24))
    );
    assert_eq!(body["updatedAt"], ts(rotated_at));

    // The overlap is shown (without any secret) until it ends.
    let shown = gw.get(ENDPOINT, &token).await.body_json();
    assert!(shown.get("secret").is_none(), "{shown}");
    assert_eq!(shown["secretRotatedAt"], body["secretRotatedAt"]);
    assert_eq!(
        shown["previousSecretExpiresAt"],
        body["previousSecretExpiresAt"]
    );
    gw.clock.advance(Duration::hours(24));
    // Bearer tokens live an hour: a day later, a new one.
    let token = gw.token_for(&credentials).await;
    let shown = gw.get(ENDPOINT, &token).await.body_json();
    assert!(shown.get("previousSecretExpiresAt").is_none(), "{shown}");
    assert!(shown.get("secretRotatedAt").is_none(), "{shown}");

    // Replacing the URL keeps the secrets: no secret in the answer.
    let replaced = register(
        &gw,
        &token,
        &json!({"url": "https://hooks.merchant.example/new"}),
    )
    .await;
    assert_eq!(replaced.status, 200);
    assert!(replaced.body_json().get("secret").is_none());
}

async fn an_empty_log_and_invalid_queries(backend: Backend) {
    let gw = gateway(backend).await;
    let (_, token) = gw.merchant("Webhooks").await;

    let page = list(&gw, &token, "").await;
    assert_eq!(page, json!({"items": [], "nextCursor": null}));
    let page = list(&gw, &token, "?type=PAYOUT_PAID&status=FAILED&limit=100").await;
    assert_eq!(page, json!({"items": [], "nextCursor": null}));

    let response = gw
        .get(
            &format!("{DELIVERIES}?page=2&type=PIX_RECEIVED&status=DONE&limit=0&cursor=garbage"),
            &token,
        )
        .await;
    let body = assert_error(&response, 400, "PUB_VALIDATION_ERROR", DELIVERIES);
    assert_eq!(body["message"], "Invalid query parameters");
    let values = EventType::ALL.map(EventType::as_str).join(", ");
    assert_eq!(
        errors(&body),
        [
            "query parameter page is not supported".to_owned(),
            format!("type must be one of the following values: {values}"),
            "status must be one of the following values: PENDING, DELIVERED, FAILED".to_owned(),
            "limit must be an integer between 1 and 100".to_owned(),
            "cursor is invalid (use nextCursor from a previous page)".to_owned(),
        ]
    );
    for query in ["?limit=101", "?limit=abc", "?limit=1&limit=2"] {
        let response = gw.get(&format!("{DELIVERIES}{query}"), &token).await;
        assert_error(&response, 400, "PUB_VALIDATION_ERROR", DELIVERIES);
    }

    for id in ["dlv_00000000000000000000000000000000", "nope"] {
        let path = format!("{DELIVERIES}/{id}/redeliver");
        let response = gw.post(&path, &token, &json!({}), None).await;
        assert_error(&response, 404, "WEBHOOK_DELIVERY_NOT_FOUND", &path);
    }
}

async fn deliveries_are_listed_filtered_and_redelivered(backend: Backend) {
    let gw = gateway(backend).await;
    let (credentials, token) = gw.merchant("Webhooks").await;
    let account = account_of(&credentials);

    let paid = delivery(&gw, &account, "evt_paid", EventType::CashinConfirmed).await;
    gw.clock.advance(Duration::seconds(1));
    let paid = attempted(&gw, paid, 200, DeliveryStatus::Delivered).await;
    let failing = delivery(&gw, &account, "evt_failing", EventType::PayoutFailed).await;
    gw.clock.advance(Duration::seconds(1));
    let failing = attempted(&gw, failing, 500, DeliveryStatus::Failed).await;
    let waiting = delivery(&gw, &account, "evt_waiting", EventType::PayoutPaid).await;

    let page = list(&gw, &token, "").await;
    assert_eq!(
        ids(&page),
        [waiting.id.clone(), failing.id.clone(), paid.id.clone()],
        "newest first"
    );
    assert_eq!(page["nextCursor"], Value::Null);
    let shown = &page["items"][1];
    assert_eq!(
        *shown,
        json!({
            "id": failing.id,
            "eventId": "evt_failing",
            "eventType": "PAYOUT_FAILED",
            "status": "FAILED",
            "attempts": [{
                "number": 1,
                "round": 0,
                "at": ts(failing.updated_at),
                "statusCode": 500,
                "latencyMs": 42,
                "error": "HTTP 500"
            }],
            "attemptCount": 1,
            "nextAttemptAt": null,
            "createdAt": ts(failing.created_at),
            "updatedAt": ts(failing.updated_at)
        })
    );
    assert_eq!(page["items"][0]["status"], "PENDING");
    assert_eq!(page["items"][0]["attempts"], json!([]));
    assert_eq!(page["items"][0]["nextAttemptAt"], ts(waiting.created_at));
    assert_eq!(page["items"][2]["attempts"][0]["error"], Value::Null);

    assert_eq!(
        ids(&list(&gw, &token, "?type=PAYOUT_FAILED").await),
        [failing.id.as_str()]
    );
    assert_eq!(
        ids(&list(&gw, &token, "?status=DELIVERED").await),
        [paid.id.as_str()]
    );
    assert!(ids(&list(&gw, &token, "?type=PAYOUT_PAID&status=FAILED").await).is_empty());

    // One at a time, following the cursor.
    let mut seen = Vec::new();
    let mut query = "?limit=1".to_owned();
    loop {
        let page = list(&gw, &token, &query).await;
        seen.extend(ids(&page));
        match page["nextCursor"].as_str() {
            Some(cursor) => query = format!("?limit=1&cursor={cursor}"),
            None => break,
        }
        assert!(seen.len() < 10, "the listing never ends");
    }
    assert_eq!(
        seen,
        [waiting.id.clone(), failing.id.clone(), paid.id.clone()]
    );

    // A redelivery starts a new round now, whatever the delivery's status.
    gw.clock.advance(Duration::minutes(3));
    let path = format!("{DELIVERIES}/{}/redeliver", failing.id);
    let response = gw.post(&path, &token, &json!({}), None).await;
    let body = response.body_json();
    assert_eq!(response.status, 202, "{body}");
    assert_eq!(body["id"], failing.id.as_str());
    assert_eq!(body["status"], "PENDING");
    assert_eq!(body["nextAttemptAt"], ts(gw.clock_now()));
    assert_eq!(body["attemptCount"], 1, "the log is kept");
    assert_eq!(body["updatedAt"], ts(gw.clock_now()));
    assert_eq!(
        ids(&list(&gw, &token, "?status=PENDING").await),
        [waiting.id.clone(), failing.id.clone()]
    );

    // Without a body too, and safely retried with a key.
    let key = "0b6f3c2a-9d8e-4f7a-b1c2-d3e4f5a6b7c8";
    let request = |key: &str| {
        ApiRequest::new(Method::POST, &path)
            .with_header("authorization", &format!("Bearer {token}"))
            .with_header("x-idempotency-key", key)
    };
    let first = gw.call(request(key)).await;
    assert_eq!(first.status, 202, "{:?}", first.body_json());
    let again = gw.call(request(key)).await;
    assert_eq!(again.status, 202);
    assert!(again.headers.contains_key("idempotent-replayed"));
    assert_eq!(again.body_json(), first.body_json());
}

async fn accounts_see_only_their_own_webhooks(backend: Backend) {
    let gw = gateway(backend).await;
    let (alice_credentials, alice) = gw.merchant("Alice").await;
    let (_, bob) = gw.merchant("Bob").await;
    let alice_account = account_of(&alice_credentials);

    let created = register(
        &gw,
        &alice,
        &json!({"url": "https://hooks.merchant.example/a"}),
    )
    .await;
    assert_eq!(created.status, 201);
    let first = delivery(&gw, &alice_account, "evt_a1", EventType::CashinConfirmed).await;
    gw.clock.advance(Duration::seconds(1));
    delivery(&gw, &alice_account, "evt_a2", EventType::CashinExpired).await;

    assert_error(
        &gw.get(ENDPOINT, &bob).await,
        404,
        "WEBHOOK_NOT_FOUND",
        ENDPOINT,
    );
    assert_error(&rotate(&gw, &bob).await, 404, "WEBHOOK_NOT_FOUND", ROTATE);
    assert!(ids(&list(&gw, &bob, "").await).is_empty());
    let path = format!("{DELIVERIES}/{}/redeliver", first.id);
    assert_error(
        &gw.post(&path, &bob, &json!({}), None).await,
        404,
        "WEBHOOK_DELIVERY_NOT_FOUND",
        &path,
    );

    // Alice's cursor shows Bob nothing of hers.
    let page = list(&gw, &alice, "?limit=1").await;
    let cursor = page["nextCursor"].as_str().expect("more follow");
    let theirs = list(&gw, &bob, &format!("?limit=1&cursor={cursor}")).await;
    assert_eq!(theirs, json!({"items": [], "nextCursor": null}));

    // Bob's own endpoint is his, with his own secret; Alice's is unchanged.
    let bobs = register(
        &gw,
        &bob,
        &json!({"url": "https://other.merchant.example/b"}),
    )
    .await;
    assert_eq!(bobs.status, 201);
    assert_ne!(bobs.body_json()["secret"], created.body_json()["secret"]);
    let alices = gw.get(ENDPOINT, &alice).await.body_json();
    assert_eq!(alices["url"], "https://hooks.merchant.example/a");

    // And nothing without a token.
    let anonymous = gw.call(ApiRequest::new(Method::GET, ENDPOINT)).await;
    assert_error(&anonymous, 401, "PUB_UNAUTHORIZED", ENDPOINT);
}

on_both_backends!(
    registering_shows_the_secret_once,
    a_retried_registration_replays_the_secret,
    urls_the_policy_refuses_are_400,
    bad_bodies_list_every_error,
    rotating_keeps_the_previous_secret_for_a_day,
    an_empty_log_and_invalid_queries,
    deliveries_are_listed_filtered_and_redelivered,
    accounts_see_only_their_own_webhooks,
);
