use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use pixel_core::store::{RedisSettings, Store, connect_redis, pubsub};
use pixel_core::{Game, SystemClock};
use worker::emitter::ShardedPublisher;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = worker::config::WorkerConfig::parse();
    pixel_core::telemetry::init_tracing(config.telemetry.log_format);
    let url = config.store.redis_url.clone().ok_or_else(|| {
        anyhow::anyhow!(
            "REDIS_URL is required for the worker service; run `realtime-pixel` for the all-in-one server"
        )
    })?;
    let store: Arc<dyn Store> =
        Arc::new(connect_redis(&RedisSettings::new(&url), Duration::from_secs(60)).await?);
    let game = Game::new(store.clone(), config.game.boards()?, Arc::new(SystemClock));
    game.init().await?;
    let publisher = ShardedPublisher(pubsub::publisher(&url).await?);
    let listener = tokio::net::TcpListener::bind((config.bind_addr, config.port)).await?;
    tracing::info!(addr = %listener.local_addr()?, "worker listening");
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let ops = tokio::spawn(pixel_core::http::serve(
        listener,
        pixel_core::telemetry::ops_router(store),
        async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        },
    ));
    worker::run(
        &game,
        &publisher,
        &config.sweep,
        pixel_core::http::shutdown_signal(),
    )
    .await;
    let _ = stop_tx.send(true);
    ops.await??;
    Ok(())
}
