//! A minimal Socket.IO v5 client over one raw WebSocket, for tests that
//! must see the wire (acks, refused handshakes, the server closing).

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A minimal Socket.IO v5 client over one WebSocket.
pub struct Sio {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_ack: u64,
    /// Events (`[name, payload]`) received while waiting for something else.
    events: Vec<Value>,
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
            self.events.push(serde_json::from_str(body).unwrap());
        }
    }

    /// The next `pixels` event (from the buffer or the wire).
    pub async fn next_pixels(&mut self) -> Value {
        self.event("pixels", |_| true).await
    }

    /// The first event `name` whose payload satisfies `ok` (from the buffer
    /// or the wire, within the wait); the others stay buffered.
    pub async fn event(&mut self, name: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(i) = self.events.iter().position(|e| e[0] == name && ok(&e[1])) {
                return self.events.remove(i)[1].clone();
            }
            let t = tokio::time::timeout_at(deadline, self.next_text())
                .await
                .unwrap_or_else(|_| panic!("no {name} event in time: {:?}", self.events))
                .expect("connection open while waiting for an event");
            self.keep_event(&t);
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
