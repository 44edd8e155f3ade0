//! `ReqwestSender` against real local servers: wiremock for HTTP, a raw TCP listener that never
//! answers, a closed port, and a rustls server with a throwaway certificate.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pixgw_domain::webhooks::{WebhookRequest, WebhookSender};
use pixgw_webhook_http::{ReqwestSender, USER_AGENT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BODY: &str = r#"{"id":"evt_01","type":"charge.paid","data":{"amount":"49.90"}}"#;

fn sender() -> ReqwestSender {
    ReqwestSender::new().expect("TLS config")
}

fn request(url: String, addr: SocketAddr) -> WebhookRequest {
    WebhookRequest {
        url,
        host: "127.0.0.1".to_owned(),
        addrs: vec![addr],
        headers: vec![
            ("webhook-id", "evt_01".to_owned()),
            ("webhook-timestamp", "1700000000".to_owned()),
            ("webhook-signature", "v1,abc= v1,def=".to_owned()),
        ],
        body: BODY.to_owned(),
        timeout: Duration::from_secs(5),
    }
}

async fn server_answering(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(status))
        .mount(&server)
        .await;
    server
}

/// A port nothing listens on.
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

#[tokio::test]
async fn a_2xx_is_a_success_with_its_latency() {
    let server = server_answering(200).await;
    let response = sender()
        .send(request(format!("{}/hook", server.uri()), *server.address()))
        .await;
    assert_eq!(response.status, Some(200));
    assert_eq!(response.error, None);
    assert!(response.latency > Duration::ZERO);
    assert!(response.latency < Duration::from_secs(5));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn any_other_status_is_recorded_with_an_error() {
    for status in [500, 404, 201, 301] {
        let server = server_answering(status).await;
        let response = sender()
            .send(request(format!("{}/hook", server.uri()), *server.address()))
            .await;
        assert_eq!(response.status, Some(status), "{status}");
        if (200..300).contains(&status) {
            assert_eq!(response.error, None);
        } else {
            assert_eq!(response.error, Some(format!("HTTP {status}")));
        }
    }
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("Location", format!("{}/elsewhere", server.uri())),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let response = sender()
        .send(request(format!("{}/hook", server.uri()), *server.address()))
        .await;
    assert_eq!(response.status, Some(302));
    assert_eq!(response.error.as_deref(), Some("HTTP 302"));
    let received = server.received_requests().await.unwrap();
    let paths: Vec<&str> = received.iter().map(|r| r.url.path()).collect();
    assert_eq!(paths, ["/hook"]);
}

#[tokio::test]
async fn the_request_carries_the_exact_body_and_every_header() {
    let server = server_answering(204).await;
    let req = request(
        format!("{}/hook?account=acc_1", server.uri()),
        *server.address(),
    );
    let response = sender().send(req.clone()).await;
    assert_eq!(response.status, Some(204));

    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    let got = &received[0];
    assert_eq!(got.method.as_str(), "POST");
    assert_eq!(got.url.path(), "/hook");
    assert_eq!(got.url.query(), Some("account=acc_1"));
    assert_eq!(got.body, BODY.as_bytes());
    let header = |name: &str| {
        let values: Vec<&str> = got
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        values
    };
    assert_eq!(header("content-type"), ["application/json"]);
    assert_eq!(header("user-agent"), [USER_AGENT]);
    assert_eq!(header("user-agent"), ["pixgw-webhooks/1"]);
    assert_eq!(header("content-length"), [BODY.len().to_string()]);
    for (name, value) in &req.headers {
        assert_eq!(header(name), [value.as_str()], "{name}");
    }
}

#[tokio::test]
async fn the_host_name_is_never_resolved_the_pinned_address_is_used() {
    // `.invalid` never resolves (RFC 2606): only the pinned address can make this arrive.
    let server = server_answering(200).await;
    let port = server.address().port();
    let mut req = request(
        format!("http://hooks.pixgw.invalid:{port}/hook"),
        *server.address(),
    );
    req.host = "hooks.pixgw.invalid".to_owned();
    let response = sender().send(req).await;
    assert_eq!(response.status, Some(200), "{:?}", response.error);
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    let host = received[0].headers.get("host").unwrap().to_str().unwrap();
    assert_eq!(host, format!("hooks.pixgw.invalid:{port}"));
}

#[tokio::test]
async fn an_ip_literal_outside_the_approved_addresses_is_not_contacted() {
    let server = server_answering(200).await;
    let elsewhere: SocketAddr = "192.0.2.1:443".parse().unwrap();
    let response = sender()
        .send(request(format!("{}/hook", server.uri()), elsewhere))
        .await;
    assert_eq!(response.status, None);
    assert_eq!(
        response.error.as_deref(),
        Some("127.0.0.1 is not an approved address")
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn no_approved_address_means_no_connection() {
    let server = server_answering(200).await;
    let mut req = request(format!("{}/hook", server.uri()), *server.address());
    req.addrs.clear();
    let response = sender().send(req).await;
    assert_eq!(response.status, None);
    assert!(response.error.is_some());
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accept and read, never write; keep every connection open.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            held.push(socket);
        }
    });
    let mut req = request(format!("http://127.0.0.1:{}/hook", addr.port()), addr);
    req.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let response = sender().send(req).await;
    let elapsed = started.elapsed();
    assert_eq!(response.status, None);
    assert_eq!(response.error.as_deref(), Some("timeout after 300ms"));
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert!(response.latency >= Duration::from_millis(300));
}

#[tokio::test]
async fn a_refused_connection_is_an_error_without_the_query_string() {
    let addr = closed_port().await;
    let url = format!(
        "http://hooks.pixgw.invalid:{}/hook?token=s3cr3t",
        addr.port()
    );
    let response = sender().send(request(url, addr)).await;
    assert_eq!(response.status, None);
    let error = response.error.unwrap();
    assert!(error.starts_with("connection failed"), "{error}");
    assert!(error.to_lowercase().contains("refused"), "{error}");
    assert!(!error.contains("s3cr3t"), "{error}");
    assert!(!error.contains("hooks.pixgw.invalid"), "{error}");
}

#[tokio::test]
async fn an_invalid_header_value_is_an_error_not_a_request() {
    let server = server_answering(200).await;
    let mut req = request(format!("{}/hook", server.uri()), *server.address());
    req.headers
        .push(("webhook-signature", "v1,abc\r\nx-injected: 1".to_owned()));
    let response = sender().send(req).await;
    assert_eq!(response.status, None);
    assert_eq!(
        response.error.as_deref(),
        Some("invalid value for header webhook-signature")
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// A one-shot HTTPS server for `name` on 127.0.0.1: answers 204 and reports the SNI it saw.
async fn tls_server(
    name: &str,
) -> (
    SocketAddr,
    rustls::pki_types::CertificateDer<'static>,
    tokio::sync::oneshot::Receiver<Option<String>>,
) {
    let certified = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (sni_tx, sni_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let Ok((socket, _)) = listener.accept().await else {
            return;
        };
        let mut tls = match acceptor.accept(socket).await {
            Ok(tls) => tls,
            Err(_) => {
                let _ = sni_tx.send(None);
                return;
            }
        };
        let _ = sni_tx.send(tls.get_ref().1.server_name().map(str::to_owned));
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let _ = tls
            .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
        let _ = tls.shutdown().await;
    });
    (addr, cert, sni_rx)
}

#[tokio::test]
async fn https_checks_the_host_name_while_connecting_to_the_pinned_address() {
    let (addr, cert, sni) = tls_server("hooks.pixgw.invalid").await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let sender = ReqwestSender::with_root_certificates(roots).unwrap();
    let mut req = request(
        format!("https://hooks.pixgw.invalid:{}/hook", addr.port()),
        addr,
    );
    req.host = "hooks.pixgw.invalid".to_owned();
    let response = sender.send(req).await;
    assert_eq!(response.status, Some(204), "{:?}", response.error);
    assert_eq!(response.error, None);
    assert_eq!(sni.await.unwrap().as_deref(), Some("hooks.pixgw.invalid"));
}

#[tokio::test]
async fn https_refuses_a_certificate_the_roots_do_not_vouch_for() {
    let (addr, _cert, _sni) = tls_server("hooks.pixgw.invalid").await;
    let mut req = request(
        format!(
            "https://hooks.pixgw.invalid:{}/hook?token=s3cr3t",
            addr.port()
        ),
        addr,
    );
    req.host = "hooks.pixgw.invalid".to_owned();
    let response = sender().send(req).await;
    assert_eq!(response.status, None);
    let error = response.error.unwrap();
    assert!(error.contains("certificate"), "{error}");
    assert!(!error.contains("s3cr3t"), "{error}");
}

#[tokio::test]
async fn https_refuses_a_certificate_for_another_name() {
    let (addr, cert, _sni) = tls_server("other.pixgw.invalid").await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let sender = ReqwestSender::with_root_certificates(roots).unwrap();
    let mut req = request(
        format!("https://hooks.pixgw.invalid:{}/hook", addr.port()),
        addr,
    );
    req.host = "hooks.pixgw.invalid".to_owned();
    let response = sender.send(req).await;
    assert_eq!(response.status, None);
    let error = response.error.unwrap();
    assert!(error.contains("certificate"), "{error}");
}
