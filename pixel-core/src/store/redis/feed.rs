//! The gateways' reader of a board's feed: `XREAD BLOCK` from the last seq
//! relayed, on a connection of the reader's own, with the data set's epoch
//! read in the same round trip (see [`FeedReader::epoch`]).

use std::time::Duration;

use async_trait::async_trait;
use redis::Value;

use super::connection::{Conn, Connector, redis_err};
use super::decode::parse_xread;
use super::keys::Keys;
use crate::domain::{BoardId, Update};
use crate::store::{FeedReader, StoreError};

/// A feed reader on a connection of its own: `XREAD BLOCK` holds its
/// connection for the whole wait, and the shared connection's response
/// timeout would cut it short. A failed read drops the connection; the
/// next read opens a fresh one, so a restarted Redis is picked up again.
pub(super) struct RedisFeed {
    pub(super) connector: Connector,
    pub(super) conn: Option<Conn>,
    pub(super) service: &'static str,
    pub(super) keys: Keys,
    /// The data set's epoch, read right after the last `XREAD` returned.
    pub(super) epoch: Option<String>,
}

/// How long past its `BLOCK` time an `XREAD` may take before the reader
/// gives up on the connection (a frozen or unreachable Redis).
const FEED_GRACE: Duration = Duration::from_secs(2);

impl RedisFeed {
    async fn connection(&mut self, wait: Duration) -> Result<&mut Conn, StoreError> {
        if self.conn.is_none() {
            let conn = self.connector.feed(FEED_GRACE, wait + FEED_GRACE).await?;
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
        let key = self.keys.feed(board);
        let epoch_key = self.keys.epoch_of(board);
        let service = self.service;
        let read = async {
            let conn = self.connection(wait).await?;
            // The GET runs when the XREAD has returned (commands on one
            // connection run in order; on Cluster both keys are in the
            // board's slot, so both go to its shard in order): updates of
            // a data set that replaced ours come with its epoch, never
            // with ours.
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
