//! Socket limits and the gateway binary's configuration.

use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::HeaderValue;
use pixel_core::client_addr::TrustedProxies;
use pixel_core::config::{AuthConfig, GameConfig, StoreConfig, TelemetryConfig};

/// Limits that keep one client from hurting the others.
#[derive(Debug, Clone, clap::Args)]
pub struct SocketSettings {
    /// Sustained events per second one socket may send.
    #[arg(long, env = "SOCKET_EVENT_RATE", default_value_t = NonZeroU32::new(20).unwrap())]
    pub socket_event_rate: NonZeroU32,
    /// Events one socket may send in a burst above the sustained rate.
    #[arg(long, env = "SOCKET_EVENT_BURST", default_value_t = NonZeroU32::new(40).unwrap())]
    pub socket_event_burst: NonZeroU32,
    /// Largest Socket.IO message (WebSocket message or polling body), in
    /// bytes. Socketioxide's own default is 64 MiB; the contract's events
    /// are a few hundred bytes.
    #[arg(long, env = "MAX_PAYLOAD_BYTES", default_value_t = 16 * 1024)]
    pub max_payload_bytes: usize,
    /// Packets buffered per socket before emits to it fail (a slow reader;
    /// it then gets a `resync`). Not smaller: a client may pipeline a few
    /// hundred events, and every one must get its ack — socketioxide queues
    /// acks with a non-blocking `try_send`, so a burst beyond this drops
    /// them (`InternalChannelFull`). It costs an idle socket nothing (the
    /// channel allocates as it fills); it bounds a stalled one.
    #[arg(long, env = "SOCKET_BUFFER_PACKETS", default_value_t = 1024)]
    pub socket_buffer_packets: usize,
    /// Initial read buffer of a WebSocket connection, in bytes (tungstenite's
    /// `read_buffer_size`; socketioxide's default is 4096). Every idle
    /// socket holds it; a longer message grows it as needed (up to
    /// MAX_PAYLOAD_BYTES), so a small one costs only read calls.
    #[arg(
        long,
        env = "WS_READ_BUFFER_BYTES",
        default_value_t = 1024,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(64..)
    )]
    pub ws_read_buffer_bytes: usize,
    /// The relay's batching window, in milliseconds: after a busy read of a
    /// board's feed (two or more updates waiting), the next waits this
    /// long, so a busy board sends about one event a window carrying all it
    /// gathered (fewer, bigger events: less CPU and fewer bytes per update)
    /// and an update waits at most this long more. After a read of one
    /// update (a lone placement) the next does not wait. 0: no window.
    #[arg(
        long,
        env = "RELAY_BATCH_MS",
        default_value_t = 50,
        value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(0..=1000)
    )]
    pub relay_batch_ms: u64,
    /// Most Socket.IO connections this gateway holds (0: no cap).
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 20_000)]
    pub max_connections: usize,
    /// Most Socket.IO connections from one client address (0: no cap).
    #[arg(long, env = "MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 32)]
    pub max_connections_per_address: usize,
    /// Reverse proxies whose `X-Forwarded-For` / `X-Real-IP` name the
    /// client (comma-separated CIDRs or IPs; empty: trust nobody, the
    /// client is the TCP peer). Per-address limits count that client. The
    /// standalone server's api reads it from here too.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,
    /// Placements one gateway has in flight to the store before it refuses
    /// new ones at once with `busy` (nothing changed, retry shortly)
    /// instead of queuing them for seconds.
    #[arg(long, env = "PLACE_CONCURRENCY", default_value_t = 256)]
    pub place_concurrency: usize,
    /// Engine.IO ping interval, in milliseconds.
    #[arg(long, env = "PING_INTERVAL_MS", default_value_t = 25_000)]
    pub ping_interval_ms: u64,
    /// Engine.IO ping timeout, in milliseconds.
    #[arg(long, env = "PING_TIMEOUT_MS", default_value_t = 20_000)]
    pub ping_timeout_ms: u64,
    /// Time a connection has to join the Socket.IO namespace after its
    /// Engine.IO handshake before it is closed, in milliseconds.
    #[arg(
        long,
        env = "CONNECT_TIMEOUT_MS",
        default_value_t = 45_000,
        value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(1..)
    )]
    pub connect_timeout_ms: u64,
    /// Origins (`scheme://host[:port]`, comma-separated) whose pages may
    /// reach Socket.IO across origins, credentials included, as socket.io's
    /// `cors: { origin: [...], credentials: true }`: preflights are answered
    /// and listed origins are echoed. Empty: no CORS headers at all.
    #[arg(long, env = "CORS_ORIGINS", default_value = "")]
    pub cors_origins: CorsOrigins,
}

/// The origins of `CORS_ORIGINS`; empty (the default, also an empty value
/// as compose and the chart pass it) means no CORS layer at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsOrigins(Vec<HeaderValue>);

impl CorsOrigins {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &HeaderValue> {
        self.0.iter()
    }
}

impl std::str::FromStr for CorsOrigins {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        s.split(',')
            .map(parse_origin)
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// An origin as browsers send it: a scheme, a host and maybe a port.
fn parse_origin(s: &str) -> Result<HeaderValue, String> {
    let s = s.trim();
    let uri: axum::http::Uri = s
        .parse()
        .map_err(|e| format!("{s:?} is not an origin: {e}"))?;
    let valid = matches!(uri.scheme_str(), Some("http" | "https"))
        && uri.authority().is_some_and(|a| !a.as_str().contains('@'))
        && uri
            .path_and_query()
            .is_none_or(|p| p.as_str().is_empty() || p.as_str() == "/")
        && !s.ends_with('/');
    if !valid {
        return Err(format!(
            "{s:?} is not an origin (scheme://host[:port], no path)"
        ));
    }
    HeaderValue::from_str(s).map_err(|e| format!("{s:?} is not an origin: {e}"))
}

impl SocketSettings {
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms)
    }

    pub fn ping_timeout(&self) -> Duration {
        Duration::from_millis(self.ping_timeout_ms)
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub fn relay_batch(&self) -> Duration {
        Duration::from_millis(self.relay_batch_ms)
    }
}

/// `pixel-gateway`: a Socket.IO replica of the cluster.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "pixel-gateway", version, about, args_override_self = true)]
pub struct GatewayConfig {
    /// Listen port.
    #[arg(long, env = "PORT", default_value_t = 3001)]
    pub port: u16,
    /// Listen address.
    #[arg(long, env = "BIND_ADDR", default_value = "0.0.0.0")]
    pub bind_addr: std::net::IpAddr,
    #[command(flatten)]
    pub socket: SocketSettings,
    #[command(flatten)]
    pub game: GameConfig,
    #[command(flatten)]
    pub auth: AuthConfig,
    #[command(flatten)]
    pub store: StoreConfig,
    #[command(flatten)]
    pub telemetry: TelemetryConfig,
    #[command(flatten)]
    pub shutdown: pixel_core::http::ShutdownConfig,
}

impl pixel_core::http::ServiceConfig for GatewayConfig {
    fn listen(&self) -> (std::net::IpAddr, u16) {
        (self.bind_addr, self.port)
    }

    fn log_format(&self) -> pixel_core::config::LogFormat {
        self.telemetry.log_format
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Settings {
        #[command(flatten)]
        socket: SocketSettings,
    }

    #[test]
    fn the_websocket_read_buffer_is_small_by_default_and_not_below_64_bytes() {
        let s = Settings::try_parse_from(["t"]).unwrap();
        assert_eq!(s.socket.ws_read_buffer_bytes, 1024);
        let s = Settings::try_parse_from(["t", "--ws-read-buffer-bytes", "64"]).unwrap();
        assert_eq!(s.socket.ws_read_buffer_bytes, 64);
        assert!(Settings::try_parse_from(["t", "--ws-read-buffer-bytes", "63"]).is_err());
    }

    #[test]
    fn cors_origins_are_a_comma_separated_list_of_origins_and_none_by_default() {
        let s = Settings::try_parse_from(["t"]).unwrap();
        assert!(s.socket.cors_origins.is_empty());
        assert_eq!(s.socket.connect_timeout_ms, 45_000);
        let s = Settings::try_parse_from([
            "t",
            "--cors-origins",
            "https://a.example,http://localhost:5173",
        ])
        .unwrap();
        assert_eq!(
            s.socket.cors_origins.iter().collect::<Vec<_>>(),
            ["https://a.example", "http://localhost:5173"]
        );
        let s = Settings::try_parse_from(["t", "--cors-origins", ""]).unwrap();
        assert!(s.socket.cors_origins.is_empty(), "an empty value is none");
        for bad in [
            "a.example",
            "https://a.example/path",
            "https://a.example/",
            "ftp://a",
            "*",
            "https://a.example,",
        ] {
            assert!(
                Settings::try_parse_from(["t", "--cors-origins", bad]).is_err(),
                "{bad}"
            );
        }
        assert!(Settings::try_parse_from(["t", "--connect-timeout-ms", "0"]).is_err());
    }

    #[test]
    fn the_relay_batching_window_is_at_most_a_second_and_may_be_off() {
        let s = Settings::try_parse_from(["t"]).unwrap();
        assert_eq!(s.socket.relay_batch(), Duration::from_millis(50));
        let s = Settings::try_parse_from(["t", "--relay-batch-ms", "0"]).unwrap();
        assert!(s.socket.relay_batch().is_zero());
        let s = Settings::try_parse_from(["t", "--relay-batch-ms", "1000"]).unwrap();
        assert_eq!(s.socket.relay_batch_ms, 1000);
        for bad in ["1001", "-1", "ten", ""] {
            assert!(
                Settings::try_parse_from(["t", "--relay-batch-ms", bad]).is_err(),
                "{bad}"
            );
        }
    }
}
