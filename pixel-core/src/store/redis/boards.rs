//! The boards on Redis: placements, settling, snapshots, history and
//! sweeps. Every step that changes a board, and every read a cache or a
//! feed position is built on, checks the data set's epoch (see the module
//! docs of the Redis store) and retries once after adopting a new one.

use async_trait::async_trait;
use redis::Value;

use super::connection::sent_err;
use super::decode::{PlaceReply, SweepReply, number, parse_entries, parse_pixel};
use super::feed::RedisFeed;
use super::{RedisStore, observe};
use crate::domain::{BoardConfig, BoardId, HistoryPolicy};
use crate::store::{
    BoardStore, Cause, FeedReader, HistoryRead, PlaceCommand, PlaceOutcome, StoreError,
    StoredSnapshot, SweepOutcome,
};

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

impl RedisStore {
    /// One run of the placement step.
    async fn place_once(&self, cmd: &PlaceCommand<'_>) -> Result<Placed, StoreError> {
        if self.keys.is_cluster() {
            return self.place_cluster(cmd).await;
        }
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
            .key(self.keys.placed_one(cmd.user_id, cmd.placement_id))
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
            .arg(super::PLACED_KEEP_MS)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| {
                self.notice(&e);
                sent_err(e)
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

impl RedisStore {
    /// One run of the placement on Cluster, in two steps on two slots:
    /// RESERVE takes the user's cooldown for this attempt (naming it and
    /// its board), then PLACE_BOARD applies it on the board's slot. A
    /// board step that surely did not apply (refused, fenced, another
    /// epoch, or an error reply) gives the reservation back; one whose
    /// outcome is unknown leaves it for settling (see
    /// [`Self::settle_cluster`]), whose fence on the board's slot refuses
    /// a board step still on its way.
    async fn place_cluster(&self, cmd: &PlaceCommand<'_>) -> Result<Placed, StoreError> {
        let id = &cmd.board.id;
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        // Waits on the board's slot (its pixel, feed entry and `placed`
        // record), refused before anything is written when that shard's
        // primary lacks replicas.
        let ticket = self.before_write_to(&[&self.keys.seq(id)]).await?;
        let mut conn = self.conn().await?;
        let reserved: (i64, i64) = self
            .scripts
            .reserve
            .key(self.keys.cooldown(cmd.user_id))
            .arg(cmd.now)
            .arg(cmd.cooldown_until)
            .arg(cmd.placement_id)
            .arg(id.as_str())
            .arg(&nonce)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| {
                self.notice(&e);
                sent_err(e)
            })?;
        match reserved {
            (1, _) => {}
            (0, retry_after_ms) => {
                return Ok(Placed::Done(PlaceOutcome::Cooldown {
                    retry_after_ms: retry_after_ms.max(1),
                }));
            }
            other => {
                return Err(StoreError::Corrupt(Cause::msg(format!(
                    "unexpected reply {other:?} of the reserve script"
                ))));
            }
        }
        let keep_ms = (cmd.cooldown_until - cmd.now).max(120_000);
        let placed: Result<(i64, i64), _> = self
            .scripts
            .place_board
            .key(self.keys.seq(id))
            .key(self.keys.pixels(id))
            .key(self.keys.expiries(id))
            .key(self.keys.feed(id))
            .key(self.keys.epoch_of(id))
            .key(self.keys.board_fence(id, cmd.placement_id))
            .key(self.keys.placed(id, cmd.placement_id))
            .arg(cmd.board.index(cmd.coord))
            .arg(cmd.color)
            .arg(cmd.now)
            .arg(cmd.expires_at)
            .arg(cmd.coord.x)
            .arg(cmd.coord.y)
            .arg(cmd.by)
            .arg(cmd.history.min_updates)
            .arg(cmd.history.min_age_ms)
            .arg(cmd.placement_id)
            .arg(self.current_epoch())
            .arg(keep_ms)
            .arg(&nonce)
            .invoke_async(&mut conn)
            .await;
        let reply = match placed {
            Ok(reply) => PlaceReply::decode(reply),
            Err(e) => {
                self.notice(&e);
                let err = sent_err(e);
                if !matches!(err, StoreError::OutcomeUnknown(_)) {
                    self.release(cmd.user_id, cmd.placement_id).await;
                }
                return Err(err);
            }
        };
        match reply {
            Ok(PlaceReply::Placed { seq }) => {
                self.replicated(ticket).await?;
                Ok(Placed::Done(PlaceOutcome::Placed(cmd.update(seq))))
            }
            Ok(PlaceReply::OtherEpoch) => {
                self.release(cmd.user_id, cmd.placement_id).await;
                Ok(Placed::Epoch)
            }
            Ok(PlaceReply::Fenced) => {
                self.release(cmd.user_id, cmd.placement_id).await;
                Err(fenced())
            }
            Ok(PlaceReply::Cooldown { .. }) => Err(StoreError::Corrupt(Cause::msg(
                "the board step of a placement answered 'cooldown'",
            ))),
            // An unreadable reply: it may have applied.
            Err(e) => Err(StoreError::OutcomeUnknown(Cause::msg(e.to_string()))),
        }
    }

    /// Gives back the cooldown a placement attempt reserved, once its
    /// board step surely did not apply. Best effort: if this fails, the
    /// user waits out a cooldown for a placement that did not happen (never
    /// the other way round).
    async fn release(&self, user_id: &str, placement_id: &str) {
        let released: Result<i64, _> = async {
            let mut conn = self.conn().await?;
            self.scripts
                .release
                .key(self.keys.cooldown(user_id))
                .arg(placement_id)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))
        }
        .await;
        if let Err(e) = released {
            tracing::warn!(error = %crate::error::Report(&e), "could not give back a cooldown reserved for a placement that did not apply");
        }
    }

    /// Settling on Cluster: the board's slot has the seq the attempt got
    /// (written by its board step, in the same atomic step as the pixel,
    /// so a replica promoted after a failover has both or neither), or
    /// fences the attempt off there, and its reservation is given back.
    async fn settle_cluster(
        &self,
        board: &BoardId,
        user_id: &str,
        placement_id: &str,
    ) -> Result<Option<u64>, StoreError> {
        let ticket = self
            .before_write_to(&[&self.keys.placed(board, placement_id)])
            .await?;
        let mut conn = self.conn().await?;
        let seq: u64 = self
            .scripts
            .settle_board
            .key(self.keys.placed(board, placement_id))
            .key(self.keys.board_fence(board, placement_id))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.fail(e))?;
        if seq == 0 {
            self.release(user_id, placement_id).await;
        } else {
            // Found applied: acked only once replicated, as any placement.
            self.replicated(ticket).await?;
        }
        Ok((seq > 0).then_some(seq))
    }

    /// [`BoardStore::init_board`] on Cluster.
    async fn init_board_cluster(&self, id: &BoardId, geometry: String) -> Result<(), StoreError> {
        let (epoch, known) = self.cluster_epoch(id.as_str()).await?;
        let status = self.init_cluster(id, &geometry, &epoch, known).await?;
        {
            let mut boards = self.boards.lock().unwrap_or_else(|e| e.into_inner());
            if !boards.iter().any(|(b, _)| b == id) {
                boards.push((id.clone(), geometry));
            }
        }
        if !matches!(status, super::ClusterInit::Ok) || !self.is_current(&epoch) {
            self.recover().await?;
        }
        Ok(())
    }
}

fn fenced() -> StoreError {
    StoreError::Unavailable(Cause::msg("placement was settled as not applied"))
}

#[async_trait]
impl BoardStore for RedisStore {
    fn epoch(&self) -> String {
        self.current_epoch()
    }

    async fn restart_epoch(&self, seen: &str) -> Result<String, StoreError> {
        observe(self.service, "restart_epoch", async {
            if self.keys.is_cluster() {
                let now = self.restart_cluster_epoch(seen, None).await?;
                if !now.as_deref().is_some_and(|e| self.is_current(e)) {
                    self.recover().await?;
                }
                return Ok(self.current_epoch());
            }
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
            if self.keys.is_cluster() {
                return self.init_board_cluster(&board.id, geometry).await;
            }
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

    async fn board_seq(&self, board: &BoardId) -> Result<u64, StoreError> {
        observe(self.service, "board_seq", async {
            for _ in 0..EPOCH_ATTEMPTS {
                let mut conn = self.conn().await?;
                let (seq, epoch): (Option<u64>, Option<String>) = redis::cmd("MGET")
                    .arg(self.keys.seq(board))
                    .arg(self.keys.epoch_of(board))
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
        board: &BoardId,
        user_id: &str,
        placement_id: &str,
    ) -> Result<Option<u64>, StoreError> {
        observe(self.service, "settle_placement", async {
            if self.keys.is_cluster() {
                return self.settle_cluster(board, user_id, placement_id).await;
            }
            let ticket = self.before_write()?;
            let mut conn = self.conn().await?;
            let seq: u64 = self
                .scripts
                .settle
                .key(self.keys.cooldown(user_id))
                .key(self.keys.fence(placement_id))
                .key(self.keys.placed_one(user_id, placement_id))
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
                let (seq, pixels, epoch): (Option<u64>, Vec<(String, String)>, Option<String>) =
                    self.bulk_query(
                        redis::pipe()
                            .atomic()
                            .get(self.keys.seq(&board.id))
                            .hgetall(self.keys.pixels(&board.id))
                            .get(self.keys.epoch_of(&board.id)),
                    )
                    .await?;
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
                    .key(self.keys.epoch_of(id))
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
