//! Gateway errors and their ack payloads: `{"ok": false, "error": code,
//! "message", "retry_after_ms"?}`. Handlers return `Result<Value, AckError>`;
//! [`reply`] turns either side into the ack, so the mapping lives here only.

use pixel_core::ErrorCode;
use pixel_core::auth::TokenError;
use pixel_core::game::GameError;
use pixel_core::store::StoreError;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_ms: Option<i64>,
}

impl AckError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    pub fn to_value(&self) -> Value {
        let mut v = json!({"ok": false, "error": self.code, "message": self.message});
        if let Some(ms) = self.retry_after_ms {
            v["retry_after_ms"] = json!(ms);
        }
        v
    }
}

impl From<GameError> for AckError {
    fn from(e: GameError) -> Self {
        let code = e.code();
        match e {
            GameError::Cooldown { retry_after_ms } => Self {
                code,
                message: format!("wait {retry_after_ms} ms before placing again"),
                retry_after_ms: Some(retry_after_ms),
            },
            GameError::Store(StoreError::Unavailable(reason)) => {
                tracing::warn!(%reason, "storage unavailable");
                Self::new(code, "storage is unavailable; nothing was changed")
            }
            GameError::Store(StoreError::OutcomeUnknown(reason)) => {
                tracing::warn!(%reason, "placement outcome unknown");
                Self::new(
                    code,
                    "storage did not answer in time; the placement may have been applied (watch the board)",
                )
            }
            GameError::Store(other) => {
                tracing::error!(error = ?other, "store error");
                Self::new(code, "internal error")
            }
            other => Self::new(code, other.to_string()),
        }
    }
}

impl From<TokenError> for AckError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Expired => Self::new(e.code(), "the access token has expired"),
            TokenError::Invalid => Self::new(e.code(), "the access token is invalid"),
        }
    }
}

/// The ack payload for a handler's outcome.
pub fn reply(result: Result<Value, AckError>) -> Value {
    match result {
        Ok(v) => v,
        Err(e) => e.to_value(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_acks_carry_retry_after() {
        let e = AckError::from(GameError::Cooldown {
            retry_after_ms: 1234,
        });
        let v = e.to_value();
        assert_eq!(v["ok"], false);
        assert_eq!(v["error"], "cooldown");
        assert_eq!(v["retry_after_ms"], 1234);
    }

    #[test]
    fn storage_outages_ack_unavailable() {
        let e = AckError::from(GameError::Store(StoreError::Unavailable("down".into())));
        assert_eq!(e.to_value()["error"], "unavailable");
    }
}
