#!/usr/bin/env bash
# The test command, made of named stages (docs/testing.md):
#
#   scripts/test.sh               every stage, in the order below (CI runs this)
#   scripts/test.sh js cluster    only these stages, in the order given
#   scripts/test.sh --list        the stages and what each runs
#
# Each stage runs in a subshell of its own: it sets its own settings,
# installs what it needs (Debian packages, npm packages, cargo tools),
# builds the binaries it runs (a no-op when they are fresh), binds only
# 127.0.0.1 on free ports, keeps its logs in .run/test/STAGE/ and stops
# every process it started, on failure too. The run stops at the first
# stage that fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TEST_DIR="$ROOT/.run/test"

STAGES=(lint rust openapi js cluster ha cluster-ha ops deploy fuzz stream bench)

describe() {
  case $1 in
    lint) echo "cargo fmt --check, clippy (warnings are errors), cargo doc (broken links are errors), cargo machete (unused dependencies)" ;;
    rust) echo "every Rust test, unit and integration (the Redis store's against a real redis-server)" ;;
    openapi) echo "schemathesis against the OpenAPI document a standalone server serves" ;;
    js) echo "web modules (tsc, node --test); JS contract suite, the page in Chromium and the python-socketio client against the standalone server; the suite again on a 4096² board" ;;
    cluster) echo "local cluster behind nginx: contract suite and page, live Prometheus, fault drills, hardening nginx, pages on the gateways" ;;
    ha) echo "the Sentinel drill through nginx (primary killed, old primary back as replica, a sentinel and the replica killed), with REDIS_MIN_REPLICAS_ACKED=0 and =1" ;;
    cluster-ha) echo "on Redis Cluster (3 primaries, 3 replicas): the contract suite and the stream drills through nginx, then the Cluster drill (a board's shard primary killed under load, two boards on two shards), with REDIS_MIN_REPLICAS_ACKED=0 and =1" ;;
    ops) echo "scripts/test-ops.sh static (Dockerfile, compose, chart, rules) and images (built and run with podman)" ;;
    deploy) echo "scripts/test-ops.sh compose-up, chart, compose-decay, compose-sentinel (the deployment files run for real; compose's placement decays with the shipped TTL meanwhile; the chart and compose's sentinel profile also on Redis Sentinel, the primary killed)" ;;
    fuzz) echo "each libFuzzer target for 5 s plus the inputs that once crashed (SKIP_FUZZ=1 skips it)" ;;
    stream) echo "board stream drills against the standalone server and against a cluster" ;;
    bench) echo "a seconds-long smoke run of every benchmark scenario (scripts/bench.sh --smoke)" ;;
  esac
}

list_stages() {
  local s
  for s in "${STAGES[@]}"; do printf '  %-10s %s\n' "$s" "$(describe "$s")"; done
}

# stage_dir NAME: the stage's own directory under .run/test, emptied (after
# stopping what a killed earlier run of the stage left running), as RUN_DIR.
stage_dir() {
  RUN_DIR="$TEST_DIR/$1"
  stop_stale "$RUN_DIR"
  rm -rf "$RUN_DIR"
  mkdir -p "$RUN_DIR"
  export RUN_DIR
}

# npm_ci DIR: `npm ci` in DIR, unless its node_modules was installed from
# the same package.json and package-lock.json by an earlier stage or run.
npm_ci() {
  local dir=$1 stamp="$1/node_modules/.installed-from-lock" sum
  sum=$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)
  [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ] && return 0
  log "npm ci in $dir"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$sum" >"$stamp"
}

# The settings the contract suites and the servers under test share.
suite_env() {
  export JWT_SECRET="test-secret-for-the-contract-suite-0123456789"
  # Tiles of 16: the board is 4×4 tiles, so tile snapshots have several.
  export COOLDOWN_MS=1000 TTL_MS=3000 BOARD_WIDTH=64 BOARD_HEIGHT=64 BOARD_TILE_SIZE=16
  # Two boards: tests/js/boards.test.mjs checks that each streams only its own.
  export BOARD_IDS=main,second
  export SOCKET_EVENT_RATE=20 SOCKET_EVENT_BURST=40 MAX_PAYLOAD_BYTES=16384
  # Every suite client shares 127.0.0.1: per-address limits are off for the
  # contract suites, the hashing queue takes their bursts of sign-ups, and a
  # 200-placement burst from one socket is not shed as `busy` (the hardening
  # tests check every limit on their own).
  export SIGNUPS_PER_ADDRESS_HOUR=0 MAX_CONNECTIONS_PER_ADDRESS=0 HASH_QUEUE=10000 HASH_QUEUE_MS=600000 PLACE_CONCURRENCY=1000
  export NGINX_AUTH_RATE=10000r/s NGINX_AUTH_BURST=10000 NGINX_CONN_PER_ADDR=10000
  export SCREENSHOT_DIR="$RUN_DIR/screenshots"
}

# The settings of a local cluster under test: debug binaries, 3 gateways,
# 2 workers. The fault drills send SIGTERM to gateways, the api and a
# worker under load: each stays unready-but-serving for 1 s, so the drills
# see /readyz 503 before it goes.
cluster_env() {
  export PROFILE=debug GATEWAYS=3 WORKERS=2 RUST_LOG=warn SHUTDOWN_READY_DELAY_MS=1000
}

build_standalone() { cargo build --locked --bin realtime-pixel; }
build_services() { cargo build --locked --bin realtime-pixel --bin pixel-api --bin pixel-gateway --bin pixel-worker; }

# start_standalone NAME [VAR=VALUE...]: the debug standalone server on a
# free port, ready; its URL in PIXEL_URL.
start_standalone() {
  local name=$1 port
  shift
  port=$(free_port)
  start "$name" env PORT="$port" BIND_ADDR=127.0.0.1 RUST_LOG=warn "$@" ./target/debug/realtime-pixel
  export PIXEL_URL="http://127.0.0.1:$port"
  wait_http "$PIXEL_URL/readyz"
}

# node_test TIMEOUT_MS 'PATTERN'...: node's test runner on the files of
# tests/js the patterns (globs, relative to tests/js) match, one file at a
# time. A pattern that matches nothing is passed as it is, and fails.
node_test() {
  local timeout=$1
  shift
  (
    cd tests/js
    local files=() pattern
    for pattern in "$@"; do
      # shellcheck disable=SC2206 # the pattern is a glob, expanded here
      files+=($pattern)
    done
    node --test --test-concurrency=1 --test-timeout="$timeout" --test-reporter=spec "${files[@]}"
  )
}

contract_suite() {
  node_test 120000 './*.test.mjs'
  node_test 120000 './browser/*.test.mjs'
}

# ------------------------------------------------------------------ stages

stage_lint() {
  log "cargo fmt --check"
  cargo fmt --all -- --check
  log "cargo clippy"
  cargo clippy --workspace --all-targets --locked -- -D warnings
  log "cargo doc: every doc link resolves to a public item"
  RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
  log "cargo machete: dependencies no crate uses"
  command -v cargo-machete >/dev/null 2>&1 || cargo install cargo-machete --locked
  cargo machete
}

stage_rust() {
  need_cmds redis-server openssl
  log "cargo test"
  cargo test --workspace --locked
}

# schemathesis (PyPI, in a venv under .run/) against the document the
# standalone server serves at /api/openapi.json: generated requests to every
# operation, signed in; fails on any 5xx and on any status, content type or
# body the document does not describe. Sign-ups are not limited per address,
# so that the stateful phase can follow sign-up into refresh and logout
# (with the limit, 20 sign-ups in, every one is a 429).
stage_openapi() {
  need_cmds curl python3
  suite_env
  trap stop_started EXIT
  build_standalone
  log "OpenAPI: schemathesis against the standalone server"
  start_standalone openapi-standalone SIGNUPS_PER_ADDRESS_HOUR=0
  scripts/schemathesis.sh "$PIXEL_URL"
}

stage_js() {
  need_cmds curl python3 node=nodejs npm chromium
  suite_env
  trap stop_started EXIT
  npm_ci tests/js
  npm_ci web
  log "web page: tsc --noEmit and node --test (pure modules, no DOM)"
  (cd web && npx tsc --noEmit -p . && node --test --test-reporter=spec test/)
  build_standalone
  log "JS contract suite and the page against the standalone server"
  start_standalone standalone
  contract_suite
  log "python-socketio: binary frames and the JSON shape"
  scripts/python-client.sh "$PIXEL_URL"
  stop_started
  # Every power-of-two tile divides 64: tile snapshots whose right and
  # bottom tiles are cut short need a board of their own.
  log "tile snapshots on a 100×70 board in tiles of 32 (edge tiles cut short)"
  start_standalone edge-tiles-standalone BOARD_WIDTH=100 BOARD_HEIGHT=70 BOARD_TILE_SIZE=32
  BOARD_WIDTH=100 BOARD_HEIGHT=70 EXPECT_EDGE_TILES=1 node_test 120000 './rest-tiles.test.mjs'
  stop_started
  # A board of the size r/place-like deployments aim at: every cell index
  # needs three varint bytes, the full binary snapshot is 16.7 MB, and the
  # suite's placements land all over it.
  log "JS contract suite on a 4096×4096 board in tiles of 256"
  start_standalone big-board-standalone BOARD_WIDTH=4096 BOARD_HEIGHT=4096 BOARD_TILE_SIZE=256
  BOARD_WIDTH=4096 BOARD_HEIGHT=4096 BOARD_TILE_SIZE=256 node_test 120000 './*.test.mjs'
  stop_started
  # Engine.IO v4 protocol cases (raw HTTP and WebSocket) need a short
  # heartbeat and connect timeout: a server of their own.
  log "Engine.IO protocol cases against the standalone server"
  start_standalone engine-standalone PING_INTERVAL_MS=300 PING_TIMEOUT_MS=200 CONNECT_TIMEOUT_MS=2000
  node_test 60000 './engine/*.test.mjs'
}

stage_cluster() {
  need_cmds curl python3 node=nodejs npm redis-server nginx chromium
  suite_env
  cluster_env
  trap 'stop_started; stop_cluster' EXIT
  npm_ci tests/js
  log "local cluster: 3 gateways and 2 workers behind nginx"
  start_cluster "$RUN_DIR/cluster" 3
  export PIXEL_URL="http://127.0.0.1:$NGINX_PORT"
  # nginx does not proxy /metrics: the ops routes are checked on the api.
  export PIXEL_OPS_URL="http://127.0.0.1:$API_PORT"

  log "JS contract suite and the page through nginx"
  contract_suite

  # Before the drills, which stop and restart processes.
  log "ops: a real Prometheus scraping the cluster; rules and dashboard queries"
  scripts/test-ops.sh live

  log "cluster drills"
  node_test 180000 './cluster/*.test.mjs'

  # A second nginx from the same template, with small per-address limits, in
  # front of the running cluster: auth flood, connection flood, headers.
  log "hardening: nginx limits and headers"
  local dir="$RUN_DIR/harden-nginx" port servers="" p
  mkdir -p "$dir/nginx-tmp"
  port=$(free_port)
  for p in $GATEWAY_PORTS; do servers+="server 127.0.0.1:$p; "; done
  LISTEN_PORT="127.0.0.1:$port" WEB_ROOT="$ROOT/web" API_SERVERS="server 127.0.0.1:$API_PORT;" \
    GATEWAY_SERVERS="$servers" NGINX_AUTH_RATE=1r/s NGINX_AUTH_BURST=5 NGINX_CONN_PER_ADDR=4 \
    render nginx/realtime-pixel.conf.template "$dir/realtime-pixel.conf"
  RUN_DIR=$dir MIME_TYPES=/etc/nginx/mime.types render nginx/nginx.conf.template "$dir/nginx.conf"
  start harden-nginx nginx -p "$dir" -c "$dir/nginx.conf"
  wait_http "http://127.0.0.1:$port/nginx-healthz"
  HARDEN_NGINX_URL="http://127.0.0.1:$port" NGINX_AUTH_BURST=5 NGINX_CONN_PER_ADDR=4 \
    node_test 120000 './harden/*.test.mjs'
  stop_started

  log "web page against the cluster's gateways: pages pinned to gateways, a gateway killed"
  node_test 180000 './browser/cluster/*.test.mjs'
  stop_cluster
}

# The Sentinel drill (tests/js/drill/): a cluster with REDIS_TOPOLOGY=sentinel
# (a primary, a replica, three sentinels) behind nginx, release binaries as
# deployed, 3 gateways, 1 worker. Once per value of REDIS_MIN_REPLICAS_ACKED
# in HA_MIN_REPLICAS (default "0 1"), each on a fresh cluster: the drill
# kills Redis nodes. A short cooldown and TTL so that placements and decay
# removals go on all the time and each path's first write after the kill
# is seen within ~0.25 s.
stage_ha() {
  need_cmds curl python3 node=nodejs npm redis-server nginx
  suite_env
  export PROFILE=release GATEWAYS=3 WORKERS=1 RUST_LOG=warn REDIS_TOPOLOGY=sentinel
  export COOLDOWN_MS=250 TTL_MS=2000
  trap 'stop_started; stop_cluster' EXIT
  npm_ci tests/js
  local n
  for n in ${HA_MIN_REPLICAS:-0 1}; do
    export REDIS_MIN_REPLICAS_ACKED=$n
    log "Sentinel drill with REDIS_MIN_REPLICAS_ACKED=$n"
    start_cluster "$RUN_DIR/sentinel-$n" 3
    if [ "$n" -gt 0 ] && ! "./target/$PROFILE/pixel-gateway" --help | grep -q 'env: REDIS_MIN_REPLICAS_ACKED'; then
      log "the gateway does not take REDIS_MIN_REPLICAS_ACKED: the drill with N=$n cannot pass on this build"
      return 1
    fi
    PIXEL_URL="http://127.0.0.1:$NGINX_PORT" node_test 170000 './drill/*.test.mjs'
    stop_cluster
  done
}

# On Redis Cluster (tests/js/cluster-drill/): cluster.sh with
# REDIS_TOPOLOGY=cluster (three primaries, three replicas), release
# binaries as deployed, BOARD_IDS=main,second (their slots are on two
# shards: the drill checks it). First the contract suite and then the
# stream drills through nginx, each on a cluster with its own settings (the
# `cluster` and `stream` stages'); then the Cluster drill, once per value
# of REDIS_MIN_REPLICAS_ACKED in CLUSTER_HA_MIN_REPLICAS (default "0 1"),
# each on a fresh cluster: it kills a shard's primary.
stage_cluster-ha() {
  need_cmds curl python3 node=nodejs npm redis-server nginx
  trap 'stop_started; stop_cluster' EXIT
  npm_ci tests/js
  (
    suite_env
    export PROFILE=release GATEWAYS=3 WORKERS=2 RUST_LOG=warn SHUTDOWN_READY_DELAY_MS=1000 REDIS_TOPOLOGY=cluster
    trap 'stop_cluster' EXIT
    log "Redis Cluster: the JS contract suite through nginx"
    start_cluster "$RUN_DIR/contract" 3
    PIXEL_URL="http://127.0.0.1:$NGINX_PORT" PIXEL_OPS_URL="http://127.0.0.1:$API_PORT" node_test 120000 './*.test.mjs'
    stop_cluster
    log "Redis Cluster: the board stream drills through nginx"
    export COOLDOWN_MS=0 TTL_MS=2000 SOCKET_EVENT_RATE=5000 SOCKET_EVENT_BURST=5000 PLACE_CONCURRENCY=1024
    start_cluster "$RUN_DIR/stream" 3
    PIXEL_URL="http://127.0.0.1:$NGINX_PORT" node_test 300000 './stream/*.test.mjs'
    stop_cluster
  )
  suite_env
  export PROFILE=release GATEWAYS=3 WORKERS=1 RUST_LOG=warn REDIS_TOPOLOGY=cluster
  export COOLDOWN_MS=250 TTL_MS=2000
  local n
  for n in ${CLUSTER_HA_MIN_REPLICAS:-0 1}; do
    export REDIS_MIN_REPLICAS_ACKED=$n
    log "Redis Cluster drill with REDIS_MIN_REPLICAS_ACKED=$n"
    start_cluster "$RUN_DIR/drill-$n" 3
    PIXEL_URL="http://127.0.0.1:$NGINX_PORT" node_test 170000 './cluster-drill/*.test.mjs'
    stop_cluster
  done
}

stage_ops() {
  need_cmds python3 node=nodejs npm curl
  suite_env
  export PROFILE=debug
  npm_ci tests/js
  # The static checks read the binaries' --help; the image check packs them.
  build_services
  log "ops: Dockerfile, compose, Helm chart, Prometheus rules"
  scripts/test-ops.sh static
  log "ops: images built and run with podman"
  scripts/test-ops.sh images
}

# The deployment files run as shipped (compose, the Helm chart) with podman.
# compose's placement decays with the shipped TTL (10 minutes): compose stays
# up while the chart runs, then its decay is checked, then it goes (on
# failure too).
stage_deploy() {
  need_cmds python3 node=nodejs npm curl
  export PROFILE=debug
  npm_ci tests/js
  build_services
  trap 'scripts/test-ops.sh compose-down' EXIT
  log "deploy: scripts/test-ops.sh compose-up (compose stays up)"
  scripts/test-ops.sh compose-up
  log "deploy: scripts/test-ops.sh chart"
  scripts/test-ops.sh chart
  log "deploy: scripts/test-ops.sh compose-decay"
  scripts/test-ops.sh compose-decay
  # After compose-decay has taken the default run down: both use the
  # project's fixed addresses.
  log "deploy: scripts/test-ops.sh compose-sentinel"
  scripts/test-ops.sh compose-sentinel
}

# Each libFuzzer target for a few seconds, plus the inputs that once crashed
# (fuzz/regressions). cargo-fuzz on the stable toolchain needs
# RUSTC_BOOTSTRAP=1 (see fuzz/README.md). The first build takes minutes.
stage_fuzz() {
  if [ "${SKIP_FUZZ:-0}" = 1 ]; then
    log "fuzz: skipped (SKIP_FUZZ=1)"
    return 0
  fi
  command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
  local t regressions
  for t in socket_payloads tokens feed_entries frames; do
    log "fuzz: $t"
    regressions=()
    [ -d "fuzz/regressions/$t" ] && regressions=("fuzz/regressions/$t"/*)
    if [ "${#regressions[@]}" -gt 0 ]; then
      (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none -O "$t" "${regressions[@]/#/../}" -- -runs=0)
    fi
    (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none -O "$t" -- -max_total_time=5)
  done
}

# The board stream's guarantees (order without holes, batching, outages,
# resync) need placements as fast as acks return: no cooldown, a high
# per-socket event rate. Once against the standalone server's in-memory
# feed, once against a cluster's Redis streams.
stage_stream() {
  need_cmds curl python3 node=nodejs npm redis-server nginx
  suite_env
  cluster_env
  export COOLDOWN_MS=0 TTL_MS=2000 SOCKET_EVENT_RATE=5000 SOCKET_EVENT_BURST=5000 PLACE_CONCURRENCY=1024
  trap 'stop_started; stop_cluster' EXIT
  npm_ci tests/js
  build_standalone

  log "board stream drills against the standalone server"
  start_standalone stream-standalone
  node_test 300000 './stream/*.test.mjs' './tiles/*.test.mjs'
  stop_started

  log "board stream drills against a cluster: 3 gateways, 2 workers"
  start_cluster "$RUN_DIR/stream-cluster" 3
  export PIXEL_URL="http://127.0.0.1:$NGINX_PORT"
  node_test 300000 './stream/*.test.mjs' './tiles/*.test.mjs'
  stop_cluster
}

# Every scenario of scripts/bench.sh, seconds long, against its own
# standalone server and clusters (debug build, free ports): fails unless
# each scenario ran and produced its figures. Nothing here is timed. None
# of the suites' settings: the harness must set what it needs itself.
stage_bench() {
  log "benchmark harness smoke run"
  scripts/bench.sh --smoke
}

# ------------------------------------------------------------------- main

case ${1:-} in
  --list | -l)
    list_stages
    exit 0
    ;;
  --help | -h)
    sed -n '2,13p' "$0"
    echo "Stages:"
    list_stages
    exit 0
    ;;
esac

selected=("$@")
[ "${#selected[@]}" -gt 0 ] || selected=("${STAGES[@]}")
for s in "${selected[@]}"; do
  if [[ " ${STAGES[*]} " != *" $s "* ]]; then
    echo "scripts/test.sh: unknown stage '$s'; the stages are:" >&2
    list_stages >&2
    exit 2
  fi
done

export RUN_DIR=$TEST_DIR
source scripts/lib.sh
# Where the harness puts its servers, not a setting to inherit.
unset CLUSTER_DIR PIXEL_URL PIXEL_OPS_URL

current=""
report_failure() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -n "$current" ]; then log "stage $current failed (exit $rc)"; fi
}
trap report_failure EXIT
for s in "${selected[@]}"; do
  current=$s
  began=$SECONDS
  log "stage $s: $(describe "$s")"
  # errexit holds inside the subshell: the stage stops at its first failing
  # command, runs its own EXIT trap, and the run stops here.
  (
    stage_dir "$s"
    "stage_$s"
  )
  log "stage $s passed in $((SECONDS - began)) s"
done
current=""
log "all tests passed (${selected[*]})"
