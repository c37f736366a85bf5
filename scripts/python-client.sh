#!/usr/bin/env bash
# python-socketio against a running server: scripts/python-client.sh BASE_URL
#
# tests/python/binary_client.py: a python-socketio watcher that joins with
# binary frames decodes them (tests/python/frame.py, written from PROTOCOL's
# byte layout) and sees the same updates as a JSON-only watcher, which sees
# exactly today's `pixels` shape. The packages (PyPI, pinned below) are
# installed into a virtualenv under .run/ on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

base=${1:?usage: scripts/python-client.sh BASE_URL}
packages=("python-socketio[client]==5.18.1" websocket-client==1.9.2)
venv="$PWD/.run/python-client-venv"

py_venv "$venv" "${packages[@]}"

PIXEL_URL="$base" timeout 120 "$venv/bin/python" tests/python/binary_client.py
