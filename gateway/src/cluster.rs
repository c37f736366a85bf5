//! The gateway as a cluster replica: the Redis store (whose board feeds the
//! relays read), and the Socket.IO Redis adapter (fred driver, sharded
//! pub/sub, resubscribing after Redis restarts) for what needs the
//! cluster's rooms as a whole, such as the watcher count. Board updates do
//! not travel through the adapter. [`run`] (also `gateway::run`) is the
//! binary's entry point, serving through [`Runner`].

use std::future::Future;
use std::sync::Arc;

use crate::pubsub;
use axum::Router;
use pixel_core::SystemClock;
use pixel_core::auth::AccessTokens;
use pixel_core::http::Runner;
use pixel_core::{Game, Role, Stores};
use socketioxide_redis::{FredAdapter, RedisAdapterConfig, RedisAdapterCtr};
use tokio::net::TcpListener;

use crate::config::GatewayConfig;
use crate::startup::{builder, register};
use crate::state::Gateway;

/// Builds a replica from its configuration and serves it until `shutdown`,
/// then drains (see [`Runner`]).
pub async fn run(
    config: GatewayConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let url = config.store.required_url("gateway")?;
    let secret = config.auth.required_secret()?;
    let clock = Arc::new(SystemClock);
    let stores = Stores::open(&config.store, Role::Gateway).await?;
    let game = Game::open(stores.boards, &config.game, clock.clone()).await?;
    let store = game.store().clone();
    let tokens = Arc::new(AccessTokens::new(
        &secret,
        config.auth.access_token_ttl_s,
        clock,
    ));
    let gw = Arc::new(Gateway::new(game, tokens, config.socket.clone()).await?);
    let subscriber = pubsub::subscriber(url)?;
    let adapter =
        RedisAdapterCtr::new_with_fred_config(subscriber.clone(), RedisAdapterConfig::new())
            .await?;
    let (layer, io) = builder(gw.clone())
        .with_adapter::<FredAdapter<_>>(adapter)
        .build_layer();
    register(&io).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let tasks = gw.start(&io, &stop_rx);
    let runner =
        Runner::new(&config.shutdown).ready_when(pubsub::dependency("redis pub/sub", subscriber));
    let app = Router::new()
        .merge(runner.ops(store))
        .layer(axum::middleware::from_fn(|req, next| {
            pixel_core::telemetry::track_http("gateway", req, next)
        }))
        .layer(crate::startup::detached(layer, &gw.settings));
    tracing::info!(addr = %listener.local_addr()?, "gateway listening");
    runner
        .run(listener, app, shutdown, async move {
            // Acks of placements in flight go out before the sockets close.
            gw.finish_placements().await;
            let _ = stop_tx.send(true);
            io.close().await;
            for task in tasks {
                let _ = task.await;
            }
        })
        .await?;
    Ok(())
}
