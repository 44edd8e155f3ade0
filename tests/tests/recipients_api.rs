//! `GET /api/recipients` and `GET /api/recipients/{recipientId}` end to end, through the router
//! every host uses, on both backends: recipients appear with their first booked split, show
//! what is scheduled to them, what they were paid and what they owe after a PROPORTIONAL
//! refund of a paid split; the listing pages like every listing; documents are masked; another
//! account's recipient does not exist; bad queries are 400s listing every problem.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pixgw_api::ApiResponse;
use pixgw_domain::pix::ids::RecipientId;
use pixgw_domain::refund::RefundLiability;
use pixgw_tests::bodies::{immediate_split, marketplace};
use pixgw_tests::harness::Backend;
use pixgw_tests::money_lifecycle::{Shop, plain_charge};
use pixgw_tests::on_both_backends;
use serde_json::{Value, json};

/// `GET path` with a token of `shop`'s account.
async fn get(shop: &Shop, path: &str) -> ApiResponse {
    let token = shop.token().await;
    shop.gw.get(path, &token).await
}

async fn ok(shop: &Shop, path: &str) -> Value {
    let response = get(shop, path).await;
    assert_eq!(response.status, 200, "{path}: {:?}", response.body_json());
    response.body_json()
}

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().cloned().expect("items")
}

fn ids(recipients: &[Value]) -> Vec<String> {
    recipients
        .iter()
        .map(|r| r["recipientId"].as_str().expect("recipientId").to_owned())
        .collect()
}

/// The listed recipient whose PIX key is `key`.
fn by_key(recipients: &[Value], key: &str) -> Value {
    recipients
        .iter()
        .find(|r| r["pixKey"] == key)
        .unwrap_or_else(|| panic!("no recipient with key {key}: {recipients:?}"))
        .clone()
}

/// Money as written (`140.00`): exactly two decimals.
fn money(v: &Value) -> String {
    v.to_string()
}

/// `(scheduled, paid, debt, recovering)` as written.
fn totals(recipient: &Value) -> [String; 4] {
    ["scheduled", "paid", "debt", "recovering"].map(|field| money(&recipient[field]))
}

fn totals_of(scheduled: &str, paid: &str, debt: &str, recovering: &str) -> [String; 4] {
    [scheduled, paid, debt, recovering].map(str::to_owned)
}

/// Every page of the listing at `limit`, following `nextCursor`: the pages' items.
async fn walk(shop: &Shop, limit: u32) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/recipients?limit={limit}&cursor={c}"),
            None => format!("/api/recipients?limit={limit}"),
        };
        let page = ok(shop, &path).await;
        pages.push(items(&page));
        match &page["nextCursor"] {
            Value::String(next) => cursor = Some(next.clone()),
            Value::Null => return pages,
            other => panic!("nextCursor must be a string or null: {other}"),
        }
        assert!(pages.len() < 50, "the listing never ends");
    }
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

/// The seed's marketplace charge paid: its three recipients are listed (ascending id, one
/// page) with `scheduled` = their shares and masked documents; each GET adds an empty
/// `openDebts`. Once the payout window ran, `scheduled` moved to `paid`.
async fn marketplace_recipients_show_their_shares(backend: Backend) {
    let shop = Shop::open(backend).await;
    assert_eq!(
        ok(&shop, "/api/recipients").await,
        json!({"items": [], "nextCursor": null})
    );
    shop.paid(&marketplace("RC-MKT-1")).await;

    let page = ok(&shop, "/api/recipients").await;
    assert_eq!(page["nextCursor"], Value::Null, "{page}");
    let listed = items(&page);
    assert_eq!(listed.len(), 3, "{page}");
    let mut sorted = ids(&listed);
    sorted.sort();
    assert_eq!(ids(&listed), sorted, "ascending recipientId");

    let seller = by_key(&listed, "vendedor@email.com");
    let platform = by_key(&listed, "11222333000181");
    let courier = by_key(&listed, "+5511999887766");
    let derived = RecipientId::derive(
        &shop.account,
        ("EMAIL", "vendedor@email.com", "11222333000181"),
    );
    assert_eq!(seller["recipientId"], derived.as_str());
    assert_eq!(
        [&seller, &platform, &courier].map(|r| r["pixKeyType"].clone()),
        [json!("EMAIL"), json!("CNPJ"), json!("PHONE")]
    );
    assert_eq!(seller["name"], "Loja do João");
    assert_eq!(seller["document"], "11.222.333/****-**");
    assert_eq!(platform["document"], "11.222.333/****-**");
    assert_eq!(courier["document"], "***.654.321-**");
    assert_eq!(totals(&seller), totals_of("140.00", "0.00", "0.00", "0.00"));
    assert_eq!(
        totals(&platform),
        totals_of("40.00", "0.00", "0.00", "0.00")
    );
    assert_eq!(totals(&courier), totals_of("10.00", "0.00", "0.00", "0.00"));
    for recipient in &listed {
        assert!(recipient.get("openDebts").is_none(), "{recipient}");
        let id = recipient["recipientId"].as_str().expect("id");
        let mut detail = ok(&shop, &format!("/api/recipients/{id}")).await;
        assert_eq!(detail["openDebts"], json!([]), "{detail}");
        detail.as_object_mut().expect("object").remove("openDebts");
        assert_eq!(&detail, recipient, "GET shows what the listing shows");
    }

    shop.run_scheduler().await;
    shop.drain().await;
    let paid = items(&ok(&shop, "/api/recipients").await);
    assert_eq!(ids(&paid), ids(&listed));
    assert_eq!(
        totals(&by_key(&paid, "vendedor@email.com")),
        totals_of("0.00", "140.00", "0.00", "0.00")
    );
    assert_eq!(
        totals(&by_key(&paid, "11222333000181")),
        totals_of("0.00", "40.00", "0.00", "0.00")
    );
    assert_eq!(
        totals(&by_key(&paid, "+5511999887766")),
        totals_of("0.00", "10.00", "0.00", "0.00")
    );
}

/// A charge with five recipients: at every `limit` the walk sees each recipient exactly once,
/// in ascending id order, in ⌈5 / limit⌉ pages, the last one with `nextCursor: null`; a cursor
/// at the last recipient gives an empty last page; a well-formed cursor that names no
/// recipient starts after where it would be.
async fn pages_walk_every_recipient_once(backend: Backend) {
    let shop = Shop::open(backend).await;
    let splits: Vec<Value> = (1..=5)
        .map(|k| {
            json!({"pixKey": format!("socio{k}@example.com"), "pixKeyType": "EMAIL",
                   "name": format!("Sócio {k}"), "document": "12345678909",
                   "type": "FIXED", "value": 1.00})
        })
        .collect();
    shop.paid(&json!({
        "transaction": {"value": 100.00, "description": "Cinco sócios", "externalId": "RC-PAGES"},
        "payer": {"fullName": "Maria Silva", "document": "12345678909"},
        "splits": splits
    }))
    .await;

    let all = ids(&items(&ok(&shop, "/api/recipients?limit=100").await));
    assert_eq!(all.len(), 5, "{all:?}");
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "ascending recipientId");

    for (limit, sizes) in [
        (1, vec![1, 1, 1, 1, 1]),
        (2, vec![2, 2, 1]),
        (4, vec![4, 1]),
        (5, vec![5]),
        (6, vec![5]),
    ] {
        let pages = walk(&shop, limit).await;
        assert_eq!(
            pages.iter().map(Vec::len).collect::<Vec<_>>(),
            sizes,
            "limit {limit}"
        );
        let walked: Vec<String> = pages.iter().flat_map(|p| ids(p)).collect();
        assert_eq!(walked, all, "limit {limit}: every recipient once, in order");
    }

    // The last recipient as the cursor: nothing follows.
    let last = all.last().expect("a last recipient");
    assert_eq!(
        ok(&shop, &format!("/api/recipients?cursor={last}")).await,
        json!({"items": [], "nextCursor": null})
    );
    // Before every id: the whole list.
    let first = format!("rc_{}", "0".repeat(32));
    assert_eq!(
        ids(&items(
            &ok(&shop, &format!("/api/recipients?cursor={first}")).await
        )),
        all
    );
}

/// The immediate-split example: R$ 350, 280.00 paid at once; R$ 100 refunded
/// PROPORTIONAL makes the consultant owe 80.00: its GET shows the debt and the refund it comes
/// from (`openDebts`), the listing the debt alone. Its next split pays it back: no debt left,
/// `paid` grows by what was transferred (200.00).
async fn a_proportional_refund_of_a_paid_split_shows_as_debt(backend: Backend) {
    let shop = Shop::open(backend).await;
    shop.paid(&plain_charge("RC-FUND", 50_000)).await;
    let charge = shop.paid(&immediate_split("RC-IMMEDIATE")).await;
    shop.drain().await;
    let id = RecipientId::derive(
        &shop.account,
        (
            "RANDOM",
            "a1b2c3d4-e5f6-4890-abcd-ef1234567890",
            "12345678909",
        ),
    );
    let path = format!("/api/recipients/{id}");
    let before = ok(&shop, &path).await;
    assert_eq!(totals(&before), totals_of("0.00", "280.00", "0.00", "0.00"));
    assert_eq!(before["openDebts"], json!([]));

    let (_, refund_id) = shop
        .refund_part(&charge, Some(10_000), Some(RefundLiability::Proportional))
        .await
        .expect("refund");
    shop.drain().await;
    let owing = ok(&shop, &path).await;
    assert_eq!(totals(&owing), totals_of("0.00", "280.00", "80.00", "0.00"));
    assert_eq!(owing["document"], "***.456.789-**");
    assert_eq!(owing["name"], "Consultor Freelancer");
    let parts = owing["openDebts"].as_array().expect("openDebts");
    assert_eq!(parts.len(), 1, "{owing}");
    assert_eq!(parts[0]["refundId"], refund_id.as_str());
    assert_eq!(parts[0]["transactionId"], charge.as_str());
    assert_eq!(money(&parts[0]["amount"]), "80.00");
    let listed = by_key(
        &items(&ok(&shop, "/api/recipients").await),
        "a1b2c3d4-e5f6-4890-abcd-ef1234567890",
    );
    assert_eq!(totals(&listed), totals(&owing));
    assert!(listed.get("openDebts").is_none(), "{listed}");

    shop.paid(&immediate_split("RC-IMMEDIATE-2")).await;
    shop.drain().await;
    let recovered = ok(&shop, &path).await;
    assert_eq!(
        totals(&recovered),
        totals_of("0.00", "480.00", "0.00", "0.00")
    );
    assert_eq!(recovered["openDebts"], json!([]));
}

/// On one gateway, another account's recipient is a 404 like an unknown or malformed id; its
/// listing is its own (empty).
async fn other_accounts_and_unknown_ids_are_not_found(backend: Backend) {
    let owner = Shop::open(backend).await;
    owner.paid(&marketplace("RC-OWNER")).await;
    let theirs = ids(&items(&ok(&owner, "/api/recipients").await));
    assert_eq!(theirs.len(), 3);

    let (_, other) = owner.gw.merchant("Outra Loja").await;
    let listing = owner.gw.get("/api/recipients", &other).await;
    assert_eq!(listing.status, 200, "{:?}", listing.body_json());
    assert_eq!(
        listing.body_json(),
        json!({"items": [], "nextCursor": null})
    );
    let unknown = format!("rc_{}", "f".repeat(32));
    for id in [
        theirs[0].as_str(),
        unknown.as_str(),
        "rc_x",
        "RC_0123456789ABCDEF0123456789ABCDEF",
        "po_0123456789abcdef0123456789abcdef",
    ] {
        let path = format!("/api/recipients/{id}");
        let body = assert_error(
            &owner.gw.get(&path, &other).await,
            404,
            "RECIPIENT_NOT_FOUND",
            &path,
        );
        assert_eq!(body["message"], "Recipient not found", "{body}");
    }
    // The owner still sees it.
    ok(&owner, &format!("/api/recipients/{}", theirs[0])).await;
}

/// Bad queries are 400 `PUB_VALIDATION_ERROR` listing every problem, in query order.
async fn bad_queries_list_every_error(backend: Backend) {
    let shop = Shop::open(backend).await;
    shop.paid(&marketplace("RC-ERRORS")).await;
    for (query, errors) in [
        (
            "limit=0&cursor=nope&status=PAID",
            vec![
                "query parameter status is not supported",
                "limit must be an integer between 1 and 100",
                "cursor is invalid (use nextCursor from a previous page)",
            ],
        ),
        (
            "limit=abc&cursor=po_0123456789abcdef0123456789abcdef",
            vec![
                "limit must be an integer between 1 and 100",
                "cursor is invalid (use nextCursor from a previous page)",
            ],
        ),
        (
            "limit=101",
            vec!["limit must be an integer between 1 and 100"],
        ),
        (
            "cursor=rc_0&cursor=rc_1",
            vec!["query parameter cursor must appear at most once"],
        ),
    ] {
        let response = get(&shop, &format!("/api/recipients?{query}")).await;
        let body = assert_error(&response, 400, "PUB_VALIDATION_ERROR", "/api/recipients");
        assert_eq!(body["message"], "Invalid query parameters", "{body}");
        assert_eq!(body["details"]["errors"], json!(errors), "{query}: {body}");
    }
}

on_both_backends!(
    marketplace_recipients_show_their_shares,
    pages_walk_every_recipient_once,
    a_proportional_refund_of_a_paid_split_shows_as_debt,
    other_accounts_and_unknown_ids_are_not_found,
    bad_queries_list_every_error,
);
