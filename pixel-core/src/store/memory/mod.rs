//! The in-memory store of the standalone server: the whole game in one
//! process, no Redis. One mutex per concern; no lock is held across an await
//! (every method body is synchronous), so each method is one atomic step.
//!
//! One [`MemoryStore`] is both the [`BoardStore`](super::BoardStore)
//! (`boards.rs`: pixels, seqs, feeds, cooldowns) and the
//! [`AccountStore`](super::AccountStore) (`accounts.rs`: users, refresh
//! families, limiters); the two share nothing but the value they live in.
//!
//! A board's feed is its history ring buffer; a [`Notify`] wakes the feed
//! readers after every change, so the relay code is the same as over Redis.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{Reachable, StoreError};

mod accounts;
mod boards;

use accounts::{Tokens, Users};
use boards::GameState;

/// The whole game's state in this process: the board store and the
/// account store at once ([`Stores::memory`](super::Stores::memory) hands it
/// out as both). Its epoch is made with it and never changes: nothing is
/// lost while the process runs, and a new process is a new data set.
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

#[async_trait]
impl Reachable for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    crate::store_conformance_tests!(async { crate::store::Stores::memory() });
}
