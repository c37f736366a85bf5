//! The worker as a cluster service: sweeps over the Redis store (whose
//! board feeds carry the removals to every gateway) and serves its ops
//! routes.

use std::future::Future;
use std::sync::Arc;

use pixel_core::{Game, Role, Stores, SystemClock};
use tokio::net::TcpListener;

use crate::config::WorkerConfig;

/// Builds the worker from its configuration and runs it until `shutdown`.
pub async fn run(
    config: WorkerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let stores = Stores::open(&config.store, Role::Worker).await?;
    let game = Game::open(stores.boards, &config.game, Arc::new(SystemClock)).await?;
    tracing::info!(addr = %listener.local_addr()?, "worker listening");
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let draining = pixel_core::http::Draining::default();
    let ops = tokio::spawn(pixel_core::http::serve(
        listener,
        pixel_core::telemetry::ops_router(game.store().clone(), vec![draining.dependency()]),
        async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        },
    ));
    crate::run(&game, &config.sweep, async move {
        shutdown.await;
        draining.start();
    })
    .await;
    let _ = stop_tx.send(true);
    ops.await??;
    Ok(())
}
