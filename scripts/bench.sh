#!/usr/bin/env bash
# Benchmarks: every scenario against the standalone server and a
# local cluster, with the load generator `pixel-bench` (bench/).
#
#   scripts/bench.sh           full run: release build, 3 runs per scenario,
#                              medians → bench/results/latest.{md,json}
#   scripts/bench.sh --quick   smaller and shorter, 1 run each
#                              → bench/results/quick.{md,json}
#   scripts/bench.sh --smoke   seconds-long (debug build): checks that every
#                              scenario ran and produced figures; part of
#                              scripts/test.sh. Results stay in .run/.
#   scripts/bench.sh [--quick|--smoke] --only NAMES
#                              only the scenarios named (comma-separated, as
#                              in the results without their number, e.g.
#                              standalone-fanout,standalone-idle,
#                              cluster-fanout-nginx), at the mode's sizes;
#                              groups with none of them start no servers.
#                              Results stay in .run/ (no report).
#
# It starts what it measures itself (scripts/cluster.sh with its own
# CLUSTER_DIR under .run/bench-*/ and free ports; the standalone server),
# once per group of server settings, and stops everything it started.
# Scenarios, in order:
#   standalone  fanout, idle RSS, place, fanout with binary watchers
#               | fill, snapshot | decay steady
#               | churn (connect → join → disconnect loops)
#               | tile fanout: a big board (4096² full size, tiles of 256),
#                 watchers each on 4 adjacent tiles, then the same with
#                 whole-board watchers (fanout-tiles, fanout-tiles-whole)
#   cluster     fanout on gateway 1, fanout through nginx over 3 gateways,
#               idle RSS of gateway 1, place on gateway 1 | fill, snapshot
#               | decay steady, decay backlog (worker paused and resumed)
#   sentinel    a primary, a replica, three sentinels, 1 gateway: place with
#               REDIS_MIN_REPLICAS_ACKED=1; failover (the primary kill -9ed
#               under placements) with N=0 and with N=1
#   rcluster    Redis Cluster, 3 primaries + 3 replicas, 1 gateway: place on
#               three boards on three shards | decay backlog
# Extra arguments after the mode are passed to nothing; edit the figures
# below to change sizes. The fanout's own sizes can also be given from the
# environment, BENCH_FANOUT_WATCHERS / _PLACERS / _RATE (e.g. the JSON
# target load: 2,000 watchers at 500 placements/s). RELAY_BATCH_MS, when
# set, reaches the servers (and the recorded settings), e.g. 0 for the
# relay without a batching window.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MODE=full
ONLY=""
usage() {
  sed -n '2,43p' "$0"
  exit 2
}
case ${1:-} in
  "") ;;
  --quick) MODE=quick ;;
  --smoke) MODE=smoke ;;
  --only) ;;
  _standalone | _redis) MODE=internal ;;
  *) usage ;;
esac
if { [ "${1:-}" = --quick ] || [ "${1:-}" = --smoke ]; } && [ $# -gt 1 ]; then
  shift
  [ "$1" = --only ] || usage
fi
if [ "${1:-}" = --only ]; then
  ONLY=${2:-}
  if [ -z "$ONLY" ] || [ $# -ne 2 ]; then usage; fi
fi
ALL_NAMES=(standalone-fanout standalone-idle standalone-place standalone-fanout-binary
  standalone-fill
  standalone-snapshot-1-plain standalone-snapshot-2-conditional standalone-snapshot-3-tile
  standalone-decay-steady
  standalone-churn
  standalone-fanout-tiles standalone-fanout-tiles-whole
  cluster-fanout-gateway cluster-fanout-nginx cluster-idle cluster-place cluster-fill
  cluster-snapshot-1-plain cluster-snapshot-2-conditional cluster-snapshot-3-tile
  cluster-decay-steady
  cluster-decay-backlog
  sentinel-place sentinel-failover-0 sentinel-failover-1
  rcluster-place rcluster-decay-backlog)
for name in ${ONLY//,/ }; do
  if [[ " ${ALL_NAMES[*]} " != *" $name "* ]]; then
    echo "bench.sh: --only: unknown scenario '$name'; one of: ${ALL_NAMES[*]}" >&2
    exit 2
  fi
done
# wanted NAME...: true when no --only was given or it names one of NAMES.
wanted() {
  [ -z "$ONLY" ] && return 0
  local name
  for name in "$@"; do
    [[ ",$ONLY," == *",$name,"* ]] && return 0
  done
  return 1
}

# ---------------------------------------------------------------- sizes
case $MODE in
  internal) PROFILE=${BENCH_PROFILE:?} ;;
  full)
    PROFILE=release RUNS=3
    BOARD=500 FANOUT_WATCHERS=1000 FANOUT_PLACERS=10 FANOUT_RATE=200 FANOUT_S=10
    IDLE_CONNS=10000 PLACE_SOCKETS=50 PLACE_RATE=10000 PLACE_S=10
    SNAP_CLIENTS=16 SNAP_S=10 DECAY_TTL_MS=2000 DECAY_RATE=200 DECAY_S=10
    BACKLOG=50000 SOURCES=16 CHURN_LOOPS=64 CHURN_S=10
    BIN_WATCHERS=2000 BIN_PLACERS=20 BIN_RATE=1000 BIN_S=10
    FAILOVER_SOCKETS=20 FAILOVER_RATE=500 FAILOVER_S=15 FAILOVER_KILL_S=4
    TILE_BOARD=4096 TILE_SIZE=256 TILE_WATCHERS=2000 TILE_PLACERS=10 TILE_RATE=500 TILE_S=10
    ;;
  quick)
    PROFILE=release RUNS=1
    BOARD=500 FANOUT_WATCHERS=300 FANOUT_PLACERS=6 FANOUT_RATE=200 FANOUT_S=5
    IDLE_CONNS=2000 PLACE_SOCKETS=50 PLACE_RATE=5000 PLACE_S=5
    SNAP_CLIENTS=16 SNAP_S=5 DECAY_TTL_MS=1500 DECAY_RATE=200 DECAY_S=4
    BACKLOG=10000 SOURCES=16 CHURN_LOOPS=64 CHURN_S=5
    BIN_WATCHERS=600 BIN_PLACERS=12 BIN_RATE=1000 BIN_S=5
    FAILOVER_SOCKETS=20 FAILOVER_RATE=500 FAILOVER_S=12 FAILOVER_KILL_S=4
    TILE_BOARD=4096 TILE_SIZE=256 TILE_WATCHERS=600 TILE_PLACERS=6 TILE_RATE=500 TILE_S=5
    ;;
  smoke)
    PROFILE=debug RUNS=1
    BOARD=64 FANOUT_WATCHERS=20 FANOUT_PLACERS=2 FANOUT_RATE=50 FANOUT_S=2
    IDLE_CONNS=100 PLACE_SOCKETS=4 PLACE_RATE=200 PLACE_S=2
    SNAP_CLIENTS=2 SNAP_S=1 DECAY_TTL_MS=1000 DECAY_RATE=50 DECAY_S=2
    BACKLOG=500 SOURCES=4 CHURN_LOOPS=8 CHURN_S=2
    BIN_WATCHERS=20 BIN_PLACERS=2 BIN_RATE=50 BIN_S=2
    FAILOVER_SOCKETS=4 FAILOVER_RATE=50 FAILOVER_S=8 FAILOVER_KILL_S=2
    TILE_BOARD=512 TILE_SIZE=64 TILE_WATCHERS=20 TILE_PLACERS=2 TILE_RATE=50 TILE_S=2
    ;;
esac

if [ "$MODE" != internal ]; then
  FANOUT_WATCHERS=${BENCH_FANOUT_WATCHERS:-$FANOUT_WATCHERS}
  FANOUT_PLACERS=${BENCH_FANOUT_PLACERS:-$FANOUT_PLACERS}
  FANOUT_RATE=${BENCH_FANOUT_RATE:-$FANOUT_RATE}
fi

export RUN_DIR="$ROOT/.run/bench-$MODE"
[ -n "$ONLY" ] && RUN_DIR="$ROOT/.run/bench-$MODE-only"
[ "$MODE" = internal ] && RUN_DIR=$BENCH_RUN_DIR
source scripts/lib.sh
BIN="$ROOT/target/$PROFILE"
STANDALONE_PID="$RUN_DIR/standalone.pid"

# The standalone server, with the settings of the current environment.
standalone_up() {
  local port=$1
  setsid env PORT="$port" BIND_ADDR=127.0.0.1 "$BIN/realtime-pixel" \
    >>"$RUN_DIR/standalone.log" 2>&1 </dev/null &
  echo $! >"$STANDALONE_PID"
  wait_http "http://127.0.0.1:$port/readyz" 60
}
standalone_down() {
  [ -f "$STANDALONE_PID" ] || return 0
  local pid
  pid=$(cat "$STANDALONE_PID")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$STANDALONE_PID"
}

# `scripts/bench.sh _standalone restart PORT`: the idle scenario's restart
# command (a fresh process per run), with the caller's environment.
if [ "$MODE" = internal ] && [ "$1" = _standalone ]; then
  standalone_down
  standalone_up "${3:?port}"
  exit 0
fi

# `scripts/bench.sh _redis kill-primary | restore`: the failover
# scenario's commands, on the Sentinel cluster in $CLUSTER_DIR.
# kill-primary: `kill -9` of whichever data node the sentinels call the
# primary now (recorded); restore: once the sentinels name the other node,
# the killed one started again (they make it a replica) and waited for
# until its replication link is up, so the next run starts from a primary
# with an in-sync replica.
if [ "$MODE" = internal ] && [ "$1" = _redis ]; then
  : "${CLUSTER_DIR:?the cluster the scenario runs on}"
  # shellcheck disable=SC1091
  set -a && source "$CLUSTER_DIR/cluster.env" && set +a
  read -r -a sentinels <<<"$SENTINEL_PORTS"
  case ${2:-} in
    kill-primary)
      port=$(redis-cli -p "${sentinels[0]}" sentinel get-master-addr-by-name pixel | tail -1)
      name=redis
      [ "$port" = "$REDIS_PORT" ] || name=redis-replica
      echo "$name" >"$CLUSTER_DIR/killed"
      kill -9 "$(cat "$CLUSTER_DIR/pids/$name.pid")"
      ;;
    restore)
      name=$(cat "$CLUSTER_DIR/killed")
      killed_port=$REDIS_PORT
      [ "$name" = redis ] || killed_port=$REDIS_REPLICA_PORT
      # Once the sentinels have promoted the other node (so the restarted
      # one joins as its replica rather than being taken back as primary).
      for _ in $(seq 300); do
        port=$(redis-cli -p "${sentinels[0]}" sentinel get-master-addr-by-name pixel 2>/dev/null | tail -1)
        [ -n "$port" ] && [ "$port" != "$killed_port" ] && break
        sleep 0.1
      done
      scripts/cluster.sh start "$name" >/dev/null
      port=$REDIS_PORT
      [ "$name" = redis ] || port=$REDIS_REPLICA_PORT
      for _ in $(seq 300); do
        redis-cli -p "$port" info replication 2>/dev/null | grep -q master_link_status:up && exit 0
        sleep 0.1
      done
      echo "bench.sh: $name (port $port) did not come back as an in-sync replica" >&2
      exit 1
      ;;
    *) usage ;;
  esac
  exit 0
fi

rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR"
RESULTS="$RUN_DIR/results"
mkdir -p "$RESULTS"
CLUSTER_DIR=""
cleanup() {
  standalone_down
  if [ -n "$CLUSTER_DIR" ] && [ -d "$CLUSTER_DIR/pids" ]; then
    scripts/cluster.sh down >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

# Many sockets: as many descriptors as we may have (servers inherit it).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

need_cmd curl curl
need_cmd redis-server redis-server
need_cmd nginx nginx

log "building ($PROFILE)"
if [ "$PROFILE" = release ]; then
  cargo build --release --locked --bin realtime-pixel --bin pixel-api --bin pixel-gateway \
    --bin pixel-worker --bin pixel-bench
else
  cargo build --locked --bin realtime-pixel --bin pixel-api --bin pixel-gateway \
    --bin pixel-worker --bin pixel-bench
fi
BENCH="$BIN/pixel-bench"

# Shared server settings. Per-socket event limits are lifted so that the
# load generator's few placing sockets are not rate limited, and the
# per-address limits (sign-ups, connections, nginx's auth and connection
# limits) are off: the generator is thousands of clients on a handful of
# loopback addresses (real clients keep the defaults). Everything else
# stays at its default unless a group below says otherwise.
unset REDIS_URL PLACE_CONCURRENCY MAX_PAYLOAD_BYTES SOCKET_BUFFER_PACKETS BOARD_TILE_SIZE
export JWT_SECRET="bench-secret-0123456789abcdef0123456789abcdef"
export RUST_LOG=warn BOARD_WIDTH=$BOARD BOARD_HEIGHT=$BOARD
export SOCKET_EVENT_RATE=1000000 SOCKET_EVENT_BURST=1000000
export SIGNUPS_PER_ADDRESS_HOUR=0 MAX_CONNECTIONS_PER_ADDRESS=0 HASH_QUEUE=100000 HASH_QUEUE_MS=600000
export NGINX_AUTH_RATE=100000r/s NGINX_AUTH_BURST=100000 NGINX_CONN_PER_ADDR=60000
BASE_SETTINGS="BOARD=${BOARD}x$BOARD SOCKET_EVENT_RATE=$SOCKET_EVENT_RATE SOCKET_EVENT_BURST=$SOCKET_EVENT_BURST SIGNUPS_PER_ADDRESS_HOUR=0 MAX_CONNECTIONS_PER_ADDRESS=0 HASH_QUEUE=$HASH_QUEUE HASH_QUEUE_MS=$HASH_QUEUE_MS NGINX_CONN_PER_ADDR=$NGINX_CONN_PER_ADDR${RELAY_BATCH_MS:+ RELAY_BATCH_MS=$RELAY_BATCH_MS}"

# settings COOLDOWN TTL: exports them; S is the line the results record.
settings() {
  export COOLDOWN_MS=$1 TTL_MS=$2
  S="$BASE_SETTINGS COOLDOWN_MS=$1 TTL_MS=$2 build=$PROFILE (everything else at its default)"
}

FAILED=()
# bench NAME SCENARIO ARGS...: one scenario invocation, result in $RESULTS
# (R=1 bench ... for a single run).
bench() {
  local name=$1
  shift
  wanted "${name#[0-9][0-9]-}" || return 0
  log "scenario $name"
  if ! "$BENCH" "$@" --runs "${R:-$RUNS}" --sources "$SOURCES" --out "$RESULTS/$name.json" >/dev/null; then
    FAILED+=("$name")
    log "scenario $name failed (see $RESULTS/$name.json)"
  fi
}

# fill_and_snapshot PREFIX LABEL SETTINGS WS API PIDS: fills the board
# (every cell, cooldown 0), then snapshot plain and conditional, and tile (0, 0).
fill_and_snapshot() {
  local prefix=$1 label=$2 s=$3 ws=$4 api=$5 pids=$6
  R=1 bench "$prefix-fill" fill --ws "$ws" --api "$api" --label "$label" --server "$s"
  bench "$prefix-snapshot-1-plain" snapshot --ws "$ws" --api "$api" --label "$label" --server "$s" \
    --pids "$pids" --mode plain --clients "$SNAP_CLIENTS" --duration-s "$SNAP_S"
  bench "$prefix-snapshot-2-conditional" snapshot --ws "$ws" --api "$api" --label "$label" --server "$s" \
    --pids "$pids" --mode conditional --clients "$SNAP_CLIENTS" --duration-s "$SNAP_S"
  bench "$prefix-snapshot-3-tile" snapshot --ws "$ws" --api "$api" --label "$label" --server "$s" \
    --pids "$pids" --mode tile --clients "$SNAP_CLIENTS" --duration-s "$SNAP_S"
}

# ---------------------------------------------------------------- standalone
SA_PORT=$(free_port)
SA_WS=127.0.0.1:$SA_PORT
SA_API=http://127.0.0.1:$SA_PORT
export BENCH_RUN_DIR=$RUN_DIR BENCH_PROFILE=$PROFILE
sa_pids() { echo "standalone=@$STANDALONE_PID"; }

if wanted standalone-fanout standalone-idle standalone-place standalone-fanout-binary; then
  log "standalone: fanout, idle, place, fanout binary"
  settings 1 3600000
  standalone_up "$SA_PORT"
  bench 01-standalone-fanout fanout --ws "$SA_WS" --api "$SA_API" --label standalone --server "$S" \
    --pids "$(sa_pids)" --watchers "$FANOUT_WATCHERS" --placers "$FANOUT_PLACERS" \
    --rate "$FANOUT_RATE" --duration-s "$FANOUT_S"
  bench 02-standalone-idle idle --ws "$SA_WS" --api "$SA_API" --label standalone --server "$S" \
    --connections "$IDLE_CONNS" --pid-file "$STANDALONE_PID" \
    --restart-cmd "scripts/bench.sh _standalone restart $SA_PORT"
  bench 03-standalone-place place --ws "$SA_WS" --api "$SA_API" --label standalone --server "$S" \
    --pids "$(sa_pids)" --sockets "$PLACE_SOCKETS" --rate "$PLACE_RATE" --duration-s "$PLACE_S"
  bench 09-standalone-fanout-binary fanout --ws "$SA_WS" --api "$SA_API" --label standalone \
    --server "$S" --pids "$(sa_pids)" --encoding binary --watchers "$BIN_WATCHERS" \
    --placers "$BIN_PLACERS" --rate "$BIN_RATE" --duration-s "$BIN_S"
  standalone_down
fi

if wanted standalone-fill standalone-snapshot-1-plain standalone-snapshot-2-conditional standalone-snapshot-3-tile; then
  log "standalone: fill, snapshot"
  settings 0 3600000
  standalone_up "$SA_PORT"
  fill_and_snapshot 04-standalone standalone "$S" "$SA_WS" "$SA_API" "$(sa_pids)"
  standalone_down
fi

if wanted standalone-decay-steady; then
  log "standalone: decay"
  settings 0 "$DECAY_TTL_MS"
  standalone_up "$SA_PORT"
  bench 07-standalone-decay-steady decay-steady --ws "$SA_WS" --api "$SA_API" --label standalone \
    --server "$S" --pids "$(sa_pids)" --rate "$DECAY_RATE" --duration-s "$DECAY_S"
  standalone_down
fi

# Churn on a fresh server of its own (no connections left by the other
# scenarios). MAX_CONNECTIONS_PER_ADDRESS=0 above: the loops share the
# few source addresses, so a per-address cap would refuse them.
if wanted standalone-churn; then
  log "standalone: churn"
  settings 1 3600000
  standalone_up "$SA_PORT"
  bench 08-standalone-churn churn --ws "$SA_WS" --api "$SA_API" --label standalone --server "$S" \
    --pids "$(sa_pids)" --concurrency "$CHURN_LOOPS" --duration-s "$CHURN_S"
  standalone_down
fi

# The tile fan-out on a board of its own size: watchers each on a 2 × 2
# block of adjacent tiles spread over the board, then whole-board watchers
# at the same load for comparison.
if wanted standalone-fanout-tiles standalone-fanout-tiles-whole; then
  log "standalone: tile fanout (${TILE_BOARD}², tiles of $TILE_SIZE)"
  export BOARD_WIDTH=$TILE_BOARD BOARD_HEIGHT=$TILE_BOARD BOARD_TILE_SIZE=$TILE_SIZE
  settings 1 3600000
  S="${S/BOARD=${BOARD}x$BOARD/BOARD=${TILE_BOARD}x$TILE_BOARD BOARD_TILE_SIZE=$TILE_SIZE}"
  standalone_up "$SA_PORT"
  bench 21-standalone-fanout-tiles fanout-tiles --ws "$SA_WS" --api "$SA_API" --label standalone \
    --server "$S" --pids "$(sa_pids)" --block 2 --watchers "$TILE_WATCHERS" \
    --placers "$TILE_PLACERS" --rate "$TILE_RATE" --duration-s "$TILE_S"
  bench 22-standalone-fanout-tiles-whole fanout-tiles --ws "$SA_WS" --api "$SA_API" --label standalone \
    --server "$S" --pids "$(sa_pids)" --block 0 --watchers "$TILE_WATCHERS" \
    --placers "$TILE_PLACERS" --rate "$TILE_RATE" --duration-s "$TILE_S"
  standalone_down
  export BOARD_WIDTH=$BOARD BOARD_HEIGHT=$BOARD
  unset BOARD_TILE_SIZE
fi

# ---------------------------------------------------------------- cluster
# cluster_up NAME GATEWAYS: a fresh cluster (own Redis, free ports) with
# the current settings.
cluster_up() {
  CLUSTER_DIR="$RUN_DIR/cluster-$1"
  export CLUSTER_DIR PROFILE GATEWAYS=$2 WORKERS=1
  NGINX_PORT=$(free_port) API_PORT=$(free_port) WORKER_PORT=$(free_port) REDIS_PORT=$(free_port)
  REDIS_REPLICA_PORT=$(free_port) SENTINEL_PORTS="$(free_port) $(free_port) $(free_port)"
  REDIS_CLUSTER_PORTS=$(cluster_ports)
  export REDIS_CLUSTER_PORTS
  GATEWAY_PORTS=""
  for _ in $(seq "$2"); do GATEWAY_PORTS+="$(free_port) "; done
  export NGINX_PORT API_PORT WORKER_PORT REDIS_PORT REDIS_REPLICA_PORT SENTINEL_PORTS GATEWAY_PORTS
  scripts/cluster.sh up
  read -r -a GW <<<"$GATEWAY_PORTS"
}
cluster_down() {
  scripts/cluster.sh down
  CLUSTER_DIR=""
}
# Every process of the cluster, by pid file (read when a run starts, so a
# restarted process counts), nginx by its worker's pid.
cl_pids() {
  local out="" f name pid
  for f in "$CLUSTER_DIR"/pids/*.pid; do
    name=$(basename "$f" .pid)
    if [ "$name" = nginx ]; then
      pid=$(pgrep -P "$(cat "$f")" | head -1 || true)
      [ -n "$pid" ] && out+="$name=$pid,"
    else
      out+="$name=@$f,"
    fi
  done
  echo "${out%,}"
}

if wanted cluster-fanout-gateway cluster-fanout-nginx cluster-idle cluster-place; then
  log "cluster: fanout, idle, place"
  settings 1 3600000
  cluster_up a 3
  GW1=127.0.0.1:${GW[0]}
  NGX=127.0.0.1:$NGINX_PORT
  API=http://127.0.0.1:$API_PORT
  METRICS=""
  for p in "${GW[@]}"; do METRICS+="http://127.0.0.1:$p/metrics,"; done
  METRICS=${METRICS%,}
  bench 11-cluster-fanout-gateway fanout --ws "$GW1" --api "$API" --label "cluster, 1 gateway" \
    --server "$S" --pids "$(cl_pids)" --watchers "$FANOUT_WATCHERS" --placers "$FANOUT_PLACERS" \
    --rate "$FANOUT_RATE" --duration-s "$FANOUT_S" --gateway-metrics "$METRICS"
  bench 12-cluster-fanout-nginx fanout --ws "$NGX" --api "$API" --label "cluster, nginx + 3 gateways" \
    --server "$S" --pids "$(cl_pids)" --watchers "$FANOUT_WATCHERS" --placers "$FANOUT_PLACERS" \
    --rate "$FANOUT_RATE" --duration-s "$FANOUT_S" --gateway-metrics "$METRICS"
  bench 13-cluster-idle idle --ws "$GW1" --api "$API" --label "cluster, gateway 1" --server "$S" \
    --connections "$IDLE_CONNS" --pid-file "$CLUSTER_DIR/pids/gateway-1.pid" \
    --restart-cmd "scripts/cluster.sh stop gateway-1 && scripts/cluster.sh start gateway-1"
  bench 14-cluster-place place --ws "$GW1" --api "$API" --label "cluster, 1 gateway" --server "$S" \
    --pids "$(cl_pids)" --sockets "$PLACE_SOCKETS" --rate "$PLACE_RATE" --duration-s "$PLACE_S"
  cluster_down
fi

if wanted cluster-fill cluster-snapshot-1-plain cluster-snapshot-2-conditional cluster-snapshot-3-tile; then
  log "cluster: fill, snapshot"
  settings 0 3600000
  cluster_up b 1
  fill_and_snapshot 15-cluster "cluster, api" "$S" "127.0.0.1:${GW[0]}" "http://127.0.0.1:$API_PORT" "$(cl_pids)"
  cluster_down
fi

if wanted cluster-decay-steady cluster-decay-backlog; then
  log "cluster: decay"
  settings 0 "$DECAY_TTL_MS"
  cluster_up c 1
  GW1=127.0.0.1:${GW[0]}
  API=http://127.0.0.1:$API_PORT
  bench 17-cluster-decay-steady decay-steady --ws "$GW1" --api "$API" --label "cluster, 1 worker" \
    --server "$S" --pids "$(cl_pids)" --rate "$DECAY_RATE" --duration-s "$DECAY_S"
  bench 18-cluster-decay-backlog decay-backlog --ws "$GW1" --api "$API" --label "cluster, 1 worker" \
    --server "$S" --pids "$(cl_pids)" --pixels "$BACKLOG" \
    --pause-cmd "scripts/cluster.sh stop worker" --resume-cmd "scripts/cluster.sh start worker"
  cluster_down
fi

# ---------------------------------------------------------------- Redis HA
# A primary, a replica and three sentinels (scripts/cluster.sh
# REDIS_TOPOLOGY=sentinel), 1 gateway. With REDIS_MIN_REPLICAS_ACKED=1 an
# ack waits for the replica: placements/s and ack latency against
# cluster-place's one primary. Then, with N=0 and N=1, the primary
# `kill -9`ed under placements: time to the first acked placement after
# it, and acked placements missing from the board afterwards.
if wanted sentinel-place sentinel-failover-0 sentinel-failover-1; then
  settings 1 3600000
  for n in 0 1; do
    wanted sentinel-failover-$n || { [ "$n" = 1 ] && wanted sentinel-place; } || continue
    log "Sentinel, REDIS_MIN_REPLICAS_ACKED=$n: place, failover"
    export REDIS_TOPOLOGY=sentinel REDIS_MIN_REPLICAS_ACKED=$n
    cluster_up "sentinel-$n" 1
    GW1=127.0.0.1:${GW[0]}
    API=http://127.0.0.1:$API_PORT
    label="Sentinel, REDIS_MIN_REPLICAS_ACKED=$n, 1 gateway"
    if [ "$n" = 1 ]; then
      bench 31-sentinel-place place --ws "$GW1" --api "$API" --label "$label" --server "$S" \
        --pids "$(cl_pids)" --sockets "$PLACE_SOCKETS" --rate "$PLACE_RATE" --duration-s "$PLACE_S"
    fi
    bench "3$((n + 2))-sentinel-failover-$n" failover --ws "$GW1" --api "$API" --label "$label" \
      --server "$S REDIS_MIN_REPLICAS_ACKED=$n" --pids "$(cl_pids)" --sockets "$FAILOVER_SOCKETS" \
      --rate "$FAILOVER_RATE" --duration-s "$FAILOVER_S" --kill-after-s "$FAILOVER_KILL_S" \
      --kill-cmd "scripts/bench.sh _redis kill-primary" --restore-cmd "scripts/bench.sh _redis restore"
    cluster_down
    unset REDIS_TOPOLOGY REDIS_MIN_REPLICAS_ACKED
  done
fi

# ---------------------------------------------------------------- Redis Cluster
# Three primaries and three replicas (scripts/cluster.sh
# REDIS_TOPOLOGY=cluster), 1 gateway. Boards main, second and south: their
# hash tags fall in the three primaries' slot ranges (12501, 164, 9379 of
# 0-5460 / 5461-10922 / 10923-16383), so each board's steps and feed are
# on a shard of their own. place splits its sockets and rate over the three;
# the decay backlog is the cluster group's, on main's shard.
if wanted rcluster-place rcluster-decay-backlog; then
  export REDIS_TOPOLOGY=cluster BOARD_IDS=main,second,south
  label="Redis Cluster (3 primaries), 1 gateway"
  if wanted rcluster-place; then
    log "Redis Cluster: place on three boards"
    settings 1 3600000
    cluster_up rcluster-a 1
    bench 41-rcluster-place place --ws "127.0.0.1:${GW[0]}" --api "http://127.0.0.1:$API_PORT" \
      --label "$label, boards main/second/south" --server "$S REDIS_TOPOLOGY=cluster BOARD_IDS=$BOARD_IDS" \
      --pids "$(cl_pids)" --sockets "$PLACE_SOCKETS" --rate "$PLACE_RATE" --duration-s "$PLACE_S" \
      --boards main,second,south
    cluster_down
  fi
  if wanted rcluster-decay-backlog; then
    log "Redis Cluster: decay backlog"
    settings 0 "$DECAY_TTL_MS"
    cluster_up rcluster-b 1
    bench 42-rcluster-decay-backlog decay-backlog --ws "127.0.0.1:${GW[0]}" --api "http://127.0.0.1:$API_PORT" \
      --label "$label, 1 worker" --server "$S REDIS_TOPOLOGY=cluster" --pids "$(cl_pids)" \
      --pixels "$BACKLOG" --pause-cmd "scripts/cluster.sh stop worker" --resume-cmd "scripts/cluster.sh start worker"
    cluster_down
  fi
  unset REDIS_TOPOLOGY BOARD_IDS
fi

# ---------------------------------------------------------------- report
if [ -n "$ONLY" ]; then
  log "results: $RESULTS"
  [ "${#FAILED[@]}" -eq 0 ] || { log "failed scenarios: ${FAILED[*]}"; exit 1; }
  exit 0
fi
case $MODE in
  full) MD=bench/results/latest.md JSON=bench/results/latest.json ;;
  quick) MD=bench/results/quick.md JSON=bench/results/quick.json ;;
  smoke) MD=$RUN_DIR/latest.md JSON=$RUN_DIR/latest.json ;;
esac
mkdir -p bench/results
EXPECT=""
[ "$MODE" = smoke ] && EXPECT="fanout,fanout-binary,fanout-tiles,fanout-tiles-whole,idle,place,fill,snapshot-plain,snapshot-conditional,snapshot-tile,decay-steady,decay-backlog,churn,failover"
"$BENCH" report --dir "$RESULTS" --md "$MD" --json "$JSON" --mode "$MODE" --expect "$EXPECT" \
  --note "The load generator runs on the same machine and shares its $(nproc) cores with the servers it measures." \
  --note "Each scenario ran $RUNS time(s); the table shows the median (each figure on its own) and every run." \
  --note "Clients are spread over $SOURCES loopback source addresses (127.0.0.2..); nginx is sticky by client address." \
  --note "Per-socket event limits are lifted (SOCKET_EVENT_RATE/BURST) so a few placing sockets can offer the load." \
  --note "Per-address limits are off (sign-ups, connections, nginx auth/connection limits): the generator's clients share a few loopback addresses." \
  >/dev/null
log "results: $MD, $JSON"
if [ "${#FAILED[@]}" -gt 0 ]; then
  log "failed scenarios: ${FAILED[*]}"
  exit 1
fi
