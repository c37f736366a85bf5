#!/usr/bin/env bash
# schemathesis against a running api: scripts/schemathesis.sh BASE_URL
#
# Reads BASE_URL/api/openapi.json and sends every described operation
# generated requests (valid and invalid), signed in as a user it signs up
# first (so /api/me is exercised past its 401). Fails on any 5xx, any
# status, content type or body the document does not describe.
#
# schemathesis (PyPI, pinned below) is installed into a virtualenv under
# .run/ on first use. ST_EXAMPLES (default 100) bounds the test cases per
# operation and phase; ST_SEED replays a run (each run prints its seed).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

base=${1:?usage: scripts/schemathesis.sh BASE_URL}
version=4.32.5
venv="$PWD/.run/schemathesis-venv"

if [ "$("$venv/bin/st" --version 2>/dev/null)" != "st, version $version" ]; then
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    # Debian's python3 keeps venv's pip bootstrap in its own package.
    log "installing python3-venv"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  log "installing schemathesis $version into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

# A user of its own (the address's sign-up limit counts it like any other).
email="schemathesis-$$-$RANDOM@example.com"
token=$(curl -fsS -X POST -H 'content-type: application/json' \
  -d "{\"email\": \"$email\", \"password\": \"schemathesis-password\"}" \
  "$base/api/auth/signup" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

# schemathesis keeps its example database in the working directory.
work="$RUN_DIR/schemathesis"
mkdir -p "$work"
seed=()
[ -n "${ST_SEED:-}" ] && seed=(--seed "$ST_SEED")
cd "$work"
"$venv/bin/st" run "$base/api/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${ST_EXAMPLES:-100}" \
  --workers 1 \
  --request-timeout 10 \
  --no-color \
  "${seed[@]}"
