//! Malformed settings stop `pixel-gateway` at start: one line naming the
//! setting, a non-zero status, no backtrace and no wait for Redis.

#[test]
fn malformed_settings_are_refused_at_once_and_named() {
    test_support::assert_refuses_malformed_settings(env!("CARGO_BIN_EXE_pixel-gateway"), true);
}

#[test]
fn a_batching_window_beyond_a_second_is_refused_and_named() {
    let env = [
        ("RELAY_BATCH_MS", "1001"),
        ("REDIS_URL", "redis://127.0.0.1:1/"),
        ("JWT_SECRET", "settings-test-secret-0123456789abcdef"),
    ];
    test_support::assert_refuses_setting(
        env!("CARGO_BIN_EXE_pixel-gateway"),
        &env,
        "RELAY_BATCH_MS",
    );
}
