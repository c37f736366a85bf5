#!/usr/bin/env python3
"""One source of configuration: docs/configuration.md against everything
that sets the services' environment.

    check_config.py --bin-dir target/debug --chart charts/realtime-pixel [VALUES_FILE ...]
        [--doc docs/configuration.md] [--compose docker/compose.yaml]
        [--cluster scripts/cluster.sh] [--no-run]

Builds nothing: it runs the binaries found in --bin-dir (pixel-api,
pixel-gateway, pixel-worker, realtime-pixel). Fails, naming the setting and
where, when

1. a binary's `--help` lists a setting (`[env: NAME=…]`) the table does not,
   or the table names a binary that does not read it, or the defaults
   (`[default: …]`) differ;
2. the chart, rendered with its defaults and with each VALUES_FILE (Helm's
   engine, as check_chart.py renders it), does not put a table setting into
   the pods the table says, puts one there that the table does not have,
   renders a value other than the one given (a number not as a whole
   number), or has a `config` value the table does not name;
3. docker/compose.yaml does not set a setting for a service that reads it
   as the table says, or sets one the table does not have;
4. scripts/cluster.sh does not pass, fix or handle a setting as the table
   says (its SERVICE_SETTINGS list is exactly the "passed" ones);
5. the api, a gateway and the worker do not start (answer /readyz) with the
   environment each render of the chart and compose gives them, against a
   real redis-server (skipped with --no-run). Only what cannot be the same
   on this machine is replaced: PORT, BIND_ADDR (127.0.0.1), REDIS_URL
   and the JWT secret.
"""

import argparse
import copy
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_chart  # noqa: E402 - the chart is rendered the same way there

BINARIES = {
    "api": "pixel-api",
    "gateway": "pixel-gateway",
    "worker": "pixel-worker",
    "standalone": "realtime-pixel",
}
CLUSTER = ("api", "gateway", "worker")
TEST_SECRET = "check-config-" + "0" * 32

failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL {msg}")


def ok(msg):
    print(f"ok   {msg}")


# ------------------------------------------------------------ the table --


def ticks(cell):
    """The `backticked` parts of a table cell."""
    return re.findall(r"`([^`]*)`", cell)


def md_table(text, header):
    """Rows (lists of cells) of the Markdown table that starts with header."""
    start = text.index(header)
    lines = []
    for line in text[start:].splitlines():
        if not line.startswith("|"):
            break
        lines.append(line)
    rows = []
    for line in lines[2:]:
        # No cell holds a `|`: every one separates cells.
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def parse_readers(cell):
    words = re.sub(r"\(.*?\)", "", cell)
    names = {w.strip() for w in words.split(",") if w.strip()}
    if names == {"all"}:
        return set(BINARIES)
    unknown = names - set(BINARIES)
    if unknown:
        raise ValueError(f"unknown binaries {sorted(unknown)} in 'read by' cell {cell!r}")
    return names


def parse_per_binary(cell):
    """{binary: value} of a cell like "api `3000`, gateway `3001`"."""
    return dict(re.findall(r"\b(api|gateway|worker|standalone)s? `([^`]*)`", cell))


def parse_default(cell, readers):
    """{binary: default or None} of a 'default' cell."""
    per = parse_per_binary(cell)
    if per:
        return {b: per.get(b) for b in readers}
    if cell.startswith("—"):
        return dict.fromkeys(readers)
    t = ticks(cell)
    if not t:
        raise ValueError(f"default cell {cell!r}: `value`, per-binary values or —")
    return dict.fromkeys(readers, t[0])


def read_doc(path):
    text = open(path).read()
    settings = {}
    for cells in md_table(text, "| setting | default | read by |"):
        if len(cells) != 7:
            raise ValueError(f"{path}: a row without 7 cells: {cells}")
        name_cell, default, read_by, helm, compose, cluster, _meaning = cells
        names = ticks(name_cell)
        if len(names) != 1:
            raise ValueError(f"{path}: one setting per row, got {name_cell!r}")
        name = names[0]
        if name in settings:
            raise ValueError(f"{path}: {name} is in the table twice")
        readers = parse_readers(read_by)
        settings[name] = {
            "readers": readers,
            "default": parse_default(default, readers),
            "not_in_help": "not in `--help`" in read_by,
            "helm": helm,
            "compose": compose,
            "cluster": cluster,
        }
    nginx = {}
    for cells in md_table(text, "| setting | default | compose | meaning |"):
        name = ticks(cells[0])[0]
        nginx[name] = {"default": ticks(cells[1])[0], "compose": cells[2]}
    return settings, nginx


# ---------------------------------------------------- the binaries' help --


def help_settings(path):
    """{NAME: default or None} of every `[env: NAME…]` of `path --help`."""
    out = subprocess.run(
        [path, "--help"], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30, check=True
    ).stdout
    found = {}
    # One option per block: a line starting with `-` or `--` opens it.
    blocks = re.split(r"\n(?=\s+-)", out)
    for block in blocks:
        env = re.search(r"\[env: ([A-Z0-9_]+)=?[^\]]*\]", block)
        if not env:
            continue
        default = re.search(r"\[default: ([^\]]*)\]", block)
        found[env.group(1)] = default.group(1) if default else None
    if not found:
        raise ValueError(f"{path} --help lists no [env: …] at all:\n{out}")
    return found


def check_help(settings, bin_dir):
    seen = {}
    for binary, exe in BINARIES.items():
        path = os.path.join(bin_dir, exe)
        for name, default in help_settings(path).items():
            seen.setdefault(name, {})[binary] = default
    for name, by in sorted(seen.items()):
        row = settings.get(name)
        if row is None:
            fail(f"{name}: read by {', '.join(sorted(by))} (--help) but not in the table")
            continue
        if set(by) != row["readers"]:
            fail(f"{name}: read by {sorted(by)} (--help), the table says {sorted(row['readers'])}")
        for binary, default in by.items():
            want = row["default"].get(binary)
            # No default, an empty one and clap's `""` all mean "unset".
            norm = None if default in (None, "", '""') else default
            if want in ("", '""'):
                want = None
            if norm != want:
                fail(f"{name}: {BINARIES[binary]} --help says default {default!r}, the table {want!r}")
    for name, row in sorted(settings.items()):
        if name not in seen and not row["not_in_help"]:
            fail(f"{name}: in the table but in no binary's --help")
        if name in seen and row["not_in_help"]:
            fail(f"{name}: the table says it is not in --help, but it is")
    ok(f"--help of {len(BINARIES)} binaries: {len(seen)} settings compared with the table")


# -------------------------------------------------------------- the chart --


def merge(base, over):
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def as_env_string(v):
    """What a value must render as in the ConfigMap."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def helm_config_key(row):
    t = ticks(row["helm"])
    return t[0].removeprefix("config.") if t and t[0].startswith("config.") else None


def helm_chart_default(row):
    m = re.search(r"chart default `([^`]*)`", row["helm"])
    return m.group(1) if m else None


def workloads(objects):
    """{component: container} of the rendered api, gateway and worker Deployments."""
    out = {}
    for doc in objects:
        if doc["kind"] == "Deployment":
            comp = doc["metadata"]["labels"]["app.kubernetes.io/component"]
            if comp in CLUSTER:
                out[comp] = doc["spec"]["template"]["spec"]["containers"][0]
    return out


def check_chart_render(settings, chart_dir, label, values_file, defaults):
    over = yaml.safe_load(open(values_file)) if values_file else None
    values = merge(defaults, over)
    try:
        manifests = check_chart.render(chart_dir, over)
    except Exception as e:  # noqa: BLE001 - Helm's message says what is wrong
        fail(f"chart ({label}) does not render: {e}")
        return None
    objects = [d for p, t in manifests.items() if not p.endswith("NOTES.txt") for d in yaml.safe_load_all(t) if d]
    cms = [d for d in objects if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-config")]
    if len(cms) != 1:
        fail(f"chart ({label}): {len(cms)} settings ConfigMaps rendered, expected 1")
        return None
    cm = cms[0]["data"]
    by_key = {helm_config_key(r): n for n, r in settings.items() if helm_config_key(r)}
    for key in values["config"]:
        if key not in by_key:
            fail(f"chart ({label}): config.{key} is a chart value the table does not name")
    for key, name in by_key.items():
        if key not in values["config"]:
            fail(f"{name}: the table names config.{key}, values.yaml has no such value")
            continue
        given = values["config"][key]
        if given is None:
            if name in cm:
                fail(f"{name}: config.{key} is null ({label}) but rendered as {cm[name]!r}")
            continue
        if name not in cm:
            fail(f"{name}: config.{key} is not rendered into the ConfigMap ({label})")
            continue
        want = as_env_string(given)
        if cm[name] != want:
            fail(f"{name}: config.{key} = {given!r} renders as {cm[name]!r}, expected {want!r} ({label})")
        if label == "default":
            row = settings[name]
            expected = helm_chart_default(row)
            if expected is None:
                defaults_of = {d for d in row["default"].values()}
                expected = defaults_of.pop() if len(defaults_of) == 1 else None
            if expected is not None and want != expected:
                fail(f"{name}: chart default is {want!r}, the table says {expected!r}")
    for name in cm:
        if name not in settings:
            fail(f"{name}: rendered into the ConfigMap ({label}) but not in the table")
        elif not helm_config_key(settings[name]):
            fail(f"{name}: rendered into the ConfigMap ({label}), the table gives no config.* value")
    pods = workloads(objects)
    for comp in CLUSTER:
        c = pods.get(comp)
        if c is None:
            fail(f"chart ({label}): no {comp} Deployment")
            continue
        refs = [e["configMapRef"]["name"] for e in c.get("envFrom", []) if "configMapRef" in e]
        if cms[0]["metadata"]["name"] not in refs:
            fail(f"chart ({label}): the {comp} pods do not read the settings ConfigMap")
        env_names = [e["name"] for e in c.get("env", [])]
        for name in env_names:
            if name not in settings:
                fail(f"{name}: set in the {comp} pods ({label}) but not in the table")
        have = set(env_names) | set(cm)
        for name, row in settings.items():
            if comp not in row["readers"]:
                continue
            if helm_config_key(row) and values["config"].get(helm_config_key(row)) is None:
                continue
            if name not in have:
                fail(f"{name}: read by {comp}, but the chart's {comp} pods ({label}) do not get it")
    ok(f"chart ({label}): {len(cm)} ConfigMap settings and the pods' env compared with the table")
    return {comp: pod_env(c, cm) for comp, c in pods.items()}


def pod_env(container, cm):
    env = dict(cm)
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif "secretKeyRef" in e.get("valueFrom", {}):
            env[e["name"]] = "<secret>"
    return env


# ------------------------------------------------------------- compose --


def compose_kind(name, svc):
    target = (svc.get("build") or {}).get("target")
    if target in CLUSTER:
        return target
    for comp in CLUSTER:
        if name == comp or name.startswith(comp + "-"):
            return comp
    return None


def check_compose_value(name, where, row_cell, value, present, kind):
    per = parse_per_binary(row_cell)
    if row_cell.startswith("—"):
        if present:
            fail(f"{name}: {where} sets it ({value!r}); the table says compose does not")
        return
    if not present:
        fail(f"{name}: the table says compose sets it, {where} does not")
        return
    if "when set" in row_cell:
        if value is not None:
            fail(f"{name}: {where} sets {value!r}; the table says it is passed only when set (no value)")
        return
    if row_cell.startswith("required"):
        if not (isinstance(value, str) and value.startswith("${" + name + ":?")):
            fail(f"{name}: {where} has {value!r}; the table says it is required (${{{name}:?…}})")
        return
    want = per.get(kind) if per else (ticks(row_cell) or [None])[0]
    if want is None:
        fail(f"{name}: the table's compose cell {row_cell!r} says nothing for {kind}")
    elif str(value) != want:
        fail(f"{name}: {where} has {value!r}, the table {want!r}")


def check_compose(settings, nginx, path):
    services = yaml.safe_load(open(path))["services"]
    envs = {}
    for sname, svc in services.items():
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
        kind = compose_kind(sname, svc)
        if kind:
            envs[sname] = env
            for name in env:
                if name not in settings:
                    fail(f"{name}: set for compose service {sname} but not in the table")
            for name, row in settings.items():
                if kind in row["readers"]:
                    check_compose_value(name, f"compose service {sname}", row["compose"], env.get(name), name in env, kind)
        elif sname == "nginx":
            for name, row in nginx.items():
                check_compose_value(name, "compose service nginx", row["compose"], env.get(name), name in env, "nginx")
    kinds = sorted({compose_kind(s, services[s]) for s in envs})
    if kinds != sorted(CLUSTER):
        fail(f"compose: services found for {kinds}, expected {sorted(CLUSTER)}")
    ok(f"compose: the environment of {len(envs)} services and nginx compared with the table")
    return {s: (compose_kind(s, services[s]), e) for s, e in envs.items()}


# ----------------------------------------------------------- cluster.sh --


def check_cluster(settings, nginx, path):
    text = open(path).read()
    m = re.search(r"^SERVICE_SETTINGS=\(([^)]*)\)", text, re.M)
    if not m:
        fail(f"{path}: no SERVICE_SETTINGS=( … ) list")
        return
    listed = m.group(1).split()
    if len(listed) != len(set(listed)):
        fail(f"{path}: SERVICE_SETTINGS names a setting twice")
    rest = text[: m.start()] + text[m.end():]
    for name, row in settings.items():
        cell = row["cluster"]
        if cell == "passed":
            if name not in listed:
                fail(f"{name}: the table says cluster.sh passes it, its SERVICE_SETTINGS does not list it")
            continue
        if name in listed:
            fail(f"{name}: in cluster.sh's SERVICE_SETTINGS, the table says {cell!r}")
        if cell.startswith("—"):
            continue
        fixed = re.match(r"fixed `([^`]*)`", cell)
        if fixed:
            if not re.search(rf"\b{name}=[\"']?{re.escape(fixed.group(1))}[\"']?(?=[\s)]|$)", rest):
                fail(f"{name}: the table says cluster.sh sets {name}={fixed.group(1)}, it does not")
        elif not re.search(rf"\b{name}\b", rest):
            fail(f"{name}: the table says cluster.sh handles it ({cell!r}), the script never mentions it")
    for name in listed:
        if name not in settings:
            fail(f"{name}: in cluster.sh's SERVICE_SETTINGS but not in the table")
    for name, row in nginx.items():
        if not re.search(rf"\b{name}\b", text):
            fail(f"{name}: in the table of cluster.sh's settings, the script never mentions it")
            continue
        # Its default: `NAME=${NAME:-x}`, or `${NAME:-x}` where it is used
        # (an empty one means it is computed, as GATEWAY_PORTS is).
        d = re.search(rf"^{name}=\$\{{{name}:-([^}}]*)\}}", text, re.M) or re.search(
            rf"\$\{{{name}:-([^}}]+)\}}", text
        )
        if d:
            have = d.group(1).strip("\"'").removeprefix("$ROOT/")
            if have != row["default"]:
                fail(f"{name}: cluster.sh's default is {have!r}, the table {row['default']!r}")
    ok(f"cluster.sh: {len(listed)} passed settings and its own handling compared with the table")


# ------------------------------------------------------- real processes --


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def resolve_compose(value):
    """A compose value with `${VAR:-default}` taken as its default (the
    environment of this check is not the deployment's)."""
    if value is None:
        return None
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(value))


def run_service(comp, env, bin_dir, redis_url, label, tmp):
    port = free_port()
    env = {k: v for k, v in env.items() if v is not None}
    env.update(PORT=str(port), BIND_ADDR="127.0.0.1", REDIS_URL=redis_url, PATH="/usr/bin:/bin")
    if "JWT_SECRET" in env:
        env["JWT_SECRET"] = TEST_SECRET
    log = os.path.join(tmp, f"{label}-{comp}.log".replace("/", "_"))
    with open(log, "w") as out:
        proc = subprocess.Popen([os.path.join(bin_dir, BINARIES[comp])], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        ready = wait_ready(f"http://127.0.0.1:{port}/readyz", proc, 30)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if ready:
        ok(f"{label}: {comp} started with its rendered settings and answered /readyz")
    else:
        tail = open(log).read().strip().splitlines()[-5:]
        fail(f"{label}: {comp} did not start with its rendered settings:\n     " + "\n     ".join(tail))


def run_all(runs, bin_dir):
    redis = shutil.which("redis-server")
    if not redis:
        fail("redis-server is not installed: cannot start the services")
        return
    tmp = tempfile.mkdtemp(prefix="check-config-")
    port = free_port()
    r = subprocess.Popen(
        [redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                time.sleep(0.1)
        # One database per render: a board's size is fixed once stored.
        dbs = {}
        for label, comp, env in runs:
            db = dbs.setdefault(label, len(dbs))
            run_service(comp, env, bin_dir, f"redis://127.0.0.1:{port}/{db}", label, tmp)
    finally:
        r.terminate()
        r.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--chart", required=True)
    ap.add_argument("values", nargs="*", help="extra values files to render the chart with")
    ap.add_argument("--doc", default="docs/configuration.md")
    ap.add_argument("--compose", default="docker/compose.yaml")
    ap.add_argument("--cluster", default="scripts/cluster.sh")
    ap.add_argument("--no-run", action="store_true", help="do not start the services")
    a = ap.parse_args()
    missing = [exe for exe in BINARIES.values() if not os.access(os.path.join(a.bin_dir, exe), os.X_OK)]
    if missing:
        print(f"FAIL {a.bin_dir} lacks {', '.join(missing)}: run `cargo build --workspace --bins` first")
        return 1
    settings, nginx = read_doc(a.doc)
    ok(f"{a.doc}: {len(settings)} settings of the binaries, {len(nginx)} of cluster.sh and nginx")
    check_help(settings, a.bin_dir)
    defaults = yaml.safe_load(open(os.path.join(a.chart, "values.yaml")))
    runs = []
    for values_file in [None] + a.values:
        label = "chart " + (os.path.basename(values_file).removesuffix(".yaml") if values_file else "default")
        pods = check_chart_render(settings, a.chart, label.removeprefix("chart "), values_file, defaults)
        for comp, env in (pods or {}).items():
            runs.append((label, comp, env))
    for sname, (kind, env) in check_compose(settings, nginx, a.compose).items():
        if sname in ("api", "worker", "gateway-1"):
            runs.append(("compose", kind, {k: resolve_compose(v) for k, v in env.items()}))
    check_cluster(settings, nginx, a.cluster)
    if not a.no_run:
        run_all(runs, a.bin_dir)
    if failures:
        print(f"{len(failures)} differences between {a.doc} and what sets the services' environment")
        return 1
    print("the configuration table, --help, the chart, compose and cluster.sh agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
