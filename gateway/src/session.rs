//! Per-socket state, created by the connect middleware and stored in the
//! socket's extensions. Locks here are plain mutexes held for a few
//! instructions and never across an await.

use std::num::NonZeroU32;
use std::sync::Mutex;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use pixel_core::ErrorCode;
use pixel_core::auth::Claims;
use pixel_core::domain::BoardId;
use pixel_core::game::Player;

use crate::ack::AckError;

/// Who is behind a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    /// No token: may watch, not place.
    Spectator,
    /// A verified access token, valid until `exp_ms`.
    Player { player: Player, exp_ms: i64 },
}

impl From<Claims> for Identity {
    fn from(c: Claims) -> Self {
        Self::Player {
            exp_ms: c.exp_ms(),
            player: Player {
                id: c.sub,
                name: c.name,
            },
        }
    }
}

/// One socket's state: who it is (spectator or player, swapped by `auth`),
/// the boards it joined, and its event budget. A player's identity is only
/// as good as its token: [`Session::player`] refuses once the token has
/// expired, so a live socket cannot outlast its sign-in.
///
/// What it guarantees:
/// - **Nothing shared.** It lives in this gateway's memory for the socket's
///   life and touches no store: a reconnect (to any gateway) starts a new
///   session, which must `auth` and `join` again.
/// - **Every event pays.** [`Session::check_rate`] takes one event from a
///   token bucket before the event does anything, so a refused event
///   (`rate_limited`) changed nothing.
/// - **Checked at each act.** [`Session::player`] reads the identity and
///   its expiry when a placement is made, not when the socket connected;
///   an `auth` that fails leaves the previous identity in place.
/// - **Joins are a set.** [`Session::join`] and [`Session::leave`] say
///   whether they changed it, so a repeated `join` is not counted twice
///   and a failed first `join` can be undone exactly.
pub(crate) struct Session {
    identity: Mutex<Identity>,
    /// A socket joins few boards, and every socket holds this for its whole
    /// life: a vector of exactly the boards joined (a hash set allocates
    /// room for four at its first insert).
    joined: Mutex<Vec<BoardId>>,
    limiter: DefaultDirectRateLimiter,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Session {
    pub(crate) fn new(identity: Identity, events_per_s: NonZeroU32, burst: NonZeroU32) -> Self {
        Self {
            identity: Mutex::new(identity),
            joined: Mutex::default(),
            limiter: RateLimiter::direct(Quota::per_second(events_per_s).allow_burst(burst)),
        }
    }

    /// Takes one event from the socket's budget.
    pub(crate) fn check_rate(&self) -> Result<(), AckError> {
        self.limiter.check().map_err(|_| {
            metrics::counter!("socket_rate_limited_total").increment(1);
            AckError::new(ErrorCode::RateLimited, "too many events; slow down")
        })
    }

    /// The player allowed to act now: spectators are `unauthorized`, players
    /// whose token has run out are `token_expired`.
    pub(crate) fn player(&self, now_ms: i64) -> Result<Player, AckError> {
        match &*lock(&self.identity) {
            Identity::Spectator => Err(AckError::new(
                ErrorCode::Unauthorized,
                "sign in to place pixels",
            )),
            Identity::Player { exp_ms, .. } if *exp_ms <= now_ms => Err(AckError::new(
                ErrorCode::TokenExpired,
                "the access token has expired; send a fresh one with `auth`",
            )),
            Identity::Player { player, .. } => Ok(player.clone()),
        }
    }

    pub(crate) fn set_identity(&self, identity: Identity) {
        *lock(&self.identity) = identity;
    }

    /// Records a joined board; `false` if it was joined already.
    pub(crate) fn join(&self, board: &BoardId) -> bool {
        let mut joined = lock(&self.joined);
        if joined.contains(board) {
            return false;
        }
        joined.reserve_exact(1);
        joined.push(board.clone());
        true
    }

    /// Forgets a joined board; `false` if it was not joined.
    pub(crate) fn leave(&self, board: &BoardId) -> bool {
        let mut joined = lock(&self.joined);
        let Some(i) = joined.iter().position(|b| b == board) else {
            return false;
        };
        joined.swap_remove(i);
        joined.shrink_to_fit();
        true
    }

    pub(crate) fn has_joined(&self, board: &BoardId) -> bool {
        lock(&self.joined).contains(board)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn spectators_and_expired_players_cannot_act() {
        let s = Session::new(Identity::Spectator, nz(10), nz(10));
        assert_eq!(s.player(0).unwrap_err().code, ErrorCode::Unauthorized);
        let ann = Player {
            id: "u1".into(),
            name: "ann".into(),
        };
        s.set_identity(Identity::Player {
            player: ann.clone(),
            exp_ms: 1000,
        });
        assert_eq!(s.player(999).unwrap(), ann);
        assert_eq!(s.player(1000).unwrap_err().code, ErrorCode::TokenExpired);
    }

    #[test]
    fn the_burst_is_the_budget() {
        let s = Session::new(Identity::Spectator, nz(1), nz(5));
        for _ in 0..5 {
            assert!(s.check_rate().is_ok());
        }
        assert_eq!(s.check_rate().unwrap_err().code, ErrorCode::RateLimited);
    }

    #[test]
    fn joins_are_tracked_per_board() {
        let s = Session::new(Identity::Spectator, nz(1), nz(1));
        let b = BoardId::parse("main").unwrap();
        assert!(!s.has_joined(&b));
        assert!(s.join(&b));
        assert!(!s.join(&b));
        assert!(s.has_joined(&b));
        assert!(s.leave(&b));
        assert!(!s.leave(&b));
    }
}
