//! What Redis hands back: feed entries (`[id, [field, value, ...]]`, the
//! encoding of every update in a board's stream) and stored pixels
//! (`color:placed_at:expires_at`). A foreign or corrupt value must be a
//! `Corrupt` error, never a panic; what parses must be within the board.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixel_core::store::redis_fuzzing::{parse_entry, parse_pixel};
use redis::Value;

fuzz_target!(|data: &[u8]| {
    let board = &pixel_core::config::GameConfig {
        board_ids: "main".into(),
        board_width: 64,
        board_height: 48,
        cooldown_ms: 0,
        ttl_ms: 1000,
        board_tile_size: 256,
    }
    .boards()
    .unwrap()[0];
    // Zero bytes separate the strings: the first is the entry id, the rest
    // field/value pairs (also tried as a pixel's index and value).
    let parts: Vec<&[u8]> = data.split(|b| *b == 0).collect();
    let id = Value::BulkString(parts[0].to_vec());
    let fields = Value::Array(
        parts[1..]
            .iter()
            .map(|p| Value::BulkString(p.to_vec()))
            .collect(),
    );
    if let Ok(u) = parse_entry(&Value::Array(vec![id, fields])) {
        let _ = u.seq;
    }
    if parts.len() >= 2
        && let (Ok(index), Ok(value)) =
            (std::str::from_utf8(parts[0]), std::str::from_utf8(parts[1]))
        && let Ok(p) = parse_pixel(board, index, value)
    {
        assert!(p.x < 64 && p.y < 48, "pixel outside the board: {p:?}");
    }
});
