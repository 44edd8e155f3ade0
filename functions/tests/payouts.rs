//! The payout functions without a Lambda runtime: the payout-scheduler handler as EventBridge
//! Scheduler invokes it, and the payout routes (list, get, sandbox run) through real API
//! Gateway HTTP API (v2) events.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{body_json, event, sandbox_state};

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pixgw_api::accounts::create_account;
use pixgw_api::{ApiRequest, AppState, Route, dispatch_route};
use pixgw_domain::flows::run_payout_windows::PayoutScheduler;
use pixgw_domain::messaging::consumer::drain;
use pixgw_domain::messaging::queue::QueueName;
use pixgw_domain::messaging::relay::relay_outbox;
use pixgw_domain::payout::runs::PayoutRunStore;
use pixgw_domain::pix::clock::{Clock, SystemClock};
use pixgw_functions::runner::handle_tick;
use pixgw_queue_local::LocalQueues;
use pixgw_store_embedded::EmbeddedStore;
use serde_json::{Value, json};

struct Fixed(DateTime<Utc>);

impl Clock for Fixed {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

struct World {
    state: AppState,
    store: Arc<EmbeddedStore>,
    queues: LocalQueues,
    auth: Value,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("dir");
    let (store, state) = sandbox_state(dir.path());
    let account = create_account(
        &state.store,
        &state.keys,
        "Marketplace Ltda",
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
    World {
        queues: LocalQueues::new(state.clock.clone()),
        state,
        store,
        auth: json!({"content-type": "application/json", "authorization": format!("Bearer {token}")}),
        _dir: dir,
    }
}

impl World {
    async fn call(&self, route: Route, method: &str, path: &str, query: &str) -> (u16, Value) {
        let response = pixgw_functions::handle(
            &self.state,
            route,
            event(method, path, query, self.auth.clone(), None),
        )
        .await;
        (response.status().as_u16(), body_json(&response))
    }

    /// A paid seed-004 marketplace charge (R$ 200: 140 + 40 + 10 to three recipients,
    /// scheduled), its splits booked by the split calculator.
    async fn paid_marketplace_charge(&self, external_id: &str) -> String {
        let body = json!({
            "transaction": {"value": 200.00, "description": "Pedido", "externalId": external_id},
            "payer": {"fullName": "João Pereira", "document": "12345678909"},
            "splits": [
                {"pixKey": "vendedor@email.com", "pixKeyType": "EMAIL", "name": "Loja do João", "document": "11222333000181", "type": "PERCENTAGE", "value": 70},
                {"pixKey": "11222333000181", "pixKeyType": "CNPJ", "name": "Marketplace Ltda", "document": "11222333000181", "type": "PERCENTAGE", "value": 20},
                {"pixKey": "+5511999887766", "pixKeyType": "PHONE", "name": "Entregador Silva", "document": "98765432100", "type": "FIXED", "value": 10.00}
            ]
        })
        .to_string();
        let created = pixgw_functions::handle(
            &self.state,
            Route::CashInCreate,
            event(
                "POST",
                "/api/pix/cash-in",
                "",
                self.auth.clone(),
                Some(&body),
            ),
        )
        .await;
        assert_eq!(created.status(), 201);
        let id = body_json(&created)["transactionId"]
            .as_str()
            .expect("id")
            .to_owned();
        let path = format!("/api/sandbox/cash-in/{id}/pay");
        let (status, paid) = self.call(Route::SandboxCashInPay, "POST", &path, "").await;
        assert_eq!(status, 200, "{paid}");
        self.run_pipeline().await;
        id
    }

    /// Relays the outbox and runs the split calculator and the payout executor until idle.
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

    /// The scheduler as the Lambda runs it, `days` ahead (every account's default DAILY window
    /// is then due).
    fn scheduler_days_ahead(&self, days: i64) -> PayoutScheduler {
        let store: Arc<dyn PayoutRunStore> = self.store.clone();
        PayoutScheduler::new(
            store,
            Arc::new(Fixed(Utc::now() + chrono::Duration::days(days))),
        )
    }
}

#[tokio::test]
async fn a_scheduler_tick_pays_the_due_splits_and_the_routes_show_the_payouts() {
    let w = world().await;
    let first = w.paid_marketplace_charge("MKT-1").await;
    let second = w.paid_marketplace_charge("MKT-2").await;

    // Nothing is due yet: a tick does nothing.
    let now = w.scheduler_days_ahead(0);
    let idle = handle_tick(&now, json!({})).await.expect("tick");
    assert_eq!(idle["payouts"], 0);

    // EventBridge Scheduler's payload is whatever the schedule's Input says; it is not needed.
    let later = w.scheduler_days_ahead(2);
    let report = handle_tick(&later, json!({"source": "aws.scheduler"}))
        .await
        .expect("tick");
    assert_eq!(report["accounts"], 1, "{report}");
    assert_eq!(report["payouts"], 3, "{report}");
    assert_eq!(report["splits"], 6, "{report}");
    assert_eq!(report["amount"].to_string(), "380.00");
    assert_eq!(report["skipped"], 0);
    // A second tick of the same window finds it paid.
    let again = handle_tick(&later, json!({})).await.expect("tick");
    assert_eq!(again["payouts"], 0, "{again}");
    w.run_pipeline().await;

    let (status, page) = w
        .call(Route::PayoutsList, "GET", "/api/payouts", "status=PAID")
        .await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    let mut amounts: Vec<String> = items.iter().map(|p| p["amount"].to_string()).collect();
    amounts.sort();
    assert_eq!(amounts, ["20.00", "280.00", "80.00"]);
    assert!(items.iter().all(|p| p["trigger"] == "SCHEDULED"));

    let seller = items
        .iter()
        .find(|p| p["recipient"]["pixKey"] == "vendedor@email.com")
        .expect("seller's payout");
    let id = seller["id"].as_str().expect("id");
    let (status, detail) = w
        .call(Route::PayoutGet, "GET", &format!("/api/payouts/{id}"), "")
        .await;
    assert_eq!(status, 200, "{detail}");
    let mut charges: Vec<&str> = detail["splits"]
        .as_array()
        .expect("splits")
        .iter()
        .map(|s| s["transactionId"].as_str().expect("transactionId"))
        .collect();
    charges.sort();
    let mut expected = [first.as_str(), second.as_str()];
    expected.sort();
    assert_eq!(charges, expected);
    assert!(
        detail["splits"]
            .as_array()
            .expect("splits")
            .iter()
            .all(|s| s["status"] == "PAID" && s["endToEndId"] == detail["endToEndId"])
    );

    // A function answers only its own route.
    let (status, wrong) = w.call(Route::PayoutGet, "GET", "/api/payouts", "").await;
    assert_eq!(status, 404);
    assert_eq!(wrong["code"], "PUB_ROUTE_NOT_FOUND");
}

#[tokio::test]
async fn the_sandbox_run_function_pays_the_account_now() {
    let w = world().await;
    w.paid_marketplace_charge("MKT-RUN").await;
    let (status, run) = w
        .call(
            Route::SandboxPayoutsRun,
            "POST",
            "/api/sandbox/payouts/run",
            "",
        )
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(
        (&run["accounts"], &run["payouts"], &run["splits"]),
        (&json!(1), &json!(3), &json!(3))
    );
    assert_eq!(run["amount"].to_string(), "190.00");
    w.run_pipeline().await;
    let (_, page) = w.call(Route::PayoutsList, "GET", "/api/payouts", "").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn the_lambda_build_has_no_sandbox_clock() {
    let w = world().await;
    let request = ApiRequest::new(http::Method::POST, "/api/sandbox/clock/advance")
        .with_json(&json!({"seconds": 60}))
        .with_header(
            "authorization",
            w.auth["authorization"].as_str().expect("auth"),
        );
    let response = dispatch_route(&w.state, Route::SandboxClockAdvance, request.clone()).await;
    assert_eq!(response.status, 404);
    assert_eq!(response.body_json()["code"], "PUB_ROUTE_NOT_FOUND");
    let response = pixgw_api::dispatch(&w.state, request).await;
    assert_eq!(response.status, 404);
    assert_eq!(response.body_json()["code"], "PUB_ROUTE_NOT_FOUND");
}
