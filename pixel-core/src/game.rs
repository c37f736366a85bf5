//! The game's operations over a [`BoardStore`]: the one place where the rules that
//! turn a validated request into a store command live (expiry time, cooldown
//! end, history policy), shared by the gateway (placements, catch-up), the api
//! (meta, snapshots) and the worker (decay sweeps).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::GameConfig;
use crate::domain::{BoardConfig, BoardId, BoardMeta, Color, Coord, HistoryPolicy, Update};
use crate::error::ErrorCode;
use crate::store::{
    BoardStore, Catchup, Cause, HistoryRead, MAX_CATCHUP, PlaceCommand, PlaceOutcome, StoreError,
    StoredSnapshot, SweepOutcome,
};

/// How long settling one placement whose answer was lost may take in all:
/// its player waits for the ack (a frozen Redis would otherwise hold it
/// for every attempt's response timeout in turn).
const SETTLE_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);
/// Attempts at settling it within that budget (with backoff).
const SETTLE_ATTEMPTS: u32 = 8;

/// Errors of game operations; each maps to one contract code.
#[derive(Debug, thiserror::Error)]
pub enum GameError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("board {0} does not exist")]
    NotFound(String),
    #[error("cooldown: retry in {retry_after_ms} ms")]
    Cooldown { retry_after_ms: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl GameError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidInput(_) => ErrorCode::InvalidInput,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Cooldown { .. } => ErrorCode::Cooldown,
            Self::Store(StoreError::Unavailable(_) | StoreError::OutcomeUnknown(_)) => {
                ErrorCode::Unavailable
            }
            Self::Store(_) => ErrorCode::Internal,
        }
    }
}

/// Who places a pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Player {
    pub id: String,
    pub name: String,
}

/// A successful placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub update: Update,
    pub cooldown_until: i64,
}

/// The game's rules over a [`BoardStore`] (it never sees accounts: a
/// player arrives as a verified [`Player`]), shared by the gateway, the api
/// and the worker: a request reaches the store only as a validated command
/// (board, coordinate and colour checked, expiry and cooldown end computed
/// here, from this process's clock), so every service applies the same
/// rules. A placement whose answer was lost is settled here (looked up,
/// or fenced off for good) before it is reported, within a bounded time.
///
/// What it guarantees, on top of the store's atomic steps:
/// - **One step per placement.** [`Game::place`] is one store step: the
///   cooldown check, the pixel, its seq, its feed entry and the new cooldown
///   together; an `Ok` names the seq the update has in the board's feed.
/// - **Seq order.** [`Game::catch_up`] returns every update after `since`
///   up to the caller's feed position, consecutive and in seq order, or
///   [`Catchup::Resync`] — never a gap.
/// - **Retries.** A placement is never retried here: an attempt whose
///   answer was lost is settled, so it is reported as applied (with its
///   seq) or as not applied, and only when that cannot be found out as
///   unknown. A caller's own retry is a new placement, which the cooldown
///   the first one set refuses if that one was applied. [`Game::init`] and
///   [`Game::sweep`] may be retried freely.
///
/// What an error of a placement means for what was applied:
/// [`GameError::Store`] with [`StoreError::Unavailable`] changed nothing;
/// with [`StoreError::OutcomeUnknown`] the placement may have been applied
/// (its update then appears in the board's feed with its seq, as any
/// other); every other error (`InvalidInput`, `NotFound`, `Cooldown`,
/// `Corrupt`) changed nothing. A [`Game::sweep`] that failed may have swept
/// the boards before the failing one, and that one whole or not at all
/// (on Redis a lost answer reads as `Unavailable`); every removal made is in
/// its board's feed as any other, and the next sweep carries on from there.
pub struct Game {
    store: Arc<dyn BoardStore>,
    boards: BTreeMap<BoardId, Arc<BoardConfig>>,
    counters: BTreeMap<BoardId, BoardCounters>,
    clock: SharedClock,
    history: HistoryPolicy,
}

/// A board's metric handles, made once.
struct BoardCounters {
    placements: metrics::Counter,
    decays: metrics::Counter,
}

impl BoardCounters {
    fn new(board: &BoardId) -> Self {
        crate::telemetry::install_recorder();
        let board = board.to_string();
        Self {
            placements: metrics::counter!("pixel_placements_total", "board" => board.clone()),
            decays: metrics::counter!("pixel_decays_total", "board" => board),
        }
    }
}

impl Game {
    pub fn new(store: Arc<dyn BoardStore>, boards: Vec<BoardConfig>, clock: SharedClock) -> Self {
        Self {
            store,
            counters: boards
                .iter()
                .map(|b| (b.id.clone(), BoardCounters::new(&b.id)))
                .collect(),
            boards: boards
                .into_iter()
                .map(|b| (b.id.clone(), Arc::new(b)))
                .collect(),
            clock,
            history: HistoryPolicy::default(),
        }
    }

    /// The game over `store` (see [`Stores::open`](crate::store::Stores::open))
    /// with the configured boards, every one initialised in the store.
    pub async fn open(
        store: Arc<dyn BoardStore>,
        game: &GameConfig,
        clock: SharedClock,
    ) -> anyhow::Result<Arc<Self>> {
        let boards = game.boards()?;
        let game = Arc::new(Self::new(store, boards, clock));
        game.init().await?;
        Ok(game)
    }

    pub fn with_history(mut self, history: HistoryPolicy) -> Self {
        self.history = history;
        self
    }

    /// Creates every configured board in the store (keeping existing state).
    pub async fn init(&self) -> Result<(), StoreError> {
        for board in self.boards.values() {
            self.store.init_board(board).await?;
        }
        Ok(())
    }

    pub fn store(&self) -> &Arc<dyn BoardStore> {
        &self.store
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn boards(&self) -> impl Iterator<Item = &Arc<BoardConfig>> {
        self.boards.values()
    }

    /// Resolves a board id from the outside: malformed → `invalid_input`,
    /// well-formed but unknown → `not_found`.
    pub fn board(&self, raw: &str) -> Result<&Arc<BoardConfig>, GameError> {
        let id = BoardId::parse(raw).map_err(GameError::InvalidInput)?;
        self.boards
            .get(&id)
            .ok_or_else(|| GameError::NotFound(id.to_string()))
    }

    /// The board's current seq.
    pub async fn seq(&self, board: &BoardConfig) -> Result<u64, GameError> {
        Ok(self.store.board_seq(&board.id).await?)
    }

    pub async fn meta(&self, board: &BoardConfig) -> Result<BoardMeta, GameError> {
        Ok(board.meta(self.seq(board).await?))
    }

    pub async fn place(
        &self,
        board: &BoardConfig,
        coord: Coord,
        color: Color,
        player: &Player,
    ) -> Result<Placed, GameError> {
        let now = self.now();
        let cooldown_until = now.saturating_add(board.cooldown_ms as i64);
        let placement_id = uuid::Uuid::new_v4().simple().to_string();
        let cmd = PlaceCommand {
            board,
            coord,
            color: color.get(),
            user_id: &player.id,
            by: &player.name,
            now,
            expires_at: now.saturating_add(board.ttl_ms as i64),
            cooldown_until,
            history: self.history,
            placement_id: &placement_id,
        };
        let outcome = match self.store.place(&cmd).await {
            Err(StoreError::OutcomeUnknown(reason)) => self.settle(&cmd, reason).await?,
            other => other?,
        };
        match outcome {
            PlaceOutcome::Placed(update) => {
                if let Some(c) = self.counters.get(&board.id) {
                    c.placements.increment(1);
                }
                Ok(Placed {
                    update,
                    cooldown_until,
                })
            }
            // Gateways read their clocks independently: a cooldown set by
            // one whose clock is a little ahead can look longer than a
            // whole cooldown from here. No wait is ever longer than that.
            PlaceOutcome::Cooldown { retry_after_ms } => Err(GameError::Cooldown {
                retry_after_ms: retry_after_ms.clamp(1, (board.cooldown_ms as i64).max(1)),
            }),
        }
    }

    /// A placement whose answer was lost: asks the store whether it was
    /// applied (which also makes sure it never will be if it was not),
    /// retrying for a few seconds while the store does not answer. Still no
    /// answer: the outcome stays unknown, and is reported as such.
    async fn settle(
        &self,
        cmd: &PlaceCommand<'_>,
        reason: Cause,
    ) -> Result<PlaceOutcome, GameError> {
        tracing::debug!(%reason, "placement outcome unknown; settling it");
        let attempts = async {
            let mut delay = std::time::Duration::from_millis(50);
            for _ in 0..SETTLE_ATTEMPTS {
                match self
                    .store
                    .settle_placement(&cmd.board.id, cmd.user_id, cmd.placement_id)
                    .await
                {
                    Ok(Some(seq)) => return Ok(PlaceOutcome::Placed(cmd.update(seq))),
                    Ok(None) => {
                        return Err(GameError::Store(StoreError::Unavailable(Cause::msg(
                            format!("placement not applied ({reason})"),
                        ))));
                    }
                    Err(e) => tracing::debug!(
                        error = %crate::error::Report(&e),
                        "settling a placement failed; retrying"
                    ),
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(1));
            }
            Err(GameError::Store(StoreError::OutcomeUnknown(reason.clone())))
        };
        // A player waits for this ack: past the budget, say that the
        // outcome is unknown (true) rather than keep them waiting. A
        // look-up cut short either read the seq or fenced the attempt off;
        // neither makes that answer untrue.
        tokio::time::timeout(SETTLE_BUDGET, attempts)
            .await
            .unwrap_or(Err(GameError::Store(StoreError::OutcomeUnknown(reason))))
    }

    /// What `join since` gets on a connection whose feed stands at `upto`:
    /// every update `since + 1 ..= upto`, or a resync when the history no
    /// longer holds them all, when there are more than [`MAX_CATCHUP`], or
    /// when `since` is beyond anything the store issued.
    pub async fn catch_up(
        &self,
        board: &BoardConfig,
        since: u64,
        upto: u64,
    ) -> Result<Catchup, GameError> {
        if upto > since && upto - since > MAX_CATCHUP {
            // Checked before reading: a far-behind client costs nothing.
            return Ok(Catchup::Resync);
        }
        let limit = upto.saturating_sub(since) as usize;
        let read = self
            .store
            .read_history(&board.id, since, upto, limit)
            .await?;
        Ok(Catchup::from_history(since, upto, read))
    }

    /// Up to `limit` retained updates after `since`, for replaying history.
    pub async fn history(
        &self,
        board: &BoardConfig,
        since: u64,
        limit: usize,
    ) -> Result<HistoryRead, GameError> {
        Ok(self
            .store
            .read_history(&board.id, since, u64::MAX, limit)
            .await?)
    }

    pub async fn snapshot(&self, board: &BoardConfig) -> Result<StoredSnapshot, GameError> {
        Ok(self.store.snapshot(board).await?)
    }

    /// One decay pass over every board: removes what has expired by now, at
    /// most `batch` pixels per board, and returns what each board's sweep did.
    pub async fn sweep(
        &self,
        batch: usize,
    ) -> Result<Vec<(Arc<BoardConfig>, SweepOutcome)>, GameError> {
        let now = self.now();
        let mut out = Vec::new();
        for board in self.boards.values() {
            let swept = self.store.sweep(board, now, batch, self.history).await?;
            if let Some(c) = self.counters.get(&board.id)
                && !swept.removed.is_empty()
            {
                c.decays.increment(swept.removed.len() as u64);
            }
            out.push((board.clone(), swept));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryStore;

    fn board(id: &str) -> BoardConfig {
        crate::testing::board(id).with_size(4, 4).build()
    }

    async fn game(clock: &ManualClock) -> Game {
        let g = Game::new(
            Arc::new(MemoryStore::new()),
            vec![board("main"), board("other")],
            Arc::new(clock.clone()),
        );
        g.init().await.unwrap();
        g
    }

    /// The removals of one sweep pass over every board.
    async fn removed(g: &Game, batch: usize) -> Vec<Update> {
        let swept = g.sweep(batch).await.unwrap();
        swept.into_iter().flat_map(|(_, s)| s.removed).collect()
    }

    #[tokio::test]
    async fn catch_up_beyond_the_cap_resyncs_without_reading() {
        let clock = ManualClock::new(0);
        let g = game(&clock).await;
        let b = g.board("main").unwrap().clone();
        assert_eq!(
            g.catch_up(&b, 0, MAX_CATCHUP + 1).await.unwrap(),
            Catchup::Resync
        );
    }

    fn ann() -> Player {
        crate::testing::player("ann")
    }

    #[test]
    fn malformed_and_unknown_boards_differ() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let g = rt.block_on(game(&ManualClock::new(0)));
        assert!(g.board("main").is_ok());
        assert!(matches!(g.board("nope"), Err(GameError::NotFound(_))));
        assert!(matches!(g.board("no pe"), Err(GameError::InvalidInput(_))));
    }

    #[tokio::test]
    async fn placement_sets_expiry_and_cooldown_from_the_clock() {
        let clock = ManualClock::new(1_000_000);
        let g = game(&clock).await;
        let b = g.board("main").unwrap().clone();
        let p = g
            .place(&b, b.coord(1, 2).unwrap(), b.color(3).unwrap(), &ann())
            .await
            .unwrap();
        assert_eq!(p.update.seq, 1);
        assert_eq!(p.update.placed_at, Some(1_000_000));
        assert_eq!(p.update.expires_at, Some(1_010_000));
        assert_eq!(p.update.by.as_deref(), Some("ann"));
        assert_eq!(p.cooldown_until, 1_001_000);
    }

    #[tokio::test]
    async fn cooldown_is_per_user_across_boards_and_ends_on_time() {
        let clock = ManualClock::new(0);
        let g = game(&clock).await;
        let main = g.board("main").unwrap().clone();
        let other = g.board("other").unwrap().clone();
        let (c, col) = (main.coord(0, 0).unwrap(), main.color(1).unwrap());
        g.place(&main, c, col, &ann()).await.unwrap();
        clock.advance(400);
        match g.place(&other, c, col, &ann()).await {
            Err(GameError::Cooldown { retry_after_ms }) => assert_eq!(retry_after_ms, 600),
            other => panic!("expected cooldown, got {other:?}"),
        }
        // Another user is not affected.
        let bob = Player {
            id: "u2".into(),
            name: "bob".into(),
        };
        g.place(&other, c, col, &bob).await.unwrap();
        clock.advance(599);
        assert!(matches!(
            g.place(&main, c, col, &ann()).await,
            Err(GameError::Cooldown { retry_after_ms: 1 })
        ));
        clock.advance(1);
        g.place(&main, c, col, &ann()).await.unwrap();
    }

    #[tokio::test]
    async fn a_cooldown_set_by_a_clock_ahead_never_asks_for_more_than_a_cooldown() {
        let clock = ManualClock::new(10_000);
        let g = game(&clock).await;
        let b = g.board("main").unwrap().clone();
        let (c, col) = (b.coord(0, 0).unwrap(), b.color(1).unwrap());
        g.place(&b, c, col, &ann()).await.unwrap();
        // Another gateway whose clock is 30 ms behind sees ann's cooldown.
        let behind = Game::new(g.store().clone(), vec![b.as_ref().clone()], {
            let late = ManualClock::new(9_970);
            Arc::new(late)
        });
        match behind.place(&b, c, col, &ann()).await {
            Err(GameError::Cooldown { retry_after_ms }) => assert_eq!(retry_after_ms, 1000),
            other => panic!("expected cooldown, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_rejected_placement_changes_nothing() {
        let clock = ManualClock::new(0);
        let g = game(&clock).await;
        let b = g.board("main").unwrap().clone();
        g.place(&b, b.coord(0, 0).unwrap(), b.color(1).unwrap(), &ann())
            .await
            .unwrap();
        let before = g.snapshot(&b).await.unwrap();
        let _ = g
            .place(&b, b.coord(1, 1).unwrap(), b.color(2).unwrap(), &ann())
            .await
            .unwrap_err();
        assert_eq!(g.snapshot(&b).await.unwrap(), before);
    }

    #[tokio::test]
    async fn decay_removes_expired_pixels_with_new_seqs() {
        let clock = ManualClock::new(0);
        let g = game(&clock).await;
        let b = g.board("main").unwrap().clone();
        g.place(&b, b.coord(0, 0).unwrap(), b.color(1).unwrap(), &ann())
            .await
            .unwrap();
        clock.advance(9_999);
        assert!(removed(&g, 100).await.is_empty());
        clock.advance(1);
        assert_eq!(removed(&g, 100).await, vec![Update::decay(2, 0, 0)]);
        assert!(g.snapshot(&b).await.unwrap().pixels.is_empty());
        assert!(removed(&g, 100).await.is_empty(), "never removed twice");
    }

    #[tokio::test]
    async fn an_overwrite_restarts_the_pixels_clock() {
        let clock = ManualClock::new(0);
        let g = game(&clock).await;
        let b = g.board("main").unwrap().clone();
        let bob = Player {
            id: "u2".into(),
            name: "bob".into(),
        };
        let c = b.coord(2, 2).unwrap();
        g.place(&b, c, b.color(1).unwrap(), &ann()).await.unwrap();
        clock.advance(5_000);
        g.place(&b, c, b.color(2).unwrap(), &bob).await.unwrap();
        clock.advance(5_000); // the first placement's expiry
        assert!(removed(&g, 100).await.is_empty());
        let snap = g.snapshot(&b).await.unwrap();
        assert_eq!(snap.pixels.len(), 1);
        assert_eq!(snap.pixels[0].color, 2);
        clock.advance(5_000);
        assert_eq!(removed(&g, 100).await, vec![Update::decay(3, 2, 2)]);
    }

    #[tokio::test]
    async fn sweeps_are_batched() {
        let clock = ManualClock::new(0);
        let g = game(&clock).await;
        let b = g.board("main").unwrap().clone();
        for i in 0..5 {
            let p = Player {
                id: format!("u{i}"),
                name: format!("p{i}"),
            };
            g.place(&b, b.coord(i % 4, i / 4).unwrap(), b.color(1).unwrap(), &p)
                .await
                .unwrap();
        }
        clock.advance(10_000);
        assert_eq!(removed(&g, 2).await.len(), 2);
        assert_eq!(removed(&g, 2).await.len(), 2);
        assert_eq!(removed(&g, 2).await.len(), 1);
        assert!(removed(&g, 2).await.is_empty());
    }

    #[tokio::test]
    async fn seqs_strictly_increase_and_catch_up_replays_in_order() {
        let clock = ManualClock::new(0);
        let g = game(&clock).await;
        let b = g.board("main").unwrap().clone();
        let mut seqs = Vec::new();
        for i in 0..6u32 {
            let p = Player {
                id: format!("u{i}"),
                name: format!("p{i}"),
            };
            let placed = g
                .place(
                    &b,
                    b.coord(u64::from(i % 4), 0).unwrap(),
                    b.color(2).unwrap(),
                    &p,
                )
                .await
                .unwrap();
            seqs.push(placed.update.seq);
        }
        assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6]);
        match g.catch_up(&b, 3, 6).await.unwrap() {
            Catchup::Updates(u) => {
                assert_eq!(u.iter().map(|u| u.seq).collect::<Vec<_>>(), vec![4, 5, 6])
            }
            Catchup::Resync => panic!("history should reach back to 3"),
        }
        // A connection whose feed stands at 5 gets 4 and 5; 6 follows live.
        match g.catch_up(&b, 3, 5).await.unwrap() {
            Catchup::Updates(u) => {
                assert_eq!(u.iter().map(|u| u.seq).collect::<Vec<_>>(), vec![4, 5])
            }
            Catchup::Resync => panic!("history should reach back to 3"),
        }
        assert_eq!(
            g.catch_up(&b, 6, 6).await.unwrap(),
            Catchup::Updates(vec![])
        );
        // Ahead of this connection's feed but known to the store: nothing
        // to replay, the feed brings the rest.
        assert_eq!(
            g.catch_up(&b, 6, 4).await.unwrap(),
            Catchup::Updates(vec![])
        );
        assert_eq!(g.catch_up(&b, 7, 6).await.unwrap(), Catchup::Resync);
    }

    #[tokio::test]
    async fn catch_up_beyond_the_history_asks_for_a_resync() {
        let clock = ManualClock::new(0);
        let g = game(&clock).await.with_history(HistoryPolicy {
            min_updates: 2,
            min_age_ms: 100,
        });
        let b = g.board("main").unwrap().clone();
        for i in 0..5u32 {
            let p = Player {
                id: format!("u{i}"),
                name: format!("p{i}"),
            };
            clock.advance(1_000);
            g.place(&b, b.coord(0, 0).unwrap(), b.color(2).unwrap(), &p)
                .await
                .unwrap();
        }
        assert_eq!(g.catch_up(&b, 1, 5).await.unwrap(), Catchup::Resync);
        match g.catch_up(&b, 3, 5).await.unwrap() {
            Catchup::Updates(u) => assert_eq!(u.len(), 2),
            Catchup::Resync => panic!("the last two updates are kept"),
        }
    }
}
