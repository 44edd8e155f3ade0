//! `GET/PUT /api/account/refund-policy` end to end, through the router every host uses, on both
//! backends: the default (`MERCHANT`), changes signed with `DigitalSignature`, validation,
//! isolation between accounts, idempotent retries, and the policy applied to a refund that
//! does not name its `liability`.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hmac::{Hmac, Mac};
use http::Method;
use pixgw_api::accounts::NewAccountCredentials;
use pixgw_api::{ApiRequest, ApiResponse};
use pixgw_tests::harness::{Backend, Gateway};
use pixgw_tests::on_both_backends;
use serde_json::{Value, json};

const PATH: &str = "/api/account/refund-policy";

/// `hex(HMAC-SHA256(key = cryptoToken, message = bearer token))`, as a client computes it.
fn sign(credentials: &NewAccountCredentials, token: &str) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(credentials.crypto_token.as_bytes())
        .expect("any key length");
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn request(
    method: Method,
    path: &str,
    token: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> ApiRequest {
    let mut request = ApiRequest::new(method, path).with_header("content-type", "application/json");
    request.body = bytes::Bytes::copy_from_slice(body);
    if let Some(token) = token {
        request = request.with_header("authorization", &format!("Bearer {token}"));
    }
    if let Some(signature) = signature {
        request = request.with_header("digitalsignature", signature);
    }
    request
}

/// A signed `method path` with a JSON body, as this account sends it.
async fn signed(
    gw: &Gateway,
    credentials: &NewAccountCredentials,
    token: &str,
    (method, path): (Method, &str),
    body: &Value,
    idempotency_key: Option<&str>,
) -> ApiResponse {
    let signature = sign(credentials, token);
    let mut request = request(
        method,
        path,
        Some(token),
        Some(&signature),
        body.to_string().as_bytes(),
    );
    if let Some(key) = idempotency_key {
        request = request.with_header("x-idempotency-key", key);
    }
    gw.call(request).await
}

async fn put_policy(
    gw: &Gateway,
    credentials: &NewAccountCredentials,
    token: &str,
    body: &Value,
    idempotency_key: Option<&str>,
) -> ApiResponse {
    signed(
        gw,
        credentials,
        token,
        (Method::PUT, PATH),
        body,
        idempotency_key,
    )
    .await
}

async fn get_policy(gw: &Gateway, token: &str) -> Value {
    let response = gw.get(PATH, token).await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    response.body_json()
}

fn assert_error(response: &ApiResponse, status: u16, code: &str) {
    let body = response.body_json();
    assert_eq!(response.status, status, "{body}");
    assert_eq!(body["statusCode"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["path"], PATH);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(body["userMessage"].as_str().is_some_and(|m| !m.is_empty()));
}

fn merchant_pays() -> Value {
    json!({"liability": "MERCHANT"})
}

fn proportional() -> Value {
    json!({"liability": "PROPORTIONAL"})
}

async fn a_new_account_has_the_merchant_pay(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (_, token) = gw.merchant("Padaria Central").await;
    assert_eq!(get_policy(&gw, &token).await, merchant_pays());

    // A GET needs the bearer token, but no signature.
    let anonymous = gw.call(ApiRequest::new(Method::GET, PATH)).await;
    assert_error(&anonymous, 401, "PUB_UNAUTHORIZED");
}

async fn a_signed_change_applies_to_its_account_only(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (credentials, token) = gw.merchant("Marketplace Sul").await;
    let (_, other_token) = gw.merchant("Outra Loja").await;

    let response = put_policy(&gw, &credentials, &token, &proportional(), None).await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    assert_eq!(response.body_json(), proportional());
    assert_eq!(get_policy(&gw, &token).await, proportional());
    assert_eq!(get_policy(&gw, &other_token).await, merchant_pays());

    // Hex is case-insensitive; and back to the default.
    let upper = sign(&credentials, &token).to_uppercase();
    let back = merchant_pays().to_string();
    let response = gw
        .call(request(
            Method::PUT,
            PATH,
            Some(&token),
            Some(&upper),
            back.as_bytes(),
        ))
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    assert_eq!(get_policy(&gw, &token).await, merchant_pays());
}

async fn an_unsigned_or_wrongly_signed_change_changes_nothing(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (credentials, token) = gw.merchant("Loja Assinada").await;
    let (other, other_token) = gw.merchant("Outra Loja").await;
    let body = proportional().to_string();
    let body = body.as_bytes();

    let missing = gw
        .call(request(Method::PUT, PATH, Some(&token), None, body))
        .await;
    assert_error(&missing, 401, "PUB_SIGNATURE_REQUIRED");
    let wrong = [
        // Another account's cryptoToken over this token.
        sign(&other, &token),
        // This account's cryptoToken over another token (the signature is per token).
        sign(&credentials, &other_token),
        "zz".repeat(32),
    ];
    for signature in &wrong {
        let response = gw
            .call(request(
                Method::PUT,
                PATH,
                Some(&token),
                Some(signature),
                body,
            ))
            .await;
        assert_error(&response, 401, "PUB_INVALID_SIGNATURE");
    }
    // The bearer token is checked first: a valid signature does not replace it.
    let signature = sign(&credentials, &token);
    let no_token = gw
        .call(request(Method::PUT, PATH, None, Some(&signature), body))
        .await;
    assert_error(&no_token, 401, "PUB_UNAUTHORIZED");

    assert_eq!(get_policy(&gw, &token).await, merchant_pays());
    assert_eq!(get_policy(&gw, &other_token).await, merchant_pays());
}

async fn bad_bodies_list_every_error(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (credentials, token) = gw.merchant("Loja Validada").await;
    let one_of = "liability must be one of the following values: MERCHANT, PROPORTIONAL";
    let cases = [
        (
            json!({"liability": "SPLITS", "extra": 1}),
            json!(["property extra should not exist", one_of]),
        ),
        // Enum values are exact: no case folding, no other types.
        (json!({"liability": "proportional"}), json!([one_of])),
        (json!({"liability": 1}), json!([one_of])),
        (json!({}), json!(["liability should not be empty"])),
        (
            json!({"liability": null}),
            json!(["liability should not be empty"]),
        ),
        (json!([]), json!(["request body must be a JSON object"])),
    ];
    for (body, errors) in cases {
        let response = put_policy(&gw, &credentials, &token, &body, None).await;
        assert_error(&response, 400, "PUB_VALIDATION_ERROR");
        assert_eq!(response.body_json()["details"]["errors"], errors, "{body}");
    }
    let signature = sign(&credentials, &token);
    let raw: [(&[u8], &str); 3] = [
        (b"", "PUB_EMPTY_BODY"),
        (b"{\"liability\": ", "PUB_MALFORMED_JSON"),
        (&[0xff, 0xfe], "PUB_MALFORMED_JSON"),
    ];
    for (body, code) in raw {
        let response = gw
            .call(request(
                Method::PUT,
                PATH,
                Some(&token),
                Some(&signature),
                body,
            ))
            .await;
        assert_error(&response, 400, code);
    }
    assert_eq!(get_policy(&gw, &token).await, merchant_pays());
}

async fn idempotent_retries_replay_the_first_answer(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (credentials, token) = gw.merchant("Loja Idempotente").await;
    let key = uuid::Uuid::new_v4().to_string();
    let first = put_policy(&gw, &credentials, &token, &proportional(), Some(&key)).await;
    assert_eq!(first.status, 200, "{:?}", first.body_json());
    assert!(first.headers.get("idempotent-replayed").is_none());

    // Changed in between without the key: the replay is the stored answer, and writes nothing.
    let changed = put_policy(&gw, &credentials, &token, &merchant_pays(), None).await;
    assert_eq!(changed.status, 200, "{:?}", changed.body_json());
    let replay = put_policy(&gw, &credentials, &token, &proportional(), Some(&key)).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.body_json(), proportional());
    assert_eq!(
        replay
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert_eq!(get_policy(&gw, &token).await, merchant_pays());

    let reused = put_policy(&gw, &credentials, &token, &merchant_pays(), Some(&key)).await;
    assert_error(&reused, 422, "IDEMPOTENCY_KEY_REUSED");
}

/// R$ 100.00 with one 50 % split, not immediate (it waits for the payout window).
fn half_split_charge(external_id: &str) -> Value {
    json!({
        "transaction": {"value": 100.00, "description": "Pedido", "externalId": external_id},
        "payer": {"fullName": "João Pereira", "document": "12345678909"},
        "splits": [{"pixKey": "vendedor@email.com", "pixKeyType": "EMAIL", "name": "Loja do João",
                    "document": "11222333000181", "type": "PERCENTAGE", "value": 50}]
    })
}

async fn refund(
    gw: &Gateway,
    credentials: &NewAccountCredentials,
    token: &str,
    id: &str,
    body: &Value,
) -> Value {
    let path = format!("/api/pix/cash-in/{id}/refund");
    let response = signed(gw, credentials, token, (Method::POST, &path), body, None).await;
    assert_eq!(response.status, 202, "{:?}", response.body_json());
    response.body_json()
}

fn money(value: &Value) -> String {
    value.to_string()
}

/// A refund that does not name its liability takes the account's policy at the time of the
/// request; one that names it ignores the policy.
async fn a_refund_without_liability_follows_the_policy(backend: Backend) {
    let gw = Gateway::start(backend).await;
    let (credentials, token) = gw.merchant("Marketplace Norte").await;
    let id = gw.create_and_pay(&token, &half_split_charge("POL-1")).await;

    // The default: the account pays, the split is untouched.
    let first = refund(
        &gw,
        &credentials,
        &token,
        &id,
        &json!({"reason": "CUSTOMER_REQUEST", "value": 10.00}),
    )
    .await;
    assert_eq!(first["liability"], "MERCHANT", "{first}");

    let response = put_policy(&gw, &credentials, &token, &proportional(), None).await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    let second = refund(
        &gw,
        &credentials,
        &token,
        &id,
        &json!({"reason": "CUSTOMER_REQUEST", "value": 40.00}),
    )
    .await;
    assert_eq!(second["liability"], "PROPORTIONAL", "{second}");
    assert_eq!(money(&second["amount"]), "40.00", "{second}");

    // Named in the body: the policy does not apply.
    let third = refund(
        &gw,
        &credentials,
        &token,
        &id,
        &json!({"reason": "CUSTOMER_REQUEST", "value": 5.00, "liability": "MERCHANT"}),
    )
    .await;
    assert_eq!(third["liability"], "MERCHANT", "{third}");

    // And the split bore its half of the PROPORTIONAL one only (not yet paid: REDUCED).
    let charge = gw.get(&format!("/api/pix/cash-in/{id}"), &token).await;
    assert_eq!(charge.status, 200, "{:?}", charge.body_json());
    let charge = charge.body_json();
    let refunds = charge["refunds"].as_array().expect("refunds");
    let liabilities: Vec<&Value> = refunds.iter().map(|r| &r["liability"]).collect();
    assert_eq!(
        liabilities,
        [
            &json!("MERCHANT"),
            &json!("PROPORTIONAL"),
            &json!("MERCHANT")
        ],
        "{charge}"
    );
    assert_eq!(refunds[0]["splitParts"], json!([]), "{charge}");
    let parts = refunds[1]["splitParts"].as_array().expect("splitParts");
    assert_eq!(parts.len(), 1, "{charge}");
    assert_eq!(
        (&parts[0]["index"], &parts[0]["kind"]),
        (&json!(0), &json!("REDUCED"))
    );
    assert_eq!(money(&parts[0]["amount"]), "20.00", "{charge}");
    assert_eq!(money(&refunds[1]["accountPart"]), "20.00", "{charge}");
    assert_eq!(
        money(&charge["splits"][0]["refundedAmount"]),
        "20.00",
        "{charge}"
    );

    // The balance lists the recipients' debts (none here: nothing was paid out yet).
    let balance = gw.get("/api/account/balance", &token).await.body_json();
    assert_eq!(money(&balance["recipientDebts"]), "0.00", "{balance}");
    // Held and owed are always shown, 0.00 without disputes or holds.
    assert_eq!(money(&balance["held"]), "0.00", "{balance}");
    assert_eq!(money(&balance["owed"]), "0.00", "{balance}");
}

on_both_backends!(
    a_new_account_has_the_merchant_pay,
    a_signed_change_applies_to_its_account_only,
    an_unsigned_or_wrongly_signed_change_changes_nothing,
    bad_bodies_list_every_error,
    idempotent_retries_replay_the_first_answer,
    a_refund_without_liability_follows_the_policy,
);
