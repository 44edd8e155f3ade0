//! `GET /api/payouts`, `GET /api/payouts/{payoutId}` and `POST /api/sandbox/payouts/run`
//! end to end, through the router every host uses, on both backends (embedded + in-process
//! queues, DynamoDB Local + SQS on moto): charges paid through the sandbox, their splits booked
//! and paid out by the pipeline, the payouts listed, filtered, paged and opened.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;
use http::Method;
use pixgw_api::{ApiRequest, ApiResponse, AppState, dispatch};
use pixgw_tests::bodies::{
    SAME_RECIPIENT_KEY, immediate_split, marketplace, rejected_immediate_split,
    same_recipient_splits,
};
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

async fn pay(gw: &Gateway, token: &str, id: &str) {
    let response = gw
        .post(
            &format!("/api/sandbox/cash-in/{id}/pay"),
            token,
            &json!({}),
            None,
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
}

/// A paid charge whose splits the pipeline has booked (and, for immediate ones, paid out).
async fn paid_charge(gw: &Gateway, token: &str, body: &Value) -> String {
    let id = create(gw, token, body).await;
    pay(gw, token, &id).await;
    gw.run_pipeline().await;
    id
}

async fn run(gw: &Gateway, token: &str) -> Value {
    let response = gw
        .post("/api/sandbox/payouts/run", token, &json!({}), None)
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    response.body_json()
}

async fn ok(gw: &Gateway, path_and_query: &str, token: &str) -> Value {
    let response = gw.get(path_and_query, token).await;
    assert_eq!(
        response.status,
        200,
        "{path_and_query}: {:?}",
        response.body_json()
    );
    response.body_json()
}

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().cloned().unwrap_or_default()
}

fn ids(payouts: &[Value]) -> Vec<String> {
    payouts
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect()
}

/// A money value as written (`140.00`) in cents.
fn cents(v: &Value) -> i64 {
    let text = v.to_string();
    let (units, decimals) = text.split_once('.').expect("two decimals");
    assert_eq!(decimals.len(), 2, "{text}");
    units.parse::<i64>().expect("units") * 100 + decimals.parse::<i64>().expect("cents")
}

/// Every page of a listing, following `nextCursor`.
async fn walk(gw: &Gateway, token: &str, query: &str) -> (Vec<Value>, usize) {
    let mut all = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/payouts?{query}&cursor={c}"),
            None => format!("/api/payouts?{query}"),
        };
        let page = ok(gw, &path, token).await;
        pages += 1;
        all.extend(items(&page));
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (all, pages),
        }
        assert!(pages < 50, "the listing never ends");
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

/// The seed's marketplace example twice: the sandbox run pays ONE payout per recipient whose
/// amount is the sum of that recipient's splits, every split PAID with its payout's `E…` id,
/// Σ payouts = Σ splits; another account is untouched; a second run finds nothing.
async fn sandbox_run_pays_one_payout_per_recipient(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (_, token) = gw.merchant("Marketplace Ltda").await;
    let (_, other) = gw.merchant("Outra Loja").await;
    let first = paid_charge(&gw, &token, &marketplace("MKT-1")).await;
    let second = paid_charge(&gw, &token, &marketplace("MKT-2")).await;
    let untouched = paid_charge(&gw, &other, &marketplace("MKT-OTHER")).await;
    assert_eq!(
        ok(&gw, "/api/account/balance", &token).await["reservedForSplits"].to_string(),
        "380.00"
    );
    assert!(items(&ok(&gw, "/api/payouts", &token).await).is_empty());

    let report = run(&gw, &token).await;
    assert_eq!(report["accounts"], 1, "{report}");
    assert_eq!(report["payouts"], 3, "{report}");
    assert_eq!(report["splits"], 6, "{report}");
    assert_eq!(report["amount"].to_string(), "380.00");

    // Released to the executor, not transferred yet.
    let processing = items(&ok(&gw, "/api/payouts", &token).await);
    assert_eq!(processing.len(), 3);
    assert!(processing.iter().all(|p| p["status"] == "PROCESSING"));
    gw.run_pipeline().await;

    let paid = items(&ok(&gw, "/api/payouts?status=PAID", &token).await);
    assert_eq!(paid.len(), 3);
    let by_key = |key: &str| {
        paid.iter()
            .find(|p| p["recipient"]["pixKey"] == key)
            .unwrap_or_else(|| panic!("payout to {key}: {paid:?}"))
            .clone()
    };
    let seller = by_key("vendedor@email.com");
    let platform = by_key("11222333000181");
    let courier = by_key("+5511999887766");
    assert_eq!(seller["amount"].to_string(), "280.00");
    assert_eq!(platform["amount"].to_string(), "80.00");
    assert_eq!(courier["amount"].to_string(), "20.00");
    assert_eq!(
        seller["recipient"],
        json!({"name": "Loja do João", "pixKey": "vendedor@email.com", "pixKeyType": "EMAIL", "document": "11222333000181"})
    );
    for payout in &paid {
        assert_eq!(payout["trigger"], "SCHEDULED");
        assert_eq!(payout["splitCount"], 2);
        assert!(
            payout["endToEndId"]
                .as_str()
                .is_some_and(|e| e.starts_with('E')),
            "{payout}"
        );
        assert!(payout.get("failureReason").is_none());
    }
    let total: i64 = paid.iter().map(|p| cents(&p["amount"])).sum();
    assert_eq!(total, 38_000);

    // Each split is PAID with its recipient's payout and that payout's end-to-end id.
    let mut split_total = 0;
    for charge in [&first, &second] {
        let view = ok(&gw, &format!("/api/pix/cash-in/{charge}"), &token).await;
        for split in view["splits"].as_array().expect("splits") {
            let payout = by_key(split["pixKey"].as_str().expect("pixKey"));
            assert_eq!(split["status"], "PAID", "{split}");
            assert_eq!(split["payoutId"], payout["id"], "{split}");
            assert_eq!(split["endToEndId"], payout["endToEndId"], "{split}");
            split_total += cents(&split["amount"]);
        }
    }
    assert_eq!(split_total, total);
    assert_eq!(gw.sandbox.transfers().len(), 3);
    let balance = ok(&gw, "/api/account/balance", &token).await;
    assert_eq!(balance["reservedForSplits"].to_string(), "0.00");
    assert_eq!(balance["available"].to_string(), "20.00");

    // The other account's splits wait for its own window; it sees none of these payouts.
    let theirs = ok(&gw, &format!("/api/pix/cash-in/{untouched}"), &other).await;
    assert!(
        theirs["splits"]
            .as_array()
            .expect("splits")
            .iter()
            .all(|s| s["status"] == "SCHEDULED")
    );
    assert!(items(&ok(&gw, "/api/payouts", &other).await).is_empty());
    for payout in &paid {
        let path = format!("/api/payouts/{}", payout["id"].as_str().expect("id"));
        let response = gw.get(&path, &other).await;
        assert_error(&response, 404, "PAYOUT_NOT_FOUND", &path);
    }

    // Nothing is left: a second run pays nothing.
    let again = run(&gw, &token).await;
    assert_eq!(again["payouts"], 0, "{again}");
    assert_eq!(again["splits"], 0, "{again}");
    assert_eq!(again["amount"].to_string(), "0.00");

    // With X-Idempotency-Key a retry replays the first answer instead of running again.
    let key = uuid::Uuid::new_v4().to_string();
    gw.clock.advance(Duration::seconds(1));
    paid_charge(&gw, &token, &marketplace("MKT-3")).await;
    let once = gw
        .post("/api/sandbox/payouts/run", &token, &json!({}), Some(&key))
        .await;
    assert_eq!(once.status, 200);
    assert_eq!(once.body_json()["payouts"], 3);
    let replay = gw
        .post("/api/sandbox/payouts/run", &token, &json!({}), Some(&key))
        .await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.body_json(), once.body_json());
    assert_eq!(
        replay
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
}

/// Immediate (paid and failed) and scheduled payouts, listed newest first, filtered by status
/// and by `[from, to)`, and paged by cursor without gaps or repeats.
async fn listing_filters_and_pages(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (_, token) = gw.merchant("Consultoria").await;
    paid_charge(&gw, &token, &immediate_split("IMM-1")).await;
    gw.clock.advance(Duration::minutes(1));
    paid_charge(&gw, &token, &rejected_immediate_split("IMM-REJ")).await;
    gw.clock.advance(Duration::minutes(1));
    paid_charge(&gw, &token, &marketplace("MKT-1")).await;
    assert_eq!(run(&gw, &token).await["payouts"], 3);
    gw.run_pipeline().await;

    let all = items(&ok(&gw, "/api/payouts", &token).await);
    assert_eq!(all.len(), 5, "{all:?}");
    let created: Vec<&str> = all
        .iter()
        .map(|p| p["createdAt"].as_str().expect("createdAt"))
        .collect();
    assert!(
        created.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {created:?}"
    );
    assert_eq!(ids(&all).into_iter().collect::<BTreeSet<_>>().len(), 5);
    let immediate = &all[4];
    let failed = &all[3];
    assert_eq!(immediate["trigger"], "IMMEDIATE");
    assert_eq!(immediate["status"], "PAID");
    assert_eq!(immediate["amount"].to_string(), "280.00");
    assert_eq!(immediate["splitCount"], 1);
    assert_eq!(failed["trigger"], "IMMEDIATE");
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failed["amount"].to_string(), "25.50");
    assert!(failed["failureReason"].is_string(), "{failed}");
    assert!(failed.get("endToEndId").is_none(), "{failed}");

    let statuses = |query: &'static str| {
        let gw = &gw;
        let token = &token;
        async move { items(&ok(gw, &format!("/api/payouts?{query}"), token).await) }
    };
    assert_eq!(statuses("status=PAID").await.len(), 4);
    assert_eq!(ids(&statuses("status=FAILED").await), ids(&all[3..4]));
    assert!(statuses("status=PROCESSING").await.is_empty());

    // [from, to): from the failed payout (inclusive) to the scheduled ones (exclusive).
    let from = failed["createdAt"].as_str().expect("from");
    let to = all[0]["createdAt"].as_str().expect("to");
    let window = items(&ok(&gw, &format!("/api/payouts?from={from}&to={to}"), &token).await);
    assert_eq!(ids(&window), ids(&all[3..4]));
    let since = items(&ok(&gw, &format!("/api/payouts?from={to}"), &token).await);
    assert_eq!(ids(&since), ids(&all[0..3]));
    // An offset other than Z (form-encoded `+`) means the same instant.
    let before = items(&ok(&gw, &format!("/api/payouts?to={}", offset(from)), &token).await);
    assert_eq!(ids(&before), ids(&all[4..5]));

    // Pages of 2 walk the same list, each payout once.
    let (walked, pages) = walk(&gw, &token, "limit=2").await;
    assert_eq!(ids(&walked), ids(&all));
    assert!(pages >= 3, "{pages} pages");
    let (paid, _) = walk(&gw, &token, "status=PAID&limit=3").await;
    assert_eq!(paid.len(), 4);
    assert!(paid.iter().all(|p| p["status"] == "PAID"));
}

/// `2024-01-15T10:30:00.000Z` as `2024-01-15T07:30:00.000-03:00`.
fn offset(z: &str) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(z).expect("instant");
    let brt = chrono::FixedOffset::west_opt(3 * 3600).expect("offset");
    t.with_timezone(&brt)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

/// A scheduled payout of 110 splits (11 charges × 10 splits to one recipient): its manifest
/// comes in pages of at most 100, each split once, Σ = the payout's amount. An immediate
/// payout shows its one split.
async fn manifest_pages_of_a_big_payout(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (_, token) = gw.merchant("Atacado").await;
    let mut charges = BTreeSet::new();
    for n in 0..11 {
        let body = same_recipient_splits(&format!("LOTE-{n}"), 10);
        charges.insert(create(&gw, &token, &body).await);
    }
    for id in &charges {
        pay(&gw, &token, id).await;
    }
    gw.run_pipeline().await;
    let report = run(&gw, &token).await;
    assert_eq!(report["payouts"], 1, "{report}");
    assert_eq!(report["splits"], 110, "{report}");
    // Each charge: 1.00 + 1.01 + … + 1.09 = 10.45.
    assert_eq!(report["amount"].to_string(), "114.95");

    let listed = items(&ok(&gw, "/api/payouts", &token).await);
    assert_eq!(listed.len(), 1);
    let id = listed[0]["id"].as_str().expect("id").to_owned();
    let path = format!("/api/payouts/{id}");

    let first = ok(&gw, &path, &token).await;
    assert_eq!(first["id"], id.as_str());
    assert_eq!(first["status"], "PROCESSING");
    assert_eq!(first["splitCount"], 110);
    assert_eq!(first["recipient"]["pixKey"], SAME_RECIPIENT_KEY);
    let page = first["splits"].as_array().expect("splits");
    assert_eq!(page.len(), 100);
    assert!(page.iter().all(|s| s["status"] == "PROCESSING"));
    assert!(first["nextSplitsCursor"].is_string(), "a next page");

    gw.run_pipeline().await;
    let mut seen = BTreeSet::new();
    let mut total = 0;
    let mut detail = ok(&gw, &path, &token).await;
    assert_eq!(detail["status"], "PAID");
    let e2e = detail["endToEndId"].clone();
    assert!(e2e.as_str().is_some_and(|e| e.starts_with('E')));
    let mut pages = 0;
    loop {
        pages += 1;
        let splits = detail["splits"].as_array().expect("splits");
        assert!(splits.len() <= 100);
        for split in splits {
            let key = (
                split["transactionId"].as_str().expect("tx").to_owned(),
                split["index"].as_u64().expect("index"),
            );
            assert!(charges.contains(&key.0), "{split}");
            assert!(seen.insert(key), "listed twice: {split}");
            assert_eq!(split["status"], "PAID", "{split}");
            assert_eq!(split["endToEndId"], e2e, "{split}");
            assert_eq!(split["attempts"], 0, "{split}");
            assert!(split.get("payoutId").is_none(), "{split}");
            total += cents(&split["amount"]);
        }
        let Some(next) = detail["nextSplitsCursor"].as_str().map(str::to_owned) else {
            break;
        };
        detail = ok(&gw, &format!("{path}?splitsCursor={next}"), &token).await;
        assert!(pages < 10);
    }
    assert_eq!(seen.len(), 110);
    assert_eq!(total, 11_495);
    assert_eq!(total, cents(&detail["amount"]));

    // The first page's cursor still works after the payout settled.
    let second = ok(
        &gw,
        &format!(
            "{path}?splitsCursor={}",
            first["nextSplitsCursor"].as_str().expect("cursor")
        ),
        &token,
    )
    .await;
    assert_eq!(second["splits"].as_array().map(Vec::len), Some(10));

    // An immediate payout: its one split, inline.
    gw.clock.advance(Duration::seconds(1));
    let imm = paid_charge(&gw, &token, &immediate_split("IMM-1")).await;
    let immediate = items(&ok(&gw, "/api/payouts?limit=1", &token).await);
    let imm_path = format!("/api/payouts/{}", immediate[0]["id"].as_str().expect("id"));
    let detail = ok(&gw, &imm_path, &token).await;
    assert_eq!(detail["trigger"], "IMMEDIATE");
    assert_eq!(
        detail["splits"],
        json!([{"transactionId": imm, "index": 0, "amount": detail["amount"], "status": "PAID", "endToEndId": detail["endToEndId"], "attempts": 0}])
    );
    assert_eq!(detail["nextSplitsCursor"], Value::Null);
}

/// Every bad query parameter listed at once; 404 `PAYOUT_NOT_FOUND` for unknown, malformed and
/// other accounts' ids; tokens; methods; the sandbox run's body; a gateway without sandbox.
async fn errors_are_envelopes(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (_, token) = gw.merchant("Loja").await;

    let path = "/api/payouts";
    let response = gw
        .get(
            "/api/payouts?status=DONE&from=yesterday&to=2024-01-01T00:00:00Z&limit=0&limit=5&cursor=zzz&page=2",
            &token,
        )
        .await;
    let body = assert_error(&response, 400, "PUB_VALIDATION_ERROR", path);
    assert_eq!(body["message"], "Invalid query parameters");
    assert_eq!(
        body["details"]["errors"],
        json!([
            "query parameter page is not supported",
            "query parameter limit must appear at most once",
            "status must be one of the following values: PROCESSING, PAID, FAILED",
            "from must be an ISO 8601 date-time with offset (e.g. 2024-01-15T10:30:00.000Z)",
            "cursor is invalid (use nextCursor from a previous page)"
        ])
    );
    let response = gw
        .get(
            "/api/payouts?status=ASSEMBLING&from=2024-01-02T00:00:00Z&to=2024-01-01T00:00:00Z&limit=101",
            &token,
        )
        .await;
    let body = assert_error(&response, 400, "PUB_VALIDATION_ERROR", path);
    assert_eq!(
        body["details"]["errors"],
        json!([
            "status must be one of the following values: PROCESSING, PAID, FAILED",
            "from must be before to",
            "limit must be an integer between 1 and 100"
        ])
    );
    // A charge listing's cursor is not a payout cursor.
    paid_charge(&gw, &token, &immediate_split("IMM-1")).await;
    let charges = ok(&gw, "/api/pix/cash-in?limit=1", &token).await;
    let page = ok(&gw, "/api/payouts?limit=1", &token).await;
    assert_eq!(items(&page).len(), 1);
    if let Some(charge_cursor) = charges["nextCursor"].as_str() {
        let response = gw
            .get(&format!("/api/payouts?cursor={charge_cursor}"), &token)
            .await;
        assert_error(&response, 400, "PUB_VALIDATION_ERROR", path);
    }

    // 404 for unknown, malformed and other accounts' ids, all alike.
    let payout_id = items(&page)[0]["id"].as_str().expect("id").to_owned();
    let (_, stranger) = gw.merchant("Estranha").await;
    for (id, who) in [
        ("po_0123456789abcdef0123456789abcdef", &token),
        ("not-a-payout", &token),
        ("PO_0123456789ABCDEF0123456789ABCDEF", &token),
        (payout_id.as_str(), &stranger),
    ] {
        let path = format!("/api/payouts/{id}");
        let response = gw.get(&path, who).await;
        let body = assert_error(&response, 404, "PAYOUT_NOT_FOUND", &path);
        assert_eq!(body["message"], "Payout not found");
        assert_eq!(body["method"], "GET");
    }
    let own = format!("/api/payouts/{payout_id}");
    let response = gw
        .get(&format!("{own}?splitsCursor=%%%&limit=3"), &token)
        .await;
    let body = assert_error(&response, 400, "PUB_VALIDATION_ERROR", &own);
    assert_eq!(
        body["details"]["errors"],
        json!([
            "query parameter limit is not supported",
            "splitsCursor is invalid (use nextSplitsCursor from a previous page)"
        ])
    );

    // Tokens.
    for path in ["/api/payouts", own.as_str()] {
        let response = gw.call(ApiRequest::new(Method::GET, path)).await;
        assert_error(&response, 401, "PUB_UNAUTHORIZED", path);
        let response = gw.get(path, "not-a-token").await;
        assert_error(&response, 401, "PUB_INVALID_TOKEN", path);
    }
    let run_path = "/api/sandbox/payouts/run";
    let response = gw.call(ApiRequest::new(Method::POST, run_path)).await;
    assert_error(&response, 401, "PUB_UNAUTHORIZED", run_path);

    // Methods.
    let response = gw.post("/api/payouts", &token, &json!({}), None).await;
    assert_error(&response, 405, "PUB_METHOD_NOT_ALLOWED", "/api/payouts");
    let response = gw.get(run_path, &token).await;
    assert_error(&response, 405, "PUB_METHOD_NOT_ALLOWED", run_path);

    // The run takes no body: none, or {}.
    let bearer = format!("Bearer {token}");
    let raw = |body: &'static str| {
        let mut request = ApiRequest::new(Method::POST, run_path)
            .with_header("authorization", &bearer)
            .with_header("content-type", "application/json");
        request.body = bytes::Bytes::from_static(body.as_bytes());
        request
    };
    let response = gw.call(raw("")).await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    let response = gw.call(raw(r#"{"accountId": "x", "all": true}"#)).await;
    let body = assert_error(&response, 400, "PUB_VALIDATION_ERROR", run_path);
    let mut errors: Vec<String> =
        serde_json::from_value(body["details"]["errors"].clone()).expect("errors");
    errors.sort();
    assert_eq!(
        errors,
        [
            "property accountId should not exist",
            "property all should not exist"
        ]
    );
    let response = gw.call(raw("[]")).await;
    let body = assert_error(&response, 400, "PUB_VALIDATION_ERROR", run_path);
    assert_eq!(
        body["details"]["errors"],
        json!(["body must be a JSON object"])
    );
    let response = gw.call(raw("{")).await;
    assert_error(&response, 400, "PUB_MALFORMED_JSON", run_path);
    let response = gw
        .call(raw("{}").with_header("x-idempotency-key", "nope"))
        .await;
    assert_error(&response, 400, "PUB_INVALID_IDEMPOTENCY_KEY", run_path);

    // Without the sandbox (production) the run route does not exist; the payouts do.
    let production = AppState::new(
        gw.state.store.clone(),
        Arc::clone(&gw.state.provider),
        gw.state.clock.clone(),
        gw.state.keys.clone(),
        None,
    );
    let response = dispatch(&production, raw("{}")).await;
    assert_error(&response, 404, "PUB_ROUTE_NOT_FOUND", run_path);
    let listed = dispatch(
        &production,
        ApiRequest::new(Method::GET, "/api/payouts").with_header("authorization", &bearer),
    )
    .await;
    assert_eq!(listed.status, 200);
}

on_both_backends!(
    sandbox_run_pays_one_payout_per_recipient,
    listing_filters_and_pages,
    manifest_pages_of_a_big_payout,
    errors_are_envelopes,
);
