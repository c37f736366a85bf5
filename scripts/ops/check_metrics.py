#!/usr/bin/env python3
"""Every metric documented, emitted and on the dashboard.

    check_metrics.py --binary target/debug/realtime-pixel [--doc docs/metrics.md]
        [--dashboard grafana/dashboards/realtime-pixel.json] [--src .]

What the code emits: every `counter!`, `gauge!` and `histogram!` call in
the workspace's crates (name, type, label keys), plus what the running
standalone server (--binary, started on a free loopback port) serves at
/metrics before any traffic: the `process_*` metrics of the metrics-process
crate and the build info. Fails, naming the metric, when

1. a metric is emitted but not in the table of --doc, or the table names
   one that nothing emits;
2. the table's type or labels differ from the code's;
3. the dashboard has no query that reads an emitted metric (a histogram
   counts through its `_bucket`, `_sum` or `_count` series);
4. a dashboard query reads a metric that nothing emits (Prometheus' own
   `up` and `ALERTS` aside).
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

CRATES = ("api", "gateway", "worker", "standalone", "pixel-core")
MACRO = re.compile(r"\b(counter|gauge|histogram)!\(\s*\"([a-z_:][a-z0-9_:]*)\"")
PROMETHEUS_OWN = {"up", "ALERTS", "ALERTS_FOR_STATE"}

failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL {msg}")


def call_args(text, start):
    """The text of a macro call's arguments, from its `(` to the matching `)`."""
    depth, i, in_str = 0, start, False
    while i < len(text):
        c = text[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
        i += 1
    raise ValueError("unbalanced macro call")


def emitted_in_code(src):
    """{name: {"type", "labels", "files"}} of every metric macro call."""
    found = {}
    for crate in CRATES:
        for root, _dirs, files in os.walk(os.path.join(src, crate, "src")):
            for f in files:
                if not f.endswith(".rs"):
                    continue
                path = os.path.join(root, f)
                text = open(path).read()
                for m in MACRO.finditer(text):
                    kind, name = m.groups()
                    args = call_args(text, text.index("(", m.start()))
                    labels = set(re.findall(r"\"([a-z_]+)\"\s*=>", args))
                    entry = found.setdefault(name, {"type": kind, "labels": set(), "files": set()})
                    if entry["type"] != kind:
                        fail(f"{name}: emitted as a {entry['type']} and as a {kind}")
                    entry["labels"] |= labels
                    entry["files"].add(os.path.relpath(path, src))
    return found


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def served_at_start(binary):
    """{name: (type, label keys)} of what the standalone server serves at
    /metrics before any traffic."""
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "PORT": str(port), "BIND_ADDR": "127.0.0.1"}
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"FAIL {binary} did not serve /metrics")
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(15)
    types, labels = {}, {}
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            types[m.group(1)] = m.group(2)
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s", line)
        if m and not line.startswith("#"):
            name = m.group(1)
            keys = set(re.findall(r"([a-zA-Z_]+)=\"", m.group(3) or "")) - {"le", "quantile"}
            labels.setdefault(name, set()).update(keys)
    out = {}
    for name, keys in labels.items():
        base = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        kind = types.get(base, "untyped")
        out[base] = (kind, keys | out.get(base, ("", set()))[1])
    return out


def doc_table(path):
    text = open(path).read()
    start = text.index("| metric | type | labels |")
    rows = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        names = re.findall(r"`([a-z_:][a-z0-9_:]*)`", cells[0])
        if len(names) != 1:
            fail(f"{path}: one metric per row, got {cells[0]!r}")
            continue
        rows[names[0]] = {"type": cells[1], "labels": set(re.findall(r"`([a-z_]+)`", cells[2]))}
    return rows


def dashboard_exprs(path):
    dash = json.load(open(path))

    def walk(panels):
        for p in panels:
            yield p
            yield from walk(p.get("panels", []))

    return [(p["title"], t["expr"]) for p in walk(dash["panels"]) for t in p.get("targets", [])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True, help="the standalone server, realtime-pixel")
    ap.add_argument("--doc", default="docs/metrics.md")
    ap.add_argument("--dashboard", default="grafana/dashboards/realtime-pixel.json")
    ap.add_argument("--src", default=".")
    a = ap.parse_args()

    if not os.access(a.binary, os.X_OK):
        print(f"FAIL {a.binary} does not exist: run `cargo build --workspace --bins` first")
        return 1
    code = emitted_in_code(a.src)
    emitted = {n: (e["type"], e["labels"]) for n, e in code.items()}
    for name, (kind, labels) in served_at_start(a.binary).items():
        if name in emitted:
            continue
        # metrics-process registers CPU seconds as a gauge (our feature
        # choice); Prometheus says "gauge" for it.
        emitted[name] = (kind, labels)
    print(f"ok   {len(code)} metrics in the code, {len(emitted) - len(code)} more served by the crates at start")

    doc = doc_table(a.doc)
    for name in sorted(set(emitted) - set(doc)):
        where = ", ".join(sorted(code[name]["files"])) if name in code else "/metrics"
        fail(f"{name}: emitted ({where}) but not in {a.doc}")
    for name in sorted(set(doc) - set(emitted)):
        fail(f"{name}: in {a.doc} but nothing emits it")
    for name in sorted(set(doc) & set(emitted)):
        kind, labels = emitted[name]
        if doc[name]["type"] != kind:
            fail(f"{name}: {a.doc} says {doc[name]['type']}, the code emits a {kind}")
        if doc[name]["labels"] != labels:
            fail(f"{name}: {a.doc} says labels {sorted(doc[name]['labels'])}, the code uses {sorted(labels)}")

    exprs = dashboard_exprs(a.dashboard)
    read = set()
    for _title, expr in exprs:
        # Identifiers that are not functions, keywords or label names.
        expr_wo_labels = re.sub(r"\{[^}]*\}", "", expr)
        expr_wo_labels = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr_wo_labels)
        for ident in re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", expr_wo_labels):
            read.add(ident)
    keywords = {"or", "and", "unless", "offset", "bool", "le", "vector", "time", "inf", "Inf", "NaN"}
    read -= keywords
    for name, (kind, _labels) in sorted(emitted.items()):
        series = {name} | ({f"{name}_bucket", f"{name}_sum", f"{name}_count"} if kind == "histogram" else set())
        if not series & read:
            fail(f"{name}: emitted but no query of {a.dashboard} reads it")
    known = set(PROMETHEUS_OWN)
    for name, (kind, _l) in emitted.items():
        known |= {name, f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    for ident in sorted(read - known):
        if re.fullmatch(r"[a-z]+_[a-z0-9_]+", ident):
            fail(f"{ident}: read by {a.dashboard}, but nothing emits it")
    print(f"ok   {len(exprs)} dashboard queries read")

    if failures:
        print(f"{len(failures)} differences between the metrics, {a.doc} and {a.dashboard}")
        return 1
    print(f"every metric is emitted, documented in {a.doc} and on the dashboard ({len(emitted)} metrics)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
