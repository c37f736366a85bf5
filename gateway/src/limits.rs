//! Connection caps: per gateway and per client address, checked in the
//! handshake before a session is made. A refused handshake gets
//! `connect_error` with `rate_limited`; the client may retry later (or land
//! on another gateway).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use pixel_core::client_addr::TrustedProxies;

/// Live connection counts against their caps (0 = no cap).
#[derive(Debug, Default)]
pub struct ConnectionLimits {
    max_total: usize,
    max_per_address: usize,
    trusted_proxies: TrustedProxies,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it gives its place back.
#[derive(Debug)]
pub struct Admission {
    limits: Arc<ConnectionLimits>,
    address: Option<IpAddr>,
}

impl ConnectionLimits {
    pub fn new(max_total: usize, max_per_address: usize, trusted_proxies: TrustedProxies) -> Self {
        Self {
            max_total,
            max_per_address,
            trusted_proxies,
            counts: Mutex::default(),
        }
    }

    /// The client's address: the TCP peer, or the client a trusted proxy
    /// forwarded for (see [`pixel_core::client_addr`]). `None` when the
    /// peer is unknown.
    pub fn client_address(&self, req: &Parts) -> Option<IpAddr> {
        let peer = req.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
        Some(self.trusted_proxies.client_ip(peer, &req.headers))
    }

    /// Admits one more connection from `address`, or `None` when a cap is
    /// reached.
    pub fn admit(self: &Arc<Self>, address: Option<IpAddr>) -> Option<Admission> {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if self.max_total > 0 && c.total >= self.max_total {
            return None;
        }
        if let Some(a) = address.filter(|_| self.max_per_address > 0) {
            let n = c.by_address.entry(a).or_default();
            if *n >= self.max_per_address {
                return None;
            }
            *n += 1;
        }
        c.total += 1;
        Some(Admission {
            limits: self.clone(),
            address: address.filter(|_| self.max_per_address > 0),
        })
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut c = self.limits.counts.lock().unwrap_or_else(|e| e.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(a) = self.address
            && let Some(n) = c.by_address.get_mut(&a)
        {
            *n -= 1;
            if *n == 0 {
                c.by_address.remove(&a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_address_and_in_total_and_places_come_back() {
        let l = Arc::new(ConnectionLimits::new(3, 2, TrustedProxies::none()));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = l.admit(Some(a)).unwrap();
        let _a2 = l.admit(Some(a)).unwrap();
        assert!(l.admit(Some(a)).is_none(), "per address");
        let _b1 = l.admit(Some(b)).unwrap();
        assert!(l.admit(Some(b)).is_none(), "in total");
        drop(a1);
        assert!(l.admit(Some(a)).is_some());
    }
}
