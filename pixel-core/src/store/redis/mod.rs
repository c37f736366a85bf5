//! The Redis store of the cluster. Every state change is one Lua script, so
//! it runs atomically on the Redis server: placements on different gateways
//! can neither interleave (lost updates, reordered seqs) nor slip past a
//! cooldown, and several decay workers can sweep at once without removing a
//! pixel twice.
//!
//! # Layout
//!
//! - this file: the store, its connection handling and its epoch handling;
//! - `boards.rs`: the [`BoardStore`](super::BoardStore) operations;
//! - `accounts.rs`: the [`AccountStore`](super::AccountStore) operations;
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
//! # Keys (under a configurable prefix, `rp` by default; the one-server layout — Cluster's, with hash tags, is in `keys.rs` and `docs/redis-keys.md`)
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
//! On Redis Cluster (`redis+cluster://`) the keys carry hash tags and a
//! placement is two steps, each on one slot (`keys.rs` says which keys go
//! together and why; `docs/redis-keys.md` has the table of both layouts).
//! On Cluster, `REDIS_MIN_REPLICAS_ACKED` ≥ 1 is a guarantee per shard: an
//! acked write waited until the primary of its slot reported N replicas
//! have it (`replicas.rs`).
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
//! epoch ([`BoardStore::restart_epoch`](super::BoardStore::restart_epoch)), with the same effect everywhere.
//!
//! On Cluster the shards can lose their data one at a time, so each board
//! keeps a copy of the epoch in its own slot, which its steps check; the
//! data set's epoch (`{epoch}`) lists the boards created under it. A board
//! that is listed but whose copy is gone lost its shard's data: the store
//! starts a new epoch before it creates the board again, and brings every
//! board it serves to the new epoch (see [`RedisStore::recover`]).

use std::time::Instant;

use async_trait::async_trait;

use super::{Cause, Reachable, StoreError};
use crate::domain::BoardId;

mod accounts;
mod boards;
mod connection;
mod decode;
mod feed;
mod keys;
mod replicas;
mod scripts;

pub use connection::RedisSettings;
#[cfg(any(test, feature = "test-helpers"))]
pub use decode::fuzzing;

use connection::{Conn, Connector, redis_err};
use keys::Keys;
use scripts::Scripts;

/// The cluster's store: every game state change is one Lua script. One
/// value serves as both the board store and the account store
/// ([`Stores::on`](super::Stores::on)), so a process keeps one shared
/// connection for both.
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
    conn: std::sync::Arc<std::sync::RwLock<Conn>>,
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
    /// Set when acked writes must reach replicas first, on Redis Cluster.
    shards: Option<replicas::Shards>,
    /// The connection whole-board reads go over (see [`Self::bulk`]).
    bulk: std::sync::Mutex<Option<Conn>>,
}

/// How long a placement's seq is kept under its attempt's id
/// (`placed:{placement}`, one server), for settling a lost answer: the
/// look-up runs within the store's answer bound plus the game's settle
/// budget (seconds) of the attempt; a minute leaves room to spare while
/// keeping the keys few (at 10,000 placements/s, 600,000 keys of ~90 bytes).
pub(super) const PLACED_KEEP_MS: u64 = 60_000;

/// How long a whole-board read may take to answer: a 4096² board with a
/// million pixels is a reply of ~30 MB (1.6 s measured in a release build,
/// over 2 s in a debug one), which the shared connection's 2 s would refuse.
const BULK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl RedisStore {
    /// Connects, failing fast if Redis cannot be reached now. (Later outages
    /// are survived: operations fail as `unavailable` while Redis is down,
    /// and the connection is re-established in the background.)
    pub async fn connect(settings: &RedisSettings) -> Result<Self, StoreError> {
        let connector = Connector::open(settings)?;
        let keys = if connector.is_cluster() {
            Keys::cluster(&settings.prefix)
        } else {
            Keys::new(&settings.prefix)
        };
        let conn = std::sync::Arc::new(std::sync::RwLock::new(connector.shared().await?));
        // On Cluster the guarantee is per shard (`replicas::Shards`).
        let (one_server_min, shard_min) = if connector.is_cluster() {
            (0, settings.min_replicas_acked)
        } else {
            (settings.min_replicas_acked, 0)
        };
        let shards = replicas::Shards::start(
            shard_min,
            settings.replica_ack_timeout,
            settings.timeout,
            &connector,
            &conn,
            &settings.prefix,
            settings.service,
        )
        .await?;
        let replicas = replicas::Replicas::start(
            one_server_min,
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
            keys,
            epoch: Default::default(),
            boards: Default::default(),
            scripts: Scripts::load(),
            replicas,
            shards,
            bulk: Default::default(),
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
        if self.keys.is_cluster() {
            return self.recover_cluster().await;
        }
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
            return Err(geometry_mismatch(board, &stored, geometry));
        }
        Ok(epoch)
    }

    /// [`Self::recover`] on Cluster: reads the data set's epoch (recording
    /// each board as created under it, in the same step), then brings each
    /// board's copy to it. A board that was created under the epoch but
    /// whose keys are gone lost its shard's data: its seqs would start
    /// again under the same epoch, so a new epoch is started first and
    /// every board brought to that. A board with a later epoch than the one
    /// read here (another process replaced it meanwhile) sends us round
    /// again.
    async fn recover_cluster(&self) -> Result<(), StoreError> {
        let boards = self
            .boards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for _ in 0..4 {
            let (mut epoch, _) = self.cluster_epoch("").await?;
            let mut again = false;
            for (board, geometry) in &boards {
                let (e, known) = self.cluster_epoch(board.as_str()).await?;
                epoch = e;
                match self.init_cluster(board, geometry, &epoch, known).await? {
                    ClusterInit::Ok => {}
                    ClusterInit::Stale(later) => {
                        // Another process moved the data set on since we
                        // read it (then this changes nothing), or the
                        // data set's epoch was made again, behind the
                        // board's (its shard lost it): move it past.
                        self.restart_cluster_epoch(&epoch, Some(&later)).await?;
                        again = true;
                        break;
                    }
                    ClusterInit::Lost => {
                        tracing::warn!(%board, "a Redis Cluster shard lost this board's data: starting a new epoch");
                        self.restart_cluster_epoch(&epoch, None).await?;
                        again = true;
                        break;
                    }
                }
            }
            if !again {
                self.adopt(epoch);
                return Ok(());
            }
        }
        Err(StoreError::Unavailable(Cause::msg(
            "the Redis data set's epoch kept changing while recovering",
        )))
    }

    /// The data set's epoch on Cluster (made if missing), and whether
    /// `board` (if not empty) was created under it before (recorded once
    /// its keys exist, after [`Self::init_cluster`]: two processes that
    /// create a new board at once do not take it for a lost one).
    async fn cluster_epoch(&self, board: &str) -> Result<(String, bool), StoreError> {
        let mut conn = self.conn().await?;
        let (epoch, known): (String, i64) = self
            .scripts
            .epoch_cluster
            .key(self.keys.epoch())
            .key(self.keys.known_boards())
            .arg(cluster_epoch_after(None))
            .arg(board)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.fail(e))?;
        Ok((epoch, known == 1))
    }

    /// A new data set epoch on Cluster unless `seen` was replaced already;
    /// later than `seen` and than `past` (a board's), whatever the clocks.
    pub(super) async fn restart_cluster_epoch(
        &self,
        seen: &str,
        past: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let floor = std::cmp::max(Some(seen), past);
        let mut conn = self.conn().await?;
        self.scripts
            .restart_epoch_cluster
            .key(self.keys.epoch())
            .key(self.keys.known_boards())
            .arg(seen)
            .arg(cluster_epoch_after(floor))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.fail(e))
    }

    /// INIT_BOARD_CLUSTER for one board under `epoch`.
    async fn init_cluster(
        &self,
        board: &BoardId,
        geometry: &str,
        epoch: &str,
        known: bool,
    ) -> Result<ClusterInit, StoreError> {
        let mut conn = self.conn().await?;
        let (stored, status, theirs): (String, String, String) = self
            .scripts
            .init_board_cluster
            .key(self.keys.seq(board))
            .key(self.keys.geometry(board))
            .key(self.keys.epoch_of(board))
            .arg(geometry)
            .arg(epoch)
            .arg(if known { "1" } else { "0" })
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.fail(e))?;
        if stored != geometry {
            return Err(geometry_mismatch(board, &stored, geometry));
        }
        match status.as_str() {
            "ok" => {
                let _: i64 = self
                    .scripts
                    .record_board
                    .key(self.keys.epoch())
                    .key(self.keys.known_boards())
                    .arg(epoch)
                    .arg(board.as_str())
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| self.fail(e))?;
                Ok(ClusterInit::Ok)
            }
            "lost" => Ok(ClusterInit::Lost),
            "stale" => Ok(ClusterInit::Stale(theirs)),
            other => Err(StoreError::Corrupt(Cause::msg(format!(
                "unexpected reply {other:?} of the board init script"
            )))),
        }
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

    /// The connection for whole-board reads (snapshots): one of their own,
    /// kept between reads, so that a reply of tens of megabytes neither
    /// holds up the placements on the shared connection behind it nor runs
    /// into the shared connection's response timeout. Dropped after an
    /// error; the next read connects again (on Sentinel, to the primary
    /// the sentinels name then). The second value says whether it was kept
    /// from an earlier read (and so may have broken since).
    async fn bulk(&self) -> Result<(Conn, bool), StoreError> {
        if let Some(conn) = self.bulk.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok((conn, true));
        }
        let conn = self
            .connector
            .feed(self.connector.timeout(), BULK_TIMEOUT)
            .await?;
        *self.bulk.lock().unwrap_or_else(|e| e.into_inner()) = Some(conn.clone());
        Ok((conn, false))
    }

    /// Runs a whole-board read (a read only, so safe to repeat) on the bulk
    /// connection. A kept connection that turns out broken (Redis restarted
    /// or failed over since the last read: nothing notices a plain
    /// connection's death until it is used) is replaced and the read tried
    /// once more on the fresh one, so the first snapshot after a Redis
    /// restart answers rather than failing `unavailable`.
    async fn bulk_query<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        let (mut conn, kept) = self.bulk().await?;
        match pipe.query_async(&mut conn).await {
            Ok(v) => Ok(v),
            Err(e) if kept && broken(&e) => {
                tracing::debug!(error = %e, "the bulk connection broke since the last read; reconnecting");
                *self.bulk.lock().unwrap_or_else(|e| e.into_inner()) = None;
                let (mut conn, _) = self.bulk().await?;
                pipe.query_async(&mut conn)
                    .await
                    .map_err(|e| self.bulk_failed(e))
            }
            Err(e) => Err(self.bulk_failed(e)),
        }
    }

    /// Maps a failed whole-board read's error and drops its connection.
    fn bulk_failed(&self, e: redis::RedisError) -> StoreError {
        *self.bulk.lock().unwrap_or_else(|e| e.into_inner()) = None;
        redis_err(e)
    }

    /// A handle on the shared connection (cheap: it multiplexes).
    async fn conn(&self) -> Result<Conn, StoreError> {
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
}

/// What bringing one board to an epoch found on Cluster.
enum ClusterInit {
    Ok,
    /// Created under the epoch before, its keys are gone: a new epoch first.
    Lost,
    /// The board has a later epoch than the one given (this one).
    Stale(String),
}

/// A fresh epoch on Cluster: the time it is made (ms, 13 digits) and a
/// random id, so epochs compare in the order they were made (a board's copy
/// is never set back), and later than `floor` (another epoch) even when
/// clocks disagree.
fn cluster_epoch_after(floor: Option<&str>) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let past = floor
        .and_then(|f| f.get(..13))
        .and_then(|ms| ms.parse::<u64>().ok())
        .map_or(0, |ms| ms + 1);
    format!("{:013}{}", now.max(past), uuid::Uuid::new_v4().simple())
}

fn geometry_mismatch(board: &BoardId, stored: &str, geometry: &str) -> StoreError {
    StoreError::Corrupt(Cause::msg(format!(
        "board {board} is {stored} in Redis but this process is configured for \
         {geometry} (BOARD_WIDTH x BOARD_HEIGHT): refusing to serve it"
    )))
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
impl Reachable for RedisStore {
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
}

/// Whether an error says the connection itself is gone (as opposed to a
/// slow answer or an error reply), so that a fresh connection may succeed.
fn broken(e: &redis::RedisError) -> bool {
    e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
        || (e.is_io_error() && !e.is_timeout())
}
