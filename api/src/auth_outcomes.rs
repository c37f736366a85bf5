//! `api_auth_total{action,outcome}`: what became of each sign-up, login,
//! refresh and logout. Both labels come from fixed sets, so a client cannot
//! create series at will; an operator sees credential stuffing (`login`
//! `failed`/`throttled`) and stolen refresh tokens (`refresh` `reused`)
//! without reading logs.

use crate::error::ApiError;

/// The account actions the api counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthAction {
    Signup,
    Login,
    Refresh,
    Logout,
}

impl AuthAction {
    fn label(self) -> &'static str {
        match self {
            Self::Signup => "signup",
            Self::Login => "login",
            Self::Refresh => "refresh",
            Self::Logout => "logout",
        }
    }
}

/// The outcome label of `action` finishing with `result`:
/// signup `ok`/`taken`/`invalid`, login `ok`/`failed`/`throttled`/`invalid`,
/// refresh `rotated`/`reused`/`invalid`, logout `ok`/`invalid`, and `error`
/// for anything else (storage down, internal errors).
pub(crate) fn outcome<T>(action: AuthAction, result: &Result<T, ApiError>) -> &'static str {
    use ApiError as E;
    match (action, result) {
        (AuthAction::Refresh, Ok(_)) => "rotated",
        (_, Ok(_)) => "ok",
        (AuthAction::Signup, Err(E::EmailTaken)) => "taken",
        (AuthAction::Login, Err(E::InvalidCredentials)) => "failed",
        (AuthAction::Login, Err(E::RateLimited { .. })) => "throttled",
        (AuthAction::Refresh, Err(E::TokenReused)) => "reused",
        (_, Err(E::InvalidInput(_) | E::TooLarge | E::InvalidToken)) => "invalid",
        (_, Err(_)) => "error",
    }
}

/// Counts one finished `action`.
pub(crate) fn record<T>(action: AuthAction, result: &Result<T, ApiError>) {
    metrics::counter!(
        "api_auth_total",
        "action" => action.label(),
        "outcome" => outcome(action, result),
    )
    .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use AuthAction::*;

    fn ok() -> Result<(), ApiError> {
        Ok(())
    }

    fn err(e: ApiError) -> Result<(), ApiError> {
        Err(e)
    }

    #[test]
    fn outcomes_name_what_happened() {
        let invalid = || err(ApiError::InvalidInput("x".into()));
        assert_eq!(outcome(Signup, &ok()), "ok");
        assert_eq!(outcome(Signup, &err(ApiError::EmailTaken)), "taken");
        assert_eq!(outcome(Signup, &invalid()), "invalid");
        assert_eq!(outcome(Login, &ok()), "ok");
        assert_eq!(outcome(Login, &err(ApiError::InvalidCredentials)), "failed");
        assert_eq!(
            outcome(
                Login,
                &err(ApiError::RateLimited {
                    message: "slow down".into(),
                    retry_after_s: 1
                })
            ),
            "throttled"
        );
        assert_eq!(outcome(Login, &invalid()), "invalid");
        assert_eq!(outcome(Refresh, &ok()), "rotated");
        assert_eq!(outcome(Refresh, &err(ApiError::TokenReused)), "reused");
        assert_eq!(outcome(Refresh, &err(ApiError::InvalidToken)), "invalid");
        assert_eq!(outcome(Logout, &ok()), "ok");
        assert_eq!(outcome(Logout, &err(ApiError::InvalidToken)), "invalid");
        assert_eq!(
            outcome(
                Login,
                &err(ApiError::Unavailable(
                    pixel_core::store::StoreError::Unavailable(pixel_core::store::Cause::msg(
                        "down"
                    ))
                ))
            ),
            "error"
        );
    }
}
