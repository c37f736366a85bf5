use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use pixel_core::auth::AccessTokens;
use pixel_core::store::{RedisSettings, Store, connect_redis};
use pixel_core::{Game, SystemClock};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = api::config::ApiConfig::parse();
    pixel_core::telemetry::init_tracing(config.telemetry.log_format);
    let url = config.store.redis_url.clone().ok_or_else(|| {
        anyhow::anyhow!(
            "REDIS_URL is required for the api service; run `realtime-pixel` for the all-in-one server"
        )
    })?;
    let secret = config.auth.required_secret()?;
    let store: Arc<dyn Store> =
        Arc::new(connect_redis(&RedisSettings::new(&url), Duration::from_secs(60)).await?);
    let clock = Arc::new(SystemClock);
    let game = Arc::new(Game::new(
        store.clone(),
        config.game.boards()?,
        clock.clone(),
    ));
    game.init().await?;
    let tokens = Arc::new(AccessTokens::new(
        &secret,
        config.auth.access_token_ttl_s,
        clock.clone(),
    ));
    let app = api::startup::app(game, tokens, clock, config.accounts.settings())
        .merge(pixel_core::telemetry::ops_router(store));
    let listener = tokio::net::TcpListener::bind((config.bind_addr, config.port)).await?;
    tracing::info!(addr = %listener.local_addr()?, "api listening");
    pixel_core::http::serve(listener, app, pixel_core::http::shutdown_signal()).await?;
    Ok(())
}
