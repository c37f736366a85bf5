//! The worker's shutdown, through the runner every service shares: it turns
//! unready first, then finishes the store step in flight and stops; a step
//! stuck on a frozen Redis does not hold it past `SHUTDOWN_DRAIN_MS`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use test_support::RedisServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use worker::WorkerConfig;

struct Worker {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

/// Runs `worker::run` on Redis with `args`, until it reports ready.
async fn start(redis: &RedisServer, args: &[&str]) -> Worker {
    let url = redis.url();
    let argv = [
        "pixel-worker",
        "--redis-url",
        &url,
        "--sweep-interval-ms",
        "20",
    ];
    let config = WorkerConfig::try_parse_from(argv.iter().chain(args)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(worker::run(config, listener, async move {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(10);
    while readyz(addr).await != Some(200) {
        assert!(
            Instant::now() < deadline,
            "the worker got ready within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Worker { addr, stop, task }
}

/// The status of `GET /readyz`, or `None` when nothing answers within 1 s.
async fn readyz(addr: SocketAddr) -> Option<u16> {
    let get = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).await.ok()?;
        let line = String::from_utf8_lossy(&reply);
        line.split(' ').nth(1)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(1), get)
        .await
        .ok()
        .flatten()
}

/// Waits for the worker to return, at most 10 s: how long it took.
async fn stopped(task: JoinHandle<anyhow::Result<()>>, since: Instant) -> Duration {
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the worker stops within 10 s")
        .expect("the worker did not panic")
        .expect("the worker ran cleanly");
    since.elapsed()
}

#[tokio::test]
async fn shutdown_turns_the_worker_unready_first_then_stops_it_well_before_the_deadline() {
    let redis = RedisServer::start();
    let w = start(
        &redis,
        &[
            "--shutdown-ready-delay-ms",
            "300",
            "--shutdown-drain-ms",
            "10000",
        ],
    )
    .await;
    let since = Instant::now();
    w.stop.send(()).unwrap();
    // Still serving its ops routes, but not ready.
    let mut unready = false;
    for _ in 0..100 {
        if readyz(w.addr).await == Some(503) {
            unready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(unready, "/readyz answered 503 during the ready delay");
    let took = stopped(w.task, since).await;
    assert!(
        took >= Duration::from_millis(300),
        "the worker stopped before its ready delay passed: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "an idle worker stops once its sweep does, not at the drain deadline: {took:?}"
    );
}

#[tokio::test]
async fn a_sweep_stuck_on_a_frozen_redis_is_cut_at_the_drain_deadline() {
    let redis = RedisServer::start();
    let w = start(&redis, &["--shutdown-drain-ms", "500"]).await;
    // Frozen, Redis answers nothing: the worker's next store step (due
    // within 20 ms) waits for its reply until the store's 2 s timeout.
    redis.signal("STOP");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let since = Instant::now();
    w.stop.send(()).unwrap();
    let took = stopped(w.task, since).await;
    redis.signal("CONT");
    assert!(
        took >= Duration::from_millis(450),
        "the worker did not wait for its store step in flight: {took:?}"
    );
    assert!(
        took < Duration::from_millis(1500),
        "the worker outlived its drain deadline (500 ms): {took:?}"
    );
}
