#!/usr/bin/env python3
"""Lints and renders the Helm chart with Helm's own engine (PyPI
helm-python-sdk, Helm's Go SDK) and validates every rendered object against
the Kubernetes schemas (PyPI kubernetes-validate, strict: unknown fields are
errors).

    check_chart.py CHART_DIR [VALUES_FILE ...] [--out DIR] [--refused FILE]

Renders once with the chart's defaults and once per values file. With
--refused, every document of FILE ({expect: TEXT, values: {...}}) must fail
to render (schema or `fail`) with TEXT in the message. The
prometheus-operator kinds (ServiceMonitor, PrometheusRule) are not in the
Kubernetes schemas; they are checked for the fields the operator needs.
Exits 1 on any lint error or invalid object.
"""

import argparse
import os
import re
import sys

import helm_python as helm
import kubernetes_validate
import yaml

KUBE_VERSIONS = ["1.29.0", "1.33.0"]
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}


def lint(chart_dir, values, label):
    report = helm.lint(chart_dir, values, strict=True, kube_version="v1.29.0")
    problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    problems += [{"error": e} for e in report.get("errors") or []]
    for p in problems:
        print(f"FAIL lint ({label}): {p.get('path', '')} {p['error']}")
    if not problems:
        print(f"ok   helm lint --strict ({label})")
    return not problems


def check_operator_object(doc):
    spec = doc.get("spec") or {}
    if doc["kind"] == "ServiceMonitor":
        assert doc["apiVersion"] == "monitoring.coreos.com/v1", doc["apiVersion"]
        assert spec["selector"]["matchLabels"], "selector"
        assert all(e.get("port") for e in spec["endpoints"]), "endpoints need a port"
    else:
        assert doc["apiVersion"] == "monitoring.coreos.com/v1", doc["apiVersion"]
        rules = [r for g in spec["groups"] for r in g["rules"]]
        assert rules and all(r.get("expr") for r in rules), "rules need expressions"


def render(chart_dir, values):
    """{template path: rendered text} of an install named "pixel"."""
    chart = helm.Chart.load(chart_dir)
    return chart.render(values, name="pixel", namespace="pixel", is_install=True)


def render_and_validate(chart_dir, values, label, out_dir):
    manifests = render(chart_dir, values)
    ok, count, kinds = True, 0, {}
    rendered = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            if not text.strip():
                print(f"FAIL {label}: NOTES.txt renders empty")
                ok = False
            continue
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            count += 1
            kinds[doc["kind"]] = kinds.get(doc["kind"], 0) + 1
            rendered.append(doc)
            name = f'{doc["kind"]}/{doc["metadata"]["name"]} ({path})'
            try:
                if doc["kind"] in OPERATOR_KINDS:
                    check_operator_object(doc)
                else:
                    for v in KUBE_VERSIONS:
                        kubernetes_validate.validate(doc, v, strict=True)
            except Exception as e:  # noqa: BLE001 - every failure is reported
                print(f"FAIL {label}: {name}: {e}")
                ok = False
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, f"{label}.yaml"), "w") as f:
            yaml.safe_dump_all(rendered, f, sort_keys=False)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    print(f"{'ok  ' if ok else 'FAIL'} {label}: {count} objects valid for Kubernetes {', '.join(KUBE_VERSIONS)}: {summary}")
    return ok, kinds, rendered


def check_refused(chart_dir, path):
    """Every document of PATH must be refused, its message naming what is wrong."""
    ok = True
    for i, case in enumerate(d for d in yaml.safe_load_all(open(path)) if d):
        try:
            render(chart_dir, case["values"])
        except Exception as e:  # noqa: BLE001 - the render's error is what is checked
            if case["expect"] in str(e):
                print(f"ok   refused ({i}): {case['expect']}")
                continue
            print(f"FAIL refused ({i}): expected {case['expect']!r} in: {e}")
        else:
            print(f"FAIL refused ({i}): {case['values']} rendered; expected an error naming {case['expect']!r}")
        ok = False
    return ok


def table_settings(doc):
    """The settings of the first table of docs/configuration.md (its first
    column) that every render must set: all but those whose Helm value may
    be `null` ("not set"). check_config.py compares the rest of the table
    (defaults, compose, cluster.sh, the rendered values)."""
    text = open(doc).read()
    table = text[text.index("| setting | default |"):]
    table = table[: table.index("\n\n")]
    names = set()
    for line in table.splitlines()[2:]:
        cells = line.split("|")
        if "`null`: not set" not in cells[4]:
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[1]))
    return names


def env_of(objects):
    """Every variable a rendered container gets (ConfigMap and env)."""
    names = set()
    for doc in objects:
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].endswith("-config"):
            names.update(doc["data"])
        if doc["kind"] == "Deployment":
            for c in doc["spec"]["template"]["spec"]["containers"]:
                names.update(e["name"] for e in c.get("env", []))
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("chart")
    ap.add_argument("values", nargs="*")
    ap.add_argument("--out")
    ap.add_argument("--refused", help="values the chart must refuse (YAML documents {expect, values})")
    ap.add_argument("--config-doc", help="docs/configuration.md: check that every setting of its table reaches the pods")
    a = ap.parse_args()
    ok = True
    runs = [("default", None)] + [(os.path.basename(v).removesuffix(".yaml"), yaml.safe_load(open(v))) for v in a.values]
    for label, values in runs:
        ok = lint(a.chart, values, label) and ok
        good, kinds, objects = render_and_validate(a.chart, values, label, a.out)
        ok = good and ok
        if a.config_doc:
            missing = table_settings(a.config_doc) - env_of(objects)
            if missing:
                print(f"FAIL {label}: settings of {a.config_doc} that reach no pod: {sorted(missing)}")
                ok = False
            else:
                print(f"ok   {label}: every setting of {a.config_doc} reaches the pods")
        for must in ("Deployment", "Service", "ConfigMap"):
            if must not in kinds:
                print(f"FAIL {label}: no {must} rendered")
                ok = False
    if a.refused:
        ok = check_refused(a.chart, a.refused) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
