//! The api's error policy: handlers return [`ApiError`]; it is turned into a
//! status and `{"error": {"code", "message"}}` here and nowhere else (the
//! 404 and 405 fallbacks included). The account rules have their own error
//! type, mapped here once. Internal errors are logged once with their cause
//! chain and answered opaquely.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pixel_core::ErrorCode;
use pixel_core::auth::TokenError;
use pixel_core::error::Report;
use pixel_core::game::GameError;
use pixel_core::store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::AccountError;

// What the api sends is what its OpenAPI document describes: one type.
// (Its doc comment is the schema's description in the document.)
/// Every error body: `{"error": {"code", "message"}}`. Each error response
/// below narrows `code` to the codes its status carries.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// A snake_case code from docs/PROTOCOL.md.
    #[schema(value_type = String)]
    code: ErrorCode,
    /// Human text.
    message: String,
}

/// The `Retry-After` of a full password-hashing queue, in seconds. An
/// estimate, not a measured wait: a hash takes tens of milliseconds, so
/// the queue (at most `HASH_QUEUE_MS` of hashing waiting on
/// `HASH_CONCURRENCY` running) has drained much of itself within it unless
/// the burst goes on.
pub(crate) const BUSY_RETRY_AFTER_S: u64 = 1;

/// Milliseconds as `Retry-After` seconds: rounded up, at least 1 (a client
/// that retries at once would be refused again).
pub(crate) fn retry_after_s(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0).div_ceil(1000).max(1)
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("wrong email or password")]
    InvalidCredentials,
    /// Too many attempts; `Retry-After` says when the window lets the next
    /// one pass (whole seconds, rounded up).
    #[error("{message}")]
    RateLimited { message: String, retry_after_s: u64 },
    #[error("the refresh token is invalid, expired or revoked")]
    InvalidToken,
    /// A rotated refresh token presented again: answered exactly like
    /// [`ApiError::InvalidToken`], told apart only in the metrics.
    #[error("the refresh token is invalid, expired or revoked")]
    TokenReused,
    #[error("a valid access token is required")]
    Unauthorized,
    #[error("the access token has expired")]
    TokenExpired,
    #[error("{0}")]
    NotFound(String),
    #[error("request body is larger than {} bytes", crate::MAX_BODY_BYTES)]
    TooLarge,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// Storage down or slow. Not "nothing was changed": a request that
    /// timed out may have been applied (every api change is safe to retry).
    #[error("storage is unavailable; try again")]
    Unavailable(#[source] StoreError),
    /// Overloaded (the password-hashing queue is full): retry shortly.
    /// Its `Retry-After` is an estimate, [`BUSY_RETRY_AFTER_S`].
    #[error("{0}")]
    Busy(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, ErrorCode) {
        match self {
            Self::InvalidInput(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidInput),
            Self::EmailTaken => (StatusCode::CONFLICT, ErrorCode::EmailTaken),
            Self::InvalidCredentials => (StatusCode::UNAUTHORIZED, ErrorCode::InvalidCredentials),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
            Self::InvalidToken | Self::TokenReused => {
                (StatusCode::UNAUTHORIZED, ErrorCode::InvalidToken)
            }
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            Self::TokenExpired => (StatusCode::UNAUTHORIZED, ErrorCode::TokenExpired),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::InvalidInput),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed),
            Self::Unavailable(_) | Self::Busy(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable)
            }
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let message = match &self {
            Self::Internal(e) => {
                tracing::error!(error = %Report(e.as_ref()), "internal error");
                "internal error".to_owned()
            }
            Self::Unavailable(e) => {
                tracing::warn!(error = %Report(e), "storage unavailable");
                self.to_string()
            }
            other => other.to_string(),
        };
        let mut response = (
            status,
            Json(ErrorBody {
                error: ErrorDetail { code, message },
            }),
        )
            .into_response();
        let retry_after_s = match &self {
            Self::RateLimited { retry_after_s, .. } => Some(*retry_after_s),
            Self::Busy(_) => Some(BUSY_RETRY_AFTER_S),
            _ => None,
        };
        if let Some(s) = retry_after_s {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, s.into());
        }
        if matches!(
            self,
            Self::InvalidToken | Self::TokenReused | Self::Unauthorized | Self::TokenExpired
        ) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            e @ (StoreError::Unavailable(_) | StoreError::OutcomeUnknown(_)) => {
                Self::Unavailable(e)
            }
            StoreError::EmailTaken => Self::EmailTaken,
            other => Self::Internal(other.into()),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        let message = e.to_string();
        match e {
            AccountError::InvalidInput(m) => Self::InvalidInput(m),
            AccountError::EmailTaken => Self::EmailTaken,
            AccountError::InvalidCredentials => Self::InvalidCredentials,
            AccountError::LoginThrottled { retry_after_ms }
            | AccountError::SignupThrottled { retry_after_ms }
            | AccountError::RefreshThrottled { retry_after_ms } => Self::RateLimited {
                message,
                retry_after_s: retry_after_s(retry_after_ms),
            },
            AccountError::InvalidToken => Self::InvalidToken,
            AccountError::TokenReused => Self::TokenReused,
            AccountError::UnknownUser => Self::Unauthorized,
            AccountError::Busy => Self::Busy(message),
            AccountError::Store(s) => s.into(),
            AccountError::Internal(e) => Self::Internal(e),
        }
    }
}

impl From<GameError> for ApiError {
    fn from(e: GameError) -> Self {
        match e {
            GameError::InvalidInput(m) => Self::InvalidInput(m),
            GameError::NotFound(m) => Self::NotFound(m),
            GameError::Store(s) => s.into(),
            GameError::Cooldown { .. } => Self::Internal(anyhow::anyhow!("unexpected cooldown")),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Expired => Self::TokenExpired,
            TokenError::Invalid => Self::Unauthorized,
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::TooLarge
        } else {
            Self::InvalidInput(e.body_text())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
        assert_eq!(retry_after_s(-5), 1);
        assert_eq!(retry_after_s(0), 1);
        assert_eq!(retry_after_s(1), 1);
        assert_eq!(retry_after_s(1000), 1);
        assert_eq!(retry_after_s(1001), 2);
        assert_eq!(retry_after_s(3_600_000), 3600);
    }

    #[test]
    fn a_throttle_answers_its_remaining_window_as_retry_after() {
        let e: ApiError = AccountError::LoginThrottled {
            retry_after_ms: 599_001,
        }
        .into();
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "600");
        let r = ApiError::Busy("busy".into()).into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()["retry-after"], "1");
    }
}
