//! The storage interface. Every operation that changes game state is a single
//! atomic step here — a placement checks the cooldown, takes the next seq,
//! writes the pixel, schedules its decay and appends the update to the
//! board's feed in one go — so concurrent callers (tasks, or gateways on
//! other machines) can never lose, reorder or double-apply an update, and
//! the rules above the store are the same whichever implementation runs
//! underneath.
//!
//! # The board feed
//!
//! Each board has one ordered, durable feed of its updates, written by the
//! same atomic step that gives an update its seq (a Redis Stream whose entry
//! ids are `<seq>-0`; a ring buffer in memory). Seqs in the feed are
//! consecutive, so a reader that sees seq `n + 1` after `n` knows it missed
//! nothing, and one that sees a jump knows exactly what it missed. The feed
//! is both the catch-up history (`join since`, [`BoardStore::read_history`]) and
//! the live stream every gateway relays to its sockets ([`FeedReader`]).
//!
//! # Two stores
//!
//! The boards ([`BoardStore`]: pixels, seqs, feeds, decay, cooldowns) and
//! the accounts ([`AccountStore`]: users, refresh-token families, limiters)
//! share no state and no step, so each caller sees only the one it needs:
//! the [`Game`](crate::Game) the board store, the api's accounts the account
//! store. Both are implemented by [`MemoryStore`] (standalone mode) and
//! [`RedisStore`] (cluster mode), one value serving as both, so that a
//! process keeps one memory state or one shared Redis connection (see
//! [`Stores`], which opens them).
//!
//! What both need lives in a small supertrait, [`Reachable`] (`ping`, for
//! readiness), which a readiness probe takes whichever store it has. The
//! epoch stays on the board store: it says whether *seqs* still mean what
//! they meant (ETags, relay positions, `join since`), and accounts have no
//! seqs — a user record or a refresh family is the same record in any
//! epoch.

mod memory;
mod redis;

pub use memory::MemoryStore;
#[cfg(any(test, feature = "test-helpers"))]
pub use redis::fuzzing as redis_fuzzing;
pub use redis::{RedisSettings, RedisStore};

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::config::StoreConfig;
use crate::domain::{BoardConfig, BoardId, Coord, HistoryPolicy, PixelEntry, Update};

/// What can go wrong below the game. Each failure carries its [`Cause`]
/// (the driver's error and its own chain, or a message) as its `source`, so
/// the boundary that reports it (the api's response mapping, the gateway's
/// ack, the worker's loop) logs the whole chain once.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing store cannot be reached or cannot serve now. A
    /// placement reporting this changed nothing (one whose answer was lost
    /// after it was sent is [`Self::OutcomeUnknown`]); the other steps
    /// report a lost answer as this too, and each is safe to retry (see
    /// [`BoardStore`] and [`AccountStore`]).
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// A state change was sent but no answer came (a timeout, a dropped
    /// connection): it may or may not have been applied.
    #[error("storage did not answer: {0}")]
    OutcomeUnknown(#[source] Cause),
    /// A user with this email already exists.
    #[error("email already registered")]
    EmailTaken,
    /// The store holds data it cannot read (a bug or a foreign writer).
    #[error("corrupt stored data: {0}")]
    Corrupt(#[source] Cause),
}

/// Why a store step failed: the underlying error, shared (a placement
/// whose outcome is unknown reports the same cause after settling it).
///
/// Its `Display` is the underlying error's own text, which the
/// [`StoreError`] above it repeats in its message (the text operators and
/// tests know); its `source` is the underlying error's source, so a chain
/// printed from the [`StoreError`] names each layer once.
#[derive(Debug, Clone)]
pub struct Cause(std::sync::Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    /// The cause is `e` (a Redis error, a JSON error, ...).
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(e))
    }

    /// A cause with no error underneath it: the store's own finding.
    pub fn msg(message: impl Into<String>) -> Self {
        Self(std::sync::Arc::new(Message(message.into())))
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Message(String);

/// A registered user as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: String,
    /// Normalised (lower-case) email.
    pub email: String,
    pub name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
}

/// A login's refresh-token family as stored: one record per login, however
/// often its token is rotated. The store only ever sees SHA-256s of tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub user_id: String,
    /// The login's id; the opaque token names it, so the store finds the
    /// family of any token ever issued to this login.
    pub family: String,
    pub expires_at: i64,
}

/// A refresh-token rotation: `presented` (a hash) is to be replaced by
/// `next`, which the caller derives from the presented token, so that a
/// retry of a rotation whose answer was lost names the same successor.
#[derive(Debug, Clone)]
pub struct Rotation<'a> {
    pub family: &'a str,
    pub presented: &'a str,
    pub next: &'a str,
    pub next_expires_at: i64,
    pub now: i64,
    /// How long the token just replaced may still be presented again to get
    /// the same successor (a retry), instead of counting as reuse.
    pub retry_grace_ms: i64,
    /// At most `max_rotations` per `window_ms` per family.
    pub max_rotations: u32,
    pub window_ms: i64,
}

/// The result of presenting a refresh token for rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The family's current token is now `next` (also the answer to a retry
    /// within the grace period: nothing changes then).
    Rotated { user_id: String },
    /// A token of the family that is neither current nor a fresh retry:
    /// the whole family is now revoked.
    Reused,
    /// Unknown, expired, or revoked.
    Invalid,
    /// The family rotated too often in the window; nothing was changed.
    /// The window ends in `retry_after_ms` (at least 1).
    RateLimited { retry_after_ms: i64 },
}

/// The answer of a sliding-window limiter (login attempts, sign-ups per
/// address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The hit was recorded.
    Allowed,
    /// Refused and not recorded: in `retry_after_ms` (at least 1) enough
    /// recorded hits have left the window for the next one to pass.
    Limited { retry_after_ms: i64 },
}

/// One placement, fully validated and with its times computed by the game.
#[derive(Debug, Clone)]
pub struct PlaceCommand<'a> {
    pub board: &'a BoardConfig,
    pub coord: Coord,
    pub color: u8,
    pub user_id: &'a str,
    pub by: &'a str,
    pub now: i64,
    pub expires_at: i64,
    pub cooldown_until: i64,
    pub history: HistoryPolicy,
    /// Server-generated id of this attempt, recorded with the placement, so
    /// that an attempt whose answer was lost can be settled
    /// ([`BoardStore::settle_placement`]).
    pub placement_id: &'a str,
}

impl PlaceCommand<'_> {
    /// The update this placement becomes once the store gives it `seq`.
    pub fn update(&self, seq: u64) -> Update {
        Update::placement(
            seq,
            self.coord.x,
            self.coord.y,
            self.color,
            self.now,
            self.expires_at,
            self.by,
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceOutcome {
    Placed(Update),
    Cooldown { retry_after_ms: i64 },
}

/// What `join since` gets from the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Catchup {
    /// Every update with `seq > since`, in seq order (possibly none).
    Updates(Vec<Update>),
    /// The history no longer reaches back to `since`: fetch a snapshot.
    Resync,
}

/// The most updates one `join since` replays; a client further behind
/// fetches a snapshot instead. It keeps a ~40-byte request from costing a
/// megabyte-sized read and ack, and it equals the contract's count bound,
/// so a client within the retained history always catches up.
pub const MAX_CATCHUP: u64 = 10_000;

impl Catchup {
    /// What `join since` gets when this connection's feed stands at `upto`
    /// and `read` holds the retained updates after `since`, up to `upto`.
    /// Anything short of every update `since + 1 ..= upto` is a resync.
    pub fn from_history(since: u64, upto: u64, read: HistoryRead) -> Self {
        if since > read.seq {
            // The client knows seqs this store never issued (it lost data).
            return Self::Resync;
        }
        if since >= upto {
            return Self::Updates(Vec::new());
        }
        let u = &read.updates;
        let complete = u.len() as u64 == upto - since
            && u.first().is_some_and(|f| f.seq == since + 1)
            && u.last().is_some_and(|l| l.seq == upto);
        if complete {
            Self::Updates(read.updates)
        } else {
            Self::Resync
        }
    }
}

/// Part of a board's retained history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRead {
    /// The board's current seq.
    pub seq: u64,
    /// The oldest seq still retained (`None`: the history is empty).
    pub oldest: Option<u64>,
    /// Retained updates in the requested range, in seq order.
    pub updates: Vec<Update>,
}

/// What one decay sweep of a board did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SweepOutcome {
    /// The removals, each with its new seq, in seq order.
    pub removed: Vec<Update>,
    /// The earliest expiry still scheduled (`None`: nothing is).
    pub next_due: Option<i64>,
    /// Pixels already due that this sweep left for the next (batch limit).
    pub backlog: u64,
}

/// Reads a board's feed from a position: what a gateway's relay runs on.
/// Each reader holds its own connection, so a blocking read never ties up
/// the connections that serve requests.
#[async_trait]
pub trait FeedReader: Send {
    /// Up to `max` updates with seq > `after`, in seq order, waiting up to
    /// `wait` for the first to exist; empty if none came in time. The first
    /// update's seq is `after + 1` unless the feed no longer holds it.
    async fn read(
        &mut self,
        board: &BoardId,
        after: u64,
        max: usize,
        wait: std::time::Duration,
    ) -> Result<Vec<Update>, StoreError>;

    /// The store's epoch as the last successful `read` found it, read in
    /// the same round trip (`None`: the data set has no epoch — it was just
    /// wiped). A reader whose epoch changes must not take the updates it
    /// read as the continuation of what it relayed before: their seqs
    /// belong to another data set.
    fn epoch(&self) -> Option<&str>;
}

/// A board as it stands after update `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSnapshot {
    /// The epoch of the data set it was read from, read with it.
    pub epoch: String,
    pub seq: u64,
    pub pixels: Vec<PixelEntry>,
}

/// Which process opens the game: it decides whether the game may keep its
/// state in memory (only the all-in-one server, which is the whole
/// deployment) or needs Redis (every cluster service, whose state is
/// shared), and names the process in errors and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Api,
    Gateway,
    Worker,
    Standalone,
}

impl Role {
    /// The `service` label of the process's metrics and errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Gateway => "gateway",
            Self::Worker => "worker",
            Self::Standalone => "standalone",
        }
    }

    /// Whether, without `REDIS_URL`, the game runs on the memory store
    /// (else a missing `REDIS_URL` is an error).
    pub fn may_run_in_memory(self) -> bool {
        self == Self::Standalone
    }
}

/// What both stores have in common: the backing they run on can be
/// reached. A readiness probe asks this, whichever store a service uses.
#[async_trait]
pub trait Reachable: Send + Sync + 'static {
    /// Cheap round trip proving the store can serve requests; changes
    /// nothing.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Where the boards live: pixels, seqs, feeds, decay schedules and the
/// players' cooldowns (a cooldown is checked and set in the same step as
/// the pixel it allows). Implemented by [`MemoryStore`] and [`RedisStore`];
/// both pass the one conformance list.
///
/// What every implementation guarantees:
/// - **Atomic steps.** A placement (cooldown check, next seq, pixel write,
///   decay schedule, feed append, cooldown set) and a sweep (each removal
///   with its seq and feed entry) happen whole or not at all; concurrent
///   callers in any number of processes never interleave, so no update is
///   lost, reordered or applied twice.
/// - **Seq order.** A board's seqs are consecutive from 1, and every update
///   is in the board's feed under its seq, written by the same step that
///   gave it the seq; reads ([`Self::read_history`], [`FeedReader::read`])
///   return updates in seq order.
/// - **Epochs.** Seqs are meaningful only within one [`Self::epoch`]; a
///   data set that lost updates gets a new one, so nothing built on an old
///   seq (an ETag, a relay position) is taken as current.
/// - **Errors say what was applied.** A placement's
///   [`StoreError::Unavailable`] changed nothing and its
///   [`StoreError::OutcomeUnknown`] may have applied (it is then settled
///   with [`Self::settle_placement`]); a sweep's or an init's
///   [`StoreError::Unavailable`] may mean a lost answer, which retrying
///   makes harmless (below); [`StoreError::Corrupt`] is data the store
///   cannot read (or a board that was never initialised), never replaced
///   by a default, and changed nothing.
/// - **Retries.** [`Self::init_board`] is idempotent. A placement is not:
///   a retry of one whose outcome is unknown must settle it first (the
///   attempt is then either found with its seq or fenced off for good). A
///   sweep may be retried freely: it removes only what is due and still
///   there.
#[async_trait]
pub trait BoardStore: Reachable {
    /// Identifies the data set: it changes only when data is lost (a new
    /// in-memory store, a wiped Redis, a failover to a replica that lagged),
    /// since seqs then restart or repeat. ETags include it. A running
    /// process learns of a new epoch from the store itself: every Redis
    /// step that changes a board checks the epoch it was given against the
    /// stored one, and on a mismatch the store re-initialises its boards,
    /// adopts the data set's epoch and retries (see the Redis store's docs).
    fn epoch(&self) -> String;

    /// Says that the data set of epoch `seen` lost updates (a board's seq
    /// went backwards under a reader): starts a new epoch, unless another
    /// process already has, and returns the current one. Every process
    /// then takes the data set as a new one (ETags change, relays resync
    /// their sockets). Idempotent: a repeat with the same `seen` keeps the
    /// epoch the first call started.
    async fn restart_epoch(&self, seen: &str) -> Result<String, StoreError>;

    /// Creates the board's state if it does not exist; keeps it if it does
    /// (idempotent). A board stored with another geometry is
    /// [`StoreError::Corrupt`] and is not touched.
    async fn init_board(&self, board: &BoardConfig) -> Result<(), StoreError>;

    /// The board's last seq (0 before its first update).
    async fn board_seq(&self, board: &BoardId) -> Result<u64, StoreError>;
    /// One placement as one atomic step: refused whole with
    /// [`PlaceOutcome::Cooldown`] while the user's cooldown runs (nothing
    /// written), else the pixel, its decay, the next seq, the feed entry and
    /// the new cooldown together.
    async fn place(&self, cmd: &PlaceCommand<'_>) -> Result<PlaceOutcome, StoreError>;
    /// After `place` ended in [`StoreError::OutcomeUnknown`]: the seq the
    /// attempt `placement_id` of `user_id` on `board` got if it was applied, else
    /// `None` — and then it never will be (the attempt is fenced off, so a
    /// late-running step refuses it). Definitive once it returns `Ok`; may
    /// be retried after an error.
    async fn settle_placement(
        &self,
        board: &BoardId,
        user_id: &str,
        placement_id: &str,
    ) -> Result<Option<u64>, StoreError>;
    /// The board's pixels as they stand after update `seq`, read together
    /// with `seq` and the epoch (no update can fall between them).
    async fn snapshot(&self, board: &BoardConfig) -> Result<StoredSnapshot, StoreError>;
    /// The retained updates with `after < seq <= upto` (at most `limit`),
    /// with the board's current seq and oldest retained seq, read together
    /// so that a reconnecting client costs one round trip.
    async fn read_history(
        &self,
        board: &BoardId,
        after: u64,
        upto: u64,
        limit: usize,
    ) -> Result<HistoryRead, StoreError>;
    /// Removes up to `limit` pixels whose expiry is `<= now`, giving each
    /// removal the next seq and appending it to the feed. A pixel that was
    /// overwritten after its decay was scheduled is never removed early: its
    /// expiry moved with the overwrite.
    async fn sweep(
        &self,
        board: &BoardConfig,
        now: i64,
        limit: usize,
        history: HistoryPolicy,
    ) -> Result<SweepOutcome, StoreError>;
    /// A reader of the boards' feeds with a connection of its own.
    fn feed(&self) -> Box<dyn FeedReader>;
}

/// Where the accounts live: users, refresh-token families (one per login)
/// and the sliding-window limiters (login attempts per email, other hits
/// per key such as sign-ups per address). Implemented by [`MemoryStore`]
/// and [`RedisStore`]; both pass the one conformance list.
///
/// What every implementation guarantees:
/// - **Atomic steps.** Creating a user (email uniqueness and record), a
///   limiter hit (count and record) and a rotation (check, replace, rate
///   window, or revoke on reuse) each happen whole or not at all, so
///   parallel requests in any number of processes cannot register one
///   email twice, slip past a limit, or rotate one token twice.
/// - **Errors say what was applied.** [`StoreError::EmailTaken`] changed
///   nothing; [`StoreError::Corrupt`] is a stored record the store cannot
///   read, never a default; [`StoreError::Unavailable`] changed nothing
///   when the store could not be reached, but on Redis it is also the
///   answer to a step whose reply was lost after it was sent, which may
///   have applied — so every step here is safe to retry (below).
/// - **Retries.** A retried rotation that names the same successor within
///   the grace period gets the same answer and changes nothing
///   ([`Rotation`]); [`Self::confirm_refresh`], [`Self::revoke_refresh`] and
///   [`Self::clear_login_attempts`] are idempotent; a retried
///   [`Self::create_user`] whose first try was applied answers
///   [`StoreError::EmailTaken`]; a retried limiter hit counts again.
#[async_trait]
pub trait AccountStore: Reachable {
    /// Registers `user`, unless its email is taken
    /// ([`StoreError::EmailTaken`], nothing written).
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError>;
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError>;

    /// Records a login attempt for `email` unless `max` attempts are already
    /// recorded in `(now - window_ms, now]`; [`Limit::Limited`] means
    /// throttled (and nothing was recorded, so the window can pass).
    /// Atomic, so parallel attempts cannot slip past the limit.
    async fn begin_login_attempt(
        &self,
        email: &str,
        now: i64,
        window_ms: i64,
        max: u32,
    ) -> Result<Limit, StoreError>;
    /// Forgets recorded attempts after a successful login.
    async fn clear_login_attempts(&self, email: &str) -> Result<(), StoreError>;

    /// Starts a login's family with `hash` as its current token. The family
    /// is one record, whatever the number of later rotations.
    async fn insert_refresh(
        &self,
        hash: &str,
        record: &RefreshRecord,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Rotates the family's current token (see [`RotateOutcome`]). Spent
    /// tokens are not kept: any token of the family other than the current
    /// one (or a fresh retry) is reuse and revokes the family.
    async fn rotate_refresh(&self, rotation: &Rotation<'_>) -> Result<RotateOutcome, StoreError>;
    /// Tells the store that the rotation to `current` was answered to the
    /// client: the replaced token stops being accepted as a retry. (A
    /// rotation whose answer never left the api stays retryable for the
    /// grace period, so a Redis reply that came too late does not sign the
    /// user out.)
    async fn confirm_refresh(&self, family: &str, current: &str) -> Result<(), StoreError>;
    /// Logout: revokes (deletes) the live family `family`, whichever of its
    /// tokens is presented — a spent one included, as that is the case where
    /// a thief may hold the current one. `false` if there was no live family.
    async fn revoke_refresh(&self, family: &str, now: i64) -> Result<bool, StoreError>;
    /// A sliding-window limiter: records a hit on `key` unless
    /// `max` hits are already recorded in `(now - window_ms, now]`
    /// ([`Limit::Limited`], nothing recorded). Used for per-address sign-ups.
    async fn hit_limit(
        &self,
        key: &str,
        now: i64,
        window_ms: i64,
        max: u32,
    ) -> Result<Limit, StoreError>;
}

/// The two stores of one process, on one backing: the memory store's one
/// state, or the Redis store's one shared connection (both handles point at
/// the same [`MemoryStore`] or [`RedisStore`]). Each caller takes only the
/// store it needs: the game the boards, the api's accounts the accounts.
#[derive(Clone)]
pub struct Stores {
    pub boards: Arc<dyn BoardStore>,
    pub accounts: Arc<dyn AccountStore>,
}

impl Stores {
    /// Both stores on one in-memory state (the standalone server, tests).
    pub fn memory() -> Self {
        Self::on(Arc::new(MemoryStore::new()))
    }

    /// Both stores on one backing that implements both.
    pub fn on<S: BoardStore + AccountStore>(backing: Arc<S>) -> Self {
        Self {
            boards: backing.clone(),
            accounts: backing,
        }
    }

    /// The stores the configuration names — Redis when `REDIS_URL` is set
    /// (waiting up to a minute for it), else memory for the one role that
    /// may run without Redis ([`Role::Standalone`]). The role names the
    /// caller in the error for a missing `REDIS_URL` and in the store's
    /// metrics.
    pub async fn open(config: &StoreConfig, role: Role) -> anyhow::Result<Self> {
        let service = role.name();
        Ok(match &config.redis_url {
            None if role.may_run_in_memory() => Self::memory(),
            _ => {
                let url = config.required_url(service)?;
                Self::on(Arc::new(
                    connect_redis(
                        &RedisSettings {
                            service,
                            min_replicas_acked: config.min_replicas_acked,
                            replica_ack_timeout: std::time::Duration::from_millis(
                                config.replica_ack_timeout_ms,
                            ),
                            ..RedisSettings::new(url)
                        },
                        std::time::Duration::from_secs(60),
                    )
                    .await?,
                ))
            }
        })
    }
}

#[cfg(any(test, feature = "test-helpers"))]
pub mod conformance;

/// Connects the Redis store, waiting for Redis with backoff for up to
/// `patience` (a cluster's processes may start before Redis is up).
pub async fn connect_redis(
    settings: &RedisSettings,
    patience: std::time::Duration,
) -> Result<RedisStore, StoreError> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut delay = std::time::Duration::from_millis(100);
    loop {
        match RedisStore::connect(settings).await {
            Ok(store) => return Ok(store),
            Err(StoreError::Unavailable(reason)) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(
                    redis = %crate::config::redis_url_target(&settings.url),
                    error = %crate::error::Report(&reason),
                    "waiting for Redis"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}
