//! `SystemResolver` against the machine's resolver (no network needed: `localhost` and IP
//! literals are answered locally).

use std::time::Duration;

use pixgw_domain::webhooks::url_policy::{HostResolver, UrlPolicy};
use pixgw_webhook_http::SystemResolver;

#[tokio::test]
async fn localhost_resolves_to_loopback_addresses_each_once() {
    let ips = SystemResolver::new()
        .resolve("localhost", 8080)
        .await
        .unwrap();
    assert!(!ips.is_empty());
    assert!(ips.iter().all(|ip| ip.is_loopback()), "{ips:?}");
    let mut unique = ips.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ips.len(), "{ips:?}");
}

#[tokio::test]
async fn the_url_policy_judges_what_it_resolves() {
    let resolver = SystemResolver::with_timeout(Duration::from_secs(2));
    let (target, addrs) = UrlPolicy::LOCAL
        .check("http://localhost:9000/hook", &resolver)
        .await
        .unwrap();
    assert_eq!(target.host, "localhost");
    assert!(!addrs.is_empty());
    assert!(
        addrs
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 9000),
        "{addrs:?}"
    );
    assert!(
        UrlPolicy::PRODUCTION
            .check("https://localhost/hook", &resolver)
            .await
            .is_err()
    );
}
