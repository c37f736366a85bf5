//! The Redis store of the cluster. Every state change is one Lua script, so
//! it runs atomically on the Redis server: placements on different gateways
//! can neither interleave (lost updates, reordered seqs) nor slip past a
//! cooldown, and several decay workers can sweep at once without removing a
//! pixel twice.
//!
//! # Layout
//!
//! - this file: the store, its epoch handling and the [`Store`] operations;
//! - `keys.rs`: every key name, built in one place ([`Keys`](keys::Keys));
//! - `scripts.rs` and `scripts/*.lua`: the Lua scripts, which get every key
//!   they touch as `KEYS[]`;
//! - `decode.rs`: the scripts' replies and the feed entries and pixels as
//!   stored, each read in one place;
//! - `feed.rs`: the gateways' `XREAD BLOCK` feed reader;
//! - `connection.rs`: the URL, TLS and the connections (the shared request
//!   connection and each feed reader's own), and the mapping of Redis
//!   errors;
//! - `replicas.rs`: acks that wait for replicas (`REDIS_MIN_REPLICAS_ACKED`).
//!
//! # Keys (under a configurable prefix, `rp` by default)
//!
//! | key | type | holds |
//! |---|---|---|
//! | `epoch` | string | a random id made when the data set was created |
//! | `barrier` | string | a counter bumped before each `WAIT` (only with `REDIS_MIN_REPLICAS_ACKED` ≥ 1) |
//! | `user:{id}` | string | the user record as JSON |
//! | `email:{email}` | string | the user id of an email (uniqueness) |
//! | `login:{email}` | zset | recent login attempts (score = ms) |
//! | `limit:{key}` | zset | recent hits of a rate limit (score = ms), e.g. sign-ups per address |
//! | `family:{id}` | hash | one login's refresh tokens: `user`, `cur` (SHA-256 of the live token), `prev` (of the one it replaced, for retries), `exp`, `at` (last rotation), `wn`/`wc` (rotation-rate window); expires with its token |
//! | `cooldown:{user}` | string | the end of the user's cooldown (ms) |
//! | `fence:{placement}` | string | a placement attempt settled as not applied, so a late-running step refuses it |
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
//! ([`RedisFeed`](feed::RedisFeed)); `join since` reads it with `XRANGE`.
//!
//! A script touches a board's keys together with a user's (and the epoch),
//! which would lie in different hash slots, so this store needs a single
//! Redis (or a primary with replicas), not Redis Cluster.
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

use std::time::Instant;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Value};

use super::{
    Cause, FeedReader, HistoryRead, Limit, PlaceCommand, PlaceOutcome, RefreshRecord,
    RotateOutcome, Rotation, Store, StoreError, StoredSnapshot, SweepOutcome, UserRecord,
};
use crate::domain::{BoardConfig, BoardId, HistoryPolicy};

mod connection;
mod decode;
mod feed;
mod keys;
mod replicas;
mod scripts;

pub use connection::RedisSettings;
#[cfg(any(test, feature = "test-helpers"))]
pub use decode::fuzzing;

use connection::{Connector, redis_err};
use decode::{PlaceReply, SweepReply, limit_reply, number, parse_entries, parse_pixel};
use feed::RedisFeed;
use keys::Keys;
use scripts::Scripts;

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
    conn: std::sync::Arc<std::sync::RwLock<ConnectionManager>>,
    /// Set while a replacement connection is being made.
    resetting: std::sync::Arc<std::sync::atomic::AtomicBool>,
    connector: Connector,
    service: &'static str,
    keys: Keys,
    /// The data set's epoch as this process last found it.
    epoch: std::sync::RwLock<String>,
    /// The boards this process serves, with their geometry
    /// (`<width>x<height>`), re-initialised after a data loss.
    boards: std::sync::Mutex<Vec<(BoardId, String)>>,
    scripts: Scripts,
    /// Set when acked writes must reach replicas first.
    replicas: Option<replicas::Replicas>,
}

impl RedisStore {
    /// Connects, failing fast if Redis cannot be reached now. (Later outages
    /// are survived: operations fail as `unavailable` while Redis is down,
    /// and the connection is re-established in the background.)
    pub async fn connect(settings: &RedisSettings) -> Result<Self, StoreError> {
        let connector = Connector::open(settings)?;
        let conn = std::sync::Arc::new(std::sync::RwLock::new(connector.shared().await?));
        let replicas = replicas::Replicas::start(
            settings.min_replicas_acked,
            settings.replica_ack_timeout,
            settings.timeout,
            &connector,
            &conn,
            Keys::new(&settings.prefix).barrier(),
            settings.service,
        )
        .await?;
        let store = Self {
            conn,
            resetting: Default::default(),
            connector,
            service: settings.service,
            keys: Keys::new(&settings.prefix),
            epoch: Default::default(),
            boards: Default::default(),
            scripts: Scripts::load(),
            replicas,
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
                .arg(self.keys.epoch())
                .arg(&fresh)
                .arg("NX")
                .get(self.keys.epoch())
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
            .scripts
            .init_board
            .key(self.keys.seq(board))
            .key(self.keys.geometry(board))
            .key(self.keys.epoch())
            .arg(geometry)
            .arg(fresh)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.fail(e))?;
        if stored != geometry {
            return Err(StoreError::Corrupt(Cause::msg(format!(
                "board {board} is {stored} in Redis but this process is configured for \
                 {geometry} (BOARD_WIDTH x BOARD_HEIGHT): refusing to serve it"
            ))));
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
        self.notice(&e);
        redis_err(e)
    }

    /// Replaces the shared connection after a response timeout, and on
    /// Sentinel also after a broken connection or a `READONLY` reply (the
    /// primary may have moved).
    fn notice(&self, e: &redis::RedisError) {
        let moved = self.connector.follows_failover()
            && (e.is_io_error()
                || e.is_connection_dropped()
                || e.is_connection_refusal()
                || e.code() == Some("READONLY"));
        if e.is_timeout() || moved {
            self.reset();
        }
    }

    /// Swaps in a fresh connection, which connects on first use: the next
    /// request (a client's retry, say) no longer waits on the stalled one.
    /// On Sentinel the fresh one goes to the primary the sentinels name
    /// now; one replacement runs at a time.
    fn reset(&self) {
        if self
            .resetting
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        let connector = self.connector.clone();
        let conn = self.conn.clone();
        let resetting = self.resetting.clone();
        tokio::spawn(async move {
            match connector.shared_lazy().await {
                Ok(fresh) => {
                    *conn.write().unwrap_or_else(|e| e.into_inner()) = fresh;
                    tracing::warn!("Redis failed on the shared connection; replaced it");
                }
                Err(e) => {
                    tracing::warn!(error = %crate::error::Report(&e), "replacing the Redis connection failed")
                }
            }
            resetting.store(false, std::sync::atomic::Ordering::Release);
        });
    }

    /// One run of the placement step.
    async fn place_once(&self, cmd: &PlaceCommand<'_>) -> Result<Placed, StoreError> {
        let id = &cmd.board.id;
        let ticket = self.before_write()?;
        let mut conn = self.conn().await?;
        let reply: (i64, i64) = self
            .scripts
            .place
            .key(self.keys.seq(id))
            .key(self.keys.pixels(id))
            .key(self.keys.expiries(id))
            .key(self.keys.feed(id))
            .key(self.keys.cooldown(cmd.user_id))
            .key(self.keys.fence(cmd.placement_id))
            .key(self.keys.epoch())
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
                self.notice(&e);
                // Sent, but no answer: the step may have run.
                if e.is_timeout() || e.is_connection_dropped() {
                    StoreError::OutcomeUnknown(Cause::new(e))
                } else {
                    redis_err(e)
                }
            })?;
        Ok(Placed::Done(match PlaceReply::decode(reply)? {
            PlaceReply::OtherEpoch => return Ok(Placed::Epoch),
            PlaceReply::Fenced => {
                return Err(StoreError::Unavailable(Cause::msg(
                    "placement was settled as not applied",
                )));
            }
            PlaceReply::Cooldown { retry_after_ms } => PlaceOutcome::Cooldown { retry_after_ms },
            PlaceReply::Placed { seq } => {
                self.replicated(ticket).await?;
                PlaceOutcome::Placed(cmd.update(seq))
            }
        }))
    }
}

/// How often a step is tried when it finds another epoch than ours: once,
/// and once more after adopting the data set's epoch.
const EPOCH_ATTEMPTS: usize = 2;

fn epoch_unsettled() -> StoreError {
    StoreError::Unavailable(Cause::msg(
        "the Redis data set changed again while recovering",
    ))
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
                .scripts
                .restart_epoch
                .key(self.keys.epoch())
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
            let ticket = self.before_write()?;
            let mut conn = self.conn().await?;
            let json =
                serde_json::to_string(user).map_err(|e| StoreError::Corrupt(Cause::new(e)))?;
            let created: i64 = self
                .scripts
                .create_user
                .key(self.keys.email(&user.email))
                .key(self.keys.user(&user.id))
                .arg(&user.id)
                .arg(json)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            if created == 1 {
                self.replicated(ticket).await
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
                conn.get(self.keys.email(email))
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
                .get(self.keys.user(id))
                .await
                .map_err(|e| self.fail(e))?;
            json.map(|j| serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(Cause::new(e))))
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
                .scripts
                .login_attempt
                .key(self.keys.login(email))
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
                .del(self.keys.login(email))
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
            let ticket = self.before_write()?;
            let mut conn = self.conn().await?;
            let _: i64 = self
                .scripts
                .insert_refresh
                .key(self.keys.family(&record.family))
                .arg(&record.user_id)
                .arg(hash)
                .arg(record.expires_at)
                .arg(now)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            self.replicated(ticket).await
        })
        .await
    }

    async fn rotate_refresh(&self, r: &Rotation<'_>) -> Result<RotateOutcome, StoreError> {
        observe(self.service, "rotate_refresh", async {
            let ticket = self.before_write()?;
            let mut conn = self.conn().await?;
            let out: Vec<String> = self
                .scripts
                .rotate_refresh
                .key(self.keys.family(r.family))
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
            self.replicated(ticket).await?;
            decode::rotate_reply(&out)
        })
        .await
    }

    async fn confirm_refresh(&self, family: &str, current: &str) -> Result<(), StoreError> {
        observe(self.service, "confirm_refresh", async {
            let mut conn = self.conn().await?;
            let _: i64 = self
                .scripts
                .confirm_refresh
                .key(self.keys.family(family))
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
                .scripts
                .revoke_refresh
                .key(self.keys.family(family))
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
                .scripts
                .login_attempt
                .key(self.keys.limit(key))
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
                    .arg(self.keys.seq(board))
                    .arg(self.keys.epoch())
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
            let ticket = self.before_write()?;
            let mut conn = self.conn().await?;
            let seq: u64 = self
                .scripts
                .settle
                .key(self.keys.cooldown(user_id))
                .key(self.keys.fence(placement_id))
                .arg(placement_id)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            if seq > 0 {
                // Found applied: acked only once replicated, as any placement.
                self.replicated(ticket).await?;
            }
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
                        .get(self.keys.seq(&board.id))
                        .hgetall(self.keys.pixels(&board.id))
                        .get(self.keys.epoch())
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
            let feed = self.keys.feed(board);
            let mut pipe = redis::pipe();
            pipe.atomic()
                .get(self.keys.seq(board))
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
                    .scripts
                    .sweep
                    .key(self.keys.seq(id))
                    .key(self.keys.pixels(id))
                    .key(self.keys.expiries(id))
                    .key(self.keys.feed(id))
                    .key(self.keys.epoch())
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
            connector: self.connector.clone(),
            conn: None,
            service: self.service,
            keys: self.keys.clone(),
            epoch: None,
        })
    }
}
