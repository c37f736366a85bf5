//! Building the Socket.IO server: limits from [`SocketSettings`], the
//! connect middleware and handlers on namespace `/`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::OriginalUri;
use axum::http::{HeaderMap, HeaderValue, Request, Uri};
use tower::layer::util::Stack;
use tower::util::MapRequestLayer;

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
        .ws_read_buffer_size(s.ws_read_buffer_bytes)
        .with_state(gw.clone())
}

/// The path socketioxide serves Engine.IO on (its default).
const ENGINE_IO_PATH: &str = "/socket.io";

/// A request to the Socket.IO layer with its URI and header values copied
/// out of hyper's connection read buffer.
///
/// hyper parses the request head zero-copy: the URI and every header value
/// are slices of the connection's read buffer (8–16 KiB). socketioxide keeps
/// the request's parts for the socket's whole life (`SocketRef::req_parts`),
/// so each idle socket pinned that whole buffer — half of its memory (see
/// README, "Memory per connection: measured"). The copies take the bytes
/// of the head itself, a few hundred. Other requests pass untouched.
pub fn detach_request<B>(mut req: Request<B>) -> Request<B> {
    if !req.uri().path().starts_with(ENGINE_IO_PATH) {
        return req;
    }
    if let Some(uri) = detach_uri(req.uri()) {
        *req.uri_mut() = uri;
    }
    // axum's router keeps the request's URI as it came in, shared as well.
    if let Some(OriginalUri(original)) = req.extensions().get::<OriginalUri>()
        && let Some(uri) = detach_uri(original)
    {
        req.extensions_mut().insert(OriginalUri(uri));
    }
    let mut headers = HeaderMap::with_capacity(req.headers().len());
    for (name, value) in req.headers() {
        // `from_bytes` copies (a name parsed by hyper already is owned).
        let mut copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        copy.set_sensitive(value.is_sensitive());
        headers.append(name.clone(), copy);
    }
    *req.headers_mut() = headers;
    req
}

/// A copy of `uri` that owns its bytes.
fn detach_uri(uri: &Uri) -> Option<Uri> {
    Uri::try_from(uri.to_string()).ok()
}

/// `layer` (a Socket.IO layer) behind [`detach_request`].
pub type DetachedLayer<L> = Stack<L, MapRequestLayer<fn(Request<Body>) -> Request<Body>>>;

/// Puts [`detach_request`] in front of a Socket.IO layer.
pub fn detached<L>(layer: L) -> DetachedLayer<L> {
    Stack::new(layer, MapRequestLayer::new(detach_request::<Body>))
}

/// Registers the namespace `/` with its middleware and handlers.
pub fn register<A: Adapter + DefinedAdapter>(io: &SocketIo<A>) -> A::InitRes {
    io.ns("/", on_connect::<A>.with(authenticate::<A>))
}

/// The standalone server's Socket.IO layer, on the in-process adapter
/// (behind [`detach_request`]).
pub fn socket_layer(gw: Arc<Gateway>) -> (DetachedLayer<SocketIoLayer>, SocketIo) {
    let (layer, io) = builder(gw).build_layer();
    register(&io);
    (detached(layer), io)
}
