//! Engine.IO v4 / Socket.IO v5 over one WebSocket, spoken directly: the
//! open packet `0{...}`, pings `2` answered with `3`, the namespace connect
//! `40{auth}`, events `42[...]` with ack ids `42<id>[...]` and acks
//! `43<id>[...]`, and binary events `45<n>-[...]` followed by their `n`
//! attachments as WebSocket binary messages (the binary `pixels` frames,
//! decoded with the server's own codec so the bench reads exactly what a
//! client must). Small enough that tens of thousands of connections cost
//! little on the load generator's side.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub(crate) type Ws = WebSocketStream<TcpStream>;

/// Where clients connect, and the loopback source addresses they are
/// spread over (nginx is sticky by client address, so this spreads them
/// over gateways too).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub sources: Vec<IpAddr>,
}

impl Endpoint {
    /// `sources` addresses 127.0.0.2, 127.0.0.3, ... (none when 0, or when
    /// the server is not on loopback).
    pub fn new(addr: SocketAddr, sources: usize) -> Self {
        let sources = if addr.ip().is_loopback() {
            (0..sources.min(250))
                .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i as u8)))
                .collect()
        } else {
            Vec::new()
        };
        Self { addr, sources }
    }

    /// The source address of the `i`th client.
    pub fn source(&self, i: usize) -> Option<IpAddr> {
        if self.sources.is_empty() {
            None
        } else {
            Some(self.sources[i % self.sources.len()])
        }
    }
}

/// Opens a WebSocket to `/socket.io/` from `src` (TCP_NODELAY set),
/// completes the Engine.IO open and the Socket.IO connect of namespace `/`
/// with `{"token": ...}` (or `{}` for a spectator).
pub(crate) async fn open(
    ep: &Endpoint,
    i: usize,
    token: Option<&str>,
    read_buffer: usize,
    write_buffer: usize,
) -> Result<Ws> {
    let sock = TcpSocket::new_v4()?;
    if let Some(ip) = ep.source(i) {
        sock.bind(SocketAddr::new(ip, 0))
            .with_context(|| format!("bind {ip}"))?;
    }
    let stream = sock
        .connect(ep.addr)
        .await
        .with_context(|| format!("connect {}", ep.addr))?;
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .write_buffer_size(write_buffer)
        .max_message_size(Some(64 << 20));
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", ep.addr);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .context("websocket handshake")?;
    let open = next_text(&mut ws)
        .await?
        .context("closed before the open packet")?;
    if !open.starts_with('0') {
        bail!("expected the Engine.IO open packet, got {open:.80}");
    }
    let auth = match token {
        Some(t) => serde_json::json!({ "token": t }).to_string(),
        None => "{}".to_owned(),
    };
    ws.send(Message::text(format!("40{auth}"))).await?;
    loop {
        let t = next_text(&mut ws)
            .await?
            .context("closed before the connect ack")?;
        if t.starts_with("40") {
            return Ok(ws);
        }
        if let Some(err) = t.strip_prefix("44") {
            bail!("connect refused: {err:.200}");
        }
        if t == "2" {
            ws.send(Message::text("3")).await?;
        }
    }
}

/// The next text frame (`None` when closed). WebSocket pings are answered
/// by tungstenite on the next write; Engine.IO pings are the caller's.
pub(crate) async fn next_text(ws: &mut Ws) -> Result<Option<String>> {
    while let Some(msg) = ws.next().await {
        match msg? {
            Message::Text(t) => return Ok(Some(t.as_str().to_owned())),
            Message::Close(_) => return Ok(None),
            _ => {}
        }
    }
    Ok(None)
}

/// Board meta as the join ack carries it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Meta {
    pub width: u32,
    pub height: u32,
    pub palette: Vec<IgnoredAny>,
    pub cooldown_ms: u64,
    pub ttl_ms: u64,
    /// The side of a viewport tile (an addition; absent on older servers).
    #[serde(default)]
    pub tile_size: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct JoinAck {
    ok: bool,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    board: Option<Meta>,
    #[serde(default)]
    error: Option<String>,
}

/// A joined board: its seq at the join ack, its meta, and messages (text
/// and binary) that came in before the ack (room broadcasts may precede it).
#[derive(Debug)]
pub(crate) struct Joined {
    pub seq: u64,
    pub meta: Meta,
    pub early: Vec<Message>,
}

/// How a watcher asks for its `pixels` events (`join`'s `encoding`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// JSON updates (the default; `encoding` left out of the join).
    #[default]
    Json,
    /// One binary update frame per event (`encoding: "binary"`).
    Binary,
}

/// Joins `board` (JSON encoding) with ack id 0 and waits for the ack.
pub(crate) async fn join(ws: &mut Ws, board: &str) -> Result<Joined> {
    join_with(ws, board, Encoding::Json).await
}

/// Joins `board` with ack id 0 in `encoding` and waits for the ack.
pub(crate) async fn join_with(ws: &mut Ws, board: &str, encoding: Encoding) -> Result<Joined> {
    join_tiles(ws, board, encoding, None).await
}

/// Joins `board` with ack id 0 in `encoding`, watching `tiles` (`None`:
/// the whole board), and waits for the ack.
pub(crate) async fn join_tiles(
    ws: &mut Ws,
    board: &str,
    encoding: Encoding,
    tiles: Option<&[(u32, u32)]>,
) -> Result<Joined> {
    let mut payload = serde_json::json!({ "board": board });
    if encoding == Encoding::Binary {
        payload["encoding"] = "binary".into();
    }
    if let Some(tiles) = tiles {
        payload["tiles"] = serde_json::json!(tiles);
    }
    let payload = serde_json::json!(["join", payload]);
    ws.send(Message::text(format!("420{payload}"))).await?;
    let mut early = Vec::new();
    loop {
        let msg = match ws.next().await {
            Some(m) => m?,
            None => bail!("closed before the join ack"),
        };
        let t = match &msg {
            Message::Text(t) => t.as_str(),
            Message::Binary(_) => {
                early.push(msg);
                continue;
            }
            Message::Close(_) => bail!("closed before the join ack"),
            _ => continue,
        };
        if t == "2" {
            ws.send(Message::text("3")).await?;
            continue;
        }
        if let Some((0, body)) = ack(t) {
            let mut acks: Vec<JoinAck> = serde_json::from_str(body)?;
            let a = acks.pop().context("empty join ack")?;
            if !a.ok {
                bail!("join refused: {}", a.error.unwrap_or_default());
            }
            return Ok(Joined {
                seq: a.seq.context("join ack without seq")?,
                meta: a.board.context("join ack without board")?,
                early,
            });
        }
        early.push(msg);
    }
}

/// `43<id>[...]` → (id, `[...]`).
pub(crate) fn ack(t: &str) -> Option<(u64, &str)> {
    let rest = t.strip_prefix("43")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let body = &rest[digits..];
    if !body.starts_with('[') {
        return None;
    }
    Some((rest[..digits].parse().ok()?, body))
}

/// One update of a `pixels` event (the fields the benchmarks use).
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct Upd {
    pub seq: u64,
    pub x: u32,
    pub y: u32,
    pub color: u8,
    #[serde(default)]
    pub expires_at: Option<i64>,
}

#[derive(Deserialize)]
struct PixelsBody {
    updates: Vec<Upd>,
}

/// A server → client event.
pub(crate) enum Event {
    Pixels(Vec<Upd>),
    Resync,
    Other,
}

/// Parses `42[...]`; `None` for anything that is not an event.
pub(crate) fn event(t: &str) -> Option<Result<Event>> {
    let body = t.strip_prefix("42")?;
    if !body.starts_with('[') {
        return None;
    }
    Some(if body.starts_with("[\"pixels\"") {
        serde_json::from_str::<(IgnoredAny, PixelsBody)>(body)
            .map(|(_, p)| Event::Pixels(p.updates))
            .map_err(Into::into)
    } else if body.starts_with("[\"resync\"") {
        Ok(Event::Resync)
    } else {
        Ok(Event::Other)
    })
}

/// `45<n>-[...]` (a binary event of the default namespace, no ack id) →
/// (attachment count, `[...]`); `None` for anything else.
pub(crate) fn binary_event(t: &str) -> Option<(usize, &str)> {
    let rest = t.strip_prefix("45")?;
    let (n, body) = rest.split_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || !body.starts_with('[') {
        return None;
    }
    Some((n.parse().ok()?, body))
}

#[derive(Deserialize)]
struct Placeholder {
    #[serde(rename = "_placeholder")]
    placeholder: bool,
    num: usize,
}

/// Which attachment a binary `pixels` event's header names
/// (`["pixels",{"board"},{"_placeholder":true,"num":k}]` → `k`); `None`
/// when the header is another event.
pub(crate) fn pixels_attachment(header: &str) -> Option<Result<usize>> {
    if !header.starts_with("[\"pixels\"") {
        return None;
    }
    Some(
        serde_json::from_str::<(IgnoredAny, IgnoredAny, Placeholder)>(header)
            .map_err(anyhow::Error::from)
            .and_then(|(_, _, p)| {
                if p.placeholder {
                    Ok(p.num)
                } else {
                    bail!("pixels attachment is not a placeholder")
                }
            }),
    )
}

/// One binary update frame → its updates, with the server's codec; the
/// frame must be for a `width` × `height` board.
pub(crate) fn frame_updates(bytes: &[u8], width: u32, height: u32) -> Result<Vec<Upd>> {
    let f = pixel_core::domain::frame::decode(bytes)?;
    if (f.width, f.height) != (width, height) {
        bail!(
            "frame for a {}x{} board, joined a {width}x{height} one",
            f.width,
            f.height
        );
    }
    Ok(f.updates
        .into_iter()
        .map(|u| Upd {
            seq: u.seq,
            x: u.x,
            y: u.y,
            color: u.color,
            expires_at: u.expires_at,
        })
        .collect())
}

/// Bytes a server → client WebSocket message of `payload` bytes takes:
/// the payload and its (unmasked) frame header.
pub(crate) fn ws_wire_bytes(payload: usize) -> u64 {
    let header = match payload {
        0..126 => 2,
        126..65536 => 4,
        _ => 10,
    };
    (payload + header) as u64
}

/// The `place` event with ack id `id`.
pub(crate) fn place_packet(id: u64, board: &str, x: u32, y: u32, color: u8) -> String {
    format!("42{id}[\"place\",{{\"board\":\"{board}\",\"x\":{x},\"y\":{y},\"color\":{color}}}]")
}

/// A `place` ack (the fields the benchmarks use).
#[derive(Debug, Deserialize)]
pub(crate) struct PlaceAck {
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub update: Option<Upd>,
}

pub(crate) fn place_ack(body: &str) -> Result<PlaceAck> {
    let mut v: Vec<PlaceAck> = serde_json::from_str(body)?;
    v.pop().context("empty ack")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_and_events_parse() {
        assert_eq!(ack("430[{}]"), Some((0, "[{}]")));
        assert_eq!(ack("43123[1]"), Some((123, "[1]")));
        assert_eq!(ack("42[1]"), None);
        assert_eq!(ack("43x[1]"), None);
        let e = event(
            r#"42["pixels",{"board":"main","updates":[{"seq":5,"x":1,"y":2,"color":3,"placed_at":1,"expires_at":9,"by":"a"},{"seq":6,"x":1,"y":2,"color":0}]}]"#,
        );
        match e {
            Some(Ok(Event::Pixels(u))) => {
                assert_eq!(u.len(), 2);
                assert_eq!((u[0].seq, u[0].expires_at), (5, Some(9)));
                assert_eq!((u[1].color, u[1].expires_at), (0, None));
            }
            _ => panic!("pixels event expected"),
        }
        assert!(matches!(
            event(r#"42["resync",{"board":"main","seq":3}]"#),
            Some(Ok(Event::Resync))
        ));
        assert!(event("2").is_none());
        let a = place_ack(r#"[{"ok":true,"update":{"seq":7,"x":0,"y":1,"color":2,"expires_at":5},"cooldown_until":1}]"#).unwrap();
        assert!(a.ok && a.update.unwrap().seq == 7);
        let a = place_ack(r#"[{"ok":false,"error":"cooldown","retry_after_ms":3}]"#).unwrap();
        assert_eq!(a.error.as_deref(), Some("cooldown"));
        assert_eq!(
            place_packet(4, "main", 1, 2, 3),
            r#"424["place",{"board":"main","x":1,"y":2,"color":3}]"#
        );
    }

    #[test]
    fn binary_events_parse_and_frames_decode() {
        use pixel_core::domain::{Update, frame};
        let header = r#"["pixels",{"board":"main"},{"_placeholder":true,"num":0}]"#;
        let packet = format!("451-{header}");
        assert_eq!(binary_event(&packet), Some((1, header)));
        assert_eq!(binary_event("45-[1]"), None);
        assert_eq!(binary_event("451[1]"), None);
        assert_eq!(binary_event("42[1]"), None);
        assert!(matches!(pixels_attachment(header), Some(Ok(0))));
        assert!(pixels_attachment(r#"["other",{},{"_placeholder":true,"num":0}]"#).is_none());
        assert!(matches!(
            pixels_attachment(r#"["pixels",{"board":"main"},{"num":0}]"#),
            Some(Err(_))
        ));
        let updates = [
            Update {
                seq: 41,
                x: 3,
                y: 2,
                color: 5,
                placed_at: Some(1_000),
                expires_at: Some(61_000),
                by: None,
            },
            Update {
                seq: 42,
                x: 0,
                y: 1,
                color: 0,
                placed_at: None,
                expires_at: None,
                by: None,
            },
        ];
        let bytes = frame::encode(8, 4, &updates).unwrap();
        let got = frame_updates(&bytes, 8, 4).unwrap();
        let got: Vec<_> = got
            .iter()
            .map(|u| (u.seq, u.x, u.y, u.color, u.expires_at))
            .collect();
        assert_eq!(
            got,
            [(41, 3, 2, 5, Some(61_000)), (42, 0, 1, 0, None)],
            "the frame's updates, as the JSON path would see them"
        );
        assert!(
            frame_updates(&bytes, 8, 5).is_err(),
            "another board's frame"
        );
        assert!(frame_updates(&bytes[..bytes.len() - 1], 8, 4).is_err());
        assert!(frame_updates(b"not a frame", 8, 4).is_err());
        assert_eq!(ws_wire_bytes(61), 63);
        assert_eq!(ws_wire_bytes(126), 130);
        assert_eq!(ws_wire_bytes(70_000), 70_010);
    }
}
