//! How the store reaches Redis: the URL (`redis://`, or `rediss://` for
//! TLS), the shared request connection and the feed readers' own
//! connections, and how a Redis error maps onto [`StoreError`]. Everything
//! that knows how Redis is deployed is here, behind [`Connector`], so that
//! another topology (Sentinel, say) changes this file and not the store.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};

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

/// Opens the store's connections to one Redis (a primary, possibly with
/// replicas).
#[derive(Clone)]
pub(super) struct Connector {
    client: redis::Client,
    config: ConnectionManagerConfig,
}

impl Connector {
    /// Checks the URL; connects nothing yet.
    pub(super) fn open(settings: &RedisSettings) -> Result<Self, StoreError> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| StoreError::Unavailable(Cause::msg(format!("bad REDIS_URL: {e}"))))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        Ok(Self { client, config })
    }

    /// The shared, multiplexed request connection, connected now (it
    /// reconnects by itself after an outage).
    pub(super) async fn shared(&self) -> Result<ConnectionManager, StoreError> {
        ConnectionManager::new_with_config(self.client.clone(), self.config.clone())
            .await
            .map_err(redis_err)
    }

    /// A fresh shared connection that connects on first use (to replace
    /// one whose answers stopped coming).
    pub(super) fn shared_lazy(&self) -> Result<ConnectionManager, redis::RedisError> {
        ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone())
    }

    /// A connection of a feed reader's own, for blocking reads that take
    /// up to `response_timeout`.
    pub(super) async fn feed(
        &self,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Result<MultiplexedConnection, StoreError> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(Some(response_timeout));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(redis_err)
    }
}

pub(super) fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(Cause::new(e))
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
            StoreError::Corrupt(Cause::new(e))
        }
    }
}
