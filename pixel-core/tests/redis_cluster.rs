//! The Redis store on a real Redis Cluster (three primaries, three
//! replicas): the same conformance checks as on one server, plus what
//! only a cluster can show — boards on different shards at once, the
//! cooldown across shards, a settled placement, a shard that lost its
//! data, and a primary killed while placements are in flight.

mod nodes;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use nodes::ClusterNodes;
use pixel_core::domain::BoardConfig;
use pixel_core::store::conformance::{self, place_command, placed};
use pixel_core::store::{
    AccountStore, BoardStore, PlaceCommand, PlaceOutcome, Reachable, RedisSettings, RedisStore,
    StoreError, Stores,
};

/// One cluster for the tests that do not break it (each store has a
/// prefix of its own, so they share nothing but the nodes).
fn shared() -> &'static ClusterNodes {
    static SHARED: OnceLock<ClusterNodes> = OnceLock::new();
    SHARED.get_or_init(|| ClusterNodes::start("cluster"))
}

fn settings(nodes: &ClusterNodes) -> RedisSettings {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let mut s = RedisSettings::new(nodes.url());
    s.prefix = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
    s
}

async fn store(nodes: &ClusterNodes) -> RedisStore {
    RedisStore::connect(&settings(nodes))
        .await
        .expect("connects to the test cluster")
}

async fn serving(nodes: &ClusterNodes, boards: &[&BoardConfig]) -> RedisStore {
    let s = store(nodes).await;
    for b in boards {
        s.init_board(b).await.unwrap();
    }
    s
}

struct Fresh {
    stores: Stores,
}

impl conformance::Fixture for Fresh {
    fn stores(&self) -> &Stores {
        &self.stores
    }
}

async fn fresh() -> Fresh {
    Fresh {
        stores: Stores::on(Arc::new(store(shared()).await)),
    }
}

/// The store contract on Cluster, the same list of checks as on one server.
mod conforms_to_the_store_contract {
    use super::fresh;

    pixel_core::store_conformance_tests!(fresh());
}

/// Two board ids whose slots are served by different primaries.
fn boards_on_two_shards(nodes: &ClusterNodes) -> (BoardConfig, BoardConfig) {
    let first = "shard-a0";
    let p = nodes.primary_of(first);
    let other = (1..100)
        .map(|i| format!("shard-b{i}"))
        .find(|id| nodes.primary_of(id) != p)
        .expect("some id lands on another shard");
    (conformance::board(first), conformance::board(&other))
}

fn free_placement<'a>(
    board: &'a BoardConfig,
    user: &'a str,
    id: &'a str,
    i: u64,
) -> PlaceCommand<'a> {
    PlaceCommand {
        cooldown_until: 0,
        placement_id: id,
        ..place_command(
            board,
            i % board.width as u64,
            (i / board.width as u64) % board.height as u64,
            1,
            user,
            1_000,
        )
    }
}

#[tokio::test]
async fn boards_on_two_shards_take_placements_at_once_with_gapless_seqs() {
    let nodes = shared();
    let (a, b) = boards_on_two_shards(nodes);
    let s = Arc::new(serving(nodes, &[&a, &b]).await);
    const N: u64 = 400;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for board in [a.clone(), b.clone()] {
        for i in 0..N {
            let s = s.clone();
            let board = board.clone();
            tasks.push(tokio::spawn(async move {
                let user = format!("{}-u{i}", board.id);
                let id = format!("p{i}");
                placed(
                    s.place(&free_placement(&board, &user, &id, i))
                        .await
                        .unwrap(),
                )
                .seq
            }));
        }
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    println!(
        "{} placements on two shards in {elapsed:?}: {:.0}/s",
        2 * N,
        (2 * N) as f64 / elapsed.as_secs_f64()
    );
    for (k, board) in [&a, &b].into_iter().enumerate() {
        let mut mine: Vec<u64> = seqs[k * N as usize..(k + 1) * N as usize].to_vec();
        mine.sort_unstable();
        assert_eq!(mine, (1..=N).collect::<Vec<_>>(), "board {}", board.id);
        assert_eq!(s.board_seq(&board.id).await.unwrap(), N);
        let read = s.read_history(&board.id, 0, N, N as usize).await.unwrap();
        assert_eq!(read.updates.len(), N as usize, "the feed has every update");
    }
}

#[tokio::test]
async fn the_cooldown_holds_across_boards_on_two_shards() {
    let nodes = shared();
    let (a, b) = boards_on_two_shards(nodes);
    // Two processes on one data set: one serves board A, the other
    // (another gateway) board B.
    let same = settings(nodes);
    let s = RedisStore::connect(&same).await.unwrap();
    s.init_board(&a).await.unwrap();
    let other = RedisStore::connect(&same).await.unwrap();
    other.init_board(&b).await.unwrap();
    let first = PlaceCommand {
        placement_id: "x1",
        ..place_command(&a, 1, 1, 2, "ann", 1_000)
    };
    placed(s.place(&first).await.unwrap());
    let second = PlaceCommand {
        placement_id: "x2",
        ..place_command(&b, 1, 1, 2, "ann", 1_500)
    };
    match other.place(&second).await.unwrap() {
        PlaceOutcome::Cooldown { retry_after_ms } => {
            assert_eq!(retry_after_ms, first.cooldown_until - 1_500)
        }
        o => panic!("board B must see ann's cooldown from board A: {o:?}"),
    }
    assert_eq!(
        other.board_seq(&b.id).await.unwrap(),
        0,
        "nothing written on B"
    );
    // Once it is over, B takes ann's placement.
    let later = PlaceCommand {
        now: first.cooldown_until,
        cooldown_until: first.cooldown_until + 10,
        ..second
    };
    placed(other.place(&later).await.unwrap());
}

#[tokio::test]
async fn lost_placement_answers_are_settled_on_the_boards_shard() {
    let nodes = shared();
    let board = conformance::board("settle");
    let s = serving(nodes, &[&board]).await;
    let applied = PlaceCommand {
        placement_id: "attempt-1",
        ..place_command(&board, 1, 1, 2, "ann", 1_000)
    };
    let update = placed(s.place(&applied).await.unwrap());
    assert_eq!(
        s.settle_placement(&board.id, "ann", "attempt-1")
            .await
            .unwrap(),
        Some(update.seq)
    );
    // An attempt that never arrived: not applied, and refused when it
    // arrives late; its cooldown reservation is given back.
    assert_eq!(
        s.settle_placement(&board.id, "bob", "attempt-2")
            .await
            .unwrap(),
        None
    );
    let late = PlaceCommand {
        placement_id: "attempt-2",
        ..place_command(&board, 2, 2, 3, "bob", 1_000)
    };
    assert!(matches!(
        s.place(&late).await,
        Err(StoreError::Unavailable(_))
    ));
    let fresh_try = PlaceCommand {
        placement_id: "attempt-3",
        ..late
    };
    placed(s.place(&fresh_try).await.unwrap());
    assert_eq!(s.board_seq(&board.id).await.unwrap(), 2);
}

#[tokio::test]
async fn a_shard_that_lost_its_data_starts_a_new_epoch() {
    // A cluster of its own: FLUSHALL wipes the whole shard.
    let nodes = &ClusterNodes::start("wiped");
    let board = conformance::board("wiped");
    let s = serving(nodes, &[&board]).await;
    for i in 0..3 {
        let id = format!("w{i}");
        placed(
            s.place(&free_placement(&board, "ann", &id, i))
                .await
                .unwrap(),
        );
    }
    let before = s.epoch();
    let primary = nodes.primary_of("wiped");
    assert_eq!(nodes::cli(primary, &["FLUSHALL"]).trim(), "OK");
    // The board's keys are gone with its shard's data: the next placement
    // runs under a new epoch, starting from seq 1 again.
    let u = placed(
        s.place(&free_placement(&board, "bob", "w9", 9))
            .await
            .unwrap(),
    );
    assert_eq!(u.seq, 1);
    assert_ne!(s.epoch(), before, "seqs restart only under a new epoch");
    let snap = s.snapshot(&board).await.unwrap();
    assert_eq!(snap.epoch, s.epoch());
    assert_eq!(snap.seq, 1);

    // Wiped again under a burst of placements, each of which finds the
    // board gone and recovers at once: they settle on one new epoch and
    // every one is placed, with gapless seqs.
    let second = s.epoch();
    assert_eq!(nodes::cli(primary, &["FLUSHALL"]).trim(), "OK");
    let s = Arc::new(s);
    let burst = (0..200u64).map(|i| {
        let s = s.clone();
        let board = board.clone();
        tokio::spawn(async move {
            let user = format!("burst-{i}");
            let id = format!("b{i}");
            placed(
                s.place(&free_placement(&board, &user, &id, i))
                    .await
                    .unwrap(),
            )
            .seq
        })
    });
    let mut seqs = Vec::new();
    for t in burst {
        seqs.push(t.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    assert_ne!(s.epoch(), second);
    assert_eq!(s.snapshot(&board).await.unwrap().epoch, s.epoch());
}

#[tokio::test]
async fn a_killed_primary_is_replaced_and_in_flight_placements_are_answered_truthfully() {
    let nodes = ClusterNodes::start("failover");
    let board = conformance::board("failover");
    let s = Arc::new(serving(&nodes, &[&board]).await);
    let primary = nodes.primary_of("failover");
    // Placements keep coming, one user each (no cooldown), while the
    // board's primary is killed.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut placers = Vec::new();
    for w in 0..4u64 {
        let s = s.clone();
        let board = board.clone();
        let stop = stop.clone();
        placers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let user = format!("w{w}-{i}");
                let id = format!("p{w}-{i}");
                let cmd = free_placement(&board, &user, &id, w * 1_000_000 + i);
                let at = Instant::now();
                let r = s.place(&cmd).await;
                out.push((board.id.clone(), user, id, at, r));
                i += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            out
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed = Instant::now();
    nodes.kill_node(primary);
    // The replica takes over (cluster-node-timeout 1000 ms).
    nodes::eventually("a replica is promoted", Duration::from_secs(15), || async {
        nodes
            .try_primary_of("failover")
            .is_some_and(|p| p != primary)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut results = Vec::new();
    for p in placers {
        results.extend(p.await.unwrap());
    }
    // Placements resume: the first success after the kill comes within
    // a few seconds.
    let resumed = results
        .iter()
        .filter(|(_, _, _, at, r)| *at > killed && r.is_ok())
        .map(|(_, _, _, at, _)| at.duration_since(killed))
        .min()
        .expect("placements succeed after the failover");
    println!("placements resumed {resumed:?} after the kill");
    assert!(
        resumed < Duration::from_secs(8),
        "resumed after {resumed:?}"
    );
    // Every answer is true of the board the new primary serves.
    let seq = s.board_seq(&board.id).await.unwrap();
    let history = s
        .read_history(&board.id, 0, seq, seq as usize)
        .await
        .unwrap();
    let on_board: std::collections::HashMap<String, u64> = history
        .updates
        .iter()
        .filter_map(|u| u.by.clone().map(|by| (by, u.seq)))
        .collect();
    let (mut ok, mut refused, mut unknown, mut lost_acks) = (0, 0, 0, 0);
    for (board_id, user, id, _, r) in &results {
        match r {
            Ok(PlaceOutcome::Placed(u)) => {
                ok += 1;
                // Replication is asynchronous: an ack of the old primary
                // that its replica had not yet received is lost with it
                // (REDIS_MIN_REPLICAS_ACKED is 0 here).
                if on_board.get(user) != Some(&u.seq) {
                    lost_acks += 1;
                }
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(StoreError::Unavailable(_)) => {
                refused += 1;
                assert!(
                    !on_board.contains_key(user),
                    "{user}: 'not applied' but on the board"
                );
            }
            Err(StoreError::OutcomeUnknown(_)) => {
                unknown += 1;
                let settled = s.settle_placement(board_id, user, id).await.unwrap();
                assert_eq!(
                    settled,
                    on_board.get(user).copied(),
                    "{user}: the settled answer is what the board holds"
                );
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    println!(
        "{ok} placed ({lost_acks} acks lost with the old primary), {refused} not applied, {unknown} unknown and settled"
    );
    assert!(ok > 0 && lost_acks <= 8, "{lost_acks} acks lost");
    s.ping().await.unwrap();
}

/// A store that acks a write once N replicas of its shard have it, and
/// its key prefix.
async fn acking(nodes: &ClusterNodes, n: u32, boards: &[&BoardConfig]) -> (RedisStore, String) {
    let mut settings = settings(nodes);
    settings.min_replicas_acked = n;
    let s = RedisStore::connect(&settings)
        .await
        .expect("REDIS_MIN_REPLICAS_ACKED works on Cluster");
    for b in boards {
        s.init_board(b).await.unwrap();
    }
    (s, settings.prefix)
}

/// `GET key` on the replica on `port` (READONLY: a replica serves reads
/// of its primary's slots on such a connection).
async fn get_on_replica(port: u16, key: &str) -> Option<String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    let (_, v): ((), Option<String>) = redis::pipe()
        .cmd("READONLY")
        .cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .ok()?;
    v
}

fn user(id: &str) -> pixel_core::store::UserRecord {
    pixel_core::store::UserRecord {
        id: id.into(),
        email: format!("{id}@example.test"),
        name: id.into(),
        password_hash: "x".into(),
    }
}

#[tokio::test]
async fn replica_acks_on_cluster_wait_for_each_shards_replica() {
    let nodes = shared();
    let (a, b) = boards_on_two_shards(nodes);
    let (s, prefix) = acking(nodes, 1, &[&a, &b]).await;
    for (i, board) in [&a, &b].into_iter().enumerate() {
        let seq_key = format!("{prefix}:board:{{{}}}:seq", board.id);
        let replicas = nodes.replicas_of(nodes.primary_of(&seq_key));
        assert_eq!(
            replicas.len(),
            1,
            "the shard of {} has its replica",
            board.id
        );
        for k in 0..5u64 {
            let (user, id) = (format!("acked-{i}-{k}"), format!("acked-{i}-{k}"));
            let started = Instant::now();
            let outcome = s
                .place(&free_placement(board, &user, &id, k))
                .await
                .expect("acked with a replica in sync");
            let u = placed(outcome);
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "an acked placement took {:?}",
                started.elapsed()
            );
            // What the ack promised: the shard's replica has the write.
            assert_eq!(
                get_on_replica(replicas[0], &seq_key).await,
                Some(u.seq.to_string()),
                "the replica of {}'s shard has seq {} once it is acked",
                board.id,
                u.seq
            );
        }
    }
    // Sign-up (two slots) and a refresh token wait too, and succeed.
    s.create_user(&user("acked-user")).await.unwrap();
    s.insert_refresh(
        "hash-1",
        &pixel_core::store::RefreshRecord {
            family: "fam-acked".into(),
            user_id: "acked-user".into(),
            expires_at: 4_000_000_000_000,
        },
        1_000,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_shard_without_its_replica_refuses_acked_writes_quickly_and_never_hangs() {
    let nodes = ClusterNodes::start("acks-down");
    let (a, b) = boards_on_two_shards(&nodes);
    let (s, _) = acking(&nodes, 1, &[&a, &b]).await;
    let (plain, _) = acking(&nodes, 0, &[&a, &b]).await;
    let primary = nodes.primary_of(a.id.as_str());
    let replica = nodes.replicas_of(primary)[0];

    // A replica that stops answering: the primary still counts it in sync
    // for a second, so the write applies, and its WAIT times out: "may
    // have been applied", after about REDIS_REPLICA_ACK_TIMEOUT_MS.
    let replica_pid = nodes.pid_of(replica);
    nodes.signal(&replica_pid, "STOP");
    let started = Instant::now();
    let r = s.place(&free_placement(&a, "stalled", "stalled", 1)).await;
    let took = started.elapsed();
    nodes.signal(&replica_pid, "CONT");
    match r {
        Err(StoreError::OutcomeUnknown(cause)) => {
            assert!(cause.to_string().contains("replicas confirmed"), "{cause}")
        }
        other => panic!("a write whose WAIT timed out: {other:?}"),
    }
    assert!(took < Duration::from_secs(3), "answered after {took:?}");

    // A replica gone: refused before anything is written, at once.
    nodes.kill_node(replica);
    nodes::eventually(
        "placements on the shard without a replica are refused",
        Duration::from_secs(10),
        || async {
            matches!(
                s.place(&free_placement(&a, "probe", "probe", 2)).await,
                Err(StoreError::Unavailable(_))
            )
        },
    )
    .await;
    let before = s.board_seq(&a.id).await.unwrap();
    for k in 0..10u64 {
        let id = format!("refused-{k}");
        let started = Instant::now();
        let r = s.place(&free_placement(&a, &id, &id, 10 + k)).await;
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "refused after {:?}",
            started.elapsed()
        );
        match r {
            Err(StoreError::Unavailable(cause)) => {
                assert!(cause.to_string().contains("replicas"), "{cause}")
            }
            other => panic!("a shard without its replica: {other:?}"),
        }
    }
    assert_eq!(
        s.board_seq(&a.id).await.unwrap(),
        before,
        "a refused placement changed nothing"
    );
    // The other shard still has its replica: acked as before.
    let ok = s
        .place(&free_placement(&b, "other-shard", "other-shard", 1))
        .await
        .expect("the other shard acks");
    placed(ok);
    // N = 0 is unchanged: acked once the primary has it.
    let ok = plain
        .place(&free_placement(&a, "unreplicated", "unreplicated", 30))
        .await
        .expect("N=0 acks without a replica");
    placed(ok);
}

#[tokio::test]
async fn processes_that_create_a_board_at_once_agree_on_its_epoch() {
    let nodes = shared();
    let board = conformance::board("at-once");
    let same = settings(nodes);
    let stores: Vec<RedisStore> = connect_all(&same, 4).await;
    let inits = stores.iter().map(|s| s.init_board(&board));
    for r in futures_util::future::join_all(inits).await {
        r.unwrap();
    }
    let epochs: Vec<String> = stores.iter().map(|s| s.epoch()).collect();
    assert!(epochs.iter().all(|e| *e == epochs[0]), "{epochs:?}");
    for (i, s) in stores.iter().enumerate() {
        let user = format!("u{i}");
        let id = format!("p{i}");
        placed(
            s.place(&free_placement(&board, &user, &id, i as u64))
                .await
                .unwrap(),
        );
    }
    assert_eq!(stores[0].board_seq(&board.id).await.unwrap(), 4);
    assert_eq!(stores[3].epoch(), epochs[0], "no epoch change on the way");
}

async fn connect_all(settings: &RedisSettings, n: usize) -> Vec<RedisStore> {
    let connects = (0..n).map(|_| RedisStore::connect(settings));
    futures_util::future::join_all(connects)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

#[tokio::test]
async fn a_seq_that_went_backwards_starts_a_new_epoch_once_on_cluster() {
    let nodes = shared();
    let board = conformance::board("backwards");
    let same = settings(nodes);
    let a = RedisStore::connect(&same).await.unwrap();
    a.init_board(&board).await.unwrap();
    let b = RedisStore::connect(&same).await.unwrap();
    b.init_board(&board).await.unwrap();
    let old = a.epoch();
    assert_eq!(b.epoch(), old);
    let new = a.restart_epoch(&old).await.unwrap();
    assert_ne!(new, old);
    assert_eq!(a.epoch(), new);
    // A process that has not noticed places under the new epoch: the
    // board's copy changed, so its step is refused and retried after it
    // adopts the new one.
    placed(
        b.place(&free_placement(&board, "w", "b1", 1))
            .await
            .unwrap(),
    );
    assert_eq!(b.epoch(), new);
    // A second process that noticed the same loss does not start another.
    assert_eq!(b.restart_epoch(&old).await.unwrap(), new);
    assert_eq!(a.snapshot(&board).await.unwrap().epoch, new);
}

#[tokio::test]
async fn a_bad_cluster_url_is_refused_clearly() {
    for url in [
        "redis+cluster://",
        "redis+cluster://127.0.0.1:1/0",
        "redis+cluster://127.0.0.1:notaport",
    ] {
        match RedisStore::connect(&RedisSettings::new(url)).await {
            Err(StoreError::Unavailable(cause)) => {
                let why = cause.to_string();
                assert!(why.contains("REDIS_URL"), "{url}: {why}");
            }
            Ok(_) => panic!("{url} must be refused"),
            Err(e) => panic!("{url}: unexpected {e:?}"),
        }
    }
}
