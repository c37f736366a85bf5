//! Building the Socket.IO server: limits from [`SocketSettings`], the
//! connect middleware and handlers on namespace `/`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pixel_core::Game;
use pixel_core::auth::AccessTokens;
use socketioxide::adapter::Adapter;
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{SocketIo, SocketIoBuilder};
use socketioxide_core::adapter::DefinedAdapter;

use pixel_core::ErrorCode;
use pixel_core::domain::BoardId;
use pixel_core::store::StoreError;
use tokio::sync::{Semaphore, watch};

use crate::ack::AckError;
use crate::config::SocketSettings;
use crate::handlers::{authenticate, on_connect};
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
        let relays = Relays::open(&game).await?;
        let limits = Arc::new(crate::limits::ConnectionLimits::new(
            settings.max_connections,
            settings.max_connections_per_address,
            settings.trust_x_real_ip,
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

/// A Socket.IO builder with the gateway's limits and state applied.
pub fn builder(gw: Arc<Gateway>) -> SocketIoBuilder {
    let s = &gw.settings;
    SocketIo::builder()
        .ping_interval(s.ping_interval())
        .ping_timeout(s.ping_timeout())
        .max_payload(s.max_payload_bytes as u64)
        .ws_max_message_size(s.max_payload_bytes)
        .ws_max_frame_size(s.max_payload_bytes)
        .max_buffer_size(s.socket_buffer_packets)
        .with_state(gw.clone())
}

/// Registers the namespace `/` with its middleware and handlers.
pub fn register<A: Adapter + DefinedAdapter>(io: &SocketIo<A>) -> A::InitRes {
    io.ns("/", on_connect::<A>.with(authenticate::<A>))
}

/// The standalone server's Socket.IO layer, on the in-process adapter.
pub fn socket_layer(gw: Arc<Gateway>) -> (SocketIoLayer, SocketIo) {
    let (layer, io) = builder(gw).build_layer();
    register(&io);
    (layer, io)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;
    use pixel_core::ManualClock;
    use pixel_core::auth::AccessTokens;
    use pixel_core::config::{GameConfig, Secret};
    use pixel_core::store::MemoryStore;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        game: GameConfig,
        #[command(flatten)]
        socket: SocketSettings,
    }

    #[tokio::test]
    async fn closing_waits_for_the_placements_in_flight() {
        let cli = Cli::parse_from(["gateway", "--place-concurrency", "4"]);
        let clock = Arc::new(ManualClock::new(0));
        let game = Game::new(
            Arc::new(MemoryStore::new()),
            cli.game.boards().unwrap(),
            clock.clone(),
        );
        game.init().await.unwrap();
        let tokens = Arc::new(AccessTokens::new(&Secret::new("k".repeat(32)), 900, clock));
        let gw = Arc::new(
            Gateway::new(Arc::new(game), tokens, cli.socket)
                .await
                .unwrap(),
        );
        // One placement in flight to the store.
        let in_flight = gw.place_permits.clone().try_acquire_owned().unwrap();
        let closing = tokio::spawn({
            let gw = gw.clone();
            async move { gw.finish_placements().await }
        });
        tokio::time::timeout(Duration::from_secs(5), async {
            while !gw.is_closing() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("closing starts");
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert!(
            !closing.is_finished(),
            "closing waits for the placement in flight"
        );
        drop(in_flight);
        tokio::time::timeout(Duration::from_secs(5), closing)
            .await
            .expect("closing ends once nothing is in flight")
            .unwrap();
    }
}
