#!/usr/bin/env python3
"""Checks a running Prometheus against the repository's rules and dashboards.

    check_prometheus.py PROM_URL --jobs api=1,gateway=3,worker=2 \
        --rules prometheus/rules/realtime-pixel.rules.yml \
        --dashboard grafana/dashboards/realtime-pixel.json [--timeout 90]

1. Every expected target (job=count) is scraped and up.
2. Every alert rule of the rules file is loaded, evaluated without error
   (health "ok") and its expression parses as a query.
3. Every dashboard panel's query parses and returns data. Grafana's
   $__rate_interval and friends are replaced by fixed windows first. A
   query of a metric named with --only-with METRIC=SETTING must parse but
   may return nothing: the metric exists only with that setting on (the
   stage that turns it on checks its samples).

Waits on conditions (bounded by --timeout) and prints every query that
failed, then exits 1 if any did.
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml  # PyYAML, installed with kubernetes-validate

GRAFANA_VARS = {
    "$__rate_interval": "30s",
    "$__interval": "5s",
    "$__range": "5m",
}


def get(base, path, **params):
    url = f"{base}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)


def rule_names_and_exprs(path):
    """(alert name, expression) of every alert rule in a rules file."""
    groups = yaml.safe_load(open(path))["groups"]
    return [(r["alert"], r["expr"]) for g in groups for r in g["rules"] if "alert" in r]


def panel_queries(path):
    dash = json.load(open(path))
    out = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            expr = t["expr"]
            for k, v in GRAFANA_VARS.items():
                expr = expr.replace(k, v)
            out.append((f'panel "{p["title"]}" {t["refId"]}', expr))
    return out


def wait_until(fn, timeout):
    deadline = time.monotonic() + timeout
    while True:
        ok, detail = fn()
        if ok or time.monotonic() >= deadline:
            return ok, detail
        time.sleep(0.5)


def check_targets(base, jobs, timeout):
    def ready():
        active = get(base, "/api/v1/targets")["data"]["activeTargets"]
        seen = {}
        for t in active:
            if t["health"] == "up":
                seen[t["labels"]["job"]] = seen.get(t["labels"]["job"], 0) + 1
        missing = {j: n for j, n in jobs.items() if seen.get(j, 0) < n}
        return not missing, f"targets not up (job: wanted): {missing}; up: {seen}"

    ok, detail = wait_until(ready, timeout)
    print(("ok   " if ok else "FAIL ") + ("every target is up" if ok else detail))
    return ok


def check_rules(base, rules, timeout):
    failures = []
    for name, expr in rules:
        r = get(base, "/api/v1/query", query=expr)
        if r.get("status") != "success":
            failures.append(f"rule {name}: does not parse: {r.get('error')}")

    def evaluated():
        groups = get(base, "/api/v1/rules", type="alert")["data"]["groups"]
        loaded = {r["name"]: r for g in groups for r in g["rules"]}
        pending = []
        for name, _ in rules:
            r = loaded.get(name)
            if r is None:
                pending.append(f"{name}: not loaded")
            elif r.get("health") != "ok":
                pending.append(f"{name}: health {r.get('health')} {r.get('lastError', '')}")
        return not pending, pending

    ok, pending = wait_until(evaluated, timeout)
    if not ok:
        failures += [f"rule {p}" for p in pending]
    for name, _ in rules:
        if not any(f.startswith(f"rule {name}") for f in failures):
            print(f"ok   rule {name}: loaded, evaluated, parses")
    for f in failures:
        print(f"FAIL {f}")
    return not failures


def check_panels(base, queries, timeout, only_with=None):
    only_with = only_with or {}
    failures, parsed = [], []
    for what, expr in queries:
        r = get(base, "/api/v1/query", query=expr)
        if r.get("status") != "success":
            failures.append(f"{what}: does not parse: {r.get('error')}\n     {expr}")
        else:
            parsed.append((what, expr))
    remaining = list(parsed)

    def all_have_data():
        nonlocal remaining
        remaining = [(w, e) for w, e in remaining if not get(base, "/api/v1/query", query=e)["data"]["result"]]
        return not remaining, remaining

    wait_until(all_have_data, timeout)
    for w, e in list(remaining):
        setting = next((v for m, v in only_with.items() if m in e), None)
        if setting:
            print(f"ok   {w}: parses; no data (its metric exists only with {setting})")
            remaining.remove((w, e))
            parsed.remove((w, e))
    failures += [f"{w}: returned no data\n     {e}" for w, e in remaining]
    for what, _ in parsed:
        if (what, _) not in remaining:
            print(f"ok   {what}: parses, has data")
    for f in failures:
        print(f"FAIL {f}")
    return not failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--jobs", required=True, help="job=count,...")
    ap.add_argument("--rules", action="append", default=[])
    ap.add_argument("--dashboard", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=90)
    ap.add_argument("--only-with", action="append", default=[], metavar="METRIC=SETTING",
                    help="a metric that exists only with SETTING on: its queries may return no data")
    a = ap.parse_args()
    base = a.url.rstrip("/")
    jobs = {k: int(v) for k, v in (kv.split("=") for kv in a.jobs.split(","))}
    ok = check_targets(base, jobs, a.timeout)
    rules = [r for path in a.rules for r in rule_names_and_exprs(path)]
    if not rules:
        print("FAIL no alert rules found")
        ok = False
    ok = check_rules(base, rules, a.timeout) and ok
    queries = [q for path in a.dashboard for q in panel_queries(path)]
    if not queries:
        print("FAIL no panel queries found")
        ok = False
    only_with = dict(x.split("=", 1) for x in a.only_with)
    ok = check_panels(base, queries, a.timeout, only_with) and ok
    print(f"{len(rules)} rules and {len(queries)} panel queries checked: {'all passed' if ok else 'FAILURES above'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
