#!/bin/sh
# As the official images' entrypoint (docker-entrypoint.sh with its
# 20-envsubst-on-templates.sh), when the command is nginx: each
# $NGINX_ENVSUBST_TEMPLATE_DIR/PATH.template (default /etc/nginx/templates,
# subdirectories too) becomes $NGINX_ENVSUBST_OUTPUT_DIR/PATH (default
# /etc/nginx/conf.d), with only the variables that are defined (and match
# $NGINX_ENVSUBST_FILTER, if set) substituted: nginx's own $variables, and
# any undefined ${VAR}, stay as they are. An output directory this user
# cannot write is reported and the templates are skipped, as there.
set -eu
render_templates() {
  dir=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
  suffix=${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}
  out=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
  [ -d "$dir" ] || return 0
  if [ ! -w "$out" ]; then
    echo "$0: ERROR: $dir exists, but $out is not writable" >&2
    return 0
  fi
  defined=$(awk -v filter="${NGINX_ENVSUBST_FILTER:-}" \
    'END { for (name in ENVIRON) if (name ~ filter) printf "${%s} ", name }' </dev/null)
  find "$dir" -follow -type f -name "*$suffix" -print | while read -r t; do
    rel=${t#"$dir/"}
    path=$out/${rel%"$suffix"}
    mkdir -p "$(dirname "$path")"
    echo "$0: running envsubst on $t to $path" >&2
    envsubst "$defined" <"$t" >"$path"
  done
}
if [ "${1:-}" = nginx ] || [ "${1:-}" = nginx-debug ]; then
  render_templates
fi
exec "$@"
