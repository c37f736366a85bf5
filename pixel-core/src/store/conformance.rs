//! Behaviour every [`BoardStore`] and [`AccountStore`] implementation must
//! show, written once and run against each by one macro,
//! [`store_conformance_tests!`](crate::store_conformance_tests): the
//! in-memory store in its unit tests, the Redis store in its integration
//! tests against a real `redis-server`. Each check takes a fresh store (or
//! unique ids) and panics with a message on a violation. The macro holds
//! the one list of checks, and a unit test here fails if a check of this
//! module is missing from it, so a new check runs against every store.

use super::{
    AccountStore, BoardStore, Catchup, Limit, PlaceCommand, PlaceOutcome, RefreshRecord,
    RotateOutcome, Rotation, StoreError, Stores, SweepOutcome, UserRecord,
};
use crate::domain::{BoardConfig, BoardId, HistoryPolicy, PixelEntry, Update};

/// A small board with a unique id, for isolation in a shared store.
pub fn board(id: &str) -> BoardConfig {
    crate::testing::board(id).build()
}

/// A placement at (`x`, `y`) by `user` at `now`, with the board's ttl and cooldown.
pub fn place_command<'a>(
    board: &'a BoardConfig,
    x: u64,
    y: u64,
    color: u64,
    user: &'a str,
    now: i64,
) -> PlaceCommand<'a> {
    PlaceCommand {
        board,
        coord: board.coord(x, y).unwrap(),
        color: board.color(color).unwrap().get(),
        user_id: user,
        by: user,
        now,
        expires_at: now + board.ttl_ms as i64,
        cooldown_until: now + board.cooldown_ms as i64,
        history: HistoryPolicy::default(),
        placement_id: "conformance",
    }
}

/// What `join since` gets on a connection that is up to date: every
/// retained update after `since`, or a resync.
async fn catch_up(store: &dyn BoardStore, board: &BoardId, since: u64) -> Catchup {
    let seq = store.board_seq(board).await.unwrap();
    let read = store
        .read_history(board, since, seq, seq.saturating_sub(since) as usize)
        .await
        .unwrap();
    Catchup::from_history(since, seq, read)
}

fn removed(o: SweepOutcome) -> Vec<Update> {
    o.removed
}

fn pixel(x: u32, y: u32, color: u8, placed_at: i64, expires_at: i64) -> PixelEntry {
    PixelEntry {
        x,
        y,
        color,
        placed_at,
        expires_at,
    }
}

/// The update of a placement that must have been applied.
pub fn placed(o: PlaceOutcome) -> Update {
    match o {
        PlaceOutcome::Placed(u) => u,
        other => panic!("expected a placement, got {other:?}"),
    }
}

/// Users are unique by email and found by email and id.
pub async fn users(store: &dyn AccountStore, prefix: &str) {
    let user = UserRecord {
        id: format!("{prefix}-id"),
        email: format!("{prefix}@example.com"),
        name: "ann".into(),
        password_hash: "$argon2id$fake".into(),
    };
    store.create_user(&user).await.unwrap();
    assert!(matches!(
        store.create_user(&user).await,
        Err(StoreError::EmailTaken)
    ));
    assert_eq!(
        store.user_by_email(&user.email).await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(
        store.user_by_id(&user.id).await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(
        store.user_by_id(&format!("{prefix}-nobody")).await.unwrap(),
        None
    );
}

/// At most `max` attempts per window; a throttled attempt is not recorded
/// and says when the oldest attempt leaves the window.
pub async fn login_attempts(store: &dyn AccountStore, email: &str) {
    let window = 600_000;
    for i in 0..20 {
        assert_eq!(
            store
                .begin_login_attempt(email, 1000 + i, window, 20)
                .await
                .unwrap(),
            Limit::Allowed
        );
    }
    assert_eq!(
        store
            .begin_login_attempt(email, 2000, window, 20)
            .await
            .unwrap(),
        Limit::Limited {
            retry_after_ms: 1000 + window - 2000
        }
    );
    // The first attempt leaves the window at 1000 + window.
    assert_eq!(
        store
            .begin_login_attempt(email, 1000 + window - 1, window, 20)
            .await
            .unwrap(),
        Limit::Limited { retry_after_ms: 1 }
    );
    assert_eq!(
        store
            .begin_login_attempt(email, 1000 + window, window, 20)
            .await
            .unwrap(),
        Limit::Allowed
    );
    // Now the second attempt (at 1001) is the one to leave.
    assert_eq!(
        store
            .begin_login_attempt(email, 1000 + window, window, 20)
            .await
            .unwrap(),
        Limit::Limited { retry_after_ms: 1 }
    );
    store.clear_login_attempts(email).await.unwrap();
    for i in 0..20 {
        assert_eq!(
            store
                .begin_login_attempt(email, 1000 + window + i, window, 20)
                .await
                .unwrap(),
            Limit::Allowed
        );
    }
}

fn rotation<'a>(family: &'a str, presented: &'a str, next: &'a str, now: i64) -> Rotation<'a> {
    Rotation {
        family,
        presented,
        next,
        next_expires_at: now + 10_000,
        now,
        retry_grace_ms: 1_000,
        max_rotations: 3,
        window_ms: 60_000,
    }
}

/// Rotation replaces the current token; a retry of the last rotation within
/// the grace gets the same successor; any other token of the family is reuse
/// and revokes it; rotations are rate-limited per family.
pub async fn refresh_rotation_and_reuse(store: &dyn AccountStore, prefix: &str) {
    let now = 1_000;
    let fam = format!("{prefix}-fam");
    let rec = RefreshRecord {
        user_id: "u1".into(),
        family: fam.clone(),
        expires_at: now + 10_000,
    };
    let rotated = RotateOutcome::Rotated {
        user_id: "u1".into(),
    };
    store.insert_refresh("t1", &rec, now).await.unwrap();
    let r = |p, n, t| rotation(&fam, p, n, t);
    assert_eq!(
        store.rotate_refresh(&r("t1", "t2", now)).await.unwrap(),
        rotated
    );
    // The answer was lost and the client retries: same successor, no reuse.
    assert_eq!(
        store
            .rotate_refresh(&r("t1", "t2", now + 500))
            .await
            .unwrap(),
        rotated
    );
    assert_eq!(
        store
            .rotate_refresh(&r("t2", "t3", now + 600))
            .await
            .unwrap(),
        rotated
    );
    // Once the api has answered a rotation, the replaced token is spent.
    store.confirm_refresh(&fam, "t3").await.unwrap();
    let fam_x = format!("{prefix}-fam-x");
    let rec_x = RefreshRecord {
        family: fam_x.clone(),
        ..rec.clone()
    };
    store.insert_refresh("x1", &rec_x, now).await.unwrap();
    let rx = |p, n, t| rotation(&fam_x, p, n, t);
    assert_eq!(
        store.rotate_refresh(&rx("x1", "x2", now)).await.unwrap(),
        rotated
    );
    store.confirm_refresh(&fam_x, "x2").await.unwrap();
    assert_eq!(
        store
            .rotate_refresh(&rx("x1", "x2", now + 1))
            .await
            .unwrap(),
        RotateOutcome::Reused
    );
    // Three rotations per window: the fourth is refused and changes nothing.
    assert_eq!(
        store
            .rotate_refresh(&r("t3", "t4", now + 700))
            .await
            .unwrap(),
        rotated
    );
    assert_eq!(
        store
            .rotate_refresh(&r("t4", "t5", now + 800))
            .await
            .unwrap(),
        RotateOutcome::RateLimited {
            retry_after_ms: 60_000 - 800
        }
    );
    // t2 was replaced twice ago: reuse, and t4 dies with the family.
    assert_eq!(
        store
            .rotate_refresh(&r("t2", "t3", now + 900))
            .await
            .unwrap(),
        RotateOutcome::Reused
    );
    assert_eq!(
        store
            .rotate_refresh(&r("t4", "t5", now + 900))
            .await
            .unwrap(),
        RotateOutcome::Invalid
    );

    // A retry after the grace is reuse.
    let fam2 = format!("{prefix}-fam-b");
    let rec2 = RefreshRecord {
        family: fam2.clone(),
        ..rec.clone()
    };
    store.insert_refresh("a1", &rec2, now).await.unwrap();
    let r2 = |p, n, t| rotation(&fam2, p, n, t);
    assert_eq!(
        store.rotate_refresh(&r2("a1", "a2", now)).await.unwrap(),
        rotated
    );
    assert_eq!(
        store
            .rotate_refresh(&r2("a1", "a2", now + 1_001))
            .await
            .unwrap(),
        RotateOutcome::Reused
    );
    assert_eq!(
        store
            .rotate_refresh(&r2("a2", "a3", now + 1_002))
            .await
            .unwrap(),
        RotateOutcome::Invalid
    );
    // The rate window passes.
    let fam3 = format!("{prefix}-fam-c");
    let rec3 = RefreshRecord {
        family: fam3.clone(),
        expires_at: now + 1_000_000,
        ..rec
    };
    store.insert_refresh("c0", &rec3, now).await.unwrap();
    let r3 = |p, n, t| Rotation {
        window_ms: 5_000,
        ..rotation(&fam3, p, n, t)
    };
    for (i, (p, n)) in [("c0", "c1"), ("c1", "c2"), ("c2", "c3")]
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            store
                .rotate_refresh(&r3(p, n, now + i as i64))
                .await
                .unwrap(),
            rotated
        );
    }
    assert_eq!(
        store
            .rotate_refresh(&r3("c3", "c4", now + 10))
            .await
            .unwrap(),
        RotateOutcome::RateLimited {
            retry_after_ms: 5_000 - 10
        }
    );
    assert_eq!(
        store
            .rotate_refresh(&r3("c3", "c4", now + 5_010))
            .await
            .unwrap(),
        rotated
    );
    assert_eq!(
        store
            .rotate_refresh(&rotation(&format!("{prefix}-unknown"), "x", "y", now))
            .await
            .unwrap(),
        RotateOutcome::Invalid
    );
}

/// Expired families neither rotate nor revoke; logout revokes the family.
pub async fn refresh_expiry_and_logout(store: &dyn AccountStore, prefix: &str) {
    let fam = format!("{prefix}-fam2");
    let rec = RefreshRecord {
        user_id: "u1".into(),
        family: fam.clone(),
        expires_at: 5_000,
    };
    store.insert_refresh("a", &rec, 1_000).await.unwrap();
    assert_eq!(
        store
            .rotate_refresh(&rotation(&fam, "a", "b", 5_000))
            .await
            .unwrap(),
        RotateOutcome::Invalid
    );
    assert!(!store.revoke_refresh(&fam, 5_000).await.unwrap());

    let fam3 = format!("{prefix}-fam3");
    let rec = RefreshRecord {
        family: fam3.clone(),
        ..rec
    };
    store.insert_refresh("a", &rec, 1_000).await.unwrap();
    assert!(matches!(
        store
            .rotate_refresh(&rotation(&fam3, "a", "b", 1_000))
            .await
            .unwrap(),
        RotateOutcome::Rotated { .. }
    ));
    assert!(store.revoke_refresh(&fam3, 1_000).await.unwrap());
    assert!(
        !store.revoke_refresh(&fam3, 1_000).await.unwrap(),
        "logout twice"
    );
    assert_eq!(
        store
            .rotate_refresh(&rotation(&fam3, "b", "c", 1_000))
            .await
            .unwrap(),
        RotateOutcome::Invalid
    );
}

/// The per-key limiter: `max` hits per window, then refusals that record
/// nothing and say when a hit leaves the window, so the window passes.
pub async fn hit_limit(store: &dyn AccountStore, key: &str) {
    for i in 0..3 {
        assert_eq!(
            store.hit_limit(key, 1_000 + i, 1_000, 3).await.unwrap(),
            Limit::Allowed
        );
    }
    assert_eq!(
        store.hit_limit(key, 1_500, 1_000, 3).await.unwrap(),
        Limit::Limited {
            retry_after_ms: 500
        }
    );
    assert_eq!(
        store
            .hit_limit(&format!("{key}-other"), 1_500, 1_000, 3)
            .await
            .unwrap(),
        Limit::Allowed
    );
    // 1000 and 1001 have left; 1002 and this one remain.
    assert_eq!(
        store.hit_limit(key, 2_001, 1_000, 3).await.unwrap(),
        Limit::Allowed
    );
    assert_eq!(
        store.hit_limit(key, 2_001, 1_000, 3).await.unwrap(),
        Limit::Allowed
    );
    assert_eq!(
        store.hit_limit(key, 2_001, 1_000, 3).await.unwrap(),
        Limit::Limited { retry_after_ms: 1 }
    );
}

/// Without a cooldown no placement is refused for one, not even one whose
/// clock reads a little earlier than the player's last placement's (two
/// gateways' clocks differ; one player may place through both).
pub async fn no_cooldown_refuses_nothing(store: &dyn BoardStore, board_id: &str, user: &str) {
    let b = crate::testing::board(board_id).with_cooldown_ms(0).build();
    store.init_board(&b).await.unwrap();
    placed(
        store
            .place(&place_command(&b, 1, 1, 1, user, 1_000))
            .await
            .unwrap(),
    );
    let earlier = store
        .place(&place_command(&b, 2, 2, 2, user, 999))
        .await
        .unwrap();
    assert!(
        matches!(earlier, PlaceOutcome::Placed(_)),
        "refused with no cooldown: {earlier:?}"
    );
}

/// Placement, cooldown, seq, snapshot, catch-up and decay on one board.
pub async fn board_lifecycle(store: &dyn BoardStore, board_id: &str, user_prefix: &str) {
    let b = board(board_id);
    store.init_board(&b).await.unwrap();
    store.init_board(&b).await.unwrap(); // idempotent
    assert_eq!(store.board_seq(&b.id).await.unwrap(), 0);
    let u1 = format!("{user_prefix}-1");
    let u2 = format!("{user_prefix}-2");

    let a = placed(
        store
            .place(&place_command(&b, 1, 2, 3, &u1, 0))
            .await
            .unwrap(),
    );
    assert_eq!((a.seq, a.x, a.y, a.color), (1, 1, 2, 3));
    assert_eq!(
        (a.placed_at, a.expires_at, a.by.as_deref()),
        (Some(0), Some(10_000), Some(u1.as_str()))
    );
    assert_eq!(
        store
            .place(&place_command(&b, 0, 0, 1, &u1, 400))
            .await
            .unwrap(),
        PlaceOutcome::Cooldown {
            retry_after_ms: 600
        }
    );
    // Overwrite by another user at t=5000 moves the expiry to 15000.
    let o = placed(
        store
            .place(&place_command(&b, 1, 2, 4, &u2, 5_000))
            .await
            .unwrap(),
    );
    assert_eq!(o.seq, 2);
    let c = placed(
        store
            .place(&place_command(&b, 7, 7, 16, &u1, 6_000))
            .await
            .unwrap(),
    );
    assert_eq!(c.seq, 3);

    let snap = store.snapshot(&b).await.unwrap();
    assert_eq!(snap.seq, 3);
    let mut px = snap.pixels.clone();
    px.sort_by_key(|p| (p.y, p.x));
    assert_eq!(
        px,
        vec![
            pixel(1, 2, 4, 5_000, 15_000),
            pixel(7, 7, 16, 6_000, 16_000)
        ]
    );

    let read = store.read_history(&b.id, 1, 3, 100).await.unwrap();
    assert_eq!(
        (read.seq, read.oldest),
        (3, Some(1)),
        "current and oldest seq"
    );
    assert_eq!(read.updates, vec![o.clone(), c.clone()]);
    // Bounded above and by count.
    let read = store.read_history(&b.id, 0, 2, 100).await.unwrap();
    assert_eq!(
        read.updates.iter().map(|u| u.seq).collect::<Vec<_>>(),
        [1, 2]
    );
    let read = store.read_history(&b.id, 0, 3, 1).await.unwrap();
    assert_eq!(read.updates.iter().map(|u| u.seq).collect::<Vec<_>>(), [1]);
    assert_eq!(catch_up(store, &b.id, 3).await, Catchup::Updates(vec![]));
    assert_eq!(
        Catchup::from_history(4, 3, store.read_history(&b.id, 4, 3, 0).await.unwrap()),
        Catchup::Resync,
        "a since beyond the store's seq"
    );

    // At 10_000 the first placement's old expiry passes: nothing is removed.
    let h = HistoryPolicy::default();
    let swept = store.sweep(&b, 10_000, 100, h).await.unwrap();
    assert_eq!(swept.removed, vec![]);
    assert_eq!(swept.next_due, Some(15_000), "the overwrite's expiry");
    assert_eq!(
        removed(store.sweep(&b, 15_000, 100, h).await.unwrap()),
        vec![Update::decay(4, 1, 2)]
    );
    assert_eq!(
        removed(store.sweep(&b, 15_000, 100, h).await.unwrap()),
        vec![],
        "never removed twice"
    );
    let swept = store.sweep(&b, 20_000, 100, h).await.unwrap();
    assert_eq!(swept.removed, vec![Update::decay(5, 7, 7)]);
    assert_eq!((swept.next_due, swept.backlog), (None, 0));
    let snap = store.snapshot(&b).await.unwrap();
    assert_eq!((snap.seq, snap.pixels.len()), (5, 0));
    match catch_up(store, &b.id, 3).await {
        Catchup::Updates(u) => assert_eq!(u, vec![Update::decay(4, 1, 2), Update::decay(5, 7, 7)]),
        Catchup::Resync => panic!("history must reach seq 3"),
    }
}

/// The history keeps the larger of the last N updates and the last T ms.
pub async fn history_is_bounded(store: &dyn BoardStore, board_id: &str, user_prefix: &str) {
    let b = board(board_id);
    store.init_board(&b).await.unwrap();
    // Time dominates here: the last 2.5 s hold more than the last 2 updates.
    let policy = HistoryPolicy {
        min_updates: 2,
        min_age_ms: 2_500,
    };
    for i in 0..6i64 {
        let user = format!("{user_prefix}-{i}");
        let mut c = place_command(&b, 0, 0, 1, &user, i * 1_000);
        c.history = policy;
        placed(store.place(&c).await.unwrap());
    }
    // At t=5000 updates 1..=3 (t <= 2000) are older than 2.5 s and beyond
    // the last 2: gone. Updates 4..=6 (t >= 3000) are young: kept.
    assert_eq!(catch_up(store, &b.id, 2).await, Catchup::Resync);
    let read = store.read_history(&b.id, 0, 6, 100).await.unwrap();
    assert_eq!(read.oldest, Some(4));
    match catch_up(store, &b.id, 3).await {
        Catchup::Updates(u) => {
            assert_eq!(u.iter().map(|u| u.seq).collect::<Vec<_>>(), vec![4, 5, 6])
        }
        Catchup::Resync => panic!("seq 4.. must be held"),
    }
}

/// The feed hands a reader every update after its position, in seq order,
/// placements and decays alike, and wakes a reader that waits for one.
pub async fn feed_in_order_and_wakes_readers(store: &dyn BoardStore, board_id: &str, user: &str) {
    use std::time::Duration;
    let b = board(board_id);
    store.init_board(&b).await.unwrap();
    let mut reader = store.feed();
    let empty = reader
        .read(&b.id, 0, 10, Duration::from_millis(50))
        .await
        .unwrap();
    assert!(empty.is_empty(), "nothing yet: {empty:?}");
    let mut placed_updates = Vec::new();
    for i in 0..3 {
        let u = format!("{user}-{i}");
        let mut cmd = place_command(&b, i, 0, 2, &u, 1_000);
        cmd.expires_at = 2_000 + i as i64;
        placed_updates.push(placed(store.place(&cmd).await.unwrap()));
    }
    let got = reader.read(&b.id, 0, 10, Duration::ZERO).await.unwrap();
    assert_eq!(got, placed_updates, "placements as the store acked them");
    let got = reader.read(&b.id, 1, 1, Duration::ZERO).await.unwrap();
    assert_eq!(got, placed_updates[1..2], "after a position, at most max");
    let swept = store
        .sweep(&b, 2_001, 100, HistoryPolicy::default())
        .await
        .unwrap();
    assert_eq!(swept.removed.len(), 2);
    let got = reader.read(&b.id, 3, 10, Duration::ZERO).await.unwrap();
    assert_eq!(got, swept.removed, "decays enter the same feed");

    // A waiting reader is woken by a placement (it would return empty
    // after 10 s otherwise).
    let waiting = reader.read(&b.id, 5, 10, Duration::from_secs(10));
    let place = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let u = format!("{user}-late");
        placed(
            store
                .place(&place_command(&b, 5, 5, 3, &u, 3_000))
                .await
                .unwrap(),
        )
    };
    let (got, late) = tokio::join!(waiting, place);
    assert_eq!(got.unwrap(), vec![late]);
}

/// A reader whose position fell out of the retained feed gets the oldest
/// retained updates, so it sees the jump in seq.
pub async fn feed_reports_what_fell_out(store: &dyn BoardStore, board_id: &str, user: &str) {
    use std::time::Duration;
    let b = board(board_id);
    store.init_board(&b).await.unwrap();
    let policy = HistoryPolicy {
        min_updates: 2,
        min_age_ms: 0,
    };
    for i in 0..6i64 {
        let u = format!("{user}-{i}");
        let mut c = place_command(&b, 0, 0, 1, &u, 1_000 + i);
        c.history = policy;
        placed(store.place(&c).await.unwrap());
    }
    let got = store
        .feed()
        .read(&b.id, 1, 10, Duration::ZERO)
        .await
        .unwrap();
    let seqs: Vec<u64> = got.iter().map(|u| u.seq).collect();
    assert_eq!(seqs, [5, 6], "only the last two are retained");
}

/// A sweep tells when the next pixel falls due and how many due ones it
/// left behind (so a worker knows whether to sleep or go on).
pub async fn sweep_reports_next_due_and_backlog(
    store: &dyn BoardStore,
    board_id: &str,
    user: &str,
) {
    let b = board(board_id);
    store.init_board(&b).await.unwrap();
    let h = HistoryPolicy::default();
    let swept = store.sweep(&b, 0, 10, h).await.unwrap();
    assert_eq!(swept, SweepOutcome::default(), "an empty board");
    for i in 0..5u64 {
        let u = format!("{user}-{i}");
        let mut cmd = place_command(&b, i, 1, 1, &u, 0);
        cmd.expires_at = 100 + i as i64;
        placed(store.place(&cmd).await.unwrap());
    }
    let swept = store.sweep(&b, 103, 2, h).await.unwrap();
    assert_eq!(swept.removed.len(), 2);
    assert_eq!((swept.next_due, swept.backlog), (Some(102), 2));
    let swept = store.sweep(&b, 103, 10, h).await.unwrap();
    assert_eq!(swept.removed.len(), 2);
    assert_eq!((swept.next_due, swept.backlog), (Some(104), 0));
}

/// What a conformance test runs on: both stores of one backing, kept
/// alive for the test (with the Redis server they run on, say).
pub trait Fixture {
    fn stores(&self) -> &Stores;
}

impl Fixture for Stores {
    fn stores(&self) -> &Stores {
        self
    }
}

/// One `#[tokio::test]` per check of this module, each against a fresh
/// [`Fixture`] from `$fresh` (an expression whose `.await` gives one),
/// given the store the check is about. The one list of checks, for every
/// store: an implementation runs it by invoking this macro once.
#[macro_export]
macro_rules! store_conformance_tests {
    ($fresh:expr) => {
        $crate::store_conformance_tests!(@each $fresh;
            users(accounts, "t"),
            login_attempts(accounts, "a@b.c"),
            refresh_rotation_and_reuse(accounts, "t"),
            refresh_expiry_and_logout(accounts, "t"),
            hit_limit(accounts, "k"),
            board_lifecycle(boards, "b", "u"),
            no_cooldown_refuses_nothing(boards, "b", "u"),
            history_is_bounded(boards, "b", "u"),
            feed_in_order_and_wakes_readers(boards, "b", "u"),
            feed_reports_what_fell_out(boards, "b", "u"),
            sweep_reports_next_due_and_backlog(boards, "b", "u"),
        );
    };
    (@each $fresh:expr; $($check:ident($store:ident, $($arg:expr),*)),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let fixture = $fresh.await;
                let stores = $crate::store::conformance::Fixture::stores(&fixture);
                $crate::store::conformance::$check(&*stores.$store, $($arg),*).await;
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    /// Every check of this module (a `pub async fn` taking a store) is in
    /// the macro's list, so no store can skip it.
    #[test]
    fn every_check_is_in_the_one_list() {
        let source = include_str!("conformance.rs");
        let (checks, list) = source
            .split_once("macro_rules! store_conformance_tests")
            .expect("the macro is defined here");
        let names: Vec<&str> = checks
            .split("\npub async fn ")
            .skip(1)
            .filter_map(|f| {
                let (name, params) = f.split_once('(')?;
                params
                    .trim_start()
                    .starts_with("store: &dyn ")
                    .then_some(name)
            })
            .collect();
        assert!(names.len() >= 10, "found the checks: {names:?}");
        for name in names {
            assert!(
                list.contains(&format!("{name}(accounts,"))
                    || list.contains(&format!("{name}(boards,")),
                "the conformance check {name} is missing from store_conformance_tests!"
            );
        }
    }
}
