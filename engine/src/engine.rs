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
            req_parts,
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
