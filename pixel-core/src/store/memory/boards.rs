//! The boards of the in-memory store: every board's pixels, decay
//! schedule, seq and feed (a ring buffer), and the players' cooldowns, all
//! under one lock, so a placement checks and sets a cooldown atomically
//! with its pixel write.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{MemoryStore, lock};
use crate::domain::{BoardConfig, BoardId, HistoryPolicy, PixelEntry, Update};
use crate::store::{
    BoardStore, Cause, FeedReader, HistoryRead, PlaceCommand, PlaceOutcome, StoreError,
    StoredSnapshot, SweepOutcome,
};

#[derive(Debug, Default)]
pub(super) struct GameState {
    cooldowns: HashMap<String, i64>,
    boards: HashMap<BoardId, BoardState>,
}

#[derive(Debug, Default)]
struct BoardState {
    seq: u64,
    /// Non-empty pixels by linear index.
    pixels: BTreeMap<u32, Pixel>,
    /// Decay schedule: (expires_at, index). Holds exactly one entry per
    /// non-empty pixel; an overwrite replaces the old entry.
    expiry: BTreeSet<(i64, u32)>,
    /// The feed: (recorded_at, update), in seq order, consecutive seqs.
    history: VecDeque<(i64, Update)>,
}

#[derive(Debug, Clone, Copy)]
struct Pixel {
    color: u8,
    placed_at: i64,
    expires_at: i64,
}

impl BoardState {
    /// Up to `limit` retained updates with `after < seq <= upto`. Seqs in
    /// the history are consecutive, so the offset is arithmetic.
    fn history_range(&self, after: u64, upto: u64, limit: usize) -> Vec<Update> {
        let Some(oldest) = self.oldest() else {
            return Vec::new();
        };
        let skip = (after + 1).saturating_sub(oldest) as usize;
        let take = upto.saturating_sub(after.max(oldest - 1)) as usize;
        self.history
            .iter()
            .skip(skip)
            .take(take.min(limit))
            .map(|(_, u)| u.clone())
            .collect()
    }

    fn oldest(&self) -> Option<u64> {
        self.history.front().map(|(_, u)| u.seq)
    }

    fn record(&mut self, now: i64, update: Update, policy: HistoryPolicy) {
        self.history.push_back((now, update));
        while let Some(&(at, _)) = self.history.front() {
            if policy.may_drop(self.history.len(), at, now) {
                self.history.pop_front();
            } else {
                break;
            }
        }
    }
}

fn missing_board(board: &BoardId) -> StoreError {
    StoreError::Corrupt(Cause::msg(format!("board {board} was never initialised")))
}

#[async_trait]
impl BoardStore for MemoryStore {
    fn epoch(&self) -> String {
        self.epoch.clone()
    }

    async fn restart_epoch(&self, _seen: &str) -> Result<String, StoreError> {
        // Nothing is lost while this process runs, and a new process is a
        // new store with a new epoch.
        Ok(self.epoch.clone())
    }

    async fn init_board(&self, board: &BoardConfig) -> Result<(), StoreError> {
        lock(&self.game).boards.entry(board.id.clone()).or_default();
        Ok(())
    }

    async fn board_seq(&self, board: &BoardId) -> Result<u64, StoreError> {
        let game = lock(&self.game);
        game.boards
            .get(board)
            .map(|b| b.seq)
            .ok_or_else(|| missing_board(board))
    }

    async fn place(&self, cmd: &PlaceCommand<'_>) -> Result<PlaceOutcome, StoreError> {
        let mut game = lock(&self.game);
        let GameState { cooldowns, boards } = &mut *game;
        if let Some(&until) = cooldowns.get(cmd.user_id)
            && until > cmd.now
        {
            return Ok(PlaceOutcome::Cooldown {
                retry_after_ms: until - cmd.now,
            });
        }
        let state = boards
            .get_mut(&cmd.board.id)
            .ok_or_else(|| missing_board(&cmd.board.id))?;
        let index = cmd.board.index(cmd.coord);
        let pixel = Pixel {
            color: cmd.color,
            placed_at: cmd.now,
            expires_at: cmd.expires_at,
        };
        if let Some(old) = state.pixels.insert(index, pixel) {
            state.expiry.remove(&(old.expires_at, index));
        }
        state.expiry.insert((cmd.expires_at, index));
        state.seq += 1;
        let update = cmd.update(state.seq);
        state.record(cmd.now, update.clone(), cmd.history);
        // Without a cooldown nothing is kept (the Redis store keeps an end
        // of 0): a placement whose clock read a millisecond earlier, through
        // another gateway, must not count as in cooldown.
        if cmd.cooldown_until > cmd.now {
            cooldowns.insert(cmd.user_id.to_owned(), cmd.cooldown_until);
        } else {
            cooldowns.remove(cmd.user_id);
        }
        drop(game);
        self.changed.notify_waiters();
        Ok(PlaceOutcome::Placed(update))
    }

    async fn settle_placement(
        &self,
        _board: &BoardId,
        _user_id: &str,
        _placement_id: &str,
    ) -> Result<Option<u64>, StoreError> {
        // A placement here is one locked step that always answers: there is
        // never an unknown outcome to settle.
        Ok(None)
    }

    async fn snapshot(&self, board: &BoardConfig) -> Result<StoredSnapshot, StoreError> {
        let game = lock(&self.game);
        let state = game
            .boards
            .get(&board.id)
            .ok_or_else(|| missing_board(&board.id))?;
        let pixels = state
            .pixels
            .iter()
            .map(|(&i, p)| {
                let c = board.coord_of(i);
                PixelEntry {
                    x: c.x,
                    y: c.y,
                    color: p.color,
                    placed_at: p.placed_at,
                    expires_at: p.expires_at,
                }
            })
            .collect();
        Ok(StoredSnapshot {
            epoch: self.epoch.clone(),
            seq: state.seq,
            pixels,
        })
    }

    async fn read_history(
        &self,
        board: &BoardId,
        after: u64,
        upto: u64,
        limit: usize,
    ) -> Result<HistoryRead, StoreError> {
        let game = lock(&self.game);
        let state = game.boards.get(board).ok_or_else(|| missing_board(board))?;
        Ok(HistoryRead {
            seq: state.seq,
            oldest: state.oldest(),
            updates: state.history_range(after, upto, limit),
        })
    }

    async fn sweep(
        &self,
        board: &BoardConfig,
        now: i64,
        limit: usize,
        history: HistoryPolicy,
    ) -> Result<SweepOutcome, StoreError> {
        let mut game = lock(&self.game);
        let state = game
            .boards
            .get_mut(&board.id)
            .ok_or_else(|| missing_board(&board.id))?;
        let mut removed = Vec::new();
        while removed.len() < limit {
            let Some(&(expires_at, index)) = state.expiry.first() else {
                break;
            };
            if expires_at > now {
                break;
            }
            state.expiry.pop_first();
            state.pixels.remove(&index);
            state.seq += 1;
            let c = board.coord_of(index);
            let update = Update::decay(state.seq, c.x, c.y);
            state.record(now, update.clone(), history);
            removed.push(update);
        }
        let next_due = state.expiry.first().map(|&(at, _)| at);
        let backlog = state.expiry.range(..(now.saturating_add(1), 0)).count() as u64;
        drop(game);
        if !removed.is_empty() {
            self.changed.notify_waiters();
        }
        Ok(SweepOutcome {
            removed,
            next_due,
            backlog,
        })
    }

    fn feed(&self) -> Box<dyn FeedReader> {
        Box::new(MemoryFeed {
            game: self.game.clone(),
            changed: self.changed.clone(),
            epoch: self.epoch.clone(),
        })
    }
}

/// A feed reader over the in-memory ring buffers.
struct MemoryFeed {
    game: Arc<Mutex<GameState>>,
    changed: Arc<Notify>,
    epoch: String,
}

#[async_trait]
impl FeedReader for MemoryFeed {
    async fn read(
        &mut self,
        board: &BoardId,
        after: u64,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Update>, StoreError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before the check, so a change between the check
            // and the wait still wakes us.
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let game = lock(&self.game);
                let state = game.boards.get(board).ok_or_else(|| missing_board(board))?;
                if state.seq > after {
                    return Ok(state.history_range(after, state.seq, max.max(1)));
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    fn epoch(&self) -> Option<&str> {
        Some(&self.epoch)
    }
}
