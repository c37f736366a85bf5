//! Socket.IO handlers. Each event runs its checks in the contract's order —
//! rate budget, input, auth, joined, then the game (cooldown) — and always
//! acks: a request is never silently dropped. Updates reach sockets only
//! through the board relays ([`crate::relay`]), never from here.

use std::sync::Arc;
use std::time::Instant;

use pixel_core::ErrorCode;
use pixel_core::domain::{BoardConfig, Coord, TileId, Update};
use pixel_core::store::Catchup;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Event, SocketRef, State, TryData};
use socketioxide::socket::DisconnectReason;
use tracing::Instrument;

use crate::ack::{
    Ack, AckError, Done, JoinAck, PlaceAck, SubscribeAck, TileAck, True, events, reply,
};
use crate::payload;
use crate::presence::PresenceEvent;
use crate::relay::{Relay, room};
use crate::session::{Identity, Session};
use crate::state::Gateway;

/// The handshake's refusal, shown to the client as `connect_error` with
/// `err.message` = `unauthorized` or `token_expired`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HandshakeError(&'static str);

/// Connect middleware: no token (absent, `null` or empty) makes a
/// spectator; a valid token a player; anything else refuses the connection.
/// Beyond the connection caps ([`crate::limits`]) it is refused with
/// `rate_limited`.
///
/// It also registers the event handlers. socketioxide sends the CONNECT ack
/// *before* it runs the connect handler, so handlers registered there miss
/// an event the client emits right after the ack (the contract test
/// `protocol.test.mjs` caught one in ~150 sessions). The middleware runs
/// before the ack is sent.
pub(crate) async fn authenticate<A: Adapter>(
    s: SocketRef<A>,
    TryData(auth): TryData<Value>,
    State(gw): State<Arc<Gateway>>,
) -> Result<(), HandshakeError> {
    let token = auth.ok().and_then(|a| a.get("token").cloned());
    let identity = match token {
        None | Some(Value::Null) => Identity::Spectator,
        Some(Value::String(t)) if t.is_empty() => Identity::Spectator,
        Some(Value::String(t)) => match gw.tokens.verify(&t) {
            Ok(claims) => Identity::from(claims),
            Err(e) => {
                tracing::debug!(sid = %s.id, error = %e, "handshake refused");
                return Err(HandshakeError(e.code().as_str()));
            }
        },
        Some(_) => return Err(HandshakeError(ErrorCode::Unauthorized.as_str())),
    };
    let address = gw.limits.client_address(s.req_parts());
    let Some(admission) = gw.limits.admit(address) else {
        tracing::debug!(sid = %s.id, ?address, "handshake refused: connection cap");
        return Err(HandshakeError(ErrorCode::RateLimited.as_str()));
    };
    s.extensions.insert(Arc::new(admission));
    let settings = &gw.settings;
    s.extensions.insert(Arc::new(Session::new(
        identity,
        settings.socket_event_rate,
        settings.socket_event_burst,
    )));
    register_handlers(&s);
    Ok(())
}

/// The connect handler proper: by now the socket is live.
pub(crate) async fn on_connect<A: Adapter>(s: SocketRef<A>) {
    tracing::debug!(sid = %s.id, "socket connected");
}

fn register_handlers<A: Adapter>(s: &SocketRef<A>) {
    // Labelled with the transport the socket connected on (an upgrade from
    // polling to WebSocket later is not followed).
    let transport = match s.transport_type() {
        socketioxide::TransportType::Websocket => "websocket",
        socketioxide::TransportType::Polling => "polling",
    };
    metrics::gauge!("gateway_sockets_connected", "transport" => transport).increment(1.0);
    // One handler for every event, dispatching on the name: `s.on` per
    // event would allocate a handler map for each socket (~360 B of an
    // idle socket; README, "Memory per connection: measured").
    s.on_fallback(dispatch::<A>);
    s.on_disconnect(async move |s: SocketRef<A>, reason: DisconnectReason| {
        metrics::gauge!("gateway_sockets_connected", "transport" => transport).decrement(1.0);
        s.extensions.remove::<Arc<crate::limits::Admission>>();
        tracing::debug!(sid = %s.id, ?reason, "socket disconnected");
    });
}

fn session<A: Adapter>(s: &SocketRef<A>) -> Result<Arc<Session>, AckError> {
    s.extensions.get::<Arc<Session>>().ok_or_else(|| {
        tracing::error!(sid = %s.id, "socket without session");
        AckError::new(ErrorCode::Internal, "internal error")
    })
}

/// Runs one event: span, timing, the socket's rate budget, metrics and the
/// ack. `f` gets the socket's session once the event is admitted.
async fn handle<A, F>(s: &SocketRef<A>, ack: AckSender<A>, event: &'static str, f: F)
where
    A: Adapter,
    F: AsyncFnOnce(Arc<Session>) -> Result<Ack, AckError>,
{
    let start = Instant::now();
    let span = tracing::info_span!("event", sid = %s.id, event);
    let admitted = async {
        let session = session(s)?;
        session.check_rate()?;
        f(session).await
    };
    let result = admitted.instrument(span.clone()).await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.code.as_str(),
    };
    metrics::counter!("gateway_events_total", "event" => event, "outcome" => outcome).increment(1);
    metrics::histogram!("gateway_event_duration_seconds", "event" => event)
        .record(start.elapsed().as_secs_f64());
    if let Err(e) = ack.send(&reply(result)) {
        let _enter = span.enter();
        tracing::debug!(error = %e, "ack not delivered");
    }
}

/// Every event of a socket, by name.
async fn dispatch<A: Adapter>(
    s: SocketRef<A>,
    Event(event): Event,
    data: TryData<Value>,
    ack: AckSender<A>,
    gw: State<Arc<Gateway>>,
) {
    match event.as_str() {
        events::JOIN => join(s, data, ack, gw).await,
        events::LEAVE => leave(s, data, ack, gw).await,
        events::SUBSCRIBE => subscribe(s, data, ack, gw).await,
        events::PLACE => place(s, data, ack, gw).await,
        events::AUTH => auth(s, data, ack, gw).await,
        _ => unknown(s, Event(event), ack).await,
    }
}

async fn join<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: AckSender<A>,
    State(gw): State<Arc<Gateway>>,
) {
    // The relay of a successful join, for the presence event after the ack.
    let mut joined: Option<&Arc<Relay>> = None;
    let run = async |session: Arc<Session>| {
        let req = payload::join(data.as_ref().ok())?;
        let board = gw.game.board(&req.board)?;
        let tiles = match &req.tiles {
            Some(t) => Some(tile_ids(board, t.iter().map(|t| (t.tx, t.ty)))?),
            None => None,
        };
        let relay = gw.relay(&board.id)?;
        // The relay puts the socket in the room at a known feed position:
        // its live updates start right after `seq`, so the ack's updates
        // plus the live ones are every seq once, in order.
        let newly = session.join(&board.id);
        let seq = relay.join(&s, req.encoding, tiles.as_deref()).await;
        let catchup = match req.since {
            Some(since) => match gw.game.catch_up(board, since, seq).await {
                Ok(c) => Some(c),
                Err(e) => {
                    if newly {
                        session.leave(&board.id);
                        leave_rooms(&s, &board.id);
                    }
                    return Err(e.into());
                }
            },
            None => None,
        };
        let (updates, resync) = match catchup {
            Some(Catchup::Updates(mut updates)) => {
                if let Some(tiles) = &tiles {
                    updates.retain(|u| tiles.contains(&tile_of(board, u)));
                }
                (Some(updates), false)
            }
            Some(Catchup::Resync) => (None, true),
            None => (None, false),
        };
        joined = Some(relay);
        Ok(Ack::Join(Box::new(JoinAck {
            ok: True,
            seq,
            board: board.meta(seq),
            updates,
            resync,
        })))
    };
    handle(&s, ack, events::JOIN, run).await;
    if let Some(relay) = joined {
        // The last cluster-wide count at once; the exact one follows.
        let watchers = relay.watchers().max(1);
        let event = PresenceEvent {
            board: &relay.board().id,
            watchers,
        };
        if let Err(e) = s.emit(events::PRESENCE, &event) {
            tracing::debug!(sid = %s.id, error = %e, "presence not delivered");
        }
    }
}

async fn leave<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: AckSender<A>,
    State(gw): State<Arc<Gateway>>,
) {
    let run = async |session: Arc<Session>| {
        let board = gw.game.board(&payload::leave(data.as_ref().ok())?)?;
        if !session.leave(&board.id) {
            return Err(not_joined());
        }
        leave_rooms(&s, &board.id);
        Ok(Ack::Done(Done::default()))
    };
    handle(&s, ack, events::LEAVE, run).await;
}

/// Every room of the socket for `board`: the board's, the binary and tile
/// watchers' and each tile's.
fn leave_rooms<A: Adapter>(s: &SocketRef<A>, board: &pixel_core::domain::BoardId) {
    let prefix = crate::tiles::rooms_prefix(board);
    let mut rooms: Vec<_> = s
        .rooms()
        .into_iter()
        .filter(|r| r.starts_with(&prefix))
        .collect();
    rooms.push(room(board).into());
    rooms.push(crate::binary::room(board).into());
    rooms.push(crate::tiles::watching_room(board).into());
    s.leave(rooms);
}

/// Checks tile addresses against the board (`invalid_input` for one off it).
fn tile_ids(
    board: &BoardConfig,
    tiles: impl Iterator<Item = (u64, u64)>,
) -> Result<Vec<TileId>, AckError> {
    tiles
        .map(|(tx, ty)| board.tile(tx, ty).map_err(AckError::invalid))
        .collect()
}

fn tile_of(board: &BoardConfig, u: &Update) -> TileId {
    board.tile_of(Coord { x: u.x, y: u.y })
}

/// `subscribe`: changes the tiles a joined socket watches. Checks run in
/// the contract's order: input (every tile on the board), then joined.
async fn subscribe<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: AckSender<A>,
    State(gw): State<Arc<Gateway>>,
) {
    let run = async |session: Arc<Session>| {
        let req = payload::subscribe(data.as_ref().ok())?;
        let board = gw.game.board(&req.board)?;
        let ids = tile_ids(board, req.tiles.iter().map(|t| (t.tx, t.ty)))?;
        if !session.has_joined(&board.id) {
            return Err(not_joined());
        }
        let relay = gw.relay(&board.id)?;
        let (seq, before) = relay.subscribe(&s, &ids).await;
        let wanted: Vec<(TileId, Option<u64>)> = ids
            .iter()
            .copied()
            .zip(req.tiles.iter().map(|t| t.since))
            .collect();
        match tile_catch_up(&gw, board, &wanted, seq).await {
            Ok(tiles) => Ok(Ack::Subscribe(SubscribeAck {
                ok: True,
                seq,
                tiles,
            })),
            Err(e) => {
                // Nothing changed: the socket watches what it watched.
                relay.restore(&s, before).await;
                Err(e)
            }
        }
    };
    handle(&s, ack, events::SUBSCRIBE, run).await;
}

/// Per tile, the updates of the tile after its `since` up to `upto` (or
/// `resync` when the history no longer holds them): one history read for
/// the oldest `since`, a read per tile only when that one is too old.
async fn tile_catch_up(
    gw: &Gateway,
    board: &BoardConfig,
    tiles: &[(TileId, Option<u64>)],
    upto: u64,
) -> Result<Vec<TileAck>, AckError> {
    let oldest = tiles.iter().filter_map(|(_, since)| *since).min();
    let shared = match oldest {
        Some(since) => Some(gw.game.catch_up(board, since, upto).await?),
        None => None,
    };
    let mut out = Vec::with_capacity(tiles.len());
    for &(tile, since) in tiles {
        let caught = match (since, &shared) {
            (None, _) | (_, None) => None,
            (Some(since), Some(Catchup::Updates(all))) => Some(Catchup::Updates(
                all.iter()
                    .filter(|u| u.seq > since && tile_of(board, u) == tile)
                    .cloned()
                    .collect(),
            )),
            (Some(since), Some(Catchup::Resync)) => {
                Some(match gw.game.catch_up(board, since, upto).await? {
                    Catchup::Updates(all) => Catchup::Updates(
                        all.into_iter()
                            .filter(|u| tile_of(board, u) == tile)
                            .collect(),
                    ),
                    Catchup::Resync => Catchup::Resync,
                })
            }
        };
        let (updates, resync) = match caught {
            Some(Catchup::Updates(u)) => (Some(u), false),
            Some(Catchup::Resync) => (None, true),
            None => (None, false),
        };
        out.push(TileAck {
            tile: crate::tiles::TilePair(tile),
            updates,
            resync,
        });
    }
    Ok(out)
}

/// How long a refused placement should wait before it is tried again.
const BUSY_RETRY_MS: i64 = 50;

fn busy() -> AckError {
    metrics::counter!("gateway_shed_total", "event" => "place").increment(1);
    AckError {
        retry_after_ms: Some(BUSY_RETRY_MS),
        ..AckError::new(
            ErrorCode::Busy,
            "the server is at capacity; nothing was changed, retry shortly",
        )
    }
}

fn not_joined() -> AckError {
    AckError::new(ErrorCode::NotJoined, "join the board first")
}

async fn place<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: AckSender<A>,
    State(gw): State<Arc<Gateway>>,
) {
    let run = async |session: Arc<Session>| {
        let req = payload::place(data.as_ref().ok())?;
        let board = gw.game.board(&req.board)?;
        let coord = board.coord(req.x, req.y).map_err(AckError::invalid)?;
        let color = board.color(req.color).map_err(AckError::invalid)?;
        let player = session.player(gw.game.now())?;
        if !session.has_joined(&board.id) {
            return Err(not_joined());
        }
        if gw.is_closing() {
            return Err(AckError::new(
                ErrorCode::Unavailable,
                "the server is shutting down; nothing was changed, retry after reconnecting",
            ));
        }
        // Shed load before touching the store: a refusal now is truthful
        // ("nothing changed") and immediate, where queuing would answer late.
        let _permit = gw.place_permits.try_acquire().map_err(|_| busy())?;
        // The update reaches watchers (this socket included) through the
        // board's feed and every gateway's relay; nothing is published here.
        let placed = gw.game.place(board, coord, color, &player).await?;
        Ok(Ack::Place(PlaceAck {
            ok: True,
            update: placed.update,
            cooldown_until: placed.cooldown_until,
        }))
    };
    handle(&s, ack, events::PLACE, run).await;
}

async fn auth<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: AckSender<A>,
    State(gw): State<Arc<Gateway>>,
) {
    let run = async |session: Arc<Session>| {
        let token = payload::auth(data.as_ref().ok())?;
        let claims = gw.tokens.verify(&token)?;
        session.set_identity(Identity::from(claims));
        Ok(Ack::Done(Done::default()))
    };
    handle(&s, ack, events::AUTH, run).await;
}

async fn unknown<A: Adapter>(s: SocketRef<A>, Event(event): Event, ack: AckSender<A>) {
    let run = async |_: Arc<Session>| {
        let name: String = event.chars().take(64).collect();
        Err(AckError::invalid(format!("unknown event {name:?}")))
    };
    handle(&s, ack, "unknown", run).await;
}
