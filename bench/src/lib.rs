//! The load generator behind `pixel-bench` (see `main.rs` and
//! `scripts/bench.sh`): a minimal Engine.IO v4 / Socket.IO v5 client over
//! WebSocket (`sio`), simulated watchers and placers (`clients`), the
//! scenarios, figures (`stats`) and the results table (`report`).

mod clients;
pub mod failover;
pub mod report;
pub mod scenarios;
mod sio;
pub mod stats;
pub mod tiles;
