//! Proxy variables in the environment are ignored. Its own test binary: it changes the
//! process environment, which no other test may observe.

use std::time::Duration;

use pixgw_domain::webhooks::{WebhookRequest, WebhookSender};
use pixgw_webhook_http::ReqwestSender;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn proxy_variables_are_ignored() {
    let proxy = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(299))
        .mount(&proxy)
        .await;
    let target = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .mount(&target)
        .await;

    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        // SAFETY: this is the only test in this binary, and no other thread reads or writes
        // the environment while it runs (the servers above do not).
        unsafe { std::env::set_var(var, proxy.uri()) };
    }
    for var in ["NO_PROXY", "no_proxy", "REQUEST_METHOD"] {
        // SAFETY: as above.
        unsafe { std::env::remove_var(var) };
    }

    let response = ReqwestSender::new()
        .unwrap()
        .send(WebhookRequest {
            url: format!(
                "http://hooks.pixgw.invalid:{}/hook",
                target.address().port()
            ),
            host: "hooks.pixgw.invalid".to_owned(),
            addrs: vec![*target.address()],
            headers: vec![],
            body: "{}".to_owned(),
            timeout: Duration::from_secs(5),
        })
        .await;

    assert_eq!(response.status, Some(200), "{:?}", response.error);
    assert_eq!(target.received_requests().await.unwrap().len(), 1);
    assert!(proxy.received_requests().await.unwrap().is_empty());
}
