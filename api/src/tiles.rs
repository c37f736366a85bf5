//! `GET /api/boards/{board}/tiles/{tx}/{ty}`: one viewport tile as it
//! stands after some seq.
//!
//! A client that watches a few tiles of a big board (a phone on a 4096²
//! board) needs those tiles, not the board's 16.7 M cells. Cutting a tile
//! out of a full snapshot would read the whole board from the store on
//! every request that must be fresher than the last read: on a busy board,
//! nearly every request. So each api process keeps, per board, a **live
//! copy** of the board's non-empty cells grouped by tile, and answers from
//! it:
//!
//! - built once from a full snapshot (the only read of the whole board),
//!   then **brought forward from the history**: a request that needs seq
//!   `S` (the board's seq when it arrived, the full snapshot's freshness
//!   rule) reads only the updates after the copy's seq, under the board's
//!   lock, so concurrent requests share one read;
//! - rebuilt when the history no longer connects to it (it fell behind the
//!   retained history, or the data set changed: another epoch, or the seq
//!   went backwards).
//!
//! A request copies only its tile's cells out of the live copy (at most
//! `tile_size²`), never the board. The encoded answers (JSON, binary, and
//! on demand their gzip and brotli encodings) are cached per tile and seq,
//! within [`CACHE_BYTES`], so a burst of requests for one tile at one seq
//! (a deploy reconnecting everybody) encodes and compresses it once.
//!
//! # The binary form
//!
//! With `Accept: application/octet-stream`: `"RPXT"`, a version byte (1),
//! little-endian `u32 tx, ty, x0, y0, width, height`, `u64 seq`, then
//! `width × height` colour bytes of the tile in row-major order
//! (`(y - y0) * width + (x - x0)`), 0 for empty.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pixel_core::Game;
use pixel_core::domain::{BoardConfig, BoardId, PixelEntry, TileId, TileRect, Update};
use serde::Serialize;
use tokio::sync::OnceCell;

use crate::error::ApiError;
use crate::snapshot::{BINARY_TYPE, Coding, Form, coding_of, compress, etag_matches, form_of};

const TILE_MAGIC: &[u8; 4] = b"RPXT";
const TILE_VERSION: u8 = 1;
/// Magic, version, six u32, one u64.
pub(crate) const TILE_HEADER: usize = 4 + 1 + 6 * 4 + 8;

/// Updates read from the history per round trip.
const PAGE: usize = 10_000;

/// The encoded tile answers one process keeps, counted by their plain
/// bodies (a compressed variant is about as large as its plain body or
/// smaller, so the cache holds at most about twice this).
pub(crate) const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// A non-empty cell of the live copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cell {
    color: u8,
    placed_at: i64,
    expires_at: i64,
}

/// One board's non-empty cells as of `seq` in data set `epoch`, by tile
/// (`tile_index`), each tile's cells keyed by `y * width + x` so that they
/// iterate row-major.
#[derive(Debug, Default)]
struct Live {
    built: bool,
    epoch: String,
    seq: u64,
    tiles: Vec<BTreeMap<u32, Cell>>,
}

impl Live {
    fn tile_mut(&mut self, board: &BoardConfig, x: u32, y: u32) -> &mut BTreeMap<u32, Cell> {
        let t = board.tile_of(pixel_core::domain::Coord { x, y });
        let i = board.tile_index(t) as usize;
        &mut self.tiles[i]
    }

    /// Applies the next update of the board (seq `self.seq + 1`). One
    /// outside the board (a corrupt store) is skipped, never a panic.
    fn apply(&mut self, board: &BoardConfig, u: &Update) {
        self.seq = u.seq;
        if u.x >= board.width || u.y >= board.height {
            return;
        }
        let i = u.y * board.width + u.x;
        let tile = self.tile_mut(board, u.x, u.y);
        match (u.color, u.placed_at, u.expires_at) {
            (color, Some(placed_at), Some(expires_at)) if color != 0 => {
                tile.insert(
                    i,
                    Cell {
                        color,
                        placed_at,
                        expires_at,
                    },
                );
            }
            _ => {
                tile.remove(&i);
            }
        }
    }

    /// The tile's cells, row-major, in board coordinates.
    fn cells(&self, board: &BoardConfig, t: TileId) -> Vec<PixelEntry> {
        let w = board.width;
        self.tiles[board.tile_index(t) as usize]
            .iter()
            .map(|(&i, c)| PixelEntry {
                x: i % w,
                y: i / w,
                color: c.color,
                placed_at: c.placed_at,
                expires_at: c.expires_at,
            })
            .collect()
    }
}

#[derive(Serialize)]
struct TileBody<'a> {
    board: &'a BoardId,
    tile: [u32; 2],
    x0: u32,
    y0: u32,
    width: u32,
    height: u32,
    seq: u64,
    pixels: &'a [PixelEntry],
}

/// The binary form of tile `t` (see the module doc) from its cells.
pub(crate) fn binary(t: TileId, rect: TileRect, seq: u64, cells: &[PixelEntry]) -> Vec<u8> {
    let n = rect.width as usize * rect.height as usize;
    let mut out = Vec::with_capacity(TILE_HEADER + n);
    out.extend_from_slice(TILE_MAGIC);
    out.push(TILE_VERSION);
    for v in [t.tx, t.ty, rect.x0, rect.y0, rect.width, rect.height] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&seq.to_le_bytes());
    out.resize(TILE_HEADER + n, 0);
    for p in cells {
        let (Some(dx), Some(dy)) = (p.x.checked_sub(rect.x0), p.y.checked_sub(rect.y0)) else {
            continue;
        };
        if dx >= rect.width || dy >= rect.height {
            continue;
        }
        out[TILE_HEADER + dy as usize * rect.width as usize + dx as usize] = p.color;
    }
    out
}

/// The JSON form of tile `t`.
fn json(
    board: &BoardConfig,
    t: TileId,
    rect: TileRect,
    seq: u64,
    cells: &[PixelEntry],
) -> Result<Bytes, ApiError> {
    serde_json::to_vec(&TileBody {
        board: &board.id,
        tile: [t.tx, t.ty],
        x0: rect.x0,
        y0: rect.y0,
        width: rect.width,
        height: rect.height,
        seq,
        pixels: cells,
    })
    .map(Bytes::from)
    .map_err(|e| ApiError::Internal(e.into()))
}

/// One tile at one seq, encoded.
struct Encoded {
    epoch: String,
    seq: u64,
    json: Bytes,
    binary: Bytes,
    /// (form, coding) variants, built on first demand.
    compressed: [OnceCell<Bytes>; 4],
}

impl Encoded {
    fn plain(&self, form: Form) -> &Bytes {
        match form {
            Form::Json => &self.json,
            Form::Binary => &self.binary,
        }
    }

    async fn body(&self, form: Form, coding: Coding) -> Result<Bytes, ApiError> {
        let slot = match (form, coding) {
            (_, Coding::Identity) => return Ok(self.plain(form).clone()),
            (Form::Json, Coding::Gzip) => 0,
            (Form::Json, Coding::Brotli) => 1,
            (Form::Binary, Coding::Gzip) => 2,
            (Form::Binary, Coding::Brotli) => 3,
        };
        let plain = self.plain(form).clone();
        self.compressed[slot]
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || compress(&plain, coding))
                    .await
                    .map_err(|e| ApiError::Internal(e.into()))?
            })
            .await
            .cloned()
    }

    fn size(&self) -> usize {
        self.json.len() + self.binary.len()
    }
}

/// The encoded answers, by (board, tile), within [`CACHE_BYTES`].
#[derive(Default)]
struct Answers {
    entries: HashMap<(BoardId, u32), Arc<Encoded>>,
    bytes: usize,
}

impl Answers {
    fn get(&self, board: &BoardId, tile: u32, epoch: &str, seq: u64) -> Option<Arc<Encoded>> {
        self.entries
            .get(&(board.clone(), tile))
            .filter(|e| e.epoch == epoch && e.seq >= seq)
            .cloned()
    }

    fn insert(&mut self, board: &BoardId, tile: u32, e: Arc<Encoded>) {
        if let Some(old) = self.entries.insert((board.clone(), tile), e.clone()) {
            self.bytes -= old.size();
        }
        self.bytes += e.size();
        // Over budget: drop the oldest answers (lowest seq) first, never
        // the one just made.
        while self.bytes > CACHE_BYTES {
            let Some(victim) = self
                .entries
                .iter()
                .filter(|(_, v)| !Arc::ptr_eq(v, &e))
                .min_by_key(|(_, v)| v.seq)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(old) = self.entries.remove(&victim) {
                self.bytes -= old.size();
            }
        }
    }
}

/// Every board's live copy and the encoded tile answers of this process.
#[derive(Default)]
pub(crate) struct TileCache {
    boards: Mutex<HashMap<BoardId, Arc<tokio::sync::Mutex<Live>>>>,
    answers: Mutex<Answers>,
}

impl TileCache {
    fn live(&self, board: &BoardId) -> Arc<tokio::sync::Mutex<Live>> {
        let mut map = self.boards.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(board.clone()).or_default().clone()
    }

    fn answer(&self, board: &BoardId, tile: u32, epoch: &str, seq: u64) -> Option<Arc<Encoded>> {
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(board, tile, epoch, seq)
    }

    /// Tile `t` of `board` in data set `epoch` at seq `seq` or later.
    async fn get(
        &self,
        game: &Game,
        board: &Arc<BoardConfig>,
        t: TileId,
        epoch: &str,
        seq: u64,
    ) -> Result<Arc<Encoded>, ApiError> {
        let index = board.tile_index(t);
        if let Some(hit) = self.answer(&board.id, index, epoch, seq) {
            metrics::counter!("api_tile_answers_total", "outcome" => "cached").increment(1);
            return Ok(hit);
        }
        let live = self.live(&board.id);
        let mut live = live.lock().await;
        // Whoever held the lock before may have encoded what we need.
        if let Some(hit) = self.answer(&board.id, index, epoch, seq) {
            metrics::counter!("api_tile_answers_total", "outcome" => "shared").increment(1);
            return Ok(hit);
        }
        if !live.built || live.epoch != epoch || live.seq < seq {
            refresh(game, board, &mut live).await?;
        }
        let cells = live.cells(board, t);
        let (live_epoch, live_seq) = (live.epoch.clone(), live.seq);
        let rect = board.tile_rect(t);
        let b = board.clone();
        let encoded = tokio::task::spawn_blocking(move || {
            Ok::<_, ApiError>(Arc::new(Encoded {
                json: json(&b, t, rect, live_seq, &cells)?,
                binary: binary(t, rect, live_seq, &cells).into(),
                epoch: live_epoch,
                seq: live_seq,
                compressed: Default::default(),
            }))
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
        metrics::counter!("api_tile_answers_total", "outcome" => "built").increment(1);
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(&board.id, index, encoded.clone());
        Ok(encoded)
    }
}

/// Brings the live copy up to the board's current seq, rebuilding it when
/// the history does not connect to it.
async fn refresh(game: &Game, board: &BoardConfig, live: &mut Live) -> Result<(), ApiError> {
    if live.built && live.epoch == game.store().epoch() && forward(game, board, live).await? {
        return Ok(());
    }
    rebuild(game, board, live).await?;
    // A hole here means the history moved on past what it retains while
    // we read: the copy still stands consistently at the seq it reached,
    // at least the snapshot's (so at least the request's); the next
    // request that needs more tries again and rebuilds.
    forward(game, board, live).await?;
    Ok(())
}

/// Reads the history after the copy's seq and applies it. `false` when it
/// does not connect (a hole, or the board's seq went backwards).
async fn forward(game: &Game, board: &BoardConfig, live: &mut Live) -> Result<bool, ApiError> {
    loop {
        let read = game.history(board, live.seq, PAGE).await?;
        if read.seq < live.seq {
            return Ok(false);
        }
        if read.seq == live.seq {
            return Ok(true);
        }
        let Some(first) = read.updates.first() else {
            return Ok(false);
        };
        if first.seq != live.seq + 1 {
            return Ok(false);
        }
        for u in &read.updates {
            if u.seq != live.seq + 1 {
                return Ok(false);
            }
            live.apply(board, u);
        }
        if live.seq >= read.seq {
            return Ok(true);
        }
    }
}

/// The live copy from a full snapshot (the one read of the whole board).
async fn rebuild(game: &Game, board: &BoardConfig, live: &mut Live) -> Result<(), ApiError> {
    let snap = game.snapshot(board).await?;
    let mut tiles = vec![BTreeMap::new(); (board.tiles_x() * board.tiles_y()) as usize];
    for p in &snap.pixels {
        if p.x >= board.width || p.y >= board.height {
            continue;
        }
        let t = board.tile_index(board.tile_of(pixel_core::domain::Coord { x: p.x, y: p.y }));
        tiles[t as usize].insert(
            p.y * board.width + p.x,
            Cell {
                color: p.color,
                placed_at: p.placed_at,
                expires_at: p.expires_at,
            },
        );
    }
    metrics::counter!("api_tile_rebuilds_total").increment(1);
    *live = Live {
        built: true,
        epoch: snap.epoch,
        seq: snap.seq,
        tiles,
    };
    Ok(())
}

/// The ETag of a tile answer: board, tile, seq, data set and form. See
/// `crate::snapshot` for why a corrupt epoch is an internal error.
fn etag(
    epoch: &str,
    board: &BoardId,
    t: TileId,
    seq: u64,
    form: Form,
) -> Result<HeaderValue, ApiError> {
    let suffix = match form {
        Form::Json => "",
        Form::Binary => "-bin",
    };
    HeaderValue::from_str(&format!(
        "\"{board}-t{}.{}-{seq}-{epoch}{suffix}\"",
        t.tx, t.ty
    ))
    .map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context(format!(
            "the data set's epoch {epoch:?} cannot be part of an ETag: the store is corrupt"
        )))
    })
}

/// The answer to `GET /api/boards/{board}/tiles/{tx}/{ty}` for tile `t` of
/// `board` (the route finds both): 304 while `If-None-Match` names the
/// current state, else the tile in the form and coding asked for.
pub(crate) async fn respond(
    game: &Game,
    cache: &TileCache,
    board: &Arc<BoardConfig>,
    t: TileId,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let form = form_of(headers);
    let seq = game.store().board_seq(&board.id).await?;
    let epoch = game.store().epoch();
    let vary = HeaderValue::from_static("accept, accept-encoding");
    let tag = etag(&epoch, &board.id, t, seq, form)?;
    if etag_matches(headers, &tag) {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, tag), (header::VARY, vary)],
        )
            .into_response());
    }
    let encoded = cache.get(game, board, t, &epoch, seq).await?;
    let coding = coding_of(headers);
    let body = encoded.body(form, coding).await?;
    let content_type = match form {
        Form::Json => HeaderValue::from_static("application/json"),
        Form::Binary => HeaderValue::from_static(BINARY_TYPE),
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::ETAG,
                etag(&encoded.epoch, &board.id, t, encoded.seq, form)?,
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::VARY, vary),
        ],
        body,
    )
        .into_response();
    if let Some(c) = coding.header() {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(c));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use pixel_core::domain::{Coord, HistoryPolicy};
    use pixel_core::store::MemoryStore;
    use pixel_core::{ManualClock, testing};

    use super::*;

    fn entry(x: u32, y: u32, color: u8) -> PixelEntry {
        PixelEntry {
            x,
            y,
            color,
            placed_at: 1,
            expires_at: 2,
        }
    }

    #[test]
    fn the_binary_form_is_a_header_and_one_byte_per_cell_of_the_tile() {
        let t = TileId { tx: 2, ty: 1 };
        let rect = TileRect {
            x0: 16,
            y0: 8,
            width: 3,
            height: 2,
        };
        let b = binary(t, rect, 0x0102, &[entry(18, 9, 16), entry(16, 8, 3)]);
        assert_eq!(&b[..5], b"RPXT\x01");
        let u32s: Vec<u32> = b[5..29]
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(u32s, [2, 1, 16, 8, 3, 2]);
        assert_eq!(&b[29..37], &0x0102u64.to_le_bytes());
        assert_eq!(b.len(), TILE_HEADER + 6);
        assert_eq!(&b[37..], &[3, 0, 0, 0, 0, 16]);
        // A cell outside the tile (a corrupt copy) is left out, not a panic.
        let b = binary(
            t,
            rect,
            1,
            &[entry(0, 0, 5), entry(19, 8, 5), entry(16, 10, 5)],
        );
        assert!(b[37..].iter().all(|&c| c == 0));
    }

    /// The binary tile's shared test vector: the web page's decoder
    /// (`web/js/tile.js`) decodes `web/test/fixtures/tile-v1.bin` and
    /// expects `tile-v1.json`. This checks that both are what the encoder
    /// writes today; after a deliberate layout change, rewrite them with
    /// `BLESS_FIXTURES=1`.
    #[test]
    fn the_web_fixture_is_what_the_encoder_writes() {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/test/fixtures");
        // An edge tile cut short (a 45×19 board in tiles of 8: tile (5, 2)
        // is 5×3), colours 1 and 255, a seq past 2³².
        let board = testing::board("main")
            .with_size(45, 19)
            .with_tile_size(8)
            .build();
        let t = board.tile(5, 2).unwrap();
        let rect = board.tile_rect(t);
        let seq = 5_000_000_123;
        let cells = [
            entry(40, 16, 1),
            entry(44, 16, 255),
            entry(42, 17, 7),
            entry(44, 18, 16),
        ];
        let bytes = binary(t, rect, seq, &cells);
        let colours = &bytes[TILE_HEADER..];
        let expected = serde_json::to_string_pretty(&serde_json::json!({
            "tx": t.tx, "ty": t.ty, "x0": rect.x0, "y0": rect.y0,
            "width": rect.width, "height": rect.height, "seq": seq, "cells": colours,
        }))
        .unwrap()
            + "\n";
        assert_eq!(colours, [1, 0, 0, 0, 255, 0, 0, 7, 0, 0, 0, 0, 0, 0, 16]);
        let (bin, json) = (dir.join("tile-v1.bin"), dir.join("tile-v1.json"));
        if std::env::var_os("BLESS_FIXTURES").is_some() {
            std::fs::write(&bin, &bytes).unwrap();
            std::fs::write(&json, &expected).unwrap();
        }
        assert_eq!(
            std::fs::read(&bin).unwrap(),
            bytes,
            "{bin:?} (BLESS_FIXTURES=1 rewrites it)"
        );
        assert_eq!(
            std::fs::read_to_string(&json).unwrap(),
            expected,
            "{json:?}"
        );
    }

    #[test]
    fn the_json_form_names_the_tile_and_lists_its_pixels_in_board_coordinates() {
        let board = testing::board("main")
            .with_size(40, 17)
            .with_tile_size(16)
            .build();
        let t = board.tile(2, 1).unwrap();
        let rect = board.tile_rect(t);
        let body = json(&board, t, rect, 9, &[entry(33, 16, 4)]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"board": "main", "tile": [2, 1], "x0": 32, "y0": 16,
                "width": 8, "height": 1, "seq": 9, "pixels": [[33, 16, 4, 1, 2]]})
        );
    }

    #[test]
    fn etags_name_board_tile_seq_epoch_and_form() {
        let id = BoardId::parse("main").unwrap();
        let t = TileId { tx: 3, ty: 4 };
        assert_eq!(
            etag("e1", &id, t, 7, Form::Json).unwrap(),
            "\"main-t3.4-7-e1\""
        );
        assert_eq!(
            etag("e1", &id, t, 7, Form::Binary).unwrap(),
            "\"main-t3.4-7-e1-bin\""
        );
        assert!(matches!(
            etag("bad\nepoch", &id, t, 7, Form::Json),
            Err(ApiError::Internal(_))
        ));
    }

    async fn game(clock: &ManualClock, history: HistoryPolicy) -> (Game, Arc<BoardConfig>) {
        let board = testing::board("main")
            .with_size(20, 12)
            .with_tile_size(8)
            .with_cooldown_ms(0)
            .with_ttl_ms(10_000)
            .build();
        let g = Game::new(
            Arc::new(MemoryStore::new()),
            vec![board],
            Arc::new(clock.clone()),
        )
        .with_history(history);
        g.init().await.unwrap();
        let b = g.board("main").unwrap().clone();
        (g, b)
    }

    async fn place(g: &Game, b: &BoardConfig, x: u32, y: u32, color: u8) {
        let color = b.color(u64::from(color)).unwrap();
        g.place(b, Coord { x, y }, color, &testing::player("ann"))
            .await
            .unwrap();
    }

    /// The tile as the full snapshot has it.
    async fn expected(g: &Game, b: &BoardConfig, t: TileId) -> (u64, Vec<PixelEntry>) {
        let snap = g.snapshot(b).await.unwrap();
        let r = b.tile_rect(t);
        let mut px: Vec<_> = snap
            .pixels
            .into_iter()
            .filter(|p| {
                (r.x0..r.x0 + r.width).contains(&p.x) && (r.y0..r.y0 + r.height).contains(&p.y)
            })
            .collect();
        px.sort_by_key(|p| (p.y, p.x));
        (snap.seq, px)
    }

    async fn tile_of(
        cache: &TileCache,
        g: &Game,
        b: &Arc<BoardConfig>,
        t: TileId,
    ) -> (u64, Vec<PixelEntry>) {
        let seq = g.store().board_seq(&b.id).await.unwrap();
        let e = cache.get(g, b, t, &g.store().epoch(), seq).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&e.json).unwrap();
        let px = v["pixels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| PixelEntry {
                x: p[0].as_u64().unwrap() as u32,
                y: p[1].as_u64().unwrap() as u32,
                color: p[2].as_u64().unwrap() as u8,
                placed_at: p[3].as_i64().unwrap(),
                expires_at: p[4].as_i64().unwrap(),
            })
            .collect();
        assert_eq!(v["seq"].as_u64().unwrap(), e.seq);
        assert!(e.seq >= seq, "never older than the board when asked");
        (e.seq, px)
    }

    #[tokio::test]
    async fn tiles_follow_placements_overwrites_and_decay_like_the_full_snapshot() {
        let clock = ManualClock::new(1_000);
        let (g, b) = game(&clock, HistoryPolicy::default()).await;
        let cache = TileCache::default();
        let tiles: Vec<TileId> = (0..b.tiles_y())
            .flat_map(|ty| (0..b.tiles_x()).map(move |tx| TileId { tx, ty }))
            .collect();
        // Built from the snapshot while the board is empty.
        for &t in &tiles {
            assert_eq!(tile_of(&cache, &g, &b, t).await, expected(&g, &b, t).await);
        }
        // Brought forward: placements in several tiles, an edge tile (20×12
        // in tiles of 8: the last column is 4 wide, the last row 4 high).
        for (x, y, c) in [
            (0, 0, 1),
            (7, 7, 2),
            (8, 0, 3),
            (19, 11, 4),
            (16, 8, 5),
            (7, 7, 6),
        ] {
            place(&g, &b, x, y, c).await;
            clock.advance(3);
        }
        for &t in &tiles {
            assert_eq!(
                tile_of(&cache, &g, &b, t).await,
                expected(&g, &b, t).await,
                "{t:?}"
            );
        }
        let (_, corner) = tile_of(&cache, &g, &b, TileId { tx: 2, ty: 1 }).await;
        assert_eq!(corner.len(), 2);
        let e = cache
            .get(&g, &b, TileId { tx: 2, ty: 1 }, &g.store().epoch(), 0)
            .await
            .unwrap();
        assert_eq!(e.binary.len(), TILE_HEADER + 16);
        assert_eq!(
            e.binary[TILE_HEADER], 5,
            "(16, 8) is the corner tile's first cell"
        );
        assert_eq!(e.binary[TILE_HEADER + 15], 4, "(19, 11) its last");
        // Decay empties them.
        clock.advance(20_000);
        g.sweep(100).await.unwrap();
        for &t in &tiles {
            let (seq, px) = tile_of(&cache, &g, &b, t).await;
            assert!(px.is_empty(), "{t:?}");
            assert_eq!(seq, 11);
        }
    }

    #[tokio::test]
    async fn a_copy_behind_the_retained_history_is_rebuilt() {
        let clock = ManualClock::new(1_000);
        let tiny = HistoryPolicy {
            min_updates: 2,
            min_age_ms: 0,
        };
        let (g, b) = game(&clock, tiny).await;
        let cache = TileCache::default();
        let t = TileId { tx: 0, ty: 0 };
        place(&g, &b, 1, 1, 1).await;
        assert_eq!(tile_of(&cache, &g, &b, t).await, expected(&g, &b, t).await);
        for i in 0..8 {
            place(&g, &b, i, 2, 2).await;
            clock.advance(1);
        }
        assert_eq!(tile_of(&cache, &g, &b, t).await, expected(&g, &b, t).await);
        assert_eq!(tile_of(&cache, &g, &b, t).await.1.len(), 9);
    }

    #[test]
    fn the_answer_cache_stays_within_its_budget_dropping_the_oldest() {
        let id = BoardId::parse("main").unwrap();
        let mut a = Answers::default();
        let big = |seq| {
            Arc::new(Encoded {
                epoch: "e".into(),
                seq,
                json: Bytes::from(vec![0; CACHE_BYTES / 3]),
                binary: Bytes::new(),
                compressed: Default::default(),
            })
        };
        for (tile, seq) in [(0, 5), (1, 3), (2, 9), (3, 7)] {
            a.insert(&id, tile, big(seq));
            assert!(a.bytes <= CACHE_BYTES);
        }
        assert!(a.get(&id, 1, "e", 0).is_none(), "the oldest went first");
        assert!(a.get(&id, 3, "e", 7).is_some(), "the newest stays");
        assert!(a.get(&id, 3, "e", 8).is_none(), "older than asked");
        assert!(a.get(&id, 3, "other", 0).is_none(), "another data set");
    }
}
