# Helpers for the test, cluster and benchmark scripts: free ports, waiting on
# conditions, starting processes that are stopped again on exit, installing
# missing commands, rendering nginx templates, local clusters on free ports
# and the processes a killed run left behind.
# shellcheck shell=bash

RUN_DIR=${RUN_DIR:-"$PWD/.run"}
mkdir -p "$RUN_DIR"
STARTED_PIDS=()

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL [SECONDS]: until URL answers 200.
wait_http() {
  local url=$1 deadline=$((SECONDS + ${2:-30}))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "timed out waiting for $url"
      return 1
    fi
    sleep 0.1
  done
}

# start NAME CMD...: runs CMD in the background, logging to $RUN_DIR/NAME.log.
start() {
  local name=$1
  shift
  "$@" >"$RUN_DIR/$name.log" 2>&1 &
  local pid=$!
  STARTED_PIDS+=("$pid")
  echo "$pid" >"$RUN_DIR/$name.pid"
  log "started $name (pid $pid)"
}

stop_started() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  done
  STARTED_PIDS=()
}

# need_cmd CMD DEBIAN_PACKAGE: installs the package when CMD is missing.
APT_UPDATED=0
need_cmd() {
  local cmd=$1 pkg=$2
  command -v "$cmd" >/dev/null 2>&1 && return 0
  log "installing $pkg (for $cmd)"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ "$APT_UPDATED" -eq 0 ]; then
    $sudo apt-get update -qq
    APT_UPDATED=1
  fi
  # Keep apt from starting the package's system service (nginx on :80,
  # redis on :6379): we run our own instances and start nothing else.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
  [ "$own_policy" -eq 0 ] || $sudo rm -f "$policy"
}

# render TEMPLATE OUT: fills the template's ${VAR} placeholders from the
# environment, leaving nginx's own $variables alone. A placeholder whose
# variable is unset is an error.
render() {
  python3 - "$1" "$2" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
out = re.sub(r"\$\{([A-Z_]+)\}", lambda m: os.environ[m.group(1)], text)
open(sys.argv[2], "w").write(out)
PY
}

# stop_stale DIR: a run that was killed left processes behind; stops those
# recorded under DIR — local clusters by `cluster.sh down`, the rest by
# their pid files, and only processes started from this checkout — so that
# DIR can go.
stop_stale() {
  local dir=$1 root=$PWD cluster f pid
  [ -d "$dir" ] || return 0
  while IFS= read -r cluster; do
    CLUSTER_DIR=$cluster scripts/cluster.sh down >/dev/null 2>&1 || true
  done < <(find "$dir" -type d -name pids -printf '%h\n')
  while IFS= read -r f; do
    pid=$(cat "$f" 2>/dev/null) || continue
    if kill -0 "$pid" 2>/dev/null && [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$root" ]; then
      kill "$pid" 2>/dev/null || true
    fi
  done < <(find "$dir" -name '*.pid')
}

# cluster_ports: six free ports for a Redis Cluster's nodes, whose cluster
# bus ports (+ 10000) are free too.
cluster_ports() {
  python3 -c '
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
ports = []
while len(ports) < 6:
    p = random.randint(20000, 55000)
    if p not in ports and p + 10000 not in ports and free(p) and free(p + 10000):
        ports.append(p)
print(" ".join(map(str, ports)))'
}

# start_cluster DIR GATEWAYS: a local cluster (scripts/cluster.sh up) in DIR
# with its own Redis, every port free; exports CLUSTER_DIR and the ports
# (NGINX_PORT, API_PORT, WORKER_PORT, REDIS_PORT, GATEWAY_PORTS, and with
# REDIS_TOPOLOGY=sentinel REDIS_REPLICA_PORT, SENTINEL_PORTS; with
# REDIS_TOPOLOGY=cluster REDIS_CLUSTER_PORTS) for the
# suites. Any other setting comes from the caller's environment.
start_cluster() {
  export CLUSTER_DIR=$1 GATEWAYS=$2
  NGINX_PORT=$(free_port) API_PORT=$(free_port) WORKER_PORT=$(free_port) REDIS_PORT=$(free_port)
  GATEWAY_PORTS=""
  for _ in $(seq "$2"); do GATEWAY_PORTS+="$(free_port) "; done
  GATEWAY_PORTS=${GATEWAY_PORTS% }
  export NGINX_PORT API_PORT WORKER_PORT REDIS_PORT GATEWAY_PORTS
  if [ "${REDIS_TOPOLOGY:-single}" = sentinel ]; then
    REDIS_REPLICA_PORT=$(free_port)
    SENTINEL_PORTS="$(free_port) $(free_port) $(free_port)"
    export REDIS_REPLICA_PORT SENTINEL_PORTS
  elif [ "${REDIS_TOPOLOGY:-single}" = cluster ]; then
    REDIS_CLUSTER_PORTS=$(cluster_ports)
    export REDIS_CLUSTER_PORTS
  fi
  scripts/cluster.sh up
}

# stop_cluster: stops the cluster start_cluster made, if any of it runs.
stop_cluster() {
  if [ -n "${CLUSTER_DIR:-}" ] && compgen -G "$CLUSTER_DIR/pids/*.pid" >/dev/null; then
    scripts/cluster.sh down
  fi
}

# need_cmds CMD[=DEBIAN_PACKAGE]...: need_cmd for each (the package is
# named like the command unless given).
need_cmds() {
  local spec
  for spec in "$@"; do
    need_cmd "${spec%%=*}" "${spec#*=}"
  done
}

# py_venv DIR PACKAGE...: a virtualenv in DIR holding exactly these pinned
# packages (re-made when the list changes; Debian's python3-venv installed
# first if venv's pip bootstrap is missing).
py_venv() {
  local venv=$1; shift
  [ "$(cat "$venv/installed" 2>/dev/null)" = "$*" ] && return 0
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    # Debian's python3 keeps venv's pip bootstrap in its own package.
    log "installing python3-venv"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  log "installing $* into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$*" >"$venv/installed"
}
