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
    /// Redis to use (`redis://[user:password@]host:port/db`, `rediss://…`
    /// for TLS, `unix:///path`). Absent: the standalone server keeps state
    /// in memory. Checked at start: a malformed URL is refused at once.
    /// (`--help` never prints its value: the URL may hold a password.)
    #[arg(long, env = "REDIS_URL", hide_env_values = true, value_parser = parse_redis_url)]
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

/// A `REDIS_URL` as the Redis clients will read it. The message never
/// repeats the URL, which may hold a password.
pub fn parse_redis_url(raw: &str) -> Result<String, String> {
    use redis::IntoConnectionInfo;
    let scheme = raw.split_once("://").map(|(s, _)| s);
    if !matches!(
        scheme,
        Some("redis" | "rediss" | "unix" | "redis+unix" | "valkey" | "valkeys")
    ) {
        return Err(
            "not a Redis URL: expected redis://[user:password@]host[:port][/db], \
             rediss://… (TLS) or unix:///path/to/socket"
                .into(),
        );
    }
    raw.into_connection_info()
        .map_err(|e| format!("not a valid Redis URL ({e})"))?;
    Ok(raw.to_owned())
}

/// Parses the service's settings from its command line and environment.
/// `--help` and `--version` print and exit 0 as usual; a malformed
/// setting exits 2 with one line that names it (its variable and its
/// flag), and its value unless the value is secret. No backtrace, no retry.
pub fn parse_or_exit<T: clap::Parser>() -> T {
    T::try_parse().unwrap_or_else(|e| {
        use clap::error::ErrorKind;
        if matches!(
            e.kind(),
            ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        ) {
            e.exit()
        }
        let cmd = T::command();
        eprintln!("{}: {}", cmd.get_name(), setting_error(&e, &cmd));
        std::process::exit(2)
    })
}

/// One line for a settings error: `invalid PORT (--port) value "x":
/// invalid digit found in string`.
pub fn setting_error(e: &clap::Error, cmd: &clap::Command) -> String {
    use clap::error::{ContextKind, ContextValue};
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => Some(v.join(", ")),
        _ => None,
    };
    let rendered = e.render().to_string();
    let first_line = rendered
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_owned();
    let Some(invalid) = context(ContextKind::InvalidArg) else {
        return first_line;
    };
    let arg = cmd.get_arguments().find(|a| {
        a.get_long()
            .is_some_and(|l| invalid == format!("--{l}") || invalid.starts_with(&format!("--{l} ")))
    });
    let Some(arg) = arg else {
        return first_line;
    };
    let flag = format!("--{}", arg.get_long().unwrap_or_default());
    let name = match arg.get_env() {
        Some(env) => format!("{} ({flag})", env.to_string_lossy()),
        None => flag,
    };
    let value = match context(ContextKind::InvalidValue) {
        Some(_) if arg.is_hide_env_values_set() => " value (not shown: secret)".to_owned(),
        Some(v) => format!(" value {v:?}"),
        None => String::new(),
    };
    let reason = std::error::Error::source(e)
        .map(|s| s.to_string())
        .or_else(|| context(ContextKind::ValidValue).map(|v| format!("expected one of {v}")))
        .unwrap_or_else(|| first_line.clone());
    format!("invalid {name}{value}: {reason}")
}

/// What a service's `main` returns: an error after the settings parsed
/// (a missing `JWT_SECRET`, a port in use, Redis never came up) is printed
/// as one line with its causes (`error: …: …`), exit status 1, never a
/// backtrace.
pub fn exit_status(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
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
    fn redis_urls_are_checked_without_repeating_them() {
        for ok in [
            "redis://127.0.0.1:6379/",
            "redis://:pw@redis:6379/2?protocol=resp3",
            "rediss://user:pw@redis.example.com:6380/0",
            "unix:///run/redis.sock",
        ] {
            assert_eq!(parse_redis_url(ok).as_deref(), Ok(ok));
        }
        for bad in [
            "not a url",
            "127.0.0.1:6379",
            "http://redis:6379",
            "redis://:hunter2@redis:6379/notadb",
            "",
        ] {
            let err = parse_redis_url(bad).unwrap_err();
            assert!(err.contains("Redis URL"), "{bad}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn a_bad_setting_is_one_line_naming_its_variable_and_flag() {
        use clap::{CommandFactory, Parser};
        #[derive(Debug, Parser)]
        struct Settings {
            #[command(flatten)]
            store: StoreConfig,
            #[command(flatten)]
            game: GameConfig,
            #[command(flatten)]
            telemetry: TelemetryConfig,
        }
        let line = |args: &[&str]| {
            let e = Settings::try_parse_from(args).unwrap_err();
            setting_error(&e, &Settings::command())
        };
        let l = line(&["t", "--board-width", "wide"]);
        assert!(
            l.starts_with("invalid BOARD_WIDTH (--board-width) value \"wide\": "),
            "{l}"
        );
        assert!(!l.contains('\n'), "{l}");
        let l = line(&["t", "--redis-url", "redis://:hunter2@h:1/x"]);
        assert!(l.contains("REDIS_URL (--redis-url)"), "{l}");
        assert!(!l.contains("hunter2"), "{l}");
        let l = line(&["t", "--log-format", "xml"]);
        assert!(
            l.contains("LOG_FORMAT (--log-format)") && l.contains("json"),
            "{l}"
        );
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
