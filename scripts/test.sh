#!/usr/bin/env bash
# The whole test suite, as the README gives it and CI runs it:
#   1. formatting and clippy (warnings are errors);
#   2. every Rust test (unit and integration);
#   3. the JS contract suite (official socket.io-client) against the
#      standalone server.
# It installs what it needs and stops every process it started.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
trap stop_started EXIT

need_cmd curl curl

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "cargo test"
cargo test --workspace --locked

log "JS contract suite against the standalone server"
(cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
cargo build --locked --bin realtime-pixel
port=$(free_port)
export PIXEL_URL="http://127.0.0.1:$port"
export JWT_SECRET="test-secret-for-the-contract-suite-0123456789"
export COOLDOWN_MS=1000 TTL_MS=3000 BOARD_WIDTH=64 BOARD_HEIGHT=64
export SOCKET_EVENT_RATE=20 SOCKET_EVENT_BURST=40 MAX_PAYLOAD_BYTES=16384
start standalone env PORT="$port" BIND_ADDR=127.0.0.1 RUST_LOG=warn ./target/debug/realtime-pixel
wait_http "$PIXEL_URL/readyz"
(cd tests/js && node --test --test-concurrency=1 --test-timeout=60000 --test-reporter=spec)
stop_started

log "all tests passed"
