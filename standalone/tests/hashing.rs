//! The password-hashing queue with its default settings: a burst of
//! sign-ups is served, a flood of logins is shed at once. In its own test
//! binary with one test, so that no other test's hashing competes for the
//! CPU whose speed the queue measures.

mod common;

use std::time::{Duration, Instant};

use common::{TestApp, spawn_app};
use serde_json::{Value, json};

/// One answer of a burst.
struct Answer {
    status: u16,
    retry_after: bool,
    code: Value,
    took: Duration,
}

/// `n` concurrent POSTs of `body(i)` to `path`, and their answers.
async fn burst(app: &TestApp, path: &str, n: usize, body: impl Fn(usize) -> Value) -> Vec<Answer> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let request = app.http.post(app.url(path)).json(&body(i));
            tokio::spawn(async move {
                let started = Instant::now();
                let r = request.send().await.unwrap();
                let took = started.elapsed();
                let status = r.status().as_u16();
                let retry_after = r.headers().contains_key("retry-after");
                let body: Value = r.json().await.unwrap();
                Answer {
                    status,
                    retry_after,
                    code: body["error"]["code"].clone(),
                    took,
                }
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Logins of unknown emails sent at once.
const FLOOD: usize = 2000;

#[tokio::test]
async fn a_burst_of_sixty_sign_ups_is_served_and_a_login_flood_is_shed_at_once() {
    let app = spawn_app(&["--signups-per-address-hour", "0"]).await;
    let answers = burst(
        &app,
        "/api/auth/signup",
        60,
        |i| json!({"email": format!("burst-{i}@x.io"), "password": "password1"}),
    )
    .await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert!(
        statuses.iter().all(|&s| s == 201),
        "every sign-up of a burst of 60 is served: {statuses:?}"
    );

    // A flood well beyond 2 s of hashing on any machine of this kind: at
    // 10 ms of CPU a hash (a fast core), 2 cores admit about 400.
    let answers = burst(
        &app,
        "/api/auth/login",
        FLOOD,
        |i| json!({"email": format!("flood-{i}@x.io"), "password": "password1"}),
    )
    .await;
    let (mut refused, mut checked) = (0, 0);
    let (mut slowest_refusal, mut slowest_check) = (Duration::ZERO, Duration::ZERO);
    for a in answers {
        match a.status {
            401 => {
                checked += 1;
                slowest_check = slowest_check.max(a.took);
            }
            503 => {
                assert_eq!(a.code, "unavailable");
                assert!(a.retry_after, "503 carries Retry-After");
                refused += 1;
                slowest_refusal = slowest_refusal.max(a.took);
            }
            other => panic!("login answered {other}: {}", a.code),
        }
    }
    // About 2 s of queued hashing is admitted, not the whole flood, and
    // the rest is refused at once, not after waiting in the queue (so
    // before the queue has drained, however busy the machine is).
    eprintln!(
        "flood of {FLOOD}: {checked} checked (slowest {slowest_check:?}), \
         {refused} refused (slowest {slowest_refusal:?})"
    );
    assert!(checked >= 1, "some logins were checked");
    assert!(
        refused > checked,
        "most of a flood is shed: {refused} refused, {checked} checked"
    );
    assert!(
        slowest_refusal < slowest_check,
        "refusals come at once: the slowest took {slowest_refusal:?}, \
         the last checked login {slowest_check:?}"
    );
    app.shutdown().await;
}
