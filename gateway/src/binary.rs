//! Binary delivery: watchers that join with `"encoding": "binary"` receive
//! each batch as one binary update frame (`pixel_core::domain::frame`, a few
//! bytes an update) instead of JSON updates. The relay encodes a batch once
//! and emits it to the board's binary room; the JSON event excludes that
//! room. Both kinds stay in the board's room, so presence, `resync` and
//! `leave` treat them alike, and JSON-only clients see no change.

use bytes::Bytes;
use pixel_core::domain::frame::{self, FrameError};
use pixel_core::domain::{BoardConfig, BoardId, Update};
use serde::Serialize;

use crate::ack::AckError;

/// How a socket wants a board's updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Json,
    Binary,
}

impl Encoding {
    /// The join payload's `encoding` when it is a string.
    pub fn parse(v: &str) -> Result<Self, AckError> {
        match v {
            "json" => Ok(Self::Json),
            "binary" => Ok(Self::Binary),
            _ => Err(Self::invalid()),
        }
    }

    /// The answer to an `encoding` that is neither `"json"` nor `"binary"`.
    pub fn invalid() -> AckError {
        AckError::invalid("`encoding` must be \"json\" or \"binary\"")
    }
}

/// The Socket.IO room of a board's binary watchers on this gateway (a
/// subset of the board's room).
pub(crate) fn room(board: &BoardId) -> String {
    format!("board-bin:{board}")
}

/// The first argument of a binary `pixels` event; the second is the frame,
/// sent as a Socket.IO binary attachment.
#[derive(Debug, Serialize)]
pub(crate) struct FrameHeader<'a> {
    pub board: &'a BoardId,
}

/// Encodes one batch (consecutive seqs) for the binary room.
pub(crate) fn encode(board: &BoardConfig, updates: &[Update]) -> Result<Bytes, FrameError> {
    frame::encode(board.width, board.height, updates).map(Bytes::from)
}
