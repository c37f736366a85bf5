//! Snapshots under concurrency. In its own test binary, with one test: it
//! reads the process-wide metrics to count snapshot builds.

mod common;

use std::io::Read;

use common::spawn_app;
use serde_json::{Value, json};

async fn builds(app: &common::TestApp) -> u64 {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("api_snapshot_builds_total{outcome=\"built\"}"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn concurrent_requests_for_a_changed_board_share_one_build_and_see_the_change() {
    let app = spawn_app(&[]).await;
    let (_, mut s) = app.joined_player("eve").await;
    let placed = s
        .call(
            "place",
            json!({"board": "main", "x": 1, "y": 2, "color": 7}),
        )
        .await;
    assert_eq!(placed["ok"], true);
    let before = builds(&app).await;
    let requests = (0..32).map(|i| {
        let req = app.http.get(app.url("/api/boards/main/pixels"));
        let req = if i % 2 == 0 {
            req.header("accept-encoding", "gzip")
        } else {
            req
        };
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200);
            let gz = r.headers().get("content-encoding").is_some();
            let bytes = r.bytes().await.unwrap();
            let mut plain = Vec::new();
            if gz {
                flate2::read::GzDecoder::new(&bytes[..])
                    .read_to_end(&mut plain)
                    .unwrap();
            } else {
                plain = bytes.to_vec();
            }
            serde_json::from_slice::<Value>(&plain).unwrap()
        }
    });
    let bodies = futures_util::future::join_all(requests).await;
    for v in &bodies {
        assert_eq!(v["seq"], 1, "fresh: the acked placement is in it");
        let p = v["pixels"][0].as_array().unwrap();
        assert_eq!(p[..3], [json!(1), json!(2), json!(7)]);
    }
    assert_eq!(
        builds(&app).await - before,
        1,
        "32 concurrent misses, one read and encoding of the board"
    );
    app.shutdown().await;
}
