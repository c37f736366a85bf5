//! The accounts of the in-memory store: users, refresh-token families and
//! the sliding-window limiters, each map under its own lock.

use std::collections::{HashMap, VecDeque};

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::store::{
    AccountStore, Limit, RefreshRecord, RotateOutcome, Rotation, StoreError, UserRecord,
};

#[derive(Debug, Default)]
pub(super) struct Users {
    by_id: HashMap<String, UserRecord>,
    id_by_email: HashMap<String, String>,
    login_attempts: HashMap<String, VecDeque<i64>>,
    /// As `Tokens::purged_at_len`, for idle login-attempt entries.
    attempts_purged_at_len: usize,
}

/// Refresh-token families (one per login) and rate-limit hits.
#[derive(Debug, Default)]
pub(super) struct Tokens {
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
impl AccountStore for MemoryStore {
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
}
