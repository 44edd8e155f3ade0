//! The system resolver the URL policy judges host names with.

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use pixgw_domain::webhooks::url_policy::HostResolver;

/// Resolves host names with the operating system's resolver (`getaddrinfo`, through
/// [`tokio::net::lookup_host`]), giving up after a timeout (5 s by default): a stuck lookup
/// must not hold a delivery, or an API request, for the resolver's own (much longer) retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemResolver {
    timeout: Duration,
}

impl SystemResolver {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    pub fn new() -> Self {
        Self::with_timeout(Self::DEFAULT_TIMEOUT)
    }

    pub fn with_timeout(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl Default for SystemResolver {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl HostResolver for SystemResolver {
    /// Every address of `host`, each once, in the resolver's order.
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, String> {
        let lookup = tokio::net::lookup_host((host, port));
        match tokio::time::timeout(self.timeout, lookup).await {
            Err(_) => Err(format!(
                "{host}: lookup timed out after {}",
                crate::sender::human_duration(self.timeout)
            )),
            Ok(Err(error)) => Err(format!("{host}: {error}")),
            Ok(Ok(addrs)) => {
                let mut ips: Vec<IpAddr> = Vec::new();
                for addr in addrs {
                    let ip = addr.ip();
                    if !ips.contains(&ip) {
                        ips.push(ip);
                    }
                }
                Ok(ips)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ip_literals_resolve_to_themselves() {
        let resolver = SystemResolver::new();
        assert_eq!(
            resolver.resolve("192.0.2.7", 443).await,
            Ok(vec!["192.0.2.7".parse().unwrap()])
        );
        assert_eq!(
            resolver.resolve("2001:db8::1", 443).await,
            Ok(vec!["2001:db8::1".parse().unwrap()])
        );
    }

    #[tokio::test]
    async fn garbage_is_an_error_not_a_panic() {
        let resolver = SystemResolver::new();
        for host in ["", "bad\0host"] {
            let result = resolver.resolve(host, 443).await;
            let error = result.expect_err(host);
            assert!(error.starts_with(&format!("{host}: ")), "{error}");
        }
    }
}
