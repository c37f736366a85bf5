//! `rediss://`: the server on a real `redis-server` that speaks TLS only,
//! its certificate signed by a CA made for the test and trusted through
//! `SSL_CERT_FILE` (see docs/redis-tls.md). The binary runs as a child
//! process, since the CA is given by the environment.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Sio;
use serde_json::{Value, json};
use test_support::{RedisServer, free_port};

const SECRET: &str = "redis-tls-test-secret-0123456789abcdef";

/// The all-in-one server on `redis`, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(redis: &RedisServer, ca: Option<&std::path::Path>) -> Self {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_realtime-pixel"));
        cmd.env_remove("SSL_CERT_DIR")
            .env("REDIS_URL", redis.url())
            .env("JWT_SECRET", SECRET)
            .env("BIND_ADDR", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("BOARD_WIDTH", "16")
            .env("BOARD_HEIGHT", "16")
            .env("COOLDOWN_MS", "0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        match ca {
            Some(ca) => cmd.env("SSL_CERT_FILE", ca),
            // A CA file that holds no CA: nothing is trusted.
            None => cmd.env("SSL_CERT_FILE", redis.dir.join("server.ext")),
        };
        Self {
            child: cmd.spawn().expect("realtime-pixel runs"),
            port,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Whether `/readyz` answers 200 within `wait`.
    async fn ready_within(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(self.url("/readyz")).await
                && r.status() == 200
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_game_runs_on_a_redis_reached_over_tls() {
    let redis = RedisServer::start_tls();
    assert!(redis.url().starts_with("rediss://"));
    let server = Server::start(&redis, Some(&redis.ca_file()));
    assert!(
        server.ready_within(Duration::from_secs(20)).await,
        "ready on rediss://"
    );
    let http = reqwest::Client::new();
    let body: Value = http
        .post(server.url("/api/auth/signup"))
        .json(&json!({"email": "tls@x.io", "password": "password1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().expect("signed up").to_owned();
    let addr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let mut watcher = Sio::connect(addr, None).await.unwrap();
    assert_eq!(
        watcher.call("join", json!({"board": "main"})).await["ok"],
        true
    );
    let mut placer = Sio::connect(addr, Some(&token)).await.unwrap();
    assert_eq!(
        placer.call("join", json!({"board": "main"})).await["ok"],
        true
    );
    let ack = placer
        .call(
            "place",
            json!({"board": "main", "x": 3, "y": 4, "color": 5}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let seq = ack["update"]["seq"].as_u64().unwrap();
    let seen = watcher.next_pixels().await;
    assert_eq!(seen["updates"][0]["seq"], seq, "{seen}");
    let snap: Value = http
        .get(server.url("/api/boards/main/pixels"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pixel = &snap["pixels"][0];
    assert_eq!(
        (&pixel[0], &pixel[1], &pixel[2]),
        (&json!(3), &json!(4), &json!(5)),
        "{snap}"
    );
    let feed: Value = http
        .get(server.url("/api/boards/main/updates?since=0"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(feed["updates"][0]["seq"], seq, "{feed}");
    // The data is in that Redis (read over TLS by the server, not a copy).
    assert_eq!(snap["seq"], seq);
}

#[tokio::test]
async fn a_redis_whose_certificate_is_not_trusted_is_not_used() {
    let redis = RedisServer::start_tls();
    let server = Server::start(&redis, None);
    assert!(
        !server.ready_within(Duration::from_secs(3)).await,
        "the server used a Redis it cannot authenticate"
    );
}
