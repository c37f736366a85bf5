//! The api's configuration, from the environment (see the README's table).

use pixel_core::client_addr::TrustedProxies;
use pixel_core::config::{AuthConfig, GameConfig, StoreConfig, TelemetryConfig};

use crate::accounts::AccountSettings;

/// Account settings beyond the shared auth ones.
#[derive(Debug, Clone, clap::Args)]
pub struct AccountsConfig {
    /// Refresh-token lifetime, in seconds.
    #[arg(long, env = "REFRESH_TOKEN_TTL_S", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl_s: u64,
    /// Refresh-token rotations allowed per login per minute.
    #[arg(long, env = "REFRESH_PER_MINUTE", default_value_t = 10)]
    pub refresh_per_minute: u32,
    /// Sign-ups allowed per client address per hour (0: no limit).
    #[arg(long, env = "SIGNUPS_PER_ADDRESS_HOUR", default_value_t = 20)]
    pub signups_per_address_hour: u32,
    /// Password hashes (argon2id, 19 MiB each) running at once; default:
    /// the number of CPUs.
    #[arg(long, env = "HASH_CONCURRENCY")]
    pub hash_concurrency: Option<usize>,
    /// Longest expected wait for a password-hashing slot, in milliseconds
    /// (estimated from the measured cost of a hash); a sign-up or login
    /// that would wait longer answers 503 at once.
    #[arg(long, env = "HASH_QUEUE_MS", default_value_t = 2000)]
    pub hash_queue_ms: u64,
    /// At most this many password hashes waiting for a slot, a backstop
    /// behind `HASH_QUEUE_MS` (which sheds a flood first); beyond it
    /// sign-up and login answer 503 at once.
    #[arg(long, env = "HASH_QUEUE", default_value_t = 10_000)]
    pub hash_queue: usize,
}

impl AccountsConfig {
    pub fn settings(&self) -> AccountSettings {
        let d = AccountSettings::default();
        AccountSettings {
            refresh_ttl_s: self.refresh_token_ttl_s,
            refresh_max: self.refresh_per_minute.max(1),
            signup_max_per_address: self.signups_per_address_hour,
            hash_concurrency: self.hash_concurrency.unwrap_or(d.hash_concurrency).max(1),
            hash_queue_ms: self.hash_queue_ms,
            hash_queue: Some(self.hash_queue),
            ..d
        }
    }
}

/// `pixel-api`: the REST service of the cluster.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "pixel-api", version, about, args_override_self = true)]
pub struct ApiConfig {
    /// Listen port.
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,
    /// Listen address.
    #[arg(long, env = "BIND_ADDR", default_value = "0.0.0.0")]
    pub bind_addr: std::net::IpAddr,
    /// Reverse proxies whose `X-Forwarded-For` / `X-Real-IP` name the
    /// client (comma-separated CIDRs or IPs; empty: trust nobody, the
    /// client is the TCP peer). Sign-ups per address count that client.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,
    #[command(flatten)]
    pub game: GameConfig,
    #[command(flatten)]
    pub auth: AuthConfig,
    #[command(flatten)]
    pub accounts: AccountsConfig,
    #[command(flatten)]
    pub store: StoreConfig,
    #[command(flatten)]
    pub telemetry: TelemetryConfig,
    #[command(flatten)]
    pub shutdown: pixel_core::http::ShutdownConfig,
}

impl pixel_core::http::ServiceConfig for ApiConfig {
    fn listen(&self) -> (std::net::IpAddr, u16) {
        (self.bind_addr, self.port)
    }

    fn log_format(&self) -> pixel_core::config::LogFormat {
        self.telemetry.log_format
    }
}
