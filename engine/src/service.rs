//! The HTTP entry point: a tower and hyper service that answers Engine.IO
//! requests on the configured path and passes every other request to an
//! inner service.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use engineioxide_core::{ProtocolVersion, Sid, TransportType};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use hyper::service::Service as HyperSvc;
use pin_project_lite::pin_project;
use tower_service::Service as TowerSvc;

pub use crate::body::ResponseBody;
use crate::config::EngineIoConfig;
use crate::engine::Engine;
pub use crate::error::RequestError;
use crate::handler::EngineIoHandler;
use crate::{polling, ws};

/// The Engine.IO service. Requests outside `req_path` go to `S`.
pub struct EngineIoService<H: EngineIoHandler, S = NotFoundService> {
    inner: S,
    engine: Arc<Engine<H>>,
}

impl<H: EngineIoHandler> EngineIoService<H, NotFoundService> {
    /// A service with the default settings that answers 404 elsewhere.
    pub fn new(handler: Arc<H>) -> Self {
        Self::with_config(handler, EngineIoConfig::default())
    }

    /// A service with these settings that answers 404 elsewhere.
    pub fn with_config(handler: Arc<H>, config: EngineIoConfig) -> Self {
        Self::with_config_inner(NotFoundService, handler, config)
    }
}

impl<S: Clone, H: EngineIoHandler> EngineIoService<H, S> {
    /// A service with the default settings over an inner service.
    pub fn with_inner(inner: S, handler: Arc<H>) -> Self {
        Self::with_config_inner(inner, handler, EngineIoConfig::default())
    }

    /// A service with these settings over an inner service.
    pub fn with_config_inner(inner: S, handler: Arc<H>, config: EngineIoConfig) -> Self {
        Self {
            inner,
            engine: Arc::new(Engine::new(handler, config)),
        }
    }

    /// A make-service handing out clones of this service.
    pub fn into_make_service(self) -> MakeEngineIoService<H, S> {
        MakeEngineIoService::new(self)
    }
}

impl<S: Clone, H: EngineIoHandler> Clone for EngineIoService<H, S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            engine: self.engine.clone(),
        }
    }
}

impl<H: EngineIoHandler, S> std::fmt::Debug for EngineIoService<H, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineIoService").finish_non_exhaustive()
    }
}

type EngineFuture = Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>>;

pin_project! {
    /// The response future of [`EngineIoService`].
    #[project = ResFutProj]
    pub enum ResponseFuture<F, B> {
        /// Answered by the engine.
        Engine { future: EngineFuture, _body: std::marker::PhantomData<fn() -> B> },
        /// Answered by the inner service.
        Inner { #[pin] future: F },
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ResFutProj::Engine { future, .. } => future
                .as_mut()
                .poll(cx)
                .map(|res| Ok(res.map(ResponseBody::custom_response))),
            ResFutProj::Inner { future } => future
                .poll(cx)
                .map(|res| res.map(|res| res.map(ResponseBody::new))),
        }
    }
}

impl<H, ReqBody, ResBody, S> TowerSvc<Request<ReqBody>> for EngineIoService<H, S>
where
    H: EngineIoHandler,
    ReqBody: Body + Send + Unpin + 'static + std::fmt::Debug,
    ReqBody::Error: std::fmt::Debug,
    ReqBody::Data: Send,
    ResBody: Body + Send + 'static,
    S: TowerSvc<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if is_req_path(req.uri().path(), &self.engine.config.req_path) {
            engine_future(self.engine.clone(), req)
        } else {
            ResponseFuture::Inner {
                future: self.inner.call(req),
            }
        }
    }
}

impl<H, ReqBody, ResBody, S> HyperSvc<Request<ReqBody>> for EngineIoService<H, S>
where
    H: EngineIoHandler,
    ReqBody: Body + Send + Unpin + 'static + std::fmt::Debug,
    ReqBody::Error: std::fmt::Debug,
    ReqBody::Data: Send,
    ResBody: Body + Send + 'static,
    S: HyperSvc<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn call(&self, req: Request<ReqBody>) -> Self::Future {
        if is_req_path(req.uri().path(), &self.engine.config.req_path) {
            engine_future(self.engine.clone(), req)
        } else {
            ResponseFuture::Inner {
                future: self.inner.call(req),
            }
        }
    }
}

/// A request for a connection that already completed its WebSocket
/// handshake elsewhere: the stream and the handshake request.
impl<St, H, Svc> TowerSvc<(St, Request<()>)> for EngineIoService<H, Svc>
where
    H: EngineIoHandler,
    St: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    type Response = ();
    type Error = RequestError;
    type Future = Ready<Result<(), RequestError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (conn, req): (St, Request<()>)) -> Self::Future {
        ready(ws_stream(self.engine.clone(), conn, req))
    }
}

impl<St, H, Svc> HyperSvc<(St, Request<()>)> for EngineIoService<H, Svc>
where
    H: EngineIoHandler,
    St: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    type Response = ();
    type Error = RequestError;
    type Future = Ready<Result<(), RequestError>>;

    fn call(&self, (conn, req): (St, Request<()>)) -> Self::Future {
        ready(ws_stream(self.engine.clone(), conn, req))
    }
}

fn ws_stream<H, St>(engine: Arc<Engine<H>>, conn: St, req: Request<()>) -> Result<(), RequestError>
where
    H: EngineIoHandler,
    St: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let info = RequestInfo::parse(&req, &engine.config)?;
    if info.transport != TransportType::Websocket {
        return Err(RequestError::UnknownTransport);
    }
    let parts = Box::new(req.into_parts().0);
    tokio::spawn(ws::serve_stream(engine, conn, info.sid, parts));
    Ok(())
}

impl<H: EngineIoHandler, Svc> EngineIoService<H, Svc> {
    /// Serves a stream whose WebSocket handshake was made elsewhere (a new
    /// session, or the upgrade of session `sid`). For tests; the same as
    /// calling the service with `(stream, request)`.
    #[doc(hidden)]
    pub fn ws_init<S>(
        &self,
        conn: S,
        _protocol: ProtocolVersion,
        sid: Option<Sid>,
        req_data: http::request::Parts,
    ) -> impl Future<Output = Result<(), RequestError>> + 'static
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let engine = self.engine.clone();
        async move {
            ws::serve_stream(engine, conn, sid, Box::new(req_data)).await;
            Ok(())
        }
    }
}

/// `/engine.io` and its sub-paths, not `/engine.io-admin`.
fn is_req_path(path: &str, req_path: &str) -> bool {
    path.strip_prefix(req_path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || req_path.ends_with('/'))
}

fn engine_future<H, B, F, R>(engine: Arc<Engine<H>>, req: Request<B>) -> ResponseFuture<F, R>
where
    H: EngineIoHandler,
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
{
    ResponseFuture::Engine {
        future: Box::pin(dispatch(engine, req)),
        _body: std::marker::PhantomData,
    }
}

async fn dispatch<H, B>(engine: Arc<Engine<H>>, req: Request<B>) -> Response<Full<Bytes>>
where
    H: EngineIoHandler,
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
{
    let info = match RequestInfo::parse(&req, &engine.config) {
        Ok(info) => info,
        Err(e) => return e.response(),
    };
    let method = req.method().clone();
    match (info.transport, info.sid, method) {
        (TransportType::Polling, None, Method::GET) => {
            let (parts, _) = req.into_parts();
            polling::open(&engine, parts)
        }
        (TransportType::Polling, None, _) => RequestError::BadHandshakeMethod.response(),
        (TransportType::Polling, Some(sid), method) => {
            let Some(socket) = engine.get(&sid) else {
                return RequestError::UnknownSid.response();
            };
            match method {
                Method::GET => polling::poll(socket, engine.config.max_payload).await,
                Method::POST => polling::post(&engine, socket, req.into_body()).await,
                _ => RequestError::BadRequest.response(),
            }
        }
        (TransportType::Websocket, sid, Method::GET) => ws::upgrade(engine, req, sid),
        (TransportType::Websocket, _, _) => RequestError::BadRequest.response(),
    }
}

/// What an Engine.IO request asks for, from its query.
#[derive(Debug)]
struct RequestInfo {
    transport: TransportType,
    sid: Option<Sid>,
}

impl RequestInfo {
    fn parse<B>(req: &Request<B>, config: &EngineIoConfig) -> Result<Self, RequestError> {
        let (mut eio, mut transport, mut sid) = (None, None, None);
        for pair in req.uri().query().unwrap_or("").split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "EIO" => eio = Some(value),
                "transport" => transport = Some(value),
                "sid" => sid = Some(value),
                _ => {}
            }
        }
        let transport = transport
            .and_then(|t| TransportType::from_str(t).ok())
            .filter(|t| config.allowed_transport(*t))
            .ok_or(RequestError::UnknownTransport)?;
        match eio.map(ProtocolVersion::from_str) {
            Some(Ok(ProtocolVersion::V4)) => {}
            _ => return Err(RequestError::UnsupportedProtocolVersion),
        }
        let sid = match sid {
            None => None,
            Some(s) => Some(Sid::from_str(s).map_err(|_| RequestError::UnknownSid)?),
        };
        Ok(Self { transport, sid })
    }
}

/// A make-service handing out clones of one [`EngineIoService`].
pub struct MakeEngineIoService<H: EngineIoHandler, S> {
    svc: EngineIoService<H, S>,
}

impl<H: EngineIoHandler, S> MakeEngineIoService<H, S> {
    /// Hands out clones of `svc`.
    pub fn new(svc: EngineIoService<H, S>) -> Self {
        Self { svc }
    }
}

impl<H: EngineIoHandler, S: Clone, T> TowerSvc<T> for MakeEngineIoService<H, S> {
    type Response = EngineIoService<H, S>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: T) -> Self::Future {
        ready(Ok(self.svc.clone()))
    }
}

/// An inner service that answers 404 to everything.
#[derive(Debug, Clone)]
pub struct NotFoundService;

type NotFound = Response<ResponseBody<http_body_util::Empty<Bytes>>>;

fn not_found() -> NotFound {
    let mut res = Response::new(ResponseBody::empty_response());
    *res.status_mut() = StatusCode::NOT_FOUND;
    res
}

impl<ReqBody> TowerSvc<Request<ReqBody>> for NotFoundService {
    type Response = NotFound;
    type Error = Infallible;
    type Future = Ready<Result<NotFound, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<ReqBody>) -> Self::Future {
        ready(Ok(not_found()))
    }
}

impl<ReqBody> HyperSvc<Request<ReqBody>> for NotFoundService {
    type Response = NotFound;
    type Error = Infallible;
    type Future = Ready<Result<NotFound, Infallible>>;

    fn call(&self, _: Request<ReqBody>) -> Self::Future {
        ready(Ok(not_found()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str) -> Result<RequestInfo, RequestError> {
        let req = Request::get(uri).body(()).unwrap();
        RequestInfo::parse(&req, &EngineIoConfig::default())
    }

    #[test]
    fn the_request_path_matches_itself_and_sub_paths_only() {
        assert!(is_req_path("/engine.io", "/engine.io"));
        assert!(is_req_path("/engine.io/", "/engine.io"));
        assert!(!is_req_path("/engine.io-admin", "/engine.io"));
        assert!(!is_req_path("/other", "/engine.io"));
    }

    #[test]
    fn queries_are_checked_as_the_reference_server_does() {
        assert_eq!(
            parse("/engine.io/?EIO=4").unwrap_err(),
            RequestError::UnknownTransport
        );
        assert_eq!(
            parse("/engine.io/?EIO=4&transport=abc").unwrap_err(),
            RequestError::UnknownTransport
        );
        assert_eq!(
            parse("/engine.io/?transport=polling").unwrap_err(),
            RequestError::UnsupportedProtocolVersion
        );
        assert_eq!(
            parse("/engine.io/?EIO=abc&transport=polling").unwrap_err(),
            RequestError::UnsupportedProtocolVersion
        );
        assert_eq!(
            parse("/engine.io/?EIO=4&transport=polling&sid=zz").unwrap_err(),
            RequestError::UnknownSid
        );
        let info = parse("/engine.io/?EIO=4&transport=websocket&t=x").unwrap();
        assert_eq!(info.transport, TransportType::Websocket);
        assert!(info.sid.is_none());
    }
}
