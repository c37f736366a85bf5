//! A session as the application sees it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use engineioxide_core::{ProtocolVersion, Str, TransportType};
use http::request::Parts;
use smallvec::{SmallVec, smallvec};
use tokio::sync::Notify;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::AbortHandle;

pub use engineioxide_core::Sid;

use crate::frame::frame_message;
use crate::packet::Packet;
use crate::queue::{Entry, Queue};

/// Why a [`Socket`] was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The client closed the session (close packet or WebSocket close).
    TransportClose,
    /// The client made two long-polling requests of one kind at once.
    MultipleHttpPollingError,
    /// The client sent something that is not an Engine.IO packet.
    PacketParsingError,
    /// The transport failed (the connection dropped, a poll was abandoned).
    TransportError,
    /// The client did not answer a ping in time.
    HeartbeatTimeout,
    /// The server is closing.
    ClosingServer,
}

/// A place held in a socket's send queue for one message (and its binary
/// attachments). Dropping it unused gives the place back.
pub struct Permit<'a> {
    queue: &'a Queue,
    framed: bool,
    used: bool,
}

impl Permit<'_> {
    fn send(mut self, entry: Entry) {
        self.used = true;
        self.queue.push_reserved(entry);
    }

    /// Sends a text message.
    #[inline]
    pub fn emit(self, msg: Str) {
        let packet = message_packet(msg, self.framed);
        self.send(smallvec![packet]);
    }

    /// Sends a binary message.
    #[inline]
    pub fn emit_binary(self, data: Bytes) {
        self.send(smallvec![Packet::Binary(data)]);
    }

    /// Sends a text message and its binary attachments, adjacent.
    pub fn emit_many(self, msg: Str, data: VecDeque<Bytes>) {
        let mut entry = SmallVec::with_capacity(1 + data.len());
        entry.push(message_packet(msg, self.framed));
        entry.extend(data.into_iter().map(Packet::Binary));
        self.send(entry);
    }

    /// Sends binary messages, adjacent.
    pub fn emit_many_binary(self, bin: Bytes, data: Vec<Bytes>) {
        let mut entry = SmallVec::with_capacity(1 + data.len());
        entry.push(Packet::Binary(bin));
        entry.extend(data.into_iter().map(Packet::Binary));
        self.send(entry);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.used {
            self.queue.release();
        }
    }
}

/// A message as queued: for a WebSocket session already framed (the frame
/// of a broadcast is made once, see `frame::frame_message`).
fn message_packet(msg: Str, framed: bool) -> Packet {
    if framed {
        Packet::WsFrame(frame_message(&msg))
    } else {
        Packet::Message(msg)
    }
}

/// One Engine.IO session, whatever its transport.
pub struct Socket<D>
where
    D: Default + Send + Sync + 'static,
{
    /// The session id.
    pub id: Sid,
    /// The protocol version of the session.
    pub protocol: ProtocolVersion,
    transport: AtomicU8,
    /// A WebSocket is in its probe/upgrade sequence for this session.
    pub(crate) upgrading: AtomicBool,
    /// A long-poll GET is pending.
    pub(crate) polling: AtomicBool,
    /// A long-poll POST is being read.
    pub(crate) posting: AtomicBool,
    pub(crate) queue: Queue,
    /// Pongs received by POST, for the polling heartbeat task.
    pub(crate) pong: Notify,
    /// The polling heartbeat task, stopped when the session upgrades.
    pub(crate) heartbeat: Mutex<Option<AbortHandle>>,
    close_fn: Box<dyn Fn(Sid, DisconnectReason) + Send + Sync>,
    /// Data of the application.
    pub data: D,
    /// The request that opened the session.
    pub req_parts: Parts,
}

impl<D> Socket<D>
where
    D: Default + Send + Sync + 'static,
{
    pub(crate) fn new(
        id: Sid,
        transport: TransportType,
        max_buffer_size: usize,
        req_parts: Parts,
        close_fn: Box<dyn Fn(Sid, DisconnectReason) + Send + Sync>,
    ) -> Self {
        Self {
            id,
            protocol: ProtocolVersion::V4,
            transport: AtomicU8::new(transport as u8),
            upgrading: AtomicBool::new(false),
            polling: AtomicBool::new(false),
            posting: AtomicBool::new(false),
            queue: Queue::new(max_buffer_size),
            pong: Notify::new(),
            heartbeat: Mutex::new(None),
            close_fn,
            data: D::default(),
            req_parts,
        }
    }

    /// The current transport.
    pub fn transport_type(&self) -> TransportType {
        TransportType::from(self.transport.load(Ordering::Acquire))
    }

    pub(crate) fn set_websocket(&self) {
        self.transport
            .store(TransportType::Websocket as u8, Ordering::Release);
        self.upgrading.store(false, Ordering::Release);
        let heartbeat = self
            .heartbeat
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = heartbeat {
            task.abort();
        }
    }

    fn framed(&self) -> bool {
        self.transport_type() == TransportType::Websocket
    }

    /// Holds a place in the send queue. `Full` when `max_buffer_size`
    /// entries are queued, `Closed` once the session is closed.
    #[inline]
    pub fn reserve(&self) -> Result<Permit<'_>, TrySendError<()>> {
        self.queue.try_reserve()?;
        Ok(Permit {
            queue: &self.queue,
            framed: self.framed(),
            used: false,
        })
    }

    /// Sends a text message; on failure the message is given back.
    pub fn emit(&self, msg: impl Into<Str>) -> Result<(), TrySendError<Str>> {
        let msg = msg.into();
        let packet = message_packet(msg.clone(), self.framed());
        self.queue.try_push(smallvec![packet]).map_err(|e| match e {
            TrySendError::Full(_) => TrySendError::Full(msg),
            TrySendError::Closed(_) => TrySendError::Closed(msg),
        })
    }

    /// Sends a binary message; on failure the data is given back.
    pub fn emit_binary<B: Into<Bytes>>(&self, data: B) -> Result<(), TrySendError<Bytes>> {
        let data = data.into();
        self.queue
            .try_push(smallvec![Packet::Binary(data.clone())])
            .map_err(|e| match e {
                TrySendError::Full(_) => TrySendError::Full(data),
                TrySendError::Closed(_) => TrySendError::Closed(data),
            })
    }

    /// Sends a message that may be dropped: only the latest volatile message
    /// not yet written is kept, outside the queue's bound. False once closed.
    #[inline]
    pub fn emit_volatile(&self, msg: impl Into<Str>) -> bool {
        let packet = message_packet(msg.into(), self.framed());
        self.queue.set_volatile(smallvec![packet])
    }

    /// [`Socket::emit_volatile`] for a binary message.
    #[inline]
    pub fn emit_binary_volatile<B: Into<Bytes>>(&self, data: B) -> bool {
        self.queue
            .set_volatile(smallvec![Packet::Binary(data.into())])
    }

    /// [`Socket::emit_volatile`] for a message and its attachments.
    #[inline]
    pub fn emit_many_volatile(&self, msg: Str, data: VecDeque<Bytes>) -> bool {
        let mut entry = SmallVec::with_capacity(1 + data.len());
        entry.push(message_packet(msg, self.framed()));
        entry.extend(data.into_iter().map(Packet::Binary));
        self.queue.set_volatile(entry)
    }

    /// Closes the session: what is queued is still written, then a polling
    /// client gets a close packet and a WebSocket is closed. The handler is
    /// told once.
    pub fn close(&self, reason: DisconnectReason) {
        self.queue.push_internal(Packet::Close);
        (self.close_fn)(self.id, reason);
    }

    /// Closes the session without a close packet (the client asked for it or
    /// is gone). A pending poll is ended with a noop.
    pub(crate) fn close_quietly(&self, reason: DisconnectReason) {
        if self.transport_type() == TransportType::Polling {
            self.queue.push_internal(Packet::Noop);
        }
        (self.close_fn)(self.id, reason);
    }

    /// Whether the session is closed (nothing more can be sent).
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }

    /// Waits until the session is closed.
    pub async fn closed(&self) {
        self.queue.closed().await
    }
}

impl<D: Default + Send + Sync + 'static> std::fmt::Debug for Socket<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("sid", &self.id)
            .field("protocol", &self.protocol)
            .field("transport", &self.transport_type())
            .field("queue", &self.queue)
            .finish()
    }
}
