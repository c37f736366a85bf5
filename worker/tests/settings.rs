//! Malformed settings stop `pixel-worker` at start: one line naming the setting,
//! a non-zero status, no backtrace and no wait for Redis.

const BIN: &str = env!("CARGO_BIN_EXE_pixel-worker");
const SECRET: &str = "settings-test-secret-0123456789abcdef";

#[test]
fn a_redis_url_that_cannot_parse_is_refused_at_once_without_showing_it() {
    let line = test_support::assert_refuses_setting(
        BIN,
        &[("REDIS_URL", "not a url :hunter2@"), ("JWT_SECRET", SECRET)],
        "REDIS_URL",
    );
    assert!(!line.contains("hunter2"), "{line}");
}

#[test]
fn a_number_that_is_not_one_is_refused() {
    test_support::assert_refuses_setting(
        BIN,
        &[
            ("PORT", "eighty"),
            ("REDIS_URL", "redis://127.0.0.1:1/"),
            ("JWT_SECRET", SECRET),
        ],
        "PORT",
    );
}
