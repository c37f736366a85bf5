//! The binary frame's shared test vectors: the web page's decoder
//! (`web/js/frame.js`) decodes `web/test/fixtures/frame-v1.bin` and expects
//! `frame-v1.json`. This test checks that both files are exactly what the
//! Rust encoder writes today, so the two sides cannot drift. After a
//! deliberate layout change, rewrite them with `BLESS_FIXTURES=1`.

use std::path::PathBuf;

use pixel_core::domain::Update;
use pixel_core::domain::frame::{decode, encode};

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
