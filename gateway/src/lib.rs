//! The Socket.IO gateway: authenticates sockets on the handshake, validates
//! and applies placements through the shared [`Game`](pixel_core::Game), and
//! broadcasts updates to the sockets that joined a board.
//!
//! # Layout
//!
//! - [`handlers`]: connect middleware (JWT on the handshake) and the
//!   `join` / `leave` / `place` / `auth` events. Every handler is generic over
//!   the socketioxide adapter, so the same code serves the in-process
//!   standalone server and the Redis-backed cluster.
//! - [`payload`]: parsing event payloads into validated requests.
//! - [`ack`]: the one error type of this layer and its ack payload.
//! - [`session`]: per-socket state (identity, joined boards, rate limiter).
//! - [`broadcast`]: the `pixels` event over the adapter.
//! - [`config`] and [`startup`]: socket limits and building the Socket.IO layer.
//! - [`cluster`]: the replica binary's wiring: Redis store and Redis adapter.

pub mod ack;
pub mod broadcast;
pub mod cluster;
pub mod config;
pub mod handlers;
pub mod payload;
pub mod session;
pub mod startup;

pub use startup::{Gateway, socket_layer};
