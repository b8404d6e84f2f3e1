# taj/tajctl: the operator command line (cluster status, scale, drain, rebalance, audit). Built by
# scripts/build-images.sh from .run/images/ctx/tajctl (sources + run-time node_modules).
FROM localhost/taj/node20:bookworm
COPY app/ /app/
WORKDIR /app
USER 10001:10001
# Exec form, no shell: `podman run taj/tajctl:<version> status --etcd ...` passes its arguments on.
ENTRYPOINT ["/usr/local/bin/node", "--import", "tsx", "packages/tajctl/src/main.ts"]
LABEL org.opencontainers.image.title="taj/tajctl" \
      org.opencontainers.image.description="TAJ operator command line"
