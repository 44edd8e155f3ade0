//! The money-out functions without a Lambda runtime, through real API Gateway HTTP API (v2)
//! events: refund (`cash-in-refund`), cash-out (`cash-out-create`, `-get`, `-list`), the
//! statement (`account-statement`), the `DigitalSignature` requirement of every money-moving
//! route (refund, cash-out, payout-schedule PUT, refund-policy PUT) and the expiry-sweeper
//! handler.
//!
//! The black-box lifecycle (ledger sums, webhooks, races) is tested under `tests/`; this file
//! checks each function's HTTP contract: status codes, envelopes, every validation error.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{body_json, event, sandbox_state};

use std::sync::Arc;
use std::time::Duration;

use pixgw_api::accounts::create_account;
use pixgw_api::auth::digital_signature;
use pixgw_api::store::DynStore;
use pixgw_api::{AppState, Route};
use pixgw_domain::flows::expire::ExpirySweeper;
use pixgw_domain::messaging::consumer::drain;
use pixgw_domain::messaging::queue::QueueName;
use pixgw_domain::messaging::relay::relay_outbox;
use pixgw_domain::pix::clock::{Clock, SystemClock};
use pixgw_queue_local::LocalQueues;
use pixgw_store_embedded::EmbeddedStore;
use serde_json::{Value, json};

struct World {
    state: AppState,
    store: Arc<EmbeddedStore>,
    queues: LocalQueues,
    token: String,
    signature: String,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("dir");
    let (store, state) = sandbox_state(dir.path());
    let account = create_account(
        &state.store,
        &state.keys,
        "Loja Exemplo Ltda",
        "RECIFE",
        SystemClock.now(),
    )
    .await
    .expect("account");
    let token_body =
        json!({"clientId": account.client_id, "clientSecret": account.client_secret}).to_string();
    let response = pixgw_functions::handle(
        &state,
        Route::AuthToken,
        event("POST", "/api/auth/token", "", json!({}), Some(&token_body)),
    )
    .await;
    let token = body_json(&response)["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let signature = digital_signature(&account.crypto_token, &token);
    World {
        queues: LocalQueues::new(state.clock.clone()),
        state,
        store,
        token,
        signature,
        _dir: dir,
    }
}

/// How a request is authenticated.
#[derive(Clone, Copy)]
enum Sig<'a> {
    /// Bearer token and the right `DigitalSignature`.
    Signed,
    /// Bearer token only.
    Unsigned,
    /// Bearer token and this `DigitalSignature`.
    Header(&'a str),
}

impl World {
    fn headers(&self, sig: Sig<'_>, extra: &[(&str, &str)]) -> Value {
        let mut headers = json!({
            "content-type": "application/json",
            "authorization": format!("Bearer {}", self.token),
        });
        match sig {
            Sig::Signed => headers["digitalsignature"] = json!(self.signature),
            Sig::Unsigned => {}
            Sig::Header(value) => headers["digitalsignature"] = json!(value),
        }
        for (name, value) in extra {
            headers[*name] = json!(value);
        }
        headers
    }

    async fn send(
        &self,
        route: Route,
        method: &str,
        path_and_query: &str,
        sig: Sig<'_>,
        extra: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, Value, Option<String>) {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let body = body.map(Value::to_string);
        let response = pixgw_functions::handle(
            &self.state,
            route,
            event(
                method,
                path,
                query,
                self.headers(sig, extra),
                body.as_deref(),
            ),
        )
        .await;
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (response.status().as_u16(), body_json(&response), replayed)
    }

    async fn get(&self, route: Route, path: &str, query: &str) -> (u16, Value) {
        let (status, body, _) = self
            .send(
                route,
                "GET",
                &format!("{path}?{query}"),
                Sig::Unsigned,
                &[],
                None,
            )
            .await;
        (status, body)
    }

    async fn refund(&self, id: &str, sig: Sig<'_>, body: &Value) -> (u16, Value) {
        let path = format!("/api/pix/cash-in/{id}/refund");
        let (status, body, _) = self
            .send(Route::CashInRefund, "POST", &path, sig, &[], Some(body))
            .await;
        (status, body)
    }

    async fn cash_out(&self, sig: Sig<'_>, body: &Value) -> (u16, Value) {
        let (status, body, _) = self
            .send(
                Route::CashOutCreate,
                "POST",
                "/api/pix/cash-out",
                sig,
                &[],
                Some(body),
            )
            .await;
        (status, body)
    }

    /// A paid charge of `value` without splits (its whole amount becomes `available` once
    /// the pipeline ran).
    async fn paid_charge(&self, external_id: &str, value: f64) -> String {
        let body = json!({
            "transaction": {"value": value, "description": "Pedido", "externalId": external_id},
            "payer": {"fullName": "João Pereira", "document": "12345678909"}
        });
        let (status, created, _) = self
            .send(
                Route::CashInCreate,
                "POST",
                "/api/pix/cash-in",
                Sig::Unsigned,
                &[],
                Some(&body),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        let id = created["transactionId"].as_str().expect("id").to_owned();
        let path = format!("/api/sandbox/cash-in/{id}/pay");
        let (status, paid, _) = self
            .send(
                Route::SandboxCashInPay,
                "POST",
                &path,
                Sig::Unsigned,
                &[],
                None,
            )
            .await;
        assert_eq!(status, 200, "{paid}");
        self.run_pipeline().await;
        id
    }

    /// Relays the outbox and runs the split calculator and the money-out executor until idle.
    async fn run_pipeline(&self) {
        loop {
            let relayed = relay_outbox(self.store.as_ref(), &self.queues, 100)
                .await
                .expect("relay");
            let mut handled = 0;
            for (queue, handler) in [
                (
                    QueueName::ChargeConfirmed,
                    &self.state.split_calculator
                        as &dyn pixgw_domain::messaging::consumer::MessageHandler,
                ),
                (
                    QueueName::PayoutRequests,
                    &self.state.money_out as &dyn pixgw_domain::messaging::consumer::MessageHandler,
                ),
            ] {
                let report = drain(&self.queues, queue, handler, Duration::ZERO, Duration::ZERO)
                    .await
                    .expect("drain");
                assert_eq!(report.failed, 0);
                handled += report.received;
            }
            if relayed == 0 && handled == 0 {
                return;
            }
        }
    }
}

fn assert_error(status: u16, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["statusCode"], expected_status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["userMessage"].is_string(), "{body}");
}

fn valid_cash_out(external_id: &str, value: f64) -> Value {
    json!({
        "value": value,
        "description": "Saque",
        "externalId": external_id,
        "pixKey": "maria@example.com",
        "pixKeyType": "EMAIL"
    })
}

#[tokio::test]
async fn money_moving_routes_require_a_matching_digital_signature() {
    let w = world().await;
    let refund_path = "/api/pix/cash-in/0123456789abcdef0123456789abcdef/refund";
    let refund_body = json!({"reason": "CUSTOMER_REQUEST"});
    let cash_out_body = valid_cash_out("CO-SIG", 1.0);
    let schedule_body = json!({"frequency": "DAILY", "time": "09:00"});
    let policy_body = json!({"liability": "PROPORTIONAL"});
    let calls: [(Route, &str, &str, &Value); 4] = [
        (Route::CashInRefund, "POST", refund_path, &refund_body),
        (
            Route::CashOutCreate,
            "POST",
            "/api/pix/cash-out",
            &cash_out_body,
        ),
        (
            Route::PayoutSchedulePut,
            "PUT",
            "/api/account/payout-schedule",
            &schedule_body,
        ),
        (
            Route::RefundPolicyPut,
            "PUT",
            "/api/account/refund-policy",
            &policy_body,
        ),
    ];
    // The signature over another token, uppercase of a wrong one, not hex, truncated.
    let other = digital_signature("another-crypto-token", &w.token);
    let truncated = &w.signature[..20];
    for (route, method, path, body) in calls {
        let (status, missing, _) = w
            .send(route, method, path, Sig::Unsigned, &[], Some(body))
            .await;
        assert_error(status, &missing, 401, "PUB_SIGNATURE_REQUIRED");
        let (status, blank, _) = w
            .send(route, method, path, Sig::Header("  "), &[], Some(body))
            .await;
        assert_error(status, &blank, 401, "PUB_SIGNATURE_REQUIRED");
        for wrong in [other.as_str(), &other.to_uppercase(), "not-hex", truncated] {
            let (status, invalid, _) = w
                .send(route, method, path, Sig::Header(wrong), &[], Some(body))
                .await;
            assert_error(status, &invalid, 401, "PUB_INVALID_SIGNATURE");
        }
        // The signature is checked before the body: an unsigned bad body is still a 401.
        let (status, unsigned_bad, _) = w
            .send(route, method, path, Sig::Unsigned, &[], Some(&json!({})))
            .await;
        assert_error(status, &unsigned_bad, 401, "PUB_SIGNATURE_REQUIRED");
    }
    // The uppercase hex of the right signature is accepted (the schedule PUT has no
    // lifecycle dependency, so it completes here).
    let (status, schedule, _) = w
        .send(
            Route::PayoutSchedulePut,
            "PUT",
            "/api/account/payout-schedule",
            Sig::Header(&w.signature.to_uppercase()),
            &[],
            Some(&schedule_body),
        )
        .await;
    assert_eq!(status, 200, "{schedule}");
}

#[tokio::test]
async fn a_bad_cash_out_body_lists_every_error() {
    let w = world().await;
    let (status, body) = w
        .cash_out(
            Sig::Signed,
            &json!({
                "value": -1,
                "externalId": "",
                "pixKey": "11999887766",
                "pixKeyType": "PHONE",
                "bankAccount": {"ispb": "1234", "accountType": "XX", "document": "123", "name": "M", "extra": 1},
                "fee": 2
            }),
        )
        .await;
    assert_error(status, &body, 400, "PUB_VALIDATION_ERROR");
    assert_eq!(
        body["details"]["errors"],
        json!([
            "property fee should not exist",
            "value must not be less than 0.01",
            "description should not be empty",
            "externalId should not be empty",
            "only one of pixKey (with pixKeyType) or bankAccount may be given",
            "pixKey must be a phone number in the format +55DDNNNNNNNNN",
            "property bankAccount.extra should not exist",
            "bankAccount.ispb must be exactly 8 digits",
            "bankAccount.branch should not be empty",
            "bankAccount.account should not be empty",
            "bankAccount.accountType must be one of the following values: CACC, SVGS, SLRY, TRAN",
            "bankAccount.document must be a valid CPF (11 digits) or CNPJ (14 characters): must have 11 (CPF) or 14 (CNPJ) characters",
        ])
    );
    // Malformed JSON gets its own envelope.
    let response = pixgw_functions::handle(
        &w.state,
        Route::CashOutCreate,
        event(
            "POST",
            "/api/pix/cash-out",
            "",
            w.headers(Sig::Signed, &[]),
            Some("{\"value\": "),
        ),
    )
    .await;
    assert_error(
        response.status().as_u16(),
        &body_json(&response),
        400,
        "PUB_MALFORMED_JSON",
    );
}

#[tokio::test]
async fn a_bad_refund_body_lists_every_error_and_unknown_charges_are_404() {
    let w = world().await;
    let (status, body) = w
        .refund(
            "0123456789abcdef0123456789abcdef",
            Sig::Signed,
            &json!({"reason": "customer request", "description": 5, "amount": 10,
                    "value": 0.001, "liability": "SPLITS"}),
        )
        .await;
    assert_error(status, &body, 400, "PUB_VALIDATION_ERROR");
    assert_eq!(
        body["details"]["errors"],
        json!([
            "property amount should not exist",
            "reason must be an UPPER_SNAKE_CASE code (A-Z, 0-9 and _, starting with a letter), e.g. CUSTOMER_REQUEST",
            "description must be a string",
            "value must have no more than 2 decimal places",
            "value must not be less than 0.01",
            "liability must be one of the following values: MERCHANT, PROPORTIONAL",
        ])
    );
    let ok_body = json!({"reason": "CUSTOMER_REQUEST"});
    // Malformed and unknown ids are the same 404.
    for id in ["not-an-id", "0123456789abcdef0123456789abcdef"] {
        let (status, body) = w.refund(id, Sig::Signed, &ok_body).await;
        assert_error(status, &body, 404, "PUB_NOT_FOUND");
    }
}

#[tokio::test]
async fn only_a_confirmed_charge_can_be_refunded() {
    let w = world().await;
    let body = json!({
        "transaction": {"value": 10.0, "description": "Pedido", "externalId": "PENDING-1"},
        "payer": {"fullName": "João Pereira", "document": "12345678909"}
    });
    let (status, created, _) = w
        .send(
            Route::CashInCreate,
            "POST",
            "/api/pix/cash-in",
            Sig::Unsigned,
            &[],
            Some(&body),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["transactionId"].as_str().expect("id");
    let (status, body) = w
        .refund(id, Sig::Signed, &json!({"reason": "CUSTOMER_REQUEST"}))
        .await;
    assert_error(status, &body, 409, "CHARGE_NOT_REFUNDABLE");
}

#[tokio::test]
async fn a_confirmed_charge_is_refunded_in_full_once_and_the_key_replays() {
    let w = world().await;
    let id = w.paid_charge("REFUND-1", 150.5).await;
    let path = format!("/api/pix/cash-in/{id}/refund");
    let key = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f";
    let body = json!({"reason": "CUSTOMER_REQUEST", "description": "Ticket #1234"});
    let (status, accepted, replayed) = w
        .send(
            Route::CashInRefund,
            "POST",
            &path,
            Sig::Signed,
            &[("x-idempotency-key", key)],
            Some(&body),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert!(replayed.is_none());
    assert!(
        accepted["refundId"]
            .as_str()
            .is_some_and(|r| r.starts_with("rf_")),
        "{accepted}"
    );
    assert_eq!(accepted["transactionId"], json!(id));
    assert_eq!(accepted["externalId"], "REFUND-1");
    assert_eq!(accepted["status"], "REFUND_PROCESSING");
    // No value: everything; no liability: the account's policy (MERCHANT by default).
    assert_eq!(accepted["amount"].to_string(), "150.50");
    assert_eq!(accepted["liability"], "MERCHANT");
    assert!(accepted["requestedAt"].is_string());
    assert!(
        accepted["endToEndId"]
            .as_str()
            .is_some_and(|e| e.starts_with('D')),
        "{accepted}"
    );
    assert!(
        accepted["message"]
            .as_str()
            .is_some_and(|m| m.contains(&id))
    );

    // The same request with the same key: the same answer, replayed.
    let (status, again, replayed) = w
        .send(
            Route::CashInRefund,
            "POST",
            &path,
            Sig::Signed,
            &[("x-idempotency-key", key)],
            Some(&body),
        )
        .await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again, accepted);
    assert_eq!(replayed.as_deref(), Some("true"));

    // A new request (no key) for the same charge: nothing is left to refund.
    let (status, second) = w.refund(&id, Sig::Signed, &body).await;
    assert_error(status, &second, 409, "REFUND_EXCEEDS_REMAINING");
    assert_eq!(second["details"]["remaining"].to_string(), "0.00");

    w.run_pipeline().await;
    let (status, charge) = w
        .get(Route::CashInGet, &format!("/api/pix/cash-in/{id}"), "")
        .await;
    assert_eq!(status, 200, "{charge}");
    assert_eq!(charge["status"], "REFUNDED", "{charge}");
    assert_eq!(charge["refundedAmount"].to_string(), "150.50");
    let refunds = charge["refunds"].as_array().expect("refunds");
    assert_eq!(refunds.len(), 1, "{charge}");
    assert_eq!(refunds[0]["refundId"], accepted["refundId"]);
    assert_eq!(refunds[0]["status"], "REFUNDED", "{charge}");
    assert_eq!(refunds[0]["reason"], "CUSTOMER_REQUEST");
    assert_eq!(refunds[0]["endToEndId"], accepted["endToEndId"]);
    assert_eq!(charge["paidAfterExpiration"], false);
}

/// Several devolutions of one charge, each with its own id and `D…`, up to its value: the
/// charge is PARTIALLY_REFUNDED in between, and asking for more than is left is refused with
/// what is left.
#[tokio::test]
async fn a_charge_is_refunded_in_parts_up_to_its_value() {
    let w = world().await;
    let id = w.paid_charge("PARTS-1", 100.0).await;
    let charge_path = format!("/api/pix/cash-in/{id}");
    let part = |value: f64| json!({"reason": "CUSTOMER_REQUEST", "value": value});

    let (status, first) = w.refund(&id, Sig::Signed, &part(30.0)).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["amount"].to_string(), "30.00");
    w.run_pipeline().await;
    let (_, charge) = w.get(Route::CashInGet, &charge_path, "").await;
    assert_eq!(charge["status"], "PARTIALLY_REFUNDED", "{charge}");
    assert_eq!(charge["refundedAmount"].to_string(), "30.00");

    let (status, too_much) = w.refund(&id, Sig::Signed, &part(70.01)).await;
    assert_error(status, &too_much, 409, "REFUND_EXCEEDS_REMAINING");
    assert_eq!(too_much["details"]["remaining"].to_string(), "70.00");

    // No value: the rest.
    let (status, rest) = w
        .refund(&id, Sig::Signed, &json!({"reason": "CUSTOMER_REQUEST"}))
        .await;
    assert_eq!(status, 202, "{rest}");
    assert_eq!(rest["amount"].to_string(), "70.00");
    assert_ne!(rest["refundId"], first["refundId"]);
    assert_ne!(rest["endToEndId"], first["endToEndId"]);
    w.run_pipeline().await;
    let (_, charge) = w.get(Route::CashInGet, &charge_path, "").await;
    assert_eq!(charge["status"], "REFUNDED", "{charge}");
    assert_eq!(charge["refundedAmount"].to_string(), "100.00");
    let ids: Vec<&Value> = charge["refunds"]
        .as_array()
        .expect("refunds")
        .iter()
        .map(|r| &r["refundId"])
        .collect();
    assert_eq!(ids, [&first["refundId"], &rest["refundId"]], "{charge}");

    let (status, nothing_left) = w.refund(&id, Sig::Signed, &part(0.01)).await;
    assert_error(status, &nothing_left, 409, "REFUND_EXCEEDS_REMAINING");
    assert_eq!(nothing_left["details"]["remaining"].to_string(), "0.00");
}

#[tokio::test]
async fn a_cash_out_never_overdraws_and_settles_asynchronously() {
    let w = world().await;
    // Nothing in `available` yet.
    let (status, body) = w
        .cash_out(Sig::Signed, &valid_cash_out("CO-EMPTY", 0.01))
        .await;
    assert_error(status, &body, 409, "INSUFFICIENT_BALANCE");

    w.paid_charge("FUND-1", 100.0).await;
    let (status, created) = w
        .cash_out(Sig::Signed, &valid_cash_out("CO-1", 30.25))
        .await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(created["status"], "PROCESSING");
    assert_eq!(created["value"].to_string(), "30.25");
    assert_eq!(created["externalId"], "CO-1");
    assert_eq!(created["pixKeyType"], "EMAIL");
    let id = created["id"].as_str().expect("id").to_owned();

    // The externalId is unique per account.
    let (status, duplicate) = w.cash_out(Sig::Signed, &valid_cash_out("CO-1", 1.0)).await;
    assert_error(status, &duplicate, 409, "DUPLICATE_EXTERNAL_ID");
    // More than what is left.
    let (status, over) = w
        .cash_out(Sig::Signed, &valid_cash_out("CO-OVER", 69.76))
        .await;
    assert_error(status, &over, 409, "INSUFFICIENT_BALANCE");

    // To bank account data.
    let (status, to_account) = w
        .cash_out(
            Sig::Signed,
            &json!({
                "value": 10,
                "description": "Saque conta",
                "externalId": "CO-2",
                "bankAccount": {
                    "ispb": "00000000", "branch": "0001", "account": "1234567",
                    "accountType": "CACC", "document": "11222333000181", "name": "Loja Exemplo Ltda"
                }
            }),
        )
        .await;
    assert_eq!(status, 202, "{to_account}");
    assert_eq!(to_account["bankAccount"]["accountType"], "CACC");

    w.run_pipeline().await;
    let (status, got) = w
        .get(Route::CashOutGet, &format!("/api/pix/cash-out/{id}"), "")
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["status"], "COMPLETED", "{got}");
    assert!(
        got["endToEndId"]
            .as_str()
            .is_some_and(|e| e.starts_with('E'))
    );

    for missing in ["co_0123456789abcdef0123456789abcdef", "nope"] {
        let (status, body) = w
            .get(
                Route::CashOutGet,
                &format!("/api/pix/cash-out/{missing}"),
                "",
            )
            .await;
        assert_error(status, &body, 404, "PUB_NOT_FOUND");
    }

    let (status, page) = w
        .get(Route::CashOutList, "/api/pix/cash-out", "limit=1")
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    let cursor = page["nextCursor"].as_str().expect("a second page");
    let (status, next) = w
        .get(
            Route::CashOutList,
            "/api/pix/cash-out",
            &format!("limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(next["items"].as_array().map(Vec::len), Some(1));
    assert_ne!(next["items"][0]["id"], page["items"][0]["id"]);
    let (status, by_external) = w
        .get(Route::CashOutList, "/api/pix/cash-out", "externalId=CO-1")
        .await;
    assert_eq!(status, 200, "{by_external}");
    assert_eq!(by_external["items"][0]["id"], json!(id));

    // The statement: the cash-out's debit of `available` names it.
    let (status, statement) = w
        .get(
            Route::AccountStatement,
            "/api/account/statement",
            "limit=100",
        )
        .await;
    assert_eq!(status, 200, "{statement}");
    let items = statement["items"].as_array().expect("items");
    let debit = items
        .iter()
        .find(|e| e["cause"]["type"] == "CASH_OUT" && e["cause"]["id"] == json!(id))
        .expect("the cash-out's entry");
    assert_eq!(debit["direction"], "DEBIT");
    assert_eq!(debit["bucket"], "AVAILABLE");
    assert_eq!(debit["movementKind"], "CASHOUT_REQUESTED");
    assert_eq!(debit["amount"].to_string(), "30.25");
}

#[tokio::test]
async fn bad_list_and_statement_queries_list_every_problem() {
    let w = world().await;
    let (status, body) = w
        .get(
            Route::AccountStatement,
            "/api/account/statement",
            "from=2024-02-01T00:00:00Z&to=2024-01-01T00:00:00Z&limit=101&cursor=abc",
        )
        .await;
    assert_error(status, &body, 400, "PUB_VALIDATION_ERROR");
    assert_eq!(
        body["details"]["errors"],
        json!([
            "from must be before to",
            "limit must be an integer between 1 and 100",
            "cursor is invalid (use nextCursor from a previous page)",
        ])
    );
    let (status, body) = w
        .get(Route::CashOutList, "/api/pix/cash-out", "status=DONE&x=1")
        .await;
    assert_error(status, &body, 400, "PUB_VALIDATION_ERROR");
    assert_eq!(
        body["details"]["errors"],
        json!([
            "query parameter x is not supported",
            "status must be one of the following values: PROCESSING, COMPLETED, FAILED",
        ])
    );
}

#[tokio::test]
async fn the_expiry_sweeper_tick_reports_what_it_did() {
    let w = world().await;
    let store: DynStore = w.store.clone();
    let sweeper = ExpirySweeper::new(
        pixgw_api::store::expiry_ports(&store),
        Arc::new(SystemClock),
    );
    let report = pixgw_functions::runner::handle_tick(&sweeper, json!({"source": "aws.scheduler"}))
        .await
        .expect("tick");
    assert_eq!(
        report,
        json!({"expired": 0, "skipped": 0, "holdsReleased": 0})
    );
}
