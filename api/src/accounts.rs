//! Accounts: sign-up, login, refresh-token rotation, logout.
//!
//! Passwords are hashed with argon2id (the `argon2` crate's defaults, OWASP's
//! recommended parameters) on the blocking pool, since a hash costs tens of
//! milliseconds of CPU. Refresh tokens are 256-bit random strings; the store
//! only ever sees their SHA-256, so a leaked store cannot mint sessions.
//! Logins are throttled per account (at most `login_max_attempts` failed or
//! pending attempts per window) before any password is checked.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use pixel_core::auth::{AccessTokens, Claims};
use pixel_core::clock::SharedClock;
use pixel_core::store::{RefreshRecord, RotateOutcome, Store, UserRecord};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Tunables of the account rules.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    pub refresh_ttl_s: u64,
    pub login_max_attempts: u32,
    pub login_window_ms: i64,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            refresh_ttl_s: 30 * 24 * 3600,
            login_max_attempts: 20,
            login_window_ms: 10 * 60 * 1000,
        }
    }
}

/// A user as the api shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PublicUser {
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
#[derive(Debug, Clone, Serialize)]
pub struct TokenBody {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub user: PublicUser,
}

/// A normalised email: trimmed, lower-cased, shaped like `local@domain.tld`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let e = raw.trim().to_lowercase();
        let bad = || ApiError::InvalidInput("email must look like name@example.com".into());
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

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

/// A password of 8 to 1024 characters (the upper bound keeps hashing cheap
/// enough that long inputs are no denial-of-service lever).
pub fn parse_password(raw: &str) -> Result<&str, ApiError> {
    let n = raw.chars().count();
    if n < 8 {
        return Err(ApiError::InvalidInput(
            "password must be at least 8 characters".into(),
        ));
    }
    if raw.len() > 1024 {
        return Err(ApiError::InvalidInput(
            "password must be at most 1024 bytes".into(),
        ));
    }
    Ok(raw)
}

/// A display name of 1 to 64 printable characters; defaults to the email's
/// local part.
pub fn parse_name(raw: Option<&str>, email: &Email) -> Result<String, ApiError> {
    let name = raw.map(str::trim).filter(|s| !s.is_empty());
    let name = match name {
        Some(n) => n.to_owned(),
        None => email.local_part().chars().take(64).collect(),
    };
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::InvalidInput(
            "name must be 1 to 64 printable characters".into(),
        ));
    }
    Ok(name)
}

pub struct Accounts {
    store: Arc<dyn Store>,
    tokens: Arc<AccessTokens>,
    clock: SharedClock,
    settings: AccountSettings,
    /// Verified against when the email is unknown, so that a login for a
    /// missing account costs the same time as one for an existing account.
    dummy_hash: String,
}

impl Accounts {
    pub fn new(
        store: Arc<dyn Store>,
        tokens: Arc<AccessTokens>,
        clock: SharedClock,
        settings: AccountSettings,
    ) -> Self {
        let dummy_hash = hash_password_now("dummy password for timing").unwrap_or_default();
        Self {
            store,
            tokens,
            clock,
            settings,
            dummy_hash,
        }
    }

    pub async fn signup(
        &self,
        email: &str,
        password: &str,
        name: Option<&str>,
    ) -> Result<TokenBody, ApiError> {
        let email = Email::parse(email)?;
        let password = parse_password(password)?.to_owned();
        let name = parse_name(name, &email)?;
        if self.store.user_by_email(email.as_str()).await?.is_some() {
            return Err(ApiError::EmailTaken);
        }
        let password_hash = tokio::task::spawn_blocking(move || hash_password_now(&password))
            .await
            .map_err(|e| ApiError::Internal(e.into()))??;
        let user = UserRecord {
            id: uuid::Uuid::new_v4().to_string(),
            email: email.as_str().to_owned(),
            name,
            password_hash,
        };
        // The store's uniqueness check is the authority: two sign-ups racing
        // past the lookup above still yield one account and one 409.
        self.store.create_user(&user).await?;
        tracing::info!(user_id = %user.id, "user signed up");
        self.issue(&user, new_family()).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<TokenBody, ApiError> {
        let Ok(email) = Email::parse(email) else {
            return Err(ApiError::InvalidCredentials);
        };
        let now = self.clock.now_ms();
        let allowed = self
            .store
            .begin_login_attempt(
                email.as_str(),
                now,
                self.settings.login_window_ms,
                self.settings.login_max_attempts,
            )
            .await?;
        if !allowed {
            tracing::warn!(email = %email.as_str(), "login throttled");
            return Err(ApiError::RateLimited);
        }
        let user = self.store.user_by_email(email.as_str()).await?;
        let hash = user
            .as_ref()
            .map_or_else(|| self.dummy_hash.clone(), |u| u.password_hash.clone());
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        match user {
            Some(user) if ok => {
                self.store.clear_login_attempts(email.as_str()).await?;
                self.issue(&user, new_family()).await
            }
            _ => Err(ApiError::InvalidCredentials),
        }
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenBody, ApiError> {
        let now = self.clock.now_ms();
        let new_token = random_token();
        let outcome = self
            .store
            .rotate_refresh(
                &token_hash(refresh_token),
                &token_hash(&new_token),
                self.refresh_expiry(now),
                now,
            )
            .await?;
        match outcome {
            RotateOutcome::Rotated { user_id } => {
                let user = self
                    .store
                    .user_by_id(&user_id)
                    .await?
                    .ok_or(ApiError::InvalidToken)?;
                Ok(self.body(&user, new_token))
            }
            RotateOutcome::Reused => {
                tracing::warn!("refresh token reused: its login's tokens are revoked");
                Err(ApiError::TokenReused)
            }
            RotateOutcome::Invalid => Err(ApiError::InvalidToken),
        }
    }

    pub async fn logout(&self, refresh_token: &str) -> Result<(), ApiError> {
        let now = self.clock.now_ms();
        if self
            .store
            .revoke_refresh(&token_hash(refresh_token), now)
            .await?
        {
            Ok(())
        } else {
            Err(ApiError::InvalidToken)
        }
    }

    pub async fn me(&self, claims: &Claims) -> Result<PublicUser, ApiError> {
        let user = self
            .store
            .user_by_id(&claims.sub)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(PublicUser::from(&user))
    }

    fn refresh_expiry(&self, now: i64) -> i64 {
        now.saturating_add((self.settings.refresh_ttl_s as i64).saturating_mul(1000))
    }

    async fn issue(&self, user: &UserRecord, family: String) -> Result<TokenBody, ApiError> {
        let token = random_token();
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

fn hash_password_now(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing failed: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
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

fn new_family() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pixel_core::clock::ManualClock;
    use pixel_core::config::Secret;
    use pixel_core::store::MemoryStore;

    fn accounts(clock: &ManualClock) -> Accounts {
        let clock: SharedClock = Arc::new(clock.clone());
        let tokens = Arc::new(AccessTokens::new(
            &Secret::new("k".repeat(32)),
            900,
            clock.clone(),
        ));
        Accounts::new(
            Arc::new(MemoryStore::new()),
            tokens,
            clock,
            AccountSettings::default(),
        )
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
        let a = accounts(&clock);
        let first = a.signup("ann@x.io", "password1", None).await.unwrap();
        let second = a.refresh(&first.refresh_token).await.unwrap();
        assert_ne!(first.refresh_token, second.refresh_token);
        // Replaying the rotated token is refused and kills the live one.
        assert!(matches!(
            a.refresh(&first.refresh_token).await,
            Err(ApiError::TokenReused)
        ));
        assert!(matches!(
            a.refresh(&second.refresh_token).await,
            Err(ApiError::InvalidToken)
        ));
        // Another login of the same user is unaffected.
        let other = a.login("ann@x.io", "password1").await.unwrap();
        assert!(a.refresh(&other.refresh_token).await.is_ok());
    }

    #[tokio::test]
    async fn refresh_tokens_expire() {
        let clock = ManualClock::new(1_700_000_000_000);
        let a = accounts(&clock);
        let t = a.signup("ann@x.io", "password1", None).await.unwrap();
        clock.advance(30 * 24 * 3600 * 1000);
        assert!(matches!(
            a.refresh(&t.refresh_token).await,
            Err(ApiError::InvalidToken)
        ));
    }

    #[tokio::test]
    async fn logins_are_throttled_per_account_until_the_window_passes() {
        let clock = ManualClock::new(1_700_000_000_000);
        let a = accounts(&clock);
        a.signup("ann@x.io", "password1", None).await.unwrap();
        for _ in 0..20 {
            assert!(matches!(
                a.login("ann@x.io", "wrong-pass").await,
                Err(ApiError::InvalidCredentials)
            ));
        }
        assert!(matches!(
            a.login("ann@x.io", "password1").await,
            Err(ApiError::RateLimited)
        ));
        assert!(matches!(
            a.login("ANN@x.io", "password1").await,
            Err(ApiError::RateLimited)
        ));
        // Another account is not affected.
        a.signup("bob@x.io", "password1", None).await.unwrap();
        assert!(a.login("bob@x.io", "password1").await.is_ok());
        clock.advance(10 * 60 * 1000);
        assert!(a.login("ann@x.io", "password1").await.is_ok());
    }

    #[tokio::test]
    async fn duplicate_emails_are_refused_case_insensitively() {
        let clock = ManualClock::new(0);
        let a = accounts(&clock);
        a.signup("ann@x.io", "password1", Some("Ann"))
            .await
            .unwrap();
        assert!(matches!(
            a.signup("ANN@X.IO", "password2", None).await,
            Err(ApiError::EmailTaken)
        ));
    }
}
