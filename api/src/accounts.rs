//! Accounts: sign-up, login, refresh-token rotation, logout.
//!
//! Passwords are hashed with argon2id by `crate::hashing`, bounded in CPU,
//! memory and waiting. Refresh tokens are 256-bit random strings; the store
//! only ever sees their SHA-256, so a leaked store cannot mint sessions.
//! Logins are throttled per account (at most `login_max_attempts` failed or
//! pending attempts per window) before any password is checked.
//!
//! A refresh token is `<family>.<secret>`: the family names the login (one
//! store record per login, however often it rotates). The successor of a
//! token is derived from it with a key only the server holds, so a client
//! retrying a rotation whose answer it never got receives the same
//! successor instead of being treated as a thief.

use std::net::IpAddr;
use std::sync::Arc;

use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use pixel_core::auth::{AccessTokens, Claims};
use pixel_core::client_addr::TrustedProxies;
use pixel_core::clock::SharedClock;
use pixel_core::store::{
    AccountStore, Limit, RefreshRecord, RotateOutcome, Rotation, StoreError, UserRecord,
};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::hashing::{HashError, HashLimits, HashPool};

/// What the account rules can refuse or fail with. The api maps each to a
/// status and an error code in one place (`crate::error`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccountError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("wrong email or password")]
    InvalidCredentials,
    /// The `*Throttled` ones carry when the window lets the next attempt
    /// pass, in milliseconds (the api's `Retry-After`).
    #[error("too many failed logins; try again later")]
    LoginThrottled { retry_after_ms: i64 },
    #[error("too many sign-ups from this address; try again later")]
    SignupThrottled { retry_after_ms: i64 },
    #[error("this login refreshed too often; try again later")]
    RefreshThrottled { retry_after_ms: i64 },
    #[error("the refresh token is invalid, expired or revoked")]
    InvalidToken,
    /// An already-rotated token was presented: its login is revoked. Told
    /// apart for metrics only; clients see `invalid_token`.
    #[error("the refresh token is invalid, expired or revoked")]
    TokenReused,
    #[error("the account no longer exists")]
    UnknownUser,
    #[error("the server is busy; try again shortly")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<HashError> for AccountError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Busy,
            HashError::Failed(e) => Self::Internal(e),
        }
    }
}

/// Tunables of the account rules.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    pub refresh_ttl_s: u64,
    pub login_max_attempts: u32,
    pub login_window_ms: i64,
    /// Rotations per login per window (a client refreshes once per access
    /// token lifetime; a loop is refused with 429).
    pub refresh_max: u32,
    pub refresh_window_ms: i64,
    /// How long a rotation whose answer was lost may be retried with the
    /// replaced token.
    pub refresh_retry_grace_ms: i64,
    /// Sign-ups per client address per window.
    pub signup_max_per_address: u32,
    pub signup_window_ms: i64,
    /// Password hashes running at once.
    pub hash_concurrency: usize,
    /// Longest expected wait for a hashing slot, in milliseconds; a request
    /// that would wait longer is refused at once (503).
    pub hash_queue_ms: u64,
    /// At most this many requests waiting for a hashing slot, if set.
    pub hash_queue: Option<usize>,
    /// The proxies whose forwarding headers name the client (the address
    /// sign-ups are counted by).
    pub trusted_proxies: TrustedProxies,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            refresh_ttl_s: 30 * 24 * 3600,
            login_max_attempts: 20,
            login_window_ms: 10 * 60 * 1000,
            refresh_max: 10,
            refresh_window_ms: 60 * 1000,
            refresh_retry_grace_ms: 60 * 1000,
            signup_max_per_address: 20,
            signup_window_ms: 3600 * 1000,
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            hash_queue_ms: 2000,
            hash_queue: Some(10_000),
            trusted_proxies: TrustedProxies::none(),
        }
    }
}

/// A user as the api shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct PublicUser {
    pub id: String,
    pub email: String,
    pub name: String,
}

impl From<&UserRecord> for PublicUser {
    fn from(u: &UserRecord) -> Self {
        Self {
            id: u.id.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
        }
    }
}

/// The token body of sign-up, login and refresh.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct TokenBody {
    /// A JWT for `Authorization: Bearer` and the Socket.IO handshake.
    pub access_token: String,
    /// Opaque; for `/api/auth/refresh` and `/api/auth/logout`.
    pub refresh_token: String,
    #[schema(value_type = String, pattern = "^Bearer$")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub user: PublicUser,
}

/// A normalised email: trimmed, lower-cased, shaped like `local@domain.tld`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Email(String);

impl Email {
    pub(crate) fn parse(raw: &str) -> Result<Self, AccountError> {
        let e = raw.trim().to_lowercase();
        let bad = || AccountError::InvalidInput("email must look like name@example.com".into());
        if e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = e.split_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || local.len() > 64
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(bad());
        }
        Ok(Self(e))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

/// A password of 8 to 1024 characters (the upper bound keeps hashing cheap
/// enough that long inputs are no denial-of-service lever).
pub(crate) fn parse_password(raw: &str) -> Result<&str, AccountError> {
    let n = raw.chars().count();
    if n < 8 {
        return Err(AccountError::InvalidInput(
            "password must be at least 8 characters".into(),
        ));
    }
    if raw.len() > 1024 {
        return Err(AccountError::InvalidInput(
            "password must be at most 1024 bytes".into(),
        ));
    }
    Ok(raw)
}

/// A display name of 1 to 64 printable characters; defaults to the email's
/// local part.
pub(crate) fn parse_name(raw: Option<&str>, email: &Email) -> Result<String, AccountError> {
    let name = raw.map(str::trim).filter(|s| !s.is_empty());
    let name = match name {
        Some(n) => n.to_owned(),
        None => email.local_part().chars().take(64).collect(),
    };
    if name.chars().count() > 64 || name.chars().any(|c| c.is_control() || is_invisible(c)) {
        return Err(AccountError::InvalidInput(
            "name must be 1 to 64 printable characters (no bidi or zero-width characters)".into(),
        ));
    }
    Ok(name)
}

/// Bidi controls and zero-width characters: they make a name render as
/// something else (`Trojan Source`-style spoofing) or as an empty string.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}')
}

/// The account rules. Passwords are only ever stored as argon2id PHC
/// strings and refresh tokens only as their SHA-256; an unknown email costs
/// a login the same hash as a known one; every hash waits in the bounded
/// queue of `crate::hashing` (refused at once when it is full); a refresh
/// token is spent once answered, and presenting a spent one revokes its
/// whole login. It talks to the [`AccountStore`] only; boards never see
/// an account, only the player an access token names.
///
/// What it guarantees:
/// - **Atomic where it matters.** Each store step it takes is atomic (one
///   email, one account; a limiter hit is counted and checked in one step;
///   a token rotates once), so parallel requests on any number of api
///   processes cannot register an email twice or slip past a limit.
/// - **Refused means unchanged.** `InvalidInput`, `EmailTaken`, the
///   `*Throttled` refusals (a throttled attempt is not even counted),
///   `InvalidToken` and `Busy` created no account and no login, and
///   rotated nothing; the only records they leave are the limiters' counts:
///   a login attempt counts once it passed the throttle (so
///   `InvalidCredentials` and a login refused as `Busy` count), a sign-up
///   once it passed its address's limit. `TokenReused` revoked the login it
///   names, on purpose.
/// - **Retries.** A retried refresh whose answer was lost gets the same
///   successor within the grace period, and is not taken for reuse; a
///   retried logout of a revoked login is `InvalidToken`; a retried sign-up
///   whose account was created is `EmailTaken` (the account exists: log in).
/// - **Store errors.** [`AccountError::Store`] is the store's
///   [`StoreError`]: `Unavailable` on a sign-up, a login or a refresh may
///   still have created the account, counted the attempt or rotated the
///   token (a Redis reply lost after the step ran), which the retries above
///   make harmless; it never leaves a half-written account or login.
pub(crate) struct Accounts {
    store: Arc<dyn AccountStore>,
    tokens: Arc<AccessTokens>,
    clock: SharedClock,
    settings: AccountSettings,
    hashing: HashPool,
    /// Verified against when the email is unknown, so that a login for a
    /// missing account costs the same time as one for an existing account.
    dummy_hash: String,
}

impl Accounts {
    /// The account rules over `store`. Makes the dummy hash for unknown
    /// emails first, on the blocking pool: without it a login would tell
    /// unknown emails apart by its speed, so start-up fails if it cannot
    /// be made. Its cost seeds the hashing queue's estimate of waiting.
    pub(crate) async fn start(
        store: Arc<dyn AccountStore>,
        tokens: Arc<AccessTokens>,
        clock: SharedClock,
        settings: AccountSettings,
    ) -> anyhow::Result<Self> {
        let limits = HashLimits {
            concurrency: settings.hash_concurrency,
            max_wait: Duration::from_millis(settings.hash_queue_ms),
            max_waiting: settings.hash_queue,
        };
        // Unmeasured until this first hash measures it.
        let hashing = HashPool::new(limits, Duration::ZERO);
        let dummy_hash = hashing
            .hash("dummy password for timing".to_owned())
            .await
            .context("making the dummy password hash for unknown emails")?;
        Ok(Self {
            store,
            tokens,
            clock,
            hashing,
            settings,
            dummy_hash,
        })
    }

    /// Signs up; `client` is the caller's address when known (sign-ups
    /// per address are limited).
    pub(crate) async fn signup(
        &self,
        email: &str,
        password: &str,
        name: Option<&str>,
        client: Option<IpAddr>,
    ) -> Result<TokenBody, AccountError> {
        let email = Email::parse(email)?;
        let password = parse_password(password)?.to_owned();
        let name = parse_name(name, &email)?;
        if let Some(addr) = client.filter(|_| self.settings.signup_max_per_address > 0) {
            let limit = self
                .store
                .hit_limit(
                    &format!("signup:{addr}"),
                    self.clock.now_ms(),
                    self.settings.signup_window_ms,
                    self.settings.signup_max_per_address,
                )
                .await?;
            if let Limit::Limited { retry_after_ms } = limit {
                tracing::warn!(%addr, "sign-ups throttled for this address");
                return Err(AccountError::SignupThrottled { retry_after_ms });
            }
        }
        if self.store.user_by_email(email.as_str()).await?.is_some() {
            return Err(AccountError::EmailTaken);
        }
        let password_hash = self.hashing.hash(password).await?;
        let user = UserRecord {
            id: uuid::Uuid::new_v4().to_string(),
            email: email.as_str().to_owned(),
            name,
            password_hash,
        };
        // The store's uniqueness check is the authority: two sign-ups racing
        // past the lookup above still yield one account and one 409.
        self.store.create_user(&user).await.map_err(|e| match e {
            StoreError::EmailTaken => AccountError::EmailTaken,
            other => other.into(),
        })?;
        tracing::info!(user_id = %user.id, "user signed up");
        self.issue(&user, new_family()).await
    }

    pub(crate) async fn login(
        &self,
        email: &str,
        password: &str,
    ) -> Result<TokenBody, AccountError> {
        let Ok(email) = Email::parse(email) else {
            return Err(AccountError::InvalidCredentials);
        };
        let now = self.clock.now_ms();
        let limit = self
            .store
            .begin_login_attempt(
                email.as_str(),
                now,
                self.settings.login_window_ms,
                self.settings.login_max_attempts,
            )
            .await?;
        if let Limit::Limited { retry_after_ms } = limit {
            // No email in the log: it is personal data, and the throttle
            // says nothing about who owns it.
            tracing::warn!("login throttled for an account");
            return Err(AccountError::LoginThrottled { retry_after_ms });
        }
        let user = self.store.user_by_email(email.as_str()).await?;
        let hash = user
            .as_ref()
            .map_or_else(|| self.dummy_hash.clone(), |u| u.password_hash.clone());
        let password = password.to_owned();
        let ok = self.hashing.verify(password, hash).await?;
        match user {
            Some(user) if ok => {
                self.store.clear_login_attempts(email.as_str()).await?;
                self.issue(&user, new_family()).await
            }
            _ => Err(AccountError::InvalidCredentials),
        }
    }

    pub(crate) async fn refresh(&self, refresh_token: &str) -> Result<TokenBody, AccountError> {
        let family = token_family(refresh_token).ok_or(AccountError::InvalidToken)?;
        let now = self.clock.now_ms();
        let next = self.successor(refresh_token);
        let presented = token_hash(refresh_token);
        let next_hash = token_hash(&next);
        let outcome = self
            .store
            .rotate_refresh(&Rotation {
                family,
                presented: &presented,
                next: &next_hash,
                next_expires_at: self.refresh_expiry(now),
                now,
                retry_grace_ms: self.settings.refresh_retry_grace_ms,
                max_rotations: self.settings.refresh_max,
                window_ms: self.settings.refresh_window_ms,
            })
            .await?;
        match outcome {
            RotateOutcome::Rotated { user_id } => {
                let user = self
                    .store
                    .user_by_id(&user_id)
                    .await?
                    .ok_or(AccountError::InvalidToken)?;
                // From here on the answer is on its way: the replaced token
                // is spent. Should this fail, it stays retryable for the
                // grace period, which is harmless.
                if let Err(e) = self.store.confirm_refresh(family, &next_hash).await {
                    tracing::warn!(
                        error = %pixel_core::error::Report(&e),
                        "refresh rotation not confirmed"
                    );
                }
                Ok(self.body(&user, next))
            }
            RotateOutcome::Reused => {
                tracing::warn!("refresh token reused: its login's tokens are revoked");
                Err(AccountError::TokenReused)
            }
            RotateOutcome::RateLimited { retry_after_ms } => {
                Err(AccountError::RefreshThrottled { retry_after_ms })
            }
            RotateOutcome::Invalid => Err(AccountError::InvalidToken),
        }
    }

    /// Signs the login out. Any token the login was ever given revokes it,
    /// a spent one included: whoever holds the current one may be a thief.
    pub(crate) async fn logout(&self, refresh_token: &str) -> Result<(), AccountError> {
        let family = token_family(refresh_token).ok_or(AccountError::InvalidToken)?;
        let now = self.clock.now_ms();
        if self.store.revoke_refresh(family, now).await? {
            Ok(())
        } else {
            Err(AccountError::InvalidToken)
        }
    }

    pub(crate) async fn me(&self, claims: &Claims) -> Result<PublicUser, AccountError> {
        let user = self
            .store
            .user_by_id(&claims.sub)
            .await?
            .ok_or(AccountError::UnknownUser)?;
        Ok(PublicUser::from(&user))
    }

    pub(crate) fn settings(&self) -> &AccountSettings {
        &self.settings
    }

    /// The token that replaces `token`, keyed with the server's secret.
    fn successor(&self, token: &str) -> String {
        let family = token_family(token).unwrap_or_default();
        let secret = self.tokens.derive("refresh-rotation", token.as_bytes());
        format!(
            "{family}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        )
    }

    fn refresh_expiry(&self, now: i64) -> i64 {
        now.saturating_add((self.settings.refresh_ttl_s as i64).saturating_mul(1000))
    }

    async fn issue(&self, user: &UserRecord, family: String) -> Result<TokenBody, AccountError> {
        let token = format!("{family}.{}", random_token());
        let now = self.clock.now_ms();
        let record = RefreshRecord {
            user_id: user.id.clone(),
            family,
            expires_at: self.refresh_expiry(now),
        };
        self.store
            .insert_refresh(&token_hash(&token), &record, now)
            .await?;
        Ok(self.body(user, token))
    }

    fn body(&self, user: &UserRecord, refresh_token: String) -> TokenBody {
        TokenBody {
            access_token: self.tokens.issue(&user.id, &user.email, &user.name),
            refresh_token,
            token_type: "Bearer",
            expires_in: self.tokens.ttl_s(),
            user: PublicUser::from(user),
        }
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The family (login id) a refresh token names: 32 lower-case hex digits
/// before the dot. `None` for anything else.
pub fn token_family(token: &str) -> Option<&str> {
    let (family, secret) = token.split_once('.')?;
    (family.len() == 32
        && family
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && !secret.is_empty())
    .then_some(family)
}

fn new_family() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pixel_core::Clock;
    use pixel_core::clock::ManualClock;
    use pixel_core::config::Secret;

    async fn accounts(clock: &ManualClock) -> Accounts {
        let clock: SharedClock = Arc::new(clock.clone());
        let tokens = Arc::new(AccessTokens::new(
            &Secret::new("k".repeat(32)),
            900,
            clock.clone(),
        ));
        Accounts::start(
            pixel_core::Stores::memory().accounts,
            tokens,
            clock,
            AccountSettings::default(),
        )
        .await
        .unwrap()
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "", "ann", "@x.io", "ann@", "ann@x", "a b@x.io", "a@@x.io", "a@x..io", "a@.x.io",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn names_default_to_the_local_part() {
        let e = Email::parse("ann.lee@x.io").unwrap();
        assert_eq!(parse_name(None, &e).unwrap(), "ann.lee");
        assert_eq!(parse_name(Some("  "), &e).unwrap(), "ann.lee");
        assert_eq!(parse_name(Some(" Ann "), &e).unwrap(), "Ann");
        assert!(parse_name(Some(&"x".repeat(65)), &e).is_err());
        assert!(parse_name(Some("a\u{7}b"), &e).is_err());
        for spoof in [
            "ann\u{202E}gpj.exe",
            "a\u{200B}b",
            "\u{2066}x",
            "\u{FEFF}",
            "a\u{200D}",
        ] {
            assert!(parse_name(Some(spoof), &e).is_err(), "{spoof:?}");
        }
        assert_eq!(parse_name(Some("Zoë 🎨"), &e).unwrap(), "Zoë 🎨");
    }

    #[test]
    fn passwords_have_bounds() {
        assert!(parse_password("1234567").is_err());
        assert!(parse_password("12345678").is_ok());
        assert!(parse_password(&"x".repeat(1025)).is_err());
    }

    #[tokio::test]
    async fn refresh_rotates_and_reuse_revokes_the_login() {
        let clock = ManualClock::new(1_700_000_000_000);
        let a = accounts(&clock).await;
        let first = a.signup("ann@x.io", "password1", None, None).await.unwrap();
        let second = a.refresh(&first.refresh_token).await.unwrap();
        assert_ne!(first.refresh_token, second.refresh_token);
        // Replaying the rotated token is refused and kills the live one.
        assert!(matches!(
            a.refresh(&first.refresh_token).await,
            Err(AccountError::TokenReused)
        ));
        assert!(matches!(
            a.refresh(&second.refresh_token).await,
            Err(AccountError::InvalidToken)
        ));
        // Another login of the same user is unaffected.
        let other = a.login("ann@x.io", "password1").await.unwrap();
        assert!(a.refresh(&other.refresh_token).await.is_ok());
    }

    #[tokio::test]
    async fn a_rotation_whose_answer_was_lost_can_be_retried_once_answered_it_is_spent() {
        let clock = ManualClock::new(1_700_000_000_000);
        let a = accounts(&clock).await;
        let first = a.signup("ann@x.io", "password1", None, None).await.unwrap();
        // The store rotated but the api never answered (no confirmation):
        // the client's retry gets the same successor, which works.
        let fam = token_family(&first.refresh_token).unwrap().to_owned();
        let next = a.successor(&first.refresh_token);
        let outcome = a
            .store
            .rotate_refresh(&Rotation {
                family: &fam,
                presented: &token_hash(&first.refresh_token),
                next: &token_hash(&next),
                next_expires_at: a.refresh_expiry(clock.now_ms()),
                now: clock.now_ms(),
                retry_grace_ms: 60_000,
                max_rotations: 10,
                window_ms: 60_000,
            })
            .await
            .unwrap();
        assert!(matches!(outcome, RotateOutcome::Rotated { .. }));
        let retried = a.refresh(&first.refresh_token).await.unwrap();
        assert_eq!(retried.refresh_token, next);
        // That answer went out: the first token is now spent (its reuse
        // revokes the login; clients see `invalid_token` either way).
        assert!(matches!(
            a.refresh(&first.refresh_token).await,
            Err(AccountError::TokenReused)
        ));
        assert!(matches!(
            a.refresh(&next).await,
            Err(AccountError::InvalidToken)
        ));
    }

    #[tokio::test]
    async fn logout_with_a_spent_token_revokes_the_login() {
        let clock = ManualClock::new(1_700_000_000_000);
        let a = accounts(&clock).await;
        let first = a.signup("ann@x.io", "password1", None, None).await.unwrap();
        let second = a.refresh(&first.refresh_token).await.unwrap();
        a.logout(&first.refresh_token).await.unwrap();
        assert!(matches!(
            a.refresh(&second.refresh_token).await,
            Err(AccountError::InvalidToken)
        ));
    }

    #[tokio::test]
    async fn refresh_loops_are_limited() {
        let clock = ManualClock::new(1_700_000_000_000);
        let a = accounts(&clock).await;
        let mut t = a.signup("ann@x.io", "password1", None, None).await.unwrap();
        for _ in 0..10 {
            t = a.refresh(&t.refresh_token).await.unwrap();
        }
        assert!(matches!(
            a.refresh(&t.refresh_token).await,
            Err(AccountError::RefreshThrottled { .. })
        ));
        clock.advance(60_000);
        assert!(a.refresh(&t.refresh_token).await.is_ok());
    }

    #[tokio::test]
    async fn refresh_tokens_expire() {
        let clock = ManualClock::new(1_700_000_000_000);
        let a = accounts(&clock).await;
        let t = a.signup("ann@x.io", "password1", None, None).await.unwrap();
        clock.advance(30 * 24 * 3600 * 1000);
        assert!(matches!(
            a.refresh(&t.refresh_token).await,
            Err(AccountError::InvalidToken)
        ));
    }

    #[tokio::test]
    async fn logins_are_throttled_per_account_until_the_window_passes() {
        let clock = ManualClock::new(1_700_000_000_000);
        let a = accounts(&clock).await;
        a.signup("ann@x.io", "password1", None, None).await.unwrap();
        for _ in 0..20 {
            assert!(matches!(
                a.login("ann@x.io", "wrong-pass").await,
                Err(AccountError::InvalidCredentials)
            ));
        }
        assert!(matches!(
            a.login("ann@x.io", "password1").await,
            Err(AccountError::LoginThrottled { .. })
        ));
        assert!(matches!(
            a.login("ANN@x.io", "password1").await,
            Err(AccountError::LoginThrottled { .. })
        ));
        // Another account is not affected.
        a.signup("bob@x.io", "password1", None, None).await.unwrap();
        assert!(a.login("bob@x.io", "password1").await.is_ok());
        clock.advance(10 * 60 * 1000);
        assert!(a.login("ann@x.io", "password1").await.is_ok());
    }

    #[tokio::test]
    async fn duplicate_emails_are_refused_case_insensitively() {
        let clock = ManualClock::new(0);
        let a = accounts(&clock).await;
        a.signup("ann@x.io", "password1", Some("Ann"), None)
            .await
            .unwrap();
        assert!(matches!(
            a.signup("ANN@X.IO", "password2", None, None).await,
            Err(AccountError::EmailTaken)
        ));
    }
}
