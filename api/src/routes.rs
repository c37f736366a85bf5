//! HTTP handlers. Each parses its input, calls `accounts` or the game, and
//! returns JSON; errors are [`ApiError`]s, rendered in one place.

use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;

use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use bytes::Bytes;
use pixel_core::auth::Claims;
use pixel_core::domain::{BoardId, BoardMeta, Update};
use serde::{Deserialize, Serialize};
use tower_http::compression::CompressionLayer;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::{PublicUser, TokenBody};
use crate::auth_outcomes::{self, AuthAction};
use crate::error::ApiError;
use crate::extract::{JsonObject, QueryParams};
use crate::openapi::{
    BadRequest, EmailTaken, Internal, InvalidCredentials, InvalidToken, NotFound, RateLimited,
    TooLarge, Unauthorized, Unavailable,
};
use crate::state::ApiState;

use crate::MAX_BODY_BYTES;

/// Every route of the api, each registered together with its OpenAPI
/// description (`#[utoipa::path]` on the handler): the router and the
/// document served at `/api/openapi.json` are both built from this one
/// list. (`standalone/tests/openapi.rs` also compares the served router's paths with
/// the document, so a route added with a plain `.route(...)` fails it.)
pub(crate) fn documented() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(boards))
        .routes(routes!(board_meta))
        .routes(routes!(pixels))
        .routes(routes!(pixel))
        .routes(routes!(tile))
        .routes(routes!(history))
        .routes(routes!(openapi_json))
}

/// The document, built once.
pub(crate) fn openapi_document() -> &'static utoipa::openapi::OpenApi {
    static DOC: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| documented().into_openapi());
    &DOC
}

/// `GET /api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object))
)]
pub(crate) async fn openapi_json() -> Response {
    static JSON: LazyLock<Bytes> = LazyLock::new(|| {
        serde_json::to_vec(openapi_document())
            .expect("the document serialises")
            .into()
    });
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        JSON.clone(),
    )
        .into_response()
}

/// The `/api` routes (ops routes are added by whoever serves them). Only
/// the fallbacks are added outside [`documented`]: an unknown `/api/...`
/// path is 404 `not_found`, a wrong method 405 `method_not_allowed`.
pub(crate) fn router(state: ApiState) -> Router {
    let (routes, _doc) = documented().split_for_parts();
    routes
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

/// `POST /api/auth/signup`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct SignupBody {
    /// Compared case-insensitively; must look like `name@example.com`.
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// 8 characters to 1024 bytes.
    #[schema(min_length = 8, max_length = 1024)]
    password: String,
    /// 1 to 64 printable characters (no bidi or zero-width characters);
    /// defaults to the part of the email before `@`.
    #[serde(default)]
    #[schema(max_length = 64)]
    name: Option<String>,
}

/// `POST /api/auth/login`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct LoginBody {
    email: String,
    password: String,
}

/// Refresh and logout bodies. A missing or non-string token is an invalid
/// token, as the contract lists only `invalid_token` for these routes.
#[derive(Deserialize, ToSchema)]
pub(crate) struct RefreshBody {
    /// The refresh token of a token body (opaque).
    #[serde(default)]
    #[schema(value_type = String, required = true)]
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

/// The client's address: the TCP peer, or the client a trusted proxy
/// forwarded for (see [`pixel_core::client_addr`]). `None` when unknown.
pub(crate) struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<ApiState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        s: &ApiState,
    ) -> Result<Self, std::convert::Infallible> {
        let trusted = &s.accounts.settings().trusted_proxies;
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| trusted.client_ip(c.0.ip(), &parts.headers)),
        ))
    }
}

#[utoipa::path(
    post,
    path = "/api/auth/signup",
    tag = "accounts",
    request_body = SignupBody,
    responses(
        (status = 201, description = "Signed up and signed in", body = TokenBody,
            links(
                ("refresh" = (operation_id = "refresh",
                    request_body = json!({"refresh_token": "$response.body#/refresh_token"}))),
                ("logout" = (operation_id = "logout",
                    request_body = json!({"refresh_token": "$response.body#/refresh_token"}))),
            )),
        (status = 400, response = BadRequest),
        (status = 409, response = EmailTaken),
        (status = 413, response = TooLarge),
        (status = 429, response = RateLimited),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
async fn signup(
    State(s): State<ApiState>,
    ClientAddr(client): ClientAddr,
    body: Result<JsonObject<SignupBody>, ApiError>,
) -> Result<(StatusCode, Json<TokenBody>), ApiError> {
    let result = async {
        let JsonObject(b) = body?;
        s.accounts
            .signup(&b.email, &b.password, b.name.as_deref(), client)
            .await
            .map_err(ApiError::from)
    }
    .await;
    auth_outcomes::record(AuthAction::Signup, &result);
    Ok((StatusCode::CREATED, Json(result?)))
}

#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "accounts",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = TokenBody,
            links(
                ("refresh" = (operation_id = "refresh",
                    request_body = json!({"refresh_token": "$response.body#/refresh_token"}))),
                ("logout" = (operation_id = "logout",
                    request_body = json!({"refresh_token": "$response.body#/refresh_token"}))),
            )),
        (status = 400, response = BadRequest),
        (status = 401, response = InvalidCredentials),
        (status = 413, response = TooLarge),
        (status = 429, response = RateLimited),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
async fn login(
    State(s): State<ApiState>,
    body: Result<JsonObject<LoginBody>, ApiError>,
) -> Result<Json<TokenBody>, ApiError> {
    let result = async {
        let JsonObject(b) = body?;
        s.accounts
            .login(&b.email, &b.password)
            .await
            .map_err(ApiError::from)
    }
    .await;
    auth_outcomes::record(AuthAction::Login, &result);
    Ok(Json(result?))
}

#[utoipa::path(
    post,
    path = "/api/auth/refresh",
    tag = "accounts",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new token pair; the presented refresh token stops working", body = TokenBody,
            links(
                ("refresh" = (operation_id = "refresh",
                    request_body = json!({"refresh_token": "$response.body#/refresh_token"}))),
                ("logout" = (operation_id = "logout",
                    request_body = json!({"refresh_token": "$response.body#/refresh_token"}))),
            )),
        (status = 400, response = BadRequest),
        (status = 401, response = InvalidToken),
        (status = 413, response = TooLarge),
        (status = 429, response = RateLimited),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
async fn refresh(
    State(s): State<ApiState>,
    body: Result<JsonObject<RefreshBody>, ApiError>,
) -> Result<Json<TokenBody>, ApiError> {
    let result = async {
        let JsonObject(b) = body?;
        s.accounts.refresh(b.token()?).await.map_err(ApiError::from)
    }
    .await;
    auth_outcomes::record(AuthAction::Refresh, &result);
    Ok(Json(result?))
}

#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "accounts",
    request_body = RefreshBody,
    responses(
        (status = 204, description = "Signed out: every refresh token of this login is revoked"),
        (status = 400, response = BadRequest),
        (status = 401, response = InvalidToken),
        (status = 413, response = TooLarge),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
async fn logout(
    State(s): State<ApiState>,
    body: Result<JsonObject<RefreshBody>, ApiError>,
) -> Result<StatusCode, ApiError> {
    let result = async {
        let JsonObject(b) = body?;
        s.accounts.logout(b.token()?).await.map_err(ApiError::from)
    }
    .await;
    auth_outcomes::record(AuthAction::Logout, &result);
    result?;
    Ok(StatusCode::NO_CONTENT)
}

/// The verified claims of a `Authorization: Bearer` access token.
pub(crate) struct Authenticated(pub Claims);

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

#[utoipa::path(
    get,
    path = "/api/me",
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The signed-in user", body = PublicUser),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
async fn me(
    State(s): State<ApiState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<PublicUser>, ApiError> {
    Ok(Json(s.accounts.me(&claims).await?))
}

#[utoipa::path(
    get,
    path = "/api/boards",
    tag = "boards",
    responses(
        (status = 200, description = "Every board's meta", body = Vec<BoardMeta>),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
async fn boards(State(s): State<ApiState>) -> Result<Json<Vec<BoardMeta>>, ApiError> {
    let mut out = Vec::new();
    for b in s.game.boards() {
        out.push(s.game.meta(b).await?);
    }
    Ok(Json(out))
}

/// Resolves a board from a path segment. On REST every unknown id is a 404,
/// malformed or not.
/// The `{board}` path segment. One that is not UTF-8 once decoded names no
/// board either: 404 like any unknown id, in the contract's error shape
/// (axum's own rejection would be a plain-text 400).
pub(crate) struct BoardPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BoardPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Self(id))
            .map_err(|e| ApiError::NotFound(format!("no such board ({})", e.body_text())))
    }
}

#[utoipa::path(
    get,
    path = "/api/boards/{board}",
    tag = "boards",
    params(("board" = String, Path, description = "Board id", example = "main")),
    responses(
        (status = 200, description = "The board's meta", body = BoardMeta),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
async fn board_meta(
    State(s): State<ApiState>,
    BoardPath(id): BoardPath,
) -> Result<Json<BoardMeta>, ApiError> {
    let board = s.board(&id)?;
    Ok(Json(s.game.meta(board).await?))
}

/// Default and largest page of `GET /api/boards/{board}/updates`.
const HISTORY_PAGE: usize = 1_000;
const HISTORY_PAGE_MAX: usize = 10_000;

/// A page of a board's retained history.
#[derive(Serialize, ToSchema)]
pub(crate) struct HistoryBody {
    board: BoardId,
    seq: u64,
    oldest: Option<u64>,
    updates: Vec<Update>,
}

/// The query of `GET /api/boards/{board}/updates`. Each parameter is a
/// non-negative integer; its own deserializer names it when it is not. A
/// repeated parameter is refused (`invalid_input`), not last-one-wins.
#[derive(Deserialize)]
pub(crate) struct UpdatesQuery {
    #[serde(default, deserialize_with = "since_param")]
    since: Option<u64>,
    #[serde(default, deserialize_with = "limit_param")]
    limit: Option<u64>,
}

fn uint_param<'de, D: serde::Deserializer<'de>>(d: D, name: &str) -> Result<Option<u64>, D::Error> {
    let raw = std::borrow::Cow::<'de, str>::deserialize(d)?;
    raw.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format_args!("{name} must be a non-negative integer"))
    })
}

fn since_param<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    uint_param(d, "since")
}

fn limit_param<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    uint_param(d, "limit")
}

/// The retained history after `since`, a page at a time: what a client
/// needs to replay the last minutes of a board.
#[utoipa::path(
    get,
    path = "/api/boards/{board}/updates",
    tag = "boards",
    params(
        ("board" = String, Path, description = "Board id", example = "main"),
        ("since" = Option<u64>, Query, description = "Updates with a greater seq (default 0)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 10000,
            description = "At most this many updates (default 1,000)"),
    ),
    responses(
        (status = 200, description = "The retained updates after `since`, in seq order", body = HistoryBody),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
async fn history(
    State(s): State<ApiState>,
    BoardPath(id): BoardPath,
    query: Result<QueryParams<UpdatesQuery>, ApiError>,
) -> Result<Json<HistoryBody>, ApiError> {
    // The board first: an unknown board is 404 whatever its query.
    let board = s.board(&id)?;
    let QueryParams(query) = query?;
    let since = query.since.unwrap_or(0);
    let limit = query.limit.unwrap_or(HISTORY_PAGE as u64);
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

/// `GET /api/boards/{board}/pixels` ([`crate::snapshot`] builds and
/// caches the answer; this describes it and finds the board, 404 if none).
#[utoipa::path(
    get,
    path = "/api/boards/{board}/pixels",
    tag = "boards",
    params(
        ("board" = String, Path, description = "Board id", example = "main"),
        ("If-None-Match" = Option<String>, Header,
            description = "An `ETag` of an earlier answer: 304 while the board is unchanged"),
    ),
    responses(
        (status = 200,
            description = "The board after update `seq`: JSON, or with `Accept: application/octet-stream` the binary form (`RPXB`, version 1, u32 width, u32 height, u64 seq little-endian, then one colour byte per cell in row-major order)",
            content(
                (crate::openapi::Snapshot = "application/json"),
                (crate::openapi::BinarySnapshot = "application/octet-stream"),
            ),
            headers(
                ("ETag" = String, description = "Names the board, seq and form"),
                ("Vary" = String, description = "`accept, accept-encoding`"),
                ("Cache-Control" = String, description = "`no-cache`"),
            )),
        (status = 304, description = "Unchanged since the `If-None-Match` tag",
            headers(
                ("ETag" = String, description = "The current tag"),
                ("Vary" = String, description = "`accept, accept-encoding`"),
            )),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
async fn pixels(
    state: State<ApiState>,
    BoardPath(id): BoardPath,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let board = state.board(&id)?;
    crate::snapshot::respond(&state.game, &state.snapshots, board, &headers).await
}

/// The `{board}/pixels/{x}/{y}` path segments, parsed in the contract's
/// error shape: an unknown board is 404, coordinates that are not
/// non-negative integers 400 (axum's own rejection would be plain text).
pub(crate) struct PixelPath {
    board: String,
    x: Result<u64, String>,
    y: Result<u64, String>,
}

impl<S: Send + Sync> FromRequestParts<S> for PixelPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path((board, x, y)) =
            Path::<(String, String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::NotFound(format!("no such board ({})", e.body_text())))?;
        Ok(Self {
            board,
            x: digits(&x, "x"),
            y: digits(&y, "y"),
        })
    }
}

/// Who placed a pixel, when, and when it fades. Served from memory (see
/// [`crate::lookup`]): the answer reflects the board as it stood at most
/// 250 ms before the request, at seq `as_of`.
#[utoipa::path(
    get,
    path = "/api/boards/{board}/pixels/{x}/{y}",
    tag = "boards",
    params(
        ("board" = String, Path, description = "Board id", example = "main"),
        ("x" = u32, Path, minimum = 0, example = 0, description = "Column, `0 ..< width`"),
        ("y" = u32, Path, minimum = 0, example = 0, description = "Row, `0 ..< height`"),
    ),
    responses(
        (status = 200, description = "The placement the pixel holds", body = crate::lookup::PixelInfo),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
async fn pixel(
    State(s): State<ApiState>,
    path: PixelPath,
) -> Result<Json<crate::lookup::PixelInfo>, ApiError> {
    let board = s.board(&path.board)?;
    let (x, y) = (
        path.x.map_err(ApiError::InvalidInput)?,
        path.y.map_err(ApiError::InvalidInput)?,
    );
    let c = board.coord(x, y).map_err(ApiError::InvalidInput)?;
    match s.placements.lookup(&s.game, board, c.x, c.y).await? {
        Some(info) => Ok(Json(info)),
        None => Err(ApiError::NotFound(format!("pixel ({x}, {y}) is empty"))),
    }
}

/// The `{board}/tiles/{tx}/{ty}` path segments, parsed in the contract's
/// error shape: an unknown board is 404, a tile address that is not a pair
/// of non-negative integers 400.
pub(crate) struct TilePath {
    board: String,
    tx: Result<u64, String>,
    ty: Result<u64, String>,
}

impl<S: Send + Sync> FromRequestParts<S> for TilePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path((board, tx, ty)) =
            Path::<(String, String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::NotFound(format!("no such board ({})", e.body_text())))?;
        Ok(Self {
            board,
            tx: digits(&tx, "tx"),
            ty: digits(&ty, "ty"),
        })
    }
}

/// A non-negative decimal integer path segment (digits only:
/// `u64::from_str` would also take a leading `+`).
fn digits(v: &str, name: &str) -> Result<u64, String> {
    v.parse::<u64>()
        .ok()
        .filter(|_| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("{name} must be a non-negative integer"))
}

/// One viewport tile of the board after update `seq` ([`crate::tiles`]
/// builds and caches the answer; this describes it and checks the path).
#[utoipa::path(
    get,
    path = "/api/boards/{board}/tiles/{tx}/{ty}",
    tag = "boards",
    params(
        ("board" = String, Path, description = "Board id", example = "main"),
        ("tx" = u32, Path, minimum = 0, example = 0,
            description = "Tile column, `0 ..< ceil(width / tile_size)`"),
        ("ty" = u32, Path, minimum = 0, example = 0,
            description = "Tile row, `0 ..< ceil(height / tile_size)`"),
        ("If-None-Match" = Option<String>, Header,
            description = "An `ETag` of an earlier answer: 304 while the board is unchanged"),
    ),
    responses(
        (status = 200,
            description = "The tile after update `seq`: JSON, or with `Accept: application/octet-stream` the binary form (`RPXT`, version 1, u32 tx, ty, x0, y0, width, height, u64 seq little-endian, then one colour byte per cell of the tile in row-major order)",
            content(
                (crate::openapi::TileSnapshot = "application/json"),
                (crate::openapi::BinaryTile = "application/octet-stream"),
            ),
            headers(
                ("ETag" = String, description = "Names the board, tile, seq and form"),
                ("Vary" = String, description = "`accept, accept-encoding`"),
                ("Cache-Control" = String, description = "`no-cache`"),
            )),
        (status = 304, description = "Unchanged since the `If-None-Match` tag",
            headers(
                ("ETag" = String, description = "The current tag"),
                ("Vary" = String, description = "`accept, accept-encoding`"),
            )),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
async fn tile(
    State(s): State<ApiState>,
    path: TilePath,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let board = s.board(&path.board)?;
    let (tx, ty) = (
        path.tx.map_err(ApiError::InvalidInput)?,
        path.ty.map_err(ApiError::InvalidInput)?,
    );
    let t = board.tile(tx, ty).map_err(ApiError::InvalidInput)?;
    crate::tiles::respond(&s.game, &s.tiles, board, t, &headers).await
}

#[cfg(test)]
mod tests {
    use axum::extract::Query;
    use axum::http::Uri;

    use super::UpdatesQuery;

    fn query(q: &str) -> Result<(Option<u64>, Option<u64>), String> {
        let uri: Uri = format!("/api/boards/main/updates{q}").parse().unwrap();
        Query::<UpdatesQuery>::try_from_uri(&uri)
            .map(|Query(q)| (q.since, q.limit))
            .map_err(|e| e.body_text())
    }

    #[test]
    fn updates_query_takes_non_negative_integers_or_nothing() {
        assert_eq!(query(""), Ok((None, None)));
        assert_eq!(query("?since=7&limit=10"), Ok((Some(7), Some(10))));
        assert_eq!(query("?limit=0&other=x"), Ok((None, Some(0))));
        for (bad, name) in [
            ("?limit=x", "limit"),
            ("?since=-1", "since"),
            ("?since=1.5", "since"),
            ("?since=", "since"),
            ("?limit=99999999999999999999", "limit"),
        ] {
            let e = query(bad).unwrap_err();
            assert!(
                e.contains(&format!("{name} must be a non-negative integer")),
                "{bad}: {e}"
            );
        }
        let e = query("?since=1&since=2").unwrap_err();
        assert!(e.contains("duplicate field `since`"), "{e}");
    }
}
