# Helpers for the test and cluster scripts: free ports, waiting on
# conditions, starting processes that are stopped again on exit.
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
