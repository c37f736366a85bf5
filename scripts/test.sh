#!/usr/bin/env bash
# The whole test suite, as the README gives it and CI runs it:
#   1. formatting and clippy (warnings are errors);
#   2. every Rust test, unit and integration (the Redis store's against a
#      real redis-server);
#   3. the JS contract suite (official socket.io-client) and the web page
#      in headless Chromium, against the standalone server; schemathesis
#      against its OpenAPI document (/api/openapi.json);
#   4. a local cluster (redis-server, api, 3 gateways, 2 workers, nginx):
#      the same contract suite and page test through nginx, then the
#      cluster drills;
#   5. operations (scripts/test-ops.sh): static checks of the Dockerfile,
#      compose file, Helm chart, Prometheus rules; a real Prometheus
#      against the cluster; the images built and run with podman;
#   6. a seconds-long smoke run of the benchmark harness (scripts/bench.sh).
# It installs what it needs (Debian packages, npm packages) and stops every
# process it started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export RUN_DIR="$ROOT/.run/test"
# A previous run that was killed left processes behind: stop them (by the
# pid files it left, and only processes started from this checkout) before
# its pid files go.
if [ -d "$RUN_DIR" ]; then
  if [ -d "$RUN_DIR/cluster/pids" ]; then
    CLUSTER_DIR="$RUN_DIR/cluster" scripts/cluster.sh down >/dev/null 2>&1 || true
  fi
  for f in "$RUN_DIR"/*.pid "$RUN_DIR"/*/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null && [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$ROOT" ]; then
      kill "$pid" 2>/dev/null || true
    fi
  done
fi
rm -rf "$RUN_DIR"
source scripts/lib.sh

CLUSTER_DIR="$RUN_DIR/cluster"
STREAM_CLUSTER_DIR="$RUN_DIR/stream-cluster"
cleanup() {
  stop_started
  local dir
  for dir in "$CLUSTER_DIR" "$STREAM_CLUSTER_DIR"; do
    if [ -d "$dir/pids" ]; then
      CLUSTER_DIR=$dir scripts/cluster.sh down >/dev/null 2>&1 || true
    fi
  done
}
trap cleanup EXIT

need_cmd curl curl
need_cmd python3 python3
need_cmd node nodejs
need_cmd npm npm
need_cmd redis-server redis-server
need_cmd nginx nginx
need_cmd chromium chromium

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "cargo test"
cargo test --workspace --locked

# ---- operations (issue 8): static checks --------------------------------
log "ops: Dockerfile, compose, Helm chart, Prometheus rules"
scripts/test-ops.sh static
# --------------------------------------------------------------------------

log "npm packages for the JS suites"
(cd tests/js && npm ci --no-audit --no-fund --loglevel=error)

# ---- web page modules (issue 10): type-check and unit-test the page's ES modules ----
log "web page: tsc --noEmit and node --test (pure modules, no DOM)"
(cd web && npm ci --no-audit --no-fund --loglevel=error && npx tsc --noEmit -p . && node --test --test-reporter=spec test/)
# ---- end web page modules ----

# Settings shared by the server under test and the suites.
export JWT_SECRET="test-secret-for-the-contract-suite-0123456789"
export COOLDOWN_MS=1000 TTL_MS=3000 BOARD_WIDTH=64 BOARD_HEIGHT=64
export SOCKET_EVENT_RATE=20 SOCKET_EVENT_BURST=40 MAX_PAYLOAD_BYTES=16384
# Every suite client shares 127.0.0.1: per-address limits are off for the
# contract suites, the hashing queue takes their bursts of sign-ups, and a
# 200-placement burst from one socket is not shed as `busy` (the hardening
# tests check every limit on their own).
export SIGNUPS_PER_ADDRESS_HOUR=0 MAX_CONNECTIONS_PER_ADDRESS=0 HASH_QUEUE=10000 PLACE_CONCURRENCY=1000 NGINX_AUTH_RATE=10000r/s NGINX_AUTH_BURST=10000 NGINX_CONN_PER_ADDR=10000
export SCREENSHOT_DIR="$RUN_DIR/screenshots"
contract_suite() {
  (cd tests/js && node --test --test-concurrency=1 --test-timeout=120000 --test-reporter=spec ./*.test.mjs)
  (cd tests/js && node --test --test-concurrency=1 --test-timeout=120000 --test-reporter=spec ./browser/*.test.mjs)
}

log "JS contract suite against the standalone server"
cargo build --locked --bin realtime-pixel
port=$(free_port)
start standalone env PORT="$port" BIND_ADDR=127.0.0.1 RUST_LOG=warn ./target/debug/realtime-pixel
export PIXEL_URL="http://127.0.0.1:$port"
wait_http "$PIXEL_URL/readyz"
contract_suite
stop_started

# Engine.IO v4 protocol cases (raw HTTP and WebSocket) need a short
# heartbeat and connect timeout: a server of their own.
log "Engine.IO protocol cases against the standalone server"
port=$(free_port)
start engine-standalone env PORT="$port" BIND_ADDR=127.0.0.1 RUST_LOG=warn \
  PING_INTERVAL_MS=300 PING_TIMEOUT_MS=200 CONNECT_TIMEOUT_MS=2000 ./target/debug/realtime-pixel
wait_http "http://127.0.0.1:$port/readyz"
(cd tests/js && PIXEL_URL="http://127.0.0.1:$port" node --test --test-concurrency=1 --test-timeout=60000 --test-reporter=spec ./engine/*.test.mjs)
stop_started

# ---- OpenAPI (issue 9) ----------------------------------------------------
# schemathesis (PyPI, in a venv under .run/) against the document the
# standalone server serves at /api/openapi.json: generated requests to every
# operation, signed in; fails on any 5xx and on any status, content type or
# body the document does not describe. Its own server; sign-ups are not
# limited per address, so that the stateful phase can follow sign-up into
# refresh and logout (with the limit, 20 sign-ups in, every one is a 429).
log "OpenAPI: schemathesis against the standalone server"
port=$(free_port)
start openapi-standalone env PORT="$port" BIND_ADDR=127.0.0.1 RUST_LOG=warn \
  SIGNUPS_PER_ADDRESS_HOUR=0 ./target/debug/realtime-pixel
wait_http "http://127.0.0.1:$port/readyz"
scripts/schemathesis.sh "http://127.0.0.1:$port"
stop_started
# ---- end OpenAPI ----------------------------------------------------------

log "local cluster: 3 gateways and 2 workers behind nginx"
export CLUSTER_DIR PROFILE=debug GATEWAYS=3 WORKERS=2 RUST_LOG=warn
NGINX_PORT=$(free_port) API_PORT=$(free_port) WORKER_PORT=$(free_port) REDIS_PORT=$(free_port)
GATEWAY_PORTS="$(free_port) $(free_port) $(free_port)"
export NGINX_PORT API_PORT WORKER_PORT REDIS_PORT GATEWAY_PORTS
# ---- fault drills (issue 9) ----------------------------------------------
# tests/js/cluster/faults.test.mjs (run by the "cluster drills" step below)
# sends SIGTERM to gateways, the api and a worker under load: each stays
# unready-but-serving for 1 s, so the drills see /readyz 503 before it goes.
export SHUTDOWN_READY_DELAY_MS=1000
# ---- end fault drills -----------------------------------------------------
scripts/cluster.sh up
export PIXEL_URL="http://127.0.0.1:$NGINX_PORT"
# nginx does not proxy /metrics: the ops routes are checked on the api.
export PIXEL_OPS_URL="http://127.0.0.1:$API_PORT"

log "JS contract suite through nginx"
contract_suite

# ---- operations (issue 8): Prometheus against the cluster ----------------
# Before the drills, which stop and restart processes.
log "ops: a real Prometheus scraping the cluster; rules and dashboard queries"
scripts/test-ops.sh live
# --------------------------------------------------------------------------

log "cluster drills"
(cd tests/js && node --test --test-concurrency=1 --test-timeout=180000 --test-reporter=spec ./cluster/*.test.mjs)

# ---- hardening (issue 9) --------------------------------------------------
# A second nginx from the same template, with small per-address limits, in
# front of the running cluster: auth flood, connection flood, headers.
log "hardening: nginx limits and headers"
HARDEN_DIR="$RUN_DIR/harden-nginx"
mkdir -p "$HARDEN_DIR/nginx-tmp"
HARDEN_PORT=$(free_port)
gw_servers=""
for p in $GATEWAY_PORTS; do gw_servers+="server 127.0.0.1:$p; "; done
harden_render() {
  python3 - "$1" "$2" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
open(sys.argv[2], "w").write(re.sub(r"\$\{([A-Z_]+)\}", lambda m: os.environ[m.group(1)], text))
PY
}
LISTEN_PORT="127.0.0.1:$HARDEN_PORT" WEB_ROOT="$ROOT/web" API_SERVERS="server 127.0.0.1:$API_PORT;" \
  GATEWAY_SERVERS="$gw_servers" NGINX_AUTH_RATE=1r/s NGINX_AUTH_BURST=5 NGINX_CONN_PER_ADDR=4 \
  harden_render nginx/realtime-pixel.conf.template "$HARDEN_DIR/realtime-pixel.conf"
RUN_DIR=$HARDEN_DIR MIME_TYPES=/etc/nginx/mime.types \
  harden_render nginx/nginx.conf.template "$HARDEN_DIR/nginx.conf"
start harden-nginx nginx -p "$HARDEN_DIR" -c "$HARDEN_DIR/nginx.conf"
wait_http "http://127.0.0.1:$HARDEN_PORT/nginx-healthz"
(cd tests/js && HARDEN_NGINX_URL="http://127.0.0.1:$HARDEN_PORT" NGINX_AUTH_BURST=5 NGINX_CONN_PER_ADDR=4 \
  node --test --test-concurrency=1 --test-timeout=120000 --test-reporter=spec ./harden/*.test.mjs)
stop_started

# Fuzz smoke: each libFuzzer target for a few seconds, plus the inputs that
# once crashed (fuzz/regressions). cargo-fuzz on the stable toolchain needs
# RUSTC_BOOTSTRAP=1 (see fuzz/README.md). The first build takes minutes;
# SKIP_FUZZ=1 skips this step.
if [ "${SKIP_FUZZ:-0}" != 1 ]; then
  log "hardening: fuzz smoke"
  command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
  for t in socket_payloads tokens feed_entries; do
    regressions=()
    [ -d "fuzz/regressions/$t" ] && regressions=("fuzz/regressions/$t"/*)
    if [ "${#regressions[@]}" -gt 0 ]; then
      (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none -O "$t" "${regressions[@]/#/../}" -- -runs=0)
    fi
    (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none -O "$t" -- -max_total_time=5)
  done
fi
# ---- end of hardening -----------------------------------------------------

# ---- web page on the cluster (issue 10): pages pinned to gateways, a gateway killed ----
log "web page against the cluster's gateways"
(cd tests/js && node --test --test-concurrency=1 --test-timeout=180000 --test-reporter=spec ./browser/cluster/*.test.mjs)
# ---- end web page on the cluster ----

scripts/cluster.sh down

# ---- operations (issue 8): the images, built and run with podman ----------
log "ops: images built and run with podman"
scripts/test-ops.sh images
# --------------------------------------------------------------------------

# The board stream's guarantees (order without holes, batching, outages,
# resync) need placements as fast as acks return: no cooldown, a high
# per-socket event rate. Once against the standalone server's in-memory
# feed, once against a cluster's Redis streams.
stream_suite() {
  (cd tests/js && node --test --test-concurrency=1 --test-timeout=300000 --test-reporter=spec ./stream/*.test.mjs)
}
export COOLDOWN_MS=0 TTL_MS=2000 SOCKET_EVENT_RATE=5000 SOCKET_EVENT_BURST=5000 PLACE_CONCURRENCY=1024

log "board stream drills against the standalone server"
unset PIXEL_OPS_URL
unset CLUSTER_DIR
port=$(free_port)
start stream-standalone env PORT="$port" BIND_ADDR=127.0.0.1 RUST_LOG=warn ./target/debug/realtime-pixel
export PIXEL_URL="http://127.0.0.1:$port"
wait_http "$PIXEL_URL/readyz"
stream_suite
stop_started

log "board stream drills against a cluster: 3 gateways, 2 workers"
export CLUSTER_DIR=$STREAM_CLUSTER_DIR
NGINX_PORT=$(free_port) API_PORT=$(free_port) WORKER_PORT=$(free_port) REDIS_PORT=$(free_port)
GATEWAY_PORTS="$(free_port) $(free_port) $(free_port)"
export NGINX_PORT API_PORT WORKER_PORT REDIS_PORT GATEWAY_PORTS
scripts/cluster.sh up
export PIXEL_URL="http://127.0.0.1:$NGINX_PORT"
stream_suite
scripts/cluster.sh down

# ---- Benchmark harness smoke (issue 7) ------------------------------------
# Every scenario of scripts/bench.sh, seconds long, against its own
# standalone server and clusters (debug build, free ports): fails unless
# each scenario ran and produced its figures. Nothing here is timed.
log "benchmark harness smoke run"
# Without the suites' settings: the harness must set what it needs itself.
env -u SIGNUPS_PER_ADDRESS_HOUR -u MAX_CONNECTIONS_PER_ADDRESS -u HASH_QUEUE -u PLACE_CONCURRENCY \
  -u NGINX_AUTH_RATE -u NGINX_AUTH_BURST -u NGINX_CONN_PER_ADDR -u COOLDOWN_MS -u TTL_MS \
  -u SOCKET_EVENT_RATE -u SOCKET_EVENT_BURST -u SHUTDOWN_READY_DELAY_MS scripts/bench.sh --smoke
# ---------------------------------------------------------------------------

log "all tests passed"
