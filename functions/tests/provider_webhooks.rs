//! Real PSP webhooks through the Lambda glue: an API Gateway HTTP API (v2) event for
//! `POST /webhooks/provider/{provider}` goes through `pixgw_functions::handle` to the real
//! adapters, talking to wiremock PSPs on 127.0.0.1.
//!
//! ConnectPSP does not sign its webhooks: the token in the URL we registered is all it
//! presents, so it must survive the event → `ApiRequest` conversion (`rawQueryString`,
//! percent-decoded). PagFast presents the custom header we registered.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{body_json, event};

/// A POST event: every call in this file is one.
fn post(raw_path: &str, raw_query: &str, headers: Value, body: &str) -> lambda_http::Request {
    event("POST", raw_path, raw_query, headers, Some(body))
}

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pixgw_api::accounts::create_account;
use pixgw_api::auth::AuthKeys;
use pixgw_api::{AppState, Route};
use pixgw_domain::charge::ChargeStatus;
use pixgw_domain::pix::clock::{Clock, SystemClock};
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::provider::PixProvider;
use pixgw_domain::provider::directory::{FailoverPolicy, ProviderDirectory};
use pixgw_providers::connectpsp::{ConnectPspConfig, ConnectPspProvider};
use pixgw_providers::http::RetryPolicy;
use pixgw_providers::pagfast::{CASHIN_PATH, PagFastConfig, PagFastProvider};
use pixgw_providers::secret::Secret;
use pixgw_store_embedded::EmbeddedStore;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// Characters that must be percent-encoded in a query, to prove decoding happens once.
const CP_TOKEN: &str = "whk/0123+abc=";
const CP_TOKEN_IN_QUERY: &str = "token=whk%2F0123%2Babc%3D";
const PF_HEADER: &str = "X-PagFast-Token";
const PF_VALUE: &str = "pf-hook-secret";
const CP_CODE: &str = "US7B1JQ";
const E2E: &str = "E00416968202603101827cemeFscF6AG";

fn retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(10),
    }
}

struct World {
    state: AppState,
    account: AccountId,
    token: String,
    connectpsp: MockServer,
    pagfast: MockServer,
    /// Our transaction id, as ConnectPSP received it (`externalReference`).
    cp_reference: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

/// ConnectPSP: a token, a cash-in that echoes our reference, and a read-back saying PAID.
async fn connectpsp(reference: Arc<Mutex<String>>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"accessToken": "jwt-1"})))
        .mount(&server)
        .await;
    let created = reference.clone();
    Mock::given(method("POST"))
        .and(path("/cash-in"))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
            let ours = body["externalReference"].as_str().unwrap_or("").to_owned();
            *created.lock().unwrap() = ours.clone();
            ResponseTemplate::new(201).set_body_json(json!({
                "transactionId": "kk6g232xel65a0daee4dd13kk2912714964", "internalCode": CP_CODE,
                "externalReference": ours, "status": "AWAITING_PAYMENT", "amount": body["amount"],
                "pixData": {"copyAndPaste": "00020101021226connectpsp"}
            }))
        })
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/cash-in/{CP_CODE}")))
        .respond_with(move |_: &Request| {
            ResponseTemplate::new(200).set_body_json(json!({
                "transactionId": "kk6g232xel65a0daee4dd13kk2912714964", "internalCode": CP_CODE,
                "externalReference": *reference.lock().unwrap(), "status": "PAID",
                "amount": 10.00, "endToEndId": E2E,
                "payer": {"name": "Test User", "document": "12345678909",
                          "bankData": {"ispb": "00000000", "branch": "0001", "account": "123456"}},
                "paidAt": "2026-03-10T11:22:15-03:00"
            }))
        })
        .mount(&server)
        .await;
    server
}

async fn pagfast() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CASHIN_PATH))
        .respond_with(|req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
            ResponseTemplate::new(201).set_body_json(json!({"statusCode": "Done", "data": {
                "transaction": {"id": "625a913f-ac58-499a-8f91-4917aa8fedda",
                    "orderId": body["transaction"]["orderId"], "state": "Registered",
                    "amount": body["payment"]["value"]["original"]},
                "payment": {"qrCode": "00020101pagfast"}}}))
        })
        .mount(&server)
        .await;
    server
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("dir");
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("store"));
    let keys = AuthKeys::new(vec![3u8; 48], [4u8; 32]).expect("keys");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let cp_reference = Arc::new(Mutex::new(String::new()));
    let cp_server = connectpsp(cp_reference.clone()).await;
    let pf_server = pagfast().await;
    let cp = ConnectPspProvider::new(ConnectPspConfig {
        base_url: cp_server.uri(),
        client_id: "client".into(),
        client_secret: Secret::new("secret"),
        application_token: Secret::new("5f0c6a57-3a0e-4c1e-9d55-0c7d0b7f1a11"),
        crypto_token: Secret::new("crypto"),
        webhook_url: "https://gw.example.com/webhooks/provider/connectpsp".into(),
        webhook_token: Secret::new(CP_TOKEN),
        timeout: Duration::from_millis(500),
        retry: retry(),
    })
    .expect("connectpsp");
    let pf = PagFastProvider::new(PagFastConfig {
        base_url: pf_server.uri(),
        api_token: Secret::new("pf-token"),
        webhook_url: "https://gw.example.com/webhooks/provider/pagfast".into(),
        webhook_header_name: PF_HEADER.into(),
        webhook_header_value: Secret::new(PF_VALUE),
        timeout: Duration::from_millis(500),
        retry: retry(),
    })
    .expect("pagfast");
    let providers: Vec<Arc<dyn PixProvider>> = vec![Arc::new(cp), Arc::new(pf)];
    let directory = ProviderDirectory::new(providers, FailoverPolicy::default(), clock.clone())
        .expect("directory");
    let state = AppState::with_providers(store, Arc::new(directory), clock, keys, None);
    let account = create_account(
        &state.store,
        &state.keys,
        "Loja Exemplo Ltda",
        "RECIFE",
        SystemClock.now(),
    )
    .await
    .expect("account");
    let body = json!({"clientId": account.client_id, "clientSecret": account.client_secret});
    let response = pixgw_functions::handle(
        &state,
        Route::AuthToken,
        post(
            "/api/auth/token",
            "",
            json!({"content-type": "application/json"}),
            &body.to_string(),
        ),
    )
    .await;
    let token = body_json(&response)["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    World {
        state,
        account: AccountId::parse(&account.account_id).expect("account id"),
        token,
        connectpsp: cp_server,
        pagfast: pf_server,
        cp_reference,
        _dir: dir,
    }
}

impl World {
    async fn create_charge(&self, cents_value: f64) -> TransactionId {
        let body = json!({
            "transaction": {"value": cents_value, "description": "Pedido", "externalId": format!("EXT-{cents_value}")},
            "payer": {"fullName": "João Pereira", "document": "12345678909"}
        });
        let headers = json!({
            "content-type": "application/json",
            "authorization": format!("Bearer {}", self.token),
        });
        let response = pixgw_functions::handle(
            &self.state,
            Route::CashInCreate,
            post("/api/pix/cash-in", "", headers, &body.to_string()),
        )
        .await;
        let body = body_json(&response);
        assert_eq!(response.status(), 201, "{body}");
        TransactionId::parse(body["transactionId"].as_str().expect("id")).expect("id")
    }

    async fn webhook(
        &self,
        provider: &str,
        query: &str,
        headers: Value,
        body: &Value,
    ) -> (u16, Value) {
        let response = pixgw_functions::handle(
            &self.state,
            Route::ProviderWebhook,
            post(
                &format!("/webhooks/provider/{provider}"),
                query,
                headers,
                &body.to_string(),
            ),
        )
        .await;
        (response.status().as_u16(), body_json(&response))
    }

    async fn status_of(&self, id: &TransactionId) -> ChargeStatus {
        self.state
            .store
            .get_charge(id)
            .await
            .expect("get charge")
            .expect("charge")
            .status
    }

    async fn read_backs(&self) -> usize {
        self.connectpsp
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.method.as_str() == "GET")
            .count()
    }
}

#[test]
fn the_query_token_survives_the_event_conversion() {
    let request = pixgw_functions::to_api_request(post(
        "/webhooks/provider/connectpsp",
        CP_TOKEN_IN_QUERY,
        json!({}),
        "{}",
    ));
    assert_eq!(request.path, "/webhooks/provider/connectpsp");
    assert_eq!(
        request.query,
        vec![("token".to_owned(), CP_TOKEN.to_owned())]
    );
}

#[tokio::test]
async fn a_connectpsp_webhook_is_authenticated_by_its_url_token() {
    let w = world().await;
    let id = w.create_charge(10.0).await;
    assert_eq!(*w.cp_reference.lock().unwrap(), id.as_str());
    let delivery = json!({"eventType": "CASHIN_PAID", "eventAt": "2026-03-10T11:22:18Z",
        "data": {"internalCode": CP_CODE, "externalReference": id.as_str(), "status": "PAID"}});
    let headers = json!({"content-type": "application/json"});

    for query in ["", "token=wrong", "token=whk/0123+abc="] {
        let (status, body) = w
            .webhook("connectpsp", query, headers.clone(), &delivery)
            .await;
        assert_eq!(status, 401, "{query}: {body}");
        assert_eq!(body["code"], "PROVIDER_WEBHOOK_UNAUTHENTICATED", "{body}");
    }
    assert_eq!(
        w.read_backs().await,
        0,
        "nothing is read back for an unauthenticated call"
    );
    assert_eq!(w.status_of(&id).await, ChargeStatus::Pending);

    let (status, body) = w
        .webhook("connectpsp", CP_TOKEN_IN_QUERY, headers, &delivery)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "CONFIRMED");
    assert_eq!(w.read_backs().await, 1);
    assert_eq!(w.status_of(&id).await, ChargeStatus::Confirmed);
}

#[tokio::test]
async fn a_pagfast_webhook_is_authenticated_by_its_custom_header() {
    let w = world().await;
    w.state
        .store
        .set_account_providers(&w.account, &["pagfast".to_owned()])
        .await
        .expect("providers");
    let id = w.create_charge(50.0).await;
    assert_eq!(
        w.pagfast
            .received_requests()
            .await
            .unwrap_or_default()
            .len(),
        1
    );
    let delivery = json!({"statusCode": "Done", "data": {
        "transaction": {"id": "625a913f-ac58-499a-8f91-4917aa8fedda", "orderId": id.as_str(),
                        "state": "Paid", "amount": "50.00"},
        "payment": {"endToEndId": E2E, "paidAt": "2026-03-10T14:01:00Z", "value": "50.00",
                    "payer": {"name": "CHRISTINE IGNACIO", "cpf": "13600642650",
                              "ispb": "00000000", "branch": "0001", "account": "998877"}}}});

    for headers in [
        json!({"content-type": "application/json"}),
        json!({"content-type": "application/json", "x-pagfast-token": "wrong"}),
    ] {
        let (status, body) = w.webhook("pagfast", "", headers, &delivery).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["code"], "PROVIDER_WEBHOOK_UNAUTHENTICATED", "{body}");
    }
    assert_eq!(w.status_of(&id).await, ChargeStatus::Pending);

    let headers = json!({"content-type": "application/json", "x-pagfast-token": PF_VALUE});
    let (status, body) = w.webhook("pagfast", "", headers, &delivery).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "CONFIRMED");
    assert_eq!(w.status_of(&id).await, ChargeStatus::Confirmed);
}
