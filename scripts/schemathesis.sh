#!/usr/bin/env bash
# schemathesis against a running api: scripts/schemathesis.sh BASE_URL
#
# Validates BASE_URL/api/openapi.json against the OpenAPI 3.1 schema
# (openapi-spec-validator), then sends every operation it describes
# generated requests (valid and invalid), signed in as a user it signs up
# first (so /api/me is exercised past its 401). Fails on any 5xx, any
# status, content type or body the document does not describe.
#
# Both (PyPI, pinned below) are installed into a virtualenv under
# .run/ on first use. ST_EXAMPLES (default 100) bounds the test cases per
# operation and phase; ST_SEED replays a run (each run prints its seed).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

base=${1:?usage: scripts/schemathesis.sh BASE_URL}
packages=(schemathesis==4.32.5 openapi-spec-validator==0.9.0)
venv="$PWD/.run/schemathesis-venv"

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

# schemathesis keeps its example database in the working directory.
work="$RUN_DIR/schemathesis"
mkdir -p "$work"

# The document is valid OpenAPI (against the specification's own schema).
curl -fsS -o "$work/openapi.json" "$base/api/openapi.json"
"$venv/bin/openapi-spec-validator" --schema 3.1 "$work/openapi.json"

# A user of its own (the address's sign-up limit counts it like any other).
email="schemathesis-$$-$RANDOM@example.com"
token=$(curl -fsS -X POST -H 'content-type: application/json' \
  -d "{\"email\": \"$email\", \"password\": \"schemathesis-password\"}" \
  "$base/api/auth/signup" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

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
