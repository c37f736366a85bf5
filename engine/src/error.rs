//! The refusals of Engine.IO requests, as HTTP answers.
//!
//! Both transports and the HTTP entry refuse requests with the same codes
//! and messages (those of the reference server), so the error type lives
//! below all three: `polling` and `ws` answer with it, `service` parses
//! queries into it, and none of them has to reach up into another for it.
//! It is public as `service::RequestError`, where it has always been.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

/// A refused Engine.IO request. The codes and messages are those of the
/// reference server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// `transport` is missing, unknown or not allowed.
    UnknownTransport,
    /// `sid` names no open session.
    UnknownSid,
    /// A session can only be opened by GET.
    BadHandshakeMethod,
    /// The request does not fit the session or the protocol.
    BadRequest,
    /// `EIO` is missing or not 4.
    UnsupportedProtocolVersion,
    /// The body is larger than `max_payload`.
    PayloadTooLarge,
}

impl RequestError {
    fn code_and_message(self) -> (u8, &'static str) {
        match self {
            RequestError::UnknownTransport => (0, "Transport unknown"),
            RequestError::UnknownSid => (1, "Session ID unknown"),
            RequestError::BadHandshakeMethod => (2, "Bad handshake method"),
            RequestError::BadRequest => (3, "Bad request"),
            RequestError::UnsupportedProtocolVersion => (5, "Unsupported protocol version"),
            RequestError::PayloadTooLarge => (3, "Payload too large"),
        }
    }

    pub(crate) fn response(self) -> Response<Full<Bytes>> {
        let (code, message) = self.code_and_message();
        let status = match self {
            RequestError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = serde_json::json!({ "code": code, "message": message }).to_string();
        Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default()
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code_and_message().1)
    }
}

impl std::error::Error for RequestError {}
