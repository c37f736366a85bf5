//! Acks that mean "replicated" (`REDIS_MIN_REPLICAS_ACKED`) against real
//! processes: a primary and a replica (Debian's `redis-server`), and for
//! the failover three sentinels (`redis-server --sentinel`). With N = 1 an
//! acked write is on the replica; with the replica gone writes are refused
//! as `unavailable` with nothing applied, and none hangs; after a Sentinel
//! failover every acked placement is on the new primary.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pixel_core::domain::BoardConfig;
use pixel_core::store::conformance::{self, place_command};
use pixel_core::store::{
    AccountStore, BoardStore, PlaceOutcome, RedisSettings, RedisStore, RefreshRecord, StoreError,
    UserRecord,
};

mod nodes;

use nodes::{MASTER, Proc, eventually, query, role};

/// The slowest a write may answer with N = 1: the `WAIT` timeout plus the
/// response timeout, and slack for a loaded machine.
const NO_HANG: Duration = Duration::from_secs(5);

async fn connect(url: String, min: u32) -> RedisStore {
    RedisStore::connect(&RedisSettings {
        min_replicas_acked: min,
        replica_ack_timeout: Duration::from_millis(1000),
        ..RedisSettings::new(url)
    })
    .await
    .expect("connects")
}

/// Waits until `primary` counts `replica` as online (the store's poll
/// reads the same `INFO replication`).
async fn in_sync(primary: u16, replica: u16) {
    eventually(
        "the replica is in sync",
        Duration::from_secs(15),
        || async move {
            let info: String = query(primary, &["INFO", "replication"])
                .await
                .unwrap_or_default();
            info.lines()
                .any(|l| l.contains(&format!("port={replica},state=online")))
        },
    )
    .await;
}

async fn place(
    store: &RedisStore,
    board: &BoardConfig,
    i: u64,
) -> Result<PlaceOutcome, StoreError> {
    let user = format!("u{i}");
    let cmd = place_command(board, i % 8, i / 8 % 8, 1 + i % 7, &user, 0);
    let started = Instant::now();
    let out = tokio::time::timeout(NO_HANG, store.place(&cmd))
        .await
        .unwrap_or_else(|_| panic!("placement {i} answers within {NO_HANG:?}"));
    assert!(started.elapsed() < NO_HANG);
    out
}

fn user(i: u64) -> UserRecord {
    UserRecord {
        id: format!("user-{i}"),
        email: format!("u{i}@example.com"),
        name: format!("u{i}"),
        password_hash: "x".into(),
    }
}

async fn seq_on(port: u16) -> u64 {
    let seq: Option<u64> = query(port, &["GET", "rp:board:main:seq"]).await.unwrap();
    seq.unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_wait_for_the_replica_and_writes_are_refused_without_it() {
    let primary = Proc::data("wprimary", None);
    let mut replica = Proc::data("wreplica", Some(primary.port));
    let (pp, rp) = (primary.port, replica.port);
    in_sync(pp, rp).await;
    let store = connect(format!("redis://127.0.0.1:{pp}/"), 1).await;
    let board = conformance::board("main");
    store.init_board(&board).await.unwrap();

    // Acked means on the replica: it has every acked seq the moment the ack comes.
    let acked = futures_util::future::join_all((0..32).map(|i| {
        let (store, board) = (&store, &board);
        async move {
            match place(store, board, i).await.unwrap() {
                PlaceOutcome::Placed(u) => u.seq,
                other => panic!("{other:?}"),
            }
        }
    }))
    .await;
    let top = *acked.iter().max().unwrap();
    assert_eq!(
        store
            .settle_placement(&board.id, "u0", "conformance")
            .await
            .unwrap(),
        Some(acked[0]),
        "an applied placement settles as placed while the replica is there"
    );
    assert!(seq_on(rp).await >= top, "the replica has every acked seq");
    store.create_user(&user(1)).await.unwrap();
    let on_replica: Option<String> = query(rp, &["GET", "rp:user:user-1"]).await.unwrap();
    assert!(
        on_replica.is_some(),
        "the sign-up is on the replica when acked"
    );
    let family = RefreshRecord {
        user_id: "user-1".into(),
        family: "fam-1".into(),
        expires_at: 3_600_000,
    };
    store.insert_refresh("h1", &family, 0).await.unwrap();
    let cur: Option<String> = query(rp, &["HGET", "rp:family:fam-1", "cur"])
        .await
        .unwrap();
    assert_eq!(
        cur.as_deref(),
        Some("h1"),
        "the refresh token is on the replica"
    );

    // The replica dies: writes are refused promptly, and none hangs.
    replica.kill();
    let killed = Instant::now();
    let mut i = 100;
    let mut unknown = 0;
    loop {
        match place(&store, &board, i).await {
            Err(StoreError::Unavailable(_)) => break,
            Err(StoreError::OutcomeUnknown(_)) => {
                unknown += 1;
                // Applied but not replicated: the look-up that settles it
                // does not call it placed either.
                let settled = store
                    .settle_placement(&board.id, &format!("u{i}"), "conformance")
                    .await;
                assert!(settled.is_err(), "not settled as placed: {settled:?}");
            }
            // Sent after the replica died: no replica can have acked it.
            Ok(PlaceOutcome::Placed(u)) => panic!("acked {u:?} with the replica dead"),
            other => panic!("{other:?}"),
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "writes are refused within 10 s of the replica's death"
        );
        i += 1;
    }
    println!(
        "replica killed: writes refused as unavailable after {:?} ({unknown} answered \
         'may have been applied' before)",
        killed.elapsed()
    );
    // Refused means nothing applied.
    let before = seq_on(pp).await;
    for j in 0..10 {
        let started = Instant::now();
        let out = place(&store, &board, 1000 + j).await;
        assert!(
            matches!(out, Err(StoreError::Unavailable(_))),
            "refused: {out:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "refused at once"
        );
    }
    assert!(matches!(
        store.create_user(&user(2)).await,
        Err(StoreError::Unavailable(_))
    ));
    assert_eq!(seq_on(pp).await, before, "no refused placement was applied");
    let cooldown: Option<String> = query(pp, &["GET", "rp:cooldown:u1000"]).await.unwrap();
    assert_eq!(cooldown, None, "a refused placement set no cooldown");
    let gone: Option<String> = query(pp, &["GET", "rp:user:user-2"]).await.unwrap();
    assert_eq!(gone, None, "a refused sign-up created no user");

    // The replica comes back: writes ack again, replicated.
    replica.spawn();
    in_sync(pp, rp).await;
    let back = Instant::now();
    let seq = loop {
        match place(&store, &board, 2000 + i).await {
            Ok(PlaceOutcome::Placed(u)) => break u.seq,
            Err(StoreError::Unavailable(_)) => {
                assert!(back.elapsed() < Duration::from_secs(10), "writes ack again");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("{other:?}"),
        }
        i += 1;
    };
    assert!(seq_on(rp).await >= seq);
    store.create_user(&user(3)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_loses_no_acked_placement() {
    let mut primary = Proc::data("fprimary", None);
    let replica = Proc::data("freplica", Some(primary.port));
    let sentinels: Vec<Proc> = (0..3).map(|_| Proc::sentinel(primary.port)).collect();
    let (pp, rp) = (primary.port, replica.port);
    in_sync(pp, rp).await;
    let sports: Vec<u16> = sentinels.iter().map(|s| s.port).collect();
    for &sp in &sports {
        eventually(
            "every sentinel sees the replica and its peers",
            Duration::from_secs(15),
            || async move {
                let master: Vec<redis::Value> = query(sp, &["SENTINEL", "MASTER", MASTER])
                    .await
                    .unwrap_or_default();
                let fields: Vec<String> = master
                    .into_iter()
                    .filter_map(|v| redis::from_redis_value(v).ok())
                    .collect();
                let field = |name: &str| {
                    fields
                        .iter()
                        .position(|f| f == name)
                        .and_then(|i| fields.get(i + 1))
                        .cloned()
                        .unwrap_or_default()
                };
                field("num-slaves") == "1" && field("num-other-sentinels") == "2"
            },
        )
        .await;
    }
    let url = format!(
        "redis+sentinel://{}/{MASTER}/0",
        sports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let store = Arc::new(connect(url, 1).await);
    let board = Arc::new(conformance::board("main"));
    store.init_board(&board).await.unwrap();

    // Four placers write until told to stop; the primary dies meanwhile.
    let acked: Arc<Mutex<Vec<(u64, u32, u32)>>> = Default::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let placers: Vec<_> = (0..4u64)
        .map(|p| {
            let (store, board, acked, stop) =
                (store.clone(), board.clone(), acked.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = p;
                let mut refused = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match place(&store, &board, i).await {
                        Ok(PlaceOutcome::Placed(u)) => {
                            acked.lock().unwrap().push((u.seq, u.x, u.y))
                        }
                        Ok(other) => panic!("{other:?}"),
                        Err(_) => {
                            refused += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                    i += 4;
                }
                refused
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = acked.lock().unwrap().len();
    assert!(before > 0, "placements ack before the failover");
    primary.kill();
    let killed = Instant::now();
    eventually(
        "the replica is promoted",
        Duration::from_secs(20),
        || async move { role(rp).await.as_deref() == Some("master") },
    )
    .await;
    println!(
        "failover: the replica was promoted {:?} after the primary's death",
        killed.elapsed()
    );
    // The new primary has no replica: nothing acks until the old one rejoins.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = acked.lock().unwrap().len();
    primary.spawn();
    eventually(
        "the old primary rejoins as a replica",
        Duration::from_secs(20),
        || async move { role(pp).await.as_deref() == Some("slave") },
    )
    .await;
    in_sync(rp, pp).await;
    eventually("placements ack again", Duration::from_secs(15), || {
        let acked = acked.clone();
        async move { acked.lock().unwrap().len() > during + 10 }
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut refused = 0;
    for p in placers {
        refused += p.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    println!(
        "{} placements acked ({before} before the kill, {} between the kill and the old \
         primary's return), {refused} refused or unknown",
        acked.len(),
        during - before
    );

    // Every acked placement is in the new primary's feed, as acked.
    let newest = acked.iter().map(|a| a.0).max().unwrap();
    let history = store
        .read_history(&board.id, 0, newest, 100_000)
        .await
        .unwrap();
    let feed: std::collections::HashMap<u64, (u32, u32)> = history
        .updates
        .iter()
        .map(|u| (u.seq, (u.x, u.y)))
        .collect();
    for (seq, x, y) in &acked {
        assert_eq!(
            feed.get(seq),
            Some(&(*x, *y)),
            "acked seq {seq} is in the new primary's feed"
        );
    }
    assert_eq!(role(rp).await.as_deref(), Some("master"));
    drop(sentinels);
}

/// What the group commit costs: placements per second from 64 concurrent
/// placers with N = 0 and N = 1 against the same primary and replica.
/// Printed (run it with `--release --nocapture` for the figure in
/// docs/reliability.md); asserted only that every placement acked and that
/// with N = 1 the replica has them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_throughput() {
    let primary = Proc::data("bprimary", None);
    let replica = Proc::data("breplica", Some(primary.port));
    let (pp, rp) = (primary.port, replica.port);
    in_sync(pp, rp).await;
    const PLACERS: u64 = 64;
    const EACH: u64 = 100;
    let board = conformance::board("main");
    let mut figures = Vec::new();
    for min in [0u32, 1] {
        let store = connect(format!("redis://127.0.0.1:{pp}/"), min).await;
        store.init_board(&board).await.unwrap();
        let start_seq = seq_on(pp).await;
        let started = Instant::now();
        let latencies: Vec<Vec<Duration>> = futures_util::future::join_all((0..PLACERS).map(|p| {
            let (store, board) = (&store, &board);
            async move {
                let mut l = Vec::new();
                for k in 0..EACH {
                    let i = (min as u64 * 1_000_000) + p * EACH + k;
                    let t = Instant::now();
                    match place(store, board, i).await.unwrap() {
                        PlaceOutcome::Placed(_) => l.push(t.elapsed()),
                        other => panic!("{other:?}"),
                    }
                }
                l
            }
        }))
        .await;
        let took = started.elapsed();
        let mut all: Vec<Duration> = latencies.into_iter().flatten().collect();
        all.sort();
        let n = all.len() as u64;
        assert_eq!(n, PLACERS * EACH);
        assert_eq!(seq_on(pp).await, start_seq + n);
        if min == 1 {
            assert!(seq_on(rp).await >= start_seq + n);
        }
        let rate = n as f64 / took.as_secs_f64();
        let p50 = all[all.len() / 2];
        let p99 = all[all.len() * 99 / 100];
        println!(
            "REDIS_MIN_REPLICAS_ACKED={min}: {n} placements by {PLACERS} placers in {took:?}: \
             {rate:.0}/s, p50 {p50:?}, p99 {p99:?}"
        );
        figures.push(rate);
    }
    println!(
        "N=1 throughput is {:.0}% of N=0",
        figures[1] / figures[0] * 100.0
    );
}
