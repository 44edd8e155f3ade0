//! [`ReqwestSender`]: one POST per attempt, only to the approved addresses.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pixgw_domain::webhooks::{WebhookRequest, WebhookResponse, WebhookSender};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use reqwest::redirect;

/// The `User-Agent` of every delivery.
pub const USER_AGENT: &str = "pixgw-webhooks/1";

/// The longest error text recorded for an attempt.
const MAX_ERROR_LEN: usize = 300;

/// The TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[error("webhook TLS configuration: {0}")]
pub struct BuildError(#[from] rustls::Error);

/// POSTs webhooks with reqwest, one short-lived client per attempt, so that every attempt
/// connects only to its own [`WebhookRequest::addrs`] (see the [crate docs](crate) for why).
#[derive(Debug, Clone)]
pub struct ReqwestSender {
    tls: Arc<rustls::ClientConfig>,
}

impl ReqwestSender {
    /// Verifies servers against the Mozilla root store (`webpki-roots`), with aws-lc-rs.
    pub fn new() -> Result<Self, BuildError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Self::with_root_certificates(roots)
    }

    /// Verifies servers against `roots` only (a private CA, or a test's certificate).
    pub fn with_root_certificates(roots: rustls::RootCertStore) -> Result<Self, BuildError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // reqwest is built without HTTP/2: offer only what it speaks.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            tls: Arc::new(config),
        })
    }

    fn client(&self, request: &WebhookRequest) -> Result<reqwest::Client, reqwest::Error> {
        reqwest::Client::builder()
            .use_preconfigured_tls(rustls::ClientConfig::clone(&self.tls))
            .dns_resolver(Arc::new(Pinned(request.addrs.clone())))
            .no_proxy()
            .redirect(redirect::Policy::none())
            .referer(false)
            .timeout(request.timeout)
            .pool_max_idle_per_host(0)
            .user_agent(USER_AGENT)
            .build()
    }

    /// The status of the response, or why there was none.
    async fn post(&self, request: &WebhookRequest, started: &mut Instant) -> Result<u16, String> {
        let url = reqwest::Url::parse(&request.url).map_err(|e| format!("invalid url: {e}"))?;
        if request.addrs.is_empty() {
            return Err("no approved address to connect to".to_owned());
        }
        // An IP-literal URL is connected to directly, without the resolver: it must be one of
        // the approved addresses too.
        if let Some(ip) = literal_ip(&url)
            && !request.addrs.iter().any(|addr| addr.ip() == ip)
        {
            return Err(format!("{ip} is not an approved address"));
        }
        let client = self.client(request).map_err(|e| describe(e, request))?;
        let mut post = client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid header name {name:?}"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("invalid value for header {name}"))?;
            post = post.header(name, value);
        }
        let post = post.body(request.body.clone());
        *started = Instant::now();
        let response = post.send().await.map_err(|e| describe(e, request))?;
        // The body is never read: dropping the response (and the client, which pools nothing)
        // closes the connection.
        Ok(response.status().as_u16())
    }
}

#[async_trait]
impl WebhookSender for ReqwestSender {
    async fn send(&self, request: WebhookRequest) -> WebhookResponse {
        let mut started = Instant::now();
        let outcome = self.post(&request, &mut started).await;
        let latency = started.elapsed();
        match outcome {
            Ok(status) => WebhookResponse {
                status: Some(status),
                latency,
                error: (!(200..300).contains(&status)).then(|| format!("HTTP {status}")),
            },
            Err(error) => WebhookResponse {
                status: None,
                latency,
                error: Some(error),
            },
        }
    }
}

/// Answers every lookup with the approved addresses, without asking DNS. (With no proxy and
/// no redirects, the only name ever looked up is the URL's host.)
struct Pinned(Vec<SocketAddr>);

impl Resolve for Pinned {
    fn resolve(&self, _name: Name) -> Resolving {
        let addrs = self.0.clone();
        Box::pin(async move {
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// A short description of a failed request: the error chain without the URL (its query
/// string may hold a merchant's token), bounded in length.
fn describe(error: reqwest::Error, request: &WebhookRequest) -> String {
    if error.is_timeout() {
        return format!("timeout after {}", human_duration(request.timeout));
    }
    let error = error.without_url();
    let mut text = String::from(if error.is_connect() {
        "connection failed"
    } else if error.is_builder() {
        "invalid request"
    } else {
        "request failed"
    });
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let message = cause.to_string();
        // hyper-util's "client error (Connect)" layer says nothing the kind does not.
        if !message.starts_with("client error (") && !text.ends_with(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    if let Some(query) = request.url.split_once('?').map(|(_, q)| q)
        && !query.is_empty()
    {
        text = text.replace(query, "…");
    }
    truncate(text, MAX_ERROR_LEN)
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// `10s`, `300ms`, `1500ms`.
pub(crate) fn human_duration(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human_duration(Duration::from_secs(10)), "10s");
        assert_eq!(human_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn long_errors_are_cut_on_a_character_boundary() {
        let text = "é".repeat(400);
        let cut = truncate(text, MAX_ERROR_LEN);
        assert!(cut.len() <= MAX_ERROR_LEN + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short".to_owned(), MAX_ERROR_LEN), "short");
    }

    #[test]
    fn ip_literals_are_recognised() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert_eq!(
            literal_ip(&url("https://203.0.113.9/x")),
            Some("203.0.113.9".parse().unwrap())
        );
        assert_eq!(
            literal_ip(&url("https://[2001:db8::1]:8443/x")),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(literal_ip(&url("https://hooks.example.com/x")), None);
    }

    #[tokio::test]
    async fn the_pinned_resolver_ignores_the_name() {
        let addrs: Vec<SocketAddr> = vec!["192.0.2.1:443".parse().unwrap()];
        let pinned = Pinned(addrs.clone());
        let name: Name = "anything.example".parse().unwrap();
        let resolved: Vec<SocketAddr> = pinned.resolve(name).await.unwrap().collect();
        assert_eq!(resolved, addrs);
    }
}
