//! The REST api and ops routes of the standalone server, over real HTTP.

mod common;

use common::spawn_app;
use serde_json::{Value, json};

#[tokio::test]
async fn ops_routes_answer() {
    let app = spawn_app(&[]).await;
    for path in ["/healthz", "/readyz"] {
        assert_eq!(app.get_json(path, None).await.0, 200);
    }
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(text.contains("# TYPE"), "prometheus text format: {text}");
    app.shutdown().await;
}

#[tokio::test]
async fn the_web_page_is_served() {
    let app = spawn_app(&[]).await;
    let r = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("<canvas"));
    for path in ["/vendor/socket.io.min.js", "/js/main.js", "/js/sync.js"] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        // ES modules load only with a JavaScript MIME type.
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/javascript"), "{path}: {ct}");
    }
    for path in [
        "/package.json",
        "/tsconfig.json",
        "/js/globals.d.ts",
        "/test/sync.test.mjs",
    ] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path} is not part of the page");
    }
    app.shutdown().await;
}

/// Every file under `web/` (node_modules too), relative to it.
fn web_files(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            web_files(&path, root, out);
        } else {
            let rel = path.strip_prefix(root).unwrap();
            out.push(rel.to_str().unwrap().replace('\\', "/"));
        }
    }
}

#[tokio::test]
async fn the_files_of_web_files_txt_are_served_and_nothing_else_of_web() {
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let list = std::fs::read_to_string(web.join("files.txt")).unwrap();
    let listed: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut all = Vec::new();
    web_files(&web, &web, &mut all);
    let app = spawn_app(&[]).await;
    for file in &all {
        let r = app
            .http
            .get(app.url(&format!("/{file}")))
            .send()
            .await
            .unwrap();
        let want = if listed.contains(&file.as_str()) {
            200
        } else {
            404
        };
        assert_eq!(r.status(), want, "/{file}");
        if want == 200 {
            let body = r.bytes().await.unwrap();
            assert_eq!(body, std::fs::read(web.join(file)).unwrap(), "/{file}");
        }
    }
    for file in &listed {
        assert!(
            all.iter().any(|f| f == file),
            "{file} is listed but not in web/"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn signup_login_me_refresh_logout() {
    let app = spawn_app(&[]).await;
    let body = app.signup("ann").await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["user"]["name"], "ann");
    let email = body["user"]["email"].as_str().unwrap().to_owned();

    let (_, me) = app
        .get_json("/api/me", Some(body["access_token"].as_str().unwrap()))
        .await;
    assert_eq!(me, body["user"]);

    let (status, _) = app
        .post_json(
            "/api/auth/login",
            &json!({"email": email.to_uppercase(), "password": "password1"}),
        )
        .await;
    assert_eq!(status, 200);

    let rt = body["refresh_token"].as_str().unwrap();
    let (status, refreshed) = app
        .post_json("/api/auth/refresh", &json!({"refresh_token": rt}))
        .await;
    assert_eq!(status, 200);
    let rt2 = refreshed["refresh_token"].as_str().unwrap();
    assert_ne!(rt, rt2);

    // Reuse of the rotated token: refused, and the live one dies with it.
    for token in [rt, rt2] {
        let (status, e) = app
            .post_json("/api/auth/refresh", &json!({"refresh_token": token}))
            .await;
        assert_eq!(status, 401);
        assert_eq!(e["error"]["code"], "invalid_token");
    }

    let (_, login) = app
        .post_json(
            "/api/auth/login",
            &json!({"email": email, "password": "password1"}),
        )
        .await;
    let rt3 = json!({"refresh_token": login["refresh_token"].as_str().unwrap()});
    assert_eq!(app.post_json("/api/auth/logout", &rt3).await.0, 204);
    assert_eq!(app.post_json("/api/auth/logout", &rt3).await.0, 401);
    app.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let app = spawn_app(&[]).await;
    let post = |path: &'static str, body: String| {
        let app = &app;
        async move {
            let r = app
                .http
                .post(app.url(path))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (
                status,
                v["error"]["code"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    for body in [
        "not json".to_owned(),
        "{}".to_owned(),
        json!({"email": "nope", "password": "password1"}).to_string(),
        json!({"email": "a@b.io", "password": "short"}).to_string(),
        json!({"email": 5, "password": "password1"}).to_string(),
    ] {
        assert_eq!(
            post("/api/auth/signup", body.clone()).await,
            (400, "invalid_input".into()),
            "{body}"
        );
    }
    let big = json!({"email": "a@b.io", "password": "x".repeat(100_000)}).to_string();
    let (status, _) = post("/api/auth/signup", big).await;
    assert_eq!(status, 413);
    // Nothing was created by those: the email is still free.
    let ok = json!({"email": "a@b.io", "password": "password1"}).to_string();
    assert_eq!(post("/api/auth/signup", ok.clone()).await.0, 201);
    let dup = json!({"email": "A@B.IO", "password": "password2"}).to_string();
    assert_eq!(
        post("/api/auth/signup", dup).await,
        (409, "email_taken".into())
    );
    let wrong = json!({"email": "a@b.io", "password": "password2"}).to_string();
    assert_eq!(
        post("/api/auth/login", wrong).await,
        (401, "invalid_credentials".into())
    );
    assert_eq!(
        post(
            "/api/auth/refresh",
            json!({"refresh_token": "garbage"}).to_string()
        )
        .await,
        (401, "invalid_token".into())
    );
    app.shutdown().await;
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled() {
    let app = spawn_app(&[]).await;
    let body = app.signup("bob").await;
    let email = body["user"]["email"].as_str().unwrap();
    let wrong = json!({"email": email, "password": "wrong-password"});
    for _ in 0..20 {
        assert_eq!(app.post_json("/api/auth/login", &wrong).await.0, 401);
    }
    let right = json!({"email": email, "password": "password1"});
    let (status, v) = app.post_json("/api/auth/login", &right).await;
    assert_eq!(status, 429);
    assert_eq!(v["error"]["code"], "rate_limited");
    app.clock.advance(10 * 60 * 1000);
    let (status, _) = app.post_json("/api/auth/login", &right).await;
    assert_eq!(status, 200, "the window has passed");
    app.shutdown().await;
}

#[tokio::test]
async fn me_distinguishes_missing_bad_and_expired_tokens() {
    let app = spawn_app(&["--access-token-ttl-s", "60"]).await;
    let body = app.signup("cy").await;
    let token = body["access_token"].as_str().unwrap();
    let code = async |t: Option<&str>| {
        let (status, v) = app.get_json("/api/me", t).await;
        (status, v["error"]["code"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(code(Some(token)).await.0, 200);
    assert_eq!(code(None).await, (401, "unauthorized".into()));
    assert_eq!(code(Some("x.y.z")).await, (401, "unauthorized".into()));
    app.clock.advance(60_000);
    assert_eq!(code(Some(token)).await, (401, "token_expired".into()));
    app.shutdown().await;
}

#[tokio::test]
async fn boards_and_snapshots_with_etags_and_compression() {
    let app = spawn_app(&[]).await;
    let (_, boards) = app.get_json("/api/boards", None).await;
    assert_eq!(boards[0]["id"], "main");
    assert_eq!(boards[0]["width"], 16);
    assert_eq!(boards[0]["palette"].as_array().unwrap().len(), 16);
    let (_, meta) = app.get_json("/api/boards/main", None).await;
    assert_eq!(meta, boards[0]);
    for path in [
        "/api/boards/nope",
        "/api/boards/nope/pixels",
        "/api/boards/..%2Fx",
    ] {
        assert_eq!(app.get_json(path, None).await.0, 404, "{path}");
    }

    let snap = app
        .http
        .get(app.url("/api/boards/main/pixels"))
        .send()
        .await
        .unwrap();
    assert_eq!(snap.status(), 200);
    let etag = snap.headers()["etag"].to_str().unwrap().to_owned();
    let v: Value = snap.json().await.unwrap();
    assert_eq!(v["seq"], 0);
    assert_eq!(v["pixels"], json!([]));
    let cached = app
        .http
        .get(app.url("/api/boards/main/pixels"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);

    // A placement changes the seq and so the ETag.
    let (_, mut s) = app.joined_player("dee").await;
    let placed = s
        .call(
            "place",
            json!({"board": "main", "x": 3, "y": 4, "color": 5}),
        )
        .await;
    assert_eq!(placed["ok"], true);
    let after = app
        .http
        .get(app.url("/api/boards/main/pixels"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200);
    let v: Value = after.json().await.unwrap();
    assert_eq!(v["seq"], 1);
    let t = common::START_MS;
    assert_eq!(v["pixels"], json!([[3, 4, 5, t, t + 10_000]]));

    // Compressed when asked (reqwest here has no decompression: raw bytes).
    let gz = app
        .http
        .get(app.url("/api/boards/main/pixels"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let br = app
        .http
        .get(app.url("/api/boards/main/pixels"))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(br.headers()["content-encoding"], "br");
    app.shutdown().await;
}

#[tokio::test]
async fn the_binary_form_is_negotiated_and_has_its_own_etag() {
    let app = spawn_app(&[]).await;
    let (_, mut s) = app.joined_player("fay").await;
    let placed = s
        .call(
            "place",
            json!({"board": "main", "x": 3, "y": 4, "color": 5}),
        )
        .await;
    assert_eq!(placed["ok"], true);
    let r = app
        .http
        .get(app.url("/api/boards/main/pixels"))
        .header("accept", "application/octet-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let b = r.bytes().await.unwrap();
    assert_eq!(&b[..5], b"RPXB\x01");
    assert_eq!(u32::from_le_bytes(b[5..9].try_into().unwrap()), 16);
    assert_eq!(u32::from_le_bytes(b[9..13].try_into().unwrap()), 16);
    assert_eq!(u64::from_le_bytes(b[13..21].try_into().unwrap()), 1);
    assert_eq!(b.len(), 21 + 16 * 16);
    let cells = &b[21..];
    assert_eq!(cells[4 * 16 + 3], 5);
    assert_eq!(cells.iter().filter(|&&c| c != 0).count(), 1);
    // The JSON form's ETag differs: a cache never mixes the two up.
    let json_tag = app
        .http
        .get(app.url("/api/boards/main/pixels"))
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(etag, json_tag);
    let not_modified = app
        .http
        .get(app.url("/api/boards/main/pixels"))
        .header("accept", "application/octet-stream")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    app.shutdown().await;
}

#[tokio::test]
async fn the_pixel_lookup_names_the_placer_and_refuses_bad_coordinates() {
    let app = spawn_app(&[]).await;
    let (_, mut s) = app.joined_player("ann").await;
    let placed = s
        .call(
            "place",
            json!({"board": "main", "x": 3, "y": 4, "color": 5}),
        )
        .await;
    assert_eq!(placed["ok"], true, "{placed}");
    let u = &placed["update"];
    let (status, v) = app.get_json("/api/boards/main/pixels/3/4", None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({
            "board": "main", "x": 3, "y": 4, "color": 5,
            "placed_at": u["placed_at"], "expires_at": u["expires_at"],
            "by": "ann", "as_of": u["seq"],
        })
    );
    let (status, v) = app.get_json("/api/boards/main/pixels/0/0", None).await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], "not_found", "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("empty"),
        "{v}"
    );
    for path in [
        "/api/boards/main/pixels/x/4",
        "/api/boards/main/pixels/3/-1",
        "/api/boards/main/pixels/+3/4",
        "/api/boards/main/pixels/3/4.0",
        "/api/boards/main/pixels/3/99999999999999999999999",
        "/api/boards/main/pixels/100000/4",
        "/api/boards/main/pixels/3/100000",
    ] {
        let (status, v) = app.get_json(path, None).await;
        assert_eq!(status, 400, "{path}: {v}");
        assert_eq!(v["error"]["code"], "invalid_input", "{path}: {v}");
    }
    for path in [
        "/api/boards/nope/pixels/3/4",
        "/api/boards/nope/pixels/x/4",
        "/api/boards/main/pixels/3/4/5",
    ] {
        let (status, v) = app.get_json(path, None).await;
        assert_eq!(status, 404, "{path}: {v}");
        assert_eq!(v["error"]["code"], "not_found", "{path}: {v}");
    }
    app.shutdown().await;
}
