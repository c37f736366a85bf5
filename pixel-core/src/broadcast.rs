//! Delivering board updates to the clients watching a board. The gateway
//! implements it over its Socket.IO server (local in standalone mode, the
//! Redis adapter in the cluster); the worker hands its decay removals to it.

use async_trait::async_trait;

use crate::domain::{BoardId, Update};

#[async_trait]
pub trait Broadcaster: Send + Sync + 'static {
    /// Sends one `pixels` event with `updates` to everyone who joined
    /// `board`. Delivery is best effort (pub/sub is at most once); clients
    /// detect gaps by seq and catch up with `join since`.
    async fn pixels(&self, board: &BoardId, updates: &[Update]) -> anyhow::Result<()>;
}

/// The Socket.IO room of a board's watchers, shared by the gateways (which
/// join sockets to it) and the worker (which emits to it from outside).
pub fn room(board: &BoardId) -> String {
    format!("board:{board}")
}
