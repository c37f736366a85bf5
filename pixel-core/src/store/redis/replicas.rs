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

/// Taken before a write is sent: which connection segment it belongs to.
pub(super) struct Ticket(Option<u64>);

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
        if ack_timeout >= response_timeout {
            return Err(StoreError::Unavailable(Cause::msg(format!(
                "REDIS_REPLICA_ACK_TIMEOUT_MS ({} ms) must be below the Redis response timeout \
                 ({} ms)",
                ack_timeout.as_millis(),
                response_timeout.as_millis()
            ))));
        }
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
        Ok(Ticket(Some(self.state.segment.load(Ordering::Acquire))))
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
            None => Ok(Ticket(None)),
            Some(r) => r.ticket(),
        }
    }

    /// After an acked write was applied: returns once the required
    /// replicas have it, or fails as "may have been applied".
    pub(super) async fn replicated(&self, ticket: Ticket) -> Result<(), StoreError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
