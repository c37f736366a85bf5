//! The web page, compiled into the binary so the one command that runs the
//! game needs nothing beside it. The browser client is plain static files in
//! `web/` (ES modules under `web/js/`, served as they are);
//! `web/vendor/socket.io.min.js` is the official socket.io-client build from
//! npm (see `web/vendor.sh`). Only the page's files are served: `web/` also
//! holds package.json, tsconfig.json, type declarations and unit tests.
//! Keep `PAGE_FILES` in step with nginx's allow-list
//! (nginx/realtime-pixel.conf.template).

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// (URL path, body, content type) of every file the page loads.
const PAGE_FILES: &[(&str, &str, &str)] = &[
    ("/", include_str!("../../web/index.html"), HTML),
    ("/index.html", include_str!("../../web/index.html"), HTML),
    ("/style.css", include_str!("../../web/style.css"), CSS),
    (
        "/vendor/socket.io.min.js",
        include_str!("../../web/vendor/socket.io.min.js"),
        JS,
    ),
    ("/js/main.js", include_str!("../../web/js/main.js"), JS),
    ("/js/api.js", include_str!("../../web/js/api.js"), JS),
    ("/js/history.js", include_str!("../../web/js/history.js"), JS),
    ("/js/input.js", include_str!("../../web/js/input.js"), JS),
    ("/js/render.js", include_str!("../../web/js/render.js"), JS),
    ("/js/session.js", include_str!("../../web/js/session.js"), JS),
    ("/js/sync.js", include_str!("../../web/js/sync.js"), JS),
    ("/js/types.js", include_str!("../../web/js/types.js"), JS),
    ("/js/ui.js", include_str!("../../web/js/ui.js"), JS),
    ("/js/view.js", include_str!("../../web/js/view.js"), JS),
];

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
    PAGE_FILES
        .iter()
        .fold(Router::new(), |router, &(path, body, content_type)| {
            let response = asset(body, content_type);
            router.route(path, get(move || async move { response }))
        })
}
