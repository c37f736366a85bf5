//! HTTP handlers. Each parses its input, calls `accounts` or the game, and
//! returns JSON; errors are [`ApiError`]s, rendered in one place.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use pixel_core::Game;
use pixel_core::auth::{AccessTokens, Claims};
use pixel_core::domain::{BoardConfig, BoardId, BoardMeta, Update};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_http::compression::CompressionLayer;

use crate::accounts::{Accounts, PublicUser, TokenBody};
use crate::auth_outcomes::{self, AuthAction};
use crate::error::ApiError;
use crate::snapshot::SnapshotCache;

use crate::MAX_BODY_BYTES;

#[derive(Clone)]
pub struct ApiState {
    pub game: Arc<Game>,
    pub accounts: Arc<Accounts>,
    pub tokens: Arc<AccessTokens>,
    pub(crate) snapshots: Arc<SnapshotCache>,
}

impl ApiState {
    /// A board by id; 404 `not_found` otherwise.
    pub fn board(&self, id: &str) -> Result<&Arc<BoardConfig>, ApiError> {
        board_of(self, id)
    }

    pub fn new(game: Arc<Game>, accounts: Arc<Accounts>, tokens: Arc<AccessTokens>) -> Self {
        Self {
            game,
            accounts,
            tokens,
            snapshots: Arc::default(),
        }
    }
}

/// The `/api` routes (ops routes are added by whoever serves them).
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/auth/signup", post(signup))
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
        .route("/api/me", get(me))
        .route("/api/boards", get(boards))
        .route("/api/boards/{board}", get(board_meta))
        .route("/api/boards/{board}/pixels", get(crate::snapshot::snapshot))
        .route("/api/boards/{board}/updates", get(history))
        .route("/api/{*rest}", axum::routing::any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CompressionLayer::new())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// A JSON object body as `T`. serde would also read a struct from a JSON
/// array (`["a@b.io", "pw"]`); the contract's bodies are objects only.
fn object<T: DeserializeOwned>(body: Result<Json<Value>, JsonRejection>) -> Result<T, ApiError> {
    let Json(v) = body?;
    if !v.is_object() {
        return Err(ApiError::InvalidInput(
            "the body must be a JSON object".into(),
        ));
    }
    serde_json::from_value(v).map_err(|e| ApiError::InvalidInput(e.to_string()))
}

#[derive(Deserialize)]
struct SignupBody {
    email: String,
    password: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
}

/// Refresh and logout bodies. A missing or non-string token is an invalid
/// token, as the contract lists only `invalid_token` for these routes.
#[derive(Deserialize)]
struct RefreshBody {
    #[serde(default)]
    refresh_token: serde_json::Value,
}

impl RefreshBody {
    fn token(&self) -> Result<&str, ApiError> {
        self.refresh_token
            .as_str()
            .filter(|s| !s.is_empty() && s.len() <= 512)
            .ok_or(ApiError::InvalidToken)
    }
}

/// The client's address: the TCP peer, or `X-Real-IP` when the api is
/// configured to sit behind a proxy that sets it. `None` when unknown.
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<ApiState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        s: &ApiState,
    ) -> Result<Self, std::convert::Infallible> {
        if s.accounts.settings().trust_x_real_ip
            && let Some(ip) = parts
                .headers
                .get("x-real-ip")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
        {
            return Ok(Self(Some(ip)));
        }
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

async fn signup(
    State(s): State<ApiState>,
    ClientAddr(client): ClientAddr,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<TokenBody>), ApiError> {
    let result = async {
        let b: SignupBody = object(body)?;
        s.accounts
            .signup(&b.email, &b.password, b.name.as_deref(), client)
            .await
            .map_err(ApiError::from)
    }
    .await;
    auth_outcomes::record(AuthAction::Signup, &result);
    Ok((StatusCode::CREATED, Json(result?)))
}

async fn login(
    State(s): State<ApiState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<TokenBody>, ApiError> {
    let result = async {
        let b: LoginBody = object(body)?;
        s.accounts
            .login(&b.email, &b.password)
            .await
            .map_err(ApiError::from)
    }
    .await;
    auth_outcomes::record(AuthAction::Login, &result);
    Ok(Json(result?))
}

async fn refresh(
    State(s): State<ApiState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<TokenBody>, ApiError> {
    let result = async {
        let b: RefreshBody = object(body)?;
        s.accounts.refresh(b.token()?).await.map_err(ApiError::from)
    }
    .await;
    auth_outcomes::record(AuthAction::Refresh, &result);
    Ok(Json(result?))
}

async fn logout(
    State(s): State<ApiState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let result = async {
        let b: RefreshBody = object(body)?;
        s.accounts.logout(b.token()?).await.map_err(ApiError::from)
    }
    .await;
    auth_outcomes::record(AuthAction::Logout, &result);
    result?;
    Ok(StatusCode::NO_CONTENT)
}

/// The verified claims of a `Authorization: Bearer` access token.
pub struct Authenticated(pub Claims);

impl FromRequestParts<ApiState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &ApiState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        Ok(Self(s.tokens.verify(token)?))
    }
}

async fn me(
    State(s): State<ApiState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<PublicUser>, ApiError> {
    Ok(Json(s.accounts.me(&claims).await?))
}

async fn boards(State(s): State<ApiState>) -> Result<Json<Vec<BoardMeta>>, ApiError> {
    let mut out = Vec::new();
    for b in s.game.boards() {
        out.push(s.game.meta(b).await?);
    }
    Ok(Json(out))
}

/// Resolves a board from a path segment. On REST every unknown id is a 404,
/// malformed or not.
fn board_of<'a>(s: &'a ApiState, id: &str) -> Result<&'a Arc<BoardConfig>, ApiError> {
    s.game
        .board(id)
        .map_err(|_| ApiError::NotFound(format!("no board named {id:?}")))
}

async fn board_meta(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<BoardMeta>, ApiError> {
    let board = board_of(&s, &id)?;
    Ok(Json(s.game.meta(board).await?))
}

/// Default and largest page of `GET /api/boards/{board}/updates`.
const HISTORY_PAGE: usize = 1_000;
const HISTORY_PAGE_MAX: usize = 10_000;

#[derive(Serialize)]
struct HistoryBody {
    board: BoardId,
    seq: u64,
    oldest: Option<u64>,
    updates: Vec<Update>,
}

/// A non-negative integer query parameter, or `default` when absent.
fn query_number(
    query: &HashMap<String, String>,
    name: &str,
    default: u64,
) -> Result<u64, ApiError> {
    match query.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::InvalidInput(format!("{name} must be a non-negative integer"))),
    }
}

/// The retained history after `since`, a page at a time: what a client
/// needs to replay the last minutes of a board.
async fn history(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    query: Result<
        axum::extract::Query<HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<Json<HistoryBody>, ApiError> {
    let board = board_of(&s, &id)?;
    let axum::extract::Query(query) =
        query.map_err(|e| ApiError::InvalidInput(format!("bad query string: {e}")))?;
    let since = query_number(&query, "since", 0)?;
    let limit = query_number(&query, "limit", HISTORY_PAGE as u64)?;
    if limit == 0 || limit > HISTORY_PAGE_MAX as u64 {
        return Err(ApiError::InvalidInput(format!(
            "limit must be 1..={HISTORY_PAGE_MAX}"
        )));
    }
    let read = s.game.history(board, since, limit as usize).await?;
    Ok(Json(HistoryBody {
        board: board.id.clone(),
        seq: read.seq,
        oldest: read.oldest,
        updates: read.updates,
    }))
}
