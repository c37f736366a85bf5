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
