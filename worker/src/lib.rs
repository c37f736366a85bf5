//! The decay worker: sweeps every board's expiry index for pixels whose TTL
//! has passed, removes them (each removal gets the next seq and enters the
//! history, atomically, in the store) and broadcasts the removals in batches.
//!
//! The store's sweep is atomic, so several workers may run at once: each
//! expired pixel is removed by exactly one of them. A worker that was down
//! simply finds more expired entries on its next pass and catches up.
//!
//! # Layout
//!
//! - [`sweep_once`]: one full pass, the unit tests drive it with a manual clock.
//! - [`run`]: the loop around it, until shutdown.
//! - [`config`]: the sweep settings and the worker binary's configuration.
//! - [`emitter`]: how the worker binary reaches every gateway's sockets.
//! - [`service`]: the worker binary's wiring.

pub mod config;
pub mod emitter;
pub mod service;

use std::future::Future;
use std::time::{Duration, Instant};

use pixel_core::Game;
use pixel_core::broadcast::Broadcaster;
use pixel_core::game::GameError;

pub use config::SweepSettings;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub removed: usize,
    pub batches: usize,
}

/// Removes everything that has expired by now, `batch` pixels per board and
/// round, broadcasting each batch as one `pixels` event. A failed broadcast
/// is logged, not retried: the removals are in the history and clients
/// catch up by seq.
pub async fn sweep_once(
    game: &Game,
    broadcaster: &dyn Broadcaster,
    batch: usize,
) -> Result<SweepReport, GameError> {
    let batch = batch.max(1);
    let mut report = SweepReport::default();
    loop {
        let swept = game.sweep(batch).await?;
        let mut full = false;
        for (board, removed) in &swept {
            report.removed += removed.len();
            report.batches += 1;
            full |= removed.len() == batch;
            if let Err(e) = broadcaster.pixels(&board.id, removed).await {
                tracing::warn!(board = %board.id, error = %e, "decay broadcast failed");
            }
        }
        if !full {
            return Ok(report);
        }
    }
}

/// Sweeps every `settings.interval` until `shutdown` resolves.
pub async fn run(
    game: &Game,
    broadcaster: &dyn Broadcaster,
    settings: &SweepSettings,
    shutdown: impl Future<Output = ()>,
) {
    let mut tick = tokio::time::interval(settings.interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = tick.tick() => {}
        }
        let start = Instant::now();
        let span = tracing::debug_span!("sweep");
        let result = tracing::Instrument::instrument(
            sweep_once(game, broadcaster, settings.sweep_batch),
            span,
        )
        .await;
        metrics::histogram!("worker_sweep_duration_seconds").record(start.elapsed().as_secs_f64());
        match result {
            Ok(r) => {
                metrics::counter!("worker_sweeps_total", "outcome" => "ok").increment(1);
                if r.removed > 0 {
                    tracing::debug!(removed = r.removed, batches = r.batches, "swept");
                }
            }
            Err(e) => {
                metrics::counter!("worker_sweeps_total", "outcome" => "error").increment(1);
                tracing::warn!(error = %e, "sweep failed; retrying");
                // Back off a little while the store is down.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    tracing::info!("sweeper stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use pixel_core::ManualClock;
    use pixel_core::domain::{BoardId, Update};
    use pixel_core::game::Player;
    use pixel_core::store::MemoryStore;

    /// Records what would have been broadcast.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(String, Vec<Update>)>>);

    #[async_trait]
    impl Broadcaster for Recorder {
        async fn pixels(&self, board: &BoardId, updates: &[Update]) -> anyhow::Result<()> {
            self.0
                .lock()
                .unwrap()
                .push((board.to_string(), updates.to_vec()));
            Ok(())
        }
    }

    async fn game_with_pixels(clock: &ManualClock, n: u32) -> Game {
        let mut boards = pixel_core::config::GameConfig {
            board_width: 10,
            board_height: 10,
            cooldown_ms: 0,
            ttl_ms: 1000,
        }
        .boards()
        .unwrap();
        boards[0].cooldown_ms = 0;
        let game = Game::new(
            Arc::new(MemoryStore::new()),
            boards,
            Arc::new(clock.clone()),
        );
        game.init().await.unwrap();
        let b = game.board("main").unwrap().clone();
        for i in 0..n {
            let p = Player {
                id: format!("u{i}"),
                name: format!("p{i}"),
            };
            game.place(
                &b,
                b.coord(u64::from(i % 10), u64::from(i / 10)).unwrap(),
                b.color(1).unwrap(),
                &p,
            )
            .await
            .unwrap();
        }
        game
    }

    #[tokio::test]
    async fn a_pass_removes_everything_expired_in_batches() {
        let clock = ManualClock::new(0);
        let game = game_with_pixels(&clock, 25).await;
        let rec = Recorder::default();
        assert_eq!(
            sweep_once(&game, &rec, 10).await.unwrap(),
            SweepReport::default()
        );
        clock.advance(1000);
        let report = sweep_once(&game, &rec, 10).await.unwrap();
        assert_eq!(
            report,
            SweepReport {
                removed: 25,
                batches: 3
            }
        );
        let sent = rec.0.lock().unwrap();
        let sizes: Vec<_> = sent.iter().map(|(_, u)| u.len()).collect();
        assert_eq!(sizes, vec![10, 10, 5]);
        let seqs: Vec<u64> = sent
            .iter()
            .flat_map(|(_, u)| u.iter().map(|u| u.seq))
            .collect();
        assert_eq!(
            seqs,
            (26..=50).collect::<Vec<_>>(),
            "removals follow the placements' seqs"
        );
        assert!(
            sent.iter()
                .all(|(b, u)| b == "main" && u.iter().all(|u| u.color == 0))
        );
    }

    #[tokio::test]
    async fn a_worker_that_was_down_catches_up() {
        let clock = ManualClock::new(0);
        let game = game_with_pixels(&clock, 5).await;
        clock.advance(3_600_000);
        let rec = Recorder::default();
        assert_eq!(sweep_once(&game, &rec, 100).await.unwrap().removed, 5);
        assert!(
            game.snapshot(game.board("main").unwrap())
                .await
                .unwrap()
                .pixels
                .is_empty()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn run_stops_on_shutdown() {
        let clock = ManualClock::new(0);
        let game = game_with_pixels(&clock, 1).await;
        clock.advance(1000);
        let rec = Recorder::default();
        let settings = SweepSettings {
            sweep_interval_ms: 250,
            sweep_batch: 100,
        };
        run(
            &game,
            &rec,
            &settings,
            tokio::time::sleep(Duration::from_secs(1)),
        )
        .await;
        assert_eq!(rec.0.lock().unwrap().len(), 1);
    }
}
