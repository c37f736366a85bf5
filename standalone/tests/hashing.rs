//! The password-hashing queue with its default settings: a burst of
//! sign-ups is served, a flood of logins is shed at once. In its own test
//! binary with one test, so that no other test's hashing competes for the
//! CPU whose speed the queue measures.

mod common;

use std::time::{Duration, Instant};

use common::{TestApp, spawn_app};
use serde_json::{Value, json};

/// `n` concurrent POSTs of `body(i)` to `path`: each answer's status,
/// whether it carried `Retry-After`, and its error code.
async fn burst(
    app: &TestApp,
    path: &str,
    n: usize,
    body: impl Fn(usize) -> Value,
) -> Vec<(u16, bool, Value)> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let request = app.http.post(app.url(path)).json(&body(i));
            tokio::spawn(async move {
                let r = request.send().await.unwrap();
                let status = r.status().as_u16();
                let retry_after = r.headers().contains_key("retry-after");
                let body: Value = r.json().await.unwrap();
                (status, retry_after, body["error"]["code"].clone())
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

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
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert!(
        statuses.iter().all(|&s| s == 201),
        "every sign-up of a burst of 60 is served: {statuses:?}"
    );

    let started = Instant::now();
    let answers = burst(
        &app,
        "/api/auth/login",
        500,
        |i| json!({"email": format!("flood-{i}@x.io"), "password": "password1"}),
    )
    .await;
    let (mut refused, mut checked) = (0, 0);
    for (status, retry_after, code) in answers {
        match status {
            401 => checked += 1,
            503 => {
                assert_eq!(code, "unavailable");
                assert!(retry_after, "503 carries Retry-After");
                refused += 1;
            }
            other => panic!("login answered {other}: {code}"),
        }
    }
    assert!(checked >= 1, "some logins were checked");
    assert!(refused >= 100, "a flood is shed: {refused} refused");
    // About 2 s of queued hashing is admitted, not 500 hashes' worth.
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "the flood was answered in {took:?}"
    );
    app.shutdown().await;
}
