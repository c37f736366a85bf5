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

if [ "$(cat "$venv/installed" 2>/dev/null)" != "${packages[*]}" ]; then
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    # Debian's python3 keeps venv's pip bootstrap in its own package.
    log "installing python3-venv"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  log "installing ${packages[*]} into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}"
  echo "${packages[*]}" >"$venv/installed"
fi

PIXEL_URL="$base" timeout 120 "$venv/bin/python" tests/python/binary_client.py
