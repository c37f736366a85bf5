//! What the api's handlers share: the game, the account rules, the token
//! verifier, the snapshot cache, the tile snapshots' live copies and the pixel lookup's index. In a module of its own so that the
//! handler modules (`routes`, `snapshot`) depend on it and not on each other.

use std::sync::Arc;

use pixel_core::Game;
use pixel_core::auth::AccessTokens;
use pixel_core::domain::BoardConfig;

use crate::accounts::Accounts;
use crate::error::ApiError;
use crate::lookup::PixelIndex;
use crate::snapshot::SnapshotCache;
use crate::tiles::TileCache;

#[derive(Clone)]
pub(crate) struct ApiState {
    pub game: Arc<Game>,
    pub accounts: Arc<Accounts>,
    pub tokens: Arc<AccessTokens>,
    pub(crate) snapshots: Arc<SnapshotCache>,
    pub(crate) placements: Arc<PixelIndex>,
    pub(crate) tiles: Arc<TileCache>,
}

impl ApiState {
    /// A board by id; 404 `not_found` otherwise.
    pub(crate) fn board(&self, id: &str) -> Result<&Arc<BoardConfig>, ApiError> {
        self.game
            .board(id)
            .map_err(|_| ApiError::NotFound(format!("no board named {id:?}")))
    }

    pub(crate) fn new(game: Arc<Game>, accounts: Arc<Accounts>, tokens: Arc<AccessTokens>) -> Self {
        Self {
            game,
            accounts,
            tokens,
            snapshots: Arc::default(),
            placements: Arc::default(),
            tiles: Arc::default(),
        }
    }
}
