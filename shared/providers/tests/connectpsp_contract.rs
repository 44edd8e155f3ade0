//! Contract tests of the ConnectPSP adapter against a wiremock ConnectPSP that follows seeds
//! 000–002 (see `connectpsp/mock.rs`) and answers with the seeds' examples
//! (`fixtures/connectpsp/*.json`, copied verbatim). Where a seed's values cannot be ours
//! (`externalReference: "order_abc123"` is not one of our transaction ids) the mock answers
//! the fixture with our values substituted; the files stay verbatim.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "connectpsp/calls.rs"]
mod calls;
#[path = "connectpsp/holds.rs"]
mod holds;
#[path = "connectpsp/infractions.rs"]
mod infractions;
#[path = "connectpsp/mock.rs"]
mod mock;
#[path = "connectpsp/webhooks.rs"]
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use pixgw_domain::error::ProviderError;
use pixgw_domain::provider::PixProvider;
use serde_json::json;
use wiremock::ResponseTemplate;

use mock::{ConnectPspMock, TestClock, TokenBehaviour, header};

const STATUS_PATH: &str = "/cash-in/US7B1JQ";

pub fn start_clock() -> Arc<TestClock> {
    TestClock::new(Utc.with_ymd_and_hms(2026, 3, 10, 14, 0, 0).unwrap())
}

/// `GET /cash-in/US7B1JQ` answering the webhook fixture's `data` (see `webhooks.rs`).
async fn serve_status(mock: &ConnectPspMock) {
    let data = mock::fixture_json("webhook_cashin_paid.json")["data"].clone();
    mock.serve("GET", STATUS_PATH, false, move |_| {
        ResponseTemplate::new(200).set_body_json(data.clone())
    })
    .await;
}

fn bearer(request: &wiremock::Request) -> String {
    header(request, "Authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn token_is_fetched_once_and_reused_with_the_documented_headers() {
    let mock = ConnectPspMock::start().await;
    serve_status(&mock).await;
    let provider = mock.provider(start_clock());
    assert_eq!(provider.name(), "connectpsp");
    assert!(provider.capabilities().refunds && provider.capabilities().transfers);

    for _ in 0..3 {
        let status = provider.charge_status("US7B1JQ").await.unwrap();
        assert_eq!(status.internal_code, "US7B1JQ");
    }

    assert_eq!(mock.token_requests().await, 1);
    let token_request = &mock.requests_to("/auth/token").await[0];
    assert_eq!(
        mock::body_json(token_request),
        json!({"clientId": mock::CLIENT_ID, "clientSecret": mock::CLIENT_SECRET})
    );
    assert_eq!(header(token_request, "Authorization"), None);
    let jwt = &mock.issued_tokens()[0];
    for request in mock.requests_to(STATUS_PATH).await {
        assert_eq!(&bearer(&request), jwt);
        assert_eq!(header(&request, "ApplicationToken"), Some(mock::APP_TOKEN));
        // A GET needs neither (the mock only demands them on POSTs / signed calls).
        assert_eq!(header(&request, "X-Idempotency-Key"), None);
        assert_eq!(header(&request, "DigitalSignature"), None);
    }
}

#[tokio::test]
async fn token_is_renewed_when_less_than_five_minutes_are_left() {
    // With and without `expiresIn` (the seed's "expires in 1 hour" is the default).
    for expires_in in [Some(3600), None] {
        let mock = ConnectPspMock::start_with(TokenBehaviour {
            expires_in,
            ..TokenBehaviour::default()
        })
        .await;
        serve_status(&mock).await;
        let clock = start_clock();
        let provider = mock.provider(clock.clone());

        provider.charge_status("US7B1JQ").await.unwrap();
        clock.advance(chrono::Duration::minutes(54));
        provider.charge_status("US7B1JQ").await.unwrap();
        assert_eq!(mock.token_requests().await, 1, "{expires_in:?}: 6 min left");

        clock.advance(chrono::Duration::minutes(2));
        provider.charge_status("US7B1JQ").await.unwrap();
        assert_eq!(mock.token_requests().await, 2, "{expires_in:?}: 4 min left");
        let last = mock.requests_to(STATUS_PATH).await.pop().unwrap();
        assert_eq!(bearer(&last), mock.issued_tokens()[1]);
    }
}

#[tokio::test]
async fn a_401_renews_the_token_once_and_resends() {
    let mock = ConnectPspMock::start().await;
    serve_status(&mock).await;
    let provider = mock.provider(start_clock());
    provider.charge_status("US7B1JQ").await.unwrap();

    mock.revoke_tokens();
    let status = provider.charge_status("US7B1JQ").await.unwrap();

    assert_eq!(status.external_reference, "test-order-001");
    assert_eq!(mock.token_requests().await, 2);
    let calls = mock.requests_to(STATUS_PATH).await;
    assert_eq!(calls.len(), 3, "first call, the refused one, the resend");
    let tokens = mock.issued_tokens();
    assert_eq!(bearer(&calls[1]), tokens[0]);
    assert_eq!(bearer(&calls[2]), tokens[1]);
}

#[tokio::test]
async fn a_second_401_means_our_credentials_are_refused() {
    let mock = ConnectPspMock::start().await;
    mock.fail_next("GET", STATUS_PATH, 10, ResponseTemplate::new(401))
        .await;
    let provider = mock.provider(start_clock());

    let error = provider.charge_status("US7B1JQ").await.unwrap_err();

    assert_eq!(
        error,
        ProviderError::Unavailable("ConnectPSP refused our credentials".into())
    );
    assert_eq!(mock.token_requests().await, 2);
    assert_eq!(mock.requests_to(STATUS_PATH).await.len(), 2);
}

#[tokio::test]
async fn concurrent_calls_with_an_expired_token_share_one_renewal() {
    let mock = ConnectPspMock::start_with(TokenBehaviour {
        delay: Duration::from_millis(150),
        ..TokenBehaviour::default()
    })
    .await;
    serve_status(&mock).await;
    let clock = start_clock();
    let provider = Arc::new(mock.provider(clock.clone()));
    provider.charge_status("US7B1JQ").await.unwrap();
    clock.advance(chrono::Duration::hours(2));

    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let provider = provider.clone();
        calls.spawn(async move { provider.charge_status("US7B1JQ").await });
    }
    while let Some(result) = calls.join_next().await {
        result.unwrap().unwrap();
    }

    assert_eq!(
        mock.token_requests().await,
        2,
        "one at start, one renewal for all 20"
    );
    let renewed = &mock.issued_tokens()[1];
    let statuses = mock.requests_to(STATUS_PATH).await;
    assert_eq!(statuses.len(), 21);
    assert!(statuses[1..].iter().all(|r| &bearer(r) == renewed));
}

#[tokio::test]
async fn token_endpoint_failures_are_unavailable() {
    let mock = ConnectPspMock::start().await;
    mock.fail_next("POST", "/auth/token", 3, ResponseTemplate::new(503))
        .await;
    let provider = mock.provider(start_clock());
    let error = provider.charge_status("US7B1JQ").await.unwrap_err();
    assert!(
        matches!(&error, ProviderError::Unavailable(m) if m.contains("503")),
        "{error:?}"
    );
    assert_eq!(mock.token_requests().await, 3, "retried like any call");
    assert!(mock.requests_to(STATUS_PATH).await.is_empty());

    let mut config = mock.config();
    config.client_secret = pixgw_providers::secret::Secret::new("wrong");
    let provider =
        pixgw_providers::connectpsp::ConnectPspProvider::with_clock(config, start_clock()).unwrap();
    let error = provider.charge_status("US7B1JQ").await.unwrap_err();
    assert_eq!(
        error,
        ProviderError::Unavailable("ConnectPSP refused our credentials".into())
    );
}
