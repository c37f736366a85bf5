//! Board relays: the only way updates reach this gateway's sockets.
//!
//! Each board has one relay per gateway. It reads the board's feed (a Redis
//! Stream in the cluster, a ring buffer standalone) from the last seq it
//! delivered and emits what it read to the board's room **on this node
//! only**, one `pixels` event per read (split past [`EVENT_BYTES`]).
//! That gives, per connection:
//!
//! - **Order without holes.** The feed holds every update in seq order, and
//!   one task per board emits it, so a socket sees seqs strictly increasing
//!   and consecutive. There is no second path (the placing gateway and the
//!   worker publish nothing), so nothing can overtake.
//! - **Nothing lost to an outage.** Pub/sub is at most once; the feed is
//!   durable. After Redis restarts (or thaws) the relay resumes from its
//!   position, so nothing is missed and nothing is repeated.
//! - **Adaptive batching.** Idle, a read returns one update at once; busy,
//!   everything that arrived since the last read comes in one event, which
//!   socketioxide serialises once for all recipients. A read that found
//!   more than one update waiting (they piled up while the relay delivered
//!   the last: an event per update is more than it keeps up with) is
//!   followed by a pause of the batching window (`RELAY_BATCH_MS`) before
//!   the next, so a busy board sends about one event per window carrying
//!   what the window gathered (tens of updates instead of a few: per
//!   event, not per update, is what a socket's queue, its framing and the
//!   kernel's TCP cost). A read of one update is followed by the next at
//!   once, so a lone placement, and a board that keeps up, see no wait; so
//!   is a full read (a backlog drains at the store's pace).
//!
//! A socket joins the room under the relay's position lock ([`Relay::join`]),
//! so the seq in its join ack is exactly where its live updates start.
//! When the relay's position has fallen out of the retained feed (it was
//! away longer than the history bounds) or the store lost its data, it
//! tells its sockets with a `resync` event before going on.
//!
//! Lost data is told by the store's **epoch**, read in the same round trip
//! as every feed read: updates that come with another epoch than the one
//! the relay's position belongs to are another data set's (a wiped Redis
//! hands out seqs 1, 2, … again, and they would pass as the continuation
//! of an old position), so the relay drops them, starts over at the new
//! data set's seq and sends `resync`. A seq that went backwards under the
//! same epoch (a failover to a replica that lagged) makes the relay start
//! a new epoch, with the same effect on every process.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::binary::{self, Encoding};
use crate::tiles::{self, TilePair, TilePixelsEvent, TileSeqs};
use pixel_core::Game;
use pixel_core::domain::{BoardConfig, BoardId, PixelsEvent, TileId, Update};
use pixel_core::store::{BoardStore, StoreError};
use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;
use tokio::sync::{Mutex, watch};
use tracing::Instrument;

/// Most updates taken from the feed in one read. One read is one round
/// trip, so under a burst (a decay backlog) the relay is bounded by reads
/// per second: 4,000 cleared a 50,000-pixel backlog at ~190,000 removals/s
/// where 1,000 gave ~150,000 (10,000 was no faster). Events stay small:
/// a read is split by [`EVENT_BYTES`].
pub(crate) const READ_MAX: usize = 4_000;
/// Largest `pixels` event, roughly (a busy read is split beyond it).
pub(crate) const EVENT_BYTES: usize = 64 * 1024;
/// A read of at least this many updates means the relay is busy: the
/// batching window follows it.
const BUSY_READ: usize = 2;
/// How long one blocking read waits before the relay looks around (lag,
/// lost data, shutdown).
const READ_WAIT: Duration = Duration::from_secs(1);
/// How often the relay compares its position with the board's seq.
const CHECK_EVERY: Duration = Duration::from_secs(1);
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The Socket.IO room of a board's watchers on this gateway.
pub(crate) fn room(board: &BoardId) -> String {
    format!("board:{board}")
}

/// The board's room on this node only, or `None` once the server has
/// closed its namespace at shutdown: socketioxide's `io.local()` and
/// `io.to()` panic then, and a relay or presence task can be between two
/// awaits when it happens.
pub(crate) fn local_room<A: Adapter>(
    io: &SocketIo<A>,
    board: &BoardId,
) -> Option<BroadcastOperators<A>> {
    local_to(io, room(board))
}

/// Room `name` on this node only, or `None` once the namespace is closed.
fn local_to<A: Adapter>(io: &SocketIo<A>, name: String) -> Option<BroadcastOperators<A>> {
    Some(io.of("/")?.local().to(name))
}

/// The board's room on every node (through the adapter), or `None` once
/// the namespace is closed (see [`local_room`]).
pub(crate) fn cluster_room<A: Adapter>(
    io: &SocketIo<A>,
    board: &BoardId,
) -> Option<BroadcastOperators<A>> {
    Some(io.of("/")?.to(room(board)))
}

/// The `resync` event: this connection's feed skips to after `seq`.
#[derive(Debug, Serialize)]
pub(crate) struct ResyncEvent<'a> {
    pub board: &'a BoardId,
    pub seq: u64,
}

/// A socket's tile rooms of one board, as [`Relay::subscribe`] found them.
pub struct TileRooms {
    watching: bool,
    rooms: Vec<std::borrow::Cow<'static, str>>,
}

/// One board's relay on this gateway.
pub struct Relay {
    board: Arc<BoardConfig>,
    /// The last seq delivered to the board's room on this node. Locked
    /// while a batch is emitted and while a socket joins, so a socket is
    /// either in the room for a batch or its join ack covers the batch.
    position: Mutex<u64>,
    /// The epoch of the data set `position` belongs to.
    epoch: std::sync::Mutex<String>,
    /// Per tile, where its next event's range starts. Only touched under
    /// the `position` lock (a plain mutex, never held across an await).
    tile_seqs: std::sync::Mutex<TileSeqs>,
    /// The board's cluster-wide watcher count, as last computed.
    watchers: AtomicU64,
    /// The batching window: the pause after a busy read.
    batch: Duration,
    metrics: RelayMetrics,
}

/// A relay's metric handles, made once.
struct RelayMetrics {
    dropped: metrics::Counter,
    events: metrics::Counter,
    updates: metrics::Counter,
    resyncs: metrics::Counter,
    lag: metrics::Gauge,
    watchers: metrics::Gauge,
}

impl RelayMetrics {
    fn new(board: &BoardId) -> Self {
        pixel_core::telemetry::install_recorder();
        let b = || board.to_string();
        Self {
            dropped: metrics::counter!("gateway_feed_dropped_total", "board" => b()),
            events: metrics::counter!("gateway_feed_events_total", "board" => b()),
            updates: metrics::counter!("gateway_feed_updates_total", "board" => b()),
            resyncs: metrics::counter!("gateway_feed_resyncs_total", "board" => b()),
            lag: metrics::gauge!("gateway_feed_lag_updates", "board" => b()),
            watchers: metrics::gauge!("gateway_presence_watchers", "board" => b()),
        }
    }
}

/// The relays of every board, by board id.
pub struct Relays(BTreeMap<BoardId, Arc<Relay>>);

impl Relays {
    /// One relay per board of `game`, each starting at the board's current
    /// seq (updates before it are what join acks and snapshots cover), with
    /// the batching window `batch` (zero: none).
    pub async fn open(game: &Game, batch: Duration) -> Result<Self, StoreError> {
        let mut relays = BTreeMap::new();
        for board in game.boards() {
            let seq = game.store().board_seq(&board.id).await?;
            relays.insert(
                board.id.clone(),
                Arc::new(Relay {
                    board: board.clone(),
                    position: Mutex::new(seq),
                    tile_seqs: std::sync::Mutex::new(TileSeqs::new(seq)),
                    epoch: std::sync::Mutex::new(game.store().epoch()),
                    watchers: AtomicU64::new(0),
                    batch,
                    metrics: RelayMetrics::new(&board.id),
                }),
            );
        }
        Ok(Self(relays))
    }

    pub fn get(&self, board: &BoardId) -> Option<&Arc<Relay>> {
        self.0.get(board)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Relay>> {
        self.0.values()
    }

    /// Starts every relay on `io`; they stop when `stop` turns true.
    pub fn spawn<A: Adapter>(
        &self,
        io: &SocketIo<A>,
        store: &Arc<dyn BoardStore>,
        stop: &watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.iter()
            .map(|relay| {
                let (relay, io, store, stop) =
                    (relay.clone(), io.clone(), store.clone(), stop.clone());
                let span = tracing::info_span!("relay", board = %relay.board.id);
                tokio::spawn(relay.run(io, store, stop).instrument(span))
            })
            .collect()
    }
}

impl Relay {
    pub fn board(&self) -> &Arc<BoardConfig> {
        &self.board
    }

    /// Puts `s` in the board's room, watching `tiles` (`None`: the whole
    /// board), and returns the seq its live updates start after.
    pub async fn join<A: Adapter>(
        &self,
        s: &SocketRef<A>,
        encoding: Encoding,
        tiles: Option<&[TileId]>,
    ) -> u64 {
        let position = self.position.lock().await;
        s.join(room(&self.board.id));
        match encoding {
            Encoding::Binary => s.join(binary::room(&self.board.id)),
            Encoding::Json => s.leave(binary::room(&self.board.id)),
        }
        self.watch_tiles(s, encoding, tiles);
        *position
    }

    /// Changes the tiles a joined socket watches (in the encoding it joined
    /// with) and returns the seq their live updates start after, and the
    /// socket's tile rooms before (for [`Relay::restore`]).
    pub async fn subscribe<A: Adapter>(
        &self,
        s: &SocketRef<A>,
        tiles: &[TileId],
    ) -> (u64, TileRooms) {
        let position = self.position.lock().await;
        let before = self.tile_rooms(s);
        let binary_room = binary::room(&self.board.id);
        let encoding = if s.rooms().iter().any(|r| *r == binary_room) {
            Encoding::Binary
        } else {
            Encoding::Json
        };
        self.watch_tiles(s, encoding, Some(tiles));
        (*position, before)
    }

    /// The socket's tile rooms of this board now.
    fn tile_rooms<A: Adapter>(&self, s: &SocketRef<A>) -> TileRooms {
        let board = &self.board.id;
        let prefix = tiles::rooms_prefix(board);
        let watching_room = tiles::watching_room(board);
        let rooms = s.rooms();
        TileRooms {
            watching: rooms.iter().any(|r| *r == watching_room),
            rooms: rooms
                .into_iter()
                .filter(|r| r.starts_with(&prefix))
                .collect(),
        }
    }

    /// Puts the socket back in the tile rooms it had (a `subscribe` whose
    /// catch-up failed changes nothing).
    pub async fn restore<A: Adapter>(&self, s: &SocketRef<A>, before: TileRooms) {
        let _position = self.position.lock().await;
        let board = &self.board.id;
        let prefix = tiles::rooms_prefix(board);
        let now: Vec<_> = s
            .rooms()
            .into_iter()
            .filter(|r| r.starts_with(&prefix))
            .collect();
        if !now.is_empty() {
            s.leave(now);
        }
        if !before.rooms.is_empty() {
            s.join(before.rooms);
        }
        if !before.watching {
            s.leave(tiles::watching_room(board));
        }
    }

    /// Leaves the socket's tile rooms of this board, then joins those of
    /// `tiles` (and the tile watchers' room), or none (`None`).
    fn watch_tiles<A: Adapter>(
        &self,
        s: &SocketRef<A>,
        encoding: Encoding,
        tiles: Option<&[TileId]>,
    ) {
        let board = &self.board.id;
        let prefix = tiles::rooms_prefix(board);
        let old: Vec<_> = s
            .rooms()
            .into_iter()
            .filter(|r| r.starts_with(&prefix))
            .collect();
        if !old.is_empty() {
            s.leave(old);
        }
        let Some(tiles) = tiles else {
            s.leave(tiles::watching_room(board));
            return;
        };
        s.join(tiles::watching_room(board));
        let rooms: Vec<String> = tiles
            .iter()
            .map(|t| {
                let i = self.board.tile_index(*t);
                match encoding {
                    Encoding::Json => tiles::json_room(board, i),
                    Encoding::Binary => tiles::binary_room(board, i),
                }
            })
            .collect();
        if !rooms.is_empty() {
            s.join(rooms);
        }
    }

    /// The last seq this relay delivered.
    pub async fn position(&self) -> u64 {
        *self.position.lock().await
    }

    pub fn watchers(&self) -> u64 {
        self.watchers.load(Ordering::Relaxed)
    }

    pub(crate) fn set_watchers(&self, n: u64) {
        self.watchers.store(n, Ordering::Relaxed);
        self.metrics.watchers.set(n as f64);
    }

    async fn run<A: Adapter>(
        self: Arc<Self>,
        io: SocketIo<A>,
        store: Arc<dyn BoardStore>,
        mut stop: watch::Receiver<bool>,
    ) {
        let board = self.board.id.clone();
        let mut reader = store.feed();
        let mut backoff = BACKOFF_MIN;
        let mut checked = Instant::now();
        let mut epoch = self.epoch.lock().unwrap_or_else(|e| e.into_inner()).clone();
        // Until when the next read waits (the batching window after a busy
        // read). Not under the position lock: sockets join meanwhile, and
        // their acks name the position before the batch they then receive.
        let mut pause: Option<tokio::time::Instant> = None;
        tracing::debug!("relay started");
        loop {
            if let Some(until) = pause.take() {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    () = tokio::time::sleep_until(until) => {}
                }
            }
            let after = self.position().await;
            let read = tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                r = reader.read(&board, after, READ_MAX, READ_WAIT) => r,
            };
            match read {
                Ok(_) if reader.epoch() != Some(epoch.as_str()) => {
                    // Another data set's updates: not ours to deliver.
                    if !self.restart(&io, &*store, &mut epoch).await {
                        tokio::select! {
                            _ = stop.wait_for(|s| *s) => break,
                            () = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                    }
                    continue;
                }
                Ok(updates) => {
                    backoff = BACKOFF_MIN;
                    if !updates.is_empty() {
                        pause = self.pause_after(updates.len());
                        self.deliver(&io, updates).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        error = %pixel_core::error::Report(&e),
                        ?backoff,
                        "feed read failed; retrying"
                    );
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            }
            if checked.elapsed() >= CHECK_EVERY {
                checked = Instant::now();
                self.check(&io, &*store, &mut epoch).await;
            }
        }
        tracing::debug!("relay stopped");
    }

    /// Until when the read after one that returned `read` updates waits:
    /// the batching window from now after a busy read; not at all after a
    /// read of one update (the relay keeps up), a full read (a backlog
    /// drains at the store's pace), or without a window.
    fn pause_after(&self, read: usize) -> Option<tokio::time::Instant> {
        let busy = (BUSY_READ..READ_MAX).contains(&read);
        (busy && !self.batch.is_zero()).then(|| tokio::time::Instant::now() + self.batch)
    }

    /// Emits `updates` (seq > position, in order) to this node's sockets.
    async fn deliver<A: Adapter>(&self, io: &SocketIo<A>, updates: Vec<Update>) {
        let mut position = self.position.lock().await;
        let updates: Vec<Update> = updates.into_iter().filter(|u| u.seq > *position).collect();
        let Some(first) = updates.first() else {
            return;
        };
        if first.seq != *position + 1 {
            tracing::warn!(
                from = *position + 1,
                to = first.seq - 1,
                "updates fell out of the retained feed before this gateway relayed them"
            );
            self.resync(io, first.seq - 1).await;
        }
        let board = &self.board.id;
        // Tile watchers (also in the board's room) get their tiles' parts
        // only; the whole-board events skip them. Binary watchers get the
        // batch as a frame; the JSON events skip them. Looked up once a
        // batch, so a board without such watchers pays for no `except`.
        let tiled = has_sockets(local_to(io, tiles::watching_room(board)));
        let binary = has_sockets(local_to(io, binary::room(board)).map(|w| {
            if tiled {
                w.except(tiles::watching_room(board))
            } else {
                w
            }
        }));
        let mut except = Vec::new();
        if binary {
            except.push(binary::room(board));
        }
        if tiled {
            except.push(tiles::watching_room(board));
        }
        let json = !tiled || has_sockets(local_room(io, board).map(|w| w.except(except.clone())));
        for chunk in chunks(&updates, EVENT_BYTES).into_iter().filter(|_| json) {
            let event = PixelsEvent {
                board,
                updates: chunk,
            };
            let Some(watchers) = local_room(io, board) else {
                return;
            };
            let watchers = if except.is_empty() {
                watchers
            } else {
                watchers.except(except.clone())
            };
            if let Err(e) = watchers.emit(crate::ack::events::PIXELS, &event).await {
                // Only sockets whose send buffer is full miss it; they see
                // the hole by seq and catch up with `join since`.
                self.metrics.dropped.increment(1);
                tracing::debug!(error = %e, "some sockets missed a pixels event");
            }
            self.metrics.events.increment(1);
        }
        if binary {
            self.deliver_binary(io, &updates, tiled).await;
        }
        if tiled {
            self.deliver_tiles(io, &updates).await;
        } else if let Some(last) = updates.last() {
            // Nobody here watches tiles: every tile's next range may start
            // after this batch.
            self.tile_seqs().reset(last.seq);
        }
        self.metrics.updates.increment(updates.len() as u64);
        *position = updates.last().map_or(*position, |u| u.seq);
    }

    fn tile_seqs(&self) -> std::sync::MutexGuard<'_, TileSeqs> {
        self.tile_seqs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Emits each tile's part of `updates` to the tile's rooms on this
    /// node: serialised once per tile and encoding, and only for a tile
    /// someone here watches.
    async fn deliver_tiles<A: Adapter>(&self, io: &SocketIo<A>, updates: &[Update]) {
        let board = &self.board.id;
        let parts = self.tile_seqs().split(&self.board, updates);
        for part in parts {
            let json_room = tiles::json_room(board, part.index);
            let bin_room = tiles::binary_room(board, part.index);
            let json = has_sockets(local_to(io, json_room.clone()));
            let bin = has_sockets(local_to(io, bin_room.clone()));
            if !json && !bin {
                continue;
            }
            let mut after = part.after;
            for chunk in chunks(&part.updates, EVENT_BYTES) {
                let seq = chunk.last().map_or(after, |u| u.seq);
                if json {
                    let event = TilePixelsEvent {
                        board,
                        tile: TilePair(part.tile),
                        after,
                        seq,
                        updates: chunk,
                    };
                    let Some(watchers) = local_to(io, json_room.clone()) else {
                        return;
                    };
                    if let Err(e) = watchers.emit(crate::ack::events::PIXELS, &event).await {
                        self.metrics.dropped.increment(1);
                        tracing::debug!(error = %e, "some sockets missed a tile's pixels event");
                    }
                    self.metrics.events.increment(1);
                }
                if bin {
                    match tiles::encode(&self.board, part.tile, after, chunk) {
                        Ok(frame) => {
                            let header = binary::FrameHeader { board };
                            let Some(watchers) = local_to(io, bin_room.clone()) else {
                                return;
                            };
                            if let Err(e) = watchers
                                .emit(crate::ack::events::PIXELS, &(header, frame))
                                .await
                            {
                                self.metrics.dropped.increment(1);
                                tracing::debug!(error = %e, "some sockets missed a tile frame");
                            }
                            self.metrics.events.increment(1);
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "a tile's updates could not be encoded as a frame");
                        }
                    }
                }
                after = seq;
            }
        }
    }

    /// Emits `updates` as one binary frame to the board's whole-board
    /// binary watchers on this node (encoded once for all of them).
    async fn deliver_binary<A: Adapter>(&self, io: &SocketIo<A>, updates: &[Update], tiled: bool) {
        let board = &self.board.id;
        let frame = match binary::encode(&self.board, updates) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::error!(error = %e, "a batch could not be encoded as a frame");
                return;
            }
        };
        let header = binary::FrameHeader { board };
        let Some(watchers) = local_to(io, binary::room(board)) else {
            return; // shutting down (see `local_room`)
        };
        let watchers = if tiled {
            watchers.except(tiles::watching_room(board))
        } else {
            watchers
        };
        if let Err(e) = watchers
            .emit(crate::ack::events::PIXELS, &(header, frame))
            .await
        {
            self.metrics.dropped.increment(1);
            tracing::debug!(error = %e, "some sockets missed a binary pixels event");
        }
    }

    async fn resync<A: Adapter>(&self, io: &SocketIo<A>, seq: u64) {
        let board = &self.board.id;
        self.metrics.resyncs.increment(1);
        // Every tile's next range starts after the resync's seq.
        self.tile_seqs().reset(seq);
        let event = ResyncEvent { board, seq };
        let Some(watchers) = local_room(io, board) else {
            return;
        };
        if let Err(e) = watchers.emit(crate::ack::events::RESYNC, &event).await {
            tracing::debug!(error = %e, "some sockets missed a resync event");
        }
    }

    /// Compares the position with the board's seq: exports the lag, and
    /// notices a store that lost updates under the same epoch (its seq went
    /// backwards: a replica that lagged took over), which then gets a new
    /// epoch, and the relay starts over.
    async fn check<A: Adapter>(
        &self,
        io: &SocketIo<A>,
        store: &dyn BoardStore,
        epoch: &mut String,
    ) {
        let board = &self.board.id;
        let Ok(seq) = store.board_seq(board).await else {
            return;
        };
        let position = *self.position.lock().await;
        if seq < position && store.epoch() == *epoch {
            tracing::error!(
                seq,
                position,
                "the store's seq went backwards: it lost updates; starting a new epoch"
            );
            if store.restart_epoch(epoch).await.is_err() {
                return;
            }
        }
        if store.epoch() != *epoch {
            self.restart(io, store, epoch).await;
            return;
        }
        self.metrics.lag.set(seq.saturating_sub(position) as f64);
    }

    /// The data set changed under the relay: what it delivered belongs to
    /// another one. Starts over at the current data set's seq and tells the
    /// sockets to resync. `false` if the store could not be read (the
    /// caller retries).
    async fn restart<A: Adapter>(
        &self,
        io: &SocketIo<A>,
        store: &dyn BoardStore,
        epoch: &mut String,
    ) -> bool {
        // Reading the seq adopts the data set's epoch (re-initialising it
        // if it was wiped).
        let Ok(seq) = store.board_seq(&self.board.id).await else {
            return false;
        };
        let now = store.epoch();
        let mut position = self.position.lock().await;
        tracing::error!(
            old = %epoch,
            new = %now,
            seq,
            position = *position,
            "the board's data set changed (Redis lost or replaced its data): resyncing clients"
        );
        self.resync(io, seq).await;
        *position = seq;
        (*epoch).clone_from(&now);
        *self.epoch.lock().unwrap_or_else(|e| e.into_inner()) = now;
        true
    }
}

/// Whether a room (this node only) has any socket.
fn has_sockets<A: Adapter>(room: Option<BroadcastOperators<A>>) -> bool {
    room.is_some_and(|w| !w.sockets().is_empty())
}

/// Splits `updates` into runs whose JSON stays under about `max_bytes`.
fn chunks<U: std::borrow::Borrow<Update>>(updates: &[U], max_bytes: usize) -> Vec<&[U]> {
    let mut out = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, u) in updates.iter().enumerate() {
        let u = u.borrow();
        // A placement's JSON is ~90 bytes plus the name; a decay ~40.
        let len = 96 + u.by.as_ref().map_or(0, String::len);
        if size + len > max_bytes && i > start {
            out.push(&updates[start..i]);
            (start, size) = (i, 0);
        }
        size += len;
    }
    if start < updates.len() {
        out.push(&updates[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement(seq: u64, by: &str) -> Update {
        Update::placement(seq, 1, 2, 3, 4, 5, by)
    }

    #[tokio::test]
    async fn a_closed_server_has_no_room_to_emit_to() {
        let (_layer, io) = SocketIo::new_layer();
        io.ns("/", async || {});
        let board = BoardId::parse("main").unwrap();
        assert!(local_room(&io, &board).is_some());
        assert!(cluster_room(&io, &board).is_some());
        io.close().await;
        // `io.local()` would panic here ("default namespace not found").
        assert!(local_room(&io, &board).is_none());
        assert!(cluster_room(&io, &board).is_none());
    }

    #[test]
    fn small_reads_make_one_event() {
        let u: Vec<_> = (1..=10).map(|s| placement(s, "ann")).collect();
        let c = chunks(&u, EVENT_BYTES);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].len(), 10);
    }

    #[test]
    fn large_reads_are_split_in_order_without_loss() {
        let u: Vec<_> = (1..=1000)
            .map(|s| placement(s, "a-rather-long-name"))
            .collect();
        let c = chunks(&u, 8 * 1024);
        assert!(c.len() > 1);
        let seqs: Vec<u64> = c.iter().flat_map(|c| c.iter().map(|u| u.seq)).collect();
        assert_eq!(seqs, (1..=1000).collect::<Vec<_>>());
        assert!(
            c.iter()
                .all(|c| serde_json::to_vec(c).unwrap().len() <= 8 * 1024)
        );
    }
}
