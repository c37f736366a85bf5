//! The pub/sub connection of the Socket.IO Redis adapter. It uses `fred`, whose clients reconnect with backoff;
//! the subscriber also resubscribes to its shard channels after every
//! reconnect, so a Redis restart heals by itself. (socketioxide-redis's
//! `redis`-crate driver does not: after a restart even same-node room
//! broadcasts stop until the process restarts.)
//!
//! Every `REDIS_URL` form works here: one server, Sentinel (fred asks the
//! sentinels for the primary after every lost connection) and Redis
//! Cluster. On a Cluster the adapter's channels are shard channels
//! (`SSUBSCRIBE`/`SPUBLISH`, routed by the channel's slot), so each one
//! lives on the primary that owns its slot. When that primary dies and its
//! replica is promoted, fred re-reads the slot map and connects to the new
//! primary (announced on `reconnect_rx`), and the resubscribe loop below
//! sends every tracked channel's `SSUBSCRIBE` again, which lands on the
//! channel's current owner.
//!
//! fred's own `manage_subscriptions` is not used: on every connect it also
//! sends `SUBSCRIBE` and `PSUBSCRIBE` with empty channel lists, which Redis
//! answers with an error that surfaced in the adapter's first `SSUBSCRIBE`.

use std::time::Duration;

use fred::clients::SubscriberClient;
use fred::interfaces::{EventInterface, PubsubInterface};
use fred::prelude::{Builder, ClientLike, Config, ReconnectPolicy};
use fred::types::RespVersion;

use pixel_core::store::{Cause, StoreError};

fn bad_url(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(Cause::msg(format!("bad REDIS_URL: {e}")))
}

fn builder(url: &str) -> Result<Builder, StoreError> {
    let sentinel = pixel_core::config::SentinelUrl::parse(url).map_err(bad_url)?;
    let cluster = pixel_core::config::ClusterUrl::parse(url).map_err(bad_url)?;
    let mut config = match (sentinel, cluster) {
        // fred asks the sentinels for the primary, and again after every
        // lost connection, so a failover heals like a restart.
        (Some(sentinel), _) => sentinel_config(&sentinel)?,
        (None, Some(cluster)) => cluster_config(&cluster)?,
        // Ours are parsed first: fred spells a cluster `redis-cluster://`
        // and would read `redis+cluster://a:1,b:2` as one server.
        (None, None) => Config::from_url(url).map_err(bad_url)?,
    };
    // RESP3 lets one connection publish while it is subscribed: the adapter
    // SPUBLISHes on its subscriber client (RESP2 refuses that in subscribed
    // mode, and every broadcast, even the local part, would fail).
    config.version = RespVersion::RESP3;
    let mut builder = Builder::from_config(config);
    builder
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
            c.internal_command_timeout = Duration::from_secs(2);
        })
        // Never give up: 100 ms doubling to 5 s between attempts.
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2));
    Ok(builder)
}

fn sentinel_config(url: &pixel_core::config::SentinelUrl) -> Result<Config, StoreError> {
    let (username, password) = url.credentials();
    let tls = if url.tls {
        Some(
            fred::types::config::TlsConnector::default_rustls()
                .map_err(|e| StoreError::Unavailable(Cause::msg(format!("TLS for Redis: {e}"))))?
                .into(),
        )
    } else {
        None
    };
    Ok(Config {
        server: fred::types::config::ServerConfig::new_sentinel(
            url.sentinels.clone(),
            url.master.clone(),
        ),
        username,
        password,
        database: u8::try_from(url.db).ok(),
        tls,
        ..Config::default()
    })
}

/// A Redis Cluster reached through the nodes named (fred learns the rest
/// from `CLUSTER SLOTS`, and learns it again after a failover or a
/// `MOVED`). The credentials and TLS are the nodes': fred reads them from
/// the first node's URL, then the server becomes the cluster.
fn cluster_config(url: &pixel_core::config::ClusterUrl) -> Result<Config, StoreError> {
    let first = url
        .node_urls()
        .into_iter()
        .next()
        .ok_or_else(|| bad_url("a Redis Cluster URL names no node"))?;
    // The error of a URL with credentials must not repeat it.
    let mut config = Config::from_url_centralized(&first)
        .map_err(|_| bad_url("not a valid Redis Cluster URL"))?;
    config.server = fred::types::config::ServerConfig::new_clustered(url.nodes.clone());
    config.database = None;
    Ok(config)
}

/// A subscriber that resubscribes to its channels after every reconnect.
/// The adapter calls `init` on it
/// (`RedisAdapterCtr::new_with_fred_config`).
pub fn subscriber(url: &str) -> Result<SubscriberClient, StoreError> {
    let client = builder(url)?
        .build_subscriber_client()
        .map_err(|e| StoreError::Unavailable(Cause::new(e)))?;
    let watcher = client.clone();
    tokio::spawn(async move {
        let mut reconnects = watcher.reconnect_rx();
        while reconnects.recv().await.is_ok() {
            for channel in watcher.tracked_shard_channels() {
                match watcher.ssubscribe(channel.to_string()).await {
                    Ok(()) => tracing::debug!(%channel, "resubscribed"),
                    Err(e) => tracing::warn!(%channel, error = %e, "resubscribe failed"),
                }
            }
        }
    });
    Ok(client)
}

/// A readiness dependency that is up while `client` is connected.
pub(crate) fn dependency(
    name: &'static str,
    client: impl ClientLike + 'static,
) -> pixel_core::telemetry::Dependency {
    std::sync::Arc::new(move || (!client.is_connected()).then_some(name))
}
