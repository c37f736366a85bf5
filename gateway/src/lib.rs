//! The Socket.IO gateway: authenticates sockets on the handshake, validates
//! and applies placements through the shared [`Game`](pixel_core::Game), and
//! relays each board's feed of updates to the sockets that joined it.
//!
//! # Layout
//!
//! - `handlers`: connect middleware (JWT on the handshake) and the
//!   `join` / `leave` / `place` / `auth` events. Every handler is generic over
//!   the socketioxide adapter, so the same code serves the in-process
//!   standalone server and the Redis-backed cluster.
//! - [`payload`]: parsing event payloads into validated requests (public:
//!   the fuzz target drives it).
//! - `ack`: the one error type of this layer and its ack payload.
//! - `session`: per-socket state (identity, joined boards, rate limiter).
//! - `relay`: one task per board that reads the board's feed and emits
//!   its updates, in seq order and batched, to this node's sockets — the
//!   only way updates reach sockets.
//! - `presence`: the cluster-wide watcher count of each board (through
//!   the adapter), sent as `presence` events.
//! - `config` and `startup`: socket limits and building the Socket.IO layer.
//! - `state`: [`Gateway`], what the handlers share (`handlers` and
//!   `startup` both depend on it, not on each other).
//! - `cluster`: the replica binary's wiring (Redis store and Redis
//!   adapter) and its entry point [`run`] — the same `run(config, listener,
//!   shutdown)` as `api::run`, `worker::run` and `standalone::run`.
//! - `pubsub`: the adapter's fred subscriber, which resubscribes after
//!   every reconnect.

mod ack;
mod binary;
mod cluster;
mod config;
mod handlers;
mod limits;
pub mod payload;
mod presence;
pub mod pubsub;
mod relay;
mod session;
mod startup;
mod state;
mod tiles;

pub use cluster::run;
pub use config::{GatewayConfig, SocketSettings};
pub use startup::socket_layer;
pub use state::Gateway;
