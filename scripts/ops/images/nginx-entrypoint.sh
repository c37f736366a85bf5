#!/bin/sh
# As the official images' entrypoint (20-envsubst-on-templates.sh): each
# /etc/nginx/templates/NAME.template becomes /etc/nginx/conf.d/NAME, with
# only the variables that are defined substituted (nginx's own $variables,
# and any undefined ${VAR}, stay as they are).
set -eu
if [ -d /etc/nginx/templates ]; then
  defined=$(awk 'END { for (name in ENVIRON) printf "${%s} ", name }' </dev/null)
  for t in /etc/nginx/templates/*.template; do
    [ -e "$t" ] || continue
    out=/etc/nginx/conf.d/$(basename "$t" .template)
    echo "$0: rendering $t to $out" >&2
    envsubst "$defined" <"$t" >"$out"
  done
fi
exec "$@"
