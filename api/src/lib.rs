//! The REST api: accounts (sign-up, login, rotating refresh tokens), board
//! meta and snapshots.
//!
//! # Layout
//!
//! - `accounts`: the account rules — input parsing, argon2id passwords,
//!   the login throttle, token pairs and refresh rotation.
//! - `hashing`: argon2id password hashing bounded in CPU, memory (pooled
//!   blocks) and waiting (by expected time).
//! - `snapshot`: board snapshots, cached encoded and compressed per seq,
//!   built once however many requests wait (single flight).
//! - `tiles`: tile snapshots, cut from a per-board live copy of the
//!   board brought forward from the history, cached per tile and seq.
//! - `lookup`: the pixel lookup route's per-board index of placements
//!   and placers, kept in memory and brought forward from the history.
//! - `routes`: the HTTP handlers, thin wrappers over `accounts` and the
//!   shared [`Game`](pixel_core::Game).
//! - `state`: `ApiState`, what the handlers share (`routes` and
//!   `snapshot` both depend on it, not on each other).
//! - `extract`: the JSON-object body extractor, rejecting in the error
//!   envelope.
//! - `auth_outcomes`: `api_auth_total{action,outcome}`, from each
//!   account action's result.
//! - `error`: the one error type of this layer and its mapping to
//!   `{"error": {"code", "message"}}` with a status (the accounts' own
//!   error type is mapped there too). Modules depend one way:
//!   `routes → accounts`, `routes → error → accounts`, `routes → openapi`.
//! - `openapi`: the shared parts of the OpenAPI document served at
//!   `GET /api/openapi.json` (error responses, bearer scheme); `routes`
//!   registers each route together with its description.
//! - `config` and `startup`: the cluster binary's configuration, the
//!   api's router ([`app`], which the standalone server reuses) and
//!   [`run`], the binary's entry point — the same `run(config, listener,
//!   shutdown)` as `gateway::run`, `worker::run` and `standalone::run`.

mod accounts;
mod auth_outcomes;
mod config;
mod error;
mod extract;
mod hashing;
mod lookup;
mod openapi;
mod routes;
mod snapshot;
mod startup;
mod state;
mod tiles;

pub use accounts::{AccountSettings, token_family};
pub use config::{AccountsConfig, ApiConfig};
pub use startup::{app, run};

/// Largest request body the api accepts; its bodies are a few short strings.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
