//! Abuse and fault cases, driven over HTTP against the running server the
//! way an attacker (or bad luck) would: refresh loops, login bursts, sign-up
//! floods, a Redis that answers late, logout with a stolen-then-spent token.
//! Where the store matters the server runs on a real `redis-server`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{TestApp, spawn_app};
use serde_json::{Value, json};
use test_support::RedisServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn redis_conn(redis: &RedisServer) -> redis::Connection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

fn dbsize(conn: &mut redis::Connection) -> i64 {
    redis::cmd("DBSIZE").query(conn).unwrap()
}

async fn refresh(app: &TestApp, token: &str) -> (u16, Value) {
    app.post_json("/api/auth/refresh", &json!({ "refresh_token": token }))
        .await
}

fn token(body: &Value) -> String {
    body["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_refresh_loop_neither_grows_redis_nor_goes_unlimited() {
    let redis = RedisServer::start();
    let app = spawn_app(&["--redis-url", &redis.url()]).await;
    let mut conn = redis_conn(&redis);
    let mut current = token(&app.signup("looper").await);
    let keys_before = dbsize(&mut conn);
    let (mut ok, mut limited) = (0, 0);
    for _ in 0..300 {
        let (status, body) = refresh(&app, &current).await;
        match status {
            200 => {
                ok += 1;
                current = token(&body);
            }
            429 => {
                assert_eq!(body["error"]["code"], "rate_limited");
                limited += 1;
            }
            other => panic!("refresh answered {other}: {body}"),
        }
    }
    assert_eq!(ok, 10, "ten rotations per minute per login");
    assert_eq!(limited, 290);
    assert_eq!(
        dbsize(&mut conn),
        keys_before,
        "refreshes must not leave keys behind"
    );
    // The window passes; the live token still works and still adds nothing.
    app.clock.advance(60_000);
    let (status, _) = refresh(&app, &current).await;
    assert_eq!(status, 200);
    assert_eq!(dbsize(&mut conn), keys_before);
    app.shutdown().await;
}

#[tokio::test]
async fn logout_with_a_spent_token_signs_the_thief_out_too() {
    let redis = RedisServer::start();
    let app = spawn_app(&["--redis-url", &redis.url()]).await;
    let victim = token(&app.signup("victim").await);
    // The thief rotates the stolen token first; the victim then logs out
    // with the token they still hold.
    let (status, body) = refresh(&app, &victim).await;
    assert_eq!(status, 200);
    let thief = token(&body);
    let (status, _) = app
        .post_json("/api/auth/logout", &json!({ "refresh_token": victim }))
        .await;
    assert_eq!(status, 204);
    let (status, body) = refresh(&app, &thief).await;
    assert_eq!(status, 401, "the thief's token must be dead: {body}");
    app.shutdown().await;
}

/// A TCP proxy in front of Redis that, once armed, holds back every reply
/// on the connection that next sends a script call containing `marker`:
/// Redis commits the call, but its answer never reaches the client, which
/// gives up after its response timeout.
struct SlowReplies {
    port: u16,
    armed: Arc<AtomicBool>,
    /// Set once a connection has been caught.
    caught: Arc<AtomicBool>,
}

impl SlowReplies {
    async fn start(upstream: u16, marker: &'static [u8]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let armed = Arc::new(AtomicBool::new(false));
        let caught = Arc::new(AtomicBool::new(false));
        let (arm, catch) = (armed.clone(), caught.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = tokio::net::TcpStream::connect(("127.0.0.1", upstream))
                    .await
                    .unwrap();
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let hold = Arc::new(AtomicBool::new(false));
                let (hold_on, arm, catch) = (hold.clone(), arm.clone(), catch.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let chunk = &buf[..n];
                        if chunk.windows(7).any(|w| w.eq_ignore_ascii_case(b"evalsha"))
                            && chunk.windows(marker.len()).any(|w| w == marker)
                            && arm.swap(false, Ordering::SeqCst)
                        {
                            hold_on.store(true, Ordering::SeqCst);
                            catch.store(true, Ordering::SeqCst);
                        }
                        if sw.write_all(chunk).await.is_err() {
                            return;
                        }
                    }
                });
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if hold.load(Ordering::SeqCst) {
                            // Swallowed: this connection's answers are lost.
                            continue;
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self {
            port,
            armed,
            caught,
        }
    }
}

#[tokio::test]
async fn a_placement_redis_answered_too_late_is_acked_truthfully() {
    let redis = RedisServer::start();
    let proxy = SlowReplies::start(redis.port, b"cooldown:").await;
    let url = format!("redis://127.0.0.1:{}/", proxy.port);
    let app = spawn_app(&["--redis-url", &url]).await;
    let body = app.signup("ann").await;
    let mut player = app
        .socket(Some(body["access_token"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(
        player.call("join", json!({"board": "main"})).await["ok"],
        true
    );
    // One placement first, so that Redis has the script cached.
    let first = player
        .call(
            "place",
            json!({"board": "main", "x": 0, "y": 0, "color": 1}),
        )
        .await;
    assert_eq!(first["ok"], true, "{first}");
    app.clock.advance(1000);
    proxy.armed.store(true, Ordering::SeqCst);
    let ack = player
        .call(
            "place",
            json!({"board": "main", "x": 3, "y": 4, "color": 2}),
        )
        .await;
    assert!(proxy.caught.load(Ordering::SeqCst), "the answer was lost");
    // The placement was applied: the ack says so, with its seq, instead of
    // "unavailable — nothing was changed".
    assert_eq!(ack["ok"], true, "{ack}");
    let seq = ack["update"]["seq"].as_u64();
    let snapshot = app.get_json("/api/boards/main/pixels", None).await.1;
    let pixel = snapshot["pixels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p[0] == 3 && p[1] == 4)
        .cloned()
        .unwrap_or_else(|| panic!("the pixel is on the board: {ack} {snapshot}"));
    assert_eq!(pixel[2], 2);
    assert_eq!(seq, snapshot["seq"].as_u64());
    app.shutdown().await;
}

#[tokio::test]
async fn a_rotation_redis_answered_too_late_can_be_retried() {
    let redis = RedisServer::start();
    let proxy = SlowReplies::start(redis.port, b"family:").await;
    let url = format!("redis://127.0.0.1:{}/", proxy.port);
    let app = spawn_app(&["--redis-url", &url]).await;
    let signed_up = token(&app.signup("slow").await);
    // One rotation first, so that Redis has the script cached (a first
    // EVALSHA would only get NOSCRIPT).
    let (status, body) = refresh(&app, &signed_up).await;
    assert_eq!(status, 200);
    let first = token(&body);
    let family = first.split('.').next().unwrap().to_owned();
    let mut probe = redis_conn(&redis);
    let key = format!("rp:family:{family}");
    let before: String = redis::cmd("HGET")
        .arg(&key)
        .arg("cur")
        .query(&mut probe)
        .unwrap();
    // Redis commits the rotation, but its answer comes after the api's
    // response timeout (a slow network, a stalled Redis, ...).
    proxy.armed.store(true, Ordering::SeqCst);
    let (status, body) = refresh(&app, &first).await;
    assert!(proxy.caught.load(Ordering::SeqCst), "the answer was lost");
    let after: String = redis::cmd("HGET")
        .arg(&key)
        .arg("cur")
        .query(&mut probe)
        .unwrap();
    assert_ne!(before, after, "the rotation committed");
    assert_eq!(status, 503, "the api could not know the outcome: {body}");
    assert_eq!(body["error"]["code"], "unavailable");
    // The client retries with the token it holds and is not signed out.
    let (status, body) = refresh(&app, &first).await;
    assert_eq!(status, 200, "the retry must succeed: {body}");
    let (status, body) = refresh(&app, &token(&body)).await;
    assert_eq!(status, 200, "the retried successor is live: {body}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_login_burst_is_answered_fast_by_a_bounded_hashing_queue() {
    let app = spawn_app(&["--hash-concurrency", "1", "--hash-queue", "2"]).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let http = app.http.clone();
        let url = app.url("/api/auth/login");
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .json(&json!({"email": format!("nobody-{i}@x.io"), "password": "password1"}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let retry_after = r.headers().contains_key("retry-after");
            let body: Value = r.json().await.unwrap();
            (status, retry_after, body)
        }));
    }
    let (mut refused, mut checked) = (0, 0);
    for t in tasks {
        let (status, retry_after, body) = t.await.unwrap();
        match status {
            401 => checked += 1,
            503 => {
                assert_eq!(body["error"]["code"], "unavailable");
                assert!(retry_after, "503 carries Retry-After");
                refused += 1;
            }
            other => panic!("login answered {other}: {body}"),
        }
    }
    assert!(checked >= 1, "some logins were checked");
    assert!(refused >= 1, "a full hashing queue refuses at once");
    app.shutdown().await;
}

#[tokio::test]
async fn a_corrupt_epoch_in_redis_fails_snapshots_in_the_envelope_and_nothing_else() {
    let redis = RedisServer::start();
    let app = spawn_app(&["--redis-url", &redis.url()]).await;
    let (status, _) = app.get_json("/api/boards/main/pixels", None).await;
    assert_eq!(status, 200);
    let mut conn = redis_conn(&redis);
    let _: () = redis::cmd("SET")
        .arg("rp:epoch")
        .arg("bad\u{1}epoch")
        .query(&mut conn)
        .unwrap();
    for _ in 0..2 {
        let (status, body) = app.get_json("/api/boards/main/pixels", None).await;
        assert_eq!(status, 500, "{body}");
        assert_eq!(body["error"]["code"], "internal", "{body}");
        assert_eq!(body["error"]["message"], "internal error", "{body}");
    }
    // The server lives on: the rest of the api answers.
    let (status, _) = app.get_json("/api/boards/main", None).await;
    assert_eq!(status, 200);
    app.signup("after").await;
    app.shutdown().await;
}

#[tokio::test]
async fn sign_ups_are_limited_per_address() {
    let app = spawn_app(&["--signups-per-address-hour", "3"]).await;
    for _ in 0..3 {
        app.signup("flood").await;
    }
    let (status, body) = app
        .post_json(
            "/api/auth/signup",
            &json!({"email": "one-more@x.io", "password": "password1"}),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    app.clock.advance(3600 * 1000);
    app.signup("flood").await;
    app.shutdown().await;
}

#[tokio::test]
async fn names_with_bidi_or_zero_width_characters_are_refused() {
    let app = spawn_app(&[]).await;
    for name in ["ann\u{202E}gpj.exe", "a\u{200B}", "\u{2067}x"] {
        let (status, body) = app
            .post_json(
                "/api/auth/signup",
                &json!({"email": format!("{}@x.io", common::uuid_like()), "password": "password1", "name": name}),
            )
            .await;
        assert_eq!(status, 400, "{name:?}: {body}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_wrong_method_is_a_405_in_the_error_envelope() {
    let app = spawn_app(&[]).await;
    let r = app
        .http
        .delete(app.url("/api/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
    app.shutdown().await;
}

#[tokio::test]
async fn the_page_cannot_be_framed_or_sniffed() {
    let app = spawn_app(&[]).await;
    for path in ["/", "/js/main.js"] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
    }
    let r = app.http.get(app.url("/api/boards")).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    app.shutdown().await;
}

#[test]
fn help_does_not_print_secrets_from_the_environment() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_realtime-pixel"))
        .arg("--help")
        .env("REDIS_URL", "redis://:hunter2-password@127.0.0.1:6379/")
        .env("JWT_SECRET", "jwt-secret-value-0123456789abcdef0123")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("REDIS_URL"), "{text}");
    assert!(!text.contains("hunter2"), "--help leaks REDIS_URL: {text}");
    assert!(
        !text.contains("jwt-secret-value"),
        "--help leaks JWT_SECRET"
    );
}

#[tokio::test]
async fn a_process_with_another_board_size_refuses_to_start() {
    use clap::Parser;
    let redis = RedisServer::start();
    let app = spawn_app(&["--redis-url", &redis.url()]).await;
    let config = standalone::StandaloneConfig::try_parse_from([
        "realtime-pixel",
        "--redis-url",
        &redis.url(),
        "--board-width",
        "32",
        "--board-height",
        "16",
    ])
    .unwrap();
    let clock = pixel_core::ManualClock::new(common::START_MS);
    let err = match standalone::build(&config, Arc::new(clock)).await {
        Ok(_) => panic!("a 32-wide process started on a 16-wide board"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("16x16") && err.contains("32x16"), "{err}");
    app.shutdown().await;
}

#[tokio::test]
async fn connections_are_capped_per_address_and_per_gateway() {
    let app = spawn_app(&["--max-connections-per-address", "2"]).await;
    let a = app.socket(None).await.unwrap();
    let _b = app.socket(None).await.unwrap();
    assert_eq!(
        app.socket(None).await.err().as_deref(),
        Some("rate_limited")
    );
    // A closed connection gives its place back.
    drop(a);
    let mut admitted = false;
    for _ in 0..100 {
        if app.socket(None).await.is_ok() {
            admitted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(admitted, "a place came back after a disconnect");
    app.shutdown().await;

    let app = spawn_app(&[
        "--max-connections",
        "1",
        "--max-connections-per-address",
        "0",
    ])
    .await;
    let _a = app.socket(None).await.unwrap();
    assert_eq!(
        app.socket(None).await.err().as_deref(),
        Some("rate_limited")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn shutdown_turns_unready_first_then_closes_sockets_within_the_deadline() {
    let mut app = spawn_app(&[
        "--shutdown-ready-delay-ms",
        "300",
        "--shutdown-drain-ms",
        "1000",
    ])
    .await;
    let mut sio = app.socket(None).await.unwrap();
    // A client that never finishes its request would hold the drain open.
    let mut stuck = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stuck
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert_eq!(app.get_json("/readyz", None).await.0, 200);
    app.begin_shutdown();
    // Still serving, but not ready: load balancers move away first.
    let mut unready = false;
    for _ in 0..100 {
        let r = app.http.get(app.url("/readyz")).send().await;
        if r.is_ok_and(|r| r.status() == 503) {
            unready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(
        unready,
        "/readyz answered 503 while the server still accepted"
    );
    // Then the sockets are closed and the server stops despite the stuck
    // request, bounded by the drain deadline.
    assert!(sio.closed().await, "the socket was closed on shutdown");
    app.shutdown().await;
}

/// What bounds a client that stops reading: its queue (`SOCKET_BUFFER_PACKETS`;
/// beyond it emits to that socket fail, nobody else waits) and the
/// heartbeat (engineioxide closes a socket whose queue has no room for a
/// ping, or that answers none within ping interval + timeout; whatever was
/// queued for it is freed). The packets queued are the ones every watcher
/// gets, serialised once and shared.
#[tokio::test]
async fn a_stalled_socket_holds_no_one_back_and_is_closed_by_the_heartbeat() {
    let app = spawn_app(&[
        "--cooldown-ms",
        "0",
        "--ping-interval-ms",
        "300",
        "--ping-timeout-ms",
        "300",
        "--socket-buffer-packets",
        "8",
        "--socket-event-rate",
        "10000",
        "--socket-event-burst",
        "10000",
    ])
    .await;
    let join = json!({"board": "main"});
    let mut stalled = app.socket(None).await.unwrap();
    assert_eq!(stalled.call("join", join.clone()).await["ok"], true);
    let mut watcher = app.socket(None).await.unwrap();
    let start = watcher.call("join", join.clone()).await["seq"]
        .as_u64()
        .unwrap();
    let user = app.signup("placer").await;
    let mut placer = app.socket(user["access_token"].as_str()).await.unwrap();
    assert_eq!(placer.call("join", join).await["ok"], true);
    const N: u64 = 300;
    let watch = tokio::spawn(async move {
        let mut seqs = Vec::new();
        while (seqs.len() as u64) < N {
            let ev = watcher.next_pixels().await;
            seqs.extend(
                ev["updates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u["seq"].as_u64().unwrap()),
            );
        }
        seqs
    });
    // The stalled socket reads nothing from here on, pings included.
    for i in 0..N {
        let ack = placer
            .call(
                "place",
                json!({"board": "main", "x": i % 16, "y": (i / 16) % 16, "color": 1}),
            )
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
    }
    let seqs = tokio::time::timeout(std::time::Duration::from_secs(10), watch)
        .await
        .expect("the watcher got every update in time")
        .unwrap();
    assert_eq!(seqs, (start + 1..=start + N).collect::<Vec<_>>());
    // Bounded as a whole: an open socket keeps sending pings, each of which
    // would restart `closed`'s own wait.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), stalled.closed()).await;
    assert!(
        matches!(closed, Ok(true)),
        "the server closed the socket that answered no ping"
    );
    app.shutdown().await;
}
