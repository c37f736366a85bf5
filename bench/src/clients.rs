//! The two kinds of simulated client: watchers (join a board in JSON or
//! binary encoding, record every `pixels` event, check the seq order) and
//! placers (join, send `place`
//! events from a writer task, match acks by id in a reader task), plus
//! accounts over REST and the open- and closed-loop placement drivers.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use futures_util::stream::{self, SplitSink};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::sio::{self, Encoding, Endpoint, Event, Joined, Upd, Ws};
use crate::stats::SeqCheck;

/// Nanoseconds since the process's first call (one monotonic clock for
/// send and arrival times).
pub(crate) fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Wall clock in (fractional) Unix milliseconds, comparable with the
/// server's `placed_at` / `expires_at` on the same machine.
pub(crate) fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Counters every client task bumps, for the drivers' "done yet?" checks.
#[derive(Default)]
pub(crate) struct Progress {
    /// Placement updates received by watchers.
    pub placements: AtomicU64,
    /// Removal updates received by watchers.
    pub removals: AtomicU64,
    /// Acks received by placers.
    pub acks: AtomicU64,
    /// Of which `ok: true`.
    pub ok: AtomicU64,
}

/// What a watcher records.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WatchOpts {
    /// (seq, arrival) of every placement update, for delivery latency.
    pub arrivals: bool,
    /// Removal delay past the removed placement's `expires_at`, and a log
    /// of removals.
    pub decay: bool,
    /// Board width, to turn (x, y) into a cell index.
    pub width: u32,
    /// Board height (a binary frame must be for this board).
    pub height: u32,
    /// The encoding the watcher joined with; `pixels` events of the other
    /// one are counted in `wrong_encoding` (and still recorded).
    pub encoding: Encoding,
}

/// A binary event whose attachments are still coming.
#[derive(Debug)]
struct Pending {
    /// Which attachment holds the frame (`None`: not a `pixels` event).
    frame: Option<usize>,
    needed: usize,
    parts: Vec<Vec<u8>>,
    wire: u64,
}

#[derive(Debug, Default)]
pub(crate) struct WatchStats {
    pub seq: SeqCheck,
    pub events: u64,
    pub updates: u64,
    pub placements: u64,
    pub removals: u64,
    pub resyncs: u64,
    pub parse_errors: u64,
    /// `pixels` events in the encoding the watcher did not ask for.
    pub wrong_encoding: u64,
    /// WebSocket bytes of `pixels` events (payloads and frame headers; the
    /// binary form's text packet and attachment both).
    pub wire_bytes: u64,
    /// (seq, arrival ns) of placement updates.
    pub arrivals: Vec<(u64, u64)>,
    /// Removal arrival (wall ms) minus `expires_at` of the placement removed.
    pub decay_delays_ms: Vec<f64>,
    /// Removals of a cell whose placement this watcher did not see.
    pub unmatched_removals: u64,
    /// (cell, arrival ns) of removals.
    pub removal_log: Vec<(u32, u64)>,
    /// The server closed the connection (or it failed) before the end.
    pub lost: bool,
    expiry: HashMap<u32, i64>,
    pending: Option<Pending>,
}

impl WatchStats {
    fn new(base: u64) -> Self {
        Self {
            seq: SeqCheck::new(base),
            ..Self::default()
        }
    }

    /// One WebSocket message (text or binary) of the watcher's socket.
    fn message(&mut self, msg: &Message, opts: &WatchOpts, progress: &Progress) {
        match msg {
            Message::Text(t) => self.text(t.as_str(), opts, progress),
            Message::Binary(b) => self.attachment(b, opts, progress),
            _ => {}
        }
    }

    fn text(&mut self, t: &str, opts: &WatchOpts, progress: &Progress) {
        if self.pending.take().is_some() {
            // A text packet while attachments were still due.
            self.parse_errors += 1;
        }
        let Some((needed, header)) = sio::binary_event(t) else {
            return self.handle(t, opts, progress);
        };
        let frame = match sio::pixels_attachment(header) {
            None => None,
            Some(Ok(k)) if k < needed => Some(k),
            Some(_) => {
                self.parse_errors += 1;
                None
            }
        };
        let wire = sio::ws_wire_bytes(t.len());
        if needed == 0 {
            self.parse_errors += u64::from(frame.is_some());
            return;
        }
        self.pending = Some(Pending {
            frame,
            needed,
            parts: Vec::with_capacity(needed),
            wire,
        });
    }

    fn attachment(&mut self, b: &[u8], opts: &WatchOpts, progress: &Progress) {
        let Some(p) = self.pending.as_mut() else {
            // An attachment no `45<n>-` packet announced.
            self.parse_errors += 1;
            return;
        };
        p.wire += sio::ws_wire_bytes(b.len());
        p.parts.push(b.to_vec());
        if p.parts.len() < p.needed {
            return;
        }
        let Some(p) = self.pending.take() else { return };
        let Some(k) = p.frame else { return };
        match sio::frame_updates(&p.parts[k], opts.width, opts.height) {
            Ok(updates) => {
                self.wire_bytes += p.wire;
                if opts.encoding != Encoding::Binary {
                    self.wrong_encoding += 1;
                }
                self.record(&updates, opts, progress);
            }
            Err(_) => self.parse_errors += 1,
        }
    }

    fn handle(&mut self, t: &str, opts: &WatchOpts, progress: &Progress) {
        let Some(ev) = sio::event(t) else { return };
        let updates = match ev {
            Ok(Event::Pixels(u)) => {
                self.wire_bytes += sio::ws_wire_bytes(t.len());
                if opts.encoding != Encoding::Json {
                    self.wrong_encoding += 1;
                }
                u
            }
            Ok(Event::Resync) => {
                self.resyncs += 1;
                return;
            }
            Ok(Event::Other) => return,
            Err(_) => {
                self.parse_errors += 1;
                return;
            }
        };
        self.record(&updates, opts, progress);
    }

    /// The updates of one `pixels` event, arrived now.
    fn record(&mut self, updates: &[Upd], opts: &WatchOpts, progress: &Progress) {
        let now = now_ns();
        let wall = if opts.decay { wall_ms() } else { 0.0 };
        self.events += 1;
        self.updates += updates.len() as u64;
        let (mut placed, mut removed) = (0, 0);
        for u in updates {
            self.seq.see(u.seq);
            let cell = u.y * opts.width + u.x;
            if u.color != 0 {
                placed += 1;
                if opts.arrivals {
                    self.arrivals.push((u.seq, now));
                }
                if let (true, Some(e)) = (opts.decay, u.expires_at) {
                    self.expiry.insert(cell, e);
                }
            } else {
                removed += 1;
                if opts.decay {
                    self.removal_log.push((cell, now));
                    match self.expiry.remove(&cell) {
                        Some(e) => self.decay_delays_ms.push(wall - e as f64),
                        None => self.unmatched_removals += 1,
                    }
                }
            }
        }
        self.placements += placed;
        self.removals += removed;
        progress.placements.fetch_add(placed, Ordering::Relaxed);
        progress.removals.fetch_add(removed, Ordering::Relaxed);
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// A spectator connected and joined to `board` (JSON encoding).
pub(crate) async fn connect_watcher(ep: &Endpoint, i: usize, board: &str) -> Result<(Ws, Joined)> {
    connect_watcher_with(ep, i, board, Encoding::Json).await
}

/// A spectator connected and joined to `board` in `encoding`.
pub(crate) async fn connect_watcher_with(
    ep: &Endpoint,
    i: usize,
    board: &str,
    encoding: Encoding,
) -> Result<(Ws, Joined)> {
    let mut ws = sio::open(ep, i, None, 4096, 0).await?;
    let joined = sio::join_with(&mut ws, board, encoding).await?;
    Ok((ws, joined))
}

/// Runs a watcher until `stop` turns true (or the server closes).
pub(crate) fn spawn_watcher(
    mut ws: Ws,
    joined: Joined,
    opts: WatchOpts,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<WatchStats> {
    tokio::spawn(async move {
        let mut st = WatchStats::new(joined.seq);
        for m in &joined.early {
            st.message(m, &opts, &progress);
        }
        loop {
            tokio::select! {
                () = stopped(&mut stop) => break,
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(t))) if t.as_str() == "2" => {
                        if ws.send(Message::text("3")).await.is_err() {
                            st.lost = true;
                            break;
                        }
                    }
                    Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                        st.message(&m, &opts, &progress);
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                        st.lost = true;
                        break;
                    }
                    Some(Ok(_)) => {}
                },
            }
        }
        st
    })
}

/// Connects `n` clients with `f(i)`, `concurrency` handshakes at a time.
/// Returns the successes and the first error with the failure count.
pub(crate) async fn connect_many<T, F, Fut>(
    n: usize,
    concurrency: usize,
    f: F,
) -> (Vec<T>, usize, Option<String>)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let results: Vec<Result<T>> = stream::iter(0..n)
        .map(f)
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut ok = Vec::with_capacity(n);
    let (mut failed, mut first) = (0, None);
    for r in results {
        match r {
            Ok(t) => ok.push(t),
            Err(e) => {
                failed += 1;
                first.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    (ok, failed, first)
}

/// Signs up `n` fresh users over REST; their access tokens.
pub(crate) async fn signup(api: &str, n: usize) -> Result<Vec<String>> {
    let http = reqwest::Client::new();
    let tag = format!(
        "{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
    );
    let results: Vec<Result<String>> = stream::iter(0..n)
        .map(|i| {
            let http = http.clone();
            let tag = tag.clone();
            async move {
                // A 503 (storage unavailable: e.g. just after a Redis
                // failover, or with REDIS_MIN_REPLICAS_ACKED while the
                // replica catches up) is retried for a while, under a new
                // email (the first may have been applied).
                let mut attempt = 0u32;
                loop {
                    let email = format!("bench-{tag}-{i}-{attempt}@bench.test");
                    let r = http
                        .post(format!("{api}/api/auth/signup"))
                        .json(&json!({"email": email, "password": "bench-password-1", "name": format!("bench{i}")}))
                        .send()
                        .await
                        .context("signup request")?;
                    let status = r.status();
                    let body: serde_json::Value = r.json().await.unwrap_or_default();
                    if status.as_u16() == 503 && attempt < 40 {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        continue;
                    }
                    if status.as_u16() != 201 {
                        bail!("signup answered {status}: {body}");
                    }
                    return body["access_token"]
                        .as_str()
                        .map(str::to_owned)
                        .context("signup without access_token");
                }
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    results.into_iter().collect()
}

enum Out {
    Place {
        x: u32,
        y: u32,
        color: u8,
        cell: u32,
        intended_ns: u64,
    },
    Pong,
}

#[derive(Debug, Clone, Copy)]
struct Sent {
    send_ns: u64,
    cell: u32,
}

/// A placement the server acknowledged with `ok: true`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OkPlace {
    pub seq: u64,
    pub send_ns: u64,
    /// When its ack arrived (the same clock as `send_ns`).
    pub ack_ns: u64,
    pub cell: u32,
    pub expires_at: i64,
}

#[derive(Debug, Default)]
pub(crate) struct PlacerStats {
    pub sent: u64,
    pub acks: u64,
    pub ok: Vec<OkPlace>,
    pub errors: BTreeMap<String, u64>,
    /// Send → ack, microseconds.
    pub ack_us: Vec<u32>,
    /// Scheduled → actually written, microseconds (the generator's own lag).
    pub lag_us: Vec<u32>,
    pub failed_cells: Vec<u32>,
    pub lost: bool,
}

/// A signed-in socket that places pixels: a writer task sends (batched
/// per wake-up, one flush), a reader task matches acks to send times.
pub(crate) struct Placer {
    tx: mpsc::UnboundedSender<Out>,
    stop: watch::Sender<bool>,
    reader: JoinHandle<PlacerStats>,
    writer: JoinHandle<(u64, Vec<u32>)>,
}

impl Placer {
    pub(crate) async fn connect(
        ep: &Endpoint,
        i: usize,
        token: &str,
        board: &str,
        progress: Arc<Progress>,
        permits: Option<Arc<Semaphore>>,
    ) -> Result<(Self, Joined)> {
        let mut ws = sio::open(ep, i, Some(token), 16 * 1024, 16 * 1024).await?;
        let joined = sio::join(&mut ws, board).await?;
        let (sink, stream) = ws.split();
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);
        let log = Arc::new(Mutex::new(Vec::<Sent>::new()));
        // One user's placements leave at least the board's cooldown + 1 ms
        // apart: a load generator that falls behind and catches up in a
        // burst would otherwise collect `cooldown` acks of its own making.
        let gap = match joined.meta.cooldown_ms {
            0 => 0,
            ms => (ms + 1) * 1_000_000,
        };
        let writer = tokio::spawn(write_loop(sink, rx, log.clone(), board.to_owned(), gap));
        let reader = tokio::spawn(read_loop(
            stream,
            tx.clone(),
            log,
            progress,
            permits,
            stop_rx,
        ));
        Ok((
            Self {
                tx,
                stop,
                reader,
                writer,
            },
            joined,
        ))
    }

    pub(crate) fn place(&self, x: u32, y: u32, color: u8, cell: u32, intended_ns: u64) {
        let _ = self.tx.send(Out::Place {
            x,
            y,
            color,
            cell,
            intended_ns,
        });
    }

    /// Stops the socket and returns what it saw.
    pub(crate) async fn finish(self) -> PlacerStats {
        let _ = self.stop.send(true);
        drop(self.tx);
        let mut st = self.reader.await.unwrap_or_default();
        if let Ok((sent, lag)) = self.writer.await {
            st.sent = sent;
            st.lag_us = lag;
        }
        st
    }
}

async fn write_loop(
    mut sink: SplitSink<Ws, Message>,
    mut rx: mpsc::UnboundedReceiver<Out>,
    log: Arc<Mutex<Vec<Sent>>>,
    board: String,
    gap_ns: u64,
) -> (u64, Vec<u32>) {
    let mut lag = Vec::new();
    let mut sent = 0u64;
    let mut last_place = 0u64;
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut n = 0;
        while let Some(out) = next {
            let text = match out {
                Out::Pong => "3".to_owned(),
                Out::Place {
                    x,
                    y,
                    color,
                    cell,
                    intended_ns,
                } => {
                    let mut send_ns = now_ns();
                    if gap_ns > 0 && sent > 0 && send_ns < last_place + gap_ns {
                        if sink.flush().await.is_err() {
                            return (sent, lag);
                        }
                        let wait = last_place + gap_ns - now_ns().min(last_place + gap_ns);
                        tokio::time::sleep(Duration::from_nanos(wait)).await;
                        send_ns = now_ns();
                    }
                    last_place = send_ns;
                    lag.push((send_ns.saturating_sub(intended_ns) / 1000) as u32);
                    let id = {
                        let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                        log.push(Sent { send_ns, cell });
                        log.len() as u64 - 1
                    };
                    sent += 1;
                    sio::place_packet(id, &board, x, y, color)
                }
            };
            if sink.feed(Message::text(text)).await.is_err() {
                return (sent, lag);
            }
            n += 1;
            next = if n < 256 { rx.try_recv().ok() } else { None };
        }
        if sink.flush().await.is_err() {
            return (sent, lag);
        }
    }
    let _ = sink.close().await;
    (sent, lag)
}

async fn read_loop(
    mut stream: futures_util::stream::SplitStream<Ws>,
    tx: mpsc::UnboundedSender<Out>,
    log: Arc<Mutex<Vec<Sent>>>,
    progress: Arc<Progress>,
    permits: Option<Arc<Semaphore>>,
    mut stop: watch::Receiver<bool>,
) -> PlacerStats {
    let mut st = PlacerStats::default();
    loop {
        let msg = tokio::select! {
            () = stopped(&mut stop) => break,
            msg = stream.next() => msg,
        };
        let t = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                st.lost = true;
                break;
            }
            Some(Ok(_)) => continue,
        };
        let t = t.as_str();
        if t == "2" {
            let _ = tx.send(Out::Pong);
            continue;
        }
        // Room broadcasts (`42[...]`) reach placers too; only acks matter.
        let Some((id, body)) = sio::ack(t) else {
            continue;
        };
        let now = now_ns();
        let sent = log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id as usize)
            .copied();
        let Some(sent) = sent else { continue };
        st.acks += 1;
        progress.acks.fetch_add(1, Ordering::Relaxed);
        st.ack_us
            .push((now.saturating_sub(sent.send_ns) / 1000).min(u64::from(u32::MAX)) as u32);
        match sio::place_ack(body) {
            Ok(a) if a.ok => {
                progress.ok.fetch_add(1, Ordering::Relaxed);
                if let Some(u) = a.update {
                    st.ok.push(OkPlace {
                        ack_ns: now,
                        seq: u.seq,
                        send_ns: sent.send_ns,
                        cell: sent.cell,
                        expires_at: u.expires_at.unwrap_or(0),
                    });
                }
            }
            Ok(a) => {
                *st.errors
                    .entry(a.error.unwrap_or_else(|| "unknown".into()))
                    .or_default() += 1;
                st.failed_cells.push(sent.cell);
            }
            Err(_) => {
                *st.errors.entry("unparsable_ack".into()).or_default() += 1;
                st.failed_cells.push(sent.cell);
            }
        }
        if let Some(p) = &permits {
            p.add_permits(1);
        }
    }
    st
}

/// Cells visited in order from `offset` (wrapping), colours cycling
/// through the palette.
pub(crate) struct Cells {
    pub width: u32,
    pub height: u32,
    pub palette: u32,
    pub offset: u64,
    pub next: u64,
    /// Cells between one placement and the next (coprime with the cell
    /// count, so every cell comes once before any repeats).
    pub stride: u64,
}

impl Cells {
    pub(crate) fn new(j: &Joined, offset: u64) -> Self {
        Self {
            width: j.meta.width,
            height: j.meta.height,
            palette: j.meta.palette.len().max(1) as u32,
            offset,
            next: 0,
            stride: 1,
        }
    }

    /// Visits the cells with a stride of about 0.618 of the board instead
    /// of one by one, so that consecutive placements land all over it
    /// (every tile gets its share from the start).
    pub(crate) fn spread(mut self) -> Self {
        let count = self.count();
        let mut stride = ((count as f64 * 0.618_034) as u64).max(1);
        while gcd(stride, count) != 1 {
            stride += 1;
        }
        self.stride = stride;
        self
    }

    pub(crate) fn count(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// (cell, x, y, colour)
    pub(crate) fn take(&mut self) -> (u32, u32, u32, u8) {
        let count = self.count();
        let cell = ((self.offset % count + (self.next % count) * self.stride) % count) as u32;
        let color = 1 + (self.next % u64::from(self.palette)) as u8;
        self.next += 1;
        (cell, cell % self.width, cell / self.width, color)
    }

    pub(crate) fn at(&self, cell: u32, k: u64) -> (u32, u32, u8) {
        let color = 1 + (k % u64::from(self.palette)) as u8;
        (cell % self.width, cell / self.width, color)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Open loop: placement k is due at `k / rate` seconds, whatever the acks
/// do; round-robin over `placers`. Returns (sent, first send ns, elapsed).
pub(crate) async fn open_loop(
    placers: &[Placer],
    cells: &mut Cells,
    rate: f64,
    duration: Duration,
) -> (u64, u64, Duration) {
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let start_ns = now_ns();
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sent = 0u64;
    while sent < total {
        tick.tick().await;
        let due = ((start.elapsed().as_secs_f64() * rate) as u64 + 1).min(total);
        while sent < due {
            let (cell, x, y, color) = cells.take();
            let intended = start_ns + (sent as f64 / rate * 1e9) as u64;
            placers[(sent % placers.len() as u64) as usize].place(x, y, color, cell, intended);
            sent += 1;
        }
    }
    (sent, start_ns, start.elapsed())
}

/// Closed loop: every cell of `cells_todo` once, at most `window`
/// placements outstanding in all; waits for the last ack (or `timeout`).
pub(crate) async fn closed_loop(
    placers: &[Placer],
    permits: &Arc<Semaphore>,
    window: usize,
    cells: &Cells,
    cells_todo: &[u32],
    timeout: Duration,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    for (k, &cell) in cells_todo.iter().enumerate() {
        let p = tokio::time::timeout_at(deadline, permits.acquire())
            .await
            .context("closed loop: acks stopped coming")??;
        p.forget();
        let (x, y, color) = cells.at(cell, k as u64);
        placers[k % placers.len()].place(x, y, color, cell, now_ns());
    }
    let all = tokio::time::timeout_at(deadline, permits.acquire_many(window as u32))
        .await
        .context("closed loop: last acks did not come")??;
    drop(all);
    Ok(())
}

/// Waits until `done()` or until nothing moved for `quiet` or `max` passed.
/// `probe` is any progress figure. Returns whether `done()` held.
pub(crate) async fn wait_until(
    done: impl Fn() -> bool,
    probe: impl Fn() -> u64,
    quiet: Duration,
    max: Duration,
) -> bool {
    let start = Instant::now();
    let mut last = probe();
    let mut last_change = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= max || last_change.elapsed() >= quiet {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let p = probe();
        if p != last {
            last = p;
            last_change = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pixel_core::domain::{Update, frame};

    fn placement(seq: u64, x: u32) -> Update {
        Update {
            seq,
            x,
            y: 1,
            color: 2,
            placed_at: Some(1_000 + seq as i64),
            expires_at: Some(9_000 + seq as i64),
            by: None,
        }
    }

    #[test]
    fn binary_watchers_record_frames_like_json_ones() {
        let opts = WatchOpts {
            arrivals: true,
            decay: false,
            width: 8,
            height: 4,
            encoding: Encoding::Binary,
        };
        let progress = Progress::default();
        let mut st = WatchStats::new(10);
        let header = r#"451-["pixels",{"board":"main"},{"_placeholder":true,"num":0}]"#;
        let frame1 = frame::encode(8, 4, &[placement(11, 0), placement(12, 1)]).unwrap();
        st.message(&Message::text(header), &opts, &progress);
        assert_eq!(st.updates, 0, "nothing before the attachment");
        st.message(&Message::binary(frame1.clone()), &opts, &progress);
        assert_eq!((st.events, st.updates, st.placements), (1, 2, 2));
        assert_eq!(st.wire_bytes, (header.len() + 2 + frame1.len() + 2) as u64);
        assert_eq!(
            st.arrivals.iter().map(|a| a.0).collect::<Vec<_>>(),
            [11, 12]
        );
        // A hole (13 missing): counted as the JSON path counts it.
        let frame2 = frame::encode(8, 4, &[placement(14, 2)]).unwrap();
        st.message(&Message::text(header), &opts, &progress);
        st.message(&Message::binary(frame2), &opts, &progress);
        assert_eq!(st.seq.holes(), 1);
        assert_eq!(st.parse_errors, 0);
        // An attachment nobody announced, and a JSON event on a binary watcher.
        st.message(&Message::binary(frame1), &opts, &progress);
        assert_eq!(st.parse_errors, 1);
        st.message(
            &Message::text(
                r#"42["pixels",{"board":"main","updates":[{"seq":15,"x":1,"y":1,"color":3}]}]"#,
            ),
            &opts,
            &progress,
        );
        assert_eq!((st.wrong_encoding, st.updates), (1, 4));
        assert_eq!(progress.placements.load(Ordering::Relaxed), 4);
        assert_eq!(st.seq.holes(), 1);
        assert_eq!(st.seq.out_of_order + st.seq.duplicates, 0);
    }
}
