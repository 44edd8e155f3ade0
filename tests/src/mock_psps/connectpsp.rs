//! The ConnectPSP stand-in: its token endpoint, cash-ins it remembers (for the read-back),
//! refunds and cash-outs, and the deliveries it would send.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use http::Method;
use pixgw_api::ApiRequest;
use pixgw_domain::pix::clock::Clock;
use pixgw_providers::connectpsp::{ConnectPspConfig, ConnectPspProvider};
use pixgw_providers::secret::Secret;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{
    CP_APP_TOKEN, CP_CLIENT_ID, CP_CLIENT_SECRET, CP_CRYPTO_TOKEN, CP_JWT, CP_WEBHOOK_TOKEN, Fault,
    TIMEOUT, body_of, end_to_end, fast_retry, header, locked, reply, with_fault,
};

/// One cash-in as ConnectPSP holds it.
#[derive(Debug, Clone)]
pub struct CpCharge {
    pub transaction_id: String,
    pub internal_code: String,
    pub external_reference: String,
    pub amount: Value,
    pub status: &'static str,
    pub end_to_end_id: Option<String>,
    pub original_end_to_end_id: Option<String>,
    pub refund_end_to_end_id: Option<String>,
    pub paid_at: Option<String>,
    pub refunded_at: Option<String>,
}

#[derive(Default)]
struct CpState {
    next: u32,
    charges: BTreeMap<String, CpCharge>,
    /// externalReference → ConnectPSP's cash-out transaction id.
    cash_outs: BTreeMap<String, String>,
    cash_in_fault: Option<Fault>,
    read_back_fault: Option<Fault>,
}

pub struct ConnectPspMock {
    pub server: MockServer,
    state: Arc<Mutex<CpState>>,
}

impl ConnectPspMock {
    pub async fn start() -> ConnectPspMock {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(CpState::default()));
        Mock::given(any())
            .respond_with(CpRouter(state.clone()))
            .mount(&server)
            .await;
        ConnectPspMock { server, state }
    }

    pub fn config(&self, attempts: u32) -> ConnectPspConfig {
        ConnectPspConfig {
            base_url: self.server.uri(),
            client_id: CP_CLIENT_ID.into(),
            client_secret: Secret::new(CP_CLIENT_SECRET),
            application_token: Secret::new(CP_APP_TOKEN),
            crypto_token: Secret::new(CP_CRYPTO_TOKEN),
            webhook_url: "https://gw.example.com/webhooks/provider/connectpsp".into(),
            webhook_token: Secret::new(CP_WEBHOOK_TOKEN),
            timeout: TIMEOUT,
            retry: fast_retry(attempts),
        }
    }

    pub fn provider(&self, attempts: u32, clock: Arc<dyn Clock>) -> Arc<ConnectPspProvider> {
        Arc::new(ConnectPspProvider::with_clock(self.config(attempts), clock).expect("connectpsp"))
    }

    pub fn fail_cash_in(&self, fault: Fault) {
        locked(&self.state).cash_in_fault = Some(fault);
    }

    pub fn fail_read_back(&self, fault: Fault) {
        locked(&self.state).read_back_fault = Some(fault);
    }

    pub fn heal(&self) {
        let mut state = locked(&self.state);
        state.cash_in_fault = None;
        state.read_back_fault = None;
    }

    /// The cash-in ConnectPSP created for our transaction id.
    pub fn charge_for(&self, transaction_id: &str) -> CpCharge {
        locked(&self.state)
            .charges
            .values()
            .find(|c| c.external_reference == transaction_id)
            .cloned()
            .unwrap_or_else(|| panic!("ConnectPSP holds no cash-in for {transaction_id}"))
    }

    /// The payer pays at `at`: ConnectPSP's GET now says PAID; returns the CASHIN_PAID
    /// delivery body.
    pub fn pay(&self, internal_code: &str, at: DateTime<Utc>) -> Value {
        let mut state = locked(&self.state);
        state.next += 1;
        let e2e = end_to_end('E', state.next);
        let charge = state.charges.get_mut(internal_code).expect("known cash-in");
        charge.status = "PAID";
        charge.end_to_end_id = Some(e2e);
        charge.paid_at = Some(at.to_rfc3339());
        json!({"eventType": "CASHIN_PAID", "eventAt": "2026-03-10T11:22:18Z",
               "data": cp_status(charge)})
    }

    /// The devolution settles: the GET now says REFUNDED with the `D…` id; returns the
    /// CASHIN_REFUNDED delivery body.
    pub fn settle_refund(&self, internal_code: &str, at: DateTime<Utc>) -> Value {
        let mut state = locked(&self.state);
        let charge = state.charges.get_mut(internal_code).expect("known cash-in");
        charge.status = "REFUNDED";
        charge.refunded_at = Some(at.to_rfc3339());
        charge.original_end_to_end_id = charge.end_to_end_id.take();
        charge.end_to_end_id = charge.refund_end_to_end_id.clone();
        json!({"eventType": "CASHIN_REFUNDED", "eventAt": "2026-03-10T13:40:00Z",
               "data": cp_status(charge)})
    }

    /// ConnectPSP reports a devolution we never asked it for, of the cash-in it holds for our
    /// `transaction_id` (one it kept from a create that failed over elsewhere, say): the GET
    /// now says REFUNDED with a `D…` id; returns the CASHIN_REFUNDED delivery body.
    pub fn refund_unasked(&self, transaction_id: &str, at: DateTime<Utc>) -> Value {
        let code = self.charge_for(transaction_id).internal_code;
        {
            let mut state = locked(&self.state);
            state.next += 1;
            let devolution = end_to_end('D', state.next);
            let charge = state.charges.get_mut(&code).expect("known cash-in");
            charge.refund_end_to_end_id = Some(devolution);
        }
        self.settle_refund(&code, at)
    }

    /// The CASHOUT_PAID delivery body for the cash-out we sent with `external_reference`.
    pub fn cash_out_paid(&self, external_reference: &str, at: DateTime<Utc>) -> Value {
        let mut state = locked(&self.state);
        state.next += 1;
        let e2e = end_to_end('E', state.next);
        let id = state
            .cash_outs
            .get(external_reference)
            .cloned()
            .unwrap_or_else(|| panic!("ConnectPSP got no cash-out {external_reference}"));
        json!({"eventType": "CASHOUT_PAID", "eventAt": "2026-03-10T12:00:00Z",
               "data": {"transactionId": id, "externalReference": external_reference,
                        "endToEndId": e2e, "status": "PAID", "paidAt": at.to_rfc3339()}})
    }

    /// Every request received for `method path`.
    pub async fn requests(&self, method: &str, path: &str) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.method.as_str() == method && r.url.path() == path)
            .collect()
    }
}

fn cp_status(c: &CpCharge) -> Value {
    let mut v = json!({
        "transactionId": c.transaction_id, "internalCode": c.internal_code,
        "externalReference": c.external_reference, "status": c.status, "amount": c.amount,
        "payer": {"name": "João Pereira", "document": "12345678909",
                  "bankData": {"ispb": "60746948", "bank": "Banco Bradesco S.A.",
                               "branch": "0001", "account": "123456"}},
        "requestedAt": "2026-03-10T11:20:00-03:00",
    });
    for (field, value) in [
        ("endToEndId", &c.end_to_end_id),
        ("originalEndToEndId", &c.original_end_to_end_id),
        ("paidAt", &c.paid_at),
        ("refundedAt", &c.refunded_at),
    ] {
        if let Some(value) = value {
            v[field] = json!(value);
        }
    }
    v
}

struct CpRouter(Arc<Mutex<CpState>>);

impl Respond for CpRouter {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path().to_owned();
        let post = request.method.as_str() == "POST";
        if post && path == "/auth/token" {
            let body = body_of(request);
            if body["clientId"] != CP_CLIENT_ID || body["clientSecret"] != CP_CLIENT_SECRET {
                return reply(401, json!({"code": "INVALID_CLIENT"}));
            }
            return reply(200, json!({"accessToken": CP_JWT, "expiresIn": 3600}));
        }
        if header(request, "Authorization") != Some(&format!("Bearer {CP_JWT}")) {
            return reply(401, json!({"code": "UNAUTHORIZED"}));
        }
        if header(request, "ApplicationToken") != Some(CP_APP_TOKEN)
            || (post && header(request, "X-Idempotency-Key").is_none())
        {
            return reply(400, json!({"code": "MOCK_HEADERS_MISSING"}));
        }
        let mut state = locked(&self.0);
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (post, segments.as_slice()) {
            (true, ["cash-in"]) => {
                let body = body_of(request);
                state.next += 1;
                let n = state.next;
                let charge = CpCharge {
                    transaction_id: format!("cptx{n:031}"),
                    internal_code: format!("CP{n:05}"),
                    external_reference: body["externalReference"].as_str().unwrap_or("").into(),
                    amount: body["amount"].clone(),
                    status: "AWAITING_PAYMENT",
                    end_to_end_id: None,
                    original_end_to_end_id: None,
                    refund_end_to_end_id: None,
                    paid_at: None,
                    refunded_at: None,
                };
                let mut created = cp_status(&charge);
                created["pixData"] = json!({
                    "copyAndPaste": format!("00020101021226connectpsp{}", charge.internal_code),
                    "qrCodeImageBase64": "iVBORw0KGgo="
                });
                state.charges.insert(charge.internal_code.clone(), charge);
                with_fault(state.cash_in_fault.clone(), reply(201, created))
            }
            (false, ["cash-in", code]) => {
                let found = state.charges.get(*code).map(cp_status);
                let ok = match found {
                    Some(status) => reply(200, status),
                    None => reply(404, json!({"code": "CASH_IN_NOT_FOUND"})),
                };
                with_fault(state.read_back_fault.clone(), ok)
            }
            (true, ["cash-in", code, "refund"])
                if header(request, "DigitalSignature").is_some() =>
            {
                state.next += 1;
                let d = end_to_end('D', state.next);
                let Some(charge) = state.charges.get_mut(*code) else {
                    return reply(404, json!({"code": "CASH_IN_NOT_FOUND"}));
                };
                charge.refund_end_to_end_id = Some(d.clone());
                reply(
                    202,
                    json!({
                        "transactionId": format!("cprf{}", charge.internal_code),
                        "internalCode": charge.internal_code,
                        "externalReference": charge.external_reference, "endToEndId": d,
                        "status": "PROCESSING", "amount": charge.amount,
                        "message": "The refund has been successfully initiated."
                    }),
                )
            }
            (true, ["cash-out"]) if header(request, "DigitalSignature").is_some() => {
                let body = body_of(request);
                state.next += 1;
                let id = format!("cpco{}", state.next);
                let reference = body["externalReference"].as_str().unwrap_or("").to_owned();
                state.cash_outs.insert(reference.clone(), id.clone());
                reply(
                    202,
                    json!({"transactionId": id, "externalReference": reference,
                                  "status": "PROCESSING"}),
                )
            }
            _ => reply(400, json!({"code": "MOCK_UNKNOWN_CALL", "message": path})),
        }
    }
}

/// ConnectPSP's delivery of `body` to our inbound route, with `?token=`.
pub fn connectpsp_webhook(token: &str, body: &Value) -> ApiRequest {
    let mut request = ApiRequest::from_uri(
        Method::POST,
        &format!("/webhooks/provider/connectpsp?token={token}"),
    );
    request.body = body.to_string().into();
    request
}
