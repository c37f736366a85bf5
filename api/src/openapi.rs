//! The api's OpenAPI 3.1 document, served at `GET /api/openapi.json`.
//!
//! Each route is described by `#[utoipa::path]` on its handler and
//! registered with that description in `crate::routes::documented`, so the
//! router and the document come from one list (and this module depends on
//! nothing of `routes`). The body schemas are derived
//! where the types live (`ToSchema` on the api's own bodies; on pixel-core's
//! domain types behind its `openapi` feature, which this crate enables).
//! This module holds what is shared: the error responses (one per status,
//! each naming the codes that status carries), the bearer scheme, and the
//! schemas of bodies that are built without a Rust type to derive from.
//!
//! Not described: the ops routes (`/healthz`, `/readyz`, `/metrics`), which
//! every service serves in plain text beside its own routes (they are not
//! part of the REST api, and the gateway and worker serve them too), and
//! the fallbacks: any other `/api/...` path answers 404 `not_found`, a
//! wrong method on a known route 405 `method_not_allowed`, both in the
//! error shape below.

use crate::error::ErrorBody;
use pixel_core::domain::BoardId;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema, ToResponse, ToSchema};

/// The document's fixed parts; the paths are added by
/// `crate::routes::documented`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Realtime Pixel REST api",
        description = "Accounts, board meta, snapshots and history of Realtime Pixel. \
            The binding contract is docs/PROTOCOL.md. JSON in and out; every error is \
            `{\"error\": {\"code\", \"message\"}}`. Request bodies are JSON objects of at \
            most 16 KiB (413 beyond). Any other `/api/...` path answers 404 `not_found`, a \
            wrong method on a known route 405 `method_not_allowed`. The ops routes \
            (`/healthz`, `/readyz`, `/metrics`) are not described here.",
        license(name = "MIT")
    ),
    modifiers(&BearerAuth),
    components(
        schemas(ErrorBody),
        responses(
            BadRequest,
            InvalidCredentials,
            InvalidToken,
            Unauthorized,
            NotFound,
            EmailTaken,
            TooLarge,
            RateLimited,
            Internal,
            Unavailable
        )
    ),
    tags(
        (name = "accounts", description = "Sign-up, login, token rotation, the signed-in user"),
        (name = "boards", description = "Board meta, snapshots, history"),
        (name = "meta", description = "This document")
    )
)]
pub(crate) struct ApiDoc;

/// `Authorization: Bearer <access_token>` (a JWT from a token body).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("The `access_token` of a token body"))
                    .build(),
            ),
        );
    }
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// An error response whose `code` is one of `codes`, with `headers`
/// (name, description).
fn error_response(
    description: &str,
    codes: &[&str],
    headers: &[(&str, &str)],
) -> RefOr<utoipa::openapi::Response> {
    let closed = || Some(AdditionalProperties::FreeForm(false));
    let detail = ObjectBuilder::new()
        .property("code", string().enum_values(Some(codes.iter().copied())))
        .required("code")
        .property("message", string().description(Some("Human text")))
        .required("message")
        .additional_properties(closed());
    let body = ObjectBuilder::new()
        .property("error", detail)
        .required("error")
        .additional_properties(closed());
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new().schema(Some(body)).build(),
    );
    for (name, text) in headers {
        response = response.header(
            *name,
            HeaderBuilder::new()
                .schema(Some(string()))
                .description(Some(*text))
                .build(),
        );
    }
    response.build().into()
}

macro_rules! error_responses {
    ($($name:ident: $description:literal, [$($code:literal),+] $(, $header:literal = $text:expr)*;)+) => {
        $(
            #[doc = $description]
            pub(crate) struct $name;

            impl<'r> ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
                    (
                        stringify!($name),
                        error_response($description, &[$($code),+], &[$(($header, $text)),*]),
                    )
                }
            }
        )+
    };
}

const WWW_AUTHENTICATE: &str = "`Bearer`";
const RETRY_AFTER: &str = "Whole seconds (rounded up, at least 1) to wait before retrying: on 429 the rest of the limit's window, on a full hashing queue a short estimate";

error_responses! {
    BadRequest: "The request is malformed (not a JSON object, a missing or mistyped field, a value out of bounds)",
        ["invalid_input"];
    InvalidCredentials: "Wrong email or password", ["invalid_credentials"];
    InvalidToken: "The refresh token is invalid, expired, revoked or already rotated",
        ["invalid_token"], "WWW-Authenticate" = WWW_AUTHENTICATE;
    Unauthorized: "No valid access token (`unauthorized`), or an expired one (`token_expired`)",
        ["unauthorized", "token_expired"], "WWW-Authenticate" = WWW_AUTHENTICATE;
    NotFound: "No such board", ["not_found"];
    EmailTaken: "An account with this email already exists", ["email_taken"];
    TooLarge: "The request body is larger than 16 KiB", ["invalid_input"];
    RateLimited: "Too many attempts (failed logins per account, sign-ups per address, refreshes per login)",
        ["rate_limited"], "Retry-After" = RETRY_AFTER;
    Internal: "An internal error (logged on the server)", ["internal"];
    Unavailable: "Storage is unavailable, or the password-hashing queue is full (then with `Retry-After`); retry",
        ["unavailable"], "Retry-After" = RETRY_AFTER;
}

/// `GET /api/boards/{board}/pixels` as JSON (the api builds it in
/// `crate::snapshot` without a named type).
#[derive(ToSchema)]
#[allow(dead_code)] // describes the body `crate::snapshot` encodes
pub(crate) struct Snapshot {
    board: BoardId,
    /// The board as it stands after this update.
    seq: u64,
    width: u32,
    height: u32,
    /// Every non-empty pixel.
    pixels: Vec<PixelEntry>,
}

/// A snapshot's pixel (`pixel_core::domain::PixelEntry`, which serialises
/// as an array): five integers.
pub(crate) struct PixelEntry;

impl PartialSchema for PixelEntry {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ArrayItems, KnownFormat, SchemaFormat};
        let int = |description: &str, format: KnownFormat, minimum: Option<f64>| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(format)))
                .minimum(minimum)
                .description(Some(description))
        };
        ArrayBuilder::new()
            .description(Some("`[x, y, color, placed_at_ms, expires_at_ms]`"))
            .prefix_items([
                int("x", KnownFormat::Int32, Some(0.0)),
                int("y", KnownFormat::Int32, Some(0.0)),
                int(
                    "color (1-based palette index)",
                    KnownFormat::Int32,
                    Some(1.0),
                ),
                int("placed_at (Unix ms)", KnownFormat::Int64, None),
                int("expires_at (Unix ms)", KnownFormat::Int64, None),
            ])
            .items(ArrayItems::False)
            .min_items(Some(5))
            .build()
            .into()
    }
}

impl ToSchema for PixelEntry {}

/// The binary snapshot (see the response's description).
pub(crate) struct BinarySnapshot;

impl PartialSchema for BinarySnapshot {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        string()
            .content_media_type("application/octet-stream")
            .description(Some(
                "`RPXB`, 1, u32 width, u32 height, u64 seq (little-endian), width × height colour bytes",
            ))
            .into()
    }
}

impl ToSchema for BinarySnapshot {}

/// `GET /api/boards/{board}/tiles/{tx}/{ty}` as JSON (built in
/// `crate::tiles` without a named type).
#[derive(ToSchema)]
#[allow(dead_code)] // describes the body `crate::tiles` encodes
pub(crate) struct TileSnapshot {
    board: BoardId,
    /// `[tx, ty]`.
    #[schema(min_items = 2, max_items = 2)]
    tile: [u32; 2],
    /// The tile's first column (`tx * tile_size`).
    x0: u32,
    /// The tile's first row (`ty * tile_size`).
    y0: u32,
    /// Columns of the tile (`tile_size`, less at the board's right edge).
    width: u32,
    /// Rows of the tile (`tile_size`, less at the board's bottom edge).
    height: u32,
    /// The tile as it stands after this update.
    seq: u64,
    /// Every non-empty pixel of the tile, in board coordinates, row-major.
    pixels: Vec<PixelEntry>,
}

/// The binary tile (see the response's description).
pub(crate) struct BinaryTile;

impl PartialSchema for BinaryTile {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        string()
            .content_media_type("application/octet-stream")
            .description(Some(
                "`RPXT`, 1, u32 tx, ty, x0, y0, width, height, u64 seq (little-endian), width × height colour bytes",
            ))
            .into()
    }
}

impl ToSchema for BinaryTile {}
