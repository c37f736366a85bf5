//! Two gateways on a `redis-server` that speaks TLS only (`rediss://`, the
//! CA trusted through `SSL_CERT_FILE`, see docs/redis-tls.md): a placement
//! on one reaches a socket of the other through the store's feed, and the
//! watcher count, which travels through the Socket.IO adapter (fred), sees
//! both sockets.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pixel_core::SystemClock;
use pixel_core::auth::AccessTokens;
use pixel_core::config::Secret;
use serde_json::json;
use test_support::{RedisServer, Sio, free_port};

const SECRET: &str = "gateway-tls-test-secret-0123456789abcdef";

struct Gateway {
    child: Child,
    addr: SocketAddr,
}

impl Gateway {
    async fn start(redis: &RedisServer) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_pixel-gateway"))
            .env_remove("SSL_CERT_DIR")
            .env("SSL_CERT_FILE", redis.ca_file())
            .env("REDIS_URL", redis.url())
            .env("JWT_SECRET", SECRET)
            .env("BIND_ADDR", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("BOARD_WIDTH", "16")
            .env("BOARD_HEIGHT", "16")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pixel-gateway runs");
        let gw = Self {
            child,
            addr: ([127, 0, 0, 1], port).into(),
        };
        // Ready means the store and the adapter's subscriber are connected.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let url = format!("http://{}/readyz", gw.addr);
            if let Ok(r) = reqwest::get(url).await
                && r.status() == 200
            {
                return gw;
            }
            assert!(Instant::now() < deadline, "gateway ready on rediss://");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn two_gateways_share_a_board_over_a_redis_reached_by_tls() {
    let redis = RedisServer::start_tls();
    let (one, two) = (Gateway::start(&redis).await, Gateway::start(&redis).await);
    let tokens = AccessTokens::new(&Secret::new(SECRET.into()), 900, Arc::new(SystemClock));
    let token = tokens.issue("u-tls", "tls@x.io", "tls");
    let mut watcher = Sio::connect(two.addr, None).await.unwrap();
    assert_eq!(
        watcher.call("join", json!({"board": "main"})).await["ok"],
        true
    );
    let mut placer = Sio::connect(one.addr, Some(&token)).await.unwrap();
    assert_eq!(
        placer.call("join", json!({"board": "main"})).await["ok"],
        true
    );
    let ack = placer
        .call(
            "place",
            json!({"board": "main", "x": 1, "y": 2, "color": 3}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let seq = ack["update"]["seq"].clone();
    let pixels = watcher
        .event("pixels", |p| {
            p["updates"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u["seq"] == seq)
        })
        .await;
    assert_eq!(pixels["board"], "main");
    // Counted across both gateways: the adapter's fetch over TLS.
    watcher.event("presence", |p| p["watchers"] == 2).await;
}
