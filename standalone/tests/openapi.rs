//! The api's OpenAPI document (`GET /api/openapi.json`): served by the
//! standalone server, an OpenAPI 3.x document whose references resolve,
//! and a description of exactly the routes the api's router serves.
//! Also: every error the api can answer outside its handlers (unknown
//! route, wrong method, oversized or non-JSON body, an undecodable path)
//! is in the contract's error shape.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use common::spawn_app;
use pixel_core::auth::AccessTokens;
use pixel_core::clock::SharedClock;
use pixel_core::config::Secret;
use pixel_core::store::Stores;
use pixel_core::{Game, ManualClock};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every JSON pointer `$ref` in `v` (all are local: `#/...`).
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

async fn fetch_document(app: &common::TestApp) -> Value {
    let r = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    r.json().await.expect("the document is JSON")
}

/// The documented operations: path → methods.
fn operations(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    doc["paths"]
        .as_object()
        .expect("paths is an object")
        .iter()
        .map(|(path, item)| {
            let methods = METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| m.to_string())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

#[tokio::test]
async fn the_document_is_served_and_is_openapi_3() {
    let app = spawn_app(&[]).await;
    let doc = fetch_document(&app).await;
    let version = doc["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3."), "OpenAPI 3.x, got {version}");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    // (Validation against the OpenAPI 3.1 schema itself is done by
    // openapi-spec-validator in scripts/schemathesis.sh; utoipa's own model
    // cannot read back a link without parameters.)

    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in &all {
        let pointer = r.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(pointer).is_some(), "unresolved $ref {r}");
    }

    let ops = operations(&doc);
    for (path, methods) in &ops {
        assert!(path.starts_with("/api/"), "{path}");
        assert!(!methods.is_empty(), "{path} has no operation");
        for m in methods {
            let op = &doc["paths"][path][m];
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{m} {path}: no success response"
            );
            // Every error response is the contract's error body.
            for (status, resp) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let r = resp["$ref"].as_str().expect("a shared error response");
                    let resp = doc.pointer(r.strip_prefix('#').unwrap()).unwrap();
                    let schema = &resp["content"]["application/json"]["schema"];
                    assert!(
                        schema["properties"]["error"]["properties"]["code"]["enum"].is_array(),
                        "{m} {path} {status}: {resp}"
                    );
                }
            }
        }
    }
    // The authenticated route says so; the bearer scheme exists.
    assert_eq!(
        doc["paths"]["/api/me"]["get"]["security"][0]["bearer"],
        Value::Array(vec![])
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // The snapshot's two forms and its 304.
    let snap = &doc["paths"]["/api/boards/{board}/pixels"]["get"]["responses"];
    assert!(snap["200"]["content"]["application/json"].is_object());
    assert!(snap["200"]["content"]["application/octet-stream"].is_object());
    assert!(snap["304"].is_object());
    app.shutdown().await;
}

/// The paths of an axum router. axum does not list its routes, but its
/// `Debug` output names every path it matches (`path_router`, before the
/// `fallback_router`'s internal catch-all).
fn router_paths(router: &axum::Router) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    let (routes, _fallbacks) = debug
        .split_once("fallback_router")
        .expect("axum's Debug output has its fallback router after its routes");
    let set: BTreeSet<String> = routes
        .split('"')
        .filter(|s| s.starts_with('/'))
        .map(str::to_owned)
        .collect();
    assert!(
        set.contains("/api/auth/login"),
        "axum's Debug output no longer lists paths: {debug}"
    );
    set
}

async fn api_router() -> axum::Router {
    let clock: SharedClock = Arc::new(ManualClock::new(common::START_MS));
    let board = pixel_core::testing::board("main")
        .with_size(4, 4)
        .with_cooldown_ms(0)
        .with_ttl_ms(1000)
        .build();
    let stores = Stores::memory();
    let game = Arc::new(Game::new(stores.boards, vec![board], clock.clone()));
    let tokens = Arc::new(AccessTokens::new(
        &Secret::new(common::SECRET.to_owned()),
        900,
        clock.clone(),
    ));
    api::app(game, stores.accounts, tokens, clock, Default::default())
        .await
        .expect("the api starts")
}

#[tokio::test]
async fn the_document_lists_every_route_and_method_the_api_serves() {
    let app = spawn_app(&[]).await;
    let doc = fetch_document(&app).await;
    let ops = operations(&doc);

    // Paths: the router's are the document's, plus the 404 fallback.
    let mut documented: BTreeSet<String> = ops.keys().cloned().collect();
    documented.insert("/api/{*rest}".to_owned());
    assert_eq!(
        router_paths(&api_router().await),
        documented,
        "every route of api::router must be described in the OpenAPI document (#[utoipa::path] \
         and crate::routes::documented), and nothing else"
    );

    // Methods: a documented one is served, any other is a 405.
    for (path, methods) in &ops {
        let url = app.url(&path.replace("{board}", "main"));
        for m in METHODS {
            let method = reqwest::Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
            let r = app.http.request(method, &url).send().await.unwrap();
            let status = r.status().as_u16();
            if methods.contains(m) {
                assert!(
                    status != 405 && status != 404,
                    "{m} {path} is documented but answered {status}"
                );
            } else {
                assert_eq!(status, 405, "{m} {path} is not documented but answered");
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["error"]["code"], "method_not_allowed");
            }
        }
    }
    app.shutdown().await;
}

/// `{"error": {"code", "message"}}` and nothing else, as JSON.
async fn assert_error(r: reqwest::Response, status: u16, code: &str, what: &str) {
    assert_eq!(r.status().as_u16(), status, "{what}");
    assert_eq!(r.headers()["content-type"], "application/json", "{what}");
    let body: Value = r.json().await.unwrap();
    let error = body["error"].as_object().expect(what);
    assert_eq!(body.as_object().unwrap().len(), 1, "{what}: {body}");
    assert_eq!(error.len(), 2, "{what}: {body}");
    assert_eq!(error["code"], code, "{what}: {body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn errors_outside_the_handlers_are_in_the_contract_shape() {
    let app = spawn_app(&[]).await;
    let http = &app.http;
    let login = app.url("/api/auth/login");
    let r = http
        .get(app.url("/api/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "not_found", "unknown route").await;
    let r = http.delete(app.url("/api/me")).send().await.unwrap();
    assert_error(r, 405, "method_not_allowed", "wrong method").await;
    let r = http
        .put(app.url("/api/boards/main/pixels"))
        .send()
        .await
        .unwrap();
    assert_error(r, 405, "method_not_allowed", "wrong method").await;
    let big = format!("{{\"email\": \"{}\"}}", "a".repeat(20_000));
    let r = http
        .post(&login)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_error(r, 413, "invalid_input", "body over 16 KiB").await;
    // axum would answer 415; the contract lists 400 `invalid_input`.
    let r = http
        .post(&login)
        .header("content-type", "text/plain")
        .body(r#"{"email": "a@b.io", "password": "password1"}"#)
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "invalid_input", "not a JSON content type").await;
    let r = http.post(&login).send().await.unwrap();
    assert_error(r, 400, "invalid_input", "no body, no content type").await;
    for (body, what) in [("{bad", "malformed JSON"), ("[1, 2]", "not an object")] {
        let r = http
            .post(&login)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_error(r, 400, "invalid_input", what).await;
    }
    // A board id that is not UTF-8 once decoded names no board.
    for path in [
        "/api/boards/%FF",
        "/api/boards/%FF/pixels",
        "/api/boards/%FF/updates",
    ] {
        let r = http.get(app.url(path)).send().await.unwrap();
        assert_error(r, 404, "not_found", path).await;
    }
    let r = http
        .get(app.url("/api/boards/main/updates?limit=x"))
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "invalid_input", "bad query").await;
    let r = http.get(app.url("/api/me")).send().await.unwrap();
    assert_error(r, 401, "unauthorized", "no token").await;
    app.shutdown().await;
}
