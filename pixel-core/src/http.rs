//! Running a service. The four binaries (api, gateway, worker, standalone)
//! share one lifecycle, and it lives here once so that it cannot drift
//! between them: [`main`] parses the configuration, starts logging, binds
//! and runs the service's `run(config, listener, shutdown)` until SIGTERM;
//! the service builds its parts and hands its router to a [`Runner`].
//!
//! The runner's order at shutdown, and why:
//!
//! 1. `/readyz` answers 503 at once, while everything still serves, for
//!    `SHUTDOWN_READY_DELAY_MS`: load balancers stop sending new traffic
//!    before anything is refused.
//! 2. The listener closes: no new connections.
//! 3. The service's close step runs (answer placements in flight, close the
//!    sockets so that clients reconnect elsewhere, stop the relays, presence
//!    and the sweeper, and wait for them) while in-flight requests finish.
//! 4. All of step 3 gets `SHUTDOWN_DRAIN_MS`; after it the runner returns
//!    regardless and the process exits: a stuck client or a stuck store
//!    call never holds a pod past its grace period.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::config::LogFormat;
use crate::store::Reachable;
use crate::telemetry::Dependency;

/// What [`main`] needs to know of a binary's configuration.
pub trait ServiceConfig: clap::Parser {
    /// The address and port to listen on (`BIND_ADDR`, `PORT`).
    fn listen(&self) -> (IpAddr, u16);
    /// `LOG_FORMAT`.
    fn log_format(&self) -> LogFormat;
}

/// The shutdown future a service runs until: SIGTERM or Ctrl-C in the
/// binaries, whatever the test decides in tests.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A binary's whole `main`: the configuration (a malformed setting exits at
/// once, naming it), logging, the listener, then `run` until SIGTERM; the
/// exit status says whether it ran cleanly.
pub async fn main<C, F, Fut>(run: F) -> std::process::ExitCode
where
    C: ServiceConfig,
    F: FnOnce(C, TcpListener, Shutdown) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let config: C = crate::config::parse_or_exit();
    crate::telemetry::init_tracing(config.log_format());
    crate::config::exit_status(
        async {
            let listener = bind(config.listen()).await?;
            run(config, listener, Box::pin(shutdown_signal())).await
        }
        .await,
    )
}

/// Binds the listen address, naming it when that fails.
pub async fn bind((addr, port): (IpAddr, u16)) -> anyhow::Result<TcpListener> {
    TcpListener::bind(SocketAddr::new(addr, port))
        .await
        .with_context(|| format!("cannot listen on {}", SocketAddr::new(addr, port)))
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
///
/// Every accepted connection gets `TCP_NODELAY`: a Socket.IO ack or a
/// `pixels` event is one small write that must leave at once. With Nagle's
/// algorithm on (axum's default) it waits for the peer's next ACK, and a
/// place ack's latency becomes the client's send interval.
async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Shutdown timings shared by every service (see the README).
#[derive(Debug, Clone, clap::Args)]
pub struct ShutdownConfig {
    /// After SIGTERM, how long `/readyz` answers 503 while the process
    /// still serves, so that load balancers stop sending it traffic.
    #[arg(long, env = "SHUTDOWN_READY_DELAY_MS", default_value_t = 0)]
    pub shutdown_ready_delay_ms: u64,
    /// Then, how long in-flight requests get to finish once the listener is
    /// closed and sockets are told to go; the process exits after it anyway.
    #[arg(long, env = "SHUTDOWN_DRAIN_MS", default_value_t = 10_000)]
    pub shutdown_drain_ms: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            shutdown_ready_delay_ms: 0,
            shutdown_drain_ms: 10_000,
        }
    }
}

/// Set once shutdown begins; `/readyz` answers 503 from then on.
#[derive(Debug, Clone, Default)]
struct Draining(Arc<AtomicBool>);

impl Draining {
    fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// A readiness dependency that is down while draining.
    fn dependency(&self) -> Dependency {
        let d = self.clone();
        Arc::new(move || d.0.load(Ordering::SeqCst).then_some("shutdown in progress"))
    }
}

/// One service's serve-and-drain lifecycle (see the module docs for the
/// order). Made from the shutdown timings; [`Self::ready_when`] adds what
/// readiness depends on besides the store, [`Self::ops`] gives the ops
/// routes to merge into the service's router, and [`Self::run`] serves it.
pub struct Runner {
    config: ShutdownConfig,
    draining: Draining,
    dependencies: Vec<Dependency>,
}

impl Runner {
    pub fn new(config: &ShutdownConfig) -> Self {
        Self {
            config: config.clone(),
            draining: Draining::default(),
            dependencies: Vec::new(),
        }
    }

    /// `/readyz` also answers 503 while `dependency` reports itself down.
    #[must_use]
    pub fn ready_when(mut self, dependency: Dependency) -> Self {
        self.dependencies.push(dependency);
        self
    }

    /// `/healthz`, `/readyz` and `/metrics` (see
    /// [`ops_router`](crate::telemetry::ops_router)): ready while `store`
    /// answers, every dependency is up and shutdown has not begun. The
    /// service merges them where its own layers should (or should not)
    /// apply to them.
    pub fn ops(&self, store: Arc<dyn Reachable>) -> Router {
        let mut dependencies = self.dependencies.clone();
        dependencies.push(self.draining.dependency());
        crate::telemetry::ops_router(store, dependencies)
    }

    /// Serves `app` on `listener` until `shutdown`, then shuts down in the
    /// module's order: unready for the ready delay, listener closed, then
    /// `on_close` (the service's close step: close sockets, stop and join
    /// its background tasks) while in-flight requests finish, all within
    /// the drain deadline, after which it returns regardless.
    pub async fn run(
        self,
        listener: TcpListener,
        app: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
        on_close: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let delay = Duration::from_millis(self.config.shutdown_ready_delay_ms);
        let deadline = Duration::from_millis(self.config.shutdown_drain_ms);
        let draining = self.draining;
        let (closed_tx, mut closed_rx) = tokio::sync::oneshot::channel::<()>();
        let server = serve(listener, app, async move {
            shutdown.await;
            draining.start();
            tracing::info!(?delay, "shutting down: not ready any more");
            tokio::time::sleep(delay).await;
            let _ = closed_tx.send(());
        });
        tokio::pin!(server);
        let served = tokio::select! {
            r = &mut server => Some(r),
            _ = &mut closed_rx => None,
        };
        // With no connection open the server ends as soon as the listener
        // closes, possibly in the same poll as the close signal: the close
        // step still runs then. Only a server that failed while serving
        // returns here.
        let served = match served {
            Some(r) if closed_rx.try_recv().is_err() => return r,
            other => other,
        };
        tracing::info!(?deadline, "listener closed; draining");
        let drain = async {
            match served {
                Some(r) => {
                    on_close.await;
                    r
                }
                None => {
                    let (served, ()) = tokio::join!(server, on_close);
                    served
                }
            }
        };
        match tokio::time::timeout(deadline, drain).await {
            Ok(r) => {
                tracing::info!("drained; stopping");
                r
            }
            Err(_) => {
                tracing::warn!("drain deadline passed; exiting with work in flight");
                Ok(())
            }
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes sends before a kill).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn runner(drain_ms: u64) -> Runner {
        Runner::new(&ShutdownConfig {
            shutdown_ready_delay_ms: 0,
            shutdown_drain_ms: drain_ms,
        })
    }

    #[tokio::test]
    async fn the_close_step_runs_even_when_no_connection_is_open() {
        // Without connections the server ends in the same poll as the
        // close signal; repeated, either order comes up.
        for _ in 0..50 {
            let r = runner(10_000);
            let app = r.ops(Arc::new(MemoryStore::new()));
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let closed = Arc::new(AtomicBool::new(false));
            let c = closed.clone();
            r.run(listener, app, async {}, async move {
                c.store(true, Ordering::SeqCst);
            })
            .await
            .unwrap();
            assert!(closed.load(Ordering::SeqCst), "the close step was skipped");
        }
    }

    #[tokio::test]
    async fn a_close_step_that_never_ends_is_cut_at_the_drain_deadline() {
        let r = runner(200);
        let app = r.ops(Arc::new(MemoryStore::new()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let started = std::time::Instant::now();
        tokio::time::timeout(
            Duration::from_secs(5),
            r.run(listener, app, async {}, std::future::pending()),
        )
        .await
        .expect("the runner returns by the drain deadline")
        .unwrap();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(200),
            "returned before the deadline: {took:?}"
        );
    }
}
