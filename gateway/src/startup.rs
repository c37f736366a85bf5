//! Building the Socket.IO server: limits from [`SocketSettings`], the
//! connect middleware and handlers on namespace `/`.

use std::sync::Arc;

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
        })
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
