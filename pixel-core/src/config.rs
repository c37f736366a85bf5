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

/// The boards (`main` by default) and the game's timings.
#[derive(Debug, Clone, clap::Args)]
pub struct GameConfig {
    /// The boards served, comma-separated ids (each 1–64 of
    /// `[A-Za-z0-9_-]`), all of the size, timings and tile size below.
    #[arg(long, env = "BOARD_IDS", default_value = "main")]
    pub board_ids: String,
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
    /// Side of a viewport tile of the board `main`, in pixels (a power of
    /// two, 8–4096).
    #[arg(long, env = "BOARD_TILE_SIZE", default_value_t = 256)]
    pub board_tile_size: u32,
}

impl GameConfig {
    /// Largest side accepted: 4096² pixels keeps a snapshot and the linear
    /// pixel index well within bounds.
    pub const MAX_SIDE: u32 = 4096;
    /// Most boards one deployment serves (each has a relay per gateway and
    /// a sweep per worker).
    pub const MAX_BOARDS: usize = 64;

    /// The ids of `BOARD_IDS`: well-formed, unique, at least one.
    fn ids(&self) -> anyhow::Result<Vec<BoardId>> {
        let mut ids: Vec<BoardId> = Vec::new();
        for raw in self.board_ids.split(',') {
            let raw = raw.trim();
            let id =
                BoardId::parse(raw).map_err(|e| anyhow::anyhow!("BOARD_IDS: {e}, got {raw:?}"))?;
            if ids.contains(&id) {
                bail!("BOARD_IDS names {id} twice");
            }
            ids.push(id);
        }
        if ids.len() > Self::MAX_BOARDS {
            bail!(
                "BOARD_IDS names {} boards, at most {} are served",
                ids.len(),
                Self::MAX_BOARDS
            );
        }
        Ok(ids)
    }

    pub fn boards(&self) -> anyhow::Result<Vec<BoardConfig>> {
        for (name, v) in [
            ("BOARD_WIDTH", self.board_width),
            ("BOARD_HEIGHT", self.board_height),
        ] {
            if v == 0 || v > Self::MAX_SIDE {
                bail!("{name} must be between 1 and {}, got {v}", Self::MAX_SIDE);
            }
        }
        if !BoardConfig::valid_tile_size(self.board_tile_size) {
            bail!(
                "BOARD_TILE_SIZE must be a power of two between {} and {}, got {}",
                BoardConfig::MIN_TILE_SIZE,
                BoardConfig::MAX_TILE_SIZE,
                self.board_tile_size
            );
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
        Ok(self
            .ids()?
            .into_iter()
            .map(|id| BoardConfig {
                id,
                width: self.board_width,
                height: self.board_height,
                palette: DEFAULT_PALETTE.iter().map(|s| s.to_string()).collect(),
                cooldown_ms: self.cooldown_ms,
                ttl_ms: self.ttl_ms,
                tile_size: self.board_tile_size,
            })
            .collect())
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
    /// Replicas that must have a write (a placement, a sign-up, a refresh
    /// token) before it is acked; 0 acks once the primary has it. With
    /// fewer replicas in sync, writes are refused as `unavailable`.
    #[arg(long, env = "REDIS_MIN_REPLICAS_ACKED", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=64))]
    pub min_replicas_acked: u32,
    /// How long a write waits for those replicas before it is answered
    /// "may have been applied" (below the 2 s Redis response timeout).
    #[arg(long, env = "REDIS_REPLICA_ACK_TIMEOUT_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(10..=1500))]
    pub replica_ack_timeout_ms: u64,
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
    if SentinelUrl::parse(raw)?.is_some() || ClusterUrl::parse(raw)?.is_some() {
        return Ok(raw.to_owned());
    }
    let scheme = raw.split_once("://").map(|(s, _)| s);
    if !matches!(
        scheme,
        Some("redis" | "rediss" | "unix" | "redis+unix" | "valkey" | "valkeys")
    ) {
        return Err(
            "not a Redis URL: expected redis://[user:password@]host[:port][/db], \
             rediss://… (TLS), unix:///path/to/socket or \
             redis+sentinel://[user:password@]host[:port],…/<master-name>[/db] or \
             redis+cluster://[user:password@]host[:port],…"
                .into(),
        );
    }
    raw.into_connection_info()
        .map_err(|e| format!("not a valid Redis URL ({e})"))?;
    Ok(raw.to_owned())
}

/// Where a `REDIS_URL` points, for logs: the URL without its
/// credentials (`redis://:secret@redis:6379/0` → `redis://redis:6379/0`).
pub fn redis_url_target(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return "(not a URL)".into();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let rest = match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    format!("{scheme}://{rest}")
}

/// The sentinels' default port.
pub const SENTINEL_PORT: u16 = 26379;

/// A `redis+sentinel://[user:password@]host[:port][,host[:port]…]/<master>[/db]`
/// URL (`rediss+sentinel://` for TLS to the data nodes): the services ask
/// the sentinels which node is the primary of `master`, and ask again after
/// a failover. The credentials and the database are the data nodes'; the
/// sentinels are asked without credentials (TLS when the scheme says so).
#[derive(Clone, PartialEq, Eq)]
pub struct SentinelUrl {
    pub tls: bool,
    /// `user:password` as written in the URL (still percent-encoded), so
    /// that a data node's URL can be built from it.
    userinfo: Option<String>,
    pub sentinels: Vec<(String, u16)>,
    pub master: String,
    pub db: i64,
}

impl fmt::Debug for SentinelUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentinelUrl")
            .field("tls", &self.tls)
            .field(
                "credentials",
                &self.userinfo.as_ref().map(|_| "(not shown)"),
            )
            .field("sentinels", &self.sentinels)
            .field("master", &self.master)
            .field("db", &self.db)
            .finish()
    }
}

impl SentinelUrl {
    /// `Ok(None)` for a URL of another scheme; an error (that never repeats
    /// the URL) for a malformed Sentinel URL.
    pub fn parse(raw: &str) -> Result<Option<Self>, String> {
        const FORM: &str = "expected redis+sentinel://[user:password@]host[:port][,host[:port]…]/<master-name>[/db]";
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Ok(None);
        };
        let tls = match scheme {
            "redis+sentinel" => false,
            "rediss+sentinel" => true,
            _ => return Ok(None),
        };
        let bad = |why: &str| Err(format!("not a valid Redis Sentinel URL ({why}): {FORM}"));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_owned()), h),
            None => (None, authority),
        };
        if userinfo
            .as_deref()
            .is_some_and(|u| u.is_empty() || u.contains('/'))
        {
            return bad("empty or malformed credentials");
        }
        let sentinels = match parse_hosts(hosts, SENTINEL_PORT, "sentinel") {
            Ok(h) => h,
            Err(why) => return bad(&why),
        };
        let mut parts = path.split('/');
        let master = parts.next().unwrap_or_default();
        if master.is_empty()
            || !master
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return bad("the master name is missing or malformed");
        }
        let db = match parts.next() {
            None | Some("") => 0,
            Some(d) => match d.parse::<i64>() {
                Ok(db) if db >= 0 => db,
                _ => return bad("the database is not a number"),
            },
        };
        if parts.next().is_some_and(|p| !p.is_empty()) || path.contains('?') {
            return bad("unexpected text after the database");
        }
        Ok(Some(Self {
            tls,
            userinfo,
            sentinels,
            master: master.to_owned(),
            db,
        }))
    }

    /// The URL of one sentinel (no credentials, no database).
    pub fn sentinel_url(&self, host: &str, port: u16) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://{}:{port}/", bracket(host))
    }

    /// The URL of a data node the sentinels named, with the credentials
    /// and database of this URL. (It holds the password: never log it.)
    pub fn node_url(&self, host: &str, port: u16) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let auth = self
            .userinfo
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        format!("{scheme}://{auth}{}:{port}/{}", bracket(host), self.db)
    }
}

impl SentinelUrl {
    /// The data nodes' user name and password, percent-decoded.
    pub fn credentials(&self) -> (Option<String>, Option<String>) {
        use redis::IntoConnectionInfo;
        match self.node_url("localhost", 1).into_connection_info() {
            Ok(info) => (
                info.redis_settings().username().map(str::to_owned),
                info.redis_settings().password().map(str::to_owned),
            ),
            Err(_) => (None, None),
        }
    }
}

/// `host[:port][,host[:port]…]` (IPv6 in brackets), each port 1–65535
/// (`default_port` when absent); `what` names a host in the error.
fn parse_hosts(hosts: &str, default_port: u16, what: &str) -> Result<Vec<(String, u16)>, String> {
    let mut out = Vec::new();
    for host in hosts.split(',') {
        let (name, port) = match host.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || host.starts_with('[') => match p.parse::<u16>() {
                Ok(port) if port > 0 => (h, port),
                _ => return Err(format!("a {what}'s port is not a number from 1 to 65535")),
            },
            _ => (host, default_port),
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
        {
            return Err(format!("a {what}'s host is empty or malformed"));
        }
        out.push((name.to_owned(), port));
    }
    Ok(out)
}

/// A `redis+cluster://[user:password@]host[:port][,host[:port]…][/]` URL
/// (`rediss+cluster://` for TLS): a Redis Cluster reached through any of
/// the nodes named (the client learns the rest from them). A cluster has
/// only database 0, so no database may be named.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterUrl {
    pub tls: bool,
    /// `user:password` as written in the URL (still percent-encoded).
    userinfo: Option<String>,
    pub nodes: Vec<(String, u16)>,
}

impl fmt::Debug for ClusterUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterUrl")
            .field("tls", &self.tls)
            .field(
                "credentials",
                &self.userinfo.as_ref().map(|_| "(not shown)"),
            )
            .field("nodes", &self.nodes)
            .finish()
    }
}

impl ClusterUrl {
    /// `Ok(None)` for a URL of another scheme; an error (that never repeats
    /// the URL) for a malformed cluster URL.
    pub fn parse(raw: &str) -> Result<Option<Self>, String> {
        const FORM: &str = "expected redis+cluster://[user:password@]host[:port][,host[:port]…]";
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Ok(None);
        };
        let tls = match scheme {
            "redis+cluster" => false,
            "rediss+cluster" => true,
            _ => return Ok(None),
        };
        let bad = |why: &str| Err(format!("not a valid Redis Cluster URL ({why}): {FORM}"));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if !path.is_empty() {
            return bad("a cluster has only database 0: nothing may follow the hosts");
        }
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_owned()), h),
            None => (None, authority),
        };
        if userinfo.as_deref().is_some_and(str::is_empty) {
            return bad("empty credentials");
        }
        let nodes = match parse_hosts(hosts, 6379, "node") {
            Ok(h) => h,
            Err(why) => return bad(&why),
        };
        Ok(Some(Self {
            tls,
            userinfo,
            nodes,
        }))
    }

    /// One URL per node named, with this URL's credentials (they hold the
    /// password: never log them), as redis-rs's cluster client takes them.
    pub fn node_urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|(h, p)| self.node_url(h, *p))
            .collect()
    }

    /// The URL of any node of the cluster (one the cluster names, say),
    /// with this URL's credentials and TLS.
    pub fn node_url(&self, host: &str, port: u16) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let auth = self
            .userinfo
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        format!("{scheme}://{auth}{}:{port}/", bracket(host))
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
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

    #[test]
    fn redis_url_target_drops_credentials() {
        assert_eq!(
            redis_url_target("redis://:secret@redis:6379/0"),
            "redis://redis:6379/0"
        );
        assert_eq!(
            redis_url_target("redis+sentinel://u:p@s1:26379,s2/pixel/0"),
            "redis+sentinel://s1:26379,s2/pixel/0"
        );
        assert_eq!(redis_url_target("redis://redis:6379"), "redis://redis:6379");
        assert_eq!(
            redis_url_target("unix:///run/redis.sock"),
            "unix:///run/redis.sock"
        );
        assert_eq!(redis_url_target("nonsense"), "(not a URL)");
    }
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }

    #[test]
    fn board_ids_name_the_boards_served() {
        let mut g = GameConfig {
            board_ids: "main".into(),
            board_width: 16,
            board_height: 8,
            cooldown_ms: 0,
            ttl_ms: 1000,
            board_tile_size: 8,
        };
        let ids = |g: &GameConfig| -> Vec<String> {
            g.boards()
                .unwrap()
                .iter()
                .map(|b| b.id.to_string())
                .collect()
        };
        assert_eq!(ids(&g), ["main"]);
        g.board_ids = "main, second,third-3".into();
        assert_eq!(ids(&g), ["main", "second", "third-3"]);
        assert!(
            g.boards()
                .unwrap()
                .iter()
                .all(|b| b.width == 16 && b.tile_size == 8)
        );
        g.board_ids = "other".into();
        assert_eq!(ids(&g), ["other"]);
        for (bad, says) in [
            ("", "BOARD_IDS: board id must be 1 to 64"),
            ("main,", "BOARD_IDS: board id must be 1 to 64"),
            ("main,ma in", "may only contain"),
            ("a,b,a", "names a twice"),
        ] {
            g.board_ids = bad.into();
            let e = g.boards().unwrap_err().to_string();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
        g.board_ids = (0..65)
            .map(|i| format!("b{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(g.boards().unwrap_err().to_string().contains("at most 64"));
    }

    #[test]
    fn board_sizes_are_bounded() {
        let mut g = GameConfig {
            board_ids: "main".into(),
            board_width: 500,
            board_height: 500,
            cooldown_ms: 5000,
            ttl_ms: 600_000,
            board_tile_size: 256,
        };
        assert_eq!(g.boards().unwrap()[0].width, 500);
        assert_eq!(g.boards().unwrap()[0].tile_size, 256);
        for bad in [0, 100, 4, 8192] {
            g.board_tile_size = bad;
            let e = g.boards().unwrap_err().to_string();
            assert!(e.contains("BOARD_TILE_SIZE"), "{e}");
        }
        g.board_tile_size = 16;
        assert_eq!(g.boards().unwrap()[0].tile_size, 16);
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
    fn cluster_urls_name_the_nodes_and_keep_the_credentials() {
        let u = ClusterUrl::parse("redis+cluster://:pw@n1:7000,n2,[::1]:7002")
            .unwrap()
            .unwrap();
        assert!(!u.tls);
        assert_eq!(
            u.nodes,
            vec![
                ("n1".to_owned(), 7000),
                ("n2".to_owned(), 6379),
                ("::1".to_owned(), 7002)
            ]
        );
        assert_eq!(
            u.node_urls(),
            vec![
                "redis://:pw@n1:7000/",
                "redis://:pw@n2:6379/",
                "redis://:pw@[::1]:7002/"
            ]
        );
        assert!(!format!("{u:?}").contains("pw"));
        let t = ClusterUrl::parse("rediss+cluster://h:1/").unwrap().unwrap();
        assert_eq!(t.node_urls(), vec!["rediss://h:1/"]);
        assert_eq!(ClusterUrl::parse("redis://h:1/").unwrap(), None);
        for bad in [
            "redis+cluster://h:1/0",
            "redis+cluster://",
            "redis+cluster://h:0",
            "redis+cluster://h:x",
            "redis+cluster://@h",
            "redis+cluster://a,,b",
        ] {
            let e = ClusterUrl::parse(bad).unwrap_err();
            assert!(e.starts_with("not a valid Redis Cluster URL"), "{bad}: {e}");
        }
        assert!(parse_redis_url("redis+cluster://h:1,h:2").is_ok());
        assert!(
            parse_redis_url("redis+cluster://:secret@h:1/3")
                .unwrap_err()
                .find("secret")
                .is_none()
        );
    }

    #[test]
    fn sentinel_urls_name_the_sentinels_the_master_and_the_db() {
        let u = SentinelUrl::parse("redis+sentinel://:hunter2@s1,s2:26380,10.0.0.3:1/mymaster/3")
            .unwrap()
            .unwrap();
        assert!(!u.tls);
        assert_eq!(
            u.sentinels,
            vec![
                ("s1".to_owned(), SENTINEL_PORT),
                ("s2".to_owned(), 26380),
                ("10.0.0.3".to_owned(), 1)
            ]
        );
        assert_eq!(u.master, "mymaster");
        assert_eq!(u.db, 3);
        assert_eq!(
            u.node_url("10.0.0.9", 6379),
            "redis://:hunter2@10.0.0.9:6379/3"
        );
        assert_eq!(u.sentinel_url("s1", 26379), "redis://s1:26379/");
        assert!(!format!("{u:?}").contains("hunter2"));
        assert_eq!(u.credentials(), (None, Some("hunter2".to_owned())));
        let t = SentinelUrl::parse("rediss+sentinel://user:pw@[::1]:5000/m")
            .unwrap()
            .unwrap();
        assert!(t.tls);
        assert_eq!(t.sentinels, vec![("::1".to_owned(), 5000)]);
        assert_eq!(t.db, 0);
        assert_eq!(t.node_url("::1", 6380), "rediss://user:pw@[::1]:6380/0");
        assert_eq!(SentinelUrl::parse("redis://h:1/").unwrap(), None);
        for ok in [
            "redis+sentinel://127.0.0.1:26379/mymaster",
            "redis+sentinel://a:1,b:2,c:3/mymaster/0",
            "rediss+sentinel://u:hunter2@a/m",
        ] {
            assert_eq!(parse_redis_url(ok).as_deref(), Ok(ok));
        }
        for bad in [
            "redis+sentinel://:hunter2@s1:26379",
            "redis+sentinel://:hunter2@s1:26379/",
            "redis+sentinel://:hunter2@s1:notaport/m",
            "redis+sentinel://:hunter2@s1:0/m",
            "redis+sentinel://:hunter2@s1,,s2/m",
            "redis+sentinel://:hunter2@/m",
            "redis+sentinel://:hunter2@s1/m/x",
            "redis+sentinel://:hunter2@s1/m/-1",
            "redis+sentinel://:hunter2@s1/m/0/extra",
            "redis+sentinel://:hunter2@s1/m?x=1",
            "redis+sentinel://@s1/m",
        ] {
            let err = parse_redis_url(bad).unwrap_err();
            assert!(err.contains("Sentinel URL"), "{bad}: {err}");
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
