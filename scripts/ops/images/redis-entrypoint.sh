#!/bin/sh
# As the official image's entrypoint: `-…` or `….conf` arguments are
# redis-server's. The official image also builds Redis with protected mode
# off by default (a container is reached over its network, never on
# loopback): here it is turned off on the command line, before the
# caller's own options, so that they still win.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi
if [ "$1" = redis-server ]; then
  shift
  case "${1:-}" in
    *.conf) conf=$1; shift; set -- redis-server "$conf" --protected-mode no "$@" ;;
    *) set -- redis-server --protected-mode no "$@" ;;
  esac
fi
exec "$@"
