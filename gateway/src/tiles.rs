//! Viewport tiles: a socket that names tiles in `join` or `subscribe`
//! receives only the updates of those tiles, each tile's as its own
//! `pixels` event that says which board-seq range it covers.
//!
//! Why it is built this way:
//!
//! - **Serialised once per tile, never per socket.** Each (board, tile) has
//!   a room on each gateway (one for JSON, one for binary watchers); the
//!   relay splits a batch by tile and emits each tile's part once to its
//!   room, on this node only, like the whole-board events.
//! - **Ranges instead of consecutive seqs.** A tile's updates are not
//!   consecutive board seqs, so an event carries `after` and `seq`: every
//!   update of the tile with `after < seq ≤ seq` is in it. The relay is the
//!   single writer of a board on its gateway, so it knows per tile the last
//!   seq it covered ([`TileSeqs`]), which is the next event's `after`: a
//!   client holding the tile up to `have` applies an event when
//!   `after ≤ have` and sees a hole when `after > have`.
//! - **The whole-board stream is untouched.** Tile watchers stay in the
//!   board's room (presence, `resync` and `leave` treat them alike) and are
//!   also in [`watching_room`], which the whole-board events exclude.

use std::collections::HashMap;

use bytes::Bytes;
use pixel_core::domain::frame::{self, FrameError};
use pixel_core::domain::{BoardConfig, BoardId, TileId, Update};
use serde::Serialize;
use serde::ser::SerializeTuple;

/// The room of the sockets that watch tiles (not the whole board) of a
/// board on this gateway; the whole-board events skip it.
pub(crate) fn watching_room(board: &BoardId) -> String {
    format!("board-tiles:{board}")
}

/// The prefix of a board's tile rooms (JSON and binary).
pub(crate) fn rooms_prefix(board: &BoardId) -> String {
    format!("tile:{board}:")
}

/// The room of a tile's JSON watchers on this gateway.
pub(crate) fn json_room(board: &BoardId, index: u32) -> String {
    format!("tile:{board}:{index}")
}

/// The room of a tile's binary watchers on this gateway.
pub(crate) fn binary_room(board: &BoardId, index: u32) -> String {
    format!("tile:{board}:{index}:bin")
}

/// A tile as the wire writes it: `[tx, ty]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TilePair(pub TileId);

impl Serialize for TilePair {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&self.0.tx)?;
        t.serialize_element(&self.0.ty)?;
        t.end()
    }
}

/// A tile's JSON `pixels` event.
#[derive(Debug, Serialize)]
pub(crate) struct TilePixelsEvent<'a> {
    pub board: &'a BoardId,
    pub tile: TilePair,
    pub after: u64,
    pub seq: u64,
    pub updates: &'a [&'a Update],
}

/// One tile's part of a batch: every update of the tile with
/// `after < seq ≤` the last one's seq, in seq order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TileBatch<'a> {
    pub tile: TileId,
    pub index: u32,
    pub after: u64,
    pub updates: Vec<&'a Update>,
}

/// Per tile, the last seq the relay covered for it: the `after` of the
/// tile's next event. Tiles it never covered start after `floor` (where
/// the relay started, or its last `resync`). Kept for every tile that saw
/// an update, watched or not, so that a range never claims an update that
/// went to nobody.
#[derive(Debug, Default)]
pub(crate) struct TileSeqs {
    floor: u64,
    last: HashMap<u32, u64>,
}

impl TileSeqs {
    pub(crate) fn new(floor: u64) -> Self {
        Self {
            floor,
            last: HashMap::new(),
        }
    }

    /// Every tile's range starts after `seq` from now on: the relay
    /// resynced there, or delivered up to it without tile watchers.
    pub(crate) fn reset(&mut self, seq: u64) {
        self.floor = seq;
        if !self.last.is_empty() {
            self.last.clear();
        }
    }

    /// Splits a batch (increasing seqs, everything after the relay's
    /// previous position) by tile, with each tile's range, and records it.
    pub(crate) fn split<'a>(
        &mut self,
        board: &BoardConfig,
        updates: &'a [Update],
    ) -> Vec<TileBatch<'a>> {
        let mut by_tile: HashMap<u32, TileBatch<'a>> = HashMap::new();
        for u in updates {
            let tile = board.tile_of(pixel_core::domain::Coord { x: u.x, y: u.y });
            let index = board.tile_index(tile);
            let batch = by_tile.entry(index).or_insert_with(|| TileBatch {
                tile,
                index,
                after: self.last.get(&index).copied().unwrap_or(self.floor),
                updates: Vec::new(),
            });
            batch.updates.push(u);
        }
        let mut out: Vec<TileBatch<'a>> = by_tile.into_values().collect();
        out.sort_unstable_by_key(|b| b.index);
        for b in &out {
            if let Some(last) = b.updates.last() {
                self.last.insert(b.index, last.seq);
            }
        }
        out
    }
}

/// Encodes one tile's run (a chunk of a [`TileBatch`]) as a tile frame.
pub(crate) fn encode(
    board: &BoardConfig,
    tile: TileId,
    after: u64,
    updates: &[&Update],
) -> Result<Bytes, FrameError> {
    frame::encode_tile(
        board.width,
        board.height,
        board.tile_size,
        tile,
        after,
        updates,
    )
    .map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board() -> BoardConfig {
        BoardConfig {
            id: BoardId::parse("main").unwrap(),
            width: 64,
            height: 40,
            palette: vec!["#fff".into(); 4],
            cooldown_ms: 0,
            ttl_ms: 1000,
            tile_size: 16,
        }
    }

    fn at(seq: u64, x: u32, y: u32) -> Update {
        Update::placement(seq, x, y, 1, 10, 20, "ann")
    }

    fn seqs(b: &TileBatch<'_>) -> Vec<u64> {
        b.updates.iter().map(|u| u.seq).collect()
    }

    #[test]
    fn a_batch_splits_by_tile_in_seq_order() {
        let b = board();
        let mut t = TileSeqs::new(100);
        let us = [
            at(101, 0, 0),
            at(102, 63, 39),
            at(103, 15, 15),
            at(104, 16, 0),
            at(105, 1, 2),
        ];
        let parts = t.split(&b, &us);
        let got: Vec<(TileId, u32, u64, Vec<u64>)> = parts
            .iter()
            .map(|p| (p.tile, p.index, p.after, seqs(p)))
            .collect();
        assert_eq!(
            got,
            vec![
                (TileId { tx: 0, ty: 0 }, 0, 100, vec![101, 103, 105]),
                (TileId { tx: 1, ty: 0 }, 1, 100, vec![104]),
                // The bottom row is cut short: 40 = 2 × 16 + 8.
                (TileId { tx: 3, ty: 2 }, 11, 100, vec![102]),
            ]
        );
        let total: usize = parts.iter().map(|p| p.updates.len()).sum();
        assert_eq!(total, us.len(), "every update in exactly one tile");
    }

    #[test]
    fn a_tiles_range_starts_where_its_previous_one_ended() {
        let b = board();
        let mut t = TileSeqs::new(0);
        t.split(&b, &[at(1, 0, 0), at(2, 20, 0)]);
        // Tile 0 is idle in this batch: its next range still starts at 1.
        t.split(&b, &[at(3, 20, 1)]);
        let us = [at(4, 3, 3), at(5, 21, 0)];
        let parts = t.split(&b, &us);
        assert_eq!(
            (parts[0].index, parts[0].after, seqs(&parts[0])),
            (0, 1, vec![4])
        );
        assert_eq!(
            (parts[1].index, parts[1].after, seqs(&parts[1])),
            (1, 3, vec![5])
        );
        // A tile never seen starts at the floor.
        let us = [at(6, 40, 30)];
        let parts = t.split(&b, &us);
        assert_eq!(parts[0].after, 0);
    }

    #[test]
    fn a_reset_moves_every_range_start_to_the_resync_seq() {
        let b = board();
        let mut t = TileSeqs::new(0);
        t.split(&b, &[at(1, 0, 0)]);
        t.reset(50);
        let us = [at(51, 0, 0), at(52, 33, 33)];
        let parts = t.split(&b, &us);
        assert_eq!(parts.iter().map(|p| p.after).collect::<Vec<_>>(), [50, 50]);
    }

    #[test]
    fn a_tile_event_has_the_documented_shape() {
        let b = board();
        let u = at(7, 1, 2);
        let ev = TilePixelsEvent {
            board: &b.id,
            tile: TilePair(TileId { tx: 0, ty: 0 }),
            after: 3,
            seq: 7,
            updates: &[&u],
        };
        assert_eq!(
            serde_json::to_value(&ev).unwrap(),
            serde_json::json!({"board": "main", "tile": [0, 0], "after": 3, "seq": 7, "updates": [u]})
        );
    }
}
