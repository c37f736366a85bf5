//! The web page, compiled into the binary so the one command that runs the
//! game needs nothing beside it. The browser client is plain static files in
//! `web/` (ES modules under `web/js/`, served as they are);
//! `web/vendor/socket.io.min.js` is the official socket.io-client build from
//! npm (see `web/vendor.sh`). Only the page's files are served: `web/` also
//! holds package.json, tsconfig.json, type declarations and unit tests.
//! The files are those of `web/files.txt`, the page's one file list, which
//! nginx's allow-list and the web image follow too.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file the page loads, `(URL path, body, content type)` (`/` is
/// index.html too): the lines of `web/files.txt`, embedded by `build.rs`.
const PAGE_FILES: &[(&str, &str, &str)] = include!(concat!(env!("OUT_DIR"), "/page_files.rs"));

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
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

/// Security headers of every page response.
pub(crate) fn security_headers() -> [(HeaderName, HeaderValue); 4] {
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

pub(crate) fn router() -> Router {
    PAGE_FILES
        .iter()
        .fold(Router::new(), |router, &(path, body, content_type)| {
            let response = asset(body, content_type);
            router.route(path, get(move || async move { response }))
        })
        .layer(axum::middleware::map_response(
            |mut res: axum::response::Response| async move {
                res.headers_mut().extend(security_headers());
                res
            },
        ))
}
