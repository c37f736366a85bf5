//! The whole game in one process: the api, the gateway (on socketioxide's
//! in-process adapter) and the decay worker over one store, plus the web
//! page, on one port. It composes the same libraries as the cluster — no
//! rule is implemented twice.
//!
//! [`run`] is the binary's entry point — the same `run(config, listener,
//! shutdown)` as `api::run`, `gateway::run` and `worker::run`. It is
//! [`build`] (an [`App`] from configuration and a clock) then [`App::run`]
//! on the wall clock; the integration tests call the two themselves, with a
//! manual clock.

mod web;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use pixel_core::auth::AccessTokens;
use pixel_core::clock::SharedClock;
use pixel_core::config::{AuthConfig, GameConfig, StoreConfig, TelemetryConfig};
use pixel_core::http::Runner;
use pixel_core::{Game, Role, Stores, SystemClock};
use socketioxide::SocketIo;
use tokio::net::TcpListener;

use api::AccountsConfig;
use gateway::SocketSettings;
use worker::SweepSettings;

/// `realtime-pixel`: the all-in-one server.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "realtime-pixel", version, about, args_override_self = true)]
pub struct StandaloneConfig {
    /// Listen port.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// Listen address.
    #[arg(long, env = "BIND_ADDR", default_value = "0.0.0.0")]
    pub bind_addr: std::net::IpAddr,
    #[command(flatten)]
    pub game: GameConfig,
    #[command(flatten)]
    pub auth: AuthConfig,
    #[command(flatten)]
    pub accounts: AccountsConfig,
    #[command(flatten)]
    pub socket: SocketSettings,
    #[command(flatten)]
    pub sweep: SweepSettings,
    #[command(flatten)]
    pub store: StoreConfig,
    #[command(flatten)]
    pub telemetry: TelemetryConfig,
    #[command(flatten)]
    pub shutdown: pixel_core::http::ShutdownConfig,
}

/// A built server, ready to run.
pub struct App {
    router: Router,
    io: SocketIo,
    gateway: Arc<gateway::Gateway>,
    game: Arc<Game>,
    sweep: SweepSettings,
    runner: Runner,
}

/// The all-in-one server: builds it on the wall clock and serves it on
/// `listener` until `shutdown`, then drains (see [`App::run`]).
pub async fn run(
    config: StandaloneConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = build(&config, Arc::new(SystemClock)).await?;
    tracing::info!(
        "Realtime Pixel is running: open http://localhost:{}/",
        listener.local_addr()?.port()
    );
    app.run(listener, shutdown).await
}

impl pixel_core::http::ServiceConfig for StandaloneConfig {
    fn listen(&self) -> (std::net::IpAddr, u16) {
        (self.bind_addr, self.port)
    }

    fn log_format(&self) -> pixel_core::config::LogFormat {
        self.telemetry.log_format
    }
}

/// Builds the server. `clock` is the wall clock in production; tests pass a
/// manual one to step through cooldowns and decay.
pub async fn build(config: &StandaloneConfig, clock: SharedClock) -> anyhow::Result<App> {
    let stores = Stores::open(&config.store, Role::Standalone).await?;
    let game = Game::open(stores.boards, &config.game, clock.clone()).await?;
    let store = game.store().clone();
    let tokens = Arc::new(AccessTokens::new(
        &config.auth.secret_or_random(),
        config.auth.access_token_ttl_s,
        clock.clone(),
    ));
    let gw =
        Arc::new(gateway::Gateway::new(game.clone(), tokens.clone(), config.socket.clone()).await?);
    let (socket_layer, io) = gateway::socket_layer(gw.clone());
    let runner = Runner::new(&config.shutdown);
    let accounts = api::AccountSettings {
        trusted_proxies: config.socket.trusted_proxies.clone(),
        ..config.accounts.settings()
    };
    let router = api::app(game.clone(), stores.accounts, tokens, clock, accounts)
        .await?
        .merge(web::router())
        .merge(runner.ops(store))
        .layer(socket_layer);
    Ok(App {
        router,
        io,
        gateway: gw,
        game,
        sweep: config.sweep.clone(),
        runner,
    })
}

impl App {
    /// Serves until `shutdown` resolves: turns unready, closes every socket
    /// (clients reconnect on their own), stops the relays and the sweeper
    /// and drains HTTP, within the drain deadline (see [`Runner`]).
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let relays = self.gateway.start(&self.io, &stop_rx);
        let sweeper = {
            let game = self.game.clone();
            let sweep = self.sweep.clone();
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                worker::sweep_until(&game, &sweep, async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            })
        };
        let io = self.io.clone();
        let gw = self.gateway.clone();
        // Readiness first, then no new connections, then placements in
        // flight are answered, then the sockets are closed (clients
        // reconnect elsewhere) and the sweeper and the relays stop.
        self.runner
            .run(listener, self.router, shutdown, async move {
                gw.finish_placements().await;
                let _ = stop_tx.send(true);
                io.close().await;
                let _ = sweeper.await;
                for task in relays {
                    let _ = task.await;
                }
            })
            .await?;
        Ok(())
    }
}
