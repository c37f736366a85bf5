//! The binary update frame: a run of consecutive board updates in a few
//! bytes each, for watchers that opt into binary delivery. A JSON update
//! (`{"seq","x","y","color","placed_at","expires_at","by"}`) costs ~120 bytes;
//! most of it is repeated keys, absolute times and the placer's name. The
//! frame drops what a watcher can derive: seqs are consecutive in a run (the
//! stream guarantees it), so only the first is sent; times are deltas; the
//! expiry is the board's time to live unless it differs; the placer is not
//! sent at all (a lookup route answers who placed a pixel).
//!
//! Layout (version 1; varints are LEB128, signed values zig-zag first):
//!
//! | field      | encoding        | meaning                                        |
//! |------------|-----------------|------------------------------------------------|
//! | magic      | 2 bytes `PX`    | refuses foreign bytes                          |
//! | version    | 1 byte `1`      | refuses a frame this decoder cannot read       |
//! | width      | varint          | board width, ≥ 1                               |
//! | height     | varint          | board height, ≥ 1, width × height ≤ 2³²        |
//! | first_seq  | varint          | seq of the first update                        |
//! | count      | varint          | number of updates (seqs first_seq..+count)     |
//! | base_time  | zig-zag varint  | ms; the time the first placement's delta is from |
//! | ttl        | zig-zag varint  | ms; the usual `expires_at - placed_at`         |
//!
//! then per update:
//!
//! | field       | encoding       | present          | meaning                          |
//! |-------------|----------------|------------------|----------------------------------|
//! | cell        | varint         | always           | `y * width + x`, below width × height |
//! | color       | 1 byte         | always           | 0 = removal (decay), else palette colour |
//! | time_delta  | zig-zag varint | color ≠ 0        | `placed_at` − previous placement's `placed_at` (or `base_time`) |
//! | ttl_delta   | zig-zag varint | color ≠ 0        | `expires_at − placed_at − ttl`   |
//!
//! Time arithmetic wraps in 64 bits (two's complement), so every `i64` time
//! round-trips and a delta is never out of range.
//!
//! Nothing may follow the last update. Decoding is total: any input gives a
//! frame or a [`FrameError`], never a panic.
//!
//! Version 2 ([`encode_tile`], [`decode_tile`]) carries the updates of one
//! viewport tile: their seqs are not consecutive (other tiles' updates lie
//! between), so each update carries its seq as a delta, and the header
//! names the tile and the range's start `after`.

use thiserror::Error;

use super::{TileId, TileRect, Update};

/// The frame's first two bytes.
pub const FRAME_MAGIC: [u8; 2] = *b"PX";
/// The layout version this module writes and reads.
pub const FRAME_VERSION: u8 = 1;

/// Why a run of updates could not be encoded, or bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("frame is truncated: {0} missing")]
    Truncated(&'static str),
    #[error("not an update frame (bad magic)")]
    BadMagic,
    #[error("unsupported frame version {0} (this side reads version {FRAME_VERSION})")]
    UnsupportedVersion(u8),
    #[error("varint for {0} is too long")]
    VarintOverflow(&'static str),
    #[error("board geometry {width}x{height} is invalid")]
    BadGeometry { width: u64, height: u64 },
    #[error("update {position}: cell {cell} is outside the {cells}-cell board")]
    CellOutOfRange {
        position: u64,
        cell: u64,
        cells: u64,
    },
    #[error("update {position}: seq {seq} does not follow the previous one")]
    NotConsecutive { position: u64, seq: u64 },
    #[error("update {position}: a placement needs placed_at and expires_at")]
    MissingTime { position: u64 },
    #[error("update {position}: seq {seq} is not above the previous one")]
    NotIncreasing { position: u64, seq: u64 },
    #[error("tile ({tx}, {ty}) is not on the board")]
    BadTile { tx: u64, ty: u64 },
    #[error("seq range overflows")]
    SeqOverflow,
    #[error("{0} trailing bytes after the last update")]
    TrailingBytes(usize),
}

/// A decoded frame: the board geometry it was written for and its updates
/// (placer `by` is never carried, so it is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub updates: Vec<Update>,
}

/// Encodes `updates` (consecutive seqs, all on a `width` × `height` board)
/// as one frame. An empty run is a valid frame with count 0.
pub fn encode(width: u32, height: u32, updates: &[Update]) -> Result<Vec<u8>, FrameError> {
    let cells = checked_cells(u64::from(width), u64::from(height))?;
    let first_seq = updates.first().map_or(0, |u| u.seq);
    let first_placement = updates.iter().find(|u| u.color != 0);
    let base_time = first_placement.and_then(|u| u.placed_at).unwrap_or(0);
    let ttl = first_placement
        .and_then(|u| Some(u.expires_at?.wrapping_sub(u.placed_at?)))
        .unwrap_or(0);
    let mut out = Vec::with_capacity(16 + updates.len() * 7);
    out.extend_from_slice(&FRAME_MAGIC);
    out.push(FRAME_VERSION);
    put_varint(&mut out, u64::from(width));
    put_varint(&mut out, u64::from(height));
    put_varint(&mut out, first_seq);
    put_varint(&mut out, updates.len() as u64);
    put_varint(&mut out, zigzag(base_time));
    put_varint(&mut out, zigzag(ttl));
    let mut prev_time = base_time;
    for (i, u) in updates.iter().enumerate() {
        let position = i as u64;
        let expected = first_seq
            .checked_add(position)
            .ok_or(FrameError::SeqOverflow)?;
        if u.seq != expected {
            return Err(FrameError::NotConsecutive {
                position,
                seq: u.seq,
            });
        }
        if u.x >= width || u.y >= height {
            return Err(FrameError::CellOutOfRange {
                position,
                cell: u64::from(u.y) * u64::from(width) + u64::from(u.x),
                cells,
            });
        }
        put_varint(&mut out, u64::from(u.y) * u64::from(width) + u64::from(u.x));
        out.push(u.color);
        if u.color == 0 {
            continue;
        }
        let (Some(placed), Some(expires)) = (u.placed_at, u.expires_at) else {
            return Err(FrameError::MissingTime { position });
        };
        let delta = placed.wrapping_sub(prev_time);
        let ttl_delta = expires.wrapping_sub(placed).wrapping_sub(ttl);
        put_varint(&mut out, zigzag(delta));
        put_varint(&mut out, zigzag(ttl_delta));
        prev_time = placed;
    }
    Ok(out)
}

/// Decodes one frame. Every cell is checked against the frame's geometry,
/// every time against `i64`, and nothing may follow the last update.
pub fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
    let mut r = Reader { bytes, pos: 0 };
    if r.take(2, "magic")? != FRAME_MAGIC {
        return Err(FrameError::BadMagic);
    }
    let version = r.take(1, "version")?[0];
    if version != FRAME_VERSION {
        return Err(FrameError::UnsupportedVersion(version));
    }
    let width = r.varint("width")?;
    let height = r.varint("height")?;
    let cells = checked_cells(width, height)?;
    let first_seq = r.varint("first_seq")?;
    let count = r.varint("count")?;
    first_seq
        .checked_add(count.saturating_sub(1))
        .ok_or(FrameError::SeqOverflow)?;
    let base_time = unzigzag(r.varint("base_time")?);
    let ttl = unzigzag(r.varint("ttl")?);
    // Each update takes at least two bytes: a lying count cannot make us
    // allocate more than the input justifies.
    let mut updates = Vec::with_capacity((count as usize).min(r.remaining() / 2));
    let mut prev_time = base_time;
    for position in 0..count {
        let cell = r.varint("cell")?;
        if cell >= cells {
            return Err(FrameError::CellOutOfRange {
                position,
                cell,
                cells,
            });
        }
        let color = r.take(1, "color")?[0];
        let (x, y) = ((cell % width) as u32, (cell / width) as u32);
        let seq = first_seq + position;
        if color == 0 {
            updates.push(Update::decay(seq, x, y));
            continue;
        }
        let placed = prev_time.wrapping_add(unzigzag(r.varint("time_delta")?));
        let expires = placed
            .wrapping_add(ttl)
            .wrapping_add(unzigzag(r.varint("ttl_delta")?));
        prev_time = placed;
        updates.push(Update {
            seq,
            x,
            y,
            color,
            placed_at: Some(placed),
            expires_at: Some(expires),
            by: None,
        });
    }
    if r.remaining() != 0 {
        return Err(FrameError::TrailingBytes(r.remaining()));
    }
    Ok(Frame {
        width: width as u32,
        height: height as u32,
        updates,
    })
}

/// The layout version of a tile frame ([`encode_tile`]).
pub const TILE_FRAME_VERSION: u8 = 2;

/// A decoded tile frame: the updates of one tile with `after < seq`,
/// every one of them up to the last update's seq (see [`encode_tile`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileFrame {
    pub width: u32,
    pub height: u32,
    pub tile_size: u32,
    pub tile: TileId,
    /// The range's exclusive start: the frame holds every update of the
    /// tile with `after < seq ≤` the last update's seq.
    pub after: u64,
    pub updates: Vec<Update>,
}

/// The pixels of tile `t` on a `width` × `height` board cut in squares of
/// `size`, or `None` when the tile lies off the board.
fn tile_rect(width: u64, height: u64, size: u64, t: TileId) -> Option<TileRect> {
    let (x0, y0) = (u64::from(t.tx) * size, u64::from(t.ty) * size);
    if size == 0 || x0 >= width || y0 >= height {
        return None;
    }
    Some(TileRect {
        x0: x0 as u32,
        y0: y0 as u32,
        width: size.min(width - x0) as u32,
        height: size.min(height - y0) as u32,
    })
}

/// Encodes the updates of one tile (increasing seqs, each above `after`,
/// all inside the tile) as a version 2 frame. Its header adds the tile
/// (`tile_size`, `tx`, `ty`) and `after` to version 1's; each update adds
/// its seq as a delta (from the previous update, the first from `after`)
/// and names its cell within the tile, `(y − y0) × tile width + (x − x0)`,
/// which on a 256-pixel tile takes at most 2 bytes.
pub fn encode_tile(
    width: u32,
    height: u32,
    tile_size: u32,
    tile: TileId,
    after: u64,
    updates: &[&Update],
) -> Result<Vec<u8>, FrameError> {
    checked_cells(u64::from(width), u64::from(height))?;
    let rect = tile_rect(width.into(), height.into(), tile_size.into(), tile).ok_or(
        FrameError::BadTile {
            tx: tile.tx.into(),
            ty: tile.ty.into(),
        },
    )?;
    let cells = u64::from(rect.width) * u64::from(rect.height);
    let first_placement = updates.iter().find(|u| u.color != 0);
    let base_time = first_placement.and_then(|u| u.placed_at).unwrap_or(0);
    let ttl = first_placement
        .and_then(|u| Some(u.expires_at?.wrapping_sub(u.placed_at?)))
        .unwrap_or(0);
    let mut out = Vec::with_capacity(24 + updates.len() * 6);
    out.extend_from_slice(&FRAME_MAGIC);
    out.push(TILE_FRAME_VERSION);
    for v in [width, height, tile_size, tile.tx, tile.ty] {
        put_varint(&mut out, u64::from(v));
    }
    put_varint(&mut out, after);
    put_varint(&mut out, updates.len() as u64);
    put_varint(&mut out, zigzag(base_time));
    put_varint(&mut out, zigzag(ttl));
    let (mut prev_seq, mut prev_time) = (after, base_time);
    for (i, u) in updates.iter().enumerate() {
        let position = i as u64;
        if u.seq <= prev_seq {
            return Err(FrameError::NotIncreasing {
                position,
                seq: u.seq,
            });
        }
        let inside = (rect.x0..rect.x0 + rect.width).contains(&u.x)
            && (rect.y0..rect.y0 + rect.height).contains(&u.y);
        if !inside {
            return Err(FrameError::CellOutOfRange {
                position,
                cell: u64::from(u.y) * u64::from(width) + u64::from(u.x),
                cells,
            });
        }
        put_varint(&mut out, u.seq - prev_seq);
        prev_seq = u.seq;
        let cell = u64::from(u.y - rect.y0) * u64::from(rect.width) + u64::from(u.x - rect.x0);
        put_varint(&mut out, cell);
        out.push(u.color);
        if u.color == 0 {
            continue;
        }
        let (Some(placed), Some(expires)) = (u.placed_at, u.expires_at) else {
            return Err(FrameError::MissingTime { position });
        };
        put_varint(&mut out, zigzag(placed.wrapping_sub(prev_time)));
        put_varint(
            &mut out,
            zigzag(expires.wrapping_sub(placed).wrapping_sub(ttl)),
        );
        prev_time = placed;
    }
    Ok(out)
}

/// Decodes one tile frame (version 2). Every cell is checked against the
/// tile, every seq must rise without passing 2⁶⁴, and nothing may follow
/// the last update.
pub fn decode_tile(bytes: &[u8]) -> Result<TileFrame, FrameError> {
    let mut r = Reader { bytes, pos: 0 };
    if r.take(2, "magic")? != FRAME_MAGIC {
        return Err(FrameError::BadMagic);
    }
    let version = r.take(1, "version")?[0];
    if version != TILE_FRAME_VERSION {
        return Err(FrameError::UnsupportedVersion(version));
    }
    let width = r.varint("width")?;
    let height = r.varint("height")?;
    checked_cells(width, height)?;
    let tile_size = r.varint("tile_size")?;
    let tx = r.varint("tx")?;
    let ty = r.varint("ty")?;
    let bad_tile = FrameError::BadTile { tx, ty };
    if tile_size > u64::from(u32::MAX) || tx > u64::from(u32::MAX) || ty > u64::from(u32::MAX) {
        return Err(bad_tile);
    }
    let tile = TileId {
        tx: tx as u32,
        ty: ty as u32,
    };
    let rect = tile_rect(width, height, tile_size, tile).ok_or(bad_tile)?;
    let cells = u64::from(rect.width) * u64::from(rect.height);
    let after = r.varint("after")?;
    let count = r.varint("count")?;
    let base_time = unzigzag(r.varint("base_time")?);
    let ttl = unzigzag(r.varint("ttl")?);
    // Each update takes at least three bytes.
    let mut updates = Vec::with_capacity((count as usize).min(r.remaining() / 3));
    let (mut seq, mut prev_time) = (after, base_time);
    for position in 0..count {
        let delta = r.varint("seq_delta")?;
        if delta == 0 {
            return Err(FrameError::NotIncreasing { position, seq });
        }
        seq = seq.checked_add(delta).ok_or(FrameError::SeqOverflow)?;
        let cell = r.varint("cell")?;
        if cell >= cells {
            return Err(FrameError::CellOutOfRange {
                position,
                cell,
                cells,
            });
        }
        let color = r.take(1, "color")?[0];
        let w = u64::from(rect.width);
        let x = rect.x0 + (cell % w) as u32;
        let y = rect.y0 + (cell / w) as u32;
        if color == 0 {
            updates.push(Update::decay(seq, x, y));
            continue;
        }
        let placed = prev_time.wrapping_add(unzigzag(r.varint("time_delta")?));
        let expires = placed
            .wrapping_add(ttl)
            .wrapping_add(unzigzag(r.varint("ttl_delta")?));
        prev_time = placed;
        updates.push(Update {
            seq,
            x,
            y,
            color,
            placed_at: Some(placed),
            expires_at: Some(expires),
            by: None,
        });
    }
    if r.remaining() != 0 {
        return Err(FrameError::TrailingBytes(r.remaining()));
    }
    Ok(TileFrame {
        width: width as u32,
        height: height as u32,
        tile_size: tile_size as u32,
        tile,
        after,
        updates,
    })
}

fn checked_cells(width: u64, height: u64) -> Result<u64, FrameError> {
    let bad = FrameError::BadGeometry { width, height };
    if width == 0 || height == 0 || width > u64::from(u32::MAX) || height > u64::from(u32::MAX) {
        return Err(bad);
    }
    let cells = width * height;
    if cells > 1 << 32 {
        return Err(bad);
    }
    Ok(cells)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FrameError> {
        let slice = self
            .bytes
            .get(self.pos..self.pos + n)
            .ok_or(FrameError::Truncated(what))?;
        self.pos += n;
        Ok(slice)
    }

    fn varint(&mut self, what: &'static str) -> Result<u64, FrameError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.take(1, what)?[0];
            let bits = u64::from(b & 0x7f);
            // The tenth byte may hold only the top bit of a u64.
            if shift == 63 && bits > 1 {
                return Err(FrameError::VarintOverflow(what));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(FrameError::VarintOverflow(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: deterministic pseudo-random cases without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A run as the stream produces it: consecutive seqs, times mostly
    /// rising by a few ms, the board's ttl, about one decay in eight.
    fn run(rng: &mut Rng, width: u32, height: u32, n: usize, ttl: i64) -> Vec<Update> {
        let first = rng.below(1 << 40);
        let mut t = 1_764_000_000_000 + rng.below(1 << 30) as i64;
        (0..n)
            .map(|i| {
                let (x, y) = (
                    rng.below(width.into()) as u32,
                    rng.below(height.into()) as u32,
                );
                let seq = first + i as u64;
                if rng.below(8) == 0 {
                    return Update::decay(seq, x, y);
                }
                t += rng.below(4) as i64;
                let color = 1 + rng.below(32) as u8;
                let expires = t + ttl + if rng.below(16) == 0 { 5 } else { 0 };
                Update::placement(seq, x, y, color, t, expires, "ann")
            })
            .collect()
    }

    fn without_by(us: &[Update]) -> Vec<Update> {
        us.iter().map(|u| Update { by: None, ..*u }).collect()
    }

    #[test]
    fn random_runs_round_trip_without_the_placer() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for case in 0..500 {
            let (w, h) = (1 + rng.below(5000) as u32, 1 + rng.below(5000) as u32);
            let n = rng.below(300) as usize;
            let ttl = rng.below(1 << 33) as i64;
            let us = run(&mut rng, w, h, n, ttl);
            let bytes = encode(w, h, &us).unwrap();
            let frame = decode(&bytes).unwrap_or_else(|e| panic!("case {case}: {e}"));
            assert_eq!((frame.width, frame.height), (w, h));
            assert_eq!(frame.updates, without_by(&us), "case {case}");
        }
    }

    #[test]
    fn extreme_values_round_trip() {
        let (w, h) = (u32::MAX, 1);
        let us = vec![
            Update::placement(u64::MAX - 1, w - 1, 0, 255, i64::MIN, i64::MAX, "x"),
            Update::placement(u64::MAX, 0, 0, 1, i64::MAX, i64::MAX, "x"),
        ];
        let frame = decode(&encode(w, h, &us).unwrap()).unwrap();
        assert_eq!(frame.updates, without_by(&us));
        let empty = decode(&encode(4096, 4096, &[]).unwrap()).unwrap();
        assert!(empty.updates.is_empty());
    }

    #[test]
    fn a_dense_run_on_a_4096_board_takes_at_most_8_bytes_per_update() {
        let mut rng = Rng(42);
        // ~8,000 placements/s in a 0.25 s batch: 2,000 updates, each a few ms apart.
        let us = run(&mut rng, 4096, 4096, 2000, 300_000);
        let bytes = encode(4096, 4096, &us).unwrap();
        let per_update = bytes.len() as f64 / us.len() as f64;
        let json = serde_json::to_vec(&us).unwrap().len() as f64 / us.len() as f64;
        println!("binary {per_update:.2} B/update, JSON {json:.1} B/update");
        assert!(per_update <= 8.0, "{per_update} bytes per update");
    }

    #[test]
    fn the_encoder_refuses_what_the_frame_cannot_say() {
        let p = |seq, x, y| Update::placement(seq, x, y, 1, 10, 20, "a");
        assert_eq!(
            encode(4, 4, &[p(1, 0, 0), p(3, 0, 0)]),
            Err(FrameError::NotConsecutive {
                position: 1,
                seq: 3
            })
        );
        assert!(matches!(
            encode(4, 4, &[p(1, 4, 0)]),
            Err(FrameError::CellOutOfRange { .. })
        ));
        let mut no_time = p(1, 0, 0);
        no_time.placed_at = None;
        assert_eq!(
            encode(4, 4, &[no_time]),
            Err(FrameError::MissingTime { position: 0 })
        );
        assert!(matches!(
            encode(0, 4, &[]),
            Err(FrameError::BadGeometry { .. })
        ));
    }

    #[test]
    fn bad_frames_are_refused_with_a_reason() {
        let us = [
            Update::placement(7, 1, 2, 3, 1000, 2000, "a"),
            Update::decay(8, 3, 3),
        ];
        let good = encode(4, 4, &us).unwrap();
        assert!(decode(&good).is_ok());
        for cut in 0..good.len() {
            assert!(
                matches!(decode(&good[..cut]), Err(FrameError::Truncated(_))),
                "cut at {cut}: {:?}",
                decode(&good[..cut])
            );
        }
        let mut bad = good.clone();
        bad[0] = b'Q';
        assert_eq!(decode(&bad), Err(FrameError::BadMagic));
        let mut bad = good.clone();
        bad[2] = 2;
        assert_eq!(decode(&bad), Err(FrameError::UnsupportedVersion(2)));
        let mut bad = good.clone();
        bad.push(0);
        assert_eq!(decode(&bad), Err(FrameError::TrailingBytes(1)));
        // A cell of 16 on a 4x4 board, written by hand.
        let mut bad = encode(4, 4, &[]).unwrap();
        bad[6] = 1; // count
        bad.extend_from_slice(&[16, 0]);
        assert_eq!(
            decode(&bad),
            Err(FrameError::CellOutOfRange {
                position: 0,
                cell: 16,
                cells: 16
            })
        );
        // An eleven-byte varint for the width.
        let mut bad = b"PX\x01".to_vec();
        bad.extend_from_slice(&[0xff; 10]);
        bad.push(0);
        assert_eq!(decode(&bad), Err(FrameError::VarintOverflow("width")));
        // A huge count with no updates behind it: an error, not an allocation.
        let mut bad = encode(4, 4, &[]).unwrap();
        bad.truncate(6);
        bad.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0]);
        assert_eq!(decode(&bad), Err(FrameError::Truncated("cell")));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng(7);
        let good = encode(64, 48, &run(&mut rng, 64, 48, 40, 1000)).unwrap();
        for _ in 0..20_000 {
            let mut b = good.clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len() as u64) as usize;
                b[i] = rng.next() as u8;
            }
            b.truncate(rng.below(b.len() as u64 + 1) as usize);
            let _ = decode(&b);
        }
    }

    /// Splits a run into the updates of one tile of `size` on the board.
    fn of_tile(us: &[Update], size: u32, t: TileId) -> Vec<&Update> {
        us.iter()
            .filter(|u| u.x / size == t.tx && u.y / size == t.ty)
            .collect()
    }

    #[test]
    fn random_tile_runs_round_trip() {
        let mut rng = Rng(0x1234_5678);
        for case in 0..300 {
            let (w, h) = (1 + rng.below(700) as u32, 1 + rng.below(700) as u32);
            let size = 1 << (3 + rng.below(6));
            let n = rng.below(400) as usize;
            let us = run(&mut rng, w, h, n, 300_000);
            let t = TileId {
                tx: rng.below(w.div_ceil(size).into()) as u32,
                ty: rng.below(h.div_ceil(size).into()) as u32,
            };
            let mine = of_tile(&us, size, t);
            let after = mine
                .first()
                .map_or(0, |u| u.seq - 1 - rng.below(3).min(u.seq - 1));
            let bytes = encode_tile(w, h, size, t, after, &mine).unwrap();
            let f = decode_tile(&bytes).unwrap_or_else(|e| panic!("case {case}: {e}"));
            assert_eq!(
                (f.width, f.height, f.tile_size, f.tile, f.after),
                (w, h, size, t, after)
            );
            let want: Vec<Update> = mine
                .iter()
                .map(|u| Update {
                    by: None,
                    ..(*u).clone()
                })
                .collect();
            assert_eq!(f.updates, want, "case {case}");
        }
    }

    #[test]
    fn a_tile_frame_on_a_4096_board_stays_small() {
        let mut rng = Rng(42);
        let us = run(&mut rng, 4096, 4096, 20_000, 300_000);
        let t = TileId { tx: 3, ty: 9 };
        let mine = of_tile(&us, 256, t);
        assert!(mine.len() > 40, "{} updates in the tile", mine.len());
        let bytes = encode_tile(4096, 4096, 256, t, mine[0].seq - 1, &mine).unwrap();
        let per_update = bytes.len() as f64 / mine.len() as f64;
        println!(
            "tile frame: {per_update:.2} B/update over {} updates",
            mine.len()
        );
        // seq delta ~3 bytes (1 in 256 updates is this tile's), cell 2,
        // colour 1, time delta ~2-3, ttl delta 1.
        assert!(per_update <= 10.0, "{per_update} bytes per update");
    }

    #[test]
    fn the_tile_encoder_and_decoder_refuse_what_the_frame_cannot_say() {
        let p = |seq, x, y| Update::placement(seq, x, y, 1, 10, 20, "a");
        let t = TileId { tx: 1, ty: 0 };
        let (a, b) = (p(5, 8, 0), p(5, 9, 0));
        assert_eq!(
            encode_tile(16, 8, 8, t, 0, &[&a, &b]),
            Err(FrameError::NotIncreasing {
                position: 1,
                seq: 5
            })
        );
        assert_eq!(
            encode_tile(16, 8, 8, t, 5, &[&a]),
            Err(FrameError::NotIncreasing {
                position: 0,
                seq: 5
            })
        );
        let off = p(6, 7, 0); // tile (0, 0)
        assert!(matches!(
            encode_tile(16, 8, 8, t, 0, &[&off]),
            Err(FrameError::CellOutOfRange { .. })
        ));
        assert_eq!(
            encode_tile(16, 8, 8, TileId { tx: 2, ty: 0 }, 0, &[]),
            Err(FrameError::BadTile { tx: 2, ty: 0 })
        );
        // An edge tile is cut short: on a 12-wide board tile 1 is 4 wide.
        let edge = p(9, 11, 7);
        let good = encode_tile(12, 8, 8, t, 0, &[&edge]).unwrap();
        assert_eq!(decode_tile(&good).unwrap().updates[0].x, 11);
        for cut in 0..good.len() {
            assert!(
                matches!(decode_tile(&good[..cut]), Err(FrameError::Truncated(_))),
                "cut {cut}"
            );
        }
        // Version 1 bytes are not a tile frame, nor the other way round.
        assert_eq!(
            decode_tile(&encode(4, 4, &[]).unwrap()),
            Err(FrameError::UnsupportedVersion(1))
        );
        assert_eq!(decode(&good), Err(FrameError::UnsupportedVersion(2)));
        let mut bad = good.clone();
        bad.push(0);
        assert_eq!(decode_tile(&bad), Err(FrameError::TrailingBytes(1)));
        // Header: PX 2 w=12 h=8 size=8 tx=1 ty=0 after=0 count=1 base ttl,
        // then seq_delta=9 at byte 12, cell at 13.
        assert_eq!(&good[..9], &[b'P', b'X', 2, 12, 8, 8, 1, 0, 0]);
        let mut zero = good.clone();
        zero[12] = 0;
        assert_eq!(
            decode_tile(&zero),
            Err(FrameError::NotIncreasing {
                position: 0,
                seq: 0
            })
        );
        let mut cell = good.clone();
        cell[13] = 32; // the tile has 4 x 8 cells
        assert!(matches!(
            decode_tile(&cell),
            Err(FrameError::CellOutOfRange {
                cell: 32,
                cells: 32,
                ..
            })
        ));
        let mut tile = good.clone();
        tile[6] = 2;
        assert_eq!(
            decode_tile(&tile),
            Err(FrameError::BadTile { tx: 2, ty: 0 })
        );
    }

    #[test]
    fn random_bytes_never_panic_a_tile_decoder() {
        let mut rng = Rng(11);
        let us = run(&mut rng, 64, 48, 200, 1000);
        let t = TileId { tx: 1, ty: 1 };
        let good = encode_tile(64, 48, 16, t, 0, &of_tile(&us, 16, t)).unwrap();
        for _ in 0..20_000 {
            let mut b = good.clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len() as u64) as usize;
                b[i] = rng.next() as u8;
            }
            b.truncate(rng.below(b.len() as u64 + 1) as usize);
            let _ = decode_tile(&b);
        }
    }
}
