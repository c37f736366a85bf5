//! The web page, compiled into the binary so the one command that runs the
//! game needs nothing beside it. The browser client is plain static files in
//! `web/`; `web/vendor/socket.io.min.js` is the official socket.io-client
//! build from npm (see `web/vendor.sh`).

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

fn asset(body: &'static str, content_type: &'static str) -> impl IntoResponse + Clone {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
}

/// The page's Content-Security-Policy: its own scripts, styles and
/// Socket.IO connection only, never framed (clickjacking). Kept in step
/// with `nginx/realtime-pixel.conf.template`.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

/// Security headers of every page response.
pub fn security_headers() -> [(HeaderName, HeaderValue); 4] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ]
}

pub fn router() -> Router {
    let index = asset(
        include_str!("../../web/index.html"),
        "text/html; charset=utf-8",
    );
    let app = asset(
        include_str!("../../web/app.js"),
        "text/javascript; charset=utf-8",
    );
    let style = asset(
        include_str!("../../web/style.css"),
        "text/css; charset=utf-8",
    );
    let sio = asset(
        include_str!("../../web/vendor/socket.io.min.js"),
        "text/javascript; charset=utf-8",
    );
    Router::new()
        .route("/", get(move || async move { index }))
        .route("/app.js", get(move || async move { app }))
        .route("/style.css", get(move || async move { style }))
        .route("/vendor/socket.io.min.js", get(move || async move { sio }))
        .layer(axum::middleware::map_response(
            |mut res: axum::response::Response| async move {
                res.headers_mut().extend(security_headers());
                res
            },
        ))
}
