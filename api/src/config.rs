//! The api's configuration, from the environment (see the README's table).

use pixel_core::config::{AuthConfig, GameConfig, StoreConfig, TelemetryConfig};

use crate::accounts::AccountSettings;

/// Account settings beyond the shared auth ones.
#[derive(Debug, Clone, clap::Args)]
pub struct AccountsConfig {
    /// Refresh-token lifetime, in seconds.
    #[arg(long, env = "REFRESH_TOKEN_TTL_S", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl_s: u64,
}

impl AccountsConfig {
    pub fn settings(&self) -> AccountSettings {
        AccountSettings {
            refresh_ttl_s: self.refresh_token_ttl_s,
            ..AccountSettings::default()
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
}
