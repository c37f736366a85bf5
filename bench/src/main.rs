//! `pixel-bench`: the load generator. Every scenario speaks Engine.IO v4 /
//! Socket.IO v5 over WebSocket itself (see `sio`), runs `--runs` times
//! within bounded time and writes its figures — every run and the median —
//! as JSON; `report` turns a directory of results into the markdown and
//! JSON tables. `scripts/bench.sh` is the documented way to run them all.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use serde::Serialize;
use serde_json::{Map, Value, json};

use bench::{failover, report, scenarios, stats};
use scenarios::{
    ChurnArgs, Common, DecayBacklogArgs, DecaySteadyArgs, FanoutArgs, FillArgs, IdleArgs,
    PlaceArgs, SnapshotArgs,
};

#[derive(Parser)]
#[command(name = "pixel-bench", version, about = "Realtime Pixel load generator")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// N watchers, M placing sockets, open-loop rate R: deliveries/s, ratio,
    /// latency from send to delivery, batching, per-connection seq order.
    Fanout {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: FanoutArgs,
    },
    /// W watchers each on a block of adjacent viewport tiles (or, with
    /// `--block 0`, the whole board), placements spread over the board:
    /// bytes and events per watcher per second, per-tile order, and that
    /// each watcher gets only its tiles' updates.
    FanoutTiles {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: bench::tiles::TileFanoutArgs,
    },
    /// Idle joined connections: the server's RSS per connection.
    Idle {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: IdleArgs,
    },
    /// Connection churn: concurrent loops of connect → join → disconnect;
    /// cycles/s, failures, connect-to-join-ack latency.
    Churn {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: ChurnArgs,
    },
    /// Placements/s and ack latency (open loop, cooldown checked).
    Place {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: PlaceArgs,
    },
    /// Places every cell of the board once (for the snapshot scenario).
    Fill {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: FillArgs,
    },
    /// Snapshot requests/s and latency, plain (gzip) or conditional (304).
    Snapshot {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: SnapshotArgs,
    },
    /// Removal delay after `expires_at` under a steady placement rate.
    DecaySteady {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: DecaySteadyArgs,
    },
    /// Removals/s from a backlog: pause the worker, place, let them fall
    /// due, resume, time until every removal arrived.
    DecayBacklog {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: DecayBacklogArgs,
    },
    /// Placements while a command kills the Redis primary: time until acks
    /// are ok again, what they said meanwhile, acked placements missing.
    Failover {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: failover::FailoverArgs,
    },
    /// Results directory → markdown + JSON tables (and checks).
    Report(report::ReportArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match cli.cmd {
            Cmd::Fanout { common, args } => {
                // The binary form is its own scenario in the results.
                let name = match args.encoding {
                    scenarios::Encoding::Json => "fanout",
                    scenarios::Encoding::Binary => "fanout-binary",
                };
                run(name, &common, &args, async || {
                    scenarios::fanout(&common, &args).await
                })
                .await
            }
            Cmd::FanoutTiles { common, args } => {
                // Whole-board watchers on the same board: the comparison.
                let name = if args.block == 0 {
                    "fanout-tiles-whole"
                } else {
                    "fanout-tiles"
                };
                run(name, &common, &args, async || {
                    bench::tiles::fanout_tiles(&common, &args).await
                })
                .await
            }
            Cmd::Idle { common, args } => {
                run("idle", &common, &args, async || {
                    scenarios::idle(&common, &args).await
                })
                .await
            }
            Cmd::Churn { common, args } => {
                run("churn", &common, &args, async || {
                    scenarios::churn(&common, &args).await
                })
                .await
            }
            Cmd::Place { common, args } => {
                run("place", &common, &args, async || {
                    scenarios::place(&common, &args).await
                })
                .await
            }
            Cmd::Fill { common, args } => {
                run("fill", &common, &args, async || {
                    scenarios::fill(&common, &args).await
                })
                .await
            }
            Cmd::Snapshot { common, args } => {
                let name = match args.mode {
                    scenarios::SnapshotMode::Plain => "snapshot-plain",
                    scenarios::SnapshotMode::Conditional => "snapshot-conditional",
                    scenarios::SnapshotMode::Tile => "snapshot-tile",
                };
                run(name, &common, &args, async || {
                    scenarios::snapshot(&common, &args).await
                })
                .await
            }
            Cmd::DecaySteady { common, args } => {
                run("decay-steady", &common, &args, async || {
                    scenarios::decay_steady(&common, &args).await
                })
                .await
            }
            Cmd::DecayBacklog { common, args } => {
                run("decay-backlog", &common, &args, async || {
                    scenarios::decay_backlog(&common, &args).await
                })
                .await
            }
            Cmd::Failover { common, args } => {
                run("failover", &common, &args, async || {
                    failover::failover(&common, &args).await
                })
                .await
            }
            Cmd::Report(args) => report::report(&args),
        }
    })
}

/// Runs a scenario `common.runs` times, prints and writes the result. A
/// failed run is recorded with its error; the exit status is non-zero when
/// any run failed.
async fn run<A: Serialize>(
    name: &str,
    common: &Common,
    args: &A,
    f: impl AsyncFn() -> Result<Map<String, Value>>,
) -> Result<()> {
    let mut runs = Vec::new();
    let mut failed = 0;
    for i in 0..common.runs.max(1) {
        if i > 0 {
            tokio::time::sleep(Duration::from_secs_f64(common.pause_s)).await;
        }
        eprintln!("[{name}] {} run {}/{}", common.label, i + 1, common.runs);
        let mut r = match f().await {
            Ok(r) => r,
            Err(e) => {
                failed += 1;
                eprintln!("[{name}] run failed: {e:#}");
                let mut m = Map::new();
                m.insert("error".into(), format!("{e:#}").into());
                m
            }
        };
        r.insert("run".into(), (i + 1).into());
        eprintln!("[{name}] {}", Value::Object(r.clone()));
        runs.push(r);
    }
    let good: Vec<Map<String, Value>> = runs
        .iter()
        .filter(|r| !r.contains_key("error"))
        .cloned()
        .collect();
    let result = json!({
        "scenario": name,
        "label": common.label,
        "server": common.server,
        "params": {"common": common, "scenario": args},
        "runs": runs,
        "failed_runs": failed,
        "median": stats::median(&good),
    });
    let text = serde_json::to_string_pretty(&result)?;
    if let Some(out) = &common.out {
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    }
    println!("{text}");
    if failed > 0 {
        anyhow::bail!("{name}: {failed} of {} runs failed", runs.len());
    }
    Ok(())
}
