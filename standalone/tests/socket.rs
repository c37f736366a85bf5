//! The Socket.IO contract of the standalone server, over a real WebSocket.

mod common;

use common::{START_MS, Sio, spawn_app};
use serde_json::{Value, json};

fn token(body: &Value) -> &str {
    body["access_token"].as_str().unwrap()
}

/// Places `color` at (`x`, `y`) on board `main`; the ack.
async fn place(s: &mut Sio, x: u64, y: u64, color: u64) -> Value {
    s.call(
        "place",
        json!({"board": "main", "x": x, "y": y, "color": color}),
    )
    .await
}

#[tokio::test]
async fn handshake_tokens_decide_who_connects() {
    let app = spawn_app(&["--access-token-ttl-s", "60"]).await;
    assert!(app.socket(None).await.is_ok(), "spectator");
    assert!(
        app.socket(Some("")).await.is_ok(),
        "empty token = spectator"
    );
    assert_eq!(
        app.socket(Some("garbage")).await.err().unwrap(),
        "unauthorized"
    );
    let body = app.signup("ann").await;
    assert!(app.socket(Some(token(&body))).await.is_ok());
    app.clock.advance(60_000);
    assert_eq!(
        app.socket(Some(token(&body))).await.err().unwrap(),
        "token_expired"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn checks_run_in_contract_order() {
    let app = spawn_app(&[]).await;
    let mut spectator = app.socket(None).await.unwrap();
    let err = |v: Value| v["error"].as_str().unwrap_or("<ok>").to_owned();
    // input before auth
    assert_eq!(err(place(&mut spectator, 99, 0, 1).await), "invalid_input");
    assert_eq!(
        err(spectator
            .call(
                "place",
                json!({"board": "nope", "x": 0, "y": 0, "color": 1})
            )
            .await),
        "not_found"
    );
    // auth before joined
    assert_eq!(err(place(&mut spectator, 0, 0, 1).await), "unauthorized");
    let body = app.signup("ann").await;
    let mut player = app.socket(Some(token(&body))).await.unwrap();
    assert_eq!(err(place(&mut player, 0, 0, 1).await), "not_joined");
    assert_eq!(
        err(player.call("leave", json!({"board": "main"})).await),
        "not_joined"
    );
    assert_eq!(
        player.call("join", json!({"board": "main"})).await["ok"],
        true
    );
    assert_eq!(place(&mut player, 0, 0, 1).await["ok"], true);
    // joined before cooldown
    let cd = place(&mut player, 1, 0, 1).await;
    assert_eq!(err(cd.clone()), "cooldown");
    assert_eq!(cd["retry_after_ms"], 1000);
    app.clock.advance(1000);
    assert_eq!(place(&mut player, 1, 0, 1).await["ok"], true);
    assert_eq!(
        player.call("leave", json!({"board": "main"})).await,
        json!({"ok": true})
    );
    assert_eq!(err(place(&mut player, 1, 0, 1).await), "not_joined");
    app.shutdown().await;
}

#[tokio::test]
async fn malformed_events_ack_invalid_input() {
    let app = spawn_app(&[]).await;
    let body = app.signup("ann").await;
    let mut s = app.socket(Some(token(&body))).await.unwrap();
    for (event, payload) in [
        ("join", json!(null)),
        ("join", json!("main")),
        ("join", json!({"board": 5})),
        ("join", json!({"board": "../x"})),
        ("join", json!({"board": "main", "since": -1})),
        ("join", json!({"board": "main", "since": "3"})),
        ("leave", json!([])),
        (
            "place",
            json!({"board": "main", "x": 0, "y": 0, "color": 0}),
        ),
        (
            "place",
            json!({"board": "main", "x": 0, "y": 0, "color": 17}),
        ),
        (
            "place",
            json!({"board": "main", "x": 0.5, "y": 0, "color": 1}),
        ),
        (
            "place",
            json!({"board": "main", "x": 0, "y": 16, "color": 1}),
        ),
        ("auth", json!({"token": 7})),
        ("whatever", json!({})),
    ] {
        let ack = s.call(event, payload.clone()).await;
        assert_eq!(ack["ok"], false, "{event} {payload}");
        assert_eq!(ack["error"], "invalid_input", "{event} {payload}: {ack}");
        assert!(ack["message"].is_string());
    }
    // An event with no payload at all.
    let ack = s.call("place", json!([])).await;
    assert_eq!(ack["error"], "invalid_input");
    // Nothing was placed by any of it.
    let (_, snap) = app.get_json("/api/boards/main/pixels", None).await;
    assert_eq!(snap["seq"], 0);
    app.shutdown().await;
}

#[tokio::test]
async fn placements_reach_every_watcher_with_increasing_seqs() {
    let app = spawn_app(&["--cooldown-ms", "0"]).await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let mut a = app.socket(Some(token(&ann))).await.unwrap();
    let mut b = app.socket(Some(token(&bob))).await.unwrap();
    let mut watcher = app.socket(None).await.unwrap();
    for s in [&mut a, &mut b, &mut watcher] {
        let ack = s.call("join", json!({"board": "main"})).await;
        assert_eq!(ack["ok"], true);
        assert_eq!(ack["seq"], 0);
        assert_eq!(ack["board"]["id"], "main");
        assert!(ack.get("updates").is_none());
    }
    let placed = place(&mut a, 2, 3, 4).await;
    assert_eq!(
        placed,
        json!({"ok": true, "cooldown_until": START_MS, "update": {
            "seq": 1, "x": 2, "y": 3, "color": 4, "placed_at": START_MS,
            "expires_at": START_MS + 10_000, "by": "ann"}})
    );
    let placed = place(&mut b, 2, 3, 9).await;
    assert_eq!(placed["update"]["seq"], 2);
    assert_eq!(placed["update"]["by"], "bob");
    let first = watcher.next_pixels().await;
    assert_eq!(first["board"], "main");
    assert_eq!(first["updates"][0]["seq"], 1);
    let second = watcher.next_pixels().await;
    assert_eq!(second["updates"][0]["seq"], 2);
    assert_eq!(a.next_pixels().await["updates"][0]["by"], "ann");
    assert_eq!(a.next_pixels().await["updates"][0]["by"], "bob");
    app.shutdown().await;
}

#[tokio::test]
async fn a_busy_read_holds_the_next_for_the_window_and_a_lone_update_goes_at_once() {
    use std::time::{Duration, Instant};
    // A long window, so that "at once" and "held for the window" are far
    // apart even on a loaded machine.
    let app = spawn_app(&["--cooldown-ms", "0", "--relay-batch-ms", "1000"]).await;
    let ann = app.signup("ann").await;
    let mut a = app.socket(Some(token(&ann))).await.unwrap();
    let mut watcher = app.socket(None).await.unwrap();
    for s in [&mut a, &mut watcher] {
        assert_eq!(s.call("join", json!({"board": "main"})).await["ok"], true);
    }
    let seqs = |ev: &Value| -> Vec<u64> {
        ev["updates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["seq"].as_u64().unwrap())
            .collect()
    };
    // One at a time: every read finds one update, and none waits.
    let t = Instant::now();
    for x in 0..3 {
        assert_eq!(place(&mut a, x, 0, 1).await["ok"], true);
        assert_eq!(seqs(&watcher.next_pixels().await), [x + 1]);
    }
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "updates the relay keeps up with are not held: {:?}",
        t.elapsed()
    );
    // The three expire together: one sweep, one read of three (busy).
    app.clock.advance(10_000);
    let removals = watcher.next_pixels().await;
    let busy = Instant::now();
    assert_eq!(seqs(&removals), [4, 5, 6]);
    // The next update waits for the window to close ...
    assert_eq!(place(&mut a, 5, 5, 2).await["ok"], true);
    assert_eq!(seqs(&watcher.next_pixels().await), [7]);
    let held = busy.elapsed();
    assert!(
        held >= Duration::from_millis(700),
        "after a busy read the next waits for the window: {held:?}"
    );
    // ... and, read alone, the one after it does not.
    let t = Instant::now();
    assert_eq!(place(&mut a, 6, 6, 2).await["ok"], true);
    assert_eq!(seqs(&watcher.next_pixels().await), [8]);
    assert!(
        t.elapsed() < Duration::from_millis(700),
        "a lone update after the window goes at once: {:?}",
        t.elapsed()
    );
    app.shutdown().await;
}

#[tokio::test]
async fn join_since_catches_up_or_asks_for_resync() {
    let app = spawn_app(&["--cooldown-ms", "0"]).await;
    let (_, mut a) = app.joined_player("ann").await;
    for x in 0..5 {
        assert_eq!(place(&mut a, x, 0, 1).await["ok"], true);
    }
    let mut late = app.socket(None).await.unwrap();
    let ack = late
        .call("join", json!({"board": "main", "since": 2}))
        .await;
    assert_eq!(ack["seq"], 5);
    let seqs: Vec<u64> = ack["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![3, 4, 5]);
    let ack = late
        .call("join", json!({"board": "main", "since": 5}))
        .await;
    assert_eq!(ack["updates"], json!([]));
    assert!(ack.get("resync").is_none());
    let ack = late
        .call("join", json!({"board": "main", "since": 99}))
        .await;
    assert_eq!(ack["resync"], true);
    app.shutdown().await;
}

#[tokio::test]
async fn decay_broadcasts_removals_and_spares_overwritten_pixels() {
    let app = spawn_app(&["--cooldown-ms", "0"]).await;
    let (_, mut a) = app.joined_player("ann").await;
    place(&mut a, 1, 1, 2).await;
    place(&mut a, 2, 2, 2).await;
    app.clock.advance(5_000);
    place(&mut a, 2, 2, 3).await;
    for _ in 0..3 {
        a.next_pixels().await;
    }
    app.clock.advance(5_000); // (1,1) expires; (2,2) was overwritten at +5 s
    let removal = a.next_pixels().await;
    assert_eq!(
        removal,
        json!({"board": "main", "updates": [{"seq": 4, "x": 1, "y": 1, "color": 0}]})
    );
    app.clock.advance(5_000);
    let removal = a.next_pixels().await;
    assert_eq!(
        removal["updates"],
        json!([{"seq": 5, "x": 2, "y": 2, "color": 0}])
    );
    let (_, snap) = app.get_json("/api/boards/main/pixels", None).await;
    assert_eq!(
        (snap["seq"].clone(), snap["pixels"].clone()),
        (json!(5), json!([]))
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_auth_event_swaps_identity_on_a_live_socket() {
    let app = spawn_app(&["--access-token-ttl-s", "60"]).await;
    let mut s = app.socket(None).await.unwrap();
    s.call("join", json!({"board": "main"})).await;
    assert_eq!(place(&mut s, 0, 0, 1).await["error"], "unauthorized");
    assert_eq!(
        s.call("auth", json!({"token": "bad"})).await["error"],
        "unauthorized"
    );
    let ann = app.signup("ann").await;
    assert_eq!(
        s.call("auth", json!({"token": token(&ann)})).await,
        json!({"ok": true})
    );
    assert_eq!(place(&mut s, 0, 0, 1).await["ok"], true);
    app.clock.advance(60_000);
    assert_eq!(place(&mut s, 0, 0, 1).await["error"], "token_expired");
    assert_eq!(
        s.call("auth", json!({"token": token(&ann)})).await["error"],
        "token_expired"
    );
    let (_, fresh) = app
        .post_json(
            "/api/auth/refresh",
            &json!({"refresh_token": ann["refresh_token"]}),
        )
        .await;
    assert_eq!(
        s.call("auth", json!({"token": token(&fresh)})).await["ok"],
        true
    );
    assert_eq!(place(&mut s, 0, 0, 1).await["ok"], true);
    app.shutdown().await;
}

#[tokio::test]
async fn a_flood_is_rate_limited_without_hurting_others() {
    let app = spawn_app(&["--socket-event-rate", "5", "--socket-event-burst", "10"]).await;
    let mut flooder = app.socket(None).await.unwrap();
    // Pipeline 50 joins, then read all 50 acks: every event is answered.
    for id in 0..50 {
        flooder
            .send_text(format!("42{id}[\"join\",{{\"board\":\"main\"}}]"))
            .await;
    }
    let mut limited = 0;
    for id in 0..50 {
        let ack = flooder.ack(id).await;
        if ack["error"] == "rate_limited" {
            limited += 1;
        } else {
            assert_eq!(ack["ok"], true);
        }
    }
    assert!(
        limited >= 35,
        "at most burst + refill pass: {limited} limited"
    );
    let mut other = app.socket(None).await.unwrap();
    assert_eq!(
        other.call("join", json!({"board": "main"})).await["ok"],
        true
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_oversized_frame_closes_only_that_connection() {
    let app = spawn_app(&[]).await;
    let mut big = app.socket(None).await.unwrap();
    let mut other = app.socket(None).await.unwrap();
    big.send_text(format!(
        "42[\"join\",{{\"board\":\"{}\"}}]",
        "x".repeat(100_000)
    ))
    .await;
    assert!(big.closed().await, "the server drops a 100 kB frame");
    assert_eq!(
        other.call("join", json!({"board": "main"})).await["ok"],
        true
    );
    assert!(app.socket(None).await.is_ok());
    app.shutdown().await;
}

/// Over Redis: while the store does not answer, placements beyond the
/// gateway's in-flight limit are refused at once with `busy` (nothing was
/// sent to the store) instead of queuing behind the stuck ones.
#[tokio::test]
async fn placements_beyond_the_in_flight_limit_are_refused_busy_at_once() {
    let redis = test_support::RedisServer::start();
    let url = redis.url();
    let app = common::spawn_app(&["--redis-url", &url, "--place-concurrency", "2"]).await;
    let mut sockets = Vec::new();
    for i in 0..5 {
        let tokens = app.signup(&format!("busy{i}")).await;
        let mut s = app
            .socket(tokens["access_token"].as_str())
            .await
            .expect("connects");
        assert_eq!(s.call("join", json!({"board": "main"})).await["ok"], true);
        sockets.push(s);
    }
    redis.signal("STOP");
    let places = futures_util::future::join_all(sockets.iter_mut().enumerate().map(|(i, s)| {
        s.call(
            "place",
            json!({"board": "main", "x": i, "y": 0, "color": 1}),
        )
    }));
    // Thawed while the two in flight wait, so that they can finish.
    let thaw = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        redis.signal("CONT");
    };
    let (acks, ()) = tokio::join!(places, thaw);
    let codes: Vec<&str> = acks
        .iter()
        .map(|a| a["error"].as_str().unwrap_or("ok"))
        .collect();
    assert_eq!(
        codes.iter().filter(|c| **c == "busy").count(),
        3,
        "two in flight, three shed: {codes:?}"
    );
    for a in acks.iter().filter(|a| a["error"] == "busy") {
        assert_eq!(a["ok"], false);
        assert!(a["retry_after_ms"].as_i64().unwrap() > 0);
    }
    app.shutdown().await;
}

/// The value of the Prometheus series `series` (name and labels), 0 if absent.
async fn metric(app: &common::TestApp, series: &str) -> f64 {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn per_board_metrics_count_placements_deliveries_and_decays() {
    let series = [
        "pixel_placements_total{board=\"main\"}",
        "gateway_feed_events_total{board=\"main\"}",
        "gateway_feed_updates_total{board=\"main\"}",
        "pixel_decays_total{board=\"main\"}",
        "worker_removals_total{board=\"main\"}",
    ];
    let app = spawn_app(&["--cooldown-ms", "0"]).await;
    let mut before = Vec::new();
    for s in series {
        before.push(metric(&app, s).await);
    }
    let (_, mut a) = app.joined_player("ann").await;
    assert_eq!(place(&mut a, 3, 3, 2).await["ok"], true);
    a.next_pixels().await;
    app.clock.advance(10_000);
    let removal = a.next_pixels().await;
    assert_eq!(removal["updates"][0]["color"], 0, "{removal}");
    // Other tests of this binary count into the same process-wide series:
    // each only grows. The worker counts its removal just after the store
    // step the client already saw, hence the (bounded) wait.
    for (s, was) in series.iter().zip(before) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut now = metric(&app, s).await;
        while now <= was && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            now = metric(&app, s).await;
        }
        assert!(now > was, "{s}: {was} → {now}");
    }
    app.shutdown().await;
}
