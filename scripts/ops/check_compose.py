#!/usr/bin/env python3
"""Cross-checks docker/compose.yaml against the files it uses, beyond the
compose spec's schema:

- every `build.target` is a stage of docker/Dockerfile;
- every target in prometheus/prometheus.yml is a compose service listening
  on that PORT, and every api/gateway/worker service is scraped;
- nginx's GATEWAY_SERVERS and API_SERVERS name exactly those services;
- Redis runs with AOF and fsync always; every service has a restart policy,
  a healthcheck and a memory limit; only nginx, Prometheus and Grafana
  publish ports (so /metrics stays private).

    check_compose.py docker/compose.yaml docker/Dockerfile prometheus/prometheus.yml
"""

import re
import sys

import yaml


def main(compose_path, dockerfile_path, prometheus_path):
    compose = yaml.safe_load(open(compose_path))
    services = compose["services"]
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", open(dockerfile_path).read(), re.M | re.I))
    errors = []

    def port_of(name):
        return str(services[name].get("environment", {}).get("PORT", ""))

    rust = {n for n, s in services.items() if s.get("build")}
    for n in sorted(rust):
        target = services[n]["build"].get("target")
        if target not in stages:
            errors.append(f"{n}: build target {target!r} is not a stage of {dockerfile_path}")

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

    for e in errors:
        print(f"FAIL {e}")
    print(f"{'ok  ' if not errors else 'FAIL'} compose: {len(services)} services cross-checked")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
