//! The binary frame's shared test vectors: the web page's decoder
//! (`web/js/frame.js`) decodes `web/test/fixtures/frame-v1.bin` and expects
//! `frame-v1.json`. This test checks that both files are exactly what the
//! Rust encoder writes today (and `frame-v2.*` for tile frames), so the two sides cannot drift. After a
//! deliberate layout change, rewrite them with `BLESS_FIXTURES=1`.

use std::path::PathBuf;

use pixel_core::domain::frame::{decode, decode_tile, encode, encode_tile};
use pixel_core::domain::{TileId, Update};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/test/fixtures")
}

/// Covers every branch of the layout: multi-byte cells, a decay, a time
/// going backwards, an expiry off the usual ttl, colour 255, and seqs and
/// times past 2³² (but within JavaScript's safe integers).
fn vectors() -> (u32, u32, Vec<Update>) {
    let t = 1_764_700_000_000;
    let ttl = 300_000;
    let first = 5_000_000_000;
    let updates = vec![
        Update::placement(first, 0, 0, 1, t, t + ttl, "ann"),
        Update::placement(first + 1, 4095, 4095, 16, t + 3, t + 3 + ttl, "bob"),
        Update::decay(first + 2, 100, 200),
        Update::placement(first + 3, 127, 0, 255, t + 2, t + 2 + ttl + 17, "ann"),
        Update::placement(
            first + 4,
            128,
            1,
            7,
            t + 1_000_000,
            t + 1_000_000 + ttl,
            "c",
        ),
        Update::decay(first + 5, 4095, 0),
    ];
    (4096, 4096, updates)
}

#[test]
fn the_web_fixture_is_what_the_encoder_writes() {
    let (w, h, updates) = vectors();
    let bytes = encode(w, h, &updates).unwrap();
    let decoded = decode(&bytes).unwrap();
    let expected = serde_json::to_string_pretty(&serde_json::json!({
        "width": w,
        "height": h,
        "updates": decoded.updates,
    }))
    .unwrap()
        + "\n";
    let (bin, json) = (
        fixture_dir().join("frame-v1.bin"),
        fixture_dir().join("frame-v1.json"),
    );
    if std::env::var_os("BLESS_FIXTURES").is_some() {
        std::fs::write(&bin, &bytes).unwrap();
        std::fs::write(&json, &expected).unwrap();
    }
    assert_eq!(
        std::fs::read(&bin).expect("frame-v1.bin (BLESS_FIXTURES=1 writes it)"),
        bytes,
        "web/test/fixtures/frame-v1.bin differs from the encoder's output"
    );
    assert_eq!(
        std::fs::read_to_string(&json).expect("frame-v1.json"),
        expected,
        "web/test/fixtures/frame-v1.json differs from the decoder's output"
    );
}

/// The tile frame's vectors: an edge tile of a 1000 × 700 board cut in
/// 256-pixel tiles (tile (3, 2) is 232 × 188), seqs past 2³² with gaps,
/// a decay, a time going backwards, an expiry off the usual ttl.
fn tile_vectors() -> (u32, u32, u32, TileId, u64, Vec<Update>) {
    let t = 1_764_700_000_000;
    let ttl = 300_000;
    let first = 5_000_000_000;
    let updates = vec![
        Update::placement(first, 768, 512, 1, t, t + ttl, "ann"),
        Update::placement(first + 7, 999, 699, 16, t + 3, t + 3 + ttl, "bob"),
        Update::decay(first + 8, 800, 600),
        Update::placement(first + 300, 900, 513, 255, t + 2, t + 2 + ttl + 17, "c"),
    ];
    (1000, 700, 256, TileId { tx: 3, ty: 2 }, first - 5, updates)
}

#[test]
fn the_web_tile_fixture_is_what_the_encoder_writes() {
    let (w, h, size, tile, after, updates) = tile_vectors();
    let refs: Vec<&Update> = updates.iter().collect();
    let bytes = encode_tile(w, h, size, tile, after, &refs).unwrap();
    let decoded = decode_tile(&bytes).unwrap();
    assert_eq!(decoded.updates.len(), updates.len());
    let expected = serde_json::to_string_pretty(&serde_json::json!({
        "width": w,
        "height": h,
        "tile": {"tx": tile.tx, "ty": tile.ty, "size": size},
        "after": after,
        "updates": decoded.updates,
    }))
    .unwrap()
        + "\n";
    let (bin, json) = (
        fixture_dir().join("frame-v2.bin"),
        fixture_dir().join("frame-v2.json"),
    );
    if std::env::var_os("BLESS_FIXTURES").is_some() {
        std::fs::write(&bin, &bytes).unwrap();
        std::fs::write(&json, &expected).unwrap();
    }
    assert_eq!(
        std::fs::read(&bin).expect("frame-v2.bin (BLESS_FIXTURES=1 writes it)"),
        bytes,
        "web/test/fixtures/frame-v2.bin differs from the encoder's output"
    );
    assert_eq!(
        std::fs::read_to_string(&json).expect("frame-v2.json"),
        expected,
        "web/test/fixtures/frame-v2.json differs from the decoder's output"
    );
}
