//! Building the Socket.IO server: limits from
//! [`SocketSettings`](crate::config::SocketSettings), the
//! connect middleware and handlers on namespace `/`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::OriginalUri;
use axum::http::Method;
use axum::http::{HeaderMap, HeaderValue, Request, Uri};
use tower::layer::util::{Identity, Stack};
use tower::util::{Either, MapRequestLayer, option_layer};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use socketioxide::adapter::Adapter;
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{SocketIo, SocketIoBuilder};
use socketioxide_core::adapter::DefinedAdapter;

use crate::config::SocketSettings;
use crate::handlers::{authenticate, on_connect};
use crate::state::Gateway;

/// A Socket.IO builder with the gateway's limits and state applied.
pub(crate) fn builder(gw: Arc<Gateway>) -> SocketIoBuilder {
    let s = &gw.settings;
    SocketIo::builder()
        .ping_interval(s.ping_interval())
        .ping_timeout(s.ping_timeout())
        .max_payload(s.max_payload_bytes as u64)
        .ws_max_message_size(s.max_payload_bytes)
        .ws_max_frame_size(s.max_payload_bytes)
        .max_buffer_size(s.socket_buffer_packets)
        .ws_read_buffer_size(s.ws_read_buffer_bytes)
        .connect_timeout(s.connect_timeout())
        .with_state(gw.clone())
}

/// The path socketioxide serves Engine.IO on (its default).
const ENGINE_IO_PATH: &str = "/socket.io";

/// A request to the Socket.IO layer with its URI and header values copied
/// out of hyper's connection read buffer.
///
/// hyper parses the request head zero-copy: the URI and every header value
/// are slices of the connection's read buffer (8–16 KiB). socketioxide keeps
/// the request's parts for the socket's whole life (`SocketRef::req_parts`),
/// so each idle socket pinned that whole buffer — half of its memory (see
/// README, "Memory per connection: measured"). The copies take the bytes
/// of the head itself, a few hundred. Other requests pass untouched.
pub(crate) fn detach_request<B>(mut req: Request<B>) -> Request<B> {
    if !req.uri().path().starts_with(ENGINE_IO_PATH) {
        return req;
    }
    if let Some(uri) = detach_uri(req.uri()) {
        *req.uri_mut() = uri;
    }
    // axum's router keeps the request's URI as it came in, shared as well.
    if let Some(OriginalUri(original)) = req.extensions().get::<OriginalUri>()
        && let Some(uri) = detach_uri(original)
    {
        req.extensions_mut().insert(OriginalUri(uri));
    }
    let mut headers = HeaderMap::with_capacity(req.headers().len());
    for (name, value) in req.headers() {
        // `from_bytes` copies (a name parsed by hyper already is owned).
        let mut copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        copy.set_sensitive(value.is_sensitive());
        headers.append(name.clone(), copy);
    }
    *req.headers_mut() = headers;
    req
}

/// A copy of `uri` that owns its bytes.
fn detach_uri(uri: &Uri) -> Option<Uri> {
    Uri::try_from(uri.to_string()).ok()
}

/// `layer` (a Socket.IO layer) behind [`detach_request`] and, when
/// `CORS_ORIGINS` lists origins, CORS.
pub(crate) type DetachedLayer<L> = Stack<
    Stack<L, MapRequestLayer<fn(Request<Body>) -> Request<Body>>>,
    Either<CorsLayer, Identity>,
>;

/// Puts [`detach_request`] and CORS in front of a Socket.IO layer.
pub(crate) fn detached<L>(layer: L, settings: &SocketSettings) -> DetachedLayer<L> {
    let detach = Stack::new(
        layer,
        MapRequestLayer::new(detach_request::<Body> as fn(_) -> _),
    );
    Stack::new(detach, option_layer(cors(settings)))
}

/// socket.io's `cors: { origin: [...], credentials: true }`: long-polling
/// from a page of a listed origin (a WebSocket needs no CORS). Outside the
/// layer, so that preflights are answered before Socket.IO sees them.
fn cors(settings: &SocketSettings) -> Option<CorsLayer> {
    if settings.cors_origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(settings.cors_origins.iter().cloned()))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers(AllowHeaders::mirror_request()),
    )
}

/// Registers the namespace `/` with its middleware and handlers.
pub(crate) fn register<A: Adapter + DefinedAdapter>(io: &SocketIo<A>) -> A::InitRes {
    io.ns("/", on_connect::<A>.with(authenticate::<A>))
}

/// The standalone server's Socket.IO layer, on the in-process adapter
/// (behind `detach_request`).
pub fn socket_layer(gw: Arc<Gateway>) -> (DetachedLayer<SocketIoLayer>, SocketIo) {
    let settings = gw.settings.clone();
    let (layer, io) = builder(gw).build_layer();
    register(&io);
    (detached(layer, &settings), io)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::body::Bytes;
    use axum::http::HeaderName;

    use super::*;

    /// A read buffer that records when its last slice is gone.
    struct ReadBuffer(Vec<u8>, Arc<AtomicBool>);

    impl AsRef<[u8]> for ReadBuffer {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }

    impl Drop for ReadBuffer {
        fn drop(&mut self) {
            self.1.store(true, Ordering::SeqCst);
        }
    }

    /// A request whose URI, header values and `OriginalUri` are slices of
    /// one buffer, as hyper parses them; and the flag set when it is freed.
    fn parsed_request(path: &str) -> (Request<()>, Arc<AtomicBool>) {
        let freed = Arc::new(AtomicBool::new(false));
        let head = format!("{path}|127.0.0.9|secret");
        let mut buf = head.clone().into_bytes();
        buf.resize(16 * 1024, 0);
        let buf = Bytes::from_owner(ReadBuffer(buf, freed.clone()));
        let (p, rest) = head.split_once('|').unwrap();
        let (ip, secret) = rest.split_once('|').unwrap();
        let uri = Uri::from_maybe_shared(buf.slice(0..p.len())).unwrap();
        let at = p.len() + 1;
        let ip = HeaderValue::from_maybe_shared(buf.slice(at..at + ip.len())).unwrap();
        let at = at + ip.len() + 1;
        let mut secret = HeaderValue::from_maybe_shared(buf.slice(at..at + secret.len())).unwrap();
        secret.set_sensitive(true);
        let mut req = Request::builder().uri(uri.clone()).body(()).unwrap();
        req.headers_mut()
            .insert(HeaderName::from_static("x-real-ip"), ip);
        req.headers_mut().insert(axum::http::header::COOKIE, secret);
        req.extensions_mut().insert(OriginalUri(uri));
        (req, freed)
    }

    #[test]
    fn a_socket_io_request_no_longer_holds_the_read_buffer() {
        let path = "/socket.io/?EIO=4&transport=websocket";
        let (req, freed) = parsed_request(path);
        // Kept as it is, the request holds the whole buffer.
        assert!(!freed.load(Ordering::SeqCst));
        let req = detach_request(req);
        assert!(
            freed.load(Ordering::SeqCst),
            "the read buffer is still referenced"
        );
        // Same request otherwise.
        assert_eq!(req.uri(), path);
        assert_eq!(req.extensions().get::<OriginalUri>().unwrap().0, path);
        assert_eq!(req.headers()["x-real-ip"], "127.0.0.9");
        assert_eq!(req.headers()["cookie"], "secret");
        assert!(req.headers()["cookie"].is_sensitive());
        assert_eq!(req.headers().len(), 2);
    }

    #[test]
    fn other_requests_pass_untouched() {
        let (req, freed) = parsed_request("/api/boards");
        let before = req.headers()["x-real-ip"].as_bytes().as_ptr();
        let req = detach_request(req);
        assert_eq!(req.headers()["x-real-ip"].as_bytes().as_ptr(), before);
        assert!(!freed.load(Ordering::SeqCst));
        drop(req);
        assert!(freed.load(Ordering::SeqCst));
    }
}

#[cfg(test)]
mod closing_tests {
    use std::time::Duration;

    use clap::Parser;
    use pixel_core::Game;
    use pixel_core::ManualClock;
    use pixel_core::auth::AccessTokens;
    use pixel_core::config::{GameConfig, Secret};
    use pixel_core::store::MemoryStore;

    use super::*;
    use crate::config::SocketSettings;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        game: GameConfig,
        #[command(flatten)]
        socket: SocketSettings,
    }

    #[tokio::test]
    async fn closing_waits_for_the_placements_in_flight() {
        let cli = Cli::parse_from(["gateway", "--place-concurrency", "4"]);
        let clock = Arc::new(ManualClock::new(0));
        let game = Game::new(
            Arc::new(MemoryStore::new()),
            cli.game.boards().unwrap(),
            clock.clone(),
        );
        game.init().await.unwrap();
        let tokens = Arc::new(AccessTokens::new(&Secret::new("k".repeat(32)), 900, clock));
        let gw = Arc::new(
            Gateway::new(Arc::new(game), tokens, cli.socket)
                .await
                .unwrap(),
        );
        // One placement in flight to the store.
        let in_flight = gw.place_permits.clone().try_acquire_owned().unwrap();
        let closing = tokio::spawn({
            let gw = gw.clone();
            async move { gw.finish_placements().await }
        });
        tokio::time::timeout(Duration::from_secs(5), async {
            while !gw.is_closing() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("closing starts");
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert!(
            !closing.is_finished(),
            "closing waits for the placement in flight"
        );
        drop(in_flight);
        tokio::time::timeout(Duration::from_secs(5), closing)
            .await
            .expect("closing ends once nothing is in flight")
            .unwrap();
    }
}

#[cfg(test)]
mod cors_tests {
    use axum::http::{StatusCode, header};
    use clap::Parser;
    use tower::{Layer, ServiceExt, service_fn};

    use super::*;

    #[derive(Debug, Parser)]
    struct Settings {
        #[command(flatten)]
        socket: SocketSettings,
    }

    /// Stands for the Socket.IO layer, which refuses a preflight with 400.
    async fn engine(
        _: Request<Body>,
    ) -> Result<axum::response::Response, std::convert::Infallible> {
        let mut res = axum::response::Response::new(Body::empty());
        *res.status_mut() = StatusCode::BAD_REQUEST;
        Ok(res)
    }

    fn preflight(origin: &str) -> Request<Body> {
        Request::options("/socket.io/?EIO=4&transport=polling")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn a_listed_origin_gets_its_preflight_answered_with_credentials() {
        let s = Settings::try_parse_from(["t", "--cors-origins", "https://a.example"]).unwrap();
        let svc = option_layer(cors(&s.socket)).layer(service_fn(engine));
        let res = svc
            .clone()
            .oneshot(preflight("https://a.example"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let h = res.headers();
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://a.example");
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_HEADERS], "content-type");
        let other = svc.oneshot(preflight("https://b.example")).await.unwrap();
        assert!(
            other
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
    }

    #[tokio::test]
    async fn without_origins_requests_reach_socket_io_untouched() {
        let s = Settings::try_parse_from(["t"]).unwrap();
        let svc = option_layer(cors(&s.socket)).layer(service_fn(engine));
        let res = svc.oneshot(preflight("https://a.example")).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(
            res.headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
    }
}
