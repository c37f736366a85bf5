//! Delivering removals from outside the gateways: `socketioxide-emitter`
//! builds the same adapter message a gateway's `io.to(room).emit(..)` would
//! and publishes it on the adapter's channel. The gateways' adapter uses
//! sharded pub/sub (fred driver), so the emitter must SPUBLISH: a plain
//! PUBLISH never reaches them.

use async_trait::async_trait;
use fred::clients::Client;
use fred::interfaces::PubsubInterface;
use pixel_core::broadcast::{Broadcaster, room};
use pixel_core::domain::{BoardId, PixelsEvent, Update};
use socketioxide_emitter::{Driver, IoEmitter};

/// The emitter's transport: SPUBLISH over a reconnecting fred client.
pub struct ShardedPublisher(pub Client);

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PublishError(#[from] fred::error::Error);

impl Driver for ShardedPublisher {
    type Error = PublishError;

    async fn emit(&self, channel: String, data: Vec<u8>) -> Result<(), PublishError> {
        self.0.spublish::<(), _, _>(channel, data).await?;
        Ok(())
    }
}

#[async_trait]
impl Broadcaster for ShardedPublisher {
    async fn pixels(&self, board: &BoardId, updates: &[Update]) -> anyhow::Result<()> {
        IoEmitter::new()
            .to(room(board))
            .emit("pixels", &PixelsEvent { board, updates }, self)
            .await
            .map_err(|e| anyhow::anyhow!("emit to {board} failed: {e}"))?;
        Ok(())
    }
}
