//! The worker as a cluster service: sweeps over the Redis store (whose
//! board feeds carry the removals to every gateway) and serves its ops
//! routes. [`run`] (also `worker::run`) is the binary's entry point.
//!
//! The sweeper is the worker's close step in the [`Runner`]: after SIGTERM
//! (and the ready delay) it finishes the store step in flight — each step is
//! atomic, so stopping between two loses nothing — and stops. A step stuck
//! on a paused or failing Redis is bounded by `SHUTDOWN_DRAIN_MS`, like the
//! other services' drains: the process exits by then anyway.

use std::future::Future;
use std::sync::Arc;

use pixel_core::http::Runner;
use pixel_core::{Game, Role, Stores, SystemClock};
use tokio::net::TcpListener;

use crate::config::WorkerConfig;

/// Builds the worker from its configuration and runs it until `shutdown`,
/// then stops the sweeper within the drain deadline (see [`Runner`]).
pub async fn run(
    config: WorkerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let stores = Stores::open(&config.store, Role::Worker).await?;
    let game = Game::open(stores.boards, &config.game, Arc::new(SystemClock)).await?;
    let runner = Runner::new(&config.shutdown);
    let app = runner.ops(game.store().clone());
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let sweeper = tokio::spawn(async move {
        crate::sweep_until(&game, &config.sweep, async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        })
        .await;
    });
    tracing::info!(addr = %listener.local_addr()?, "worker listening");
    runner
        .run(listener, app, shutdown, async move {
            let _ = stop_tx.send(true);
            let _ = sweeper.await;
        })
        .await?;
    Ok(())
}
