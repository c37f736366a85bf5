//! Configuration shared by the services, read from the environment (each
//! field also has a `--flag`). Every variable is listed in the README's
//! configuration table with its default; the Helm chart's values map onto
//! them one to one.

use std::fmt;
use std::str::FromStr;

use anyhow::{Context, bail};
use rand::RngCore;

use crate::domain::{BoardConfig, BoardId, DEFAULT_PALETTE};

/// A secret string that never prints.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Self(s)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// 32 random bytes, hex encoded.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// The default board `main` and the game's timings.
#[derive(Debug, Clone, clap::Args)]
pub struct GameConfig {
    /// Width of the default board `main`, in pixels.
    #[arg(long, env = "BOARD_WIDTH", default_value_t = 500)]
    pub board_width: u32,
    /// Height of the default board `main`, in pixels.
    #[arg(long, env = "BOARD_HEIGHT", default_value_t = 500)]
    pub board_height: u32,
    /// Wait between one user's placements, in milliseconds.
    #[arg(long, env = "COOLDOWN_MS", default_value_t = 5000)]
    pub cooldown_ms: u64,
    /// Lifetime of a pixel, in milliseconds.
    #[arg(long, env = "TTL_MS", default_value_t = 600_000)]
    pub ttl_ms: u64,
}

impl GameConfig {
    /// Largest side accepted: 4096² pixels keeps a snapshot and the linear
    /// pixel index well within bounds.
    pub const MAX_SIDE: u32 = 4096;

    pub fn boards(&self) -> anyhow::Result<Vec<BoardConfig>> {
        for (name, v) in [
            ("BOARD_WIDTH", self.board_width),
            ("BOARD_HEIGHT", self.board_height),
        ] {
            if v == 0 || v > Self::MAX_SIDE {
                bail!("{name} must be between 1 and {}, got {v}", Self::MAX_SIDE);
            }
        }
        // Times are i64 milliseconds; a century is more than any game needs
        // and keeps every `now + duration` far from overflow.
        const CENTURY_MS: u64 = 100 * 365 * 24 * 3600 * 1000;
        if self.ttl_ms == 0 || self.ttl_ms > CENTURY_MS {
            bail!(
                "TTL_MS must be between 1 and {CENTURY_MS}, got {}",
                self.ttl_ms
            );
        }
        if self.cooldown_ms > CENTURY_MS {
            bail!(
                "COOLDOWN_MS must be at most {CENTURY_MS}, got {}",
                self.cooldown_ms
            );
        }
        Ok(vec![BoardConfig {
            id: BoardId::parse("main").map_err(anyhow::Error::msg)?,
            width: self.board_width,
            height: self.board_height,
            palette: DEFAULT_PALETTE.iter().map(|s| s.to_string()).collect(),
            cooldown_ms: self.cooldown_ms,
            ttl_ms: self.ttl_ms,
        }])
    }
}

/// Access-token settings.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthConfig {
    /// HS256 signing key. Cluster: required, at least 32 bytes. Standalone:
    /// a random key per start when absent.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,
    /// Access-token lifetime, in seconds.
    #[arg(long, env = "ACCESS_TOKEN_TTL_S", default_value_t = 900)]
    pub access_token_ttl_s: u64,
}

impl AuthConfig {
    pub const MIN_SECRET_LEN: usize = 32;

    /// The secret a cluster service must be given.
    pub fn required_secret(&self) -> anyhow::Result<Secret> {
        let s = self
            .jwt_secret
            .clone()
            .context("JWT_SECRET is required in cluster mode")?;
        if s.expose().len() < Self::MIN_SECRET_LEN {
            bail!("JWT_SECRET must be at least {} bytes", Self::MIN_SECRET_LEN);
        }
        Ok(s)
    }

    /// The standalone server's secret: the given one, else a random one
    /// (tokens then die with the process).
    pub fn secret_or_random(&self) -> Secret {
        match &self.jwt_secret {
            Some(s) if !s.expose().is_empty() => {
                if s.expose().len() < Self::MIN_SECRET_LEN {
                    tracing::warn!(
                        "JWT_SECRET is shorter than {} bytes; use a longer one",
                        Self::MIN_SECRET_LEN
                    );
                }
                s.clone()
            }
            _ => {
                tracing::warn!(
                    "JWT_SECRET is not set: using a random key; tokens will not survive a restart"
                );
                Secret::random()
            }
        }
    }
}

/// Storage selection.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreConfig {
    /// Redis to use (`redis://host:port/db`). Absent: the standalone server
    /// keeps state in memory.
    /// (`--help` never prints its value: the URL may hold a password.)
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
}

impl StoreConfig {
    /// The Redis URL a cluster service cannot run without.
    pub fn required_url(&self, service: &str) -> anyhow::Result<&str> {
        self.redis_url.as_deref().with_context(|| {
            format!(
                "REDIS_URL is required for the {service} service; run `realtime-pixel` for the all-in-one server"
            )
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Logging settings (`RUST_LOG` is read by the filter directly).
#[derive(Debug, Clone, clap::Args)]
pub struct TelemetryConfig {
    /// Log output format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }

    #[test]
    fn board_sizes_are_bounded() {
        let mut g = GameConfig {
            board_width: 500,
            board_height: 500,
            cooldown_ms: 5000,
            ttl_ms: 600_000,
        };
        assert_eq!(g.boards().unwrap()[0].width, 500);
        g.board_width = 0;
        assert!(g.boards().is_err());
        g.board_width = 5000;
        assert!(g.boards().is_err());
        g.board_width = 500;
        g.ttl_ms = u64::MAX;
        assert!(g.boards().is_err());
        g.ttl_ms = 0;
        assert!(g.boards().is_err());
        g.ttl_ms = 1000;
        g.cooldown_ms = u64::MAX;
        assert!(g.boards().is_err());
    }

    #[test]
    fn cluster_secrets_must_be_long() {
        let mut a = AuthConfig {
            jwt_secret: None,
            access_token_ttl_s: 900,
        };
        assert!(a.required_secret().is_err());
        a.jwt_secret = Some(Secret::new("short".into()));
        assert!(a.required_secret().is_err());
        a.jwt_secret = Some(Secret::new("x".repeat(32)));
        assert!(a.required_secret().is_ok());
        assert_eq!(Secret::random().expose().len(), 64);
    }
}
