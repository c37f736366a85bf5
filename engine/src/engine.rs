//! The session table: opening, finding and closing sessions.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use engineioxide_core::{Sid, Str, TransportType};
use http::request::Parts;

use crate::config::EngineIoConfig;
use crate::handler::EngineIoHandler;
use crate::packet::Packet;
use crate::socket::{DisconnectReason, Socket};

pub(crate) type SocketOf<H> = Arc<Socket<<H as EngineIoHandler>::Data>>;

#[derive(Debug)]
pub(crate) struct Engine<H: EngineIoHandler> {
    sockets: RwLock<HashMap<Sid, SocketOf<H>>>,
    pub(crate) handler: Arc<H>,
    pub(crate) config: EngineIoConfig,
}

impl<H: EngineIoHandler> Engine<H> {
    pub(crate) fn new(handler: Arc<H>, config: EngineIoConfig) -> Self {
        Self {
            sockets: RwLock::default(),
            handler,
            config,
        }
    }

    /// Registers a new session. The handler is told by the transport once
    /// the open packet is on its way.
    pub(crate) fn create_session(
        self: &Arc<Self>,
        transport: TransportType,
        req_parts: Parts,
    ) -> SocketOf<H> {
        let engine = Arc::downgrade(self);
        let close_fn = Box::new(move |sid, reason| {
            if let Some(engine) = engine.upgrade() {
                engine.close_session(sid, reason);
            }
        });
        let socket = Arc::new(Socket::new(
            Sid::new(),
            transport,
            self.config.max_buffer_size,
            session_head(req_parts),
            close_fn,
        ));
        self.sockets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(socket.id, socket.clone());
        #[cfg(feature = "tracing")]
        tracing::debug!(sid = %socket.id, ?transport, "session opened");
        socket
    }

    pub(crate) fn get(&self, sid: &Sid) -> Option<SocketOf<H>> {
        self.sockets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sid)
            .cloned()
    }

    /// Closes a session once: it leaves the table, its queue takes nothing
    /// more, and the handler is told.
    pub(crate) fn close_session(&self, sid: Sid, reason: DisconnectReason) {
        let socket = self
            .sockets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&sid);
        if let Some(socket) = socket {
            socket.queue.close();
            #[cfg(feature = "tracing")]
            tracing::debug!(%sid, ?reason, "session closed");
            self.handler.on_disconnect(socket, reason);
        }
    }

    /// The open packet of a session (`upgrades` lists WebSocket for a
    /// polling session when WebSocket is allowed).
    pub(crate) fn open_packet(&self, sid: Sid, transport: TransportType) -> Packet {
        let upgrades: &[&str] = if transport == TransportType::Polling
            && self.config.allowed_transport(TransportType::Websocket)
        {
            &["websocket"]
        } else {
            &[]
        };
        let open = serde_json::json!({
            "sid": sid.to_string(),
            "upgrades": upgrades,
            "pingInterval": self.config.ping_interval.as_millis() as u64,
            "pingTimeout": self.config.ping_timeout.as_millis() as u64,
            "maxPayload": self.config.max_payload,
        });
        Packet::Open(Str::from(open.to_string()))
    }
}

/// Headers of the handshake request that only the transport reads: the
/// connection's own (hop-by-hop) headers and the WebSocket handshake's.
/// They mean nothing once the session is open.
const TRANSPORT_HEADERS: [http::HeaderName; 7] = [
    http::header::CONNECTION,
    http::header::UPGRADE,
    http::header::SEC_WEBSOCKET_KEY,
    http::header::SEC_WEBSOCKET_VERSION,
    http::header::SEC_WEBSOCKET_EXTENSIONS,
    http::header::SEC_WEBSOCKET_PROTOCOL,
    http::header::CONTENT_LENGTH,
];

/// The request head a session keeps for the application (`Socket::req_parts`)
/// for its whole life: the handshake request's, less the transport's own
/// headers, in a header map of exactly the size it needs (a header map
/// allocates room for all of the request's headers and more). Every other
/// header, each value in its order, the URI and the extensions stay.
fn session_head(mut parts: Parts) -> Parts {
    let kept = parts
        .headers
        .keys()
        .filter(|name| !TRANSPORT_HEADERS.contains(name))
        .map(|name| parts.headers.get_all(name).iter().count())
        .sum();
    let mut headers = http::HeaderMap::with_capacity(kept);
    let mut name = None;
    for (next, value) in std::mem::take(&mut parts.headers) {
        // `into_iter` names a header once, before the first of its values.
        if next.is_some() {
            name = next;
        }
        if let Some(name) = name.as_ref().filter(|n| !TRANSPORT_HEADERS.contains(n)) {
            headers.append(name.clone(), value);
        }
    }
    parts.headers = headers;
    parts
}

#[cfg(test)]
mod tests {
    use http::header::{CONNECTION, COOKIE, HOST, SEC_WEBSOCKET_KEY, UPGRADE, USER_AGENT};

    use super::*;

    #[test]
    fn a_session_keeps_the_request_head_without_the_transport_headers() {
        let (parts, ()) = http::Request::get("/socket.io/?EIO=4&transport=websocket")
            .header(HOST, "example.com")
            .header(CONNECTION, "Upgrade")
            .header(UPGRADE, "websocket")
            .header(SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==")
            .header(COOKIE, "a=1")
            .header(COOKIE, "b=2")
            .header("x-forwarded-for", "203.0.113.7")
            .header(USER_AGENT, "test")
            .extension(7u32)
            .body(())
            .unwrap()
            .into_parts();
        let head = session_head(parts);
        assert_eq!(head.uri, "/socket.io/?EIO=4&transport=websocket");
        assert_eq!(head.extensions.get::<u32>(), Some(&7));
        let kept: Vec<(&str, &str)> = head
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            kept,
            [
                ("host", "example.com"),
                ("cookie", "a=1"),
                ("cookie", "b=2"),
                ("x-forwarded-for", "203.0.113.7"),
                ("user-agent", "test"),
            ]
        );
        assert!(head.headers.capacity() >= kept.len());
    }

    #[test]
    fn a_request_with_only_transport_headers_leaves_an_unallocated_header_map() {
        let (parts, ()) = http::Request::get("/")
            .header(CONNECTION, "Upgrade")
            .header(UPGRADE, "websocket")
            .body(())
            .unwrap()
            .into_parts();
        let head = session_head(parts);
        assert!(head.headers.is_empty());
        assert_eq!(head.headers.capacity(), 0);
    }
}
