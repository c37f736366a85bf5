//! Building the api from its parts, for the cluster binary and the
//! standalone server alike.

use std::sync::Arc;

use axum::Router;
use pixel_core::Game;
use pixel_core::auth::AccessTokens;
use pixel_core::clock::SharedClock;

use crate::accounts::{AccountSettings, Accounts};
use crate::routes::{ApiState, router};

/// The api's routes with their state, tracing and request metrics; without
/// the ops routes, which the server adds once for all its services.
pub fn app(
    game: Arc<Game>,
    tokens: Arc<AccessTokens>,
    clock: SharedClock,
    settings: AccountSettings,
) -> Router {
    let accounts = Arc::new(Accounts::new(
        game.store().clone(),
        tokens.clone(),
        clock,
        settings,
    ));
    router(ApiState::new(game, accounts, tokens))
        .layer(axum::middleware::from_fn(|req, next| {
            pixel_core::telemetry::track_http("api", req, next)
        }))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}
