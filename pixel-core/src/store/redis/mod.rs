//! The Redis store of the cluster. Every state change is one Lua script, so
//! it runs atomically on the Redis server: placements on different gateways
//! can neither interleave (lost updates, reordered seqs) nor slip past a
//! cooldown, and several decay workers can sweep at once without removing a
//! pixel twice. The scripts are the `.lua` files in `redis/scripts/`;
//! their replies are decoded in one place, `redis/decode.rs`.
//!
//! # Keys (under a configurable prefix, `rp` by default)
//!
//! | key | type | holds |
//! |---|---|---|
//! | `epoch` | string | a random id made when the data set was created |
//! | `user:{id}` | string | the user record as JSON |
//! | `email:{email}` | string | the user id of an email (uniqueness) |
//! | `login:{email}` | zset | recent login attempts (score = ms) |
//! | `limit:{key}` | zset | recent hits of a rate limit (score = ms), e.g. sign-ups per address |
//! | `family:{id}` | hash | one login's refresh tokens: `user`, `cur` (SHA-256 of the live token), `prev` (of the one it replaced, for retries), `exp`, `at` (last rotation), `wn`/`wc` (rotation-rate window); expires with its token |
//! | `cooldown:{user}` | string | the end of the user's cooldown (ms) |
//! | `board:{id}:seq` | string | the board's last seq |
//! | `board:{id}:geometry` | string | `<width>x<height>`, checked by every process at start |
//! | `board:{id}:px` | hash | pixel index → `color:placed_at:expires_at` |
//! | `board:{id}:exp` | zset | pixel index, score = expires_at |
//! | `board:{id}:feed` | stream | the board's feed: entry id `<seq>-0`, first field `t` (recorded at, ms); a placement then has `x`, `y`, `c` (colour), `e` (expires at), `b` (placer's name); a removal `r` (cell index) and `w` (board width) |
//!
//! The feed is written only by the two scripts that hand out seqs (place and
//! sweep), in the same atomic step, so its entries are exactly the board's
//! updates in seq order. It is trimmed there to the history policy: an entry
//! goes only when it is beyond the newest `min_updates` *and* older than
//! `min_age` (the contract's "10,000 updates or 5 minutes, whichever is
//! more"). Gateways read it with `XREAD BLOCK` on connections of their own
//! ([`RedisFeed`]); `join since` reads it with `XRANGE`.
//!
//! The scripts touch keys they compute from the prefix, so this store needs
//! a single Redis (or a primary with replicas), not Redis Cluster.
//!
//! # Epochs: a Redis that lost its data
//!
//! A Redis wiped by `FLUSHALL`, restarted without its append-only file, or
//! replaced by a replica that lagged hands out seqs again that clients
//! already hold for other updates. Every process caches the data set's
//! `epoch`, and every step that changes a board (place, sweep) is given
//! that epoch and checks it against the stored one **inside the script**,
//! before it writes anything; so does every read a cache or a feed
//! position is built on (board seq, snapshot, feed reads). On a mismatch —
//! the epoch is gone (wiped) or another process started a new one — the
//! store re-initialises the boards it serves (epoch, seq, geometry: the
//! same idempotent step as at start), adopts the data set's epoch and
//! retries once; nothing was written under the wrong epoch. Above the
//! store, the new epoch changes snapshot ETags and caches, and gateway
//! relays tell their sockets to `resync`. A lagging replica keeps the old
//! epoch but its seqs go backwards: the relay that notices starts a new
//! epoch ([`Store::restart_epoch`]), with the same effect everywhere.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script, Value};

use super::{
    FeedReader, HistoryRead, Limit, PlaceCommand, PlaceOutcome, RefreshRecord, RotateOutcome,
    Rotation, Store, StoreError, StoredSnapshot, SweepOutcome, UserRecord,
};
use crate::domain::{BoardConfig, BoardId, HistoryPolicy, PixelEntry, Update};

mod decode;

use decode::{PlaceReply, SweepReply};

/// Trims a board's feed per the history policy, dropping at most `budget`
/// entries. Every entry's first field is `t`, its recorded time, so the
/// head entry decides whether anything goes; the common case (the head is
/// young) costs an `XLEN` and a one-entry read.
const TRIM_FN: &str = include_str!("scripts/trim_fn.lua");

const PLACE: &str = include_str!("scripts/place.lua");

const INIT_BOARD: &str = include_str!("scripts/init_board.lua");

const RESTART_EPOCH: &str = include_str!("scripts/restart_epoch.lua");

const SETTLE: &str = include_str!("scripts/settle.lua");

const SWEEP: &str = include_str!("scripts/sweep.lua");

const CREATE_USER: &str = include_str!("scripts/create_user.lua");

const LOGIN_ATTEMPT: &str = include_str!("scripts/login_attempt.lua");

const INSERT_REFRESH: &str = include_str!("scripts/insert_refresh.lua");

const ROTATE_REFRESH: &str = include_str!("scripts/rotate_refresh.lua");

const CONFIRM_REFRESH: &str = include_str!("scripts/confirm_refresh.lua");

const REVOKE_REFRESH: &str = include_str!("scripts/revoke_refresh.lua");

/// The reply of [`LOGIN_ATTEMPT`]: 0 when recorded, else the wait.
fn limit_reply(retry_after_ms: i64) -> Limit {
    match retry_after_ms {
        0 => Limit::Allowed,
        ms => Limit::Limited {
            retry_after_ms: ms.max(1),
        },
    }
}

/// Connection settings of the Redis store.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: String,
    pub prefix: String,
    /// Names the process in the Redis metrics (`service` label).
    pub service: &'static str,
    /// How long an operation waits for Redis (to connect, or to answer)
    /// before it fails as `unavailable`.
    pub timeout: std::time::Duration,
}

impl RedisSettings {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "rp".into(),
            service: "pixel",
            timeout: std::time::Duration::from_secs(2),
        }
    }
}

/// The cluster's store: every game state change is one Lua script.
///
/// Requests share one multiplexed connection (redis-rs's
/// `ConnectionManager`, which reconnects by itself after an outage):
/// concurrent requests are pipelined on it, so Redis executes a burst of
/// placements in one pass of its event loop and covers them with one
/// `fsync` of the append-only file (`appendfsync always`). With a pool of
/// exclusive connections each in-flight request had a connection of its
/// own, and placement throughput was bounded by pool size ÷ fsync time.
pub struct RedisStore {
    /// Replaced by a fresh one after a response timeout (see [`Self::fail`]).
    conn: std::sync::RwLock<ConnectionManager>,
    config: ConnectionManagerConfig,
    client: redis::Client,
    service: &'static str,
    prefix: String,
    /// The data set's epoch as this process last found it.
    epoch: std::sync::RwLock<String>,
    /// The boards this process serves, with their geometry
    /// (`<width>x<height>`), re-initialised after a data loss.
    boards: std::sync::Mutex<Vec<(BoardId, String)>>,
    place: Script,
    sweep: Script,
    settle: Script,
    init_board: Script,
    restart_epoch: Script,
    create_user: Script,
    login_attempt: Script,
    insert_refresh: Script,
    rotate_refresh: Script,
    confirm_refresh: Script,
    revoke_refresh: Script,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn redis_err(e: redis::RedisError) -> StoreError {
    if e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
    {
        unavailable(e)
    } else {
        // A Redis that is loading its data, busy with a script, read-only
        // (a replica, or a primary that lost its replicas) or out of memory
        // cannot serve now, and refused the command: an outage, not a bug.
        const OUTAGES: [&str; 7] = [
            "LOADING",
            "BUSY",
            "MASTERDOWN",
            "TRYAGAIN",
            "CLUSTERDOWN",
            "READONLY",
            "OOM",
        ];
        // In a transaction or pipeline the codes are those of the commands
        // inside (a `MULTI` refused while Redis loads is `EXECABORT`).
        let outage = e.code().is_some_and(|code| OUTAGES.contains(&code))
            || e.clone()
                .into_server_errors()
                .is_some_and(|inner| inner.iter().any(|(_, err)| OUTAGES.contains(&err.code())));
        if outage {
            unavailable(e)
        } else {
            StoreError::Corrupt(e.to_string())
        }
    }
}

impl RedisStore {
    /// Connects, failing fast if Redis cannot be reached now. (Later outages
    /// are survived: operations fail as `unavailable` while Redis is down,
    /// and the connection is re-established in the background.)
    pub async fn connect(settings: &RedisSettings) -> Result<Self, StoreError> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| StoreError::Unavailable(format!("bad REDIS_URL: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .map_err(redis_err)?;
        let script = |body: &str| Script::new(&format!("{TRIM_FN}\n{body}"));
        let store = Self {
            conn: std::sync::RwLock::new(conn),
            config,
            client,
            service: settings.service,
            prefix: settings.prefix.clone(),
            epoch: Default::default(),
            boards: Default::default(),
            place: script(PLACE),
            sweep: script(SWEEP),
            settle: Script::new(SETTLE),
            init_board: Script::new(INIT_BOARD),
            restart_epoch: Script::new(RESTART_EPOCH),
            create_user: Script::new(CREATE_USER),
            login_attempt: Script::new(LOGIN_ATTEMPT),
            insert_refresh: Script::new(INSERT_REFRESH),
            rotate_refresh: Script::new(ROTATE_REFRESH),
            confirm_refresh: Script::new(CONFIRM_REFRESH),
            revoke_refresh: Script::new(REVOKE_REFRESH),
        };
        store.recover().await?;
        Ok(store)
    }

    /// The epoch this process takes the data set to have.
    fn current_epoch(&self) -> String {
        self.epoch.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether `epoch` (read from Redis) is ours; no copy, as every seq
    /// read (each snapshot request) asks.
    fn is_current(&self, epoch: &str) -> bool {
        *self.epoch.read().unwrap_or_else(|e| e.into_inner()) == epoch
    }

    /// Makes sure the data set has an epoch and every board this process
    /// serves exists with its geometry, and adopts the data set's epoch:
    /// at start, and whenever a step found another epoch than ours.
    async fn recover(&self) -> Result<(), StoreError> {
        let boards = self
            .boards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let fresh = uuid::Uuid::new_v4().simple().to_string();
        let epoch = if boards.is_empty() {
            let mut conn = self.conn().await?;
            // Not a transaction: nothing deletes an epoch but a wipe.
            let (_, epoch): (Option<String>, String) = redis::pipe()
                .cmd("SET")
                .arg(self.key("epoch"))
                .arg(&fresh)
                .arg("NX")
                .get(self.key("epoch"))
                .query_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            epoch
        } else {
            let mut epoch = String::new();
            for (board, geometry) in &boards {
                epoch = self.init_one(board, geometry, &fresh).await?;
            }
            epoch
        };
        self.adopt(epoch);
        Ok(())
    }

    /// INIT_BOARD for one board; the data set's epoch.
    async fn init_one(
        &self,
        board: &BoardId,
        geometry: &str,
        fresh: &str,
    ) -> Result<String, StoreError> {
        let mut conn = self.conn().await?;
        let (stored, epoch): (String, String) = self
            .init_board
            .key(self.board_key(board, "seq"))
            .key(self.board_key(board, "geometry"))
            .key(self.key("epoch"))
            .arg(geometry)
            .arg(fresh)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.fail(e))?;
        if stored != geometry {
            return Err(StoreError::Corrupt(format!(
                "board {board} is {stored} in Redis but this process is configured for \
                 {geometry} (BOARD_WIDTH x BOARD_HEIGHT): refusing to serve it"
            )));
        }
        Ok(epoch)
    }

    fn adopt(&self, epoch: String) {
        let mut current = self.epoch.write().unwrap_or_else(|e| e.into_inner());
        if *current == epoch {
            return;
        }
        if !current.is_empty() {
            tracing::warn!(
                old = %current,
                new = %epoch,
                "the Redis data set changed (its data was lost or replaced): \
                 boards re-initialised, following the new epoch"
            );
            metrics::counter!("store_epoch_changes_total", "service" => self.service).increment(1);
        }
        *current = epoch;
    }

    /// A handle on the shared connection (cheap: it multiplexes).
    async fn conn(&self) -> Result<ConnectionManager, StoreError> {
        Ok(self.conn.read().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// Maps a failed call's error, and after a response timeout replaces
    /// the shared connection in the background. The manager reconnects by
    /// itself only when the connection breaks; a connection whose answers
    /// stopped coming (a stalled path, a half-open socket) would otherwise
    /// hold every later request until it too timed out.
    fn fail(&self, e: redis::RedisError) -> StoreError {
        if e.is_timeout() {
            self.reset();
        }
        redis_err(e)
    }

    /// Swaps in a fresh connection, which connects on first use: the next
    /// request (a client's retry, say) no longer waits on the stalled one.
    fn reset(&self) {
        match ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone()) {
            Ok(fresh) => {
                *self.conn.write().unwrap_or_else(|e| e.into_inner()) = fresh;
                tracing::warn!("Redis stopped answering on the shared connection; replaced it");
            }
            Err(e) => tracing::warn!(error = %e, "replacing the Redis connection failed"),
        }
    }

    /// One run of the placement step.
    async fn place_once(&self, cmd: &PlaceCommand<'_>) -> Result<Placed, StoreError> {
        let id = &cmd.board.id;
        let mut conn = self.conn().await?;
        let reply: (i64, i64) = self
            .place
            .key(self.board_key(id, "seq"))
            .key(self.board_key(id, "px"))
            .key(self.board_key(id, "exp"))
            .key(self.board_key(id, "feed"))
            .key(self.key(&format!("cooldown:{}", cmd.user_id)))
            .key(self.key(&format!("fence:{}", cmd.placement_id)))
            .key(self.key("epoch"))
            .arg(cmd.board.index(cmd.coord))
            .arg(cmd.color)
            .arg(cmd.now)
            .arg(cmd.expires_at)
            .arg(cmd.cooldown_until)
            .arg(cmd.coord.x)
            .arg(cmd.coord.y)
            .arg(cmd.by)
            .arg(cmd.history.min_updates)
            .arg(cmd.history.min_age_ms)
            .arg(cmd.placement_id)
            .arg(self.current_epoch())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    self.reset();
                }
                // Sent, but no answer: the step may have run.
                if e.is_timeout() || e.is_connection_dropped() {
                    StoreError::OutcomeUnknown(e.to_string())
                } else {
                    redis_err(e)
                }
            })?;
        Ok(Placed::Done(match PlaceReply::decode(reply)? {
            PlaceReply::OtherEpoch => return Ok(Placed::Epoch),
            PlaceReply::Fenced => {
                return Err(StoreError::Unavailable(
                    "placement was settled as not applied".into(),
                ));
            }
            PlaceReply::Cooldown { retry_after_ms } => PlaceOutcome::Cooldown { retry_after_ms },
            PlaceReply::Placed { seq } => PlaceOutcome::Placed(cmd.update(seq)),
        }))
    }

    fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    fn board_key(&self, board: &BoardId, part: &str) -> String {
        format!("{}:board:{board}:{part}", self.prefix)
    }
}

/// How often a step is tried when it finds another epoch than ours: once,
/// and once more after adopting the data set's epoch.
const EPOCH_ATTEMPTS: usize = 2;

fn epoch_unsettled() -> StoreError {
    StoreError::Unavailable("the Redis data set changed again while recovering".into())
}

/// What one run of the placement step did.
enum Placed {
    Done(PlaceOutcome),
    /// The data set's epoch is not ours: nothing was written.
    Epoch,
}

/// Records a Redis call's latency and, if it failed, its error, under
/// `op`. Every store operation goes through it, so the Redis metrics cover
/// the api, the gateway and the worker alike.
async fn observe<T>(
    service: &'static str,
    op: &'static str,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let start = Instant::now();
    let out = call.await;
    metrics::histogram!("redis_command_duration_seconds", "service" => service, "op" => op)
        .record(start.elapsed().as_secs_f64());
    if out.is_err() {
        metrics::counter!("redis_errors_total", "service" => service, "op" => op).increment(1);
    }
    out
}

fn corrupt_entry(what: &str, v: &Value) -> StoreError {
    StoreError::Corrupt(format!("feed entry: {what} in {v:?}"))
}

fn text(v: &Value) -> Option<&str> {
    match v {
        Value::BulkString(b) => std::str::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

fn number<T: std::str::FromStr>(v: &Value) -> Option<T> {
    match v {
        Value::Int(i) => i.to_string().parse().ok(),
        other => text(other)?.parse().ok(),
    }
}

/// One feed entry `[id, [field, value, ...]]` as the update it records.
/// This and the two scripts are the feed's only format.
fn parse_entry(entry: &Value) -> Result<Update, StoreError> {
    let Value::Array(parts) = entry else {
        return Err(corrupt_entry("not an array", entry));
    };
    let (Some(id), Some(Value::Array(fields))) = (parts.first(), parts.get(1)) else {
        return Err(corrupt_entry("no id or fields", entry));
    };
    let seq = text(id)
        .and_then(|id| id.strip_suffix("-0"))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| corrupt_entry("id is not <seq>-0", entry))?;
    let (mut x, mut y, mut color, mut placed, mut expires, mut by) =
        (None, None, None, None, None, None);
    let (mut index, mut width) = (None::<u64>, None::<u64>);
    for pair in fields.chunks_exact(2) {
        match text(&pair[0]) {
            Some("x") => x = number(&pair[1]),
            Some("y") => y = number(&pair[1]),
            Some("c") => color = number(&pair[1]),
            Some("t") => placed = number(&pair[1]),
            Some("e") => expires = number(&pair[1]),
            Some("b") => by = text(&pair[1]),
            Some("r") => index = number(&pair[1]),
            Some("w") => width = number(&pair[1]),
            _ => {}
        }
    }
    if let (Some(i), Some(w)) = (index, width) {
        // A removal (entries written before this form carry x, y and c = 0).
        return match (w > 0).then(|| (u32::try_from(i % w), u32::try_from(i / w))) {
            Some((Ok(x), Ok(y))) => Ok(Update::decay(seq, x, y)),
            _ => Err(corrupt_entry("removal cell", entry)),
        };
    }
    let (Some(x), Some(y), Some(color), Some(placed)) = (x, y, color, placed) else {
        return Err(corrupt_entry("missing field", entry));
    };
    Ok(match (color, expires, by) {
        (0, _, _) => Update::decay(seq, x, y),
        (c, Some(e), Some(b)) => Update::placement(seq, x, y, c, placed, e, b),
        _ => return Err(corrupt_entry("placement without e/b", entry)),
    })
}

/// A list of feed entries (`XRANGE`, or one stream of an `XREAD` reply).
fn parse_entries(v: &Value) -> Result<Vec<Update>, StoreError> {
    match v {
        Value::Nil => Ok(Vec::new()),
        Value::Array(entries) => entries.iter().map(parse_entry).collect(),
        other => Err(corrupt_entry("not a list of entries", other)),
    }
}

/// The entries of the single stream an `XREAD` asked for, in RESP2
/// (`[[key, entries]]`) or RESP3 (`{key: entries}`) shape; nil on timeout.
fn parse_xread(v: &Value) -> Result<Vec<Update>, StoreError> {
    match v {
        Value::Nil => Ok(Vec::new()),
        Value::Array(streams) => match streams.first() {
            Some(Value::Array(kv)) if kv.len() == 2 => parse_entries(&kv[1]),
            None => Ok(Vec::new()),
            Some(other) => Err(corrupt_entry("XREAD stream", other)),
        },
        Value::Map(streams) => streams
            .first()
            .map_or(Ok(Vec::new()), |(_, entries)| parse_entries(entries)),
        other => Err(corrupt_entry("XREAD reply", other)),
    }
}

fn parse_pixel(board: &BoardConfig, index: &str, value: &str) -> Result<PixelEntry, StoreError> {
    let bad = || StoreError::Corrupt(format!("pixel {index}={value:?}"));
    let i: u32 = index.parse().map_err(|_| bad())?;
    let mut v = value.split(':').map(str::parse::<i64>);
    let (Some(Ok(color)), Some(Ok(placed)), Some(Ok(expires))) = (v.next(), v.next(), v.next())
    else {
        return Err(bad());
    };
    // Found by the `feed_entries` fuzz target: an index beyond the board
    // (another geometry wrote it) or a colour beyond a byte is corrupt, not
    // a pixel somewhere else.
    if u64::from(i) >= u64::from(board.width) * u64::from(board.height) {
        return Err(bad());
    }
    let color = u8::try_from(color).map_err(|_| bad())?;
    let c = board.coord_of(i);
    Ok(PixelEntry {
        x: c.x,
        y: c.y,
        color,
        placed_at: placed,
        expires_at: expires,
    })
}

#[async_trait]
impl Store for RedisStore {
    async fn ping(&self) -> Result<(), StoreError> {
        observe(self.service, "ping", async {
            let mut conn = self.conn().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            Ok(())
        })
        .await
    }

    fn epoch(&self) -> String {
        self.current_epoch()
    }

    async fn restart_epoch(&self, seen: &str) -> Result<String, StoreError> {
        observe(self.service, "restart_epoch", async {
            let mut conn = self.conn().await?;
            let now: Option<String> = self
                .restart_epoch
                .key(self.key("epoch"))
                .arg(seen)
                .arg(uuid::Uuid::new_v4().simple().to_string())
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            if !now.as_deref().is_some_and(|e| self.is_current(e)) {
                self.recover().await?;
            }
            Ok(self.current_epoch())
        })
        .await
    }

    async fn init_board(&self, board: &BoardConfig) -> Result<(), StoreError> {
        observe(self.service, "init_board", async {
            let geometry = format!("{}x{}", board.width, board.height);
            let fresh = uuid::Uuid::new_v4().simple().to_string();
            let epoch = self.init_one(&board.id, &geometry, &fresh).await?;
            {
                let mut boards = self.boards.lock().unwrap_or_else(|e| e.into_inner());
                if !boards.iter().any(|(id, _)| *id == board.id) {
                    boards.push((board.id.clone(), geometry));
                }
            }
            if !self.is_current(&epoch) {
                // The data set changed since we connected: bring the other
                // boards back too.
                self.recover().await?;
            }
            Ok(())
        })
        .await
    }

    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        observe(self.service, "create_user", async {
            let mut conn = self.conn().await?;
            let json =
                serde_json::to_string(user).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let created: i64 = self
                .create_user
                .key(self.key(&format!("email:{}", user.email)))
                .key(self.key(&format!("user:{}", user.id)))
                .arg(&user.id)
                .arg(json)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            if created == 1 {
                Ok(())
            } else {
                Err(StoreError::EmailTaken)
            }
        })
        .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        observe(self.service, "user_by_email", async {
            let id: Option<String> = {
                let mut conn = self.conn().await?;
                conn.get(self.key(&format!("email:{email}")))
                    .await
                    .map_err(|e| self.fail(e))?
            };
            match id {
                Some(id) => self.user_by_id(&id).await,
                None => Ok(None),
            }
        })
        .await
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        observe(self.service, "user_by_id", async {
            let mut conn = self.conn().await?;
            let json: Option<String> = conn
                .get(self.key(&format!("user:{id}")))
                .await
                .map_err(|e| self.fail(e))?;
            json.map(|j| serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(e.to_string())))
                .transpose()
        })
        .await
    }

    async fn begin_login_attempt(
        &self,
        email: &str,
        now: i64,
        window_ms: i64,
        max: u32,
    ) -> Result<Limit, StoreError> {
        observe(self.service, "begin_login_attempt", async {
            let mut conn = self.conn().await?;
            let retry_after_ms: i64 = self
                .login_attempt
                .key(self.key(&format!("login:{email}")))
                .arg(now)
                .arg(window_ms)
                .arg(max)
                .arg(format!("{now}-{}", uuid::Uuid::new_v4().simple()))
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            Ok(limit_reply(retry_after_ms))
        })
        .await
    }

    async fn clear_login_attempts(&self, email: &str) -> Result<(), StoreError> {
        observe(self.service, "clear_login_attempts", async {
            let mut conn = self.conn().await?;
            let _: i64 = conn
                .del(self.key(&format!("login:{email}")))
                .await
                .map_err(|e| self.fail(e))?;
            Ok(())
        })
        .await
    }

    async fn insert_refresh(
        &self,
        hash: &str,
        record: &RefreshRecord,
        now: i64,
    ) -> Result<(), StoreError> {
        observe(self.service, "insert_refresh", async {
            let mut conn = self.conn().await?;
            let _: i64 = self
                .insert_refresh
                .key(self.key(&format!("family:{}", record.family)))
                .arg(&record.user_id)
                .arg(hash)
                .arg(record.expires_at)
                .arg(now)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            Ok(())
        })
        .await
    }

    async fn rotate_refresh(&self, r: &Rotation<'_>) -> Result<RotateOutcome, StoreError> {
        observe(self.service, "rotate_refresh", async {
            let mut conn = self.conn().await?;
            let out: Vec<String> = self
                .rotate_refresh
                .key(self.key(&format!("family:{}", r.family)))
                .arg(r.presented)
                .arg(r.next)
                .arg(r.now)
                .arg(r.next_expires_at)
                .arg(r.retry_grace_ms)
                .arg(r.max_rotations)
                .arg(r.window_ms)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            decode::rotate_reply(&out)
        })
        .await
    }

    async fn confirm_refresh(&self, family: &str, current: &str) -> Result<(), StoreError> {
        observe(self.service, "confirm_refresh", async {
            let mut conn = self.conn().await?;
            let _: i64 = self
                .confirm_refresh
                .key(self.key(&format!("family:{family}")))
                .arg(current)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            Ok(())
        })
        .await
    }

    async fn revoke_refresh(&self, family: &str, now: i64) -> Result<bool, StoreError> {
        observe(self.service, "revoke_refresh", async {
            let mut conn = self.conn().await?;
            let revoked: i64 = self
                .revoke_refresh
                .key(self.key(&format!("family:{family}")))
                .arg(now)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            Ok(revoked == 1)
        })
        .await
    }

    async fn hit_limit(
        &self,
        key: &str,
        now: i64,
        window_ms: i64,
        max: u32,
    ) -> Result<Limit, StoreError> {
        observe(self.service, "hit_limit", async {
            let mut conn = self.conn().await?;
            let retry_after_ms: i64 = self
                .login_attempt
                .key(self.key(&format!("limit:{key}")))
                .arg(now)
                .arg(window_ms)
                .arg(max)
                .arg(format!("{now}-{}", uuid::Uuid::new_v4().simple()))
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            Ok(limit_reply(retry_after_ms))
        })
        .await
    }

    async fn board_seq(&self, board: &BoardId) -> Result<u64, StoreError> {
        observe(self.service, "board_seq", async {
            for _ in 0..EPOCH_ATTEMPTS {
                let mut conn = self.conn().await?;
                let (seq, epoch): (Option<u64>, Option<String>) = redis::cmd("MGET")
                    .arg(self.board_key(board, "seq"))
                    .arg(self.key("epoch"))
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.fail(e))?;
                if epoch.is_some_and(|e| self.is_current(&e)) {
                    return Ok(seq.unwrap_or(0));
                }
                self.recover().await?;
            }
            Err(epoch_unsettled())
        })
        .await
    }

    async fn place(&self, cmd: &PlaceCommand<'_>) -> Result<PlaceOutcome, StoreError> {
        observe(self.service, "place", async {
            for _ in 0..EPOCH_ATTEMPTS {
                match self.place_once(cmd).await? {
                    Placed::Epoch => self.recover().await?,
                    Placed::Done(outcome) => return Ok(outcome),
                }
            }
            Err(epoch_unsettled())
        })
        .await
    }

    async fn settle_placement(
        &self,
        user_id: &str,
        placement_id: &str,
    ) -> Result<Option<u64>, StoreError> {
        observe(self.service, "settle_placement", async {
            let mut conn = self.conn().await?;
            let seq: u64 = self
                .settle
                .key(self.key(&format!("cooldown:{user_id}")))
                .key(self.key(&format!("fence:{placement_id}")))
                .arg(placement_id)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            Ok((seq > 0).then_some(seq))
        })
        .await
    }

    async fn snapshot(&self, board: &BoardConfig) -> Result<StoredSnapshot, StoreError> {
        observe(self.service, "snapshot", async {
            for _ in 0..EPOCH_ATTEMPTS {
                let mut conn = self.conn().await?;
                let (seq, pixels, epoch): (Option<u64>, Vec<(String, String)>, Option<String>) =
                    redis::pipe()
                        .atomic()
                        .get(self.board_key(&board.id, "seq"))
                        .hgetall(self.board_key(&board.id, "px"))
                        .get(self.key("epoch"))
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| self.fail(e))?;
                let Some(epoch) = epoch.filter(|e| self.is_current(e)) else {
                    self.recover().await?;
                    continue;
                };
                let mut pixels = pixels
                    .iter()
                    .map(|(i, v)| parse_pixel(board, i, v))
                    .collect::<Result<Vec<_>, _>>()?;
                pixels.sort_unstable_by_key(|p| (p.y, p.x));
                return Ok(StoredSnapshot {
                    epoch,
                    seq: seq.unwrap_or(0),
                    pixels,
                });
            }
            Err(epoch_unsettled())
        })
        .await
    }

    async fn read_history(
        &self,
        board: &BoardId,
        after: u64,
        upto: u64,
        limit: usize,
    ) -> Result<HistoryRead, StoreError> {
        observe(self.service, "read_history", async {
            let feed = self.board_key(board, "feed");
            let mut pipe = redis::pipe();
            pipe.atomic()
                .get(self.board_key(board, "seq"))
                .cmd("XRANGE")
                .arg(&feed)
                .arg("-")
                .arg("+")
                .arg("COUNT")
                .arg(1);
            let wanted = upto > after && limit > 0;
            if wanted {
                pipe.cmd("XRANGE")
                    .arg(&feed)
                    .arg(format!("{}-0", after + 1))
                    .arg(format!("{upto}-0"))
                    .arg("COUNT")
                    .arg(limit);
            }
            let mut conn = self.conn().await?;
            let replies: Vec<Value> = pipe
                .query_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            let seq = replies.first().and_then(number).unwrap_or(0);
            let oldest = replies
                .get(1)
                .map(parse_entries)
                .transpose()?
                .and_then(|head| head.first().map(|u| u.seq));
            let updates = match replies.get(2) {
                Some(range) if wanted => parse_entries(range)?,
                _ => Vec::new(),
            };
            Ok(HistoryRead {
                seq,
                oldest,
                updates,
            })
        })
        .await
    }

    async fn sweep(
        &self,
        board: &BoardConfig,
        now: i64,
        limit: usize,
        history: HistoryPolicy,
    ) -> Result<SweepOutcome, StoreError> {
        observe(self.service, "sweep", async {
            let id = &board.id;
            for _ in 0..EPOCH_ATTEMPTS {
                let mut conn = self.conn().await?;
                let out: Vec<i64> = self
                    .sweep
                    .key(self.board_key(id, "seq"))
                    .key(self.board_key(id, "px"))
                    .key(self.board_key(id, "exp"))
                    .key(self.board_key(id, "feed"))
                    .key(self.key("epoch"))
                    .arg(now)
                    .arg(limit)
                    .arg(board.width)
                    .arg(history.min_updates)
                    .arg(history.min_age_ms)
                    .arg(self.current_epoch())
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| self.fail(e))?;
                match SweepReply::decode(&out, board)? {
                    SweepReply::OtherEpoch => self.recover().await?,
                    SweepReply::Swept {
                        removed,
                        next_due,
                        backlog,
                    } => {
                        return Ok(SweepOutcome {
                            removed,
                            next_due,
                            backlog,
                        });
                    }
                }
            }
            Err(epoch_unsettled())
        })
        .await
    }

    fn feed(&self) -> Box<dyn FeedReader> {
        Box::new(RedisFeed {
            client: self.client.clone(),
            conn: None,
            service: self.service,
            prefix: self.prefix.clone(),
            epoch: None,
        })
    }
}

/// A feed reader on a connection of its own: `XREAD BLOCK` holds its
/// connection for the whole wait, and the shared connection's response
/// timeout would cut it short. A failed read drops the connection; the
/// next read opens a fresh one, so a restarted Redis is picked up again.
struct RedisFeed {
    client: redis::Client,
    conn: Option<redis::aio::MultiplexedConnection>,
    service: &'static str,
    prefix: String,
    /// The data set's epoch, read right after the last `XREAD` returned.
    epoch: Option<String>,
}

/// How long past its `BLOCK` time an `XREAD` may take before the reader
/// gives up on the connection (a frozen or unreachable Redis).
const FEED_GRACE: Duration = Duration::from_secs(2);

impl RedisFeed {
    async fn connection(
        &mut self,
        wait: Duration,
    ) -> Result<&mut redis::aio::MultiplexedConnection, StoreError> {
        if self.conn.is_none() {
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(FEED_GRACE))
                .set_response_timeout(Some(wait + FEED_GRACE));
            let conn = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(redis_err)?;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }
}

#[async_trait]
impl FeedReader for RedisFeed {
    async fn read(
        &mut self,
        board: &BoardId,
        after: u64,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Update>, StoreError> {
        let key = format!("{}:board:{board}:feed", self.prefix);
        let epoch_key = format!("{}:epoch", self.prefix);
        let service = self.service;
        let read = async {
            let conn = self.connection(wait).await?;
            // The GET runs when the XREAD has returned (commands on one
            // connection run in order): updates of a data set that
            // replaced ours come with its epoch, never with ours.
            let (reply, epoch): (Value, Option<String>) = redis::pipe()
                .cmd("XREAD")
                .arg("COUNT")
                .arg(max.max(1))
                .arg("BLOCK")
                .arg(wait.as_millis().max(1) as u64)
                .arg("STREAMS")
                .arg(&key)
                .arg(format!("{after}-0"))
                .get(&epoch_key)
                .query_async(conn)
                .await
                .map_err(redis_err)?;
            Ok::<_, StoreError>((parse_xread(&reply)?, epoch))
        };
        // Not timed: a blocking read lasts as long as the board is idle.
        let out = read.await.map(|(updates, epoch)| {
            self.epoch = epoch;
            updates
        });
        if out.is_err() {
            metrics::counter!("redis_errors_total", "service" => service, "op" => "feed_read")
                .increment(1);
            self.conn = None;
        }
        out
    }

    fn epoch(&self) -> Option<&str> {
        self.epoch.as_deref()
    }
}

/// The parsers of what Redis returns, for the fuzz targets in `fuzz/`.
#[cfg(any(test, feature = "test-helpers"))]
pub mod fuzzing {
    use super::*;

    /// A feed entry (`[id, [field, value, ...]]`) into an update.
    pub fn parse_entry(entry: &Value) -> Result<Update, StoreError> {
        super::parse_entry(entry)
    }

    /// A stored pixel (`index` → `color:placed_at:expires_at`).
    pub fn parse_pixel(
        board: &BoardConfig,
        index: &str,
        value: &str,
    ) -> Result<PixelEntry, StoreError> {
        super::parse_pixel(board, index, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, fields: &[&str]) -> Value {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        Value::Array(vec![
            bulk(id),
            Value::Array(fields.iter().map(|f| bulk(f)).collect()),
        ])
    }

    #[test]
    fn removals_are_read_in_both_forms() {
        let new = entry("7-0", &["t", "5", "r", "1003", "w", "500"]);
        assert_eq!(parse_entry(&new).unwrap(), Update::decay(7, 3, 2));
        let old = entry("8-0", &["t", "5", "x", "3", "y", "2", "c", "0"]);
        assert_eq!(parse_entry(&old).unwrap(), Update::decay(8, 3, 2));
    }

    #[test]
    fn a_removal_without_a_usable_cell_is_corrupt() {
        for fields in [
            ["t", "5", "r", "10", "w", "0"],
            ["t", "5", "r", "-1", "w", "8"],
            ["t", "5", "r", "99999999999999999", "w", "1"],
            ["t", "5", "r", "x", "w", "8"],
        ] {
            assert!(
                matches!(
                    parse_entry(&entry("1-0", &fields)),
                    Err(StoreError::Corrupt(_))
                ),
                "{fields:?}"
            );
        }
    }
}
