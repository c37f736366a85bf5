//! Serving an axum app: every service (and the standalone server) runs
//! through [`serve`], so graceful shutdown behaves the same everywhere.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
///
/// Every accepted connection gets `TCP_NODELAY`: a Socket.IO ack or a
/// `pixels` event is one small write that must leave at once. With Nagle's
/// algorithm on (axum's default) it waits for the peer's next ACK, and a
/// place ack's latency becomes the client's send interval.
pub async fn serve(
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

/// Set once shutdown begins; `/readyz` answers 503 from then on (pass
/// [`Draining::dependency`] to the ops router).
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// A readiness dependency that is down while draining.
    pub fn dependency(&self) -> crate::telemetry::Dependency {
        let d = self.clone();
        Arc::new(move || d.is_draining().then_some("shutdown in progress"))
    }
}

/// Serves `app` until `shutdown`, then shuts down in order: readiness turns
/// 503 at once, the process keeps serving for the ready delay, then the
/// listener closes (no new connections) and `on_close` runs (close the
/// sockets, stop background tasks) while in-flight requests finish — all of
/// which gets the drain deadline, after which it returns regardless.
pub async fn serve_gracefully(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    draining: Draining,
    config: &ShutdownConfig,
    on_close: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let delay = Duration::from_millis(config.shutdown_ready_delay_ms);
    let deadline = Duration::from_millis(config.shutdown_drain_ms);
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    let server = serve(listener, app, async move {
        shutdown.await;
        draining.start();
        tracing::info!(?delay, "shutting down: not ready any more");
        tokio::time::sleep(delay).await;
        let _ = closed_tx.send(());
    });
    tokio::pin!(server);
    tokio::select! {
        r = &mut server => return r,
        _ = closed_rx => {}
    }
    tracing::info!(?deadline, "listener closed; draining");
    let drain = async {
        let (served, ()) = tokio::join!(server, on_close);
        served
    };
    match tokio::time::timeout(deadline, drain).await {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!("drain deadline passed; exiting with requests in flight");
            Ok(())
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
