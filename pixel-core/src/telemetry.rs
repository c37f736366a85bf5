//! Tracing and metrics set up once per process, and the operational routes
//! every service serves: `/healthz` (the process runs), `/readyz` (the store
//! answers) and `/metrics` (Prometheus text format).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::store::Reachable;

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

/// The process-wide Prometheus recorder, installed on first use, with the
/// process metrics (RSS, CPU, open fds) and `pixel_build_info` registered.
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
        describe();
        process_collector().describe();
        metrics::gauge!(
            "pixel_build_info",
            "service" => service_name(),
            "version" => env!("CARGO_PKG_VERSION"),
            "revision" => option_env!("PIXEL_REVISION").unwrap_or("unknown"),
        )
        .set(1.0);
        handle
    })
}

/// Installs the recorder, for code that takes metric handles to keep
/// (per-board handles made once at start-up instead of a label per
/// event): a handle taken before the recorder counts into nothing.
pub fn install_recorder() {
    metrics_handle();
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!("pixel_placements_total", "Pixels placed, per board");
    describe_counter!("pixel_decays_total", "Pixels removed by decay, per board");
    describe_counter!(
        "http_requests_total",
        "HTTP requests by service, matched route, method and status"
    );
    describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency by service and matched route"
    );
    describe_gauge!(
        "pixel_build_info",
        "Always 1; the labels name the service, its version and source revision"
    );
}

fn process_collector() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(metrics_process::Collector::default)
}

/// The service this process runs, from its executable's name:
/// `pixel-api` → `api`, `realtime-pixel` → `standalone`.
fn service_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let exe = std::env::args_os()
            .next()
            .map(std::path::PathBuf::from)
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_default();
        service_of_executable(&exe).to_owned()
    })
}

fn service_of_executable(exe: &str) -> &str {
    match exe {
        "realtime-pixel" => "standalone",
        "" => "unknown",
        other => other.strip_prefix("pixel-").unwrap_or(other),
    }
}

/// A connection besides the store that the service needs to do its job
/// (the gateway's pub/sub, the worker's publisher): `None` while it is up,
/// else what is down.
pub type Dependency = Arc<dyn Fn() -> Option<&'static str> + Send + Sync>;

#[derive(Clone)]
struct Readiness {
    store: Arc<dyn Reachable>,
    dependencies: Vec<Dependency>,
}

/// `/healthz`, `/readyz` and `/metrics`. Ready means the store answers a
/// ping and every dependency is connected.
pub fn ops_router(store: Arc<dyn Reachable>, dependencies: Vec<Dependency>) -> Router {
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
        tracing::warn!(error = %crate::error::Report(&e), "not ready");
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
    process_collector().collect();
    handle.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

/// The method label of a request: the standard methods by name, anything
/// else `other`, so that no client can create series at will.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware recording `http_requests_total{service,route,method,status}`
/// and `http_request_duration_seconds{service,route}`. Every label comes
/// from a bounded set: the matched route pattern (never the raw path) or
/// `unmatched`, a fixed method set, and the status the server chose.
pub async fn track_http(service: &'static str, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(req.method());
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("http_request_duration_seconds", "service" => service, "route" => route.clone())
        .record(start.elapsed().as_secs_f64());
    metrics::counter!("http_requests_total", "service" => service, "route" => route, "method" => method, "status" => status).increment(1);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::OPTIONS), "OPTIONS");
        for raw in ["FOO", "TRACE", "CONNECT", "get"] {
            let m = Method::from_bytes(raw.as_bytes()).unwrap();
            assert_eq!(method_label(&m), "other", "{raw}");
        }
    }

    #[test]
    fn services_are_named_after_their_executable() {
        assert_eq!(service_of_executable("pixel-api"), "api");
        assert_eq!(service_of_executable("pixel-gateway"), "gateway");
        assert_eq!(service_of_executable("pixel-worker"), "worker");
        assert_eq!(service_of_executable("realtime-pixel"), "standalone");
        assert_eq!(service_of_executable(""), "unknown");
    }
}
