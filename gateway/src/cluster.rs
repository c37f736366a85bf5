//! The gateway as a cluster replica: the Redis store, and the Socket.IO
//! Redis adapter (fred driver, sharded pub/sub, resubscribing after Redis
//! restarts) so that room broadcasts reach the sockets of every replica.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use pixel_core::Game;
use pixel_core::SystemClock;
use pixel_core::auth::AccessTokens;
use pixel_core::store::pubsub;
use socketioxide_redis::{FredAdapter, RedisAdapterConfig, RedisAdapterCtr};
use tokio::net::TcpListener;

use crate::config::GatewayConfig;
use crate::startup::{Gateway, builder, register};

/// Builds a replica from its configuration and serves it until `shutdown`.
pub async fn run(
    config: GatewayConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let url = config.store.required_url("gateway")?;
    let secret = config.auth.required_secret()?;
    let clock = Arc::new(SystemClock);
    let game = Game::open(&config.store, &config.game, clock.clone(), "gateway", false).await?;
    let store = game.store().clone();
    let tokens = Arc::new(AccessTokens::new(
        &secret,
        config.auth.access_token_ttl_s,
        clock,
    ));
    let gw = Arc::new(Gateway {
        game,
        tokens,
        settings: config.socket.clone(),
    });
    let subscriber = pubsub::subscriber(url)?;
    let adapter =
        RedisAdapterCtr::new_with_fred_config(subscriber.clone(), RedisAdapterConfig::new())
            .await?;
    let (layer, io) = builder(gw)
        .with_adapter::<FredAdapter<_>>(adapter)
        .build_layer();
    register(&io).await?;
    let app = Router::new()
        .merge(pixel_core::telemetry::ops_router(
            store,
            vec![pubsub::dependency("redis pub/sub", subscriber)],
        ))
        .layer(axum::middleware::from_fn(|req, next| {
            pixel_core::telemetry::track_http("gateway", req, next)
        }))
        .layer(layer);
    tracing::info!(addr = %listener.local_addr()?, "gateway listening");
    pixel_core::http::serve(listener, app, async move {
        shutdown.await;
        io.close().await;
    })
    .await?;
    Ok(())
}
