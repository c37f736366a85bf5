//! The web page, compiled into the binary so the one command that runs the
//! game needs nothing beside it. The browser client is plain static files in
//! `web/`; `web/vendor/socket.io.min.js` is the official socket.io-client
//! build from npm (see `web/vendor.sh`).

use axum::Router;
use axum::http::{HeaderValue, header};
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
}
