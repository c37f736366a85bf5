# A stand-in for the official nginx images (nginx:1.27-bookworm, and the
# nginxinc/nginx-unprivileged base of the web image), made from Debian's
# nginx package where no image registry is reachable. As there: conf.d/*.conf
# is the configuration, /etc/nginx/templates/*.template are rendered into
# conf.d at start with the defined environment variables only, the pid and
# temporary files are under /tmp (so a read-only root filesystem and any
# user work), logs go to stdout/stderr, curl is there for health checks.
# The user nginx is 101:101, and /etc/nginx and /var/cache/nginx belong to
# it (group root, group-writable), as in the unprivileged image: run as
# 101 (the web image does), it can render templates into conf.d. Run as
# root it behaves as nginx:1.27 does (no default server is shipped here:
# each user brings its own).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN groupadd -r -g 101 nginx && useradd -r -g nginx -u 101 -d /nonexistent -s /usr/sbin/nologin nginx \
    && apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends nginx curl gettext-base \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled /etc/nginx/conf.d/* \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log \
    && mkdir -p /var/cache/nginx \
    && chown -R 101:0 /etc/nginx /var/cache/nginx \
    && chmod -R g+w /etc/nginx \
    && chmod 1777 /var/cache/nginx
COPY nginx.conf /etc/nginx/nginx.conf
COPY nginx-entrypoint.sh /docker-entrypoint.sh
EXPOSE 80
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/docker-entrypoint.sh"]
CMD ["nginx", "-g", "daemon off;"]
