//! Socket.IO event payloads (any JSON a client may send) into domain types:
//! the gateway's payload parsers, then the board's coordinate and colour
//! checks. Must never panic; what parses must be within the board.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
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
    if let Ok(j) = gateway::payload::join(Some(&v)) {
        for t in j.tiles.iter().flatten() {
            if let Ok(id) = board.tile(t.tx, t.ty) {
                assert!(board.tile_index(id) < board.tiles_x() * board.tiles_y());
            }
        }
    }
    let _ = gateway::payload::subscribe(Some(&v));
    let _ = gateway::payload::leave(Some(&v));
    let _ = gateway::payload::auth(Some(&v));
    if let Ok(p) = gateway::payload::place(Some(&v)) {
        let _ = pixel_core::domain::BoardId::parse(&p.board);
        if let Ok(c) = board.coord(p.x, p.y) {
            assert!(c.x < 64 && c.y < 48);
            assert_eq!(board.coord_of(board.index(c)), c);
        }
        let _ = board.color(p.color);
    }
});
