//! Acks that mean "replicated" (`REDIS_MIN_REPLICAS_ACKED` = N ≥ 1).
//!
//! Redis replicates asynchronously: a primary that dies right after a
//! write may take it with it, and the replica the sentinels promote never
//! saw it, although the client was told "placed". `WAIT N timeout` closes
//! that gap, but it only covers the writes sent earlier *on the same
//! connection*, and it blocks that connection while it waits. The store
//! sends every request on one multiplexed connection, so a `WAIT` per
//! write would serialise them all behind one replica round trip each.
//!
//! Instead, writes go out as before and then queue for a **barrier**
//! ([`barrier`]): one task that takes every write whose reply has come
//! back and sends a single `WAIT` on the shared connection for all of
//! them (group commit). Each write waits for at most the round in flight
//! and its own. The round's pipeline (`CLIENT INFO`, `INCR barrier`,
//! `WAIT`) starts with `CLIENT INFO`, which names
//! the connection (client id and both addresses): if it is not the one the
//! previous round saw (the manager reconnected, the store swapped in a new
//! connection after a timeout, or a failover moved the primary), writes
//! queued since may have gone out on the old one, which this `WAIT` does
//! not cover. They are answered "may have been applied"
//! ([`StoreError::OutcomeUnknown`]), never "replicated".
//!
//! A **poll** on a connection of its own ([`poll`], every 250 ms) reads
//! `INFO replication` and counts the replicas that are online and acked
//! within the last second. With fewer than N (or no recent answer), a write
//! is refused before it is sent ([`StoreError::Unavailable`]: nothing
//! applied), instead of being applied and then waiting for a `WAIT` that
//! cannot succeed.
//!
//! A placement whose answer was lost and that `settle_placement` then finds
//! applied goes through the same barrier before it is reported placed.
//!
//! With N = 0 none of this exists: no task, no poll, no extra command.
//!
//! # On Redis Cluster ([`Shards`])
//!
//! Each shard replicates on its own, so the guarantee is per shard: an
//! acked write waits until the primary of the slot it wrote reports N of
//! its replicas have it. After the write, one pipeline (`CLIENT INFO`,
//! `INCR` of a barrier key in the same slot, `WAIT N timeout`) is routed
//! to that slot's primary (`route_pipeline` to
//! `SpecificNode(Route(slot, Master))`), so it runs on the connection the
//! cluster client keeps to that node, the one the write went over: a
//! plain `WAIT` would be sent to every primary (redis-rs routes it to all
//! of them and keeps the smallest count). The `INCR` makes the `WAIT`
//! cover the node's replication stream up to that point, as on one server.
//! `CLIENT INFO` names the connection, per slot: when it is not the one
//! the previous round of that slot saw (a reconnect, or a failover that
//! moved the slot to a promoted replica, which may lack the write), the
//! write is answered "may have been applied", never "replicated". A
//! `WAIT` that times out is answered "may have been applied" too.
//!
//! A placement waits on the board's slot, where its pixel, feed entry and
//! `placed` record are (the user's cooldown reservation, on the user's
//! slot, does not wait: a failover that loses it only shortens that
//! cooldown); a sign-up on the slots of its user record and email claim;
//! a refresh on its family's slot.
//!
//! A poll (every 250 ms, on plain connections of its own to the nodes, by
//! the addresses the cluster names: the cluster client's slot map is only
//! refreshed by a write that was redirected or failed, and a refused write
//! is never sent) reads the slot ranges (`CLUSTER SLOTS`, from the first
//! node that answers) and each range's primary's `INFO replication`: a write to a slot whose primary has fewer than N replicas in
//! sync (or no recent answer) is refused before it is sent, as on one
//! server, so a shard without its replica refuses at once instead of
//! applying and then waiting out the `WAIT`.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use super::connection::Conn;
use tokio::sync::{mpsc, oneshot};

use super::RedisStore;
use super::connection::Connector;
use crate::store::{Cause, StoreError};

/// How often the poll asks the primary about its replicas.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// A poll answer older than this is not believed (the poll's own
/// connection is stuck or the primary is gone): writes are refused.
const POLL_STALE: Duration = Duration::from_millis(1500);
/// A replica acks the primary every second; one whose last ack is older
/// than this (`lag` in `INFO replication`, whole seconds) is not counted.
const MAX_LAG_S: u64 = 1;

/// The replication guarantee of the store's writes, when one is asked for.
pub(super) struct Replicas {
    min: u32,
    /// How long a write waits for its barrier round before it is answered
    /// "may have been applied": the `WAIT` timeout plus the response timeout.
    patience: Duration,
    state: Arc<State>,
    barrier: mpsc::UnboundedSender<Waiter>,
}

/// What the poll and the barrier share with the writers.
struct State {
    start: Instant,
    /// Replicas in sync at the last poll.
    in_sync: AtomicU32,
    /// When the last poll answered (ms since `start`, +1; 0 = never).
    polled_at: AtomicU64,
    /// Bumped whenever the barrier finds another connection than the
    /// previous round's (or loses track of it).
    segment: AtomicU64,
}

/// Taken before a write is sent: which connection segment it belongs to
/// (on Cluster, per slot written).
pub(super) struct Ticket(Option<u64>, Vec<(u16, u64)>);

/// What the barrier task works with.
struct Round {
    /// The store's shared connection (the current one is read each round).
    conn: Arc<RwLock<Conn>>,
    state: Arc<State>,
    min: u32,
    ack_timeout: Duration,
    /// The `barrier` key.
    key: String,
    service: &'static str,
}

struct Waiter {
    segment: u64,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// Names one connection of one server: `CLIENT INFO`'s `id`, `addr`
/// (ours) and `laddr` (the server's).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConnKey(String);

impl Replicas {
    /// Starts the poll and the barrier for `min` replicas (nothing for 0).
    /// `conn` is the store's shared connection, whose current one the
    /// barrier names before the first write.
    pub(super) async fn start(
        min: u32,
        ack_timeout: Duration,
        response_timeout: Duration,
        connector: &Connector,
        conn: &Arc<RwLock<Conn>>,
        barrier_key: String,
        service: &'static str,
    ) -> Result<Option<Self>, StoreError> {
        if min == 0 {
            return Ok(None);
        }
        check_ack_timeout(ack_timeout, response_timeout)?;
        let state = Arc::new(State {
            start: Instant::now(),
            in_sync: AtomicU32::new(0),
            polled_at: AtomicU64::new(0),
            segment: AtomicU64::new(0),
        });
        // Name the connection now, so the first writes are not taken for
        // writes on another one.
        let mut first = conn.read().unwrap_or_else(|e| e.into_inner()).clone();
        let info: String = redis::cmd("CLIENT")
            .arg("INFO")
            .query_async(&mut first)
            .await
            .map_err(super::connection::redis_err)?;
        let seen = ConnKey::parse(&info);
        // One poll before the store is handed out, so writes right after
        // start are judged on a real count.
        let mut poll_conn = None;
        if let Ok(n) = poll_once(connector, response_timeout, &mut poll_conn).await {
            state.record(n);
        }
        tokio::spawn(poll(
            connector.clone(),
            response_timeout,
            Arc::downgrade(&state),
            poll_conn,
        ));
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(barrier(
            rx,
            Round {
                conn: conn.clone(),
                state: state.clone(),
                min,
                ack_timeout,
                key: barrier_key,
                service,
            },
            seen,
        ));
        Ok(Some(Self {
            min,
            patience: ack_timeout + response_timeout,
            state,
            barrier: tx,
        }))
    }

    fn ticket(&self) -> Result<Ticket, StoreError> {
        let age = self.state.poll_age();
        let in_sync = self.state.in_sync.load(Ordering::Acquire);
        if age.is_none_or(|a| a > POLL_STALE) {
            return Err(StoreError::Unavailable(Cause::msg(
                "the primary's replicas are unknown (no recent answer to INFO replication)",
            )));
        }
        if in_sync < self.min {
            return Err(StoreError::Unavailable(Cause::msg(format!(
                "{in_sync} of the {} replicas a write needs are in sync",
                self.min
            ))));
        }
        // Before the connection is taken (see `barrier` for why).
        Ok(Ticket(
            Some(self.state.segment.load(Ordering::Acquire)),
            Vec::new(),
        ))
    }

    async fn confirm(&self, segment: u64) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        if self.barrier.send(Waiter { segment, done }).is_err() {
            return Err(unknown("the replication barrier has stopped".into()));
        }
        match tokio::time::timeout(self.patience, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(unknown("the replication barrier has stopped".into())),
            Err(_) => Err(unknown(format!(
                "the replicas did not confirm the write within {} ms",
                self.patience.as_millis()
            ))),
        }
    }
}

impl RedisStore {
    /// Before an acked write is sent: refuses it (nothing applied) when
    /// fewer replicas than required are in sync.
    pub(super) fn before_write(&self) -> Result<Ticket, StoreError> {
        match &self.replicas {
            None => Ok(Ticket(None, Vec::new())),
            Some(r) => r.ticket(),
        }
    }

    /// [`Self::before_write`] for a write of `keys`: on Cluster, refuses it
    /// when the primary of one of their slots has fewer replicas in sync
    /// than required, and names the slots the write must wait on. On one
    /// server the keys do not matter.
    pub(super) async fn before_write_to(&self, keys: &[&str]) -> Result<Ticket, StoreError> {
        match &self.shards {
            None => self.before_write(),
            Some(shards) => shards.ticket(keys).await,
        }
    }

    /// After an acked write was applied: returns once the required
    /// replicas have it, or fails as "may have been applied".
    pub(super) async fn replicated(&self, ticket: Ticket) -> Result<(), StoreError> {
        if let Some(shards) = &self.shards {
            for (slot, segment) in ticket.1 {
                shards.confirm(slot, segment).await?;
            }
            return Ok(());
        }
        match (&self.replicas, ticket.0) {
            (Some(r), Some(segment)) => r.confirm(segment).await,
            _ => Ok(()),
        }
    }
}

impl State {
    fn record(&self, in_sync: u32) {
        self.in_sync.store(in_sync, Ordering::Release);
        let ms = self.start.elapsed().as_millis() as u64 + 1;
        self.polled_at.store(ms, Ordering::Release);
    }

    fn poll_age(&self) -> Option<Duration> {
        match self.polled_at.load(Ordering::Acquire) {
            0 => None,
            at => Some(
                self.start
                    .elapsed()
                    .saturating_sub(Duration::from_millis(at - 1)),
            ),
        }
    }
}

impl ConnKey {
    fn parse(info: &str) -> Option<Self> {
        let field = |name: &str| {
            info.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        };
        Some(Self(format!(
            "{} {} {}",
            field("id")?,
            field("addr")?,
            field("laddr")?
        )))
    }
}

fn unknown(message: String) -> StoreError {
    StoreError::OutcomeUnknown(Cause::msg(message))
}

/// The group commit: one `WAIT` for every write whose reply came back
/// since the last round.
///
/// Why a write is covered when it is answered `Ok`: its reply arrived
/// before it queued here, and the round's pipeline is sent after the queue
/// is drained, so on one connection Redis ran the write before the `WAIT`.
/// The `INCR` of the barrier key just before the `WAIT` makes it cover the
/// replication stream up to that point, not only this connection's own
/// writes: a placement that `settle_placement` found applied (a read) is
/// covered too.
/// The write took its segment before it took the connection; the segment
/// moves on whenever a round sees another connection than the one before.
/// If the write went out on a connection that was replaced before this
/// round (or that this round's `CLIENT INFO` does not name), some round
/// since its ticket saw the change, and the segments differ.
async fn barrier(
    mut queue: mpsc::UnboundedReceiver<Waiter>,
    round: Round,
    mut seen: Option<ConnKey>,
) {
    let Round {
        conn,
        state,
        min,
        ack_timeout,
        key: barrier_key,
        service,
    } = round;
    let ack_ms = ack_timeout.as_millis() as u64;
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while let Ok(w) = queue.try_recv() {
            batch.push(w);
        }
        let mut c = conn.read().unwrap_or_else(|e| e.into_inner()).clone();
        let started = Instant::now();
        let reply: redis::RedisResult<(String, u64, u32)> = redis::pipe()
            .cmd("CLIENT")
            .arg("INFO")
            .cmd("INCR")
            .arg(&barrier_key)
            .cmd("WAIT")
            .arg(min)
            .arg(ack_ms)
            .query_async(&mut c)
            .await;
        metrics::histogram!("redis_replica_wait_seconds", "service" => service)
            .record(started.elapsed().as_secs_f64());
        let outcome = match reply {
            Ok((info, _, acked)) => {
                let key = ConnKey::parse(&info);
                if key.is_none() || key != seen {
                    state.segment.fetch_add(1, Ordering::AcqRel);
                    seen = key;
                }
                Ok((state.segment.load(Ordering::Acquire), acked))
            }
            Err(e) => {
                state.segment.fetch_add(1, Ordering::AcqRel);
                seen = None;
                Err(e.to_string())
            }
        };
        for w in batch {
            let result = match &outcome {
                Ok((segment, _)) if *segment != w.segment => Err(unknown(
                    "the connection to Redis changed before the replicas confirmed the write"
                        .into(),
                )),
                Ok((_, acked)) if *acked >= min => Ok(()),
                Ok((_, acked)) => Err(unknown(format!(
                    "{acked} of {min} replicas confirmed the write within {ack_ms} ms"
                ))),
                Err(e) => Err(unknown(format!("waiting for the replicas failed: {e}"))),
            };
            let _ = w.done.send(result);
        }
    }
}

/// Counts the primary's replicas in sync, every [`POLL_INTERVAL`], until
/// the store is gone.
async fn poll(connector: Connector, timeout: Duration, state: Weak<State>, mut conn: Option<Conn>) {
    let mut failing = false;
    loop {
        tokio::time::sleep(POLL_INTERVAL).await;
        let Some(state) = state.upgrade() else {
            return;
        };
        match poll_once(&connector, timeout, &mut conn).await {
            Ok(n) => {
                state.record(n);
                failing = false;
            }
            Err(e) => {
                conn = None;
                if !failing {
                    tracing::warn!(error = %crate::error::Report(&e), "asking Redis about its replicas failed");
                }
                failing = true;
            }
        }
    }
}

/// One `INFO replication` on the poll's connection (made, on Sentinel for
/// the primary named now, when there is none).
async fn poll_once(
    connector: &Connector,
    timeout: Duration,
    conn: &mut Option<Conn>,
) -> Result<u32, StoreError> {
    if conn.is_none() {
        *conn = Some(connector.feed(timeout, timeout).await?);
    }
    let c = conn.as_mut().expect("connected above");
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(c)
        .await
        .map_err(super::connection::redis_err)?;
    in_sync(&info)
}

/// The replicas that are online and acked within [`MAX_LAG_S`], from
/// `INFO replication`; an error when the node is not a primary.
fn in_sync(info: &str) -> Result<u32, StoreError> {
    let mut role = None;
    let mut n = 0;
    for line in info.lines().map(str::trim) {
        if let Some(r) = line.strip_prefix("role:") {
            role = Some(r);
        } else if let Some((name, fields)) = line.split_once(':')
            && name.starts_with("slave")
            && name[5..].bytes().all(|b| b.is_ascii_digit())
            && !name[5..].is_empty()
        {
            let get = |k: &str| {
                fields
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
            };
            let online = get("state") == Some("online");
            let lag = get("lag").and_then(|l| l.parse::<u64>().ok());
            if online && lag.is_some_and(|l| l <= MAX_LAG_S) {
                n += 1;
            }
        }
    }
    match role {
        Some("master") => Ok(n),
        other => Err(StoreError::Unavailable(Cause::msg(format!(
            "the node asked about its replicas is not a primary (role {other:?})"
        )))),
    }
}

// --------------------------------------------------------------- Cluster --

/// The number of hash slots of a Redis Cluster.
const SLOTS: u16 = 16384;

/// The hash slot of `key`, as Redis Cluster computes it: CRC16 (XMODEM)
/// of the hash tag (the part between the first `{` and the next `}`, when
/// not empty) or else of the whole key, modulo 16384.
pub(super) fn slot_of(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16(tagged.unwrap_or(key)) % SLOTS
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// A barrier key for every slot: `<prefix>:barrier:{<n>}`, with the
/// smallest `n` whose tag hashes to the slot.
fn barrier_keys(prefix: &str) -> Vec<String> {
    let mut keys = vec![String::new(); SLOTS as usize];
    let mut missing = SLOTS as usize;
    let mut n: u64 = 0;
    while missing > 0 {
        let tag = n.to_string();
        let slot = slot_of(tag.as_bytes()) as usize;
        if keys[slot].is_empty() {
            keys[slot] = format!("{prefix}:barrier:{{{tag}}}");
            missing -= 1;
        }
        n += 1;
    }
    keys
}

/// Per-shard acks on Redis Cluster (see the module doc).
pub(super) struct Shards {
    min: u32,
    ack_timeout: Duration,
    /// How long a write waits for its round before it is answered "may
    /// have been applied": the `WAIT` timeout plus the response timeout.
    patience: Duration,
    /// The store's shared connection (a cluster connection).
    conn: Arc<RwLock<Conn>>,
    barriers: Vec<String>,
    service: &'static str,
    view: Arc<ShardView>,
    /// Per slot: the connection the last round saw, and its segment.
    seen: std::sync::Mutex<std::collections::HashMap<u16, SlotSeen>>,
}

/// The connection a slot's last round saw, and the slot's segment.
type SlotSeen = (Option<ConnKey>, u64);

/// What the poll found: per slot range, the replicas in sync of its
/// primary (`None`: no answer), and when.
struct ShardView {
    start: Instant,
    polled: RwLock<Option<(Duration, Vec<SlotRange>)>>,
}

/// A range of slots (first, last) and the replicas in sync of its primary
/// (`None`: it did not answer).
type SlotRange = (u16, u16, Option<u32>);

impl ShardView {
    /// The replicas in sync of `slot`'s primary at the last poll, if that
    /// is recent and the primary answered.
    fn in_sync(&self, slot: u16) -> Result<u32, String> {
        let polled = self.polled.read().unwrap_or_else(|e| e.into_inner());
        let Some((at, ranges)) = polled.as_ref() else {
            return Err("the shards' replicas are unknown (no answer to the poll yet)".into());
        };
        if self.start.elapsed().saturating_sub(*at) > POLL_STALE {
            return Err("the shards' replicas are unknown (no recent answer to the poll)".into());
        }
        match ranges.iter().find(|(a, b, _)| (*a..=*b).contains(&slot)) {
            Some((_, _, Some(n))) => Ok(*n),
            Some((a, b, None)) => Err(format!(
                "the primary of slots {a}-{b} did not answer INFO replication"
            )),
            None => Err(format!("no shard serves slot {slot}")),
        }
    }
}

impl Shards {
    /// Starts the poll of the shards' replicas for `min` replicas (nothing
    /// for 0).
    pub(super) async fn start(
        min: u32,
        ack_timeout: Duration,
        response_timeout: Duration,
        connector: &Connector,
        conn: &Arc<RwLock<Conn>>,
        prefix: &str,
        service: &'static str,
    ) -> Result<Option<Self>, StoreError> {
        if min == 0 {
            return Ok(None);
        }
        check_ack_timeout(ack_timeout, response_timeout)?;
        let view = Arc::new(ShardView {
            start: Instant::now(),
            polled: RwLock::new(None),
        });
        let mut poller = Poller {
            connector: connector.clone(),
            known: connector.cluster_nodes(),
            conns: Default::default(),
        };
        // One poll before the store is handed out, so writes right after
        // start are judged on a real count.
        if let Ok(ranges) = poller.poll().await {
            *view.polled.write().unwrap_or_else(|e| e.into_inner()) =
                Some((view.start.elapsed(), ranges));
        }
        tokio::spawn(poll_cluster(poller, Arc::downgrade(&view)));
        Ok(Some(Self {
            min,
            ack_timeout,
            patience: ack_timeout + response_timeout,
            conn: conn.clone(),
            barriers: barrier_keys(prefix),
            service,
            view,
            seen: Default::default(),
        }))
    }

    async fn ticket(&self, keys: &[&str]) -> Result<Ticket, StoreError> {
        let mut slots: Vec<u16> = keys.iter().map(|k| slot_of(k.as_bytes())).collect();
        slots.sort_unstable();
        slots.dedup();
        let mut taken = Vec::with_capacity(slots.len());
        for slot in slots {
            let in_sync = self
                .view
                .in_sync(slot)
                .map_err(|m| StoreError::Unavailable(Cause::msg(m)))?;
            if in_sync < self.min {
                return Err(StoreError::Unavailable(Cause::msg(format!(
                    "{in_sync} of the {} replicas a write needs are in sync on the shard of slot \
                     {slot}",
                    self.min
                ))));
            }
            let known = self
                .seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&slot)
                .map(|(_, segment)| *segment);
            let segment = match known {
                Some(segment) => segment,
                // The slot's connection is named before its first write, so
                // that this write is not taken for one on another.
                None => {
                    let info = self
                        .route(slot, redis::pipe().cmd("CLIENT").arg("INFO"))
                        .await;
                    let key = info
                        .ok()
                        .and_then(|v| v.into_iter().next())
                        .and_then(|v| redis::from_redis_value::<String>(v).ok())
                        .and_then(|i| ConnKey::parse(&i));
                    self.observe(slot, key)
                }
            };
            taken.push((slot, segment));
        }
        Ok(Ticket(None, taken))
    }

    /// Records the connection a round of `slot` found; a new one (or none)
    /// moves the slot's segment on. Returns the segment now.
    fn observe(&self, slot: u16, key: Option<ConnKey>) -> u64 {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let entry = seen.entry(slot).or_insert((None, 0));
        if key.is_none() || entry.0 != key {
            entry.1 += 1;
            entry.0 = key;
        }
        entry.1
    }

    /// `pipe` on the connection to `slot`'s primary.
    async fn route(
        &self,
        slot: u16,
        pipe: &redis::Pipeline,
    ) -> redis::RedisResult<Vec<redis::Value>> {
        use redis::cluster_routing::{Route, SingleNodeRoutingInfo, SlotAddr};
        let conn = self.conn.read().unwrap_or_else(|e| e.into_inner()).clone();
        let Conn::Cluster(mut c) = conn else {
            return Err(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "per-shard acks need a cluster connection",
            )));
        };
        let count = pipe.cmd_iter().count();
        c.route_pipeline(
            pipe.clone(),
            0,
            count,
            SingleNodeRoutingInfo::SpecificNode(Route::new(slot, SlotAddr::Master)),
        )
        .await
    }

    async fn confirm(&self, slot: u16, segment: u64) -> Result<(), StoreError> {
        let ack_ms = self.ack_timeout.as_millis() as u64;
        let mut pipe = redis::pipe();
        pipe.cmd("CLIENT")
            .arg("INFO")
            .cmd("INCR")
            .arg(&self.barriers[slot as usize])
            .cmd("WAIT")
            .arg(self.min)
            .arg(ack_ms);
        let started = Instant::now();
        let reply = tokio::time::timeout(self.patience, self.route(slot, &pipe)).await;
        metrics::histogram!("redis_replica_wait_seconds", "service" => self.service)
            .record(started.elapsed().as_secs_f64());
        let values = match reply {
            Ok(Ok(values)) => values,
            Ok(Err(e)) => {
                self.observe(slot, None);
                return Err(unknown(format!("waiting for the replicas failed: {e}")));
            }
            Err(_) => {
                self.observe(slot, None);
                return Err(unknown(format!(
                    "the replicas did not confirm the write within {} ms",
                    self.patience.as_millis()
                )));
            }
        };
        let parsed: Result<(String, u64, u32), _> =
            redis::from_redis_value(redis::Value::Array(values));
        let (info, _, acked) = match parsed {
            Ok(p) => p,
            Err(e) => {
                self.observe(slot, None);
                return Err(unknown(format!("waiting for the replicas failed: {e}")));
            }
        };
        if self.observe(slot, ConnKey::parse(&info)) != segment {
            return Err(unknown(
                "the connection to the shard changed before its replicas confirmed the write"
                    .into(),
            ));
        }
        if acked < self.min {
            return Err(unknown(format!(
                "{acked} of {} replicas confirmed the write within {ack_ms} ms",
                self.min
            )));
        }
        Ok(())
    }
}

/// How long the poll waits for one node: under [`POLL_STALE`], so that a
/// node that stopped answering does not make every shard's count stale.
const POLL_NODE_TIMEOUT: Duration = Duration::from_millis(1000);

/// The poll of the shards' replicas: plain connections of its own to the
/// nodes, by the addresses the cluster names (independent of the cluster
/// client's slot map, which is refreshed only when a write is redirected
/// or fails; a refused write is never sent).
struct Poller {
    connector: Connector,
    /// The nodes to ask for the slot map: the last map's, else the URL's.
    known: Vec<(String, u16)>,
    conns: std::collections::HashMap<(String, u16), Conn>,
}

impl Poller {
    /// `cmd` on the node at `addr` (connected now if need be; a failed
    /// connection is dropped, so the next poll connects again).
    async fn ask(
        connector: Connector,
        addr: (String, u16),
        conn: Option<Conn>,
        cmd: redis::Cmd,
    ) -> (
        (String, u16),
        Option<Conn>,
        Result<redis::Value, StoreError>,
    ) {
        let asked = async {
            let mut c = match conn {
                Some(c) => c,
                None => {
                    connector
                        .cluster_node(&addr.0, addr.1, POLL_NODE_TIMEOUT)
                        .await?
                }
            };
            let v = cmd
                .query_async::<redis::Value>(&mut c)
                .await
                .map_err(super::connection::redis_err)?;
            Ok::<_, StoreError>((c, v))
        };
        match tokio::time::timeout(POLL_NODE_TIMEOUT, asked).await {
            Ok(Ok((c, v))) => (addr, Some(c), Ok(v)),
            Ok(Err(e)) => (addr, None, Err(e)),
            Err(_) => (
                addr,
                None,
                Err(StoreError::Unavailable(Cause::msg(
                    "a cluster node did not answer",
                ))),
            ),
        }
    }

    /// `cmd` on every node of `addrs` at once; the answers by node.
    async fn ask_all(
        &mut self,
        addrs: Vec<(String, u16)>,
        cmd: &redis::Cmd,
    ) -> Vec<((String, u16), Result<redis::Value, StoreError>)> {
        let mut asked = tokio::task::JoinSet::new();
        for addr in addrs {
            let conn = self.conns.remove(&addr);
            asked.spawn(Self::ask(self.connector.clone(), addr, conn, cmd.clone()));
        }
        let mut out = Vec::new();
        while let Some(done) = asked.join_next().await {
            if let Ok((addr, conn, v)) = done {
                if let Some(c) = conn {
                    self.conns.insert(addr.clone(), c);
                }
                out.push((addr, v));
            }
        }
        out
    }

    /// The slot map (`CLUSTER SLOTS` of the first node that answers) and,
    /// per range, the replicas in sync of the primary it names (`INFO
    /// replication`; `None` where that primary did not answer or is not a
    /// primary).
    async fn poll(&mut self) -> Result<Vec<SlotRange>, StoreError> {
        let mut candidates = self.known.clone();
        for n in self.connector.cluster_nodes() {
            if !candidates.contains(&n) {
                candidates.push(n);
            }
        }
        let answers = self
            .ask_all(candidates, redis::cmd("CLUSTER").arg("SLOTS"))
            .await;
        let mut last =
            StoreError::Unavailable(Cause::msg("no cluster node answered CLUSTER SLOTS"));
        let mut map = None;
        for (addr, answer) in answers {
            match answer.and_then(|v| slot_map(&v, &addr.0)) {
                Ok(m) => {
                    map = Some(m);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let Some((ranges, nodes)) = map else {
            return Err(last);
        };
        self.known = nodes;
        let mut primaries: Vec<(String, u16)> = ranges.iter().map(|r| r.2.clone()).collect();
        primaries.sort();
        primaries.dedup();
        let counts: std::collections::HashMap<(String, u16), Option<u32>> = self
            .ask_all(primaries, redis::cmd("INFO").arg("replication"))
            .await
            .into_iter()
            .map(|(addr, v)| {
                let n = v
                    .ok()
                    .and_then(|v| redis::from_redis_value::<String>(v).ok())
                    .and_then(|i| in_sync(&i).ok());
                (addr, n)
            })
            .collect();
        Ok(ranges
            .into_iter()
            .map(|(a, b, primary)| (a, b, counts.get(&primary).copied().flatten()))
            .collect())
    }
}

/// Polls the shards' replicas every [`POLL_INTERVAL`] until the store is
/// gone.
async fn poll_cluster(mut poller: Poller, view: Weak<ShardView>) {
    let mut failing = false;
    loop {
        tokio::time::sleep(POLL_INTERVAL).await;
        let Some(view) = view.upgrade() else {
            return;
        };
        match poller.poll().await {
            Ok(ranges) => {
                *view.polled.write().unwrap_or_else(|e| e.into_inner()) =
                    Some((view.start.elapsed(), ranges));
                failing = false;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %crate::error::Report(&e), "asking Redis Cluster about its shards' replicas failed");
                }
                failing = true;
            }
        }
    }
}

/// A slot range of `CLUSTER SLOTS`: first, last, its primary's address.
type MappedRange = (u16, u16, (String, u16));

/// The ranges of a `CLUSTER SLOTS` reply, and every node it names.
type SlotMap = (Vec<MappedRange>, Vec<(String, u16)>);

/// The ranges of a `CLUSTER SLOTS` reply with their primaries, and every
/// node it names (an empty host is the node asked, `asked`).
fn slot_map(reply: &redis::Value, asked: &str) -> Result<SlotMap, StoreError> {
    let bad = || {
        StoreError::Corrupt(Cause::msg(format!(
            "unexpected CLUSTER SLOTS reply {reply:?}"
        )))
    };
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        redis::Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    let node = |v: &redis::Value| -> Option<(String, u16)> {
        let redis::Value::Array(parts) = v else {
            return None;
        };
        let host = text(parts.first()?)?;
        let port = match parts.get(1)? {
            redis::Value::Int(p) => u16::try_from(*p).ok()?,
            _ => return None,
        };
        Some((
            if host.is_empty() {
                asked.to_owned()
            } else {
                host
            },
            port,
        ))
    };
    let ranges = slot_ranges(reply)?;
    let redis::Value::Array(entries) = reply else {
        return Err(bad());
    };
    let mut mapped = Vec::with_capacity(ranges.len());
    let mut nodes = Vec::new();
    for ((a, b), e) in ranges.into_iter().zip(entries) {
        let redis::Value::Array(parts) = e else {
            return Err(bad());
        };
        let primary = parts.get(2).and_then(node).ok_or_else(bad)?;
        for n in parts[2..].iter().filter_map(node) {
            if !nodes.contains(&n) {
                nodes.push(n);
            }
        }
        mapped.push((a, b, primary));
    }
    Ok((mapped, nodes))
}

/// The slot ranges of a `CLUSTER SLOTS` reply.
fn slot_ranges(reply: &redis::Value) -> Result<Vec<(u16, u16)>, StoreError> {
    let bad = || {
        StoreError::Corrupt(Cause::msg(format!(
            "unexpected CLUSTER SLOTS reply {reply:?}"
        )))
    };
    let redis::Value::Array(entries) = reply else {
        return Err(bad());
    };
    entries
        .iter()
        .map(|e| match e {
            redis::Value::Array(parts) => match (parts.first(), parts.get(1)) {
                (Some(redis::Value::Int(a)), Some(redis::Value::Int(b))) => Ok((
                    u16::try_from(*a).map_err(|_| bad())?,
                    u16::try_from(*b).map_err(|_| bad())?,
                )),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        })
        .collect()
}

fn check_ack_timeout(ack_timeout: Duration, response_timeout: Duration) -> Result<(), StoreError> {
    if ack_timeout >= response_timeout {
        return Err(StoreError::Unavailable(Cause::msg(format!(
            "REDIS_REPLICA_ACK_TIMEOUT_MS ({} ms) must be below the Redis response timeout ({} \
             ms)",
            ack_timeout.as_millis(),
            response_timeout.as_millis()
        ))));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_those_of_redis_cluster() {
        use redis::cluster_routing::Slot;
        for key in [
            "rp:board:{main}:feed",
            "rp:board:{second}:seq",
            "rp:cooldown:{0b7c}",
            "rp:user:3f2a",
            "rp:email:a{}b@x",
            "rp:email:a}b{c@x",
            "{}",
            "",
            "foo{bar}{zap}",
        ] {
            assert_eq!(
                Slot::new(slot_of(key.as_bytes())),
                Some(Slot::for_key(key)),
                "{key}"
            );
        }
        // Redis's own examples (CLUSTER KEYSLOT).
        assert_eq!(slot_of(b"somekey"), 11058);
        assert_eq!(slot_of(b"foo{hash_tag}"), 2515);
    }

    #[test]
    fn every_slot_has_a_barrier_key_in_it() {
        let keys = barrier_keys("rp");
        for (slot, key) in keys.iter().enumerate() {
            assert_eq!(slot_of(key.as_bytes()) as usize, slot, "{key}");
        }
    }

    #[test]
    fn reads_slot_ranges() {
        use redis::Value::{Array, BulkString, Int};
        let node = |p| Array(vec![BulkString(b"127.0.0.1".to_vec()), Int(p)]);
        let reply = Array(vec![
            Array(vec![Int(0), Int(5460), node(7001), node(7004)]),
            Array(vec![Int(5461), Int(16383), node(7002)]),
        ]);
        assert_eq!(slot_ranges(&reply).unwrap(), vec![(0, 5460), (5461, 16383)]);
        let (mapped, nodes) = slot_map(&reply, "10.0.0.1").unwrap();
        let at = |p| ("127.0.0.1".to_owned(), p);
        assert_eq!(mapped, vec![(0, 5460, at(7001)), (5461, 16383, at(7002))]);
        assert_eq!(nodes, vec![at(7001), at(7004), at(7002)]);
        let unnamed = Array(vec![Array(vec![
            Int(0),
            Int(16383),
            Array(vec![BulkString(Vec::new()), Int(7001)]),
        ])]);
        assert_eq!(
            slot_map(&unnamed, "10.0.0.1").unwrap().0[0].2,
            ("10.0.0.1".to_owned(), 7001)
        );
        assert!(slot_ranges(&Int(1)).is_err());
    }

    #[test]
    fn counts_online_replicas_that_acked_recently() {
        let info = "# Replication\r\nrole:master\r\nconnected_slaves:3\r\n\
            slave0:ip=127.0.0.1,port=7001,state=online,offset=100,lag=0\r\n\
            slave1:ip=127.0.0.1,port=7002,state=wait_bgsave,offset=0,lag=0\r\n\
            slave2:ip=127.0.0.1,port=7003,state=online,offset=90,lag=5\r\n\
            master_replid:abc\r\n";
        assert_eq!(in_sync(info).unwrap(), 1);
        assert_eq!(in_sync("role:master\r\nconnected_slaves:0\r\n").unwrap(), 0);
        assert!(in_sync("role:slave\r\nmaster_host:127.0.0.1\r\n").is_err());
        assert!(in_sync("garbage").is_err());
    }

    #[test]
    fn names_a_connection_by_id_and_both_addresses() {
        let a = ConnKey::parse("id=7 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 fd=8 name=");
        let b = ConnKey::parse("id=7 addr=127.0.0.1:5001 laddr=127.0.0.1:6379 fd=8 name=");
        assert!(a.is_some());
        assert_ne!(a, b);
        assert_eq!(ConnKey::parse("id=7 addr=127.0.0.1:5000"), None);
    }
}
