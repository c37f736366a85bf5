#!/usr/bin/env bash
# socketioxide's own tests (its unit tests and tests/, as published in the
# version the workspace locks) run against our Engine.IO server (engine/):
# the published source is copied from cargo's registry into .run/, given
# the same `[patch.crates-io]` as the workspace, and tested with every
# feature (`__test_harness` gives the tests their dummy sockets).
#
#   scripts/socketioxide-tests.sh [CARGO TEST ARGS...]
#
# e.g. `scripts/socketioxide-tests.sh --lib` or `... -- connect_timeout`.
# The copy is not edited: a failure is socketioxide's test failing on our
# engine. Its build goes to target/socketioxide/ and is kept between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source scripts/lib.sh

# The very source the workspace builds (the registry checkout cargo uses).
manifest=$(cargo metadata --format-version 1 --locked |
  python3 -c 'import json, sys
m = json.load(sys.stdin)
print(next(p["manifest_path"] for p in m["packages"]
           if p["name"] == "socketioxide" and p["source"]))')
src=$(dirname "$manifest")
copy="$RUN_DIR/socketioxide-tests/$(basename "$src")"
log "socketioxide's tests from $src against $root/engine"
rm -rf "$copy"
mkdir -p "$(dirname "$copy")"
cp -a "$src" "$copy"
chmod -R u+w "$copy"
cat >>"$copy/Cargo.toml" <<EOF

# Added by scripts/socketioxide-tests.sh: our engine in place of engineioxide.
[workspace]

[patch.crates-io]
engineioxide = { path = "$root/engine" }
EOF
cd "$copy"
CARGO_TARGET_DIR="$root/target/socketioxide" cargo test --all-features "$@"
