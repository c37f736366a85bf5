//! The error codes of the public contract (`docs/PROTOCOL.md`). The api maps
//! them to HTTP statuses and the gateway to ack payloads, each in one place.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidInput,
    NotFound,
    Unauthorized,
    TokenExpired,
    NotJoined,
    Cooldown,
    RateLimited,
    /// The server is at capacity and refused the request before doing
    /// anything: nothing was changed; retry after `retry_after_ms`.
    Busy,
    Unavailable,
    EmailTaken,
    InvalidCredentials,
    InvalidToken,
    MethodNotAllowed,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid_input",
            Self::NotFound => "not_found",
            Self::Unauthorized => "unauthorized",
            Self::TokenExpired => "token_expired",
            Self::NotJoined => "not_joined",
            Self::Cooldown => "cooldown",
            Self::RateLimited => "rate_limited",
            Self::Busy => "busy",
            Self::Unavailable => "unavailable",
            Self::EmailTaken => "email_taken",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidToken => "invalid_token",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error and its whole `source` chain on one line (`a: b: c`), for the
/// one place each failure is logged: the boundary that answers for it.
pub struct Report<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut shown = self.0.to_string();
        let mut next = self.0.source();
        while let Some(e) = next {
            let text = e.to_string();
            // A layer whose message already includes its source's text
            // (`storage unavailable: <the Redis error>`) is not repeated.
            if !shown.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            shown = text;
            next = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Report;
    use crate::store::{Cause, StoreError};

    #[test]
    fn a_report_names_each_layer_once() {
        let io = std::io::Error::other("connection refused");
        let e = StoreError::Unavailable(Cause::new(io));
        assert_eq!(e.to_string(), "storage unavailable: connection refused");
        assert_eq!(
            Report(&e).to_string(),
            "storage unavailable: connection refused"
        );
        let e = anyhow::Error::new(e).context("connecting the store");
        assert_eq!(
            Report(e.as_ref()).to_string(),
            "connecting the store: storage unavailable: connection refused"
        );
    }
}
