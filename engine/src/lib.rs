//! An Engine.IO v4 server as a tower/hyper service, written from the
//! protocol (<https://socket.io/docs/v4/engine-io-protocol/>) and offering the
//! API socketioxide uses from the crate of the same name, so that
//! `[patch.crates-io]` puts it under socketioxide unchanged.
//!
//! # Layout
//!
//! The modules stand in layers, and every import points down a layer (or
//! across, within one): a lower layer never names a higher one. Where a
//! lower layer must reach a higher one at run time (a socket closing its
//! session in the engine's table), the higher one hands it a closure.
//!
//! 1. The wire and the settings; they know nothing of sessions.
//!    - [`config`]: the settings (ping interval and timeout, payload limits).
//!    - `frame`: WebSocket framing (RFC 6455): server frames, a broadcast's
//!      frame made once, and the connection that reads client frames.
//!    - `packet`: the Engine.IO packet codec and the long-polling payloads
//!      (a packet framed for WebSocket reads its payload from `frame`).
//!    - `body`: the response body of the service.
//!    - `error`: the refusals of requests, shared by both transports and
//!      the HTTP entry (public as `service::RequestError`).
//! 2. A session.
//!    - `queue`: the per-session send queue. It owns no memory while empty.
//!    - [`socket`]: a session as the application sees it: emit, reserve,
//!      close. Closing calls back through a closure the engine gives it.
//!    - [`handler`]: what the application (socketioxide) implements.
//!    - `harness`: sessions without a transport (`Socket::new_dummy`), for
//!      the application's tests.
//! 3. `engine`: the session table; opening and closing sessions.
//! 4. The transports, each given the engine and a request or a stream.
//!    - `polling`: the long-polling transport (handshake, GET, POST).
//!    - `ws`: the WebSocket transport: handshake, the probe/upgrade
//!      sequence and the one task that reads, writes and keeps the
//!      heartbeat.
//! 5. The entry points.
//!    - [`service`]: the HTTP entry point: request parsing and dispatch to
//!      a transport.
//!    - [`layer`]: the tower layer over the service.
//!
//! # Invariants
//!
//! - A session is in the engine's table until it is closed, and closed once:
//!   the handler's `on_disconnect` runs exactly once per `on_connect`.
//! - The server sends its first ping one `ping_interval` after the handshake
//!   and the next one `ping_interval` after each pong; a missing pong closes
//!   the session `ping_timeout` after the ping.
//! - A long-poll GET is the only reader of a polling session's queue: a
//!   second concurrent GET closes the session (HTTP 400), and a GET the
//!   client abandons closes it too.

pub use engineioxide_core::{ProtocolVersion, Str, TransportType};
pub use packet::Packet;
pub use socket::{DisconnectReason, Socket};

pub mod config;
pub mod handler;
pub mod layer;
pub mod service;
pub mod socket;

/// Socket id type and generator.
pub mod sid {
    pub use engineioxide_core::Sid;
}

mod body;
mod engine;
mod error;
mod frame;
mod harness;
mod packet;
mod polling;
mod queue;
mod ws;
