# A stand-in for the official redis:7.2-bookworm image, made from Debian's
# redis-server package where no image registry is reachable: the same
# user (redis, 999:999), /data as the working directory, and the same
# entrypoint rule (arguments that start with "-" are redis-server's).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN groupadd -r -g 999 redis && useradd -r -g redis -u 999 -d /data redis \
    && apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["redis-server"]
