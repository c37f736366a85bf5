//! Test helpers: boot the real standalone server on 127.0.0.1:0 with a
//! manual clock, and talk to it over HTTP (reqwest) and raw Socket.IO v5
//! over a WebSocket — small enough to read, and it lets tests send frames
//! a well-behaved client never would.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use pixel_core::ManualClock;
use serde_json::{Value, json};
use standalone::StandaloneConfig;
pub use test_support::Sio;

pub const SECRET: &str = "integration-test-secret-0123456789abcdef";
pub const START_MS: i64 = 1_800_000_000_000;

pub struct TestApp {
    pub addr: SocketAddr,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Starts the shutdown without waiting for it (see [`Self::shutdown`]).
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("server stops within 10 s")
                .expect("server task did not panic")
                .expect("server ran cleanly");
        }
    }

    /// POSTs `body` as JSON to `path`: the status and the JSON reply
    /// (`Value::Null` when the reply isn't JSON).
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        status_and_json(r).await
    }

    /// GETs `path`, with `token` as a bearer token if given: the status and
    /// the JSON reply (`Value::Null` when the reply isn't JSON).
    pub async fn get_json(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        status_and_json(req.send().await.unwrap()).await
    }

    pub async fn signup(&self, name: &str) -> Value {
        let email = format!("{name}-{}@test.io", uuid_like());
        let (status, body) = self
            .post_json(
                "/api/auth/signup",
                &json!({"email": email, "password": "password1", "name": name}),
            )
            .await;
        assert_eq!(status, 201);
        body
    }

    /// A signed-up player whose socket joined board `main` (the join
    /// acked `ok`): its token body, and the socket.
    pub async fn joined_player(&self, name: &str) -> (Value, Sio) {
        let tokens = self.signup(name).await;
        let mut s = self
            .socket(tokens["access_token"].as_str())
            .await
            .expect("a player's socket connects");
        let ack = s.call("join", json!({"board": "main"})).await;
        assert_eq!(ack["ok"], true, "join: {ack}");
        (tokens, s)
    }

    pub async fn socket(&self, token: Option<&str>) -> Result<Sio, String> {
        Sio::connect(self.addr, token).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn status_and_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Boots the server with the test defaults plus `env`-style overrides
/// (`["--cooldown-ms", "0"]`).
pub async fn spawn_app(extra: &[&str]) -> TestApp {
    let mut args = vec![
        "realtime-pixel",
        "--jwt-secret",
        SECRET,
        "--board-width",
        "16",
        "--board-height",
        "16",
        "--cooldown-ms",
        "1000",
        "--ttl-ms",
        "10000",
        "--sweep-interval-ms",
        "20",
    ];
    args.extend_from_slice(extra);
    let config = StandaloneConfig::try_parse_from(args).expect("valid test config");
    let clock = ManualClock::new(START_MS);
    let app = standalone::build(&config, Arc::new(clock.clone()))
        .await
        .expect("app builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run(listener, async move {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        clock,
        http: reqwest::Client::new(),
        stop: Some(stop),
        task: Some(task),
    }
}
