#!/usr/bin/env python3
"""Runs the Helm chart's rendered workloads with podman, as a kubelet and
an ingress-nginx controller would, for tests on a machine without
Kubernetes.

    kube_run.py up CHART --values FILE --set KEY=VALUE ... [--objects FILE]
                   --state DIR --http ADDR:PORT --prometheus ADDR:PORT
    kube_run.py down --state DIR

`up` renders the chart with Helm's own engine (helm-python-sdk, as
check_chart.py does), adds the objects an operator would create beside it
(--objects, e.g. the Secret that `jwt.existingSecret` names), then, on a
podman network of its own (the dnsname
plugin gives containers names):

- every Deployment and StatefulSet replica becomes a container named after
  its pod (`<name>-<i>`) with the Service names that select it as network
  aliases (a Service's port must equal its target port: aliases cannot
  remap ports); replicas of an HPA-scaled Deployment are the HPA's minimum;
- each container gets its spec's command/args, its env resolved from the
  rendered ConfigMaps and Secrets (envFrom, configMapKeyRef,
  secretKeyRef; a missing one is an error, as for the kubelet), its
  securityContext (user and group, runAsNonRoot checked against the
  effective user, readOnlyRootFilesystem without podman's extra tmpfs
  mounts, dropped and added capabilities, no-new-privileges), emptyDir
  volumes as tmpfs, volume claims as podman volumes owned by the pod's
  user, memory and CPU limits;
- its probes are executed as the kubelet does (httpGet on the pod's
  address, exec inside the container): the startup probe within its
  failure budget, then readiness and liveness must pass;
- an nginx (the stand-in image) in front does what the rendered Ingresses
  and their ingress-nginx annotations say: one server for the host, a
  location per path (Prefix), upstreams of the backend Service's pods,
  cookie affinity (the annotation's cookie, set when the client has none;
  without a cookie a request is placed by a fresh random key), timeouts,
  body size, buffering, and X-Forwarded-For / X-Real-IP set to the client
  as ingress-nginx does by default; published on --http;
- a Prometheus (the stand-in image) scrapes what the rendered
  ServiceMonitor selects (its port and path; the job is its jobLabel), or,
  without one, the http port's /metrics of every api, gateway and worker
  pod; published on --prometheus.

TLS of the Ingress is not terminated (the test clients speak plain HTTP).
`down` removes whatever `up` recorded in DIR/state.json.

Environment: PODMAN (the podman command with its global options),
NGINX_IMAGE and PROMETHEUS_IMAGE (the stand-ins).
"""

import argparse
import base64
import copy
import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request

import yaml

PODMAN = shlex.split(os.environ.get("PODMAN", "podman"))


def die(msg):
    sys.exit(f"kube_run: {msg}")


def podman(*args, check=True, capture=True):
    r = subprocess.run(PODMAN + list(args), capture_output=capture, text=True)
    if check and r.returncode != 0:
        die(f"podman {' '.join(args[:3])}…: {r.stderr.strip()[-2000:]}")
    return r


# ------------------------------------------------------------- rendering --


def deep_merge(base, over):
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def set_value(values, dotted, raw):
    node = values
    *path, last = dotted.split(".")
    for p in path:
        node = node.setdefault(p, {})
    node[last] = yaml.safe_load(raw) if raw not in ("",) else ""


def render(chart_dir, values_files, sets):
    import helm_python as helm

    values = {}
    for f in values_files:
        values = deep_merge(values, yaml.safe_load(open(f)) or {})
    for s in sets:
        k, _, v = s.partition("=")
        set_value(values, k, v)
    manifests = helm.Chart.load(chart_dir).render(values, name="pixel", namespace="pixel", is_install=True)
    docs = []
    for path, text in sorted(manifests.items()):
        if path.endswith(".txt"):
            continue
        docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


# ---------------------------------------------------------------- objects --


class Objects:
    def __init__(self, docs):
        self.docs = docs
        self.by_kind = {}
        for d in docs:
            self.by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d

    def kind(self, k):
        return self.by_kind.get(k, {})

    def config_value(self, kind, name, key, optional=False):
        obj = self.kind(kind).get(name)
        if obj is None:
            if optional:
                return None
            die(f"{kind} {name} is not among the rendered objects")
        if kind == "Secret":
            data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
            data.update(obj.get("stringData") or {})
        else:
            data = obj.get("data") or {}
        if key is None:
            return data
        if key not in data:
            if optional:
                return None
            die(f"{kind} {name} has no key {key}")
        return str(data[key])

    def workloads(self):
        """(name, kind, replicas, pod template) of every Deployment and StatefulSet."""
        hpa_min = {
            h["spec"]["scaleTargetRef"]["name"]: h["spec"].get("minReplicas", 1)
            for h in self.kind("HorizontalPodAutoscaler").values()
        }
        out = []
        for kind in ("StatefulSet", "Deployment"):
            for name, w in self.kind(kind).items():
                replicas = w["spec"].get("replicas", hpa_min.get(name, 1))
                out.append((name, kind, replicas, w))
        return out

    def services_selecting(self, labels):
        return [
            s
            for s in self.kind("Service").values()
            if s["spec"].get("selector") and all(labels.get(k) == v for k, v in s["spec"]["selector"].items())
        ]


def port_number(container, port):
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    die(f"container {container['name']} has no port named {port}")


def env_of(objs, container):
    env = {}
    for src in container.get("envFrom", []):
        prefix = src.get("prefix", "")
        if "configMapRef" in src:
            ref = src["configMapRef"]
            data = objs.config_value("ConfigMap", ref["name"], None, ref.get("optional", False)) or {}
        else:
            ref = src["secretRef"]
            data = objs.config_value("Secret", ref["name"], None, ref.get("optional", False)) or {}
        env.update({prefix + k: str(v) for k, v in data.items()})
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = str(e["value"])
        elif "valueFrom" in e:
            vf = e["valueFrom"]
            if "configMapKeyRef" in vf:
                r = vf["configMapKeyRef"]
                v = objs.config_value("ConfigMap", r["name"], r["key"], r.get("optional", False))
            elif "secretKeyRef" in vf:
                r = vf["secretKeyRef"]
                v = objs.config_value("Secret", r["name"], r["key"], r.get("optional", False))
            else:
                die(f"{container['name']}: env {e['name']}: unsupported valueFrom {list(vf)}")
            if v is not None:
                env[e["name"]] = v
        else:
            env[e["name"]] = ""
    # $(VAR) references, as the kubelet expands them.
    return {k: re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), v) for k, v in env.items()}


def memory(q):
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|K|M|G)?", str(q))
    if not m:
        die(f"memory quantity {q!r}")
    n, unit = int(m.group(1)), m.group(2) or ""
    mult = {"": 1, "K": 1000, "M": 1000**2, "G": 1000**3, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}[unit]
    return str(n * mult)


def cpus(q):
    q = str(q)
    return str(int(q[:-1]) / 1000) if q.endswith("m") else q


# -------------------------------------------------------------- podman run --


def image_user(image):
    user = podman("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip()
    return user or "0"


def run_args(objs, pod_name, aliases, spec, container, state):
    """The `podman run` options of one container of a pod."""
    psc = spec.get("securityContext") or {}
    csc = container.get("securityContext") or {}
    args = ["run", "-d", "--name", pod_name, "--hostname", pod_name, "--network", state["network"]]
    for a in aliases:
        args += ["--network-alias", a]
    # Probes are run here, as the kubelet does, not by podman.
    args += ["--health-cmd", "none"]
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    gid = csc.get("runAsGroup", psc.get("runAsGroup"))
    image = container["image"]
    effective = str(uid) if uid is not None else image_user(image).split(":")[0]
    if csc.get("runAsNonRoot", psc.get("runAsNonRoot")):
        if not effective.isdigit():
            die(f"{pod_name}: runAsNonRoot and the image's user {effective!r} is not numeric (the kubelet refuses it)")
        if int(effective) == 0:
            die(f"{pod_name}: runAsNonRoot but it would run as root")
    if uid is not None:
        args += ["--user", f"{uid}:{gid}" if gid is not None else str(uid)]
    if psc.get("fsGroup") is not None:
        args += ["--group-add", str(psc["fsGroup"])]
    for g in psc.get("supplementalGroups", []):
        args += ["--group-add", str(g)]
    if csc.get("readOnlyRootFilesystem"):
        args += ["--read-only", "--read-only-tmpfs=false"]
    caps = csc.get("capabilities") or {}
    for c in caps.get("drop", []):
        args += ["--cap-drop", c]
    for c in caps.get("add", []):
        args += ["--cap-add", c]
    if csc.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    if csc.get("privileged"):
        die(f"{pod_name}: privileged containers are not run here")
    limits = (container.get("resources") or {}).get("limits") or {}
    if "memory" in limits:
        args += ["--memory", memory(limits["memory"])]
    if "cpu" in limits:
        args += ["--cpus", cpus(limits["cpu"])]
    if spec.get("terminationGracePeriodSeconds") is not None:
        args += ["--stop-timeout", str(spec["terminationGracePeriodSeconds"])]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for m in container.get("volumeMounts", []):
        v = volumes.get(m["name"])
        ro = ",ro=true" if m.get("readOnly") else ""
        if v is not None and "emptyDir" in v:
            args += ["--mount", f"type=tmpfs,destination={m['mountPath']},tmpfs-mode=1777{ro}"]
        elif v is None or "persistentVolumeClaim" in v:
            # A volume claim (template): a volume of this pod's own, owned by its user.
            vol = f"{pod_name}-{m['name']}"
            state["volumes"].append(vol)
            podman("volume", "create", vol)
            args += ["-v", f"{vol}:{m['mountPath']}:U{',ro' if ro else ''}"]
        else:
            die(f"{pod_name}: volume {m['name']}: only emptyDir and volume claims are run here")
    for k, v in sorted(env_of(objs, container).items()):
        args += ["-e", f"{k}={v}"]
    if container.get("command"):
        args += ["--entrypoint", json.dumps(container["command"])]
    args.append(image)
    args += [str(a) for a in container.get("args", [])]
    return args


def container_ip(name, network):
    running = podman("inspect", "--format", "{{.State.Running}}", name).stdout.strip()
    if running != "true":
        logs = podman("logs", "--tail", "20", name, check=False)
        die(f"{name} is not running:\n{logs.stdout}{logs.stderr}")
    out = podman("inspect", "--format", "{{json .NetworkSettings.Networks}}", name).stdout
    return json.loads(out)[network]["IPAddress"]


def probe_once(name, ip, container, probe):
    timeout = probe.get("timeoutSeconds", 1)
    if "httpGet" in probe:
        g = probe["httpGet"]
        url = f"http://{ip}:{port_number(container, g['port'])}{g.get('path', '/')}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return 200 <= r.status < 400, f"GET {url}: {r.status}"
        except Exception as e:  # noqa: BLE001 - a failed probe, whatever the cause
            return False, f"GET {url}: {e}"
    if "exec" in probe:
        r = podman("exec", name, *probe["exec"]["command"], check=False)
        return r.returncode == 0, f"exec {probe['exec']['command']}: exit {r.returncode}"
    if "tcpSocket" in probe:
        import socket

        port = port_number(container, probe["tcpSocket"]["port"])
        try:
            socket.create_connection((ip, port), timeout=timeout).close()
            return True, f"tcp {ip}:{port}"
        except OSError as e:
            return False, f"tcp {ip}:{port}: {e}"
    die(f"{name}: unsupported probe {list(probe)}")


def run_probes(name, ip, container, log):
    """Startup within its budget, then readiness and liveness, as the kubelet runs them."""
    startup = container.get("startupProbe")
    if startup:
        period, budget = startup.get("periodSeconds", 10), startup.get("failureThreshold", 3)
        time.sleep(startup.get("initialDelaySeconds", 0))
        for attempt in range(budget):
            ok, what = probe_once(name, ip, container, startup)
            if ok:
                break
            if attempt == budget - 1:
                die(f"{name}: startup probe failed {budget} times (the kubelet restarts it): {what}")
            time.sleep(period)
        log(f"ok   {name}: startupProbe {what}")
    for kind in ("readinessProbe", "livenessProbe"):
        p = container.get(kind)
        if not p:
            continue
        period = p.get("periodSeconds", 10)
        deadline = time.time() + max(60, period * p.get("failureThreshold", 3))
        while True:
            ok, what = probe_once(name, ip, container, p)
            if ok:
                log(f"ok   {name}: {kind} {what}")
                break
            if time.time() > deadline:
                logs = podman("logs", "--tail", "20", name, check=False)
                die(f"{name}: {kind} never passed: {what}\n{logs.stdout}{logs.stderr}")
            time.sleep(min(period, 1))


# --------------------------------------------------------------- ingress --

NGINX_HEAD = """# The chart's Ingresses as ingress-nginx would serve them (kube_run.py).
map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
}
"""


def ingress_conf(objs, pods_of_service, listen):
    ingresses = list(objs.kind("Ingress").values())
    if not ingresses:
        die("no Ingress rendered: nothing would route clients to the services")
    upstreams, locations = {}, []
    for ing in ingresses:
        ann = ing["metadata"].get("annotations") or {}
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                if p.get("pathType", "Prefix") not in ("Prefix", "ImplementationSpecific"):
                    die(f"{ing['metadata']['name']}: pathType {p['pathType']} is not run here")
                svc = p["backend"]["service"]
                up = f"{svc['name']}-{svc['port'].get('name', svc['port'].get('number'))}"
                upstreams[up] = (svc, ann)
                locations.append((p["path"], up, ann))
    out = [NGINX_HEAD]
    cookies = set()
    for up, (svc, ann) in upstreams.items():
        pods = pods_of_service.get(svc["name"])
        if not pods:
            die(f"Ingress backend {svc['name']} selects no pod")
        out.append(f"upstream {up} {{")
        if ann.get("nginx.ingress.kubernetes.io/affinity") == "cookie":
            cookie = ann.get("nginx.ingress.kubernetes.io/session-cookie-name", "INGRESSCOOKIE")
            cookies.add(cookie)
            out.append(f"    hash $affinity_{var(cookie)} consistent;")
        for host, port in pods:
            out.append(f"    server {host}:{port};")
        out.append("}")
    for cookie in sorted(cookies):
        v = var(cookie)
        # As ingress-nginx: a client without the cookie is placed (here by a
        # fresh random key) and given the cookie, which pins it afterwards.
        out.append(f'map $cookie_{v} $affinity_{v} {{\n    "" $request_id;\n    default $cookie_{v};\n}}')
    out.append("server {")
    out.append(f"    listen {listen};")
    out.append("    server_name _;")
    for path, up, ann in sorted(locations, key=lambda x: -len(x[0])):
        a = lambda k, d=None: ann.get(f"nginx.ingress.kubernetes.io/{k}", d)  # noqa: E731
        out.append(f"    location {path} {{")
        out.append(f"        client_max_body_size {a('proxy-body-size', '1m')};")
        out.append(f"        proxy_read_timeout {a('proxy-read-timeout', '60')}s;")
        out.append(f"        proxy_send_timeout {a('proxy-send-timeout', '60')}s;")
        out.append(f"        proxy_buffering {a('proxy-buffering', 'off')};")
        out.append("        proxy_http_version 1.1;")
        out.append("        proxy_set_header Upgrade $http_upgrade;")
        out.append("        proxy_set_header Connection $connection_upgrade;")
        out.append("        proxy_set_header Host $host;")
        # ingress-nginx's default (use-forwarded-headers off): the client is
        # the TCP peer, whatever the request claims.
        out.append("        proxy_set_header X-Real-IP $remote_addr;")
        out.append("        proxy_set_header X-Forwarded-For $remote_addr;")
        out.append("        proxy_set_header X-Forwarded-Proto $scheme;")
        out.append("        proxy_set_header X-Forwarded-Host $host;")
        if a("affinity") == "cookie":
            cookie = a("session-cookie-name", "INGRESSCOOKIE")
            cpath = a("session-cookie-path", path)
            same = a("session-cookie-samesite")
            attrs = f"Path={cpath}; HttpOnly" + (f"; SameSite={same}" if same else "")
            out.append(f'        add_header Set-Cookie "{cookie}=$affinity_{var(cookie)}; {attrs}";')
        out.append(f"        proxy_pass http://{up};")
        out.append("    }")
    out.append("}")
    return "\n".join(out) + "\n"


def var(name):
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


# ------------------------------------------------------------ prometheus --


def prometheus_conf(objs, pods_of_service):
    jobs = {}
    monitors = list(objs.kind("ServiceMonitor").values())
    for sm in monitors:
        spec = sm["spec"]
        sel = spec["selector"]
        for svc in objs.kind("Service").values():
            labels = svc["metadata"].get("labels") or {}
            if not all(labels.get(k) == v for k, v in sel.get("matchLabels", {}).items()):
                continue
            if not all(
                (labels.get(e["key"]) in e.get("values", [])) == (e["operator"] == "In")
                for e in sel.get("matchExpressions", [])
            ):
                continue
            job = labels.get(spec.get("jobLabel", ""), svc["metadata"]["name"])
            for ep in spec["endpoints"]:
                port = next((p for p in svc["spec"]["ports"] if p.get("name") == ep["port"]), None)
                if port is None:
                    die(f"ServiceMonitor {sm['metadata']['name']}: Service {svc['metadata']['name']} has no port {ep['port']}")
                targets = [f"{h}:{p}" for h, p in pods_of_service[svc["metadata"]["name"]]]
                jobs.setdefault((job, ep.get("path", "/metrics")), []).extend(targets)
    if not monitors:
        for svc in objs.kind("Service").values():
            comp = (svc["metadata"].get("labels") or {}).get("app.kubernetes.io/component")
            if comp in ("api", "gateway", "worker") and svc["spec"].get("clusterIP") != "None":
                jobs.setdefault((comp, "/metrics"), []).extend(f"{h}:{p}" for h, p in pods_of_service[svc["metadata"]["name"]])
    conf = {
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "scrape_configs": [
            {"job_name": job, "metrics_path": path, "static_configs": [{"targets": sorted(set(t))}]}
            for (job, path), t in sorted(jobs.items())
        ],
    }
    return yaml.safe_dump(conf, sort_keys=False), {job: len(set(t)) for (job, _), t in jobs.items()}


# ------------------------------------------------------------------- up --


def save(state_dir, state):
    with open(os.path.join(state_dir, "state.json"), "w") as f:
        json.dump(state, f, indent=1)


def up(a):
    os.makedirs(a.state, exist_ok=True)
    log = lambda m: print(m, flush=True)  # noqa: E731
    docs = render(a.chart, a.values, a.set)
    for f in a.objects:
        # What an operator creates beside the chart (e.g. an existingSecret).
        docs += [d for d in yaml.safe_load_all(open(f)) if d]
    with open(os.path.join(a.state, "rendered.yaml"), "w") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)
    objs = Objects(docs)
    state = {"network": f"pixel-kube-{os.path.basename(os.path.abspath(a.state))}", "containers": [], "volumes": []}
    save(a.state, state)
    podman("network", "rm", "-f", state["network"], check=False)
    podman("network", "create", state["network"])

    # Pods, in the order a cluster would settle: Redis (the StatefulSet) first.
    pods_of_service = {}
    started, probed = [], set()
    for name, kind, replicas, w in objs.workloads():
        tpl = w["spec"]["template"]
        labels = tpl["metadata"].get("labels") or {}
        spec = tpl["spec"]
        if spec.get("initContainers"):
            die(f"{kind} {name}: init containers are not run here")
        if len(spec["containers"]) != 1:
            die(f"{kind} {name}: one container per pod is run here")
        container = spec["containers"][0]
        services = objs.services_selecting(labels)
        for svc in services:
            for p in svc["spec"]["ports"]:
                target = port_number(container, p.get("targetPort", p["port"]))
                if target != p["port"]:
                    die(f"Service {svc['metadata']['name']}: port {p['port']} → {target} (a remap is not run here)")
        for i in range(replicas):
            pod = f"{name}-{i}"
            for svc in services:
                first = svc["spec"]["ports"][0]
                pods_of_service.setdefault(svc["metadata"]["name"], []).append(
                    (pod, port_number(container, first.get("targetPort", first["port"])))
                )
            args = run_args(objs, pod, [s["metadata"]["name"] for s in services], spec, container, state)
            podman(*args)
            state["containers"].append(pod)
            save(a.state, state)
            started.append((pod, container))
            log(f"ok   {kind} {name}: pod {pod} started ({container['image']})")
        if kind == "StatefulSet":
            # A StatefulSet's pods are ready in order, before the others need them.
            for pod, c in started[-replicas:]:
                run_probes(pod, container_ip(pod, state["network"]), c, log)
                probed.add(pod)
    for pod, c in started:
        if pod not in probed:
            run_probes(pod, container_ip(pod, state["network"]), c, log)

    # Users come in through the Ingress; Prometheus scrapes the pods.
    conf = ingress_conf(objs, pods_of_service, 80)
    with open(os.path.join(a.state, "ingress.conf"), "w") as f:
        f.write(conf)
    nginx = "ingress-nginx"
    podman("rm", "-f", nginx, check=False)
    state["containers"].append(nginx)
    save(a.state, state)
    podman("run", "-d", "--name", nginx, "--network", state["network"], "-p", f"{a.http}:80",
           "-v", f"{os.path.abspath(a.state)}/ingress.conf:/etc/nginx/conf.d/default.conf:ro",
           os.environ["NGINX_IMAGE"])
    prom_conf, jobs = prometheus_conf(objs, pods_of_service)
    with open(os.path.join(a.state, "prometheus.yml"), "w") as f:
        f.write(prom_conf)
    prom = "prometheus"
    podman("rm", "-f", prom, check=False)
    state["containers"].append(prom)
    save(a.state, state)
    podman("run", "-d", "--name", prom, "--network", state["network"], "-p", f"{a.prometheus}:9090",
           "-v", f"{os.path.abspath(a.state)}/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
           os.environ["PROMETHEUS_IMAGE"])
    with open(os.path.join(a.state, "jobs"), "w") as f:
        f.write(",".join(f"{j}={n}" for j, n in sorted(jobs.items())))
    log(f"ok   ingress on {a.http}, Prometheus on {a.prometheus} (jobs {jobs})")


def down(a):
    path = os.path.join(a.state, "state.json")
    if not os.path.exists(path):
        return
    state = json.load(open(path))
    for c in reversed(state["containers"]):
        podman("rm", "-f", "-t", "10", c, check=False)
    for v in state["volumes"]:
        podman("volume", "rm", "-f", v, check=False)
    podman("network", "rm", "-f", state["network"], check=False)
    os.remove(path)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up")
    u.add_argument("chart")
    u.add_argument("--values", action="append", default=[])
    u.add_argument("--set", action="append", default=[])
    u.add_argument("--objects", action="append", default=[], help="objects created beside the chart (YAML)")
    u.add_argument("--state", required=True)
    u.add_argument("--http", required=True)
    u.add_argument("--prometheus", required=True)
    d = sub.add_parser("down")
    d.add_argument("--state", required=True)
    a = ap.parse_args()
    up(a) if a.cmd == "up" else down(a)


if __name__ == "__main__":
    main()
