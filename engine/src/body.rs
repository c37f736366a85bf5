//! The response body of the service: the engine's own (a complete payload)
//! or the inner service's.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use pin_project_lite::pin_project;

pin_project! {
    /// The body of a response of the Engine.IO service (`EngineIoService`).
    #[project = BodyProj]
    pub enum ResponseBody<B> {
        /// No body.
        EmptyResponse,
        /// A body made by the engine.
        CustomBody {
            #[pin]
            body: Full<Bytes>,
        },
        /// The inner service's body.
        Body {
            #[pin]
            body: B,
        },
    }
}

impl<B> Default for ResponseBody<B> {
    fn default() -> Self {
        Self::empty_response()
    }
}

impl<B> ResponseBody<B> {
    /// An empty body.
    pub fn empty_response() -> Self {
        ResponseBody::EmptyResponse
    }

    /// A body made by the engine.
    pub fn custom_response(body: Full<Bytes>) -> Self {
        ResponseBody::CustomBody { body }
    }

    /// The inner service's body.
    pub fn new(body: B) -> Self {
        ResponseBody::Body { body }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + 'static,
{
    type Data = Bytes;
    type Error = B::Error;

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::EmptyResponse => true,
            ResponseBody::CustomBody { body } => body.is_end_stream(),
            ResponseBody::Body { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::EmptyResponse => SizeHint::with_exact(0),
            ResponseBody::CustomBody { body } => body.size_hint(),
            ResponseBody::Body { body } => body.size_hint(),
        }
    }

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project() {
            BodyProj::EmptyResponse => Poll::Ready(None),
            BodyProj::CustomBody { body } => body.poll_frame(cx).map_err(|e| match e {}),
            BodyProj::Body { body } => body.poll_frame(cx),
        }
    }
}
