//! Which URLs may receive webhooks (server-side request forgery guard).
//!
//! A merchant chooses the URL, and our functions run inside AWS next to the instance metadata
//! service and private networks, so a URL must never make us call anything private. In
//! production: `https` only, and neither a literal address nor any address its host resolves
//! to may be loopback, private, link-local (169.254.169.254 is the metadata service),
//! shared/CGNAT, multicast, reserved or otherwise non-public. The check runs at registration
//! and again before every delivery, because DNS can change; the delivery then connects to the
//! addresses that were checked, never resolving again (no DNS-rebinding window).
//!
//! The local gateway (`pixgw serve`) also accepts `http://localhost` and `http://127.0.0.1`
//! (and `[::1]`), so developers receive events on their machine. Every other non-public
//! address stays refused there too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use async_trait::async_trait;

/// Resolves a host name to its addresses (the system resolver in production; a table in tests).
#[async_trait]
pub trait HostResolver: Send + Sync {
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, String>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("url is not a valid absolute URL")]
    Invalid,
    #[error("url must use https")]
    NotHttps,
    #[error("url must not contain credentials, or a fragment")]
    ExtraParts,
    #[error("url must not point at a private, loopback, link-local or reserved address ({0})")]
    ForbiddenAddress(IpAddr),
    #[error("url host could not be resolved: {0}")]
    Unresolvable(String),
    #[error("url must be at most {MAX_URL_LEN} characters")]
    TooLong,
}

pub const MAX_URL_LEN: usize = 2048;

/// A URL that passed the syntax checks: what to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub host: String,
    pub port: u16,
    /// Set when the host is an IP literal (nothing to resolve).
    pub literal: Option<IpAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlPolicy {
    /// The local gateway: `http` and loopback targets are allowed.
    pub allow_loopback: bool,
}

impl UrlPolicy {
    pub const PRODUCTION: UrlPolicy = UrlPolicy {
        allow_loopback: false,
    };
    pub const LOCAL: UrlPolicy = UrlPolicy {
        allow_loopback: true,
    };

    /// Everything that can be checked without DNS.
    pub fn check_syntax(&self, raw: &str) -> Result<Target, UrlError> {
        if raw.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        let url = url::Url::parse(raw).map_err(|_| UrlError::Invalid)?;
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(UrlError::Invalid),
        };
        let host = url.host_str().ok_or(UrlError::Invalid)?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let is_local_host =
            host.eq_ignore_ascii_case("localhost") || literal.is_some_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if self.allow_loopback && is_local_host => {}
            _ => return Err(UrlError::NotHttps),
        }
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err(UrlError::ExtraParts);
        }
        if let Some(ip) = literal {
            self.check_address(ip)?;
        }
        let port = url.port_or_known_default().ok_or(UrlError::Invalid)?;
        Ok(Target {
            url: url.to_string(),
            host,
            port,
            literal,
        })
    }

    fn check_address(&self, ip: IpAddr) -> Result<(), UrlError> {
        if self.allow_loopback && canonical(ip).is_loopback() {
            return Ok(());
        }
        if is_public(ip) {
            Ok(())
        } else {
            Err(UrlError::ForbiddenAddress(ip))
        }
    }

    /// The full check: syntax, then every address the host resolves to. Returns the addresses
    /// the delivery must connect to (and only to).
    pub async fn check(
        &self,
        raw: &str,
        resolver: &dyn HostResolver,
    ) -> Result<(Target, Vec<SocketAddr>), UrlError> {
        let target = self.check_syntax(raw)?;
        let addresses = match target.literal {
            Some(ip) => vec![ip],
            None => resolver
                .resolve(&target.host, target.port)
                .await
                .map_err(UrlError::Unresolvable)?,
        };
        if addresses.is_empty() {
            return Err(UrlError::Unresolvable(target.host));
        }
        // One bad address refuses the URL: the connection could pick any of them.
        for ip in &addresses {
            self.check_address(*ip)?;
        }
        let port = target.port;
        let addrs = addresses
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect();
        Ok((target, addrs))
    }
}

/// IPv4-mapped / compatible / NAT64 / 6to4 IPv6 addresses reach an IPv4 host: judge that host.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated)
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail),
        [0, 0, 0, 0, 0, 0, _, _] if s[6] != 0 => Some(tail),
        // 64:ff9b::a.b.c.d (NAT64)
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        // 2002:AABB:CCDD::/48 (6to4)
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// Globally routable unicast only.
fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let forbidden = a == 0 // "this network"
        || a == 10 // private
        || a == 127 // loopback
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254) // link-local, incl. the metadata service
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168) // private
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224; // multicast, reserved, broadcast
    !forbidden
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let forbidden = ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00 // unique local, incl. fd00:ec2::254 (metadata)
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xff00) == 0xff00 // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only
        || s[0] == 0; // any other ::/16 form (v4-embedded ones were judged as IPv4 above)
    !forbidden
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFUSED: &[&str] = &[
        "127.0.0.1",
        "127.9.9.9",
        "10.0.0.1",
        "10.255.255.255",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.0.1",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fd00:ec2::254",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "2002:c0a8:0101::1",
        "ff02::1",
    ];

    const ALLOWED: &[&str] = &[
        "8.8.8.8",
        "1.1.1.1",
        "172.32.0.1",
        "172.15.255.255",
        "100.128.0.1",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
    ];

    #[test]
    fn only_public_addresses() {
        for ip in REFUSED {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!is_public(ip), "{ip} must be refused");
            assert_eq!(
                UrlPolicy::PRODUCTION.check_address(ip),
                Err(UrlError::ForbiddenAddress(ip))
            );
        }
        for ip in ALLOWED {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(is_public(ip), "{ip} must be allowed");
        }
    }

    #[test]
    fn production_wants_https_and_public_literals() {
        let p = UrlPolicy::PRODUCTION;
        assert!(p.check_syntax("https://hooks.example.com/pix").is_ok());
        assert_eq!(
            p.check_syntax("http://hooks.example.com/pix"),
            Err(UrlError::NotHttps)
        );
        assert_eq!(
            p.check_syntax("http://127.0.0.1:8080/hook"),
            Err(UrlError::NotHttps)
        );
        assert!(matches!(
            p.check_syntax("https://127.0.0.1/hook"),
            Err(UrlError::ForbiddenAddress(_))
        ));
        assert!(matches!(
            p.check_syntax("https://[::1]/hook"),
            Err(UrlError::ForbiddenAddress(_))
        ));
        assert!(matches!(
            p.check_syntax("https://169.254.169.254/latest/meta-data"),
            Err(UrlError::ForbiddenAddress(_))
        ));
        // Decimal and hex forms of an IPv4 address are normalised by the URL parser.
        assert!(matches!(
            p.check_syntax("https://2130706433/"),
            Err(UrlError::ForbiddenAddress(_))
        ));
        assert!(matches!(
            p.check_syntax("https://0x7f.0.0.1/"),
            Err(UrlError::ForbiddenAddress(_))
        ));
        assert_eq!(p.check_syntax("ftp://example.com"), Err(UrlError::NotHttps));
        assert_eq!(p.check_syntax("not a url"), Err(UrlError::Invalid));
        assert_eq!(
            p.check_syntax("https://user:pw@example.com/"),
            Err(UrlError::ExtraParts)
        );
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(p.check_syntax(&long), Err(UrlError::TooLong));
    }

    #[test]
    fn the_local_gateway_also_accepts_loopback_http() {
        let p = UrlPolicy::LOCAL;
        assert!(p.check_syntax("http://127.0.0.1:9000/hook").is_ok());
        assert!(p.check_syntax("http://localhost:9000/hook").is_ok());
        assert!(p.check_syntax("http://[::1]:9000/hook").is_ok());
        assert_eq!(
            p.check_syntax("http://example.com/hook"),
            Err(UrlError::NotHttps)
        );
        assert!(matches!(
            p.check_syntax("https://10.0.0.1/hook"),
            Err(UrlError::ForbiddenAddress(_))
        ));
    }

    struct Table(Vec<(&'static str, Vec<IpAddr>)>);

    #[async_trait]
    impl HostResolver for Table {
        async fn resolve(&self, host: &str, _port: u16) -> Result<Vec<IpAddr>, String> {
            self.0
                .iter()
                .find(|(name, _)| *name == host)
                .map(|(_, ips)| ips.clone())
                .ok_or_else(|| format!("{host}: no such host"))
        }
    }

    #[tokio::test]
    async fn host_names_are_judged_by_every_address_they_resolve_to() {
        let dns = Table(vec![
            ("public.example", vec!["93.184.216.34".parse().unwrap()]),
            (
                "sneaky.example",
                vec![
                    "93.184.216.34".parse().unwrap(),
                    "10.1.2.3".parse().unwrap(),
                ],
            ),
            ("metadata.example", vec!["169.254.169.254".parse().unwrap()]),
            ("v6loop.example", vec!["::1".parse().unwrap()]),
            ("localhost", vec!["127.0.0.1".parse().unwrap()]),
        ]);
        let p = UrlPolicy::PRODUCTION;
        let (target, addrs) = p
            .check("https://public.example:8443/x", &dns)
            .await
            .unwrap();
        assert_eq!(target.host, "public.example");
        assert_eq!(addrs, vec!["93.184.216.34:8443".parse().unwrap()]);
        for url in [
            "https://sneaky.example/",
            "https://metadata.example/",
            "https://v6loop.example/",
            "https://localhost/",
        ] {
            assert!(
                matches!(p.check(url, &dns).await, Err(UrlError::ForbiddenAddress(_))),
                "{url}"
            );
        }
        assert!(matches!(
            p.check("https://nowhere.example/", &dns).await,
            Err(UrlError::Unresolvable(_))
        ));
        assert!(
            UrlPolicy::LOCAL
                .check("http://localhost:1/", &dns)
                .await
                .is_ok()
        );
    }
}
