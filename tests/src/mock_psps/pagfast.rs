//! The PagFast stand-in: `POST /accounts/pix/cashin` answered with seed 003's payloads, and
//! the `Paid` deliveries it would send.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use http::Method;
use pixgw_api::ApiRequest;
use pixgw_providers::pagfast::PagFastConfig;
use pixgw_providers::pagfast::{CASHIN_PATH, PagFastProvider};
use pixgw_providers::secret::Secret;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{
    Fault, PF_CREATED, PF_HOOK_HEADER, PF_HOOK_VALUE, PF_TOKEN, TIMEOUT, body_of, end_to_end,
    fast_retry, header, locked, reply, with_fault,
};

#[derive(Default)]
struct PfState {
    next: u32,
    fault: Option<Fault>,
    /// orderId (our transaction id) → (PagFast's id, amount as sent).
    charges: BTreeMap<String, (String, String)>,
}

pub struct PagFastMock {
    pub server: MockServer,
    state: Arc<Mutex<PfState>>,
}

impl PagFastMock {
    pub async fn start() -> PagFastMock {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(PfState::default()));
        Mock::given(any())
            .respond_with(PfRouter(state.clone()))
            .mount(&server)
            .await;
        PagFastMock { server, state }
    }

    pub fn config(&self, attempts: u32) -> PagFastConfig {
        PagFastConfig {
            base_url: self.server.uri(),
            api_token: Secret::new(PF_TOKEN),
            webhook_url: "https://gw.example.com/webhooks/provider/pagfast".into(),
            webhook_header_name: PF_HOOK_HEADER.into(),
            webhook_header_value: Secret::new(PF_HOOK_VALUE),
            timeout: TIMEOUT,
            retry: fast_retry(attempts),
        }
    }

    pub fn provider(&self, attempts: u32) -> Arc<PagFastProvider> {
        Arc::new(PagFastProvider::new(self.config(attempts)).expect("pagfast"))
    }

    /// Every later cash-in gets this answer (`Fault::None`: the normal one).
    pub fn answer(&self, fault: Fault) {
        locked(&self.state).fault = Some(fault);
    }

    /// The cash-in requests received.
    pub async fn cash_ins(&self) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == CASHIN_PATH)
            .collect()
    }

    /// PagFast's `Paid` delivery for our transaction id (the Done envelope, module doc of
    /// the adapter).
    pub fn paid_body(&self, transaction_id: &str, at: DateTime<Utc>) -> Value {
        let mut state = locked(&self.state);
        state.next += 1;
        let e2e = end_to_end('E', 5000 + state.next);
        let (id, amount) = state
            .charges
            .get(transaction_id)
            .cloned()
            .unwrap_or_else(|| (format!("pf-unknown-{}", state.next), "1.00".into()));
        let value = format!(
            "{:.2}",
            amount.parse::<rust_decimal::Decimal>().unwrap_or_default()
        );
        json!({"statusCode": "Done", "data": {
            "transaction": {"id": id, "orderId": transaction_id, "date": "2026-03-10T14:00:00Z",
                            "state": "Paid", "amount": amount},
            "payment": {"qrCode": "pf-qr", "endToEndId": e2e, "paidAt": at.to_rfc3339(),
                        "value": value,
                        "payer": {"name": "CHRISTINE IGNACIO", "cpf": "13600642650",
                                  "ispb": "00000000", "branch": "0001", "account": "998877"}}}})
    }
}

struct PfRouter(Arc<Mutex<PfState>>);

impl Respond for PfRouter {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if request.method.as_str() != "POST" || request.url.path() != CASHIN_PATH {
            return reply(404, json!({"statusCode": "Error"}));
        }
        if header(request, "authorization") != Some(&format!("Bearer {PF_TOKEN}")) {
            return reply(
                401,
                json!({"statusCode": "Error", "error": {"name": "AuthenticationError"}}),
            );
        }
        let body = body_of(request);
        let mut state = locked(&self.0);
        if let Some(Fault::Status(status, body)) = &state.fault {
            return reply(*status, body.clone());
        }
        state.next += 1;
        let order_id = body["transaction"]["orderId"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let amount = body["payment"]["value"]["original"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let id = format!("625a913f-ac58-499a-8f91-{:012}", state.next);
        let mut created: Value = serde_json::from_str(PF_CREATED).expect("seed fixture");
        created["data"]["transaction"]["id"] = json!(id);
        created["data"]["transaction"]["orderId"] = json!(order_id);
        created["data"]["transaction"]["amount"] = json!(amount);
        created["data"]["payment"]["qrCode"] = json!(format!("00020101pagfast{id}"));
        state.charges.insert(order_id, (id, amount));
        with_fault(state.fault.clone(), reply(201, created))
    }
}

/// PagFast's delivery of `body` to our inbound route, with its custom header when given.
pub fn pagfast_webhook(header_value: Option<&str>, body: &Value) -> ApiRequest {
    let mut request = ApiRequest::new(Method::POST, "/webhooks/provider/pagfast");
    if let Some(value) = header_value {
        request = request.with_header("x-pagfast-token", value);
    }
    request.body = body.to_string().into();
    request
}
