//! The Redis store against a real `redis-server`: the same conformance
//! checks as the in-memory store, plus what only a shared store can show —
//! concurrency, outages and durability.

use std::sync::Arc;
use std::time::Duration;

use pixel_core::domain::{BoardConfig, HistoryPolicy};
use pixel_core::store::conformance::{self, place_command, placed};
use pixel_core::store::{
    BoardStore, PlaceCommand, PlaceOutcome, Reachable, RedisSettings, RedisStore, StoreError,
    Stores,
};
use test_support::RedisServer;

/// Pings until the store answers again after an outage (it reconnects in
/// the background; the first request after an outage may fail).
async fn wait_until_served(s: &RedisStore) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while s.ping().await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the store reconnects within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn store(redis: &RedisServer) -> RedisStore {
    RedisStore::connect(&RedisSettings::new(redis.url()))
        .await
        .expect("connects to the test redis")
}

/// A store serving `board`, as a process has one after start-up.
async fn serving(redis: &RedisServer, board: &BoardConfig) -> RedisStore {
    let s = store(redis).await;
    s.init_board(board).await.unwrap();
    s
}

/// A command on a connection of its own, as an operator's `redis-cli`.
async fn redis_cmd<T: redis::FromRedisValue>(redis: &RedisServer, args: &[&str]) -> T {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(&mut conn).await.unwrap()
}

/// A placement by `user` at time 0 with no cooldown, expiring at `expires_at`.
fn place_at_zero<'a>(
    board: &'a BoardConfig,
    x: u64,
    y: u64,
    color: u64,
    user: &'a str,
    expires_at: i64,
) -> PlaceCommand<'a> {
    PlaceCommand {
        expires_at,
        cooldown_until: 0,
        ..place_command(board, x, y, color, user, 0)
    }
}

/// Both Redis stores on a `redis-server` of their own, for one test.
struct Fresh {
    stores: Stores,
    _redis: RedisServer,
}

impl conformance::Fixture for Fresh {
    fn stores(&self) -> &Stores {
        &self.stores
    }
}

async fn fresh() -> Fresh {
    let redis = RedisServer::start();
    Fresh {
        stores: Stores::on(Arc::new(store(&redis).await)),
        _redis: redis,
    }
}

/// The store contract, the same list of checks as the in-memory store's.
mod conforms_to_the_store_contract {
    use super::fresh;

    pixel_core::store_conformance_tests!(fresh());
}

#[tokio::test]
async fn a_feed_reader_resumes_after_a_redis_restart_without_missing_anything() {
    let mut redis = RedisServer::start_durable();
    let board = conformance::board("main");
    let s = serving(&redis, &board).await;
    let mut reader = s.feed();
    let place = |i: u64| {
        let (s, board) = (&s, &board);
        async move {
            let user = format!("u{i}");
            let cmd = place_at_zero(board, i % 8, i / 8, 2, &user, 1_000_000);
            placed(s.place(&cmd).await.unwrap())
        }
    };
    let first = place(0).await;
    let got = reader.read(&board.id, 0, 10, Duration::ZERO).await.unwrap();
    assert_eq!(got, vec![first]);
    redis.kill();
    assert!(matches!(
        reader.read(&board.id, 1, 10, Duration::ZERO).await,
        Err(StoreError::Unavailable(_))
    ));
    redis.restart();
    wait_until_served(&s).await;
    let later = vec![place(1).await, place(2).await];
    let got = reader.read(&board.id, 1, 10, Duration::ZERO).await.unwrap();
    assert_eq!(got, later, "the same reader reconnects and resumes at 2");
}

#[tokio::test]
async fn a_frozen_redis_fails_a_feed_read_and_a_thawed_one_serves_it_again() {
    let redis = RedisServer::start();
    let board = conformance::board("main");
    let s = serving(&redis, &board).await;
    let mut reader = s.feed();
    assert!(
        reader
            .read(&board.id, 0, 10, Duration::from_millis(10))
            .await
            .unwrap()
            .is_empty()
    );
    redis.signal("STOP");
    let frozen = reader
        .read(&board.id, 0, 10, Duration::from_millis(100))
        .await;
    redis.signal("CONT");
    assert!(
        matches!(frozen, Err(StoreError::Unavailable(_))),
        "a read past wait + grace gives up: {frozen:?}"
    );
    s.place(&place_at_zero(&board, 1, 1, 2, "u", 1_000_000))
        .await
        .unwrap();
    let got = reader
        .read(&board.id, 0, 10, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(got.iter().map(|u| u.seq).collect::<Vec<_>>(), [1]);
}

#[tokio::test]
async fn concurrent_placements_by_one_user_yield_exactly_one_success() {
    let redis = RedisServer::start();
    // Separate stores = separate pools, as on separate gateways.
    let mut stores = Vec::new();
    for _ in 0..8 {
        stores.push(Arc::new(store(&redis).await));
    }
    let board = conformance::board("main");
    stores[0].init_board(&board).await.unwrap();
    let tasks: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let s = s.clone();
            let board = board.clone();
            tokio::spawn(async move {
                // The board's ttl and cooldown: expires at 11 000, cooldown until 2 000.
                let cmd = PlaceCommand {
                    by: "ann",
                    ..place_command(&board, i as u64, 0, 1, "same-user", 1_000)
                };
                s.place(&cmd).await.unwrap()
            })
        })
        .collect();
    let mut placed = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), PlaceOutcome::Placed(_)) {
            placed += 1;
        }
    }
    assert_eq!(placed, 1);
    assert_eq!(stores[0].board_seq(&board.id).await.unwrap(), 1);
}

#[tokio::test]
async fn concurrent_placements_by_many_users_get_distinct_consecutive_seqs() {
    let redis = RedisServer::start();
    let s = Arc::new(store(&redis).await);
    let board = conformance::board("main");
    s.init_board(&board).await.unwrap();
    let tasks: Vec<_> = (0..64u64)
        .map(|i| {
            let s = s.clone();
            let board = board.clone();
            tokio::spawn(async move {
                let user = format!("u{i}");
                // The board's ttl and cooldown: expires at 11 000, cooldown until 2 000.
                let cmd = place_command(&board, i % 8, i / 8, 2, &user, 1_000);
                match s.place(&cmd).await.unwrap() {
                    PlaceOutcome::Placed(u) => u.seq,
                    other => panic!("{other:?}"),
                }
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=64).collect::<Vec<_>>());
}

#[tokio::test]
async fn two_sweepers_never_remove_a_pixel_twice() {
    let redis = RedisServer::start();
    let (a, b) = (Arc::new(store(&redis).await), Arc::new(store(&redis).await));
    let board = conformance::board("main");
    a.init_board(&board).await.unwrap();
    for i in 0..64u64 {
        let user = format!("u{i}");
        a.place(&place_at_zero(&board, i % 8, i / 8, 2, &user, 100))
            .await
            .unwrap();
    }
    let sweeper = |s: Arc<RedisStore>, board| {
        tokio::spawn(async move {
            let mut all = Vec::new();
            loop {
                let got = s
                    .sweep(&board, 100, 5, HistoryPolicy::default())
                    .await
                    .unwrap()
                    .removed;
                if got.is_empty() {
                    return all;
                }
                all.extend(got);
            }
        })
    };
    let ra = sweeper(a.clone(), board.clone());
    let rb = sweeper(b.clone(), board.clone());
    let mut removed: Vec<_> = ra.await.unwrap();
    removed.extend(rb.await.unwrap());
    assert_eq!(removed.len(), 64);
    let mut cells: Vec<_> = removed.iter().map(|u| (u.x, u.y)).collect();
    cells.sort_unstable();
    cells.dedup();
    assert_eq!(cells.len(), 64, "each pixel removed exactly once");
    let mut seqs: Vec<_> = removed.iter().map(|u| u.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (65..=128).collect::<Vec<_>>());
}

#[tokio::test]
async fn an_outage_is_unavailable_and_recovers_without_reconnecting_by_hand() {
    let mut redis = RedisServer::start_durable();
    let board = conformance::board("main");
    let s = serving(&redis, &board).await;
    s.ping().await.unwrap();
    redis.kill();
    assert!(matches!(s.ping().await, Err(StoreError::Unavailable(_))));
    let cmd = place_at_zero(&board, 0, 0, 1, "u", 100);
    // On the connection Redis dropped, a write's fate cannot be known.
    assert!(matches!(
        s.place(&cmd).await,
        Err(StoreError::Unavailable(_) | StoreError::OutcomeUnknown(_))
    ));
    redis.restart();
    wait_until_served(&s).await;
    assert!(matches!(
        s.place(&cmd).await.unwrap(),
        PlaceOutcome::Placed(_)
    ));
}

#[tokio::test]
async fn state_and_seq_survive_a_redis_restart_with_aof() {
    let mut redis = RedisServer::start_durable();
    let board = conformance::board("main");
    let epoch;
    {
        let s = store(&redis).await;
        epoch = s.epoch().to_owned();
        s.init_board(&board).await.unwrap();
        for i in 0..3u64 {
            let user = format!("u{i}");
            s.place(&place_at_zero(&board, i, 0, 3, &user, 1_000_000))
                .await
                .unwrap();
        }
    }
    redis.restart();
    let s = store(&redis).await;
    assert_eq!(s.epoch(), epoch, "same data set");
    s.init_board(&board).await.unwrap();
    assert_eq!(s.board_seq(&board.id).await.unwrap(), 3);
    assert_eq!(s.snapshot(&board).await.unwrap().pixels.len(), 3);
}

#[tokio::test]
async fn a_redis_out_of_memory_is_unavailable_not_corrupt() {
    let redis = RedisServer::start();
    let board = conformance::board("main");
    let s = serving(&redis, &board).await;
    let _: () = redis_cmd(&redis, &["CONFIG", "SET", "maxmemory", "1"]).await;
    let refused = s
        .place(&place_at_zero(&board, 0, 0, 1, "u", 1_000_000))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "OOM is an outage: {refused:?}"
    );
    let _: () = redis_cmd(&redis, &["CONFIG", "SET", "maxmemory", "0"]).await;
    assert_eq!(s.board_seq(&board.id).await.unwrap(), 0, "nothing changed");
}

/// A placement whose answer was lost is settled truthfully: found with its
/// seq if it was applied; otherwise fenced off so that a late-running step
/// can no longer apply it.
#[tokio::test]
async fn lost_placement_answers_are_settled() {
    let redis = RedisServer::start();
    let board = conformance::board("settle");
    let s = serving(&redis, &board).await;
    let applied = PlaceCommand {
        placement_id: "attempt-1",
        ..place_command(&board, 1, 1, 2, "ann", 1_000)
    };
    let PlaceOutcome::Placed(update) = s.place(&applied).await.unwrap() else {
        panic!("placed");
    };
    assert_eq!(
        s.settle_placement(&board.id, "ann", "attempt-1")
            .await
            .unwrap(),
        Some(update.seq)
    );
    // An attempt that never arrived: settled as not applied, and when it
    // does arrive late it is refused.
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
    assert_eq!(s.board_seq(&board.id).await.unwrap(), update.seq);
}

/// Found by the `feed_entries` fuzz target: a stored pixel whose index lies
/// beyond the board, or whose colour does not fit a byte, is corrupt data,
/// not a pixel somewhere else.
#[test]
fn stored_pixels_outside_the_board_are_corrupt() {
    use pixel_core::store::redis_fuzzing::parse_pixel;
    let board = conformance::board("p");
    let cells = u64::from(board.width) * u64::from(board.height);
    assert!(parse_pixel(&board, "0", "1:0:10").is_ok());
    assert!(parse_pixel(&board, &(cells - 1).to_string(), "1:0:10").is_ok());
    assert!(parse_pixel(&board, &cells.to_string(), "1:0:10").is_err());
    assert!(parse_pixel(&board, "0", "415:0:10").is_err());
}

/// Without a cooldown, placements by one user computed a few milliseconds
/// apart on different gateways all go through, in whatever order they
/// reach Redis (the placement record kept for settling holds no cooldown).
#[tokio::test]
async fn without_a_cooldown_out_of_order_clocks_never_cool_down() {
    let redis = RedisServer::start();
    let board = conformance::board("nocd");
    let s = serving(&redis, &board).await;
    for (x, now) in [(0, 1_010), (1, 1_006)] {
        let cmd = PlaceCommand {
            cooldown_until: now,
            ..place_command(&board, x, 0, 1, "ann", now)
        };
        assert!(matches!(
            s.place(&cmd).await.unwrap(),
            PlaceOutcome::Placed(_)
        ));
    }
}

#[tokio::test]
async fn a_wiped_redis_is_taken_as_a_new_data_set_by_every_process() {
    let redis = RedisServer::start();
    let board = conformance::board("main");
    // Two processes (a gateway, a worker…) serving the board.
    let (a, b) = (serving(&redis, &board).await, serving(&redis, &board).await);
    let old = a.epoch();
    assert_eq!(b.epoch(), old);
    for i in 0..3u64 {
        placed(
            a.place(&place_at_zero(&board, i, 0, 3, &format!("u{i}"), 1_000))
                .await
                .unwrap(),
        );
    }
    let mut reader = b.feed();
    assert_eq!(
        reader
            .read(&board.id, 0, 10, Duration::ZERO)
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        reader.epoch(),
        Some(old.as_str()),
        "a feed read comes with its epoch"
    );

    let _: () = redis_cmd(&redis, &["FLUSHALL"]).await;
    assert!(
        reader
            .read(&board.id, 3, 10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(reader.epoch(), None, "a wiped data set has no epoch");

    // The first step after the wipe re-creates the board under a new epoch
    // before it writes: geometry, seq and epoch are there again.
    let u = placed(
        a.place(&place_at_zero(&board, 5, 5, 4, "v", 1_000))
            .await
            .unwrap(),
    );
    assert_eq!(u.seq, 1, "seqs start again in the new data set");
    let new = a.epoch();
    assert_ne!(new, old);
    let stored: Option<String> = redis_cmd(&redis, &["GET", "rp:epoch"]).await;
    assert_eq!(stored.as_deref(), Some(new.as_str()));
    let geometry: Option<String> = redis_cmd(&redis, &["GET", "rp:board:main:geometry"]).await;
    assert_eq!(geometry.as_deref(), Some("8x8"));

    // The other process still holds the old epoch; anything it reads a
    // cache or a position on adopts the new one.
    assert_eq!(b.epoch(), old);
    let snap = b.snapshot(&board).await.unwrap();
    assert_eq!(
        (snap.epoch.as_str(), snap.seq, snap.pixels.len()),
        (new.as_str(), 1, 1)
    );
    assert_eq!(b.epoch(), new);
    let got = reader.read(&board.id, 0, 10, Duration::ZERO).await.unwrap();
    assert_eq!((got, reader.epoch()), (vec![u], Some(new.as_str())));

    // A sweep by a process on the old epoch writes nothing under it.
    let c = serving(&redis, &board).await;
    let _: () = redis_cmd(&redis, &["FLUSHALL"]).await;
    let _: () = redis_cmd(&redis, &["SET", "rp:epoch", "someone-else"]).await;
    let swept = c
        .sweep(&board, 10_000, 100, HistoryPolicy::default())
        .await
        .unwrap();
    assert!(swept.removed.is_empty());
    assert_eq!(c.epoch(), "someone-else", "adopts the data set's epoch");
    assert_eq!(c.board_seq(&board.id).await.unwrap(), 0);
}

#[tokio::test]
async fn a_seq_that_went_backwards_starts_a_new_epoch_once() {
    let redis = RedisServer::start();
    let board = conformance::board("main");
    let (a, b) = (serving(&redis, &board).await, serving(&redis, &board).await);
    let old = a.epoch();
    let new = a.restart_epoch(&old).await.unwrap();
    assert_ne!(new, old);
    assert_eq!(a.epoch(), new);
    // A second process that noticed the same loss does not start another.
    assert_eq!(b.restart_epoch(&old).await.unwrap(), new);
    assert_eq!(b.epoch(), new);
    // Placements by a process that has not noticed go to the new epoch.
    let c = serving(&redis, &board).await;
    let _: () = redis_cmd(&redis, &["SET", "rp:epoch", "third"]).await;
    placed(
        c.place(&place_at_zero(&board, 1, 1, 2, "w", 1_000))
            .await
            .unwrap(),
    );
    assert_eq!(c.epoch(), "third");
}

#[tokio::test]
async fn a_redis_that_cannot_serve_is_unavailable_inside_transactions_too() {
    let redis = RedisServer::start();
    let board = conformance::board("main");
    let s = serving(&redis, &board).await;
    // A replica cut off from its primary refuses reads (MASTERDOWN): the
    // snapshot's transaction is aborted with that code inside.
    let _: () = redis_cmd(&redis, &["CONFIG", "SET", "replica-serve-stale-data", "no"]).await;
    let _: () = redis_cmd(&redis, &["REPLICAOF", "127.0.0.1", "1"]).await;
    let refused = s.snapshot(&board).await;
    let _: () = redis_cmd(&redis, &["REPLICAOF", "NO", "ONE"]).await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "an outage, not corrupt data: {refused:?}"
    );
    assert!(s.snapshot(&board).await.is_ok());
}

/// A whole-board read whose answer takes longer than the 2 s the shared
/// connection waits (a 4096² board with a million pixels does in a debug
/// build) still answers: snapshots go over a connection of their own with
/// a longer bound. Redis is held busy for 2.5 s by a script here, which
/// every connection waits out alike.
#[tokio::test]
async fn a_snapshot_slower_than_the_request_timeout_still_answers() {
    let redis = RedisServer::start();
    let board = conformance::board("slow-snapshot");
    let s = serving(&redis, &board).await;
    assert!(
        placed(
            s.place(&place_at_zero(&board, 1, 1, 3, "u1", i64::MAX))
                .await
                .unwrap()
        )
        .seq > 0
    );
    // The snapshot connection is made by the first snapshot (its handshake
    // would wait on a busy Redis like any command).
    assert_eq!(s.snapshot(&board).await.unwrap().pixels.len(), 1);
    let url = redis.url();
    let busy = tokio::spawn(async move {
        let client = redis::Client::open(url).unwrap();
        let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .unwrap();
        // Spins 2.5 s inside Redis (below the 5 s script time limit, so
        // other clients wait instead of getting BUSY).
        let _: () = redis::cmd("EVAL")
            .arg(
                "local t = redis.call('TIME'); local s = t[1] * 1000000 + t[2]; \
                  repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - s > 2500000",
            )
            .arg(0)
            .query_async(&mut conn)
            .await
            .unwrap();
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let snap = s
        .snapshot(&board)
        .await
        .expect("the snapshot waits the busy Redis out");
    assert!(
        started.elapsed() > Duration::from_secs(2),
        "Redis was busy meanwhile"
    );
    assert_eq!(snap.pixels.len(), 1);
    busy.await.unwrap();
}

/// The snapshot connection is kept between reads, and nothing notices its
/// death while it sits idle: the first snapshot after Redis restarted must
/// answer all the same (the cluster drills read one right after Redis is
/// back), on a fresh connection, not fail `unavailable` once.
#[tokio::test]
async fn the_first_snapshot_after_a_redis_restart_answers() {
    let mut redis = RedisServer::start_durable();
    let board = conformance::board("restart-snapshot");
    let s = serving(&redis, &board).await;
    assert!(
        placed(
            s.place(&place_at_zero(&board, 2, 2, 3, "u1", i64::MAX))
                .await
                .unwrap()
        )
        .seq > 0
    );
    assert_eq!(s.snapshot(&board).await.unwrap().pixels.len(), 1);
    redis.restart();
    wait_until_served(&s).await;
    let snap = s
        .snapshot(&board)
        .await
        .expect("the first snapshot after the restart answers");
    assert_eq!(snap.pixels.len(), 1);
}

/// A lost answer is settled as applied even when the same player's next
/// placement has landed meanwhile (with a short cooldown, a player's next
/// placement can be applied before the settling look-up runs, e.g. while
/// the first one waits out a `WAIT` for a replica that died): the look-up
/// must not take "the user's latest placement is another one" for "this
/// one was never applied" and tell the player nothing changed.
#[tokio::test]
async fn a_lost_answer_is_settled_as_applied_after_the_players_next_placement() {
    let redis = RedisServer::start();
    let board = conformance::board("settle-later");
    let s = serving(&redis, &board).await;
    let first = PlaceCommand {
        placement_id: "first-attempt",
        ..place_command(&board, 1, 1, 2, "ann", 1_000)
    };
    let PlaceOutcome::Placed(update) = s.place(&first).await.unwrap() else {
        panic!("placed");
    };
    let next = PlaceCommand {
        placement_id: "next-attempt",
        ..place_command(&board, 2, 2, 3, "ann", 1_000_000)
    };
    assert!(matches!(
        s.place(&next).await.unwrap(),
        PlaceOutcome::Placed(_)
    ));
    assert_eq!(
        s.settle_placement(&board.id, "ann", "first-attempt")
            .await
            .unwrap(),
        Some(update.seq),
        "the first placement was applied"
    );
}
