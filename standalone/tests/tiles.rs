//! Viewport tiles on the standalone server, over a real WebSocket: a tile
//! watcher gets only its tiles' updates, each event naming its tile and
//! the board-seq range it covers; `subscribe` changes the set and repairs
//! a tile from its `since`.

mod common;

use common::spawn_app;
use serde_json::{Value, json};

#[tokio::test]
async fn a_tile_watcher_gets_its_tiles_with_their_ranges_and_subscribe_repairs_from_since() {
    // A 16 × 16 board cut in tiles of 8: tiles [0..2) × [0..2).
    let app = spawn_app(&["--board-tile-size", "8", "--cooldown-ms", "0"]).await;
    let mut watcher = app.socket(None).await.unwrap();
    let ack = watcher
        .call("join", json!({"board": "main", "tiles": [[0, 0]]}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["board"]["tile_size"], 8);
    let start = ack["seq"].as_u64().unwrap();
    let (_, mut player) = app.joined_player("ann").await;
    let mut seqs = Vec::new();
    for (x, y) in [(1, 1), (9, 1), (2, 7), (15, 15), (0, 0)] {
        let a = player
            .call(
                "place",
                json!({"board": "main", "x": x, "y": y, "color": 2}),
            )
            .await;
        assert_eq!(a["ok"], true, "{a}");
        seqs.push(a["update"]["seq"].as_u64().unwrap());
    }
    // Tile (0, 0) holds the 1st, 3rd and 5th placements: every event names
    // the tile, starts where the previous one ended, and nothing of another
    // tile comes.
    let mut got = Vec::new();
    let mut have = start;
    while got.len() < 3 {
        let ev = watcher.next_pixels().await;
        assert_eq!(ev["tile"], json!([0, 0]), "{ev}");
        assert_eq!(ev["after"].as_u64(), Some(have), "{ev}");
        let updates = ev["updates"].as_array().unwrap();
        for u in updates {
            assert!(
                u["x"].as_u64().unwrap() < 8 && u["y"].as_u64().unwrap() < 8,
                "{u}"
            );
            got.push(u["seq"].as_u64().unwrap());
        }
        assert_eq!(ev["seq"], updates.last().unwrap()["seq"]);
        have = ev["seq"].as_u64().unwrap();
    }
    assert_eq!(got, [seqs[0], seqs[2], seqs[4]]);
    // Switch to tiles (1, 0) and (1, 1), repairing (1, 0) from the start.
    let sub = watcher
        .call(
            "subscribe",
            json!({"board": "main", "tiles": [[1, 0, start], [1, 1]]}),
        )
        .await;
    assert_eq!(sub["ok"], true, "{sub}");
    assert_eq!(sub["seq"].as_u64(), Some(seqs[4]));
    assert_eq!(sub["tiles"][0]["tile"], json!([1, 0]));
    let repaired: Vec<u64> = sub["tiles"][0]["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(repaired, [seqs[1]], "only tile (1, 0)'s update");
    assert_eq!(
        sub["tiles"][1],
        json!({"tile": [1, 1]}),
        "no since, no updates"
    );
    // Now (1, 1)'s next update comes, (0, 0)'s does not.
    for (x, y) in [(3, 3), (12, 12)] {
        let a = player
            .call(
                "place",
                json!({"board": "main", "x": x, "y": y, "color": 4}),
            )
            .await;
        assert_eq!(a["ok"], true, "{a}");
    }
    let ev = watcher.next_pixels().await;
    assert_eq!(ev["tile"], json!([1, 1]), "{ev}");
    assert_eq!(
        ev["after"].as_u64(),
        Some(seqs[3]),
        "{ev}: after tile (1, 1)'s last update"
    );
    assert_eq!(ev["updates"].as_array().map(Vec::len), Some(1));
    assert_eq!(ev["updates"][0]["x"], 12);
    // A late joiner with tiles and `since` catches up on those tiles only.
    let mut late = app.socket(None).await.unwrap();
    let ack = late
        .call(
            "join",
            json!({"board": "main", "tiles": [[0, 0], [1, 0]], "since": start}),
        )
        .await;
    let caught: Vec<u64> = ack["updates"]
        .as_array()
        .unwrap_or_else(|| panic!("{ack}"))
        .iter()
        .map(|u| u["seq"].as_u64().unwrap())
        .collect();
    let sixth = seqs[4] + 1; // (3, 3), tile (0, 0)
    assert_eq!(caught, [seqs[0], seqs[1], seqs[2], seqs[4], sixth]);
    // Bad input changes nothing.
    let bad = watcher
        .call("subscribe", json!({"board": "main", "tiles": [[2, 0]]}))
        .await;
    assert_eq!(bad["error"], "invalid_input", "{bad}");
    let whole: Value = watcher.call("join", json!({"board": "main"})).await;
    assert_eq!(whole["ok"], true);
    app.shutdown().await;
}
