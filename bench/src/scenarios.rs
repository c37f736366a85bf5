//! The scenarios. Each run returns a flat JSON object of figures (numbers,
//! medians are taken over them) plus a few details (error codes, the
//! spread over gateways).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::{Semaphore, watch};

use crate::clients::{
    Cells, Placer, PlacerStats, Progress, WatchOpts, WatchStats, closed_loop, connect_many,
    connect_watcher, connect_watcher_with, now_ns, open_loop, signup, spawn_watcher, wait_until,
    wall_ms,
};
pub use crate::sio::Encoding;
use crate::sio::Endpoint;
use crate::stats::{CpuMeter, latency_ms, latency_ms_f64, num, rss_bytes};

/// Settings every scenario takes.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct Common {
    /// Socket.IO server (a gateway, nginx or the standalone), host:port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub ws: SocketAddr,
    /// REST base URL (api, nginx or the standalone).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub api: String,
    #[arg(long, default_value = "main")]
    pub board: String,
    /// Loopback source addresses the clients are spread over (127.0.0.2..).
    #[arg(long, default_value_t = 16)]
    pub sources: usize,
    /// Repetitions; the result carries every run and the median.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// What the scenario runs against, e.g. "cluster, 1 gateway".
    #[arg(long, default_value = "")]
    pub label: String,
    /// The server's settings for this run (recorded with the parameters).
    #[arg(long, default_value = "")]
    pub server: String,
    /// Processes whose CPU use is reported: NAME=PID or NAME=@PIDFILE, ...
    #[arg(long, value_delimiter = ',')]
    pub pids: Vec<String>,
    /// Where the result goes (JSON); stdout as well.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Pause between runs, seconds.
    #[arg(long, default_value_t = 1.0)]
    pub pause_s: f64,
}

impl Common {
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::new(self.ws, self.sources)
    }

    /// NAME=PID or NAME=@PIDFILE (read now: a restarted process counts).
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.pids
            .iter()
            .filter_map(|p| {
                let (name, pid) = p.split_once('=')?;
                let pid = match pid.strip_prefix('@') {
                    Some(file) => std::fs::read_to_string(file).ok()?,
                    None => pid.to_owned(),
                };
                Some((name.to_owned(), pid.trim().parse().ok()?))
            })
            .collect()
    }
}

pub(crate) fn offset() -> u64 {
    u64::from(rand_u32())
}

fn rand_u32() -> u32 {
    // No rand dependency needed for an offset: the clock's low bits.
    (now_ns() ^ (wall_ms() as u64).rotate_left(17)) as u32
}

fn merge_errors(stats: &[PlacerStats]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for s in stats {
        for (k, v) in &s.errors {
            *m.entry(k.clone()).or_default() += v;
        }
    }
    m
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// Placers' ack latencies and generator lag into `out`; ok count.
pub(crate) fn placer_figures(out: &mut Map<String, Value>, placers: &[PlacerStats]) -> u64 {
    let sent: u64 = placers.iter().map(|p| p.sent).sum();
    let acks: u64 = placers.iter().map(|p| p.acks).sum();
    let ok: u64 = placers.iter().map(|p| p.ok.len() as u64).sum();
    out.insert("sent".into(), sent.into());
    out.insert("acked".into(), acks.into());
    out.insert("unacked".into(), (sent - acks.min(sent)).into());
    out.insert("ok".into(), ok.into());
    out.insert("failed_acks".into(), (acks - ok.min(acks)).into());
    let mut ack: Vec<u32> = placers
        .iter()
        .flat_map(|p| p.ack_us.iter().copied())
        .collect();
    latency_ms(out, "ack", &mut ack);
    let mut lag: Vec<u32> = placers
        .iter()
        .flat_map(|p| p.lag_us.iter().copied())
        .collect();
    lag.sort_unstable();
    out.insert(
        "generator_lag_p99_ms".into(),
        crate::stats::percentile(&lag, 99.0).map_or(Value::Null, |v| num(f64::from(v) / 1000.0)),
    );
    out.insert("errors".into(), json!(merge_errors(placers)));
    out.insert(
        "placers_lost".into(),
        placers.iter().filter(|p| p.lost).count().into(),
    );
    ok
}

/// Seq order and batching figures of watchers into `out`.
fn watcher_figures(out: &mut Map<String, Value>, w: &[WatchStats]) {
    let sum = |f: &dyn Fn(&WatchStats) -> u64| -> u64 { w.iter().map(f).sum() };
    let events = sum(&|s| s.events);
    let updates = sum(&|s| s.updates);
    out.insert("pixels_events".into(), events.into());
    out.insert("updates_received".into(), updates.into());
    out.insert(
        "updates_per_event".into(),
        num(updates as f64 / events.max(1) as f64),
    );
    out.insert("out_of_order".into(), sum(&|s| s.seq.out_of_order).into());
    out.insert("duplicates".into(), sum(&|s| s.seq.duplicates).into());
    out.insert("holes".into(), sum(&|s| s.seq.holes()).into());
    out.insert(
        "connections_with_disorder".into(),
        w.iter()
            .filter(|s| s.seq.out_of_order + s.seq.holes() + s.seq.duplicates > 0)
            .count()
            .into(),
    );
    out.insert("stale_updates".into(), sum(&|s| s.seq.stale).into());
    out.insert("resyncs".into(), sum(&|s| s.resyncs).into());
    out.insert("parse_errors".into(), sum(&|s| s.parse_errors).into());
    out.insert(
        "wrong_encoding_events".into(),
        sum(&|s| s.wrong_encoding).into(),
    );
    out.insert(
        "bytes_per_update".into(),
        if updates == 0 {
            Value::Null
        } else {
            num(sum(&|s| s.wire_bytes) as f64 / updates as f64)
        },
    );
    out.insert(
        "watchers_lost".into(),
        w.iter().filter(|s| s.lost).count().into(),
    );
}

async fn join_all<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut v = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(t) = h.await {
            v.push(t);
        }
    }
    v
}

/// Sum of the socket gauge on each gateway's /metrics (`None`: unreadable).
pub async fn gateway_sockets(urls: &[String]) -> Vec<Option<f64>> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    for u in urls {
        let text = match http.get(u).send().await {
            Ok(r) => r.text().await.ok(),
            Err(_) => None,
        };
        out.push(text.map(|t| {
            t.lines()
                .filter(|l| {
                    l.starts_with("socket_connections")
                        || l.starts_with("gateway_sockets_connected")
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        }));
    }
    out
}

pub(crate) async fn connect_placers(
    c: &Common,
    ep: &Endpoint,
    first_index: usize,
    tokens: &[String],
    progress: &Arc<Progress>,
    permits: Option<Arc<Semaphore>>,
) -> Result<(Vec<Placer>, crate::sio::Joined)> {
    let mut placers = Vec::new();
    let mut joined = None;
    for (i, t) in tokens.iter().enumerate() {
        let (p, j) = Placer::connect(
            ep,
            first_index + i,
            t,
            &c.board,
            progress.clone(),
            permits.clone(),
        )
        .await
        .context("placer connect")?;
        placers.push(p);
        joined.get_or_insert(j);
    }
    Ok((placers, joined.context("no placers")?))
}

pub(crate) async fn finish_placers(placers: Vec<Placer>) -> Vec<PlacerStats> {
    let mut v = Vec::new();
    for p in placers {
        v.push(p.finish().await);
    }
    v
}

// ---------------------------------------------------------------- fanout

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct FanoutArgs {
    /// Spectator sockets joined to the board.
    #[arg(long, default_value_t = 1000)]
    pub watchers: usize,
    /// Signed-in sockets that place (one user each).
    #[arg(long, default_value_t = 10)]
    pub placers: usize,
    /// Offered placements per second (open loop, over all placers).
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 10.0)]
    pub duration_s: f64,
    /// Longest wait for the last deliveries after the last placement.
    #[arg(long, default_value_t = 20.0)]
    pub drain_s: f64,
    /// Each gateway's /metrics URL: the connections' spread over gateways.
    #[arg(long, value_delimiter = ',')]
    pub gateway_metrics: Vec<String>,
    /// Handshakes in flight while connecting.
    #[arg(long, default_value_t = 128)]
    pub connect_concurrency: usize,
    /// How the watchers join: JSON updates, or binary update frames.
    #[arg(long, value_enum, default_value_t = Encoding::Json)]
    pub encoding: Encoding,
}

pub async fn fanout(c: &Common, a: &FanoutArgs) -> Result<Map<String, Value>> {
    let ep = c.endpoint();
    let progress = Arc::new(Progress::default());
    let tokens = signup(&c.api, a.placers).await?;
    let mut out = Map::new();
    let before = gateway_sockets(&a.gateway_metrics).await;
    let t0 = Instant::now();
    let (watchers, failed, first_err) = connect_many(a.watchers, a.connect_concurrency, |i| {
        let ep = ep.clone();
        let board = c.board.clone();
        let encoding = a.encoding;
        async move { connect_watcher_with(&ep, i, &board, encoding).await }
    })
    .await;
    out.insert("connect_s".into(), num(t0.elapsed().as_secs_f64()));
    out.insert("connect_failures".into(), failed.into());
    if let Some(e) = first_err {
        out.insert("connect_error".into(), e.into());
    }
    let Some(first) = watchers.first() else {
        bail!("no watcher connected");
    };
    let mut cells = Cells::new(&first.1, offset());
    let opts = WatchOpts {
        arrivals: true,
        decay: false,
        width: cells.width,
        height: cells.height,
        encoding: a.encoding,
    };
    let (stop, stop_rx) = watch::channel(false);
    let n = watchers.len() as u64;
    out.insert("watchers".into(), n.into());
    let handles: Vec<_> = watchers
        .into_iter()
        .map(|(ws, j)| spawn_watcher(ws, j, opts, progress.clone(), stop_rx.clone()))
        .collect();
    let (placers, _) = connect_placers(c, &ep, a.watchers, &tokens, &progress, None).await?;
    if !a.gateway_metrics.is_empty() {
        let after = gateway_sockets(&a.gateway_metrics).await;
        let spread: Vec<Value> = before
            .iter()
            .zip(&after)
            .map(|(b, a)| match (b, a) {
                (Some(b), Some(a)) => num(a - b),
                _ => Value::Null,
            })
            .collect();
        let busy = spread
            .iter()
            .filter(|v| v.as_f64().is_some_and(|x| x > 0.0))
            .count();
        out.insert("gateways_with_clients".into(), busy.into());
        out.insert("spread_over_gateways".into(), Value::Array(spread));
    }
    let cpu = CpuMeter::start(&c.pids());
    let (sent, first_ns, elapsed) = open_loop(
        &placers,
        &mut cells,
        a.rate,
        Duration::from_secs_f64(a.duration_s),
    )
    .await;
    let p = progress.clone();
    let drained = wait_until(
        || {
            let acks = p.acks.load(Ordering::Relaxed);
            acks >= sent && p.placements.load(Ordering::Relaxed) >= p.ok.load(Ordering::Relaxed) * n
        },
        || p.acks.load(Ordering::Relaxed) + p.placements.load(Ordering::Relaxed),
        Duration::from_secs(3),
        Duration::from_secs_f64(a.drain_s),
    )
    .await;
    cpu.finish(&mut out);
    let _ = stop.send(true);
    let pstats = finish_placers(placers).await;
    let wstats = join_all(handles).await;

    out.insert("offered_per_s".into(), num(a.rate));
    out.insert("drained".into(), drained.into());
    let ok = placer_figures(&mut out, &pstats);
    out.insert("ok_per_s".into(), num(ok as f64 / elapsed.as_secs_f64()));
    let sent_at: HashMap<u64, u64> = pstats
        .iter()
        .flat_map(|p| p.ok.iter().map(|o| (o.seq, o.send_ns)))
        .collect();
    let mut lat = Vec::new();
    let mut last = first_ns;
    let mut foreign = 0u64;
    for w in &wstats {
        for &(seq, at) in &w.arrivals {
            last = last.max(at);
            match sent_at.get(&seq) {
                Some(&s) => lat.push((at.saturating_sub(s) / 1000).min(u64::from(u32::MAX)) as u32),
                None => foreign += 1,
            }
        }
    }
    let delivered = lat.len() as u64;
    let expected = ok * n;
    out.insert("delivered".into(), delivered.into());
    out.insert("expected".into(), expected.into());
    out.insert(
        "delivery_ratio".into(),
        num(delivered as f64 / expected.max(1) as f64),
    );
    out.insert("foreign_updates".into(), foreign.into());
    out.insert(
        "delivered_per_s".into(),
        num(delivered as f64 / secs(last.saturating_sub(first_ns)).max(1e-3)),
    );
    latency_ms(&mut out, "latency", &mut lat);
    watcher_figures(&mut out, &wstats);
    Ok(out)
}

// ---------------------------------------------------------------- idle

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct IdleArgs {
    /// Spectator sockets connected and joined, then left idle.
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// The server process whose RSS is read.
    #[arg(long)]
    pub pid: Option<u32>,
    /// A file holding that pid (read at every run; after --restart-cmd).
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Shell command run before every run (a fresh server, so that memory
    /// freed by the previous run does not hide the next run's growth).
    #[arg(long)]
    pub restart_cmd: Option<String>,
    /// Wait after the last join before reading the RSS, seconds.
    #[arg(long, default_value_t = 3.0)]
    pub settle_s: f64,
    #[arg(long, default_value_t = 128)]
    pub connect_concurrency: usize,
}

pub async fn run_shell(cmd: &str) -> Result<()> {
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .await
        .with_context(|| format!("running {cmd}"))?;
    if !status.success() {
        bail!("`{cmd}` failed: {status}");
    }
    Ok(())
}

pub async fn idle(c: &Common, a: &IdleArgs) -> Result<Map<String, Value>> {
    if let Some(cmd) = &a.restart_cmd {
        run_shell(cmd).await?;
    }
    let pid = match (&a.pid_file, a.pid) {
        (Some(f), _) => std::fs::read_to_string(f)
            .with_context(|| format!("reading {}", f.display()))?
            .trim()
            .parse::<u32>()
            .context("pid file")?,
        (None, Some(p)) => p,
        (None, None) => bail!("idle needs --pid or --pid-file"),
    };
    let ep = c.endpoint();
    let mut out = Map::new();
    let rss0 = rss_bytes(pid).context("reading the server's VmRSS")?;
    let t0 = Instant::now();
    let (watchers, failed, first_err) = connect_many(a.connections, a.connect_concurrency, |i| {
        let ep = ep.clone();
        let board = c.board.clone();
        async move { connect_watcher(&ep, i, &board).await }
    })
    .await;
    let connect_s = t0.elapsed().as_secs_f64();
    let n = watchers.len();
    let progress = Arc::new(Progress::default());
    let (stop, stop_rx) = watch::channel(false);
    let handles: Vec<_> = watchers
        .into_iter()
        .map(|(ws, j)| {
            spawn_watcher(
                ws,
                j,
                WatchOpts::default(),
                progress.clone(),
                stop_rx.clone(),
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(a.settle_s)).await;
    let rss1 = rss_bytes(pid).context("reading the server's VmRSS")?;
    let _ = stop.send(true);
    let stats = join_all(handles).await;
    out.insert("connections".into(), n.into());
    out.insert("connect_failures".into(), failed.into());
    if let Some(e) = first_err {
        out.insert("connect_error".into(), e.into());
    }
    out.insert("connect_s".into(), num(connect_s));
    out.insert("joins_per_s".into(), num(n as f64 / connect_s.max(1e-3)));
    out.insert("rss_before_bytes".into(), rss0.into());
    out.insert("rss_after_bytes".into(), rss1.into());
    out.insert(
        "rss_per_conn_bytes".into(),
        num((rss1 as f64 - rss0 as f64) / n.max(1) as f64),
    );
    out.insert(
        "lost_before_end".into(),
        stats.iter().filter(|s| s.lost).count().into(),
    );
    out.insert("server_pid".into(), pid.into());
    Ok(out)
}

// ---------------------------------------------------------------- place

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct PlaceArgs {
    /// Signed-in sockets (one user each), joined to the board.
    #[arg(long, default_value_t = 20)]
    pub sockets: usize,
    /// Offered placements per second, open loop, over all sockets.
    #[arg(long, default_value_t = 10_000.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 10.0)]
    pub duration_s: f64,
    /// Longest wait for the last acks, seconds.
    #[arg(long, default_value_t = 30.0)]
    pub drain_s: f64,
}

pub async fn place(c: &Common, a: &PlaceArgs) -> Result<Map<String, Value>> {
    let ep = c.endpoint();
    let progress = Arc::new(Progress::default());
    let tokens = signup(&c.api, a.sockets).await?;
    let (placers, joined) = connect_placers(c, &ep, 0, &tokens, &progress, None).await?;
    let mut cells = Cells::new(&joined, offset());
    let mut out = Map::new();
    out.insert("cooldown_ms".into(), joined.meta.cooldown_ms.into());
    let cpu = CpuMeter::start(&c.pids());
    let (sent, _, elapsed) = open_loop(
        &placers,
        &mut cells,
        a.rate,
        Duration::from_secs_f64(a.duration_s),
    )
    .await;
    let p = progress.clone();
    let drain_start = Instant::now();
    let drained = wait_until(
        || p.acks.load(Ordering::Relaxed) >= sent,
        || p.acks.load(Ordering::Relaxed),
        Duration::from_secs(5),
        Duration::from_secs_f64(a.drain_s),
    )
    .await;
    out.insert(
        "last_ack_after_last_send_s".into(),
        num(drain_start.elapsed().as_secs_f64()),
    );
    cpu.finish(&mut out);
    let stats = finish_placers(placers).await;
    out.insert("offered_per_s".into(), num(a.rate));
    out.insert("drained".into(), drained.into());
    let ok = placer_figures(&mut out, &stats);
    out.insert("ok_per_s".into(), num(ok as f64 / elapsed.as_secs_f64()));
    Ok(out)
}

// ---------------------------------------------------------------- fill

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct FillArgs {
    /// Signed-in sockets placing (the server's COOLDOWN_MS should be 0).
    #[arg(long, default_value_t = 8)]
    pub sockets: usize,
    /// Placements outstanding at once, over all sockets (below the gateway's
    /// PLACE_CONCURRENCY, 256 by default, beyond which it sheds with `busy`).
    #[arg(long, default_value_t = 48)]
    pub window: usize,
    /// Passes over cells whose placement failed.
    #[arg(long, default_value_t = 5)]
    pub passes: usize,
}

/// Places every cell of the board once (closed loop), then counts the
/// snapshot's pixels.
pub async fn fill(c: &Common, a: &FillArgs) -> Result<Map<String, Value>> {
    let ep = c.endpoint();
    let progress = Arc::new(Progress::default());
    let tokens = signup(&c.api, a.sockets).await?;
    let permits = Arc::new(Semaphore::new(a.window));
    let (placers, joined) =
        connect_placers(c, &ep, 0, &tokens, &progress, Some(permits.clone())).await?;
    let cells = Cells::new(&joined, 0);
    let mut todo: Vec<u32> = (0..cells.count() as u32).collect();
    let t0 = Instant::now();
    let mut passes = 0;
    let mut stats = Vec::new();
    let mut placers = Some(placers);
    while !todo.is_empty() && passes < a.passes {
        passes += 1;
        let ps = placers.take().context("placers")?;
        closed_loop(
            &ps,
            &permits,
            a.window,
            &cells,
            &todo,
            Duration::from_secs(600),
        )
        .await?;
        let done = finish_placers(ps).await;
        todo = done
            .iter()
            .flat_map(|s| s.failed_cells.iter().copied())
            .collect();
        stats.extend(done);
        if !todo.is_empty() && passes < a.passes {
            let (ps, _) =
                connect_placers(c, &ep, 0, &tokens, &progress, Some(permits.clone())).await?;
            placers = Some(ps);
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let mut out = Map::new();
    let ok = placer_figures(&mut out, &stats);
    out.insert("cells".into(), cells.count().into());
    out.insert("unfilled".into(), todo.len().into());
    out.insert("passes".into(), passes.into());
    out.insert("elapsed_s".into(), num(elapsed));
    out.insert("ok_per_s".into(), num(ok as f64 / elapsed.max(1e-3)));
    let url = format!("{}/api/boards/{}/pixels", c.api, c.board);
    match fetch_snapshot(&url).await {
        Ok((snap, _, attempts)) => {
            let pixels = snap["pixels"].as_array().map_or(0, Vec::len);
            out.insert("snapshot_pixels".into(), pixels.into());
            out.insert("snapshot_attempts".into(), attempts.into());
        }
        // The board is filled; that its snapshot cannot be read is a
        // finding of the snapshot scenario, not a failed fill.
        Err(e) => {
            out.insert("snapshot_error".into(), format!("{e:#}").into());
        }
    }
    Ok(out)
}

/// GETs a snapshot, retrying (a full board's snapshot may answer 503
/// under load): the body, its ETag and the attempts it took.
async fn fetch_snapshot(url: &str) -> Result<(Value, Option<String>, u32)> {
    let http = reqwest::Client::new();
    let mut last = None;
    for attempt in 1..=10u32 {
        let r = http
            .get(url)
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .and_then(|r| r.error_for_status());
        match r {
            Ok(r) => {
                let etag = r
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                return Ok((r.json().await?, etag, attempt));
            }
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
        }
    }
    Err(last.map_or_else(|| anyhow::anyhow!("no attempt"), Into::into))
}

// ---------------------------------------------------------------- snapshot

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotMode {
    /// Full body, `Accept-Encoding: gzip`.
    Plain,
    /// `If-None-Match` with the current ETag (304 expected).
    Conditional,
    /// Tile (0, 0) in the binary form, `Accept-Encoding: gzip` (200
    /// expected): `GET /api/boards/{board}/tiles/0/0`.
    Tile,
}

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct SnapshotArgs {
    #[arg(long, value_enum, default_value_t = SnapshotMode::Plain)]
    pub mode: SnapshotMode,
    /// Concurrent HTTP clients, closed loop (each on its own connection).
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    #[arg(long, default_value_t = 10.0)]
    pub duration_s: f64,
}

pub async fn snapshot(c: &Common, a: &SnapshotArgs) -> Result<Map<String, Value>> {
    let url = format!("{}/api/boards/{}/pixels", c.api, c.board);
    let (body, etag, attempts) = fetch_snapshot(&url)
        .await
        .context("no snapshot answered 200 in 10 attempts")?;
    let mut out = Map::new();
    out.insert("warmup_attempts".into(), attempts.into());
    out.insert(
        "snapshot_pixels".into(),
        body["pixels"].as_array().map_or(0, Vec::len).into(),
    );
    out.insert("snapshot_seq".into(), body["seq"].clone());
    if a.mode == SnapshotMode::Conditional && etag.is_none() {
        bail!("the snapshot carries no ETag");
    }
    let url = match a.mode {
        SnapshotMode::Tile => format!("{}/api/boards/{}/tiles/0/0", c.api, c.board),
        _ => url,
    };
    let ep = c.endpoint();
    let cpu = CpuMeter::start(&c.pids());
    let deadline = Instant::now() + Duration::from_secs_f64(a.duration_s);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..a.clients {
        let mut b = reqwest::Client::builder()
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(1);
        if let Some(ip) = ep.source(i) {
            b = b.local_address(ip);
        }
        let http = b.build()?;
        let url = url.clone();
        let etag = etag.clone();
        let mode = a.mode;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut status: BTreeMap<String, u64> = BTreeMap::new();
            let mut bytes = 0u64;
            while Instant::now() < deadline {
                let mut req = http.get(&url).header("accept-encoding", "gzip");
                if mode == SnapshotMode::Conditional {
                    req = req.header("if-none-match", etag.as_deref().unwrap_or_default());
                }
                if mode == SnapshotMode::Tile {
                    req = req.header("accept", "application/octet-stream");
                }
                let t = now_ns();
                let code = match req.send().await {
                    Ok(r) => {
                        let s = r.status().as_u16().to_string();
                        match r.bytes().await {
                            Ok(b) => {
                                bytes += b.len() as u64;
                                s
                            }
                            Err(_) => "body_error".to_owned(),
                        }
                    }
                    Err(e) if e.is_timeout() => "timeout".to_owned(),
                    Err(_) => "transport_error".to_owned(),
                };
                lat.push(((now_ns() - t) / 1000).min(u64::from(u32::MAX)) as u32);
                *status.entry(code).or_default() += 1;
            }
            (lat, status, bytes)
        }));
    }
    let mut lat = Vec::new();
    let mut status: BTreeMap<String, u64> = BTreeMap::new();
    let mut bytes = 0u64;
    for t in tasks {
        let (l, s, b) = t.await?;
        lat.extend(l);
        for (k, v) in s {
            *status.entry(k).or_default() += v;
        }
        bytes += b;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    cpu.finish(&mut out);
    let n = lat.len() as u64;
    let good = status
        .get(if a.mode == SnapshotMode::Conditional {
            "304"
        } else {
            "200"
        })
        .copied()
        .unwrap_or(0);
    out.insert("requests".into(), n.into());
    out.insert("expected_status".into(), good.into());
    out.insert("other_status".into(), (n - good).into());
    out.insert("req_per_s".into(), num(n as f64 / elapsed));
    out.insert("good_per_s".into(), num(good as f64 / elapsed));
    out.insert(
        "bytes_per_response".into(),
        num(bytes as f64 / n.max(1) as f64),
    );
    out.insert("status".into(), json!(status));
    latency_ms(&mut out, "latency", &mut lat);
    Ok(out)
}

// ---------------------------------------------------------------- decay

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct DecaySteadyArgs {
    /// Placements per second (open loop) by `--sockets` users; the
    /// server's TTL_MS should be short (seconds).
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 4)]
    pub sockets: usize,
    #[arg(long, default_value_t = 10.0)]
    pub duration_s: f64,
    /// Spectators that watch the removals.
    #[arg(long, default_value_t = 2)]
    pub watchers: usize,
    /// Longest wait for the last removal after TTL, seconds.
    #[arg(long, default_value_t = 30.0)]
    pub drain_s: f64,
}

pub async fn decay_steady(c: &Common, a: &DecaySteadyArgs) -> Result<Map<String, Value>> {
    let ep = c.endpoint();
    let progress = Arc::new(Progress::default());
    let tokens = signup(&c.api, a.sockets).await?;
    let (watchers, failed, err) = connect_many(a.watchers, 16, |i| {
        let ep = ep.clone();
        let board = c.board.clone();
        async move { connect_watcher(&ep, i, &board).await }
    })
    .await;
    if failed > 0 {
        bail!("watchers failed to connect: {}", err.unwrap_or_default());
    }
    let ttl_ms = watchers[0].1.meta.ttl_ms;
    let mut cells = Cells::new(&watchers[0].1, offset());
    let opts = WatchOpts {
        arrivals: false,
        decay: true,
        width: cells.width,
        height: cells.height,
        encoding: Encoding::Json,
    };
    let (stop, stop_rx) = watch::channel(false);
    let n = watchers.len() as u64;
    let handles: Vec<_> = watchers
        .into_iter()
        .map(|(ws, j)| spawn_watcher(ws, j, opts, progress.clone(), stop_rx.clone()))
        .collect();
    let (placers, _) = connect_placers(c, &ep, a.watchers, &tokens, &progress, None).await?;
    let mut out = Map::new();
    let cpu = CpuMeter::start(&c.pids());
    let (sent, _, _) = open_loop(
        &placers,
        &mut cells,
        a.rate,
        Duration::from_secs_f64(a.duration_s),
    )
    .await;
    let p = progress.clone();
    wait_until(
        || p.acks.load(Ordering::Relaxed) >= sent,
        || p.acks.load(Ordering::Relaxed),
        Duration::from_secs(5),
        Duration::from_secs(30),
    )
    .await;
    let ok = progress.ok.load(Ordering::Relaxed);
    let drained = wait_until(
        || p.removals.load(Ordering::Relaxed) >= ok * n,
        || p.removals.load(Ordering::Relaxed),
        Duration::from_millis(ttl_ms + 5000),
        Duration::from_millis(ttl_ms) + Duration::from_secs_f64(a.drain_s),
    )
    .await;
    cpu.finish(&mut out);
    let _ = stop.send(true);
    let pstats = finish_placers(placers).await;
    let wstats = join_all(handles).await;
    out.insert("ttl_ms".into(), ttl_ms.into());
    out.insert("drained".into(), drained.into());
    let ok = placer_figures(&mut out, &pstats);
    if sent > cells.count() {
        out.insert(
            "warning".into(),
            "more placements than cells: some were overwritten before they decayed".into(),
        );
    }
    let mut delays: Vec<f64> = wstats
        .iter()
        .flat_map(|w| w.decay_delays_ms.iter().copied())
        .collect();
    out.insert(
        "removals_matched".into(),
        (delays.len() as u64 / n.max(1)).into(),
    );
    out.insert(
        "removal_ratio".into(),
        num(delays.len() as f64 / (ok * n).max(1) as f64),
    );
    out.insert(
        "unmatched_removals".into(),
        wstats
            .iter()
            .map(|w| w.unmatched_removals)
            .sum::<u64>()
            .into(),
    );
    latency_ms_f64(&mut out, "delay", &mut delays);
    watcher_figures(&mut out, &wstats);
    Ok(out)
}

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct DecayBacklogArgs {
    /// Distinct pixels placed while the worker is paused.
    #[arg(long, default_value_t = 50_000)]
    pub pixels: usize,
    /// Signed-in sockets placing them (COOLDOWN_MS should be 0).
    #[arg(long, default_value_t = 8)]
    pub sockets: usize,
    #[arg(long, default_value_t = 48)]
    pub window: usize,
    /// Shell command that stops the decay worker(s).
    #[arg(long)]
    pub pause_cmd: String,
    /// Shell command that starts them again.
    #[arg(long)]
    pub resume_cmd: String,
    /// Longest wait for the backlog to clear, seconds.
    #[arg(long, default_value_t = 180.0)]
    pub max_wait_s: f64,
}

pub async fn decay_backlog(c: &Common, a: &DecayBacklogArgs) -> Result<Map<String, Value>> {
    let ep = c.endpoint();
    let progress = Arc::new(Progress::default());
    let tokens = signup(&c.api, a.sockets).await?;
    let (ws, joined) = connect_watcher(&ep, 0, &c.board).await?;
    let ttl_ms = joined.meta.ttl_ms;
    let cells = Cells::new(&joined, offset());
    if a.pixels as u64 > cells.count() {
        bail!("--pixels exceeds the board's {} cells", cells.count());
    }
    let opts = WatchOpts {
        arrivals: false,
        decay: true,
        width: cells.width,
        height: cells.height,
        encoding: Encoding::Json,
    };
    let (stop, stop_rx) = watch::channel(false);
    let watcher = spawn_watcher(ws, joined, opts, progress.clone(), stop_rx);
    // Let anything still due from earlier runs go first.
    tokio::time::sleep(Duration::from_millis(ttl_ms + 1000)).await;
    run_shell(&a.pause_cmd).await?;
    let removals_before = progress.removals.load(Ordering::Relaxed);
    let permits = Arc::new(Semaphore::new(a.window));
    let todo: Vec<u32> = (0..a.pixels as u64)
        .map(|k| ((cells.offset + k) % cells.count()) as u32)
        .collect();
    let t0 = Instant::now();
    let placed = async {
        let (placers, _) =
            connect_placers(c, &ep, 1, &tokens, &progress, Some(permits.clone())).await?;
        closed_loop(
            &placers,
            &permits,
            a.window,
            &cells,
            &todo,
            Duration::from_secs(600),
        )
        .await?;
        anyhow::Ok(finish_placers(placers).await)
    }
    .await;
    let pstats = match placed {
        Ok(p) => p,
        Err(e) => {
            // Never leave the worker stopped.
            run_shell(&a.resume_cmd).await?;
            return Err(e);
        }
    };
    let place_s = t0.elapsed().as_secs_f64();
    let mut out = Map::new();
    placer_figures(&mut out, &pstats);
    out.insert("ttl_ms".into(), ttl_ms.into());
    out.insert("place_s".into(), num(place_s));
    let ours: HashSet<u32> = pstats
        .iter()
        .flat_map(|p| p.ok.iter().map(|o| o.cell))
        .collect();
    let last_expiry = pstats
        .iter()
        .flat_map(|p| p.ok.iter().map(|o| o.expires_at))
        .max()
        .unwrap_or(0);
    let removed_while_paused = progress.removals.load(Ordering::Relaxed) - removals_before;
    out.insert("removed_while_paused".into(), removed_while_paused.into());
    // Every pixel due before the worker comes back.
    let wait = (last_expiry as f64 + 200.0 - wall_ms()).max(0.0);
    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    let cpu = CpuMeter::start(&c.pids());
    let resume_ns = now_ns();
    let resume = {
        let cmd = a.resume_cmd.clone();
        tokio::spawn(async move { run_shell(&cmd).await })
    };
    let p = progress.clone();
    let target = removals_before + ours.len() as u64;
    let cleared = wait_until(
        || p.removals.load(Ordering::Relaxed) >= target,
        || p.removals.load(Ordering::Relaxed),
        Duration::from_secs(30),
        Duration::from_secs_f64(a.max_wait_s),
    )
    .await;
    resume.await??;
    cpu.finish(&mut out);
    let _ = stop.send(true);
    let w = watcher.await?;
    let mut seen = HashSet::new();
    let (mut first, mut last) = (u64::MAX, 0u64);
    for &(cell, at) in &w.removal_log {
        if at >= resume_ns && ours.contains(&cell) && seen.insert(cell) {
            first = first.min(at);
            last = last.max(at);
        }
    }
    let removed = seen.len() as u64;
    out.insert("backlog".into(), (ours.len() as u64).into());
    out.insert("removed".into(), removed.into());
    out.insert(
        "cleared".into(),
        (cleared && removed == ours.len() as u64).into(),
    );
    if removed > 0 {
        // The first event's removals arrive at `first`: the rate is what
        // came after it over the time after it (the worker's start-up is
        // not in it; `removals_per_s_from_resume` includes it).
        let in_first = w
            .removal_log
            .iter()
            .filter(|&&(cell, at)| at == first && ours.contains(&cell))
            .count() as u64;
        let from_resume = removed as f64 / secs(last - resume_ns).max(1e-3);
        let after_first = removed - in_first.min(removed);
        out.insert(
            "removals_per_s".into(),
            num(if after_first > 0 && last > first {
                after_first as f64 / secs(last - first)
            } else {
                from_resume
            }),
        );
        out.insert("removals_per_s_from_resume".into(), num(from_resume));
        out.insert(
            "first_removal_after_resume_s".into(),
            num(secs(first - resume_ns)),
        );
        out.insert("clear_s".into(), num(secs(last - first)));
    }
    watcher_figures(&mut out, std::slice::from_ref(&w));
    Ok(out)
}

// ---------------------------------------------------------------- churn

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct ChurnArgs {
    /// Concurrent loops, each connect → join → disconnect, over and over.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 10.0)]
    pub duration_s: f64,
    /// Longest a cycle may take before it counts as failed, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub cycle_timeout_s: f64,
}

/// What one churn loop saw.
#[derive(Default)]
struct ChurnStats {
    cycles: u64,
    failures: u64,
    errors: BTreeMap<String, u64>,
    /// TCP connect to join ack, microseconds.
    join_us: Vec<u32>,
    /// The whole cycle, disconnect included, microseconds.
    cycle_us: Vec<u32>,
}

/// One cycle: WebSocket + Engine.IO open + Socket.IO connect, `join`, and
/// a clean close (the close frame sent, the server's close awaited, so the
/// server has dropped the session before the loop goes round again).
async fn churn_cycle(ep: &Endpoint, i: usize, board: &str) -> Result<u32> {
    let t = now_ns();
    let (mut ws, _) = connect_watcher(ep, i, board).await?;
    let join_us = ((now_ns() - t) / 1000).min(u64::from(u32::MAX)) as u32;
    ws.close(None).await.context("close")?;
    while let Some(m) = ws.next().await {
        if m.is_err() {
            break;
        }
    }
    Ok(join_us)
}

/// The first words of an error, so that like failures count together.
fn error_kind(e: &anyhow::Error) -> String {
    let s = format!("{e:#}");
    s.split([':', '('])
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

pub async fn churn(c: &Common, a: &ChurnArgs) -> Result<Map<String, Value>> {
    if a.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if !(a.duration_s.is_finite() && a.duration_s > 0.0) {
        bail!("--duration-s must be a positive number of seconds");
    }
    let ep = c.endpoint();
    // One cycle first: a server that refuses every join fails the run
    // rather than reporting a rate of failures.
    churn_cycle(&ep, 0, &c.board)
        .await
        .context("first connect/join/disconnect cycle")?;
    let cpu = CpuMeter::start(&c.pids());
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(a.duration_s);
    let timeout = Duration::from_secs_f64(a.cycle_timeout_s.max(0.1));
    let tasks: Vec<_> = (0..a.concurrency)
        .map(|k| {
            let ep = ep.clone();
            let board = c.board.clone();
            let n = a.concurrency;
            tokio::spawn(async move {
                let mut st = ChurnStats::default();
                // Loop k's i-th cycle comes from source (k + i·n): the loops
                // rotate over every source address.
                let mut i = k;
                while Instant::now() < deadline {
                    let t = now_ns();
                    let r = tokio::time::timeout(timeout, churn_cycle(&ep, i, &board)).await;
                    i += n;
                    match r {
                        Ok(Ok(join_us)) => {
                            st.cycles += 1;
                            st.join_us.push(join_us);
                            st.cycle_us
                                .push(((now_ns() - t) / 1000).min(u64::from(u32::MAX)) as u32);
                        }
                        Ok(Err(e)) => {
                            st.failures += 1;
                            *st.errors.entry(error_kind(&e)).or_default() += 1;
                            // A refusing server is not hammered in a tight loop.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        Err(_) => {
                            st.failures += 1;
                            *st.errors.entry("cycle timeout".into()).or_default() += 1;
                        }
                    }
                }
                st
            })
        })
        .collect();
    let stats = join_all(tasks).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let mut out = Map::new();
    cpu.finish(&mut out);
    if stats.len() != a.concurrency {
        bail!("{} churn loops panicked", a.concurrency - stats.len());
    }
    let cycles: u64 = stats.iter().map(|s| s.cycles).sum();
    let failures: u64 = stats.iter().map(|s| s.failures).sum();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for s in &stats {
        for (k, v) in &s.errors {
            *errors.entry(k.clone()).or_default() += v;
        }
    }
    out.insert("concurrency".into(), a.concurrency.into());
    out.insert("elapsed_s".into(), num(elapsed));
    out.insert("cycles".into(), cycles.into());
    out.insert("failures".into(), failures.into());
    out.insert(
        "cycles_per_s".into(),
        num(cycles as f64 / elapsed.max(1e-3)),
    );
    out.insert(
        "failure_ratio".into(),
        num(failures as f64 / (cycles + failures).max(1) as f64),
    );
    let mut join: Vec<u32> = stats
        .iter()
        .flat_map(|s| s.join_us.iter().copied())
        .collect();
    latency_ms(&mut out, "join", &mut join);
    let mut cycle: Vec<u32> = stats
        .iter()
        .flat_map(|s| s.cycle_us.iter().copied())
        .collect();
    latency_ms(&mut out, "cycle", &mut cycle);
    out.insert("errors".into(), json!(errors));
    Ok(out)
}
