//! Building the api from its parts, for the cluster binary and the
//! standalone server alike: [`app`] is the api's router, which the
//! standalone server reuses; [`run`] (also `api::run`) is the binary's
//! entry point, serving it through [`Runner`].

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use pixel_core::auth::AccessTokens;
use pixel_core::clock::SharedClock;
use pixel_core::http::Runner;
use pixel_core::store::AccountStore;
use pixel_core::{Game, Role, Stores, SystemClock};

use tokio::net::TcpListener;

use crate::accounts::{AccountSettings, Accounts};
use crate::config::ApiConfig;
use crate::routes::router;
use crate::state::ApiState;

/// The api's routes with their state, tracing and request metrics; without
/// the ops routes, which the server adds once for all its services. Fails
/// if the account rules cannot start (see `Accounts::start`).
pub async fn app(
    game: Arc<Game>,
    accounts: Arc<dyn AccountStore>,
    tokens: Arc<AccessTokens>,
    clock: SharedClock,
    settings: AccountSettings,
) -> anyhow::Result<Router> {
    let accounts = Arc::new(Accounts::start(accounts, tokens.clone(), clock, settings).await?);
    Ok(router(ApiState::new(game, accounts, tokens))
        .layer(axum::middleware::from_fn(|req, next| {
            pixel_core::telemetry::track_http("api", req, next)
        }))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(
            tower_http::set_header::SetResponseHeaderLayer::if_not_present(
                axum::http::header::X_CONTENT_TYPE_OPTIONS,
                axum::http::HeaderValue::from_static("nosniff"),
            ),
        ))
}

/// The api as a cluster service: builds it from its configuration and
/// serves it on `listener` until `shutdown`, then drains (see [`Runner`]).
pub async fn run(
    config: ApiConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let secret = config.auth.required_secret()?;
    let clock: SharedClock = Arc::new(SystemClock);
    let stores = Stores::open(&config.store, Role::Api).await?;
    let game = Game::open(stores.boards.clone(), &config.game, clock.clone()).await?;
    let store = game.store().clone();
    let tokens = Arc::new(AccessTokens::new(
        &secret,
        config.auth.access_token_ttl_s,
        clock.clone(),
    ));
    let runner = Runner::new(&config.shutdown);
    let settings = AccountSettings {
        trusted_proxies: config.trusted_proxies.clone(),
        ..config.accounts.settings()
    };
    let app = self::app(game, stores.accounts, tokens, clock, settings)
        .await?
        .merge(runner.ops(store));
    tracing::info!(addr = %listener.local_addr()?, "api listening");
    runner.run(listener, app, shutdown, async {}).await?;
    Ok(())
}
