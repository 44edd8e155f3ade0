//! The cash-in API end to end, through the same router every host uses, on both backends.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;

use base64::Engine;
use chrono::Duration;
use http::Method;
use pixgw_api::ApiRequest;
use pixgw_domain::pix::brcode;
use pixgw_domain::pix::clock::Clock;
use pixgw_tests::bodies::{immediate_split, marketplace};
use pixgw_tests::harness::{Backend, Gateway};
use pixgw_tests::on_both_backends;
use serde_json::{Value, json};

fn minimal(external_id: &str) -> Value {
    json!({
        "transaction": {"value": 49.90, "description": "Assinatura mensal - Plano Básico", "externalId": external_id},
        "payer": {"fullName": "Maria Silva", "document": "12345678909"}
    })
}

fn most_common(external_id: &str) -> Value {
    json!({
        "transaction": {"value": 189.90, "description": "Pedido #8842 - Loja Virtual", "externalId": external_id, "expirationTime": 3600, "generateQrCode": true},
        "payer": {"fullName": "Carlos Oliveira", "document": "11222333000181"},
        "additionalInfo": {"orderId": "8842", "storeName": "Tech Solutions", "customerEmail": "carlos@email.com"}
    })
}

fn b2b(external_id: &str) -> Value {
    json!({
        "transaction": {"value": 15750.00, "description": "NF 2024/0042 - Consultoria em TI", "externalId": external_id, "expirationTime": 604800, "generateQrCode": true},
        "payer": {"fullName": "Empresa ABC Ltda", "document": "12ABC34501DE35"},
        "additionalInfo": {"nfNumber": "2024/0042", "contractId": "CTR-789"}
    })
}

fn decode_qr(data_url: &str) -> String {
    let b64 = data_url
        .strip_prefix("data:image/png;base64,")
        .expect("PNG data URL");
    let png = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    let image = image::load_from_memory(&png).expect("PNG").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("QR decodes").1
}

async fn seed_examples_create_fetch_and_list(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (_, token) = gw.merchant("Tech Solutions Ltda").await;
    let examples = [
        minimal("SUB-2024-001"),
        most_common("ORD-8842-20240115"),
        b2b("NF-2024-0042"),
        marketplace("MKT-12345"),
        immediate_split("SVC-ALPHA-001"),
    ];
    let mut ids = Vec::new();
    for body in &examples {
        let response = gw.post("/api/pix/cash-in", &token, body, None).await;
        assert_eq!(response.status, 201, "{}", response.body_json());
        let charge = response.body_json();
        assert_eq!(charge["status"], "PENDING");
        assert_eq!(charge["externalId"], body["transaction"]["externalId"]);
        assert_eq!(
            charge["value"].to_string(),
            format!("{:.2}", body["transaction"]["value"].as_f64().unwrap())
        );
        assert!(uuid::Uuid::parse_str(charge["correlationId"].as_str().unwrap()).is_ok());

        // expirationDate = generateTime + expirationTime (default 24 h).
        let generated =
            chrono::DateTime::parse_from_rfc3339(charge["generateTime"].as_str().unwrap()).unwrap();
        let expires =
            chrono::DateTime::parse_from_rfc3339(charge["expirationDate"].as_str().unwrap())
                .unwrap();
        let expected_seconds = body["transaction"]["expirationTime"]
            .as_i64()
            .unwrap_or(86_400);
        assert_eq!((expires - generated).num_seconds(), expected_seconds);
        assert!(charge["generateTime"].as_str().unwrap().ends_with('Z'));

        // The PIX code is a valid dynamic BR Code pointing at our location endpoint.
        let pix_code = charge["pixCode"].as_str().unwrap();
        let parsed = brcode::parse(pix_code).expect("our parser accepts it");
        assert_eq!(parsed.gui(), Some("br.gov.bcb.pix"));
        let txid = charge["transactionId"].as_str().unwrap();
        assert_eq!(
            parsed.location().map(str::to_owned),
            Some(format!("127.0.0.1:3000/pix/loc/{txid}"))
        );
        assert_eq!(parsed.merchant_name(), Some("TECH SOLUTIONS LTDA"));
        // An independent parser (the `brcode` crate) reads the same code and agrees on the CRC.
        let theirs = ::brcode::str_to_brcode(pix_code);
        assert!(theirs.is_pix());
        assert_eq!(theirs.merchant_city, "SAO PAULO");
        assert_eq!(
            ::brcode::crc16_ccitt(&pix_code[..pix_code.len() - 4]),
            pix_code[pix_code.len() - 4..]
        );

        // QR only when asked, and it decodes to exactly the PIX code.
        match body["transaction"]["generateQrCode"].as_bool() {
            Some(true) => assert_eq!(decode_qr(charge["qrCodeImage"].as_str().unwrap()), pix_code),
            _ => assert!(charge.get("qrCodeImage").is_none()),
        }

        // GET returns the same charge.
        let fetched = gw.get(&format!("/api/pix/cash-in/{txid}"), &token).await;
        assert_eq!(fetched.status, 200);
        assert_eq!(fetched.body_json(), charge);
        ids.push(txid.to_owned());
    }

    // The marketplace splits echo their computed shares.
    let mkt = gw
        .get(&format!("/api/pix/cash-in/{}", ids[3]), &token)
        .await
        .body_json();
    let amounts: Vec<String> = mkt["splits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["amount"].to_string())
        .collect();
    assert_eq!(amounts, ["140.00", "40.00", "10.00"]);
    assert_eq!(mkt["splits"][0]["status"], "PENDING");
    assert_eq!(mkt["splits"][2]["type"], "FIXED");

    // List: newest first, all five.
    let list = gw
        .get("/api/pix/cash-in?limit=100", &token)
        .await
        .body_json();
    let listed: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["transactionId"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.reverse();
    assert_eq!(listed.len(), 5);
    assert_eq!(
        listed.iter().collect::<HashSet<_>>(),
        expected.iter().collect::<HashSet<_>>()
    );
    assert!(list["nextCursor"].is_null());

    // By externalId.
    let by_ext = gw
        .get("/api/pix/cash-in?externalId=MKT-12345", &token)
        .await
        .body_json();
    assert_eq!(by_ext["items"].as_array().unwrap().len(), 1);
    assert_eq!(by_ext["items"][0]["transactionId"], ids[3].as_str());

    // The sandbox location serves the payload a payer's bank reads.
    let loc = gw
        .call(ApiRequest::new(Method::GET, format!("/pix/loc/{}", ids[1])))
        .await;
    assert_eq!(loc.status, 200);
    let payload = loc.body_json();
    assert_eq!(payload["txid"], ids[1].as_str());
    assert_eq!(payload["valor"]["original"], "189.90");
    assert_eq!(payload["calendario"]["expiracao"], 3600);
    assert_eq!(payload["status"], "ATIVA");
}

async fn listing_pages_and_filters(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (_, token) = gw.merchant("Pager").await;
    let start = gw.clock.now();
    let mut created = Vec::new();
    for i in 0..25 {
        gw.clock.advance(Duration::seconds(1));
        let response = gw
            .post(
                "/api/pix/cash-in",
                &token,
                &minimal(&format!("PAGE-{i}")),
                None,
            )
            .await;
        assert_eq!(response.status, 201);
        created.push(
            response.body_json()["transactionId"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    created.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/pix/cash-in?limit=10&cursor={c}"),
            None => "/api/pix/cash-in?limit=10".to_owned(),
        };
        let page = gw.get(&path, &token).await.body_json();
        for item in page["items"].as_array().unwrap() {
            seen.push(item["transactionId"].as_str().unwrap().to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, created, "pages walk every charge once, newest first");

    // [from, to) on generateTime, exact to the millisecond.
    let from = (start + Duration::seconds(5)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let to = (start + Duration::seconds(10)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let window = gw
        .get(
            &format!("/api/pix/cash-in?from={from}&to={to}&limit=100"),
            &token,
        )
        .await
        .body_json();
    assert_eq!(window["items"].as_array().unwrap().len(), 5, "{window}");

    let pending = gw
        .get("/api/pix/cash-in?status=PENDING&limit=100", &token)
        .await
        .body_json();
    assert_eq!(pending["items"].as_array().unwrap().len(), 25);
    let confirmed = gw
        .get("/api/pix/cash-in?status=CONFIRMED", &token)
        .await
        .body_json();
    assert_eq!(confirmed["items"].as_array().unwrap().len(), 0);

    // Bad query parameters: every problem listed.
    let bad = gw
        .get(
            "/api/pix/cash-in?status=PAID&limit=0&from=yesterday&cursor=zzz&foo=1",
            &token,
        )
        .await;
    assert_eq!(bad.status, 400);
    let body = bad.body_json();
    assert_eq!(body["code"], "PUB_VALIDATION_ERROR");
    assert_eq!(
        body["details"]["errors"].as_array().unwrap().len(),
        5,
        "{body}"
    );
}

async fn accounts_are_isolated(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (_, alice) = gw.merchant("Alice").await;
    let (_, bob) = gw.merchant("Bob").await;
    let created = gw
        .post("/api/pix/cash-in", &alice, &minimal("SAME-EXT"), None)
        .await
        .body_json();
    let id = created["transactionId"].as_str().unwrap();

    let stolen = gw.get(&format!("/api/pix/cash-in/{id}"), &bob).await;
    assert_eq!(stolen.status, 404);
    assert_eq!(stolen.body_json()["code"], "PUB_NOT_FOUND");
    let unknown = gw
        .get(&format!("/api/pix/cash-in/{}", "0".repeat(32)), &alice)
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body_json()["code"], stolen.body_json()["code"]);
    assert_eq!(gw.get("/api/pix/cash-in/7845", &alice).await.status, 404);

    // Bob sees nothing of Alice's, even with her externalId or her cursor.
    let list = gw
        .get("/api/pix/cash-in?externalId=SAME-EXT", &bob)
        .await
        .body_json();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let all = gw.get("/api/pix/cash-in", &bob).await.body_json();
    assert_eq!(all["items"].as_array().unwrap().len(), 0);
    // The same externalId is free for another account.
    assert_eq!(
        gw.post("/api/pix/cash-in", &bob, &minimal("SAME-EXT"), None)
            .await
            .status,
        201
    );
    assert_eq!(
        gw.post("/api/pix/cash-in", &alice, &minimal("SAME-EXT"), None)
            .await
            .status,
        409
    );
}

async fn duplicate_external_id_is_409_and_changes_nothing(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (_, token) = gw.merchant("Dup").await;
    let first = gw
        .post("/api/pix/cash-in", &token, &minimal("ORDER-1"), None)
        .await;
    assert_eq!(first.status, 201);
    let mut other = minimal("ORDER-1");
    other["transaction"]["value"] = json!(10);
    let second = gw.post("/api/pix/cash-in", &token, &other, None).await;
    assert_eq!(second.status, 409);
    assert_eq!(second.body_json()["code"], "DUPLICATE_EXTERNAL_ID");
    let id = first.body_json()["transactionId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        gw.get(&format!("/api/pix/cash-in/{id}"), &token)
            .await
            .body_json(),
        first.body_json()
    );
    let list = gw.get("/api/pix/cash-in", &token).await.body_json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

async fn idempotency_replays_rejects_and_frees(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (credentials, token) = gw.merchant("Idem").await;
    let key = uuid::Uuid::new_v4().to_string();
    let first = gw
        .post(
            "/api/pix/cash-in",
            &token,
            &most_common("IDEM-1"),
            Some(&key),
        )
        .await;
    assert_eq!(first.status, 201);
    assert!(first.headers.get("idempotent-replayed").is_none());

    // Same key + same body (even with keys in another order) → the original, marked replayed.
    let replay = gw
        .post(
            "/api/pix/cash-in",
            &token,
            &most_common("IDEM-1"),
            Some(&key),
        )
        .await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.body, first.body);
    assert_eq!(replay.headers.get("idempotent-replayed").unwrap(), "true");

    // Same key + different body → 422.
    let reused = gw
        .post(
            "/api/pix/cash-in",
            &token,
            &most_common("IDEM-2"),
            Some(&key),
        )
        .await;
    assert_eq!(reused.status, 422);
    assert_eq!(reused.body_json()["code"], "IDEMPOTENCY_KEY_REUSED");

    // A failed request (duplicate externalId) does not burn its key.
    let key2 = uuid::Uuid::new_v4().to_string();
    let dup = gw
        .post(
            "/api/pix/cash-in",
            &token,
            &most_common("IDEM-1"),
            Some(&key2),
        )
        .await;
    assert_eq!(dup.status, 409);
    let fixed = gw
        .post(
            "/api/pix/cash-in",
            &token,
            &most_common("IDEM-1"),
            Some(&key2),
        )
        .await;
    assert_eq!(fixed.status, 409, "same request, same answer");
    assert_eq!(fixed.body_json()["code"], "DUPLICATE_EXTERNAL_ID");

    // Keys are per account: Bob may use Alice's key for his own request.
    let (_, bob) = gw.merchant("Bob").await;
    assert_eq!(
        gw.post("/api/pix/cash-in", &bob, &most_common("BOB-1"), Some(&key))
            .await
            .status,
        201
    );

    // Keys live 24 h: afterwards the same key is a new request.
    gw.clock.advance(Duration::hours(25));
    let token = gw.token_for(&credentials).await;
    let later = gw
        .post(
            "/api/pix/cash-in",
            &token,
            &most_common("IDEM-3"),
            Some(&key),
        )
        .await;
    assert_eq!(later.status, 201, "{}", later.body_json());

    // A key that is not a UUID is a 400.
    let bad = gw
        .post(
            "/api/pix/cash-in",
            &token,
            &minimal("X"),
            Some("not-a-uuid"),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body_json()["code"], "PUB_INVALID_IDEMPOTENCY_KEY");
}

async fn fifty_concurrent_identical_requests_create_one_charge(backend: Backend) {
    let gw = std::sync::Arc::new(Gateway::start(backend).await);
    let (_, token) = gw.merchant("Concurrent").await;
    let key = uuid::Uuid::new_v4().to_string();
    let body = marketplace("CONC-1");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (gw, token, key, body) = (gw.clone(), token.clone(), key.clone(), body.clone());
            tokio::spawn(
                async move { gw.post("/api/pix/cash-in", &token, &body, Some(&key)).await },
            )
        })
        .collect();
    let responses: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let created: Vec<_> = responses.iter().filter(|r| r.status == 201).collect();
    assert!(!created.is_empty());
    for response in &responses {
        match response.status.as_u16() {
            201 => assert_eq!(
                response.body, created[0].body,
                "every 201 is the same charge"
            ),
            409 => assert_eq!(response.body_json()["code"], "IDEMPOTENCY_KEY_IN_USE"),
            other => panic!("unexpected {other}: {}", response.body_json()),
        }
    }
    let list = gw
        .get("/api/pix/cash-in?limit=100", &token)
        .await
        .body_json();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "exactly one charge exists"
    );
}

async fn fifty_concurrent_keys_one_external_id(backend: Backend) {
    let gw = std::sync::Arc::new(Gateway::start(backend).await);
    let (_, token) = gw.merchant("Racer").await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (gw, token) = (gw.clone(), token.clone());
            tokio::spawn(async move {
                let key = uuid::Uuid::new_v4().to_string();
                gw.post("/api/pix/cash-in", &token, &minimal("RACE-EXT"), Some(&key))
                    .await
            })
        })
        .collect();
    let responses: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let created = responses.iter().filter(|r| r.status == 201).count();
    let duplicates = responses
        .iter()
        .filter(|r| r.status == 409 && r.body_json()["code"] == "DUPLICATE_EXTERNAL_ID")
        .count();
    assert_eq!((created, duplicates), (1, 49));
    let list = gw
        .get("/api/pix/cash-in?limit=100", &token)
        .await
        .body_json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

on_both_backends!(
    seed_examples_create_fetch_and_list,
    listing_pages_and_filters,
    accounts_are_isolated,
    duplicate_external_id_is_409_and_changes_nothing,
    idempotency_replays_rejects_and_frees,
    fifty_concurrent_identical_requests_create_one_charge,
    fifty_concurrent_keys_one_external_id,
);
