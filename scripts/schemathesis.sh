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

py_venv "$venv" "${packages[@]}"

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
