# taj/shard: TAJ index shard (data under /var/lib/taj). Built by scripts/build-images.sh from the files
# deploy/images/stage.ts prepared in .run/images/ctx/shard (sources + run-time node_modules).
FROM localhost/taj/node20:bookworm
COPY app/ /app/
WORKDIR /app
# In a container the servers listen on every interface (the services' own default is loopback).
ENV GRPC_HOST=0.0.0.0 METRICS_HOST=0.0.0.0
# Snapshots go to the declared volume; the rest of the filesystem can be mounted read-only.
ENV DATA_DIR=/var/lib/taj
# glibc asks for transparent huge pages on the int8 rows (packages/common cluster-constants.ts
# HUGE_PAGES_TUNABLE): scans read them faster; the taj_shard_huge_pages_bytes gauge shows it worked.
ENV GLIBC_TUNABLES=glibc.malloc.hugetlb=1
VOLUME /var/lib/taj
USER 10001:10001
# Exec form, no shell: signals reach node, which drains on SIGTERM. tsx compiles into /tmp.
ENTRYPOINT ["/usr/local/bin/node", "--import", "tsx", "services/shard/src/main.ts"]
LABEL org.opencontainers.image.title="taj/shard" \
      org.opencontainers.image.description="TAJ index shard (data under /var/lib/taj)"
