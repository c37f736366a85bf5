//! The WebSocket transport: the handshake, the probe/upgrade sequence of a
//! polling session, and the one task per connection that reads, writes what
//! the session queued and keeps the heartbeat, in one `select!` over the
//! connection, the queue and a timer.
//!
//! It sits above the sessions (`engine`, `socket`) and below the HTTP entry
//! (`service`), which hands it handshakes and streams. The bytes on the wire
//! are the framing layer's (`frame`); what is here is the protocol's use of
//! a connection.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use bytes::{Bytes, BytesMut};
use engineioxide_core::{Sid, TransportType};
use http::request::Parts;
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::engine::{Engine, SocketOf};
use crate::error::RequestError;
use crate::frame::{Conn, Incoming, OP_BINARY, OP_PONG, OP_TEXT, WsError, frame, frame_message};
use crate::handler::EngineIoHandler;
use crate::packet::Packet;
use crate::queue::Entry;
use crate::socket::DisconnectReason;

fn text(packet: &Packet) -> Bytes {
    let mut out = BytesMut::with_capacity(packet.text_len());
    packet.encode_text(&mut out);
    frame(OP_TEXT, &[&out])
}

/// The frames of a queued entry, in order. A close packet is for polling
/// clients only: a WebSocket is closed by its close frame.
fn entry_frames(entry: Entry, out: &mut Vec<Bytes>) {
    for packet in entry {
        match packet {
            Packet::WsFrame(bytes) => out.push(bytes),
            Packet::Message(msg) => out.push(frame_message(&msg)),
            Packet::Binary(data) => out.push(frame(OP_BINARY, &[&data])),
            Packet::Close => {}
            other => out.push(text(&other)),
        }
    }
}

/// The reason a session closed by a failed connection is given.
fn disconnect_reason(error: &WsError) -> DisconnectReason {
    match error {
        WsError::Io => DisconnectReason::TransportError,
        WsError::Protocol | WsError::TooLarge => DisconnectReason::PacketParsingError,
    }
}

/// `Sec-WebSocket-Accept` for a client key.
fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    STANDARD.encode(sha.finalize())
}

fn header_has(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// Answers a WebSocket handshake (101) and serves the connection once hyper
/// hands it over. A `sid` starts the upgrade of that polling session.
pub(crate) fn upgrade<H, B>(
    engine: Arc<Engine<H>>,
    mut req: Request<B>,
    sid: Option<Sid>,
) -> Response<Full<Bytes>>
where
    H: EngineIoHandler,
    B: Send + 'static,
{
    let headers = req.headers();
    let key = headers.get(header::SEC_WEBSOCKET_KEY).cloned();
    let valid = header_has(headers, header::UPGRADE, "websocket")
        && header_has(headers, header::CONNECTION, "upgrade")
        && headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v == "13");
    let Some(key) = key.filter(|_| valid) else {
        return RequestError::BadRequest.response();
    };
    let upgrading = match sid {
        None => None,
        Some(sid) => match engine.get(&sid) {
            None => return RequestError::UnknownSid.response(),
            Some(socket)
                if socket.transport_type() == TransportType::Websocket
                    || socket.upgrading.swap(true, Ordering::AcqRel) =>
            {
                return RequestError::BadRequest.response();
            }
            Some(socket) => Some(socket),
        },
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    // Boxed: what a task captures stays in its future for the task's whole
    // life, and the session keeps its own copy of the head (see `serve_new`).
    let parts = Box::new(req.into_parts().0);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let conn = Conn::new(TokioIo::new(upgraded), &engine.config);
                match upgrading {
                    Some(socket) => serve_upgrade(engine, socket, conn).await,
                    None => serve_new(engine, conn, parts).await,
                }
            }
            Err(_e) => {
                #[cfg(feature = "tracing")]
                tracing::debug!("websocket upgrade failed: {_e}");
                if let Some(socket) = upgrading {
                    socket.upgrading.store(false, Ordering::Release);
                }
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept_key(key.as_bytes()))
        .body(Full::default())
        .unwrap_or_default()
}

/// Serves a stream whose WebSocket handshake was made elsewhere.
pub(crate) async fn serve_stream<H, S>(
    engine: Arc<Engine<H>>,
    io: S,
    sid: Option<Sid>,
    parts: Box<Parts>,
) where
    H: EngineIoHandler,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut conn = Conn::new(io, &engine.config);
    match sid {
        None => serve_new(engine, conn, parts).await,
        Some(sid) => match engine.get(&sid) {
            Some(socket)
                if socket.transport_type() == TransportType::Polling
                    && !socket.upgrading.swap(true, Ordering::AcqRel) =>
            {
                serve_upgrade(engine, socket, conn).await
            }
            _ => conn.close(1008).await,
        },
    }
}

/// A session opened over WebSocket: the open packet, then the session.
/// `parts` comes boxed so that the request head is not held twice, once in
/// this future (a parameter lives as long as its future) and once in the
/// session: the box is freed when its content moves into the session.
async fn serve_new<H, S>(engine: Arc<Engine<H>>, mut conn: Conn<S>, parts: Box<Parts>)
where
    H: EngineIoHandler,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let socket = engine.create_session(TransportType::Websocket, unbox(parts));
    let open = engine.open_packet(socket.id, TransportType::Websocket);
    if conn.write(&text(&open)).await.is_err() {
        engine.close_session(socket.id, DisconnectReason::TransportError);
        return;
    }
    engine.handler.clone().on_connect(socket.clone());
    serve(engine, socket, conn).await
}

/// The content of a box, the box freed now: moving out of a boxed parameter
/// inside an async fn would free the box only when the function ends.
#[expect(clippy::boxed_local, reason = "taking the box is the point")]
fn unbox<T>(boxed: Box<T>) -> T {
    *boxed
}

/// The probe/upgrade sequence of a polling session: `2probe` is answered
/// with `3probe` and a noop ends the pending GET; `5` completes the upgrade.
/// Anything else, or no `5` within `upgrade_timeout`, closes this WebSocket
/// and leaves the session on polling.
async fn serve_upgrade<H, S>(engine: Arc<Engine<H>>, socket: SocketOf<H>, mut conn: Conn<S>)
where
    H: EngineIoHandler,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let sequence = async {
        let mut probed = false;
        loop {
            match conn.next().await {
                Ok(Some(Incoming::Text(t))) => match Packet::decode_text(t, false) {
                    Ok(Packet::PingProbe) if !probed => {
                        conn.write(&text(&Packet::PongProbe)).await.ok()?;
                        socket.queue.push_internal(Packet::Noop);
                        probed = true;
                    }
                    Ok(Packet::Upgrade) if probed => return Some(()),
                    _ => return None,
                },
                Ok(Some(Incoming::Ping(p))) => conn.write(&frame(OP_PONG, &[&p])).await.ok()?,
                _ => return None,
            }
        }
    };
    let upgraded = tokio::time::timeout(engine.config.upgrade_timeout, sequence).await;
    if !matches!(upgraded, Ok(Some(()))) || socket.is_closed() {
        socket.upgrading.store(false, Ordering::Release);
        conn.close(1000).await;
        return;
    }
    socket.set_websocket();
    #[cfg(feature = "tracing")]
    tracing::debug!(sid = %socket.id, "upgraded to websocket");
    // A GET still pending ends with a noop; what is queued goes here now.
    socket.queue.wake_all();
    serve(engine, socket, conn).await
}

/// The session's one task: reads, writes and keeps the heartbeat.
async fn serve<H, S>(engine: Arc<Engine<H>>, socket: SocketOf<H>, mut conn: Conn<S>)
where
    H: EngineIoHandler,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = &engine.config;
    // A write that cannot finish within a heartbeat period means a client
    // that no longer reads.
    let write_limit = config.ping_interval + config.ping_timeout;
    let mut deadline = Instant::now() + config.ping_interval;
    let mut awaiting_pong = false;
    let mut frames = Vec::new();
    let outcome: Result<(), WsError> = loop {
        let entries: VecDeque<Entry> = socket.queue.take_all();
        if !entries.is_empty() {
            for entry in entries {
                entry_frames(entry, &mut frames);
            }
            let written = tokio::time::timeout(write_limit, conn.write_frames(&frames)).await;
            frames = Vec::new();
            match written {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break Err(WsError::Io),
                Err(_) => {
                    engine.close_session(socket.id, DisconnectReason::HeartbeatTimeout);
                    break Ok(());
                }
            }
        }
        if socket.is_closed() {
            break Ok(());
        }
        tokio::select! {
            incoming = conn.next() => match incoming {
                Ok(Some(Incoming::Text(t))) => match Packet::decode_text(t, false) {
                    Ok(Packet::Message(msg)) => engine.handler.on_message(msg, socket.clone()),
                    Ok(Packet::Pong) => {
                        if awaiting_pong {
                            awaiting_pong = false;
                            deadline = Instant::now() + config.ping_interval;
                        }
                    }
                    Ok(Packet::Noop) => {}
                    Ok(Packet::Close) => {
                        engine.close_session(socket.id, DisconnectReason::TransportClose);
                        break Ok(());
                    }
                    _ => break Err(WsError::Protocol),
                },
                Ok(Some(Incoming::Binary(data))) => engine.handler.on_binary(data, socket.clone()),
                Ok(Some(Incoming::Ping(p))) => {
                    if conn.write(&frame(OP_PONG, &[&p])).await.is_err() {
                        break Err(WsError::Io);
                    }
                }
                Ok(Some(Incoming::Close)) => {
                    engine.close_session(socket.id, DisconnectReason::TransportClose);
                    break Ok(());
                }
                Ok(None) => break Err(WsError::Io),
                Err(e) => break Err(e),
            },
            () = socket.queue.ready() => {}
            () = tokio::time::sleep_until(deadline) => {
                if awaiting_pong {
                    engine.close_session(socket.id, DisconnectReason::HeartbeatTimeout);
                    break Ok(());
                }
                socket.queue.push_internal(Packet::Ping);
                awaiting_pong = true;
                deadline = Instant::now() + config.ping_timeout;
            }
        }
    };
    let code = match outcome {
        Ok(()) => 1000,
        Err(e) => {
            engine.close_session(socket.id, disconnect_reason(&e));
            e.close_code()
        }
    };
    conn.close(code).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_the_rfc_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
