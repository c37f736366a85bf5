//! The client's address behind reverse proxies (`TRUSTED_PROXIES`).
//!
//! Per-address limits (sign-ups, connections) must count the client, not
//! the ingress or nginx in front of the service. The forwarding headers
//! that say who the client is can be written by anyone, so they are
//! believed only from the proxies listed in `TRUSTED_PROXIES`
//! (comma-separated CIDRs; a bare IP is a /32 or /128; empty trusts
//! nobody, the default).
//!
//! The rule, for a request whose TCP peer is `peer`:
//!
//! - `peer` is not a trusted proxy → the client is `peer`; the headers are
//!   ignored, whatever they say.
//! - `peer` is trusted and the request has `X-Forwarded-For` (all its
//!   header lines, in order, as one comma-separated list) → the hops are
//!   walked from the right (the one `peer` appended) to the left; the
//!   client is the first hop that is not a trusted proxy. When every hop
//!   is trusted, it is the left-most one.
//! - An unparsable hop (not an IP address, `unknown`, not UTF-8) ends the
//!   walk: the client is then the nearest trusted address to its right
//!   (the last hop walked, or `peer`). Nothing left of it is believed, as
//!   no trusted proxy vouches for it, and nothing panics.
//! - `peer` is trusted, no `X-Forwarded-For` → `X-Real-IP` if it parses,
//!   else `peer`.
//!
//! A hop may carry a port (`203.0.113.7:4711`, `[2001:db8::1]:4711`) as
//! some proxies write it. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, as
//! a dual-stack socket reports IPv4 peers) are taken as the IPv4 address,
//! both in the list and in the addresses compared, so `10.0.0.0/8` matches
//! a mapped peer and one client is never counted under two addresses.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;
use ipnet::{IpNet, Ipv4Net};

/// The proxies whose forwarding headers are believed; see the module doc.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Trusts nobody: the client is always the TCP peer.
    pub fn none() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request from `peer` with `headers`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let mut lines = headers.get_all("x-forwarded-for").iter().peekable();
        if lines.peek().is_none() {
            return headers
                .get("x-real-ip")
                .and_then(|v| parse_hop(v.as_bytes()))
                .unwrap_or(peer);
        }
        let mut nearest = peer;
        let hops = lines
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .flat_map(|line| line.as_bytes().rsplit(|&b| b == b','));
        for hop in hops {
            let Some(ip) = parse_hop(hop) else {
                return nearest;
            };
            if !self.contains(ip) {
                return ip;
            }
            nearest = ip;
        }
        nearest
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// `"10.0.0.0/8, 192.168.1.7, ::1/128"`; blank is the empty list.
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Ok(Self::none());
        }
        s.split(',')
            .map(parse_net)
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

/// One list entry: a CIDR or a bare address.
fn parse_net(entry: &str) -> Result<IpNet, String> {
    let e = entry.trim();
    let net = if e.contains('/') {
        e.parse::<IpNet>().ok()
    } else {
        e.parse::<IpAddr>().ok().map(IpNet::from)
    };
    let net = net.ok_or_else(|| {
        format!(
            "{e:?} is not an IP address or CIDR (expected e.g. 10.0.0.0/8, 192.168.1.7 or fd00::/8)"
        )
    })?;
    Ok(canonical_net(net.trunc()))
}

/// A hop of a forwarding header: an address, optionally with a port.
fn parse_hop(raw: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(raw).ok()?.trim();
    let ip = s
        .parse::<IpAddr>()
        .or_else(|_| s.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()?;
    Some(canonical(ip))
}

/// IPv4-mapped IPv6 as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// An IPv4-mapped IPv6 range (`::ffff:10.0.0.0/104`) as the IPv4 range it
/// maps, since addresses are compared in their IPv4 form.
fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && v6.prefix_len() >= 96
        && let Ok(n) = Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(n.trunc());
    }
    net
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(s: &str) -> TrustedProxies {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_its_headers_say() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-real-ip", "5.6.7.8")]);
        assert_eq!(
            TrustedProxies::none().client_ip(ip("9.9.9.9"), &h),
            ip("9.9.9.9")
        );
        assert_eq!(
            trusted("10.0.0.0/8").client_ip(ip("9.9.9.9"), &h),
            ip("9.9.9.9")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_client_is_the_right_most_untrusted_hop() {
        let t = trusted("10.0.0.0/8");
        // The client put a spoofed hop first; the proxy appended the real one.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7")]);
        assert_eq!(t.client_ip(ip("10.0.0.2"), &h), ip("203.0.113.7"));
    }

    #[test]
    fn two_trusted_proxies_in_a_row_are_skipped() {
        let t = trusted("10.0.0.0/8, 192.168.1.7");
        // client → 192.168.1.7 (CDN) → 10.0.0.2 (ingress) → service
        let h = headers(&[("x-forwarded-for", "6.6.6.6,203.0.113.7, 192.168.1.7")]);
        assert_eq!(t.client_ip(ip("10.0.0.2"), &h), ip("203.0.113.7"));
        // The same list split over two header lines.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 203.0.113.7"),
            ("x-forwarded-for", "192.168.1.7"),
        ]);
        assert_eq!(t.client_ip(ip("10.0.0.2"), &h), ip("203.0.113.7"));
    }

    #[test]
    fn when_every_hop_is_trusted_the_left_most_is_the_client() {
        let t = trusted("10.0.0.0/8");
        let h = headers(&[("x-forwarded-for", "10.1.1.1, 10.2.2.2")]);
        assert_eq!(t.client_ip(ip("10.0.0.2"), &h), ip("10.1.1.1"));
    }

    #[test]
    fn ipv6_peers_hops_and_ranges() {
        let t = trusted("fd00::/8, ::1");
        let h = headers(&[("x-forwarded-for", "2001:db8::1, fd00::5")]);
        assert_eq!(t.client_ip(ip("::1"), &h), ip("2001:db8::1"));
        let h = headers(&[("x-forwarded-for", "[2001:db8::2]:4711, 203.0.113.9:80")]);
        assert_eq!(t.client_ip(ip("fd12::1"), &h), ip("203.0.113.9"));
        assert_eq!(t.client_ip(ip("2001:db8::9"), &h), ip("2001:db8::9"));
    }

    #[test]
    fn ipv4_mapped_addresses_are_taken_as_ipv4() {
        let t = trusted("10.0.0.0/8");
        let h = headers(&[("x-forwarded-for", "::ffff:203.0.113.7")]);
        assert_eq!(t.client_ip(ip("::ffff:10.0.0.2"), &h), ip("203.0.113.7"));
        assert_eq!(
            TrustedProxies::none().client_ip(ip("::ffff:192.0.2.1"), &h),
            ip("192.0.2.1")
        );
        let mapped = trusted("::ffff:10.0.0.0/104");
        assert_eq!(mapped, trusted("10.0.0.0/8"));
    }

    #[test]
    fn x_real_ip_is_the_fallback_without_x_forwarded_for() {
        let t = trusted("127.0.0.1");
        let h = headers(&[("x-real-ip", " 203.0.113.7 ")]);
        assert_eq!(t.client_ip(ip("127.0.0.1"), &h), ip("203.0.113.7"));
        let h = headers(&[("x-real-ip", "garbage")]);
        assert_eq!(t.client_ip(ip("127.0.0.1"), &h), ip("127.0.0.1"));
        // With both, X-Forwarded-For decides.
        let h = headers(&[("x-real-ip", "5.6.7.8"), ("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(t.client_ip(ip("127.0.0.1"), &h), ip("203.0.113.7"));
        assert_eq!(
            t.client_ip(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn an_unparsable_hop_ends_the_walk_at_the_nearest_trusted_address() {
        let t = trusted("10.0.0.0/8");
        for xff in [
            "unknown",
            "",
            " , ",
            "1.2.3.4, bogus",
            "999.1.1.1",
            "1.2.3.4,,",
        ] {
            let h = headers(&[("x-forwarded-for", xff)]);
            assert_eq!(t.client_ip(ip("10.0.0.2"), &h), ip("10.0.0.2"), "{xff:?}");
        }
        let h = headers(&[("x-forwarded-for", "6.6.6.6, bogus, 10.3.3.3")]);
        assert_eq!(t.client_ip(ip("10.0.0.2"), &h), ip("10.3.3.3"));
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"6.6.6.6, \xff\xfe").unwrap(),
        );
        assert_eq!(t.client_ip(ip("10.0.0.2"), &h), ip("10.0.0.2"));
        let long = vec!["10.9.9.9"; 10_000].join(",");
        let h = headers(&[("x-forwarded-for", &long)]);
        assert_eq!(t.client_ip(ip("10.0.0.2"), &h), ip("10.9.9.9"));
    }

    #[test]
    fn the_list_parses_cidrs_and_bare_addresses_and_names_a_bad_entry() {
        let t = trusted(" 10.0.0.0/8 ,192.168.1.7, ::1/128,fd00::/8 ");
        assert!(t.contains(ip("10.255.0.1")));
        assert!(t.contains(ip("192.168.1.7")));
        assert!(!t.contains(ip("192.168.1.8")));
        assert!(t.contains(ip("::1")));
        assert!(t.contains(ip("fd00::1")));
        assert_eq!(t.to_string(), "10.0.0.0/8,192.168.1.7/32,::1/128,fd00::/8");
        // Host bits are dropped, as the range is meant.
        assert_eq!(trusted("10.1.2.3/8"), trusted("10.0.0.0/8"));
        assert!(trusted("").is_empty());
        assert!(trusted("  ").is_empty());
        for bad in [
            "10.0.0.0/99",
            "10.0.0.0/8,",
            "nginx",
            "10.0.0.0/8,,::1",
            "::1/129",
            "1.2.3",
        ] {
            let err = bad.parse::<TrustedProxies>().unwrap_err();
            assert!(err.contains("is not an IP address or CIDR"), "{bad}: {err}");
        }
        let err = "10.0.0.0/8, 10.0.0.0/99"
            .parse::<TrustedProxies>()
            .unwrap_err();
        assert!(err.contains("\"10.0.0.0/99\""), "{err}");
    }
}
