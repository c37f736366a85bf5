//! Builders for tests: a [`BoardConfig`] and a [`Player`] with defaults a
//! test overrides only where it matters. Behind `test-helpers` (and this
//! crate's own tests): not in a release build.

use crate::domain::{BoardConfig, BoardId, DEFAULT_PALETTE};
use crate::game::Player;

/// A board `id` of 8×8 with the default palette, a 1 s cooldown, a
/// 10 s time to live and tiles of 256; the `with_*` methods change one of them.
pub fn board(id: &str) -> BoardBuilder {
    BoardBuilder(BoardConfig {
        id: BoardId::parse(id).expect("a valid test board id"),
        width: 8,
        height: 8,
        palette: DEFAULT_PALETTE.iter().map(|s| s.to_string()).collect(),
        cooldown_ms: 1000,
        ttl_ms: 10_000,
        tile_size: 256,
    })
}

/// See [`board`].
#[derive(Debug, Clone)]
pub struct BoardBuilder(BoardConfig);

impl BoardBuilder {
    pub fn with_size(mut self, width: u32, height: u32) -> Self {
        self.0.width = width;
        self.0.height = height;
        self
    }

    pub fn with_cooldown_ms(mut self, ms: u64) -> Self {
        self.0.cooldown_ms = ms;
        self
    }

    pub fn with_ttl_ms(mut self, ms: u64) -> Self {
        self.0.ttl_ms = ms;
        self
    }

    pub fn with_tile_size(mut self, size: u32) -> Self {
        self.0.tile_size = size;
        self
    }

    pub fn build(self) -> BoardConfig {
        self.0
    }
}

impl From<BoardBuilder> for BoardConfig {
    fn from(b: BoardBuilder) -> Self {
        b.build()
    }
}

/// A player whose id is `u-<name>`.
pub fn player(name: &str) -> Player {
    Player {
        id: format!("u-{name}"),
        name: name.to_owned(),
    }
}
