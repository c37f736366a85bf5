//! The gateway's wire shapes: the contract's event names, every ack as a
//! type, and errors as their ack `{"ok": false, "error": code, "message",
//! "retry_after_ms"?}`. Handlers return `Result<Ack, AckError>`; [`reply`]
//! turns either side into what is sent, so the mapping lives here only.

use pixel_core::ErrorCode;
use pixel_core::auth::TokenError;
use pixel_core::domain::{BoardMeta, Update};
use pixel_core::error::Report;
use pixel_core::game::GameError;
use pixel_core::store::StoreError;
use serde::{Serialize, Serializer};

/// The contract's event names.
pub(crate) mod events {
    /// Client → server, acked.
    pub(crate) const JOIN: &str = "join";
    pub(crate) const LEAVE: &str = "leave";
    pub(crate) const PLACE: &str = "place";
    pub(crate) const AUTH: &str = "auth";
    pub(crate) const SUBSCRIBE: &str = "subscribe";
    /// Server → client.
    pub(crate) const PIXELS: &str = "pixels";
    pub(crate) const RESYNC: &str = "resync";
    pub(crate) const PRESENCE: &str = "presence";
}

/// `true`, always: the `ok` of a successful ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct True;

impl Serialize for True {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(true)
    }
}

/// `false`, always: the `ok` of an error ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct False;

impl Serialize for False {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(false)
    }
}

/// The ack of `join`: the board at `seq`, and with `since`, either the
/// updates after it or `resync: true`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct JoinAck {
    pub ok: True,
    pub seq: u64,
    pub board: BoardMeta,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updates: Option<Vec<Update>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resync: bool,
}

/// The ack of `subscribe`: the tiles' live updates start after `seq`;
/// per tile that asked with a `since`, the updates of the tile after it or
/// `resync: true`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SubscribeAck {
    pub ok: True,
    pub seq: u64,
    pub tiles: Vec<TileAck>,
}

/// One tile of a `subscribe` ack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TileAck {
    pub tile: crate::tiles::TilePair,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updates: Option<Vec<Update>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resync: bool,
}

/// The ack of `place`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct PlaceAck {
    pub ok: True,
    pub update: Update,
    pub cooldown_until: i64,
}

/// The ack of `leave` and `auth`: `{"ok": true}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub(crate) struct Done {
    pub ok: True,
}

/// A successful ack.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum Ack {
    Join(Box<JoinAck>),
    Subscribe(SubscribeAck),
    Place(PlaceAck),
    Done(Done),
}

/// A refusal or failure, acked as `{"ok": false, "error", "message",
/// "retry_after_ms"?}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_ms: Option<i64>,
}

/// An error ack as sent.
#[derive(Serialize)]
struct ErrorAck<'a> {
    ok: False,
    error: ErrorCode,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<i64>,
}

impl Serialize for AckError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ErrorAck {
            ok: False,
            error: self.code,
            message: &self.message,
            retry_after_ms: self.retry_after_ms,
        }
        .serialize(s)
    }
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

    #[cfg(test)]
    fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap()
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
            GameError::Store(e @ StoreError::Unavailable(_)) => {
                tracing::warn!(error = %Report(&e), "storage unavailable");
                Self::new(code, "storage is unavailable; nothing was changed")
            }
            GameError::Store(e @ StoreError::OutcomeUnknown(_)) => {
                tracing::warn!(error = %Report(&e), "placement outcome unknown");
                Self::new(
                    code,
                    "storage did not answer in time; the placement may have been applied (watch the board)",
                )
            }
            GameError::Store(other) => {
                tracing::error!(error = %Report(&other), "store error");
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

/// What is sent for a handler's outcome.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum Reply {
    Ok(Ack),
    Err(AckError),
}

/// The ack payload for a handler's outcome.
pub(crate) fn reply(result: Result<Ack, AckError>) -> Reply {
    match result {
        Ok(v) => Reply::Ok(v),
        Err(e) => Reply::Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pixel_core::store::Cause;

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
    fn acks_have_the_contract_shapes() {
        use serde_json::json;
        let e = AckError::invalid("nope");
        assert_eq!(
            serde_json::to_value(reply(Err(e))).unwrap(),
            json!({"ok": false, "error": "invalid_input", "message": "nope"})
        );
        assert_eq!(
            serde_json::to_value(reply(Ok(Ack::Done(Done::default())))).unwrap(),
            json!({"ok": true})
        );
        let update = Update::decay(4, 1, 2);
        let place = Ack::Place(PlaceAck {
            ok: True,
            update: update.clone(),
            cooldown_until: 99,
        });
        assert_eq!(
            serde_json::to_value(reply(Ok(place))).unwrap(),
            json!({"ok": true, "update": update, "cooldown_until": 99})
        );
    }

    #[test]
    fn storage_outages_ack_unavailable() {
        let e = AckError::from(GameError::Store(StoreError::Unavailable(Cause::msg(
            "down",
        ))));
        assert_eq!(e.to_value()["error"], "unavailable");
    }
}
