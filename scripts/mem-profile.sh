#!/usr/bin/env bash
# Where an idle joined connection's memory goes: the standalone
# server (release build) under heaptrack, N spectators connected and joined
# by `pixel-bench idle`, then the heap at its peak grouped by allocation
# site, in bytes per connection.
#
#   scripts/mem-profile.sh [CONNECTIONS]     (default 5000)
#
# Needs `heaptrack` (Debian: apt-get install heaptrack) and the release
# binaries (cargo build --release --bin realtime-pixel --bin pixel-bench).
# Server settings come from the environment (e.g. WS_READ_BUFFER_BYTES=4096).
# Output and the raw profile stay in .run/mem-profile/. Not part of the test
# command: heaptrack slows the server down several times.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000}
export RUN_DIR="$PWD/.run/mem-profile"
source scripts/lib.sh
need_cmd heaptrack heaptrack
need_cmd heaptrack_print heaptrack
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

export JWT_SECRET="bench-secret-0123456789abcdef0123456789abcdef" RUST_LOG=warn
export BOARD_WIDTH=500 BOARD_HEIGHT=500 COOLDOWN_MS=1 TTL_MS=3600000
export MAX_CONNECTIONS=0 MAX_CONNECTIONS_PER_ADDRESS=0
port=$(free_port)
PORT=$port BIND_ADDR=127.0.0.1 heaptrack -o "$RUN_DIR/heap" "$PWD/target/release/realtime-pixel" \
  >"$RUN_DIR/server.log" 2>&1 &
wrapper=$!
wait_http "http://127.0.0.1:$port/readyz" 120
# heaptrack runs the server as its child: the server's own pid.
pid=$(pgrep -P "$wrapper" -f realtime-pixel || echo "$wrapper")
log "server pid $pid: $N idle joined connections"
target/release/pixel-bench idle --ws "127.0.0.1:$port" --api "http://127.0.0.1:$port" \
  --connections "$N" --pid "$pid" --settle-s 5 --out "$RUN_DIR/idle.json" >/dev/null
kill -INT "$pid"
while kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
wait || true
heaptrack_print -f "$RUN_DIR"/heap*.zst --flamegraph-cost-type peak -F "$RUN_DIR/stacks.txt" >/dev/null

python3 - "$RUN_DIR/stacks.txt" "$N" <<'PY' | tee "$RUN_DIR/sites.txt"
# Heap at its peak (all N connections held), by allocation site: the first
# rule whose frames match a stack (frames: function (file)) takes its bytes.
import collections, re, sys
n = int(sys.argv[2])
spawn = "bind_new_task"
rules = [
    ("hyper read buffer, kept alive by the request's URI/headers", lambda s: "poll_read_from_io" in s),
    ("engine (engine/): the connection's one task (ws.rs upgrade: read, write, heartbeat)", lambda s: spawn in s and "ws.rs" in s),
    ("engine (engine/): long-polling heartbeat task (polling.rs)", lambda s: spawn in s and "polling.rs" in s),
    ("other tasks", lambda s: spawn in s),
    ("engine (engine/): Socket (engine.rs create_session: queue, flags, request parts)", lambda s: "create_session" in s),
    ("engine (engine/): WebSocket connection state (ws.rs)", lambda s: "ws.rs" in s),
    ("engine (engine/): other sites (socket.rs, queue.rs, packet.rs)", lambda s: "engineioxide" in s),
    ("tokio: I/O registration", lambda s: "registration" in s),
    ("ours: request head copy (gateway detach_request)", lambda s: "detach_request" in s or "detach_uri" in s),
    ("ours: per-socket handler map (s.on)", lambda s: "register_handlers" in s),
    ("hash-map growth (socketioxide's and the gateway's per-socket tables)", lambda s: "reserve_rehash" in s),
    ("ours: Session (rate limiter, joined boards)", lambda s: "session.rs" in s or "handlers.rs" in s),
    ("socketioxide: Socket, extensions (ns.rs connect)", lambda s: "ns.rs" in s or "extensions.rs" in s),
]
total = collections.Counter()
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    stack, cost = line.rsplit(" ", 1)
    name = next((name for name, match in rules if match(stack)), "(other)")
    total[name] += int(cost)
for name, cost in total.most_common():
    print(f"{cost / n:9.0f} B/conn  {name}")
print(f"{sum(total.values()) / n:9.0f} B/conn  heap at peak, in all")
PY
log "sites: $RUN_DIR/sites.txt (flamegraph stacks: $RUN_DIR/stacks.txt)"
