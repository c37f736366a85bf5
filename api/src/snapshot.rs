//! `GET /api/boards/{board}/pixels`: the board as it stands after some seq.
//!
//! A dense board's snapshot is megabytes of JSON, and many clients ask for
//! the same one (a deploy reconnects everybody; every page load starts with
//! one). So each board keeps its **last encoded snapshot** — the JSON and
//! the compact binary form, and, built on first demand, their gzip and
//! brotli encodings — and a request is served from it when it is at least
//! as new as the board's seq read at the start of the request. That rule
//! keeps the contract's freshness: a snapshot requested after a placement
//! was acked contains it.
//!
//! A cached snapshot belongs to the data set (epoch) it was read from: after
//! Redis lost its data, seqs start again from 1, and a snapshot of the old
//! data set at a higher seq must not pass for a fresh one.
//!
//! Building is **single flight**: one request rebuilds while the others that
//! need a newer snapshot wait for that build (and rebuild again only if it
//! is still older than what they need), so concurrent misses cost one read
//! of the board from the store, not one each. Compressed variants are built
//! once per snapshot however many requests want them (`OnceCell`).
//!
//! # The binary form
//!
//! With `Accept: application/octet-stream` the body is
//! `"RPXB"`, a version byte (1), then little-endian `u32 width`,
//! `u32 height`, `u64 seq`, then `width × height` bytes: the colour of each
//! cell in row-major order (`y * width + x`), 0 for empty. It carries no
//! placement times (the JSON form does); it is for drawing a board fast.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pixel_core::Game;
use pixel_core::domain::{BoardConfig, BoardId, PixelEntry};
use pixel_core::store::StoredSnapshot;
use serde::Serialize;
use tokio::sync::OnceCell;

use crate::error::ApiError;

/// The binary form's media type.
pub(crate) const BINARY_TYPE: &str = "application/octet-stream";
const BINARY_MAGIC: &[u8; 4] = b"RPXB";
const BINARY_VERSION: u8 = 1;
const BINARY_HEADER: usize = 4 + 1 + 4 + 4 + 8;

#[derive(Serialize)]
struct SnapshotBody<'a> {
    board: &'a BoardId,
    seq: u64,
    width: u32,
    height: u32,
    pixels: &'a [PixelEntry],
}

/// Which representation a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Json,
    Binary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Identity,
    Gzip,
    Brotli,
}

impl Coding {
    pub(crate) fn header(self) -> Option<&'static str> {
        match self {
            Self::Identity => None,
            Self::Gzip => Some("gzip"),
            Self::Brotli => Some("br"),
        }
    }
}

/// One snapshot, encoded.
pub(crate) struct Encoded {
    epoch: String,
    seq: u64,
    json: Bytes,
    binary: Bytes,
    /// Compressed variants by (form, coding), built on first demand.
    compressed: [OnceCell<Bytes>; 4],
}

impl Encoded {
    fn build(board: &BoardConfig, snap: StoredSnapshot) -> Result<Self, ApiError> {
        let StoredSnapshot { epoch, seq, pixels } = snap;
        let pixels = &pixels[..];
        let json = serde_json::to_vec(&SnapshotBody {
            board: &board.id,
            seq,
            width: board.width,
            height: board.height,
            pixels,
        })
        .map_err(|e| ApiError::Internal(e.into()))?;
        Ok(Self {
            epoch,
            seq,
            json: json.into(),
            binary: binary(board, seq, pixels).into(),
            compressed: Default::default(),
        })
    }

    fn plain(&self, form: Form) -> &Bytes {
        match form {
            Form::Json => &self.json,
            Form::Binary => &self.binary,
        }
    }

    async fn body(&self, form: Form, coding: Coding) -> Result<Bytes, ApiError> {
        let slot = match (form, coding) {
            (_, Coding::Identity) => return Ok(self.plain(form).clone()),
            (Form::Json, Coding::Gzip) => 0,
            (Form::Json, Coding::Brotli) => 1,
            (Form::Binary, Coding::Gzip) => 2,
            (Form::Binary, Coding::Brotli) => 3,
        };
        let plain = self.plain(form).clone();
        self.compressed[slot]
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || compress(&plain, coding))
                    .await
                    .map_err(|e| ApiError::Internal(e.into()))?
            })
            .await
            .cloned()
    }
}

/// The binary form (see the module doc).
fn binary(board: &BoardConfig, seq: u64, pixels: &[PixelEntry]) -> Vec<u8> {
    let cells = board.width as usize * board.height as usize;
    let mut out = Vec::with_capacity(BINARY_HEADER + cells);
    out.extend_from_slice(BINARY_MAGIC);
    out.push(BINARY_VERSION);
    out.extend_from_slice(&board.width.to_le_bytes());
    out.extend_from_slice(&board.height.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.resize(BINARY_HEADER + cells, 0);
    for p in pixels {
        let i = p.y as usize * board.width as usize + p.x as usize;
        if let Some(cell) = out.get_mut(BINARY_HEADER + i) {
            *cell = p.color;
        }
    }
    out
}

pub(crate) fn compress(plain: &[u8], coding: Coding) -> Result<Bytes, ApiError> {
    let io = |e: std::io::Error| ApiError::Internal(e.into());
    Ok(match coding {
        Coding::Identity => Bytes::copy_from_slice(plain),
        Coding::Gzip => {
            // Level 6: a snapshot is compressed once and sent many times.
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            enc.write_all(plain).map_err(io)?;
            enc.finish().map_err(io)?.into()
        }
        Coding::Brotli => {
            let mut out = Vec::new();
            {
                let mut enc = brotli::CompressorWriter::new(&mut out, 64 * 1024, 5, 22);
                enc.write_all(plain).map_err(io)?;
            }
            out.into()
        }
    })
}

/// One board's cache slot.
#[derive(Default)]
struct Slot {
    current: Mutex<Option<Arc<Encoded>>>,
    /// Held by the one request that is rebuilding.
    building: tokio::sync::Mutex<()>,
}

impl Slot {
    fn current(&self) -> Option<Arc<Encoded>> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn fresh(&self, epoch: &str, seq: u64) -> Option<Arc<Encoded>> {
        self.current().filter(|e| e.epoch == epoch && e.seq >= seq)
    }
}

/// Every board's last encoded snapshot.
#[derive(Default)]
pub(crate) struct SnapshotCache(Mutex<HashMap<BoardId, Arc<Slot>>>);

impl SnapshotCache {
    fn slot(&self, board: &BoardId) -> Arc<Slot> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(board.clone()).or_default().clone()
    }

    /// A snapshot of `board` in data set `epoch` at seq `seq` or later:
    /// the cached one, or one build shared with every concurrent request
    /// that needs it.
    pub(crate) async fn get(
        &self,
        game: &Game,
        board: &BoardConfig,
        epoch: &str,
        seq: u64,
    ) -> Result<Arc<Encoded>, ApiError> {
        let slot = self.slot(&board.id);
        if let Some(hit) = slot.fresh(epoch, seq) {
            return Ok(hit);
        }
        let _building = slot.building.lock().await;
        // Whoever held the lock before may have built what we need.
        if let Some(hit) = slot.fresh(epoch, seq) {
            metrics::counter!("api_snapshot_builds_total", "outcome" => "shared").increment(1);
            return Ok(hit);
        }
        let snap = game.snapshot(board).await?;
        let board = board.clone();
        let encoded =
            tokio::task::spawn_blocking(move || Encoded::build(&board, snap).map(Arc::new))
                .await
                .map_err(|e| ApiError::Internal(e.into()))??;
        metrics::counter!("api_snapshot_builds_total", "outcome" => "built").increment(1);
        let mut current = slot.current.lock().unwrap_or_else(|e| e.into_inner());
        if current
            .as_ref()
            .is_none_or(|c| c.epoch != encoded.epoch || c.seq <= encoded.seq)
        {
            *current = Some(encoded.clone());
        }
        Ok(encoded)
    }
}

/// The ETag of a snapshot. The epoch is read from the store, where anyone
/// with access may have written anything: one that cannot be part of a
/// header is a corrupt data set, answered as an internal error (logged
/// once, by the error's response), never a panic. Board ids are checked
/// at start-up and always fit.
fn etag(epoch: &str, board: &BoardId, seq: u64, form: Form) -> Result<HeaderValue, ApiError> {
    let suffix = match form {
        Form::Json => "",
        Form::Binary => "-bin",
    };
    HeaderValue::from_str(&format!("\"{board}-{seq}-{epoch}{suffix}\"")).map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context(format!(
            "the data set's epoch {epoch:?} cannot be part of an ETag: the store is corrupt"
        )))
    })
}

pub(crate) fn etag_matches(headers: &HeaderMap, tag: &HeaderValue) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t.as_bytes() == tag.as_bytes())
}

fn header_tokens<'a>(headers: &'a HeaderMap, name: header::HeaderName) -> Vec<(String, f32)> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v: &'a HeaderValue| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| {
            let mut parts = item.split(';');
            let token = parts.next()?.trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (!token.is_empty()).then_some((token, q))
        })
        .collect()
}

pub(crate) fn form_of(headers: &HeaderMap) -> Form {
    let binary = header_tokens(headers, header::ACCEPT)
        .iter()
        .any(|(t, q)| t == BINARY_TYPE && *q > 0.0);
    if binary { Form::Binary } else { Form::Json }
}

pub(crate) fn coding_of(headers: &HeaderMap) -> Coding {
    let accepted = header_tokens(headers, header::ACCEPT_ENCODING);
    let q = |name: &str| {
        accepted
            .iter()
            .find(|(t, _)| t == name)
            .or_else(|| accepted.iter().find(|(t, _)| t == "*"))
            .map_or(0.0, |(_, q)| *q)
    };
    let (br, gzip) = (q("br"), q("gzip"));
    if br > 0.0 && br >= gzip {
        Coding::Brotli
    } else if gzip > 0.0 {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

/// The answer to `GET /api/boards/{board}/pixels` for `board` (the route
/// in `routes` finds the board and calls this): 304 while `If-None-Match`
/// names the current state, else the board in the form and coding the
/// request asks for, from `cache`.
pub(crate) async fn respond(
    game: &Game,
    cache: &SnapshotCache,
    board: &Arc<BoardConfig>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let form = form_of(headers);
    // Reading the seq checks the epoch (and adopts a new one), so the pair
    // belongs to one data set.
    let seq = game.store().board_seq(&board.id).await?;
    let epoch = game.store().epoch();
    let vary = HeaderValue::from_static("accept, accept-encoding");
    let tag = etag(&epoch, &board.id, seq, form)?;
    if etag_matches(headers, &tag) {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, tag), (header::VARY, vary)],
        )
            .into_response());
    }
    let encoded = cache.get(game, board, &epoch, seq).await?;
    let coding = coding_of(headers);
    let body = encoded.body(form, coding).await?;
    let content_type = match form {
        Form::Json => HeaderValue::from_static("application/json"),
        Form::Binary => HeaderValue::from_static(BINARY_TYPE),
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::ETAG,
                etag(&encoded.epoch, &board.id, encoded.seq, form)?,
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::VARY, vary),
        ],
        body,
    )
        .into_response();
    if let Some(c) = coding.header() {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(c));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board() -> BoardConfig {
        pixel_core::testing::board("main")
            .with_size(3, 2)
            .with_cooldown_ms(0)
            .with_ttl_ms(1000)
            .build()
    }

    #[test]
    fn the_binary_form_is_a_header_and_one_byte_per_cell() {
        let px = [
            PixelEntry {
                x: 2,
                y: 1,
                color: 16,
                placed_at: 1,
                expires_at: 2,
            },
            PixelEntry {
                x: 0,
                y: 0,
                color: 3,
                placed_at: 1,
                expires_at: 2,
            },
        ];
        let b = binary(&board(), 0x0102, &px);
        assert_eq!(&b[..5], b"RPXB\x01");
        assert_eq!(&b[5..9], &3u32.to_le_bytes());
        assert_eq!(&b[9..13], &2u32.to_le_bytes());
        assert_eq!(&b[13..21], &0x0102u64.to_le_bytes());
        assert_eq!(&b[21..], &[3, 0, 0, 0, 0, 16]);
    }

    #[test]
    fn an_epoch_that_cannot_be_a_header_is_an_internal_error_not_a_panic() {
        let id = BoardId::parse("main").unwrap();
        let tag = etag("0f3c", &id, 7, Form::Binary).unwrap();
        assert_eq!(tag, "\"main-7-0f3c-bin\"");
        for bad in ["bad\u{1}epoch", "line\nbreak", "\u{7f}"] {
            assert!(
                matches!(etag(bad, &id, 7, Form::Json), Err(ApiError::Internal(_))),
                "{bad:?}"
            );
        }
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn negotiation_follows_accept_and_accept_encoding() {
        assert_eq!(form_of(&HeaderMap::new()), Form::Json);
        assert_eq!(
            form_of(&headers(&[(header::ACCEPT, "application/octet-stream")])),
            Form::Binary
        );
        assert_eq!(
            form_of(&headers(&[(
                header::ACCEPT,
                "application/octet-stream;q=0, */*"
            )])),
            Form::Json
        );
        assert_eq!(coding_of(&HeaderMap::new()), Coding::Identity);
        let gz = headers(&[(header::ACCEPT_ENCODING, "gzip, deflate")]);
        assert_eq!(coding_of(&gz), Coding::Gzip);
        let both = headers(&[(header::ACCEPT_ENCODING, "gzip, deflate, br")]);
        assert_eq!(coding_of(&both), Coding::Brotli);
        let prefer_gzip = headers(&[(header::ACCEPT_ENCODING, "br;q=0.5, gzip")]);
        assert_eq!(coding_of(&prefer_gzip), Coding::Gzip);
        let none = headers(&[(header::ACCEPT_ENCODING, "identity")]);
        assert_eq!(coding_of(&none), Coding::Identity);
    }

    #[test]
    fn compressed_bodies_decompress_to_the_plain_one() {
        use std::io::Read;
        let plain = br#"{"board":"main","pixels":[[1,2,3,4,5]]}"#.repeat(100);
        let gz = compress(&plain, Coding::Gzip).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain);
        let br = compress(&plain, Coding::Brotli).unwrap();
        let mut out = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain);
    }
}
