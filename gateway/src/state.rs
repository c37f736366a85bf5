//! What the gateway's handlers share: [`Gateway`]. In a module of its own
//! so that `handlers` and `startup` depend on it and not on each other.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pixel_core::ErrorCode;
use pixel_core::Game;
use pixel_core::auth::AccessTokens;
use pixel_core::domain::BoardId;
use pixel_core::store::StoreError;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use tokio::sync::{Semaphore, watch};

use crate::ack::AckError;
use crate::config::SocketSettings;
use crate::relay::{Relay, Relays};

/// What the handlers share: the game, the token verifier, the limits and
/// the board relays.
pub struct Gateway {
    pub game: Arc<Game>,
    pub tokens: Arc<AccessTokens>,
    pub settings: SocketSettings,
    pub relays: Relays,
    pub limits: Arc<crate::limits::ConnectionLimits>,
    /// Placements in flight to the store; none left means `busy`.
    pub place_permits: Arc<Semaphore>,
    /// Set by [`Gateway::finish_placements`]: new placements are refused.
    closing: AtomicBool,
}

impl Gateway {
    /// The gateway over `game`, its relays positioned at each board's seq.
    pub async fn new(
        game: Arc<Game>,
        tokens: Arc<AccessTokens>,
        settings: SocketSettings,
    ) -> Result<Self, StoreError> {
        let relays = Relays::open(&game, settings.relay_batch()).await?;
        let limits = Arc::new(crate::limits::ConnectionLimits::new(
            settings.max_connections,
            settings.max_connections_per_address,
            settings.trusted_proxies.clone(),
        ));
        let place_permits = Arc::new(Semaphore::new(settings.place_concurrency.max(1)));
        Ok(Self {
            game,
            tokens,
            settings,
            relays,
            limits,
            place_permits,
            closing: AtomicBool::new(false),
        })
    }

    /// Whether the gateway is shutting down and takes no new placements.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// The first step of closing: refuses new placements (nothing changed,
    /// the client retries on another gateway) and waits until every
    /// placement in flight to the store has been answered, so that closing
    /// the sockets afterwards drops no ack. The caller bounds the wait (the
    /// drain deadline).
    pub async fn finish_placements(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let all = self.settings.place_concurrency.max(1);
        let in_flight = all - self.place_permits.available_permits();
        if in_flight > 0 {
            tracing::info!(in_flight, "waiting for placements in flight");
        }
        // Every permit back means no placement left in flight; a new one
        // can no longer start (refused above, or `busy`).
        let _all = self
            .place_permits
            .acquire_many(u32::try_from(all).unwrap_or(u32::MAX))
            .await;
    }

    /// The relay of a board the game knows.
    pub fn relay(&self, board: &BoardId) -> Result<&Arc<Relay>, AckError> {
        self.relays.get(board).ok_or_else(|| {
            tracing::error!(%board, "board without relay");
            AckError::new(ErrorCode::Internal, "internal error")
        })
    }

    /// Starts the relays and watcher counts on `io` until `stop` turns true.
    pub fn start<A: Adapter>(
        &self,
        io: &SocketIo<A>,
        stop: &watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = self.relays.spawn(io, self.game.store(), stop);
        tasks.extend(crate::presence::spawn(&self.relays, io, stop));
        tasks
    }
}
