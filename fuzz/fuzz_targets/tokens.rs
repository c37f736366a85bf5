//! Tokens: access tokens (JWTs) as presented in a handshake or an
//! `Authorization` header, and refresh tokens as presented to refresh and
//! logout. Garbage must be refused, never panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use pixel_core::auth::AccessTokens;
use pixel_core::clock::ManualClock;
use pixel_core::config::Secret;

fn tokens() -> &'static AccessTokens {
    static T: OnceLock<AccessTokens> = OnceLock::new();
    T.get_or_init(|| {
        AccessTokens::new(
            &Secret::new("fuzzing-secret-that-is-long-enough-0123".into()),
            900,
            Arc::new(ManualClock::new(1_800_000_000_000)),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    assert!(tokens().verify(s).is_err() || s.split('.').count() == 3);
    if let Some(family) = api::token_family(s) {
        assert_eq!(family.len(), 32);
        assert!(s.starts_with(family));
    }
});
