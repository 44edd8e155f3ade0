//! The shop on the real adapters and mock PSPs, and what the scenarios check with.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use http::Method;
use pixgw_api::{ApiRequest, ApiResponse};
use pixgw_domain::pix::clock::Clock;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::provider::PixProvider;
use pixgw_domain::provider::directory::{FailoverPolicy, ProviderDirectory};
use pixgw_tests::harness::Backend;
use pixgw_tests::mock_psps::{
    CP_CRYPTO_TOKEN, CP_JWT, CP_WEBHOOK_TOKEN, ConnectPspMock, PF_HOOK_VALUE, PagFastMock,
    connectpsp_webhook, pagfast_webhook,
};
use pixgw_tests::money_lifecycle::Shop;
use serde_json::Value;
use sha2::{Digest, Sha256};
use wiremock::Request;
/// Adapter attempts per call (retries included).
pub const ATTEMPTS: u32 = 3;

pub struct Rig {
    pub shop: Shop,
    pub cp: ConnectPspMock,
    pub pf: PagFastMock,
    pub directory: Arc<ProviderDirectory>,
}

/// A shop on the real adapters, `default_order` being the deployment's order and
/// `account_order` (when not empty) the account's own list.
pub async fn rig(backend: Backend, default_order: &[&str], account_order: &[&str]) -> Rig {
    rig_with(backend, default_order, account_order, ATTEMPTS).await
}

pub async fn rig_with(
    backend: Backend,
    default_order: &[&str],
    account_order: &[&str],
    attempts: u32,
) -> Rig {
    let cp = ConnectPspMock::start().await;
    let pf = PagFastMock::start().await;
    let mut shop = Shop::open(backend).await;
    // The directory runs on the gateway's manual clock, so the cool-down is moved, not waited.
    let clock: Arc<dyn Clock> = shop.gw.clock.clone();
    let providers: Vec<Arc<dyn PixProvider>> = default_order
        .iter()
        .map(|name| -> Arc<dyn PixProvider> {
            match *name {
                "connectpsp" => cp.provider(attempts, clock.clone()),
                "pagfast" => pf.provider(attempts),
                // The gateway's own sandbox network, which the shop pays charges through.
                "sandbox" => Arc::new(shop.gw.sandbox.clone()),
                other => panic!("no mock for {other}"),
            }
        })
        .collect();
    let directory = Arc::new(
        ProviderDirectory::new(providers, FailoverPolicy::default(), clock).expect("directory"),
    );
    shop.swap_providers(directory.clone());
    if !account_order.is_empty() {
        let names: Vec<String> = account_order.iter().map(|s| s.to_string()).collect();
        shop.gw
            .state
            .store
            .set_account_providers(&shop.account, &names)
            .await
            .expect("set the account's providers");
    }
    Rig {
        shop,
        cp,
        pf,
        directory,
    }
}

pub fn cents(c: i64) -> Money {
    Money::from_cents(c)
}

pub fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

pub fn json_of(request: &Request) -> Value {
    serde_json::from_slice(&request.body).expect("JSON body")
}

/// What seeds 000–002 say `DigitalSignature` is: hex HMAC-SHA256 of the JWT sent, keyed with
/// the crypto token (computed here independently of the adapter).
pub fn expected_signature() -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(CP_CRYPTO_TOKEN.as_bytes()).expect("key");
    mac.update(CP_JWT.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The UUID v4-format `X-Idempotency-Key` derived from our stable key.
pub fn expected_idempotency_key(key: &str) -> String {
    let digest = Sha256::digest(format!("connectpsp:{key}").as_bytes());
    let bytes: [u8; 16] = digest[..16].try_into().expect("16 bytes");
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

pub fn assert_envelope(response: &ApiResponse, status: u16, code: &str) -> Value {
    let body = response.body_json();
    assert_eq!(response.status.as_u16(), status, "{body}");
    assert_eq!(body["statusCode"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    body
}

impl Rig {
    pub async fn post_charge(&self, body: &Value, key: Option<&str>) -> ApiResponse {
        let token = self.shop.token().await;
        self.shop
            .gw
            .post("/api/pix/cash-in", &token, body, key)
            .await
    }

    pub async fn listed_charges(&self) -> usize {
        let token = self.shop.token().await;
        let response = self.shop.gw.get("/api/pix/cash-in", &token).await;
        assert_eq!(response.status, 200, "{:?}", response.body_json());
        response.body_json()["items"]
            .as_array()
            .expect("items")
            .len()
    }

    pub async fn provider_of(&self, id: &TransactionId) -> String {
        self.shop.charge(id).await.provider
    }

    pub async fn cp_cash_ins(&self) -> Vec<Request> {
        self.cp.requests("POST", "/cash-in").await
    }

    /// A signed money-moving API call (bearer + the merchant's `DigitalSignature`).
    pub async fn signed_post(&self, path: &str, body: &Value) -> ApiResponse {
        let token = self.shop.token().await;
        let signature =
            pixgw_api::auth::digital_signature(&self.shop.credentials.crypto_token, &token);
        let request = ApiRequest::new(Method::POST, path)
            .with_json(body)
            .with_header("authorization", &format!("Bearer {token}"))
            .with_header("digitalsignature", &signature);
        self.shop.gw.call(request).await
    }

    pub async fn cp_deliver(&self, body: &Value) -> ApiResponse {
        self.shop
            .gw
            .call(connectpsp_webhook(CP_WEBHOOK_TOKEN, body))
            .await
    }

    /// PagFast tells us the charge was paid (its custom header, the right value).
    pub async fn pf_pay(&self, id: &TransactionId) {
        let body = self.pf.paid_body(id.as_str(), self.shop.now());
        let response = self
            .shop
            .gw
            .call(pagfast_webhook(Some(PF_HOOK_VALUE), &body))
            .await;
        assert_eq!(response.status, 200, "{:?}", response.body_json());
        assert_eq!(response.body_json()["outcome"], "CONFIRMED");
    }
}

pub fn seconds(at: DateTime<Utc>) -> i64 {
    at.timestamp()
}
