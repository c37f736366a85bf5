//! `GET /api/boards/{board}/pixels/{x}/{y}`: who placed a pixel, when, and
//! when it fades.
//!
//! Binary update frames do not carry the placer (a name is most of a JSON
//! update's bytes), and a snapshot never did, so a client that wants to
//! name a pixel's placer asks here. The store keeps the placer only in the
//! board's feed, so each api process keeps, per board, an **index** of the
//! board's non-empty cells with their placement and placer, and answers
//! from memory:
//!
//! - built from a snapshot (the cells) plus the retained history (the
//!   placers of placements that still stand);
//! - brought forward by reading the history after the index's seq, at most
//!   once per [`FRESH_FOR`] however many requests come (the refresh runs
//!   under the board's lock, so concurrent requests share one read): an
//!   answer reflects the board as it stood at most that long before the
//!   request (its `as_of` says at which seq);
//! - rebuilt when the history no longer connects to it (it fell behind the
//!   retained history, or the data set changed: another epoch, or the seq
//!   went backwards).
//!
//! A placement older than the history retained when the index was built
//! has no known placer (`by` absent); every placement made while this
//! process was up is named.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pixel_core::Game;
use pixel_core::domain::{BoardConfig, BoardId, Update};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// How old an index may be and still answer without reading the history.
pub(crate) const FRESH_FOR: Duration = Duration::from_millis(250);

/// Updates read from the history per round trip.
const PAGE: usize = 10_000;

/// The answer: the placement a non-empty pixel holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct PixelInfo {
    #[schema(value_type = String)]
    pub board: BoardId,
    pub x: u32,
    pub y: u32,
    /// The palette colour, 1-based.
    pub color: u8,
    /// ms since the Unix epoch.
    pub placed_at: i64,
    /// When the pixel fades (ms since the Unix epoch).
    pub expires_at: i64,
    /// The placer's display name; absent when the placement is older than
    /// the history this server has seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub by: Option<String>,
    /// The board's seq this answer reflects (every update up to it).
    pub as_of: u64,
}

#[derive(Debug, Clone)]
struct Placed {
    color: u8,
    placed_at: i64,
    expires_at: i64,
    by: Option<Arc<str>>,
}

/// One board's cells as of `seq`, from the data set `epoch`.
#[derive(Debug, Default)]
struct Index {
    built: bool,
    epoch: String,
    seq: u64,
    refreshed: Option<Instant>,
    cells: HashMap<u32, Placed>,
}

impl Index {
    /// Applies the next update of the board (seq `self.seq + 1`).
    fn apply(&mut self, board: &BoardConfig, u: &Update) {
        let i = u.y * board.width + u.x;
        match (u.color, u.placed_at, u.expires_at) {
            (c, Some(placed_at), Some(expires_at)) if c != 0 => {
                self.cells.insert(
                    i,
                    Placed {
                        color: c,
                        placed_at,
                        expires_at,
                        by: u.by.as_deref().map(Arc::from),
                    },
                );
            }
            _ => {
                self.cells.remove(&i);
            }
        }
        self.seq = u.seq;
    }
}

/// Every board's index in this process.
#[derive(Default)]
pub(crate) struct PixelIndex(Mutex<HashMap<BoardId, Arc<tokio::sync::Mutex<Index>>>>);

impl PixelIndex {
    fn slot(&self, board: &BoardId) -> Arc<tokio::sync::Mutex<Index>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(board.clone()).or_default().clone()
    }

    /// The placement pixel (`x`, `y`) holds (coordinates already checked
    /// against the board); `None` for an empty pixel.
    pub(crate) async fn lookup(
        &self,
        game: &Game,
        board: &BoardConfig,
        x: u32,
        y: u32,
    ) -> Result<Option<PixelInfo>, ApiError> {
        let slot = self.slot(&board.id);
        let mut index = slot.lock().await;
        let stale = index.refreshed.is_none_or(|t| t.elapsed() >= FRESH_FOR);
        if stale {
            refresh(game, board, &mut index).await?;
        }
        let i = y * board.width + x;
        Ok(index.cells.get(&i).map(|p| PixelInfo {
            board: board.id.clone(),
            x,
            y,
            color: p.color,
            placed_at: p.placed_at,
            expires_at: p.expires_at,
            by: p.by.as_deref().map(str::to_owned),
            as_of: index.seq,
        }))
    }
}

/// Brings the index up to the board's current seq, rebuilding it when the
/// history does not connect to it.
async fn refresh(game: &Game, board: &BoardConfig, index: &mut Index) -> Result<(), ApiError> {
    let started = Instant::now();
    if !index.built || index.epoch != game.store().epoch() || !forward(game, board, index).await? {
        rebuild(game, board, index).await?;
    }
    index.refreshed = Some(started);
    Ok(())
}

/// Reads the history after the index's seq and applies it. `false` when it
/// does not connect (a hole, or the board's seq went backwards).
async fn forward(game: &Game, board: &BoardConfig, index: &mut Index) -> Result<bool, ApiError> {
    loop {
        let read = game.history(board, index.seq, PAGE).await?;
        if read.seq < index.seq {
            return Ok(false);
        }
        if read.seq == index.seq {
            return Ok(true);
        }
        let Some(first) = read.updates.first() else {
            // Updates exist after our seq but none is retained.
            return Ok(false);
        };
        if first.seq != index.seq + 1 {
            return Ok(false);
        }
        for u in &read.updates {
            if u.seq != index.seq + 1 {
                return Ok(false);
            }
            index.apply(board, u);
        }
        if index.seq >= read.seq {
            return Ok(true);
        }
    }
}

/// A snapshot for the cells, then the retained history: a placement at or
/// below the snapshot's seq names the pixel that still holds it, one after
/// it is applied.
async fn rebuild(game: &Game, board: &BoardConfig, index: &mut Index) -> Result<(), ApiError> {
    let snap = game.snapshot(board).await?;
    let mut cells = HashMap::with_capacity(snap.pixels.len());
    for p in &snap.pixels {
        cells.insert(
            p.y * board.width + p.x,
            Placed {
                color: p.color,
                placed_at: p.placed_at,
                expires_at: p.expires_at,
                by: None,
            },
        );
    }
    *index = Index {
        built: true,
        epoch: snap.epoch,
        seq: snap.seq,
        refreshed: None,
        cells,
    };
    let mut after = 0;
    while after < index.seq {
        let read = game.history(board, after, PAGE).await?;
        let Some(last) = read.updates.last() else {
            break;
        };
        after = last.seq;
        for u in read.updates.iter().take_while(|u| u.seq <= index.seq) {
            let i = u.y * board.width + u.x;
            if let Some(p) = index.cells.get_mut(&i)
                && u.color == p.color
                && u.placed_at == Some(p.placed_at)
            {
                p.by = u.by.as_deref().map(Arc::from);
            }
        }
    }
    // What came after the snapshot; a hole here means the history moved on
    // while we read it: the next request rebuilds.
    if !forward(game, board, index).await? {
        index.built = false;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use pixel_core::domain::{Coord, HistoryPolicy};
    use pixel_core::store::MemoryStore;
    use pixel_core::{ManualClock, testing};

    use super::*;

    async fn game(clock: &ManualClock, history: HistoryPolicy) -> (Game, Arc<BoardConfig>) {
        let board = testing::board("main")
            .with_size(8, 8)
            .with_cooldown_ms(0)
            .with_ttl_ms(10_000)
            .build();
        let g = Game::new(
            Arc::new(MemoryStore::new()),
            vec![board],
            Arc::new(clock.clone()),
        )
        .with_history(history);
        g.init().await.unwrap();
        let b = g.board("main").unwrap().clone();
        (g, b)
    }

    async fn place(g: &Game, b: &BoardConfig, x: u32, y: u32, color: u8, by: &str) -> Update {
        let color = b.color(u64::from(color)).unwrap();
        g.place(b, Coord { x, y }, color, &testing::player(by))
            .await
            .unwrap()
            .update
    }

    /// The index answers from memory for `FRESH_FOR`; tests look past it.
    async fn look(ix: &PixelIndex, g: &Game, b: &BoardConfig, x: u32, y: u32) -> Option<PixelInfo> {
        let slot = ix.slot(&b.id);
        slot.lock().await.refreshed = None;
        ix.lookup(g, b, x, y).await.unwrap()
    }

    #[tokio::test]
    async fn names_placers_follows_overwrites_and_removals() {
        let clock = ManualClock::new(1_000);
        let (g, b) = game(&clock, HistoryPolicy::default()).await;
        let ann = place(&g, &b, 1, 2, 3, "ann").await;
        // Built from the snapshot and the history.
        let got = look(&PixelIndex::default(), &g, &b, 1, 2).await.unwrap();
        assert_eq!(
            got,
            PixelInfo {
                board: b.id.clone(),
                x: 1,
                y: 2,
                color: 3,
                placed_at: ann.placed_at.unwrap(),
                expires_at: ann.expires_at.unwrap(),
                by: Some("ann".into()),
                as_of: 1,
            }
        );
        let ix = PixelIndex::default();
        assert!(look(&ix, &g, &b, 0, 0).await.is_none(), "an empty pixel");
        // Brought forward from the history.
        clock.advance(5);
        let bob = place(&g, &b, 1, 2, 4, "bob").await;
        place(&g, &b, 5, 5, 1, "cy").await;
        let got = look(&ix, &g, &b, 1, 2).await.unwrap();
        assert_eq!(
            (got.color, got.by.as_deref(), got.placed_at, got.as_of),
            (4, Some("bob"), bob.placed_at.unwrap(), 3)
        );
        assert_eq!(
            look(&ix, &g, &b, 5, 5).await.unwrap().by.as_deref(),
            Some("cy")
        );
        // Decay empties it.
        clock.advance(20_000);
        g.sweep(100).await.unwrap();
        assert!(look(&ix, &g, &b, 1, 2).await.is_none());
        assert!(look(&ix, &g, &b, 5, 5).await.is_none());
    }

    #[tokio::test]
    async fn within_fresh_for_the_answer_comes_from_memory() {
        let clock = ManualClock::new(1_000);
        let (g, b) = game(&clock, HistoryPolicy::default()).await;
        let ix = PixelIndex::default();
        assert!(ix.lookup(&g, &b, 1, 1).await.unwrap().is_none());
        place(&g, &b, 1, 1, 2, "ann").await;
        // Stale by at most FRESH_FOR: not read yet.
        assert!(ix.lookup(&g, &b, 1, 1).await.unwrap().is_none());
        tokio::time::sleep(FRESH_FOR).await;
        let got = ix.lookup(&g, &b, 1, 1).await.unwrap().unwrap();
        assert_eq!((got.by.as_deref(), got.as_of), (Some("ann"), 1));
    }

    #[tokio::test]
    async fn a_placement_older_than_the_history_has_no_placer_and_a_gap_rebuilds() {
        let clock = ManualClock::new(1_000);
        let tiny = HistoryPolicy {
            min_updates: 2,
            min_age_ms: 0,
        };
        let (g, b) = game(&clock, tiny).await;
        place(&g, &b, 0, 0, 1, "old").await;
        clock.advance(1);
        for i in 1..4 {
            place(&g, &b, i, 7, 2, "new").await;
            clock.advance(1);
        }
        let ix = PixelIndex::default();
        let old = look(&ix, &g, &b, 0, 0).await.unwrap();
        assert_eq!((old.color, old.by, old.as_of), (1, None, 4));
        assert_eq!(
            look(&ix, &g, &b, 3, 7).await.unwrap().by.as_deref(),
            Some("new")
        );
        // The index falls behind the retained history: it is rebuilt.
        for i in 0..6 {
            place(&g, &b, i, 6, 5, "later").await;
            clock.advance(1);
        }
        let got = look(&ix, &g, &b, 5, 6).await.unwrap();
        assert_eq!(
            (got.color, got.by.as_deref(), got.as_of),
            (5, Some("later"), 10)
        );
        assert_eq!(look(&ix, &g, &b, 0, 6).await.unwrap().color, 5);
        assert_eq!(look(&ix, &g, &b, 0, 0).await.unwrap().color, 1);
    }
}
