#!/bin/sh
# Vendor the official socket.io-client browser build into web/vendor/.
# Usage: sh web/vendor.sh   (from anywhere)
set -eu
cd "$(dirname "$0")"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
mkdir -p vendor
cp node_modules/socket.io-client/dist/socket.io.min.js vendor/socket.io.min.js
echo "vendored socket.io-client $(node -p "require('./node_modules/socket.io-client/package.json').version") -> web/vendor/socket.io.min.js"
