#!/bin/bash
# healthcheck [PATH]: exits 0 when this container's service answers 200 on
# PATH (default /healthz) at 127.0.0.1:$PORT. Plain bash (/dev/tcp), so the
# runtime image needs no curl.
set -euo pipefail
exec 3<>"/dev/tcp/127.0.0.1/${PORT:?PORT is not set}"
printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "${1:-/healthz}" >&3
read -r -t 3 _ status _ <&3
[ "$status" = 200 ]
