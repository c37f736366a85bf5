//! The in-memory store of the standalone server: the whole game in one
//! process, no Redis. One mutex per concern; no lock is held across an await
//! (every method body is synchronous), so each method is one atomic step.
//!
//! A board's feed is its history ring buffer; a [`Notify`] wakes the feed
//! readers after every change, so the relay code is the same as over Redis.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{
    Cause, FeedReader, HistoryRead, Limit, PlaceCommand, PlaceOutcome, RefreshRecord,
    RotateOutcome, Rotation, Store, StoreError, StoredSnapshot, SweepOutcome, UserRecord,
};
use crate::domain::{BoardConfig, BoardId, HistoryPolicy, PixelEntry, Update};

#[derive(Debug)]
pub struct MemoryStore {
    epoch: String,
    users: Mutex<Users>,
    tokens: Mutex<Tokens>,
    /// Cooldowns are per user across all boards, so they live beside the
    /// boards under the same lock: a placement checks and sets one atomically
    /// with the pixel write.
    game: Arc<Mutex<GameState>>,
    /// Woken after every change to any board's feed.
    changed: Arc<Notify>,
}

#[derive(Debug, Default)]
struct Users {
    by_id: HashMap<String, UserRecord>,
    id_by_email: HashMap<String, String>,
    login_attempts: HashMap<String, VecDeque<i64>>,
    /// As `Tokens::purged_at_len`, for idle login-attempt entries.
    attempts_purged_at_len: usize,
}

/// Refresh-token families (one per login) and rate-limit hits.
#[derive(Debug, Default)]
struct Tokens {
    families: HashMap<String, Family>,
    /// Map size after the last purge of expired families; the next purge
    /// waits until the map has doubled, so purging stays amortised O(1).
    purged_at_len: usize,
    limits: HashMap<String, VecDeque<i64>>,
    limits_purged_at_len: usize,
}

#[derive(Debug)]
struct Family {
    user_id: String,
    current: String,
    previous: String,
    expires_at: i64,
    rotated_at: i64,
    window_start: i64,
    window_count: u32,
}

#[derive(Debug, Default)]
struct GameState {
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

impl MemoryStore {
    pub fn new() -> Self {
        Self {
            epoch: uuid::Uuid::new_v4().simple().to_string(),
            users: Mutex::default(),
            tokens: Mutex::default(),
            game: Arc::default(),
            changed: Arc::new(Notify::new()),
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a lock cannot leave these maps half-updated in a
    // way later readers would trip on, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
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

fn prune_failures(q: &mut VecDeque<i64>, now: i64, window_ms: i64) {
    while q.front().is_some_and(|&t| t <= now - window_ms) {
        q.pop_front();
    }
}

/// One hit on a sliding window of hit times (oldest first): recorded if
/// fewer than `max` are in the window, else refused with the time until
/// the hit that must leave for the next one to pass has left.
fn hit_window(q: &mut VecDeque<i64>, now: i64, window_ms: i64, max: u32) -> Limit {
    prune_failures(q, now, window_ms);
    let max = max as usize;
    if q.len() < max {
        q.push_back(now);
        return Limit::Allowed;
    }
    let leaves_at = match max {
        0 => now + window_ms,
        _ => q[q.len() - max] + window_ms,
    };
    Limit::Limited {
        retry_after_ms: (leaves_at - now).max(1),
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

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

    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let mut users = lock(&self.users);
        if users.id_by_email.contains_key(&user.email) {
            return Err(StoreError::EmailTaken);
        }
        users
            .id_by_email
            .insert(user.email.clone(), user.id.clone());
        users.by_id.insert(user.id.clone(), user.clone());
        Ok(())
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let users = lock(&self.users);
        Ok(users
            .id_by_email
            .get(email)
            .and_then(|id| users.by_id.get(id))
            .cloned())
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(lock(&self.users).by_id.get(id).cloned())
    }

    async fn begin_login_attempt(
        &self,
        email: &str,
        now: i64,
        window_ms: i64,
        max: u32,
    ) -> Result<Limit, StoreError> {
        let mut users = lock(&self.users);
        if users.login_attempts.len() > 2 * users.attempts_purged_at_len + 1024 {
            // Attempts at many different emails: forget the idle ones.
            users
                .login_attempts
                .retain(|_, q| q.back().is_some_and(|&t| t > now - window_ms));
            users.attempts_purged_at_len = users.login_attempts.len();
        }
        let q = users.login_attempts.entry(email.to_owned()).or_default();
        Ok(hit_window(q, now, window_ms, max))
    }

    async fn clear_login_attempts(&self, email: &str) -> Result<(), StoreError> {
        lock(&self.users).login_attempts.remove(email);
        Ok(())
    }

    async fn insert_refresh(
        &self,
        hash: &str,
        record: &RefreshRecord,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tokens = lock(&self.tokens);
        let Tokens {
            families,
            purged_at_len,
            ..
        } = &mut *tokens;
        // Expired families are useless; drop them now and then so the map
        // stays bounded by the live logins.
        if families.len() > 2 * *purged_at_len + 1024 {
            families.retain(|_, f| f.expires_at > now);
            *purged_at_len = families.len();
        }
        families.insert(
            record.family.clone(),
            Family {
                user_id: record.user_id.clone(),
                current: hash.to_owned(),
                previous: String::new(),
                expires_at: record.expires_at,
                rotated_at: now,
                window_start: now,
                window_count: 0,
            },
        );
        Ok(())
    }

    async fn rotate_refresh(&self, r: &Rotation<'_>) -> Result<RotateOutcome, StoreError> {
        let mut tokens = lock(&self.tokens);
        let Some(f) = tokens.families.get_mut(r.family) else {
            return Ok(RotateOutcome::Invalid);
        };
        if f.expires_at <= r.now {
            tokens.families.remove(r.family);
            return Ok(RotateOutcome::Invalid);
        }
        if r.presented == f.previous
            && r.next == f.current
            && r.now - f.rotated_at <= r.retry_grace_ms
        {
            return Ok(RotateOutcome::Rotated {
                user_id: f.user_id.clone(),
            });
        }
        if r.presented != f.current {
            tokens.families.remove(r.family);
            return Ok(RotateOutcome::Reused);
        }
        if r.now - f.window_start >= r.window_ms {
            f.window_start = r.now;
            f.window_count = 0;
        }
        if f.window_count >= r.max_rotations {
            return Ok(RotateOutcome::RateLimited {
                retry_after_ms: (f.window_start + r.window_ms - r.now).max(1),
            });
        }
        f.window_count += 1;
        f.previous = std::mem::replace(&mut f.current, r.next.to_owned());
        f.expires_at = r.next_expires_at;
        f.rotated_at = r.now;
        Ok(RotateOutcome::Rotated {
            user_id: f.user_id.clone(),
        })
    }

    async fn confirm_refresh(&self, family: &str, current: &str) -> Result<(), StoreError> {
        if let Some(f) = lock(&self.tokens).families.get_mut(family)
            && f.current == current
        {
            f.previous.clear();
        }
        Ok(())
    }

    async fn revoke_refresh(&self, family: &str, now: i64) -> Result<bool, StoreError> {
        let removed = lock(&self.tokens).families.remove(family);
        Ok(removed.is_some_and(|f| f.expires_at > now))
    }

    async fn hit_limit(
        &self,
        key: &str,
        now: i64,
        window_ms: i64,
        max: u32,
    ) -> Result<Limit, StoreError> {
        let mut tokens = lock(&self.tokens);
        let Tokens {
            limits,
            limits_purged_at_len,
            ..
        } = &mut *tokens;
        if limits.len() > 2 * *limits_purged_at_len + 1024 {
            limits.retain(|_, q| q.back().is_some_and(|t| *t > now - window_ms));
            *limits_purged_at_len = limits.len();
        }
        let q = limits.entry(key.to_owned()).or_default();
        Ok(hit_window(q, now, window_ms, max))
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
        cooldowns.insert(cmd.user_id.to_owned(), cmd.cooldown_until);
        drop(game);
        self.changed.notify_waiters();
        Ok(PlaceOutcome::Placed(update))
    }

    async fn settle_placement(
        &self,
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    crate::store_conformance_tests!(async { Arc::new(MemoryStore::new()) as Arc<dyn Store> });
}
