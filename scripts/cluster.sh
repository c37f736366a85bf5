#!/usr/bin/env bash
# The local cluster: redis-server, the api, N gateways, the worker and nginx
# on loopback, as processes of our own (no Docker engine needed).
#
#   scripts/cluster.sh up       build, start everything, wait until ready
#   scripts/cluster.sh down     stop exactly what `up` started
#   scripts/cluster.sh status   what runs, on which port
#   scripts/cluster.sh stop NAME / start NAME   one process (redis, api,
#                               gateway-1.., worker, nginx; redis-1..6 with
#                               REDIS_TOPOLOGY=cluster), e.g. for drills
#
# Settings (environment; defaults are the contract's ports):
#   GATEWAYS=3  WORKERS=1  NGINX_PORT=8080  API_PORT=3000  WORKER_PORT=3002
#   (worker N > 1 listens on WORKER_PORT + 100 * (N - 1))
#   GATEWAY_PORTS="3001 3011 3021"  REDIS_PORT=6379
#   REDIS_URL   use this Redis instead of starting one
#   REDIS_TOPOLOGY=single   or `sentinel`: a primary (redis, REDIS_PORT), a
#               replica (redis-replica, REDIS_REPLICA_PORT=6380) and three
#               sentinels (sentinel-1..3, SENTINEL_PORTS="26379 26380 26381";
#               quorum 2, down-after 1000 ms, failover-timeout 3000 ms,
#               master name `pixel`); every service gets
#               REDIS_URL=redis+sentinel://<the sentinels>/pixel/0
#   REDIS_TOPOLOGY=cluster: Redis Cluster of 3 primaries and 3 replicas
#               (redis-1..redis-6 on REDIS_CLUSTER_PORTS, default
#               "7101 7102 7103 7104 7105 7106", each with its cluster bus
#               on port + 10000; cluster-node-timeout 1500 ms,
#               AOF with fsync always; made with `redis-cli --cluster create
#               --cluster-replicas 1`, so redis-1..3 start as the primaries);
#               `up` waits for cluster_state:ok on every node; a node stopped
#               and started again rejoins with its nodes.conf (an old
#               primary comes back as a replica of the promoted one); every
#               service gets REDIS_URL=redis+cluster://<the six nodes>
#   JWT_SECRET  default: generated once and kept in $CLUSTER_DIR/jwt_secret
#   PROFILE     release (default) or debug: which cargo build to run
#   CLUSTER_DIR where pids, logs and Redis data live (.run/cluster)
#   NGINX_AUTH_RATE=5r/s NGINX_AUTH_BURST=20   auth requests per address
#   NGINX_CONN_PER_ADDR=64                     Socket.IO connections per address
#   NGINX_BIND=127.0.0.1                       nginx's listen address
# `up` records these settings in $CLUSTER_DIR/cluster.env; `status`, `start`,
# `stop` and `down` read them back, so they act on the cluster `up` made.
# Every other setting of docs/configuration.md (COOLDOWN_MS, TTL_MS, ...;
# the list SERVICE_SETTINGS below) is passed through to the services.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CLUSTER_DIR=${CLUSTER_DIR:-"$ROOT/.run/cluster"}
export RUN_DIR=$CLUSTER_DIR
source scripts/lib.sh
need_cmd python3 python3

# Every command but `up` acts on the cluster `up` made, with its settings.
if [ "${1:-}" != up ] && [ -f "$CLUSTER_DIR/cluster.env" ]; then
  set -a
  # shellcheck disable=SC1091
  source "$CLUSTER_DIR/cluster.env"
  set +a
fi

GATEWAYS=${GATEWAYS:-3}
WORKERS=${WORKERS:-1}
NGINX_PORT=${NGINX_PORT:-8080}
API_PORT=${API_PORT:-3000}
WORKER_PORT=${WORKER_PORT:-3002}
REDIS_PORT=${REDIS_PORT:-6379}
REDIS_TOPOLOGY=${REDIS_TOPOLOGY:-single}
REDIS_REPLICA_PORT=${REDIS_REPLICA_PORT:-6380}
SENTINEL_PORTS=${SENTINEL_PORTS:-26379 26380 26381}
read -r -a SN_PORTS <<<"$SENTINEL_PORTS"
SENTINEL_MASTER=pixel
REDIS_CLUSTER_PORTS=${REDIS_CLUSTER_PORTS:-7101 7102 7103 7104 7105 7106}
read -r -a RC_PORTS <<<"$REDIS_CLUSTER_PORTS"
case $REDIS_TOPOLOGY in
  single | sentinel) ;;
  cluster)
    if [ "${#RC_PORTS[@]}" -ne 6 ]; then
      echo "cluster.sh: REDIS_CLUSTER_PORTS must name six ports (3 primaries, 3 replicas), not '$REDIS_CLUSTER_PORTS'" >&2
      exit 2
    fi
    ;;
  *) echo "cluster.sh: REDIS_TOPOLOGY must be single, sentinel or cluster, not '$REDIS_TOPOLOGY'" >&2; exit 2 ;;
esac
PROFILE=${PROFILE:-release}
NGINX_AUTH_RATE=${NGINX_AUTH_RATE:-5r/s}
NGINX_AUTH_BURST=${NGINX_AUTH_BURST:-20}
NGINX_CONN_PER_ADDR=${NGINX_CONN_PER_ADDR:-64}
if [ -z "${GATEWAY_PORTS:-}" ]; then
  GATEWAY_PORTS=""
  for i in $(seq 0 $((GATEWAYS - 1))); do GATEWAY_PORTS+="$((3001 + 10 * i)) "; done
fi
read -r -a GW_PORTS <<<"$GATEWAY_PORTS"
BIN="$ROOT/target/$PROFILE"
PIDS="$CLUSTER_DIR/pids"
mkdir -p "$PIDS" "$CLUSTER_DIR/redis" "$CLUSTER_DIR/nginx-tmp"

if [ -z "${JWT_SECRET:-}" ]; then
  # Readable by its owner only.
  [ -f "$CLUSTER_DIR/jwt_secret" ] || (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' >"$CLUSTER_DIR/jwt_secret")
  chmod 600 "$CLUSTER_DIR/jwt_secret"
  JWT_SECRET=$(cat "$CLUSTER_DIR/jwt_secret")
fi
export JWT_SECRET
OWN_REDIS=0
if [ -z "${REDIS_URL:-}" ]; then
  OWN_REDIS=1
  if [ "$REDIS_TOPOLOGY" = sentinel ]; then
    REDIS_URL="redis+sentinel://$(printf '127.0.0.1:%s,' "${SN_PORTS[@]}")"
    REDIS_URL="${REDIS_URL%,}/$SENTINEL_MASTER/0"
  elif [ "$REDIS_TOPOLOGY" = cluster ]; then
    REDIS_URL="redis+cluster://$(printf '127.0.0.1:%s,' "${RC_PORTS[@]}")"
    REDIS_URL="${REDIS_URL%,}"
  else
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
  fi
elif [ "$REDIS_TOPOLOGY" != single ]; then
  echo "cluster.sh: REDIS_TOPOLOGY=$REDIS_TOPOLOGY starts its own Redis; unset REDIS_URL" >&2
  exit 2
fi
export REDIS_URL

# launch NAME CMD...: detached, logged, pid recorded.
launch() {
  local name=$1
  shift
  setsid "$@" >"$CLUSTER_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
  log "$name: pid $!"
}

alive() {
  local f="$PIDS/$1.pid"
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

stop_one() {
  local name=$1 f="$PIDS/$1.pid" pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    log "$name stopped"
  fi
  rm -f "$f"
}

SERVICE_ENV=(env RUST_LOG="${RUST_LOG:-info}" BIND_ADDR=127.0.0.1)
# The settings of docs/configuration.md that the services take from the
# environment of `up` as they are (scripts/ops/check_config.py compares
# this list with the table). The others are this script's own: PORT and
# BIND_ADDR per process, REDIS_URL and JWT_SECRET above, TRUSTED_PROXIES
# for the nginx in front.
SERVICE_SETTINGS=(
  BOARD_IDS BOARD_WIDTH BOARD_HEIGHT BOARD_TILE_SIZE COOLDOWN_MS TTL_MS
  ACCESS_TOKEN_TTL_S REFRESH_TOKEN_TTL_S REFRESH_PER_MINUTE SIGNUPS_PER_ADDRESS_HOUR
  HASH_CONCURRENCY HASH_QUEUE HASH_QUEUE_MS
  SOCKET_EVENT_RATE SOCKET_EVENT_BURST MAX_PAYLOAD_BYTES PLACE_CONCURRENCY
  SOCKET_BUFFER_PACKETS RELAY_BATCH_MS WS_READ_BUFFER_BYTES MAX_CONNECTIONS MAX_CONNECTIONS_PER_ADDRESS
  PING_INTERVAL_MS PING_TIMEOUT_MS CONNECT_TIMEOUT_MS CORS_ORIGINS SWEEP_INTERVAL_MS SWEEP_BATCH
  SHUTDOWN_READY_DELAY_MS SHUTDOWN_DRAIN_MS LOG_FORMAT RUST_LOG
  REDIS_MIN_REPLICAS_ACKED REDIS_REPLICA_ACK_TIMEOUT_MS
)

start_redis() {
  [ "$OWN_REDIS" = 1 ] || return 0
  if [ "$REDIS_TOPOLOGY" = sentinel ]; then
    start_data_node redis "$REDIS_PORT"
    return
  fi
  need_cmd redis-server redis-server
  launch redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$CLUSTER_DIR/redis" \
    --appendonly yes --appendfsync always --save ""
  wait_redis "$REDIS_PORT"
}

wait_redis() {
  for _ in $(seq 100); do
    redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  log "redis on port $1 did not start"; return 1
}

# The primary as the sentinels name it ("HOST PORT"), empty when none answers.
sentinel_primary() {
  local p out
  for p in "${SN_PORTS[@]}"; do
    out=$(redis-cli -p "$p" sentinel get-master-addr-by-name "$SENTINEL_MASTER" 2>/dev/null | tr '\n' ' ') || continue
    out=${out% }
    [[ $out =~ ^[0-9.]+\ [0-9]+$ ]] && { echo "$out"; return 0; }
  done
}

# start_data_node NAME PORT: a Redis data node of the sentinel set-up, with
# the single topology's durability (AOF, fsync always). It starts as a
# replica of the primary the sentinels name; before any sentinel runs (the
# first `up`), `redis` is the primary and `redis-replica` its replica. So an
# old primary started again after a failover comes back as a replica of the
# promoted one (its divergent data is replaced by a full sync).
start_data_node() {
  local name=$1 port=$2 primary replicaof=()
  need_cmd redis-server redis-server
  primary=$(sentinel_primary)
  if [ -n "$primary" ]; then
    # shellcheck disable=SC2206 # "HOST PORT": two arguments
    [ "${primary#* }" = "$port" ] || replicaof=(--replicaof ${primary})
  elif [ "$name" != redis ]; then
    replicaof=(--replicaof 127.0.0.1 "$REDIS_PORT")
  fi
  mkdir -p "$CLUSTER_DIR/$name"
  # A replica's full sync starts at once: Redis 7 waits 5 s by default
  # (`repl-diskless-sync-delay`) for more replicas to share the transfer,
  # and with REDIS_MIN_REPLICAS_ACKED ≥ 1 writes wait for that sync.
  launch "$name" redis-server --port "$port" --bind 127.0.0.1 --dir "$CLUSTER_DIR/$name" \
    --appendonly yes --appendfsync always --save "" --repl-diskless-sync-delay 0 "${replicaof[@]}"
  wait_redis "$port"
}

# start_cluster_node I: Redis Cluster node redis-I on the I-th of
# REDIS_CLUSTER_PORTS, with the single topology's durability. Its
# nodes.conf (in its own directory) is kept: a node started again rejoins
# the cluster as what the others now take it for (an old primary whose
# replica was promoted comes back as that one's replica).
start_cluster_node() {
  local i=$1 port=${RC_PORTS[$(($1 - 1))]} dir="$CLUSTER_DIR/redis-$1"
  need_cmd redis-server redis-server
  mkdir -p "$dir"
  launch "redis-$i" redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1500 \
    --appendonly yes --appendfsync always --save "" --repl-diskless-sync-delay 0
  wait_redis "$port"
}

# The cluster is made once (the first `up`, while no node knows any slot):
# redis-1..3 the primaries, redis-4..6 their replicas. Then until every
# node says cluster_state:ok and knows all six nodes, at most 30 s.
create_redis_cluster() {
  local p nodes=() deadline=$((SECONDS + 30))
  for p in "${RC_PORTS[@]}"; do nodes+=("127.0.0.1:$p"); done
  if redis-cli -p "${RC_PORTS[0]}" cluster info 2>/dev/null | grep -q '^cluster_slots_assigned:0'; then
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$CLUSTER_DIR/redis-cluster-create.log" 2>&1 ||
      { log "redis-cli --cluster create failed:"; cat "$CLUSTER_DIR/redis-cluster-create.log" >&2; return 1; }
  fi
  for p in "${RC_PORTS[@]}"; do
    until redis-cli -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' &&
      [ "$(redis-cli -p "$p" cluster nodes 2>/dev/null | grep -cv 'fail\|handshake\|noaddr')" = 6 ]; do
      if ((SECONDS >= deadline)); then
        log "Redis Cluster node on port $p is not ok: $(redis-cli -p "$p" cluster info 2>&1 | head -1)"
        return 1
      fi
      sleep 0.2
    done
  done
  log "Redis Cluster ready: primaries $(redis-cli -p "${RC_PORTS[0]}" cluster nodes | awk '$3 ~ /master/ {sub(/@.*/, "", $2); printf "%s ", $2}')"
}

# start_sentinel I: sentinel I (redis-server --sentinel) on its port,
# monitoring the current primary (as a running sentinel names it, else
# `redis`). Its configuration is written anew at each start (a sentinel
# rewrites it while running); its peers and the replica it learns from the
# primary.
start_sentinel() {
  local i=$1 port=${SN_PORTS[$(($1 - 1))]} dir="$CLUSTER_DIR/sentinel-$1" primary
  need_cmd redis-server redis-server
  primary=$(sentinel_primary)
  [ -n "$primary" ] || primary="127.0.0.1 $REDIS_PORT"
  mkdir -p "$dir"
  cat >"$dir/sentinel.conf" <<CONF
port $port
bind 127.0.0.1
dir $dir
sentinel monitor $SENTINEL_MASTER $primary 2
sentinel down-after-milliseconds $SENTINEL_MASTER 1000
sentinel failover-timeout $SENTINEL_MASTER 3000
sentinel parallel-syncs $SENTINEL_MASTER 1
CONF
  launch "sentinel-$i" redis-server "$dir/sentinel.conf" --sentinel
  wait_redis "$port"
}

start_api() {
  # Behind our nginx on loopback, which sets X-Forwarded-For: per-address
  # limits count the clients, not nginx.
  launch api "${SERVICE_ENV[@]}" PORT="$API_PORT" TRUSTED_PROXIES=127.0.0.0/8,::1/128 "$BIN/pixel-api"
  wait_http "http://127.0.0.1:$API_PORT/readyz" 60
}

start_gateway() {
  local i=$1 port=${GW_PORTS[$(($1 - 1))]}
  launch "gateway-$i" "${SERVICE_ENV[@]}" PORT="$port" TRUSTED_PROXIES=127.0.0.0/8,::1/128 "$BIN/pixel-gateway"
  wait_http "http://127.0.0.1:$port/readyz" 60
}

start_worker() {
  local n=${1:-1} name=worker port=$WORKER_PORT
  if [ "$n" -gt 1 ]; then name="worker-$n" port=$((WORKER_PORT + 100 * (n - 1))); fi
  launch "$name" "${SERVICE_ENV[@]}" PORT="$port" "$BIN/pixel-worker"
  wait_http "http://127.0.0.1:$port/readyz" 60
}

start_nginx() {
  need_cmd nginx nginx
  local servers=""
  for p in "${GW_PORTS[@]}"; do servers+="server 127.0.0.1:$p max_fails=1 fail_timeout=2s; "; done
  # Loopback only, like the services: binding the wildcard address also
  # fails whenever any local connection uses the port as its source port.
  LISTEN_PORT="${NGINX_BIND:-127.0.0.1}:$NGINX_PORT" WEB_ROOT="$ROOT/web" API_SERVERS="server 127.0.0.1:$API_PORT;" \
    GATEWAY_SERVERS="$servers" NGINX_AUTH_RATE=$NGINX_AUTH_RATE NGINX_AUTH_BURST=$NGINX_AUTH_BURST \
    NGINX_CONN_PER_ADDR=$NGINX_CONN_PER_ADDR render nginx/realtime-pixel.conf.template "$CLUSTER_DIR/realtime-pixel.conf"
  MIME_TYPES=/etc/nginx/mime.types render nginx/nginx.conf.template "$CLUSTER_DIR/nginx.conf"
  nginx -t -q -p "$CLUSTER_DIR" -c "$CLUSTER_DIR/nginx.conf"
  launch nginx nginx -p "$CLUSTER_DIR" -c "$CLUSTER_DIR/nginx.conf"
  wait_http "http://127.0.0.1:$NGINX_PORT/nginx-healthz" 30
}

start_named() {
  case $1 in
    redis) start_redis ;;
    redis-replica) start_data_node redis-replica "$REDIS_REPLICA_PORT" ;;
    redis-[1-6]) start_cluster_node "${1#redis-}" ;;
    sentinel-*) start_sentinel "${1#sentinel-}" ;;
    api) start_api ;;
    worker) start_worker 1 ;;
    worker-*) start_worker "${1#worker-}" ;;
    nginx) start_nginx ;;
    gateway-*) start_gateway "${1#gateway-}" ;;
    *) log "unknown process $1"; return 2 ;;
  esac
}

# Until every sentinel knows the replica and its peers (what a failover
# needs), at most 30 s.
wait_sentinels() {
  local p info deadline=$((SECONDS + 30))
  for p in "${SN_PORTS[@]}"; do
    until info=$(redis-cli -p "$p" sentinel master "$SENTINEL_MASTER" 2>/dev/null | tr '\n' ' ') &&
      [[ " $info " == *" num-slaves 1 "* && " $info " == *" num-other-sentinels $((${#SN_PORTS[@]} - 1)) "* ]]; do
      if ((SECONDS >= deadline)); then
        log "sentinel on port $p does not see the replica and its peers: $info"
        return 1
      fi
      sleep 0.2
    done
  done
  log "sentinels ready: $(sentinel_primary) is the primary"
}

all_names() {
  if [ "$REDIS_TOPOLOGY" = cluster ]; then
    for i in $(seq 1 "${#RC_PORTS[@]}"); do echo "redis-$i"; done
  else
    echo redis
  fi
  if [ "$REDIS_TOPOLOGY" = sentinel ]; then
    echo redis-replica
    for i in $(seq 1 "${#SN_PORTS[@]}"); do echo "sentinel-$i"; done
  fi
  echo api
  for i in $(seq 1 "${#GW_PORTS[@]}"); do echo "gateway-$i"; done
  echo worker
  for i in $(seq 2 "$WORKERS"); do echo "worker-$i"; done
  echo nginx
}

case ${1:-} in
  up)
    if [ "$PROFILE" = release ]; then
      cargo build --release --locked --bin pixel-api --bin pixel-gateway --bin pixel-worker
    else
      cargo build --locked --bin pixel-api --bin pixel-gateway --bin pixel-worker
    fi
    for name in $(all_names); do
      # On Cluster the services start once the cluster is made.
      [ "$name" != api ] || [ "$REDIS_TOPOLOGY" != cluster ] || [ "$OWN_REDIS" != 1 ] || create_redis_cluster
      alive "$name" || start_named "$name"
    done
    cat >"$CLUSTER_DIR/cluster.env" <<ENV
NGINX_PORT=$NGINX_PORT
API_PORT=$API_PORT
WORKER_PORT=$WORKER_PORT
WORKERS=$WORKERS
GATEWAYS=${#GW_PORTS[@]}
GATEWAY_PORTS="${GW_PORTS[*]}"
REDIS_PORT=$REDIS_PORT
REDIS_TOPOLOGY=$REDIS_TOPOLOGY
REDIS_REPLICA_PORT=$REDIS_REPLICA_PORT
SENTINEL_PORTS="${SN_PORTS[*]}"
REDIS_CLUSTER_PORTS="${RC_PORTS[*]}"
PROFILE=$PROFILE
NGINX_AUTH_RATE=$NGINX_AUTH_RATE
NGINX_AUTH_BURST=$NGINX_AUTH_BURST
NGINX_CONN_PER_ADDR=$NGINX_CONN_PER_ADDR
ENV
    # The services' own settings given to `up`, so that `start NAME` later
    # runs a process configured like its peers.
    for v in "${SERVICE_SETTINGS[@]}"; do
      [ -z "${!v:-}" ] || printf '%s=%q\n' "$v" "${!v}" >>"$CLUSTER_DIR/cluster.env"
    done
    # An external Redis is part of the state; our own is rebuilt from the port.
    [ "$OWN_REDIS" = 1 ] || echo "REDIS_URL=$REDIS_URL" >>"$CLUSTER_DIR/cluster.env"
    [ "$REDIS_TOPOLOGY" != sentinel ] || wait_sentinels
    log "cluster up: http://localhost:$NGINX_PORT/"
    ;;
  down)
    for name in nginx $(for i in $(seq "$WORKERS" -1 2); do echo "worker-$i"; done) worker $(for i in $(seq "${#GW_PORTS[@]}" -1 1); do echo "gateway-$i"; done) api \
      $(for i in $(seq "${#SN_PORTS[@]}" -1 1); do echo "sentinel-$i"; done) redis-replica redis \
      $(for i in $(seq "${#RC_PORTS[@]}" -1 1); do echo "redis-$i"; done); do
      stop_one "$name"
    done
    # Gateways started beyond the configured count (a drill) go too.
    for f in "$PIDS"/*.pid; do
      [ -e "$f" ] && stop_one "$(basename "$f" .pid)"
    done
    log "cluster down"
    ;;
  status)
    for name in $(all_names); do
      if alive "$name"; then echo "$name: running (pid $(cat "$PIDS/$name.pid"))"; else echo "$name: stopped"; fi
    done
    ;;
  stop) stop_one "${2:?name}" ;;
  start) start_named "${2:?name}" ;;
  *)
    sed -n '2,42p' "$0"
    exit 2
    ;;
esac
