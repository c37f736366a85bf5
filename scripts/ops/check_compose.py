#!/usr/bin/env python3
"""Cross-checks docker/compose.yaml against the files it uses, beyond the
compose spec's schema:

- every `build.target` is a stage of docker/Dockerfile;
- every target in prometheus/prometheus.yml is a compose service listening
  on that PORT, and every api/gateway/worker service is scraped;
- nginx's GATEWAY_SERVERS and API_SERVERS name exactly those services;
- nginx is the web image (build target `web`) serving the page from the
  image: WEB_ROOT is where that stage puts the page's files, nothing of
  web/ is mounted, the front's template is, and it listens on the image's
  PORT (which its health probe and the published port use);
- the address plan holds together: every service has a fixed address, in
  the containers' range (ip_range: podman's CNI allocator refuses one
  outside it) and apart from the others (with none allocated on the fly,
  none can take a fixed one first); the data nodes announce, replicate
  from and are monitored at those addresses, never by name (a stopped
  container's name leaves the network's DNS); TRUSTED_PROXIES is the
  containers' range;
- Redis runs with AOF and fsync always; every service has a restart policy,
  a healthcheck and a memory limit; only nginx, Prometheus and Grafana
  publish ports (so /metrics stays private).

    check_compose.py docker/compose.yaml docker/Dockerfile prometheus/prometheus.yml
"""

import ipaddress
import os
import re
import sys

import yaml


def web_stage(dockerfile_path):
    """The web stage's lines of the Dockerfile (up to the next FROM)."""
    text = open(dockerfile_path).read()
    m = re.search(r"^FROM\s+\S+\s+AS\s+web\s*$(.*?)(?=^FROM\s|\Z)", text, re.M | re.S | re.I)
    return m.group(1) if m else ""


def check_front(nginx, dockerfile_path):
    errors = []
    if (nginx.get("build") or {}).get("target") != "web":
        errors.append(f"nginx is not the web image: build {nginx.get('build')}")
    stage = web_stage(dockerfile_path)
    page = re.search(r"^COPY\s+--from=page\s+\S+\s+(\S+)", stage, re.M)
    port = re.search(r"^ENV\s+PORT=(\d+)", stage, re.M)
    if not page or not port:
        return errors + [f"{dockerfile_path}: no web stage copying the page (COPY --from=page) with ENV PORT"]
    env = nginx.get("environment", {})
    if str(env.get("WEB_ROOT", "")).rstrip("/") != page.group(1).rstrip("/"):
        errors.append(f"nginx WEB_ROOT {env.get('WEB_ROOT')!r} is not the web image's page, {page.group(1).rstrip('/')}")
    if str(env.get("LISTEN_PORT")) != port.group(1):
        errors.append(f"nginx LISTEN_PORT {env.get('LISTEN_PORT')!r} is not the web image's PORT {port.group(1)}")
    published = [str(p).rsplit(":", 1)[-1] for p in nginx.get("ports", [])]
    if published != [port.group(1)]:
        errors.append(f"nginx publishes {nginx.get('ports')}, not its port {port.group(1)}")
    mounts = [str(v if isinstance(v, str) else v.get("source", "")).split(":")[0] for v in nginx.get("volumes", [])]
    for source in mounts:
        if re.fullmatch(r"(\.\./)?web(/.*)?", source.rstrip("/")):
            errors.append(f"nginx mounts {source}: the page must come from the web image")
    templates = [v for v in nginx.get("volumes", []) if isinstance(v, str)
                 and v.startswith("../nginx/realtime-pixel.conf.template:/etc/nginx/templates/default.conf.template")]
    if len(templates) != 1:
        errors.append("nginx does not mount nginx/realtime-pixel.conf.template as /etc/nginx/templates/default.conf.template")
    return errors


def fixed_ip(service):
    return ((service.get("networks") or {}).get("default") or {}).get("ipv4_address")


def check_address_plan(compose):
    """The fixed addresses against the network's plan, and the data nodes
    naming each other by them."""
    errors = []
    services = compose["services"]
    try:
        (ipam,) = compose["networks"]["default"]["ipam"]["config"]
        subnet, pool = ipaddress.ip_network(ipam["subnet"]), ipaddress.ip_network(ipam["ip_range"])
        gateway = ipaddress.ip_address(ipam["gateway"])
    except (KeyError, TypeError, ValueError) as e:
        return [f"networks.default.ipam: no single subnet, ip_range and gateway ({e!r})"]
    if not pool.subnet_of(subnet) or gateway not in subnet or gateway in pool:
        errors.append(f"network plan: ip_range {pool} and gateway {gateway} must be in {subnet}, the gateway outside {pool}")
    trusted = re.fullmatch(r"\$\{TRUSTED_PROXIES:-([^}]*)\}", str(services["api"]["environment"].get("TRUSTED_PROXIES", "")))
    if not trusted or trusted.group(1) != str(pool):
        errors.append(f"TRUSTED_PROXIES' default is not the containers' range {pool}")
    seen = {}
    for n, s in services.items():
        ip = fixed_ip(s)
        if ip is None:
            errors.append(f"{n}: no fixed address (every service has one, so none takes another's)")
            continue
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            errors.append(f"{n}: ipv4_address {ip!r} is no address")
            continue
        if addr not in pool or addr == pool.broadcast_address or addr == pool.network_address:
            errors.append(f"{n}: fixed address {ip} is not a host address of the containers' range {pool}")
        if ip in seen:
            errors.append(f"{n} and {seen[ip]} have the same address {ip}")
        seen[ip] = n
    redis_ip = fixed_ip(services["redis"])
    if not redis_ip:
        return errors + ["redis has no fixed address (networks.default.ipv4_address)"]

    def announced(cmd):
        m = re.search(r"--replica-announce-ip (\S+)", cmd)
        return m and m.group(1)

    cmd = " ".join(services["redis"]["command"])
    if announced(cmd) != redis_ip:
        errors.append(f"redis announces {announced(cmd)!r}, not its address {redis_ip}")
    replica = services.get("redis-replica")
    if replica:
        cmd = " ".join(replica["command"])
        if f"--replicaof {redis_ip} 6379" not in cmd:
            errors.append(f"redis-replica does not replicate from redis's address {redis_ip}")
        if not fixed_ip(replica) or announced(cmd) != fixed_ip(replica):
            errors.append(f"redis-replica announces {announced(cmd)!r}, not its fixed address {fixed_ip(replica)}")
    for n, s in services.items():
        if n.startswith("sentinel") and "hostnames" in " ".join(s.get("command", [])):
            errors.append(f"{n}: resolve-hostnames/announce-hostnames: the sentinels name the nodes by address")
    return errors


def check_sentinel_env(services, env_path):
    """docker/sentinel.env, the switch to the `sentinel` profile's sentinels,
    names every sentinel service on its port and the master they monitor."""
    errors = []
    sentinels = {n: s for n, s in services.items() if "sentinel" in s.get("profiles", []) and n.startswith("sentinel")}
    if not sentinels:
        return [f"no sentinel services in the sentinel profile (for {env_path})"]
    env = dict(
        line.split("=", 1) for line in open(env_path).read().splitlines() if line.strip() and not line.startswith("#")
    )
    m = re.fullmatch(r"redis\+sentinel://([^/]+)/([^/]+)(?:/\d+)?", env.get("REDIS_URL", ""))
    if not m:
        return [f"{env_path}: REDIS_URL {env.get('REDIS_URL')!r} is no redis+sentinel:// URL"]
    hosts, master = m.groups()
    for n, s in sentinels.items():
        conf = " ".join(s.get("command", []))
        port = re.search(r"port (\d+)", conf)
        if not port or f"{n}:{port.group(1)}" not in hosts.split(","):
            errors.append(f"{env_path}: REDIS_URL does not name {n} on its port")
        redis_ip = fixed_ip(services["redis"])
        if not redis_ip or not re.search(rf"sentinel monitor {re.escape(master)} {re.escape(redis_ip)} ", conf):
            errors.append(f"{n} does not monitor the master {master!r} of {env_path} at the redis service's fixed address")
        ip = fixed_ip(s)
        if not ip or s.get("environment", {}).get("ANNOUNCE_IP") != ip:
            errors.append(f"{n} does not announce its own fixed address")
    if len(hosts.split(",")) != len(sentinels):
        errors.append(f"{env_path}: REDIS_URL names {hosts}, the profile runs {sorted(sentinels)}")
    return errors


def main(compose_path, dockerfile_path, prometheus_path):
    compose = yaml.safe_load(open(compose_path))
    services = compose["services"]
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", open(dockerfile_path).read(), re.M | re.I))
    errors = []

    def port_of(name):
        return str(services[name].get("environment", {}).get("PORT", ""))

    built = {n for n, s in services.items() if s.get("build")}
    for n in sorted(built):
        target = services[n]["build"].get("target")
        if target not in stages:
            errors.append(f"{n}: build target {target!r} is not a stage of {dockerfile_path}")
    rust = {n for n in built if services[n]["build"].get("target") != "web"}

    prom = yaml.safe_load(open(prometheus_path))
    scraped = set()
    for job in prom["scrape_configs"]:
        for sc in job.get("static_configs", []):
            for t in sc["targets"]:
                host, port = t.rsplit(":", 1)
                if host == "localhost":
                    continue
                scraped.add(host)
                if host not in services:
                    errors.append(f"prometheus job {job['job_name']}: {host} is no compose service")
                elif port_of(host) != port:
                    errors.append(f"prometheus job {job['job_name']}: {host} listens on {port_of(host)!r}, not {port}")
                elif not host.startswith(job["job_name"]):
                    errors.append(f"prometheus job {job['job_name']} scrapes {host}")
    for n in sorted(rust - scraped):
        errors.append(f"{n} is not scraped by Prometheus")

    env = services["nginx"]["environment"]
    gws = re.findall(r"server\s+([\w-]+):(\d+)", env["GATEWAY_SERVERS"])
    want = sorted((n, port_of(n)) for n in services if n.startswith("gateway"))
    if sorted(gws) != want:
        errors.append(f"nginx GATEWAY_SERVERS {gws} != gateway services {want}")
    if re.findall(r"server\s+([\w-]+):(\d+)", env["API_SERVERS"]) != [("api", port_of("api"))]:
        errors.append(f"nginx API_SERVERS {env['API_SERVERS']!r} does not name the api")

    errors += check_front(services["nginx"], dockerfile_path)

    cmd = " ".join(services["redis"]["command"])
    if "--appendonly yes" not in cmd or "--appendfsync always" not in cmd:
        errors.append(f"redis runs without AOF fsync always: {cmd}")
    for n, s in services.items():
        for key in ("restart", "healthcheck"):
            if key not in s:
                errors.append(f"{n}: no {key}")
        if not s.get("deploy", {}).get("resources", {}).get("limits", {}).get("memory"):
            errors.append(f"{n}: no memory limit")
        if s.get("ports") and n not in ("nginx", "prometheus", "grafana"):
            errors.append(f"{n}: publishes ports {s['ports']}")

    errors += check_address_plan(compose)
    errors += check_sentinel_env(services, os.path.join(os.path.dirname(compose_path), "sentinel.env"))

    for e in errors:
        print(f"FAIL {e}")
    print(f"{'ok  ' if not errors else 'FAIL'} compose: {len(services)} services cross-checked")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
