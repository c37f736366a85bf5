//! The client behind a proxy (`TRUSTED_PROXIES`) and honest `Retry-After`,
//! against the running server: per-address limits count the address a
//! trusted proxy forwarded for, and ignore the header from anyone else;
//! every 429 says how long its window still runs.

mod common;

use common::{Sio, TestApp, spawn_app};
use serde_json::{Value, json};

/// Signs up from `xff` (as the `X-Forwarded-For` a proxy sends): the
/// status, the body and `Retry-After` in seconds, if any.
async fn signup_from(app: &TestApp, xff: &str) -> (u16, Value, Option<u64>) {
    let email = format!("{}@proxied.io", common::uuid_like());
    let r = app
        .http
        .post(app.url("/api/auth/signup"))
        .header("x-forwarded-for", xff)
        .json(&json!({"email": email, "password": "password1"}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = retry_after(&r);
    (status, r.json().await.unwrap_or(Value::Null), retry)
}

fn retry_after(r: &reqwest::Response) -> Option<u64> {
    r.headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().expect("Retry-After in seconds"))
}

#[tokio::test]
async fn behind_a_trusted_proxy_sign_ups_are_counted_per_forwarded_client() {
    let app = spawn_app(&[
        "--trusted-proxies",
        "127.0.0.1/32",
        "--signups-per-address-hour",
        "2",
    ])
    .await;
    // The client spoofs a first hop; nginx appends the address it saw.
    for _ in 0..2 {
        let (status, body, _) = signup_from(&app, "6.6.6.6, 203.0.113.1").await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body, retry) = signup_from(&app, "7.7.7.7, 203.0.113.1").await;
    assert_eq!(status, 429, "the same client is limited: {body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(retry, Some(3600), "the hour has only begun");
    // Another client behind the same proxy has its own allowance.
    let (status, body, _) = signup_from(&app, "203.0.113.2").await;
    assert_eq!(status, 201, "{body}");
    // Retry-After counts down with the window.
    app.clock.advance(1000 * 1000 + 1);
    let (status, _, retry) = signup_from(&app, "203.0.113.1").await;
    assert_eq!(status, 429);
    assert_eq!(
        retry,
        Some(2600),
        "1000 s later, 2600 s (rounded up) remain"
    );
    app.clock.advance(2600 * 1000);
    let (status, body, _) = signup_from(&app, "203.0.113.1").await;
    assert_eq!(status, 201, "the window passed: {body}");
    app.shutdown().await;
}

#[tokio::test]
async fn without_the_trust_a_forwarded_address_is_ignored() {
    let app = spawn_app(&["--signups-per-address-hour", "2"]).await;
    for xff in ["203.0.113.1", "203.0.113.2"] {
        let (status, body, _) = signup_from(&app, xff).await;
        assert_eq!(status, 201, "{body}");
    }
    // Every sign-up came from 127.0.0.1, whatever the header claims.
    let (status, _, retry) = signup_from(&app, "203.0.113.3").await;
    assert_eq!(status, 429);
    assert_eq!(retry, Some(3600));
    app.shutdown().await;
}

async fn socket_from(app: &TestApp, xff: &str) -> Result<Sio, String> {
    Sio::connect_with_headers(app.addr, None, &[("x-forwarded-for", xff)]).await
}

#[tokio::test]
async fn behind_a_trusted_proxy_connections_are_capped_per_forwarded_client() {
    let app = spawn_app(&[
        "--trusted-proxies",
        "127.0.0.1",
        "--max-connections-per-address",
        "1",
    ])
    .await;
    let _a = socket_from(&app, "203.0.113.1").await.unwrap();
    assert_eq!(
        socket_from(&app, "6.6.6.6, 203.0.113.1")
            .await
            .err()
            .as_deref(),
        Some("rate_limited"),
        "the same client, a spoofed first hop"
    );
    let _b = socket_from(&app, "203.0.113.2").await.unwrap();
    let _c = socket_from(&app, "2001:db8::1").await.unwrap();
    app.shutdown().await;

    let app = spawn_app(&["--max-connections-per-address", "1"]).await;
    let _a = socket_from(&app, "203.0.113.1").await.unwrap();
    assert_eq!(
        socket_from(&app, "203.0.113.2").await.err().as_deref(),
        Some("rate_limited"),
        "an untrusted peer's header is ignored"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_throttled_login_says_how_long_its_window_still_runs() {
    let app = spawn_app(&[]).await;
    let email = format!("{}@x.io", common::uuid_like());
    let (status, _) = app
        .post_json(
            "/api/auth/signup",
            &json!({"email": email, "password": "password1"}),
        )
        .await;
    assert_eq!(status, 201);
    let login = |password: &'static str| {
        let req = app
            .http
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": email, "password": password}));
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), retry_after(&r))
        }
    };
    for _ in 0..20 {
        assert_eq!(login("wrong-password").await, (401, None));
    }
    assert_eq!(login("password1").await, (429, Some(600)), "ten minutes");
    app.clock.advance(599_500);
    assert_eq!(login("password1").await, (429, Some(1)), "half a second");
    app.clock.advance(500);
    assert_eq!(login("password1").await.0, 200);
    app.shutdown().await;
}

#[tokio::test]
async fn a_refresh_loop_is_told_when_its_minute_ends() {
    let app = spawn_app(&["--refresh-per-minute", "2"]).await;
    let mut token = app.signup("loop").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh = |t: String| {
        let req = app
            .http
            .post(app.url("/api/auth/refresh"))
            .json(&json!({ "refresh_token": t }));
        async move {
            let r = req.send().await.unwrap();
            let retry = retry_after(&r);
            (r.status().as_u16(), retry, r.json::<Value>().await.unwrap())
        }
    };
    for _ in 0..2 {
        let (status, _, body) = refresh(token.clone()).await;
        assert_eq!(status, 200, "{body}");
        token = body["refresh_token"].as_str().unwrap().to_owned();
    }
    app.clock.advance(15_000);
    let (status, retry, _) = refresh(token.clone()).await;
    assert_eq!((status, retry), (429, Some(45)));
    app.shutdown().await;
}
