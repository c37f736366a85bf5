//! The tile fan-out: W watchers, each joined with a square block of
//! adjacent viewport tiles (`join {board, tiles: [...]}`, docs/PROTOCOL.md
//! "Viewport tiles"), the blocks spread over the board, and placers whose
//! placements land all over it. Per watcher per second: bytes and `pixels`
//! events; updates received against those expected (the ok placements in
//! the watcher's tiles); per tile, holes (an event whose `after` is past
//! what the watcher holds) and disorder (updates not increasing within an
//! event, or not above its `after`); updates outside the watcher's tiles
//! (0 expected: the watcher checks each update's position against the
//! tile its event names and its own set). With a block side of 0 the same
//! run has whole-board watchers, for comparison.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use futures_util::{SinkExt, StreamExt};
use pixel_core::domain::frame;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::clients::{Cells, Progress, connect_many, now_ns, open_loop, signup, wait_until};
use crate::scenarios::{Common, Encoding, connect_placers, finish_placers, placer_figures};
use crate::sio::{self, Endpoint, Joined, Upd, Ws};
use crate::stats::{CpuMeter, SeqCheck, latency_ms, num};

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct TileFanoutArgs {
    /// Spectator sockets.
    #[arg(long, default_value_t = 2000)]
    pub watchers: usize,
    /// Side of each watcher's square block of adjacent tiles (2: 4 tiles);
    /// 0: every watcher watches the whole board.
    #[arg(long, default_value_t = 2)]
    pub block: u32,
    /// Signed-in sockets that place (one user each).
    #[arg(long, default_value_t = 10)]
    pub placers: usize,
    /// Offered placements per second (open loop, over all placers), spread
    /// over the whole board.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 10.0)]
    pub duration_s: f64,
    /// Longest wait for the last deliveries after the last placement.
    #[arg(long, default_value_t = 20.0)]
    pub drain_s: f64,
    /// Handshakes in flight while connecting.
    #[arg(long, default_value_t = 128)]
    pub connect_concurrency: usize,
    /// How the watchers join: JSON updates, or binary (tile) frames.
    #[arg(long, value_enum, default_value_t = Encoding::Json)]
    pub encoding: Encoding,
}

/// A tile (tx, ty).
type Tile = (u32, u32);

/// The board's geometry as the join ack gives it.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    width: u32,
    height: u32,
    tile: u32,
}

impl Geometry {
    fn tiles_x(self) -> u32 {
        self.width.div_ceil(self.tile)
    }

    fn tiles_y(self) -> u32 {
        self.height.div_ceil(self.tile)
    }

    fn tile_of(self, x: u32, y: u32) -> Tile {
        (x / self.tile, y / self.tile)
    }

    /// Watcher `i`'s block of `side` × `side` adjacent tiles: the blocks'
    /// top-left tiles walk the board with a stride, so neighbouring
    /// watchers look at different parts of it.
    fn block(self, i: usize, side: u32) -> Vec<Tile> {
        let (nx, ny) = (
            self.tiles_x().saturating_sub(side - 1).max(1),
            self.tiles_y().saturating_sub(side - 1).max(1),
        );
        let positions = u64::from(nx) * u64::from(ny);
        // An odd stride near 0.618 of the positions visits them all.
        let mut stride = ((positions as f64 * 0.618_034) as u64).max(1);
        while gcd(stride, positions) != 1 {
            stride += 1;
        }
        let k = (i as u64 * stride) % positions;
        let (x0, y0) = ((k % u64::from(nx)) as u32, (k / u64::from(nx)) as u32);
        let mut tiles = Vec::new();
        for dy in 0..side {
            for dx in 0..side {
                let t = (x0 + dx, y0 + dy);
                if t.0 < self.tiles_x() && t.1 < self.tiles_y() {
                    tiles.push(t);
                }
            }
        }
        tiles
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A JSON `pixels` event: a tile's (`tile`, `after`, `seq`) or the whole
/// board's.
#[derive(Deserialize)]
struct PixelsBody {
    #[serde(default)]
    tile: Option<Tile>,
    #[serde(default)]
    after: Option<u64>,
    #[serde(default)]
    seq: Option<u64>,
    updates: Vec<Upd>,
}

/// What one watcher saw.
#[derive(Debug, Default)]
struct TileWatch {
    /// Per watched tile, the seq it holds up to (the join ack's at first).
    have: HashMap<Tile, u64>,
    /// Whole-board watcher: its seq check.
    whole: Option<SeqCheck>,
    events: u64,
    updates: u64,
    wire_bytes: u64,
    /// Tile events whose `after` was past the tile's `have`.
    holes: u64,
    /// Updates not above the previous one (or the event's `after`), and
    /// events whose `seq` is not their last update's.
    out_of_order: u64,
    /// Updates of a tile event the watcher already held (`after` < `have`,
    /// allowed right after the join).
    stale: u64,
    /// Updates outside the watcher's tiles, or outside the tile their event
    /// names; events for a tile not watched; whole-board events on a tile
    /// watcher.
    foreign: u64,
    parse_errors: u64,
    wrong_encoding: u64,
    resyncs: u64,
    lost: bool,
    /// (seq, arrival ns) of placements.
    arrivals: Vec<(u64, u64)>,
    /// A binary event's announced attachment: its text packet's wire bytes.
    pending: Option<u64>,
}

impl TileWatch {
    fn new(joined_seq: u64, tiles: Option<&[Tile]>) -> Self {
        let mut w = Self::default();
        match tiles {
            Some(tiles) => w.have = tiles.iter().map(|t| (*t, joined_seq)).collect(),
            None => w.whole = Some(SeqCheck::new(joined_seq)),
        }
        w
    }

    fn message(&mut self, msg: &Message, g: Geometry, encoding: Encoding) {
        match msg {
            Message::Text(t) => self.text(t.as_str(), g, encoding),
            Message::Binary(b) => self.attachment(b, g, encoding),
            _ => {}
        }
    }

    fn text(&mut self, t: &str, g: Geometry, encoding: Encoding) {
        if self.pending.take().is_some() {
            self.parse_errors += 1;
        }
        if let Some((needed, header)) = sio::binary_event(t) {
            match sio::pixels_attachment(header) {
                Some(Ok(0)) if needed == 1 => self.pending = Some(sio::ws_wire_bytes(t.len())),
                None => {}
                Some(_) => self.parse_errors += 1,
            }
            return;
        }
        let Some(body) = t.strip_prefix("42") else {
            return;
        };
        if body.starts_with("[\"resync\"") {
            self.resyncs += 1;
            return;
        }
        if !body.starts_with("[\"pixels\"") {
            return;
        }
        let Ok((_, p)) = serde_json::from_str::<(serde::de::IgnoredAny, PixelsBody)>(body) else {
            self.parse_errors += 1;
            return;
        };
        if encoding != Encoding::Json {
            self.wrong_encoding += 1;
        }
        self.wire_bytes += sio::ws_wire_bytes(t.len());
        match (p.tile, p.after, p.seq) {
            (Some(tile), Some(after), Some(seq)) => {
                self.tile_event(tile, after, Some(seq), &p.updates, g)
            }
            (None, None, None) => self.board_event(&p.updates),
            _ => self.parse_errors += 1,
        }
    }

    fn attachment(&mut self, b: &[u8], g: Geometry, encoding: Encoding) {
        let Some(wire) = self.pending.take() else {
            self.parse_errors += 1;
            return;
        };
        if encoding != Encoding::Binary {
            self.wrong_encoding += 1;
        }
        self.wire_bytes += wire + sio::ws_wire_bytes(b.len());
        let upd = |u: pixel_core::domain::Update| Upd {
            seq: u.seq,
            x: u.x,
            y: u.y,
            color: u.color,
            expires_at: u.expires_at,
        };
        // Byte 2 is the frame's version: 1 the whole board, 2 a tile.
        match b.get(2) {
            Some(&frame::TILE_FRAME_VERSION) => match frame::decode_tile(b) {
                Ok(f) if (f.width, f.height, f.tile_size) == (g.width, g.height, g.tile) => {
                    let updates: Vec<Upd> = f.updates.into_iter().map(upd).collect();
                    self.tile_event((f.tile.tx, f.tile.ty), f.after, None, &updates, g);
                }
                _ => self.parse_errors += 1,
            },
            _ => match frame::decode(b) {
                Ok(f) if (f.width, f.height) == (g.width, g.height) => {
                    let updates: Vec<Upd> = f.updates.into_iter().map(upd).collect();
                    self.board_event(&updates);
                }
                _ => self.parse_errors += 1,
            },
        }
    }

    /// One tile's event: `after` < seqs ≤ `seq` (the last update's).
    fn tile_event(&mut self, tile: Tile, after: u64, seq: Option<u64>, u: &[Upd], g: Geometry) {
        let now = now_ns();
        self.events += 1;
        self.updates += u.len() as u64;
        let Some(have) = self.have.get(&tile).copied() else {
            self.foreign += u.len().max(1) as u64;
            return;
        };
        if after > have {
            self.holes += 1;
        }
        if seq.is_some_and(|s| u.last().is_none_or(|l| l.seq != s)) {
            self.out_of_order += 1;
        }
        let mut prev = after;
        let mut top = have;
        for u in u {
            if u.seq <= prev {
                self.out_of_order += 1;
            }
            prev = prev.max(u.seq);
            if g.tile_of(u.x, u.y) != tile {
                self.foreign += 1;
            }
            if u.seq <= have {
                self.stale += 1;
                continue;
            }
            top = top.max(u.seq);
            if u.color != 0 {
                self.arrivals.push((u.seq, now));
            }
        }
        self.have.insert(tile, top);
    }

    fn board_event(&mut self, u: &[Upd]) {
        let now = now_ns();
        self.events += 1;
        self.updates += u.len() as u64;
        let Some(check) = self.whole.as_mut() else {
            // A tile watcher gets no whole-board events.
            self.foreign += u.len().max(1) as u64;
            return;
        };
        for u in u {
            check.see(u.seq);
            if u.color != 0 {
                self.arrivals.push((u.seq, now));
            }
        }
    }
}

async fn connect_tile_watcher(
    ep: &Endpoint,
    i: usize,
    board: &str,
    encoding: Encoding,
    block: u32,
) -> Result<(Ws, Joined, Option<Vec<Tile>>)> {
    // The geometry comes with the first ack: join watching no tile, then
    // name the block with a second join (which replaces the set).
    let mut ws = sio::open(ep, i, None, 4096, 0).await?;
    if block == 0 {
        let joined = sio::join_tiles(&mut ws, board, encoding, None).await?;
        return Ok((ws, joined, None));
    }
    let first = sio::join_tiles(&mut ws, board, encoding, Some(&[])).await?;
    let tiles = geometry(&first)?.block(i, block);
    let mut joined = sio::join_tiles(&mut ws, board, encoding, Some(&tiles)).await?;
    joined.early.splice(0..0, first.early);
    Ok((ws, joined, Some(tiles)))
}

fn geometry(j: &Joined) -> Result<Geometry> {
    let Some(tile) = j.meta.tile_size.filter(|t| *t > 0) else {
        bail!("the join ack names no tile_size: the server has no viewport tiles");
    };
    Ok(Geometry {
        width: j.meta.width,
        height: j.meta.height,
        tile,
    })
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn spawn_tile_watcher(
    mut ws: Ws,
    joined: Joined,
    tiles: Option<Vec<Tile>>,
    g: Geometry,
    encoding: Encoding,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<TileWatch> {
    tokio::spawn(async move {
        let mut st = TileWatch::new(joined.seq, tiles.as_deref());
        for m in &joined.early {
            st.message(m, g, encoding);
        }
        let mut counted = st.arrivals.len();
        loop {
            tokio::select! {
                () = stopped(&mut stop) => break,
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(t))) if t.as_str() == "2" => {
                        if ws.send(Message::text("3")).await.is_err() {
                            st.lost = true;
                            break;
                        }
                    }
                    Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                        st.message(&m, g, encoding);
                        let now = st.arrivals.len();
                        progress.placements.fetch_add((now - counted) as u64, Ordering::Relaxed);
                        counted = now;
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => {
                        st.lost = true;
                        break;
                    }
                    Some(Ok(_)) => {}
                },
            }
        }
        st
    })
}

pub async fn fanout_tiles(c: &Common, a: &TileFanoutArgs) -> Result<Map<String, Value>> {
    let ep = c.endpoint();
    let progress = Arc::new(Progress::default());
    let tokens = signup(&c.api, a.placers).await?;
    let mut out = Map::new();
    let t0 = Instant::now();
    let (watchers, failed, first_err) = connect_many(a.watchers, a.connect_concurrency, |i| {
        let ep = ep.clone();
        let board = c.board.clone();
        async move { connect_tile_watcher(&ep, i, &board, a.encoding, a.block).await }
    })
    .await;
    out.insert("connect_s".into(), num(t0.elapsed().as_secs_f64()));
    out.insert("connect_failures".into(), failed.into());
    if let Some(e) = first_err {
        out.insert("connect_error".into(), e.into());
    }
    let Some(first) = watchers.first() else {
        bail!("no watcher connected");
    };
    let g = geometry(&first.1)?;
    out.insert("board_width".into(), g.width.into());
    out.insert("tile_size".into(), g.tile.into());
    // Watchers per tile, for the updates each placement should reach.
    let mut per_tile: HashMap<Tile, u64> = HashMap::new();
    let mut tiles_watched = 0u64;
    for (_, _, tiles) in &watchers {
        for t in tiles.iter().flatten() {
            *per_tile.entry(*t).or_default() += 1;
            tiles_watched += 1;
        }
    }
    let n = watchers.len() as u64;
    out.insert("watchers".into(), n.into());
    out.insert(
        "tiles_per_watcher".into(),
        num(tiles_watched as f64 / n.max(1) as f64),
    );
    out.insert("distinct_tiles_watched".into(), per_tile.len().into());
    let (stop, stop_rx) = watch::channel(false);
    let handles: Vec<_> = watchers
        .into_iter()
        .map(|(ws, j, tiles)| {
            spawn_tile_watcher(
                ws,
                j,
                tiles,
                g,
                a.encoding,
                progress.clone(),
                stop_rx.clone(),
            )
        })
        .collect();
    let (placers, joined) = connect_placers(c, &ep, a.watchers, &tokens, &progress, None).await?;
    let mut cells = Cells::new(&joined, crate::scenarios::offset()).spread();
    let cpu = CpuMeter::start(&c.pids());
    let (sent, first_ns, elapsed) = open_loop(
        &placers,
        &mut cells,
        a.rate,
        Duration::from_secs_f64(a.duration_s),
    )
    .await;
    // Whole-board watchers: done once every ack is in and every watcher
    // has every ok placement. Tile watchers: once every ack is in and no
    // update arrived for a second (what each should get is only known
    // from the acks' seqs at the end; the ratio below tells a shortfall).
    let p = progress.clone();
    let whole = a.block == 0;
    let drained = wait_until(
        || {
            whole
                && p.acks.load(Ordering::Relaxed) >= sent
                && p.placements.load(Ordering::Relaxed) >= p.ok.load(Ordering::Relaxed) * n
        },
        || p.acks.load(Ordering::Relaxed) + p.placements.load(Ordering::Relaxed),
        Duration::from_secs(if whole { 3 } else { 1 }),
        Duration::from_secs_f64(a.drain_s),
    )
    .await;
    cpu.finish(&mut out);
    let _ = stop.send(true);
    let pstats = finish_placers(placers).await;
    let mut wstats = Vec::new();
    for h in handles {
        if let Ok(w) = h.await {
            wstats.push(w);
        }
    }
    out.insert("offered_per_s".into(), num(a.rate));
    out.insert("drained".into(), (drained || !whole).into());
    let ok = placer_figures(&mut out, &pstats);
    out.insert("ok_per_s".into(), num(ok as f64 / elapsed.as_secs_f64()));
    let sent_at: HashMap<u64, (u64, u32)> = pstats
        .iter()
        .flat_map(|p| p.ok.iter().map(|o| (o.seq, (o.send_ns, o.cell))))
        .collect();
    let expected: u64 = if a.block == 0 {
        ok * n
    } else {
        sent_at
            .values()
            .map(|&(_, cell)| {
                let t = g.tile_of(cell % g.width, cell / g.width);
                per_tile.get(&t).copied().unwrap_or(0)
            })
            .sum()
    };
    let mut lat = Vec::new();
    let mut last = first_ns;
    let mut unknown = 0u64;
    for w in &wstats {
        for &(seq, at) in &w.arrivals {
            last = last.max(at);
            match sent_at.get(&seq) {
                Some(&(s, _)) => {
                    lat.push((at.saturating_sub(s) / 1000).min(u64::from(u32::MAX)) as u32);
                }
                None => unknown += 1,
            }
        }
    }
    let delivered = lat.len() as u64;
    out.insert("delivered".into(), delivered.into());
    out.insert("expected".into(), expected.into());
    out.insert(
        "delivery_ratio".into(),
        num(delivered as f64 / expected.max(1) as f64),
    );
    out.insert("unknown_updates".into(), unknown.into());
    latency_ms(&mut out, "latency", &mut lat);
    watch_figures(&mut out, &wstats, secs(last.saturating_sub(first_ns)));
    Ok(out)
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// The watchers' figures into `out`, per watcher per second over `window`
/// seconds (first placement sent → last update received).
fn watch_figures(out: &mut Map<String, Value>, w: &[TileWatch], window: f64) {
    let sum = |f: &dyn Fn(&TileWatch) -> u64| -> u64 { w.iter().map(f).sum() };
    let (events, updates, bytes) = (
        sum(&|s| s.events),
        sum(&|s| s.updates),
        sum(&|s| s.wire_bytes),
    );
    let per = (w.len().max(1) as f64) * window.max(1e-3);
    out.insert("window_s".into(), num(window));
    out.insert("pixels_events".into(), events.into());
    out.insert("updates_received".into(), updates.into());
    out.insert("events_per_watcher_s".into(), num(events as f64 / per));
    out.insert("updates_per_watcher_s".into(), num(updates as f64 / per));
    out.insert("bytes_per_watcher_s".into(), num(bytes as f64 / per));
    out.insert(
        "updates_per_event".into(),
        num(updates as f64 / events.max(1) as f64),
    );
    out.insert(
        "bytes_per_update".into(),
        if updates == 0 {
            Value::Null
        } else {
            num(bytes as f64 / updates as f64)
        },
    );
    let whole = |f: &dyn Fn(&SeqCheck) -> u64| -> u64 {
        w.iter().filter_map(|s| s.whole.as_ref()).map(f).sum()
    };
    out.insert(
        "holes".into(),
        (sum(&|s| s.holes) + whole(&|c| c.holes())).into(),
    );
    out.insert(
        "out_of_order".into(),
        (sum(&|s| s.out_of_order) + whole(&|c| c.out_of_order + c.duplicates)).into(),
    );
    out.insert(
        "stale_updates".into(),
        (sum(&|s| s.stale) + whole(&|c| c.stale)).into(),
    );
    out.insert("foreign_updates".into(), sum(&|s| s.foreign).into());
    out.insert("parse_errors".into(), sum(&|s| s.parse_errors).into());
    out.insert(
        "wrong_encoding_events".into(),
        sum(&|s| s.wrong_encoding).into(),
    );
    out.insert("resyncs".into(), sum(&|s| s.resyncs).into());
    out.insert(
        "watchers_lost".into(),
        w.iter().filter(|s| s.lost).count().into(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use pixel_core::domain::{TileId, Update};

    const G: Geometry = Geometry {
        width: 64,
        height: 40,
        tile: 16,
    };

    fn placement(seq: u64, x: u32, y: u32) -> Update {
        Update {
            seq,
            x,
            y,
            color: 2,
            placed_at: Some(1_000 + seq as i64),
            expires_at: Some(9_000 + seq as i64),
            by: None,
        }
    }

    #[test]
    fn blocks_are_adjacent_tiles_on_the_board_spread_over_it() {
        // 4 × 3 tiles (the last row cut short): 3 × 2 block positions.
        let mut seen = std::collections::HashSet::new();
        for i in 0..6 {
            let b = G.block(i, 2);
            assert_eq!(b.len(), 4, "{b:?}");
            let (x0, y0) = b[0];
            assert_eq!(b, [(x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)]);
            assert!(x0 + 1 < 4 && y0 + 1 < 3);
            seen.insert(b[0]);
        }
        assert_eq!(seen.len(), 6, "every position once in six watchers");
    }

    #[test]
    fn tile_watchers_count_holes_disorder_and_foreign_updates() {
        let tiles = [(0, 0), (1, 0)];
        let mut w = TileWatch::new(10, Some(&tiles));
        let ev = |tile: Tile, after: u64, seq: u64, ups: &str| {
            format!(
                r#"42["pixels",{{"board":"main","tile":[{},{}],"after":{after},"seq":{seq},"updates":[{ups}]}}]"#,
                tile.0, tile.1
            )
        };
        let u = |seq: u64, x: u32, y: u32| format!(r#"{{"seq":{seq},"x":{x},"y":{y},"color":3}}"#);
        // In order, then a tile's hole (after 20 > have 12).
        w.text(
            &ev((0, 0), 10, 12, &[u(11, 1, 1), u(12, 2, 2)].join(",")),
            G,
            Encoding::Json,
        );
        w.text(&ev((1, 0), 9, 13, &u(13, 17, 0)), G, Encoding::Json);
        w.text(&ev((0, 0), 20, 21, &u(21, 3, 3)), G, Encoding::Json);
        assert_eq!(
            (w.events, w.updates, w.holes, w.out_of_order, w.foreign),
            (3, 4, 1, 0, 0)
        );
        // An update outside the event's tile, a tile not watched, a
        // whole-board event, and disorder within an event.
        w.text(&ev((1, 0), 13, 14, &u(14, 1, 1)), G, Encoding::Json);
        w.text(&ev((2, 0), 10, 15, &u(15, 33, 1)), G, Encoding::Json);
        w.text(
            r#"42["pixels",{"board":"main","updates":[{"seq":16,"x":1,"y":1,"color":3}]}]"#,
            G,
            Encoding::Json,
        );
        w.text(
            &ev((1, 0), 14, 18, &[u(18, 17, 1), u(17, 18, 1)].join(",")),
            G,
            Encoding::Json,
        );
        assert_eq!(w.foreign, 3);
        assert_eq!(
            w.out_of_order, 2,
            "17 after 18, and seq 18 is not the last update's"
        );
        assert_eq!(w.parse_errors, 0);
        assert_eq!(
            w.arrivals.iter().map(|a| a.0).collect::<Vec<_>>(),
            [11, 12, 13, 21, 14, 18, 17]
        );
    }

    #[test]
    fn binary_tile_frames_are_checked_like_json_events() {
        let tiles = [(1, 1)];
        let mut w = TileWatch::new(5, Some(&tiles));
        let header = r#"451-["pixels",{"board":"main"},{"_placeholder":true,"num":0}]"#;
        let (a, b) = (placement(6, 20, 20), placement(8, 31, 31));
        let f = frame::encode_tile(64, 40, 16, TileId { tx: 1, ty: 1 }, 5, &[&a, &b]).unwrap();
        w.message(&Message::text(header), G, Encoding::Binary);
        w.message(&Message::binary(f.clone()), G, Encoding::Binary);
        assert_eq!((w.events, w.updates, w.holes, w.foreign), (1, 2, 0, 0));
        assert_eq!(w.have[&(1, 1)], 8);
        assert_eq!(w.wire_bytes, (header.len() + 2 + f.len() + 2) as u64);
        // The same frame again: nothing new (stale), no hole.
        w.message(&Message::text(header), G, Encoding::Binary);
        w.message(&Message::binary(f), G, Encoding::Binary);
        assert_eq!(
            (w.stale, w.holes, w.parse_errors, w.wrong_encoding),
            (2, 0, 0, 0)
        );
    }

    #[test]
    fn whole_board_watchers_check_seqs_per_connection() {
        let mut w = TileWatch::new(3, None);
        let header = r#"451-["pixels",{"board":"main"},{"_placeholder":true,"num":0}]"#;
        // Seq 4, then 6: a hole (5) on this connection.
        for u in [placement(4, 1, 1), placement(6, 2, 2)] {
            let f = frame::encode(64, 40, &[u]).unwrap();
            w.text(header, G, Encoding::Binary);
            w.attachment(&f, G, Encoding::Binary);
        }
        assert_eq!(w.whole.as_ref().unwrap().holes(), 1);
        assert_eq!(
            (w.events, w.updates, w.foreign, w.parse_errors),
            (2, 2, 0, 0)
        );
    }
}
