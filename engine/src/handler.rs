//! The interface the application implements to receive sessions and their
//! messages.

use std::sync::Arc;

use bytes::Bytes;
use engineioxide_core::Str;

use crate::socket::{DisconnectReason, Socket};

/// Callbacks of an Engine.IO server. They are called from the connection's
/// task and must not block.
pub trait EngineIoHandler: std::fmt::Debug + Send + Sync + 'static {
    /// Data kept with each socket.
    type Data: Default + Send + Sync + 'static;

    /// A session was opened (after its open packet was queued or sent).
    fn on_connect(self: Arc<Self>, socket: Arc<Socket<Self::Data>>);

    /// A session was closed; called once per session.
    fn on_disconnect(&self, socket: Arc<Socket<Self::Data>>, reason: DisconnectReason);

    /// A text message (packet type 4) arrived, without its type prefix.
    fn on_message(self: &Arc<Self>, msg: Str, socket: Arc<Socket<Self::Data>>);

    /// A binary message arrived.
    fn on_binary(self: &Arc<Self>, data: Bytes, socket: Arc<Socket<Self::Data>>);
}
