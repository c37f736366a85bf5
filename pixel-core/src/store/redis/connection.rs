//! How the store reaches Redis: the URL (`redis://`, or `rediss://` for
//! TLS, or `redis+sentinel://` for a primary that the sentinels name, or
//! `redis+cluster://` for Redis Cluster), the
//! shared request connection and the feed readers' own
//! connections, and how a Redis error maps onto [`StoreError`]. Everything
//! that knows how Redis is deployed is here, behind [`Connector`], so that
//! another topology (Sentinel, say) changes this file and not the store.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::config::{ClusterUrl, SentinelUrl};
use crate::store::{Cause, StoreError};

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
    /// Replicas that must have an acked write before it is acked
    /// (`REDIS_MIN_REPLICAS_ACKED`; 0: acked once the primary has it).
    pub min_replicas_acked: u32,
    /// How long a write waits for those replicas (`WAIT`'s timeout) before
    /// it is answered "may have been applied"; below `timeout`.
    pub replica_ack_timeout: std::time::Duration,
}

impl RedisSettings {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "rp".into(),
            service: "pixel",
            timeout: std::time::Duration::from_secs(2),
            min_replicas_acked: 0,
            replica_ack_timeout: std::time::Duration::from_millis(1000),
        }
    }
}

/// Opens the store's connections to one Redis (a primary, possibly with
/// replicas), or to whichever node the sentinels call the primary.
#[derive(Clone)]
pub(super) struct Connector {
    target: Target,
    config: ConnectionManagerConfig,
    timeout: Duration,
}

/// A connection of the store: to one server (the shared request
/// connection, or a feed reader's own), or to a Redis Cluster, where
/// redis-rs routes each command to the shard of its key (following
/// `MOVED`/`ASK` and a failover's new slot map by itself).
#[derive(Clone)]
pub(super) enum Conn {
    Managed(ConnectionManager),
    Plain(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Managed(c) => c.req_packed_command(cmd),
            Conn::Plain(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Managed(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Plain(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Managed(c) => c.get_db(),
            Conn::Plain(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

#[derive(Clone)]
enum Target {
    Direct(Box<redis::Client>),
    /// Redis Cluster: the client learns the slot map from any of the
    /// configured nodes and keeps it current.
    Cluster(
        Box<redis::cluster::ClusterClient>,
        std::sync::Arc<ClusterUrl>,
    ),
    /// redis-rs's `ConnectionManager` reconnects to the address it was
    /// built with, so the primary is asked for again on every new
    /// connection, and the store replaces its shared connection after a
    /// connection error or a `READONLY` reply (see [`Connector::follows_failover`]).
    Sentinel(std::sync::Arc<SentinelUrl>),
}

impl Connector {
    /// Checks the URL; connects nothing yet.
    pub(super) fn open(settings: &RedisSettings) -> Result<Self, StoreError> {
        let bad = |e: String| StoreError::Unavailable(Cause::msg(format!("bad REDIS_URL: {e}")));
        let cluster = ClusterUrl::parse(&settings.url).map_err(bad)?;
        let target = match SentinelUrl::parse(&settings.url).map_err(bad)? {
            Some(url) => Target::Sentinel(std::sync::Arc::new(url)),
            None if cluster.is_some() => {
                let url = cluster.expect("checked");
                Target::Cluster(
                    Box::new(
                        cluster_client(&url, settings.timeout).map_err(|e| bad(e.to_string()))?,
                    ),
                    std::sync::Arc::new(url),
                )
            }
            None => Target::Direct(Box::new(
                redis::Client::open(settings.url.as_str()).map_err(|e| {
                    StoreError::Unavailable(Cause::msg(format!("bad REDIS_URL: {e}")))
                })?,
            )),
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        Ok(Self {
            target,
            config,
            timeout: settings.timeout,
        })
    }

    /// Whether the primary may move (Sentinel): then a broken connection
    /// or a `READONLY` reply means "ask the sentinels again".
    pub(super) fn follows_failover(&self) -> bool {
        matches!(self.target, Target::Sentinel(_))
    }

    /// Whether this is Redis Cluster (keys carry hash tags, a placement is
    /// two steps: see `keys.rs`).
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster(..))
    }

    /// A client for the primary: the configured one, or the one the
    /// sentinels name now (the first sentinel that answers is believed).
    async fn client(&self) -> Result<redis::Client, StoreError> {
        match &self.target {
            Target::Direct(client) => Ok((**client).clone()),
            Target::Sentinel(url) => resolve(url, self.timeout).await,
            Target::Cluster(..) => unreachable!("a cluster has no single client"),
        }
    }

    /// The shared, multiplexed request connection, connected now (it
    /// reconnects by itself after an outage; on Cluster one multiplexed
    /// connection per node, behind one handle).
    pub(super) async fn shared(&self) -> Result<Conn, StoreError> {
        if let Target::Cluster(client, _) = &self.target {
            return client
                .get_async_connection()
                .await
                .map(Conn::Cluster)
                .map_err(redis_err);
        }
        ConnectionManager::new_with_config(self.client().await?, self.config.clone())
            .await
            .map(Conn::Managed)
            .map_err(redis_err)
    }

    /// A fresh shared connection that connects on first use (to replace
    /// one whose answers stopped coming). On Sentinel the primary is asked
    /// for first, so this one waits for the sentinels; on Cluster the slot
    /// map is read again now.
    pub(super) async fn shared_lazy(&self) -> Result<Conn, StoreError> {
        if self.is_cluster() {
            return self.shared().await;
        }
        ConnectionManager::new_lazy_with_config(self.client().await?, self.config.clone())
            .map(Conn::Managed)
            .map_err(redis_err)
    }

    /// On Cluster: the nodes the URL names, and a plain connection to one
    /// node by its address (as the cluster names it), with the URL's
    /// credentials and TLS, answering within `timeout`.
    pub(super) fn cluster_nodes(&self) -> Vec<(String, u16)> {
        match &self.target {
            Target::Cluster(_, url) => url.nodes.clone(),
            _ => Vec::new(),
        }
    }

    pub(super) async fn cluster_node(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<Conn, StoreError> {
        let Target::Cluster(_, url) = &self.target else {
            return Err(unavailable_msg("not a Redis Cluster".into()));
        };
        let client = redis::Client::open(url.node_url(host, port))
            .map_err(|e| unavailable_msg(format!("a cluster node's address: {e}")))?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map(Conn::Plain)
            .map_err(redis_err)
    }

    /// How long an operation waits to connect or for an answer.
    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A connection of a feed reader's own, for blocking reads that take
    /// up to `response_timeout` (on Cluster, `XREAD BLOCK` goes to the
    /// shard of the board's feed).
    pub(super) async fn feed(
        &self,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Result<Conn, StoreError> {
        if let Target::Cluster(client, _) = &self.target {
            let config = redis::cluster::ClusterConfig::new()
                .set_connection_timeout(connect_timeout)
                .set_response_timeout(response_timeout);
            return client
                .get_async_connection_with_config(config)
                .await
                .map(Conn::Cluster)
                .map_err(redis_err);
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(Some(response_timeout));
        self.client()
            .await?
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map(Conn::Plain)
            .map_err(redis_err)
    }
}

/// A Redis Cluster client for the URL's nodes (any one that answers gives
/// the slot map), with the store's timeouts.
fn cluster_client(
    url: &ClusterUrl,
    timeout: Duration,
) -> redis::RedisResult<redis::cluster::ClusterClient> {
    redis::cluster::ClusterClient::builder(url.node_urls())
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .retries(2)
        .min_retry_wait(50)
        .max_retry_wait(1000)
        .build()
}

/// Asks the sentinels, in order, for the primary of the URL's master, and
/// checks that the node named is a primary (`ROLE`): a sentinel that has
/// not yet seen a failover may name the old one, now a replica.
async fn resolve(url: &SentinelUrl, timeout: Duration) -> Result<redis::Client, StoreError> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let mut last = String::from("no sentinel answered");
    for (host, port) in &url.sentinels {
        let asked = async {
            let sentinel = redis::Client::open(url.sentinel_url(host, *port))?;
            let mut conn = sentinel
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            let addr: Option<(String, u16)> = redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(&url.master)
                .query_async(&mut conn)
                .await?;
            Ok::<_, redis::RedisError>(addr)
        };
        let (node_host, node_port) = match asked.await {
            Ok(Some(addr)) => addr,
            Ok(None) => {
                last = format!("sentinel {host}:{port} knows no master {:?}", url.master);
                continue;
            }
            Err(e) => {
                last = format!("sentinel {host}:{port}: {e}");
                continue;
            }
        };
        let client = redis::Client::open(url.node_url(&node_host, node_port))
            .map_err(|e| unavailable_msg(format!("the primary's address: {e}")))?;
        let role = async {
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            let role: redis::Value = redis::cmd("ROLE").query_async(&mut conn).await?;
            Ok::<_, redis::RedisError>(role)
        };
        match role.await {
            Ok(redis::Value::Array(parts))
                if parts.first().is_some_and(|r| {
                    matches!(r, redis::Value::BulkString(b) if b == b"master")
                        || matches!(r, redis::Value::SimpleString(s) if s == "master")
                }) =>
            {
                tracing::debug!(host = %node_host, port = node_port, "the sentinels' primary");
                return Ok(client);
            }
            Ok(_) => {
                last = format!("{node_host}:{node_port} (named by {host}:{port}) is not a primary")
            }
            Err(e) => last = format!("{node_host}:{node_port} (named by {host}:{port}): {e}"),
        }
    }
    Err(unavailable_msg(format!(
        "no primary for {:?} from the sentinels: {last}",
        url.master
    )))
}

pub(super) fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(Cause::new(e))
}

/// An outage found by the store itself (no Redis error to keep).
fn unavailable_msg(message: String) -> StoreError {
    StoreError::Unavailable(Cause::msg(message))
}

pub(super) fn redis_err(e: redis::RedisError) -> StoreError {
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
        // On Cluster, `MOVED`/`ASK` that outlast the client's retries (a
        // failover under way) were refused too.
        const OUTAGES: [&str; 9] = [
            "MOVED",
            "ASK",
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
            StoreError::Corrupt(Cause::new(e))
        }
    }
}

/// The error of a state change that was sent (a placement's script call).
/// Only what provably did not run reads as [`StoreError::Unavailable`]
/// (which the player is told changed nothing): Redis answered with an
/// error (scripts run whole or refuse before writing: [`redis_err`]
/// classifies the reply), or the client was misconfigured. Any other
/// failure — a dropped, reset, aborted or even refused connection (the
/// connection manager hands a request that went out on the old connection
/// the error of its reconnect: seen in the Sentinel drill), a timeout, a
/// driver that went away, a reply cut short or unreadable — may have come
/// after Redis ran the script:
/// [`StoreError::OutcomeUnknown`], which the game settles by looking the
/// placement up.
pub(super) fn sent_err(e: redis::RedisError) -> StoreError {
    let answered = e.code().is_some() || matches!(e.kind(), redis::ErrorKind::Server(_));
    let never_sent = matches!(
        e.kind(),
        redis::ErrorKind::AuthenticationFailed | redis::ErrorKind::InvalidClientConfig
    );
    if answered || never_sent {
        redis_err(e)
    } else {
        StoreError::OutcomeUnknown(Cause::new(e))
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    fn io(kind: io::ErrorKind) -> redis::RedisError {
        redis::RedisError::from(io::Error::new(kind, "test"))
    }

    #[test]
    fn a_sent_step_that_failed_on_the_way_back_may_have_run() {
        for kind in [
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::UnexpectedEof,
            io::ErrorKind::TimedOut,
            io::ErrorKind::Other,
            io::ErrorKind::Interrupted,
            io::ErrorKind::ConnectionRefused,
        ] {
            assert!(
                matches!(sent_err(io(kind)), StoreError::OutcomeUnknown(_)),
                "{kind:?}"
            );
        }
        for e in [
            redis::RedisError::from((redis::ErrorKind::Io, "driver terminated")),
            redis::RedisError::from((redis::ErrorKind::Parse, "reply cut short")),
            redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, "odd reply")),
        ] {
            assert!(
                matches!(sent_err(e), StoreError::OutcomeUnknown(_)),
                "must not read as not applied"
            );
        }
    }

    #[test]
    fn an_error_reply_did_not_run() {
        let readonly = redis::RedisError::from((
            redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
            "You can't write against a read only replica.",
        ));
        assert!(matches!(sent_err(readonly), StoreError::Unavailable(_)));
        let moved = redis::RedisError::from((
            redis::ErrorKind::Server(redis::ServerErrorKind::Moved),
            "3739 127.0.0.1:7001",
        ));
        assert!(matches!(sent_err(moved), StoreError::Unavailable(_)));
    }
}
