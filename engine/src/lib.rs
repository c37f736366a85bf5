//! An Engine.IO v4 server as a tower/hyper service, written from the
//! protocol (<https://socket.io/docs/v4/engine-io-protocol/>) and offering the
//! API socketioxide uses from the crate of the same name, so that
//! `[patch.crates-io]` puts it under socketioxide unchanged.
//!
//! # Layout
//!
//! - [`config`]: the settings (ping interval and timeout, payload limits).
//! - [`handler`]: what the application (socketioxide) implements.
//! - [`socket`]: a session as the application sees it: emit, reserve, close.
//! - `queue`: the per-session send queue. It owns no memory while empty.
//! - `packet`: the Engine.IO packet codec and the long-polling payloads.
//! - `engine`: the session table; opening and closing sessions.
//! - [`service`]: the HTTP entry point: request parsing and dispatch.
//! - `polling`: the long-polling transport (handshake, GET, POST).
//! - `ws`: the WebSocket transport: handshake, frames, the probe/upgrade
//!   sequence and the one task that reads, writes and keeps the heartbeat.
//! - [`layer`]: the tower layer.
//! - `harness`: sessions without a transport (`Socket::new_dummy`), for
//!   the application's tests.
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
mod harness;
mod packet;
mod polling;
mod queue;
mod ws;
