//! Access tokens: HS256 JWTs carrying `sub`, `email`, `name`, `iat`, `exp`.
//! The api issues them; the api and the gateway verify them.
//!
//! Expiry is checked against our [`Clock`](crate::Clock) rather than inside
//! jsonwebtoken, so that tests move time instead of sleeping, and with no
//! leeway: `token_expired` means exactly "past `exp`".

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::SharedClock;
use crate::config::Secret;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub email: String,
    pub name: String,
    pub iat: i64,
    pub exp: i64,
}

impl Claims {
    /// The expiry in Unix epoch milliseconds.
    pub fn exp_ms(&self) -> i64 {
        self.exp.saturating_mul(1000)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token_expired")]
    Expired,
    #[error("unauthorized")]
    Invalid,
}

impl TokenError {
    pub fn code(self) -> crate::ErrorCode {
        match self {
            Self::Expired => crate::ErrorCode::TokenExpired,
            Self::Invalid => crate::ErrorCode::Unauthorized,
        }
    }
}

/// Issues and verifies access tokens with one HS256 key.
pub struct AccessTokens {
    /// Key of [`AccessTokens::derive`], itself derived from the secret so
    /// that it never equals the signing key.
    derive_key: [u8; 32],
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_s: i64,
    clock: SharedClock,
}

impl AccessTokens {
    pub fn new(secret: &Secret, ttl_s: u64, clock: SharedClock) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let derive_key = Sha256::new()
            .chain_update(b"realtime-pixel derive key\0")
            .chain_update(secret.expose().as_bytes())
            .finalize()
            .into();
        Self {
            derive_key,
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            ttl_s: ttl_s.min(i64::MAX as u64) as i64,
            clock,
        }
    }

    /// Lifetime of new tokens, in seconds (the token body's `expires_in`).
    pub fn ttl_s(&self) -> i64 {
        self.ttl_s
    }

    pub fn issue(&self, user_id: &str, email: &str, name: &str) -> String {
        let iat = self.clock.now_ms() / 1000;
        let claims = Claims {
            sub: user_id.to_owned(),
            email: email.to_owned(),
            name: name.to_owned(),
            iat,
            exp: iat.saturating_add(self.ttl_s),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            // HS256 encoding of a plain struct has no failure mode.
            .expect("HS256 encoding cannot fail")
    }

    /// A keyed one-way function of `input` (SHA-256 over a key derived
    /// from the secret, then `label` and `input`): the refresh token that
    /// replaces a presented one is derived with it, so that a retried
    /// rotation names the same successor, while nobody without the secret
    /// can compute a successor.
    pub fn derive(&self, label: &str, input: &[u8]) -> [u8; 32] {
        Sha256::new()
            .chain_update(self.derive_key)
            .chain_update((label.len() as u64).to_be_bytes())
            .chain_update(label.as_bytes())
            .chain_update(input)
            .finalize()
            .into()
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        if data.claims.exp_ms() <= self.clock.now_ms() {
            return Err(TokenError::Expired);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::Arc;

    fn tokens(clock: &ManualClock, secret: &str) -> AccessTokens {
        AccessTokens::new(&Secret::new(secret.into()), 900, Arc::new(clock.clone()))
    }

    #[test]
    fn a_fresh_token_verifies_and_carries_the_user() {
        let clock = ManualClock::new(1_700_000_000_000);
        let t = tokens(&clock, "a-secret-that-is-long-enough-32b!");
        let c = t.verify(&t.issue("u1", "a@b.c", "ann")).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.email.as_str(), c.name.as_str()),
            ("u1", "a@b.c", "ann")
        );
        assert_eq!(c.exp - c.iat, 900);
    }

    #[test]
    fn a_token_expires_exactly_at_exp() {
        let clock = ManualClock::new(1_700_000_000_000);
        let t = tokens(&clock, "a-secret-that-is-long-enough-32b!");
        let tok = t.issue("u1", "a@b.c", "ann");
        clock.advance(899_999);
        assert!(t.verify(&tok).is_ok());
        clock.advance(1);
        assert_eq!(t.verify(&tok), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_from_another_key_or_garbage_is_invalid() {
        let clock = ManualClock::new(1_700_000_000_000);
        let a = tokens(&clock, "a-secret-that-is-long-enough-32b!");
        let b = tokens(&clock, "another-secret-that-is-long-enough");
        assert_eq!(
            b.verify(&a.issue("u1", "a@b.c", "ann")),
            Err(TokenError::Invalid)
        );
        assert_eq!(a.verify("not.a.jwt"), Err(TokenError::Invalid));
        assert_eq!(a.verify(""), Err(TokenError::Invalid));
    }

    #[test]
    fn derivation_is_keyed_and_deterministic() {
        let clock = ManualClock::new(0);
        let a = tokens(&clock, "a-secret-that-is-long-enough-32b!");
        let b = tokens(&clock, "another-secret-that-is-long-enough");
        assert_eq!(a.derive("r", b"x"), a.derive("r", b"x"));
        assert_ne!(a.derive("r", b"x"), b.derive("r", b"x"));
        assert_ne!(a.derive("r", b"x"), a.derive("s", b"x"));
        assert_ne!(a.derive("r", b"x"), a.derive("r", b"y"));
    }
}
