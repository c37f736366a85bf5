//! Malformed settings stop `pixel-worker` at start: one line naming the
//! setting, a non-zero status, no backtrace and no wait for Redis.

#[test]
fn malformed_settings_are_refused_at_once_and_named() {
    test_support::assert_refuses_malformed_settings(env!("CARGO_BIN_EXE_pixel-worker"), false);
}
