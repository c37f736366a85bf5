//! The `pixels` event, sent through the socketioxide adapter: in the cluster
//! it reaches the sockets of every gateway that joined the board's room.

use async_trait::async_trait;
use pixel_core::broadcast::Broadcaster;
pub use pixel_core::broadcast::room;
use pixel_core::domain::{BoardId, PixelsEvent, Update};
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;

/// Broadcasts over a Socket.IO server.
pub struct RoomBroadcaster<A: Adapter>(pub SocketIo<A>);

#[async_trait]
impl<A: Adapter> Broadcaster for RoomBroadcaster<A> {
    async fn pixels(&self, board: &BoardId, updates: &[Update]) -> anyhow::Result<()> {
        emit_pixels(&self.0, board, updates).await
    }
}

/// Sends `updates` to the board's room.
pub async fn emit_pixels<A: Adapter>(
    io: &SocketIo<A>,
    board: &BoardId,
    updates: &[Update],
) -> anyhow::Result<()> {
    io.to(room(board))
        .emit("pixels", &PixelsEvent { board, updates })
        .await
        .map_err(|e| anyhow::anyhow!("broadcast to {board} failed: {e}"))
}
