//! The long-polling transport.
//!
//! A GET without `sid` opens a session and answers its open packet. A GET
//! with `sid` waits until something is queued and answers all of it as one
//! payload. A POST carries a payload of packets from the client. One GET
//! and one POST at a time: a second concurrent one closes the session. A
//! GET the client abandons (the connection closes before the answer) closes
//! the session too, as the reference server does. While no GET is pending
//! the session has one task: its heartbeat.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Buf, Bytes, BytesMut};
use engineioxide_core::TransportType;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};

use crate::engine::{Engine, SocketOf};
use crate::error::RequestError;
use crate::handler::EngineIoHandler;
use crate::packet::{Packet, decode_payload, encode_payload};
use crate::socket::{DisconnectReason, Socket};

fn ok(body: Bytes) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=UTF-8")
        .body(Full::new(body))
        .unwrap_or_default()
}

/// Opens a polling session: its heartbeat starts, the handler is told, and
/// the answer is the open packet.
pub(crate) fn open<H: EngineIoHandler>(
    engine: &Arc<Engine<H>>,
    parts: Parts,
) -> Response<Full<Bytes>> {
    let socket = engine.create_session(TransportType::Polling, parts);
    let open = engine.open_packet(socket.id, TransportType::Polling);
    let task = tokio::spawn(heartbeat(
        socket.clone(),
        engine.config.ping_interval,
        engine.config.ping_timeout,
    ));
    *socket
        .heartbeat
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task.abort_handle());
    engine.handler.clone().on_connect(socket);
    ok(encode_payload(std::iter::once(&open)))
}

/// Pings one interval after the handshake and one interval after each pong;
/// closes the session when a pong is late. Stops when the session closes or
/// upgrades (the WebSocket task keeps the heartbeat then).
async fn heartbeat<D: Default + Send + Sync + 'static>(
    socket: Arc<Socket<D>>,
    interval: std::time::Duration,
    timeout: std::time::Duration,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = socket.closed() => return,
        }
        socket.queue.push_internal(Packet::Ping);
        tokio::select! {
            () = socket.pong.notified() => {}
            () = tokio::time::sleep(timeout) => {
                socket.close(DisconnectReason::HeartbeatTimeout);
                return;
            }
            () = socket.closed() => return,
        }
    }
}

/// Closes the session if the GET it guards is dropped before answering.
struct AbandonGuard<'a, D: Default + Send + Sync + 'static> {
    socket: &'a Socket<D>,
    answered: bool,
}

impl<D: Default + Send + Sync + 'static> Drop for AbandonGuard<'_, D> {
    fn drop(&mut self) {
        self.socket.polling.store(false, Ordering::Release);
        if !self.answered {
            self.socket.close_quietly(DisconnectReason::TransportError);
        }
    }
}

/// A long-poll GET.
/// The answer holds at most `max_payload` bytes (at least one packet); the
/// rest waits for the next GET.
pub(crate) async fn poll<D: Default + Send + Sync + 'static>(
    socket: Arc<Socket<D>>,
    max_payload: u64,
) -> Response<Full<Bytes>> {
    let limit = usize::try_from(max_payload).unwrap_or(usize::MAX);
    if socket.transport_type() == TransportType::Websocket {
        // The session upgraded: polling requests are refused, the session
        // stays.
        return RequestError::BadRequest.response();
    }
    if socket.polling.swap(true, Ordering::AcqRel) {
        socket.close(DisconnectReason::MultipleHttpPollingError);
        return RequestError::BadRequest.response();
    }
    let mut guard = AbandonGuard {
        socket: &socket,
        answered: false,
    };
    loop {
        if socket.transport_type() == TransportType::Websocket {
            // Upgraded while this GET waited: end it cleanly. The wake-up
            // that got here may have been meant for the WebSocket task.
            socket.queue.wake_one();
            guard.answered = true;
            return ok(encode_payload(std::iter::once(&Packet::Noop)));
        }
        let entries = socket.queue.take_bounded(limit, |entry| {
            entry.iter().map(Packet::text_len).sum::<usize>() + entry.len() - 1
        });
        if !entries.is_empty() {
            guard.answered = true;
            return ok(encode_payload(entries.iter().flatten()));
        }
        if socket.is_closed() {
            guard.answered = true;
            return RequestError::UnknownSid.response();
        }
        socket.queue.ready().await;
    }
}

/// A POST: the payload is decoded whole before any packet is handled; an
/// invalid one closes the session.
pub(crate) async fn post<H, B>(
    engine: &Arc<Engine<H>>,
    socket: SocketOf<H>,
    body: B,
) -> Response<Full<Bytes>>
where
    H: EngineIoHandler,
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
{
    if socket.transport_type() == TransportType::Websocket {
        return RequestError::BadRequest.response();
    }
    if socket.posting.swap(true, Ordering::AcqRel) {
        socket.close(DisconnectReason::MultipleHttpPollingError);
        return RequestError::BadRequest.response();
    }
    let body = read_body(body, engine.config.max_payload).await;
    socket.posting.store(false, Ordering::Release);
    let packets = match body {
        Ok(body) => decode_payload(body).map_err(|_e| {
            #[cfg(feature = "tracing")]
            tracing::debug!(sid = %socket.id, "invalid payload: {_e}");
            RequestError::BadRequest
        }),
        Err(e) => Err(e),
    };
    let packets = match packets {
        Ok(packets) => packets,
        Err(e) => {
            socket.close(DisconnectReason::PacketParsingError);
            return e.response();
        }
    };
    for packet in packets {
        match packet {
            Packet::Message(msg) => engine.handler.on_message(msg, socket.clone()),
            Packet::Binary(data) => engine.handler.on_binary(data, socket.clone()),
            Packet::Pong => socket.pong.notify_one(),
            Packet::Noop => {}
            Packet::Close => {
                socket.close_quietly(DisconnectReason::TransportClose);
                break;
            }
            _ => {
                socket.close(DisconnectReason::PacketParsingError);
                return RequestError::BadRequest.response();
            }
        }
    }
    ok(Bytes::from_static(b"ok"))
}

/// Reads a request body of at most `limit` bytes.
async fn read_body<B>(mut body: B, limit: u64) -> Result<Bytes, RequestError>
where
    B: Body + Unpin,
{
    if body.size_hint().lower() > limit {
        return Err(RequestError::PayloadTooLarge);
    }
    let mut out = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| RequestError::BadRequest)?;
        if let Ok(mut data) = frame.into_data() {
            if (out.len() + data.remaining()) as u64 > limit {
                return Err(RequestError::PayloadTooLarge);
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                out.extend_from_slice(chunk);
                let n = chunk.len();
                data.advance(n);
            }
        }
    }
    Ok(out.freeze())
}
