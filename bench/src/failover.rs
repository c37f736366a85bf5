//! The `failover` scenario: placements at an open-loop rate while a shell
//! command kills the Redis primary (`--kill-cmd`), so the figures are what
//! a player sees of a failover — how long from the kill until a placement
//! is acked again, what the acks said meanwhile, and whether every acked
//! placement is still on the board afterwards (with
//! `REDIS_MIN_REPLICAS_ACKED=1` none may be missing; without it the last
//! writes before the kill may be). `--restore-cmd` runs right after the
//! kill, while placements go on (the killed node started again as a
//! replica once the failover is done): with one replica and
//! `REDIS_MIN_REPLICAS_ACKED=1`, writes are acked again only once it is
//! back, which is what the figures then show; and the next run starts
//! with a replica again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::clients::{Cells, Progress, now_ns, open_loop, signup, wait_until};
use crate::scenarios::{
    Common, connect_placers, finish_placers, offset, placer_figures, run_shell,
};
use crate::stats::{CpuMeter, num};

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct FailoverArgs {
    /// Signed-in sockets placing (one user each).
    #[arg(long, default_value_t = 20)]
    pub sockets: usize,
    /// Offered placements per second (open loop, over all sockets).
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// How long placements are offered, seconds.
    #[arg(long, default_value_t = 15.0)]
    pub duration_s: f64,
    /// When the kill command runs, seconds after the first placement.
    #[arg(long, default_value_t = 4.0)]
    pub kill_after_s: f64,
    /// Shell command that kills the primary (e.g. `kill -9 <pid>`).
    #[arg(long)]
    pub kill_cmd: String,
    /// Shell command run right after the kill, while placements go on
    /// (e.g. the killed node started again once the failover is done).
    #[arg(long)]
    pub restore_cmd: Option<String>,
    /// Longest wait for the last acks, seconds.
    #[arg(long, default_value_t = 30.0)]
    pub drain_s: f64,
}

/// What the board says of one acked placement: `(x, y) → expires_at`.
async fn board_expiries(c: &Common) -> Result<HashMap<(u32, u32), i64>> {
    let url = format!("{}/api/boards/{}/pixels", c.api, c.board);
    let http = reqwest::Client::new();
    // The api follows the failover too; it may answer 503 for a moment.
    let mut last = String::new();
    for _ in 0..60 {
        match http.get(&url).timeout(Duration::from_secs(30)).send().await {
            Ok(r) if r.status().is_success() => {
                let v: Value = r.json().await.context("snapshot body")?;
                let pixels = v["pixels"].as_array().context("snapshot without pixels")?;
                return Ok(pixels
                    .iter()
                    .filter_map(|p| {
                        let p = p.as_array()?;
                        Some((
                            (p.first()?.as_u64()? as u32, p.get(1)?.as_u64()? as u32),
                            p.get(4)?.as_i64()?,
                        ))
                    })
                    .collect());
            }
            Ok(r) => last = format!("status {}", r.status()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("the snapshot after the failover never answered: {last}")
}

pub async fn failover(c: &Common, a: &FailoverArgs) -> Result<Map<String, Value>> {
    if a.kill_after_s >= a.duration_s {
        bail!("--kill-after-s must be below --duration-s");
    }
    let ep = c.endpoint();
    let progress = Arc::new(Progress::default());
    let tokens = signup(&c.api, a.sockets).await?;
    let (placers, joined) = connect_placers(c, &ep, 0, &tokens, &progress, None).await?;
    let mut cells = Cells::new(&joined, offset());
    if cells.count() < (a.rate * a.duration_s) as u64 {
        bail!(
            "the board has fewer cells than the run places: a lost placement could hide under a later one"
        );
    }
    let mut out = Map::new();
    let cpu = CpuMeter::start(&c.pids());
    let kill_cmd = a.kill_cmd.clone();
    let restore_cmd = a.restore_cmd.clone();
    let kill_after = Duration::from_secs_f64(a.kill_after_s);
    // The kill is the command's last step: its moment is when the command
    // returns. The restore runs right after, while placements go on.
    let killer = tokio::spawn(async move {
        tokio::time::sleep(kill_after).await;
        run_shell(&kill_cmd).await?;
        let killed = now_ns();
        let restored = match restore_cmd {
            Some(cmd) => {
                run_shell(&cmd).await?;
                Some(now_ns())
            }
            None => None,
        };
        anyhow::Ok((killed, restored))
    });
    let (sent, _, elapsed) = open_loop(
        &placers,
        &mut cells,
        a.rate,
        Duration::from_secs_f64(a.duration_s),
    )
    .await;
    let (kill_ns, restored_ns) = killer.await.context("the kill task")??;
    let p = progress.clone();
    let drained = wait_until(
        || p.acks.load(Ordering::Relaxed) >= sent,
        || p.acks.load(Ordering::Relaxed),
        Duration::from_secs(5),
        Duration::from_secs_f64(a.drain_s),
    )
    .await;
    cpu.finish(&mut out);
    let stats = finish_placers(placers).await;
    out.insert("offered_per_s".into(), num(a.rate));
    out.insert("drained".into(), drained.into());
    let ok = placer_figures(&mut out, &stats);
    out.insert("ok_per_s".into(), num(ok as f64 / elapsed.as_secs_f64()));

    let oks: Vec<_> = stats.iter().flat_map(|s| s.ok.iter().copied()).collect();
    let secs = |ns: u64| ns as f64 / 1e9;
    // The last acked placement before the kill, and the first one sent
    // after it that was acked: the stretch between is what players lost.
    let last_before = oks
        .iter()
        .filter(|o| o.ack_ns < kill_ns)
        .map(|o| o.ack_ns)
        .max();
    let first_after = oks
        .iter()
        .filter(|o| o.send_ns > kill_ns)
        .map(|o| o.ack_ns)
        .min();
    out.insert(
        "first_ok_after_kill_s".into(),
        first_after.map_or(Value::Null, |t| num(secs(t - kill_ns))),
    );
    out.insert(
        "no_ok_ack_s".into(),
        match (last_before, first_after) {
            (Some(b), Some(f)) => num(secs(f - b)),
            _ => Value::Null,
        },
    );
    out.insert(
        "ok_sent_after_kill".into(),
        oks.iter().filter(|o| o.send_ns > kill_ns).count().into(),
    );
    out.insert(
        "restored_after_kill_s".into(),
        restored_ns.map_or(Value::Null, |t| num(secs(t - kill_ns))),
    );
    // Every acked placement still on the board, or covered by a later one
    // of the same cell (never here: the run's cells are distinct).
    let board = board_expiries(c).await?;
    let width = cells.width;
    let missing = oks
        .iter()
        .filter(|o| {
            let at = (o.cell % width, o.cell / width);
            board.get(&at).is_none_or(|&e| e < o.expires_at)
        })
        .count();
    out.insert("acked_missing".into(), missing.into());
    Ok(out)
}
