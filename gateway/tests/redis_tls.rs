//! Two gateways on a `redis-server` that speaks TLS only (`rediss://`, the
//! CA trusted through `SSL_CERT_FILE`, see docs/redis-tls.md): a placement
//! on one reaches a socket of the other through the store's feed, and the
//! watcher count, which travels through the Socket.IO adapter (fred), sees
//! both sockets.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use pixel_core::SystemClock;
use pixel_core::auth::AccessTokens;
use pixel_core::config::Secret;
use serde_json::{Value, json};
use test_support::{RedisServer, free_port};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "gateway-tls-test-secret-0123456789abcdef";
const WAIT: Duration = Duration::from_secs(10);

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

/// Just enough Socket.IO v5 over one WebSocket for this test.
struct Sio {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    events: Vec<Value>,
}

impl Sio {
    async fn connect(addr: SocketAddr, token: Option<&str>) -> Self {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut s = Self {
            ws,
            events: Vec::new(),
        };
        assert!(s.next_text().await.starts_with('0'), "engine.io open");
        let auth = token.map_or(json!({}), |t| json!({ "token": t }));
        s.send(format!("40{auth}")).await;
        assert!(s.next_text().await.starts_with("40"), "connected");
        s
    }

    async fn send(&mut self, text: String) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    async fn next_text(&mut self) -> String {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("the gateway answered in time")
                .expect("connection open")
                .unwrap();
            if let Message::Text(t) = msg {
                if t.as_str() == "2" {
                    self.send("3".into()).await;
                    continue;
                }
                return t.to_string();
            }
        }
    }

    async fn call(&mut self, id: u64, event: &str, arg: Value) -> Value {
        self.send(format!("42{id}{}", json!([event, arg]))).await;
        let prefix = format!("43{id}");
        loop {
            let t = self.next_text().await;
            if let Some(body) = t.strip_prefix(&prefix) {
                return serde_json::from_str::<Value>(body).unwrap()[0].clone();
            }
            self.keep(&t);
        }
    }

    fn keep(&mut self, t: &str) {
        if let Some(body) = t.strip_prefix("42") {
            self.events.push(serde_json::from_str(body).unwrap());
        }
    }

    /// The first event `name` whose payload satisfies `ok`.
    async fn event(&mut self, name: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self.events.iter().position(|e| e[0] == name && ok(&e[1])) {
                return self.events.remove(i)[1].clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {name} event: {:?}",
                self.events
            );
            let t = self.next_text().await;
            self.keep(&t);
        }
    }
}

#[tokio::test]
async fn two_gateways_share_a_board_over_a_redis_reached_by_tls() {
    let redis = RedisServer::start_tls();
    let (one, two) = (Gateway::start(&redis).await, Gateway::start(&redis).await);
    let tokens = AccessTokens::new(&Secret::new(SECRET.into()), 900, Arc::new(SystemClock));
    let token = tokens.issue("u-tls", "tls@x.io", "tls");
    let mut watcher = Sio::connect(two.addr, None).await;
    assert_eq!(
        watcher.call(0, "join", json!({"board": "main"})).await["ok"],
        true
    );
    let mut placer = Sio::connect(one.addr, Some(&token)).await;
    assert_eq!(
        placer.call(0, "join", json!({"board": "main"})).await["ok"],
        true
    );
    let ack = placer
        .call(
            1,
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
