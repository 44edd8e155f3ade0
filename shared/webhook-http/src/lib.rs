//! HTTP adapters of the webhook ports: [`ReqwestSender`] (a
//! [`WebhookSender`](pixgw_domain::webhooks::WebhookSender)) and [`SystemResolver`] (a
//! [`HostResolver`](pixgw_domain::webhooks::url_policy::HostResolver)).
//!
//! A merchant chooses where its webhooks go, and the functions that POST them run inside AWS,
//! next to the instance metadata service (169.254.169.254) and private networks. The
//! [URL policy](pixgw_domain::webhooks::url_policy) resolves the URL's host with
//! [`SystemResolver`] and refuses any non-public address; this crate makes sure the POST then
//! goes exactly where the policy looked, and nowhere else:
//!
//! - **Pinned addresses, no second DNS lookup.** The HTTP client's resolver answers every
//!   lookup with the addresses in [`WebhookRequest::addrs`](pixgw_domain::webhooks::WebhookRequest)
//!   and never asks DNS. Resolving again at connect time would open a DNS-rebinding window:
//!   the host could answer the policy with a public address and the connection with
//!   127.0.0.1. The URL's host name is still what goes into the `Host` header, the TLS SNI
//!   and the certificate check, so HTTPS works normally. A URL whose host is an IP literal
//!   connects to that IP (which must be one of the approved addresses).
//! - **No redirects.** A 3xx is recorded as the delivery's (non-2xx) status and never
//!   followed: its `Location` could point anywhere, including a private address the policy
//!   never saw.
//! - **No proxies.** `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` in the environment are ignored, so
//!   a stray variable cannot send merchant traffic (and signatures) through another host, nor
//!   make the proxy connect to an address we never checked.
//! - **Bounded.** One total timeout per attempt (connect, TLS, request, response headers), no
//!   connection reuse between attempts, and the response body is never read: deliveries
//!   record the status and latency only.
//!
//! TLS is rustls with the aws-lc-rs provider (already linked by the AWS SDK) and the Mozilla
//! root store from `webpki-roots`, so the binaries need no system OpenSSL or CA bundle (Lambda
//! on arm64, cross-compiled).

mod resolver;
mod sender;

pub use resolver::SystemResolver;
pub use sender::{BuildError, ReqwestSender, USER_AGENT};
