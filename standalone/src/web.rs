//! The web page, compiled into the binary so the one command that runs the
//! game needs nothing beside it. The browser client is plain static files in
//! `web/` (ES modules under `web/js/`, served as they are);
//! `web/vendor/socket.io.min.js` is the official socket.io-client build from
//! npm (see `web/vendor.sh`). Only the page's files are served: `web/` also
//! holds package.json, tsconfig.json, type declarations and unit tests.
//! Keep `PAGE_FILES` in step with nginx's allow-list
//! (nginx/realtime-pixel.conf.template).

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// `(URL path, body, content type)` of a file under `web/`.
macro_rules! page_file {
    ($file:literal, $content_type:expr) => {
        (
            concat!("/", $file),
            include_str!(concat!("../../web/", $file)),
            $content_type,
        )
    };
}

/// Every file the page loads (`/` is index.html too).
const PAGE_FILES: &[(&str, &str, &str)] = &[
    ("/", include_str!("../../web/index.html"), HTML),
    page_file!("index.html", HTML),
    page_file!("style.css", CSS),
    page_file!("vendor/socket.io.min.js", JS),
    page_file!("js/main.js", JS),
    page_file!("js/api.js", JS),
    page_file!("js/history.js", JS),
    page_file!("js/input.js", JS),
    page_file!("js/player.js", JS),
    page_file!("js/render.js", JS),
    page_file!("js/session.js", JS),
    page_file!("js/sync.js", JS),
    page_file!("js/types.js", JS),
    page_file!("js/ui.js", JS),
    page_file!("js/view.js", JS),
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
