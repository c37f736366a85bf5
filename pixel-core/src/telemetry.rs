//! Tracing and metrics set up once per process, and the operational routes
//! every service serves: `/healthz` (the process runs), `/readyz` (the store
//! answers) and `/metrics` (Prometheus text format).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::store::Store;

/// Installs the global tracing subscriber (`RUST_LOG`, default `info`).
/// Calling it again is harmless.
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ])
            .expect("static buckets are valid")
            .install_recorder()
            .expect("no other metrics recorder is installed in this process");
        metrics::describe_counter!("pixel_placements_total", "Pixels placed, per board");
        metrics::describe_counter!("pixel_decays_total", "Pixels removed by decay, per board");
        metrics::describe_counter!(
            "http_requests_total",
            "HTTP requests by service, route and status"
        );
        metrics::describe_histogram!(
            "http_request_duration_seconds",
            "HTTP request latency by service and route"
        );
        handle
    })
}

/// A connection besides the store that the service needs to do its job
/// (the gateway's pub/sub, the worker's publisher): `None` while it is up,
/// else what is down.
pub type Dependency = Arc<dyn Fn() -> Option<&'static str> + Send + Sync>;

#[derive(Clone)]
struct Readiness {
    store: Arc<dyn Store>,
    dependencies: Vec<Dependency>,
}

/// `/healthz`, `/readyz` and `/metrics`. Ready means the store answers a
/// ping and every dependency is connected.
pub fn ops_router(store: Arc<dyn Store>, dependencies: Vec<Dependency>) -> Router {
    metrics_handle();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(Readiness {
            store,
            dependencies,
        })
}

async fn readyz(State(r): State<Readiness>) -> Response {
    if let Err(e) = r.store.ping().await {
        tracing::warn!(error = %e, "not ready");
        return (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response();
    }
    if let Some(down) = r.dependencies.iter().find_map(|d| d()) {
        tracing::warn!(dependency = down, "not ready");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{down} unavailable"),
        )
            .into_response();
    }
    (StatusCode::OK, "ready").into_response()
}

async fn render_metrics() -> Response {
    let handle = metrics_handle();
    handle.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

/// Middleware recording `http_requests_total` and
/// `http_request_duration_seconds` by matched route (never the raw path, so
/// the label set stays bounded).
pub async fn track_http(service: &'static str, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "service" => service, "route" => route.clone(), "method" => method, "status" => status).increment(1);
    metrics::histogram!("http_request_duration_seconds", "service" => service, "route" => route)
        .record(start.elapsed().as_secs_f64());
    response
}
