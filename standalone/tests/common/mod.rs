//! Test helpers: boot the real standalone server on 127.0.0.1:0 with a
//! manual clock, and talk to it over HTTP (reqwest) and raw Socket.IO v5
//! over a WebSocket — small enough to read, and it lets tests send frames
//! a well-behaved client never would.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use pixel_core::ManualClock;
use serde_json::{Value, json};
use standalone::StandaloneConfig;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

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

/// A minimal Socket.IO v5 client over one WebSocket.
pub struct Sio {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_ack: u64,
    /// `pixels` events received while waiting for something else.
    pub events: Vec<Value>,
}

const WAIT: Duration = Duration::from_secs(5);

impl Sio {
    /// Connects to namespace `/`; `Err(message)` on a refused handshake.
    pub async fn connect(addr: SocketAddr, token: Option<&str>) -> Result<Self, String> {
        Self::connect_with_headers(addr, token, &[]).await
    }

    /// [`Self::connect`] with extra handshake headers (as a proxy adds).
    pub async fn connect_with_headers(
        addr: SocketAddr,
        token: Option<&str>,
        headers: &[(&'static str, &str)],
    ) -> Result<Self, String> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let mut req = url.into_client_request().unwrap();
        for (name, value) in headers {
            req.headers_mut().append(*name, value.parse().unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let mut sio = Self {
            ws,
            next_ack: 0,
            events: Vec::new(),
        };
        let open = sio.next_text().await.expect("engine.io open packet");
        assert!(open.starts_with('0'), "open packet, got {open}");
        let auth = match token {
            Some(t) => json!({"token": t}),
            None => json!({}),
        };
        sio.send_text(format!("40{auth}")).await;
        let reply = sio.next_text().await.expect("connect reply");
        if let Some(body) = reply.strip_prefix("40") {
            assert!(body.contains("sid"), "connect ack, got {reply}");
            Ok(sio)
        } else if let Some(body) = reply.strip_prefix("44") {
            let v: Value = serde_json::from_str(body).unwrap();
            Err(v["message"].as_str().unwrap_or_default().to_owned())
        } else {
            panic!("unexpected connect reply {reply}");
        }
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next text frame, answering pings; `None` when the server closed.
    pub async fn next_text(&mut self) -> Option<String> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("server answered in time")?;
            match msg {
                Ok(Message::Text(t)) if t.as_str() == "2" => {
                    self.send_text("3".into()).await;
                }
                Ok(Message::Text(t)) => return Some(t.to_string()),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Emits `event` with `args` and waits for its ack.
    pub async fn call(&mut self, event: &str, args: Value) -> Value {
        let id = self.next_ack;
        self.next_ack += 1;
        let mut packet = vec![json!(event)];
        match args {
            Value::Array(a) => packet.extend(a),
            other => packet.push(other),
        }
        self.send_text(format!("42{id}{}", Value::Array(packet)))
            .await;
        self.ack(id).await
    }

    /// Waits for the ack with `id`, keeping events that arrive meanwhile.
    pub async fn ack(&mut self, id: u64) -> Value {
        let prefix = format!("43{id}");
        loop {
            let t = self
                .next_text()
                .await
                .expect("connection open while waiting for ack");
            if let Some(body) = t.strip_prefix(&prefix) {
                let v: Value = serde_json::from_str(body).unwrap();
                return v[0].clone();
            }
            self.keep_event(&t);
        }
    }

    fn keep_event(&mut self, t: &str) {
        if let Some(body) = t.strip_prefix("42") {
            let v: Value = serde_json::from_str(body).unwrap();
            if v[0] == "pixels" {
                self.events.push(v[1].clone());
            }
        }
    }

    /// The next `pixels` event (from the buffer or the wire).
    pub async fn next_pixels(&mut self) -> Value {
        if !self.events.is_empty() {
            return self.events.remove(0);
        }
        loop {
            let t = self
                .next_text()
                .await
                .expect("connection open while waiting for pixels");
            self.keep_event(&t);
            if !self.events.is_empty() {
                return self.events.remove(0);
            }
        }
    }

    /// Whether the server closes this connection within the wait.
    pub async fn closed(&mut self) -> bool {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}
