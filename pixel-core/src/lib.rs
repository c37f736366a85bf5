//! Realtime Pixel's core: everything the api, the gateway and the worker share.
//!
//! # Layout
//!
//! - [`domain`]: the game's rules as types — board ids, coordinates, colours,
//!   updates and the history policy. Input is parsed into these at the edge.
//! - [`store`]: the two store interfaces every service talks to — the
//!   [`BoardStore`](store::BoardStore) and the
//!   [`AccountStore`](store::AccountStore), opened together as
//!   [`Stores`] —
//!   its in-memory (standalone) and Redis (cluster) implementations with
//!   each board's ordered feed of updates, the checks both must pass, and
//!   the Redis pub/sub client of the Socket.IO adapter. Each state change of the game is one atomic store
//!   operation, so the standalone server and the cluster run the same rules
//!   over two storage implementations.
//! - [`game`]: the board registry and the operations built on the store
//!   (placement, catch-up, snapshot, decay sweep) used by every service.
//! - [`auth`]: access-token (JWT) issuing and verification.
//! - [`client_addr`]: the client's address behind trusted proxies
//!   (`TRUSTED_PROXIES`), for per-address limits.
//! - [`clock`]: the time source; tests drive a manual clock instead of sleeping.
//! - [`config`]: environment configuration shared by the services.
//! - [`error`]: the public error codes of the contract.
//! - [`http`]: serving an app with graceful shutdown.
//! - [`telemetry`]: tracing, Prometheus metrics and the `/healthz`, `/readyz`,
//!   `/metrics` routes.

pub mod auth;
pub mod client_addr;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod game;
pub mod http;
pub mod store;
pub mod telemetry;
#[cfg(any(test, feature = "test-helpers"))]
pub mod testing;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::ErrorCode;
pub use game::Game;
pub use store::{Role, Stores};
