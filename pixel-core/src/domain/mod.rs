//! The game's rules as types. Everything that enters the system — an event
//! payload, a request body — is parsed into these before any logic runs, so
//! the store and the services never see an out-of-range coordinate or colour.

mod board;
pub mod frame;
mod history;
mod update;

pub use board::{BoardConfig, BoardId, BoardMeta, Color, Coord, DEFAULT_PALETTE, TileId, TileRect};
pub use history::HistoryPolicy;
pub use update::{PixelEntry, PixelsEvent, Update};
