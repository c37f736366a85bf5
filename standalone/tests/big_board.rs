//! A 4096×4096 board end to end, on the memory store and on Redis:
//! placements at the corners and in the middle, the tile snapshots that
//! hold them (JSON and binary), the full binary snapshot (16.7 MB), and
//! decay emptying all of them.

mod common;

use common::{TestApp, spawn_app};
use serde_json::{Value, json};

const SIDE: u32 = 4096;
const TTL_MS: i64 = 10_000;

async fn big_app(extra: &[&str]) -> TestApp {
    let mut args = vec![
        "--board-width",
        "4096",
        "--board-height",
        "4096",
        "--cooldown-ms",
        "0",
        "--ttl-ms",
        "10000",
    ];
    args.extend_from_slice(extra);
    spawn_app(&args).await
}

async fn get(app: &TestApp, path: &str, binary: bool) -> reqwest::Response {
    let req = app.http.get(app.url(path));
    let req = if binary {
        req.header("accept", "application/octet-stream")
    } else {
        req
    };
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r
}

async fn tile_json(app: &TestApp, tx: u32, ty: u32) -> Value {
    get(app, &format!("/api/boards/main/tiles/{tx}/{ty}"), false)
        .await
        .json()
        .await
        .unwrap()
}

async fn tile_binary(app: &TestApp, tx: u32, ty: u32) -> Vec<u8> {
    get(app, &format!("/api/boards/main/tiles/{tx}/{ty}"), true)
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

async fn full_binary(app: &TestApp) -> Vec<u8> {
    get(app, "/api/boards/main/pixels", true)
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

async fn the_4096_board_places_serves_tiles_and_snapshots_and_decays(app: TestApp) {
    let meta: Value = get(&app, "/api/boards/main", false)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (meta["width"].as_u64(), meta["height"].as_u64()),
        (Some(4096), Some(4096))
    );
    let ts = meta["tile_size"].as_u64().unwrap() as u32;
    let (_, mut s) = app.joined_player("big").await;
    let cells = [
        (0, 0, 1),
        (SIDE - 1, SIDE - 1, 16),
        (2048, 1000, 7),
        (SIDE - 1, 0, 3),
    ];
    let mut updates = Vec::new();
    for (x, y, color) in cells {
        let ack = s
            .call(
                "place",
                json!({"board": "main", "x": x, "y": y, "color": color}),
            )
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
        updates.push(ack["update"].clone());
    }
    for (i, &(x, y, color)) in cells.iter().enumerate() {
        let (tx, ty) = (x / ts, y / ts);
        let t = tile_json(&app, tx, ty).await;
        assert_eq!(t["tile"], json!([tx, ty]));
        assert_eq!(
            (t["x0"].as_u64(), t["y0"].as_u64()),
            (Some(u64::from(tx * ts)), Some(u64::from(ty * ts)))
        );
        let u = &updates[i];
        assert_eq!(
            t["pixels"],
            json!([[x, y, color, u["placed_at"], u["expires_at"]]]),
            "tile ({tx}, {ty})"
        );
        let b = tile_binary(&app, tx, ty).await;
        assert_eq!(&b[..5], b"RPXT\x01");
        assert_eq!(b.len(), 37 + (ts * ts) as usize);
        let local = ((y - ty * ts) * ts + (x - tx * ts)) as usize;
        assert_eq!(b[37 + local], color);
        assert_eq!(b[37..].iter().filter(|&&c| c != 0).count(), 1);
    }
    let empty = tile_json(&app, 5, 9).await;
    assert_eq!(empty["pixels"], json!([]));
    let full = full_binary(&app).await;
    assert_eq!(full.len(), 21 + (SIDE * SIDE) as usize);
    assert_eq!(&full[..4], b"RPXB");
    for (x, y, color) in cells {
        assert_eq!(full[21 + (y * SIDE + x) as usize], color, "({x}, {y})");
    }
    assert_eq!(full[21..].iter().filter(|&&c| c != 0).count(), cells.len());

    // Decay: every placement fades, the tiles and the snapshot empty.
    app.clock.advance(TTL_MS + 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let seq = get(&app, "/api/boards/main", false)
            .await
            .json::<Value>()
            .await
            .unwrap()["seq"]
            .as_u64()
            .unwrap();
        if seq >= 2 * cells.len() as u64 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "decay did not run (seq {seq})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for &(x, y, _) in &cells {
        let (tx, ty) = (x / ts, y / ts);
        assert_eq!(tile_json(&app, tx, ty).await["pixels"], json!([]));
        assert!(
            tile_binary(&app, tx, ty).await[37..]
                .iter()
                .all(|&c| c == 0)
        );
    }
    assert!(full_binary(&app).await[21..].iter().all(|&c| c == 0));
}

#[tokio::test]
async fn a_4096_board_on_the_memory_store() {
    the_4096_board_places_serves_tiles_and_snapshots_and_decays(big_app(&[]).await).await;
}

#[tokio::test]
async fn a_4096_board_on_redis() {
    let redis = test_support::RedisServer::start();
    let url = redis.url();
    the_4096_board_places_serves_tiles_and_snapshots_and_decays(
        big_app(&["--redis-url", &url]).await,
    )
    .await;
}
