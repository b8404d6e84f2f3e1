#!/usr/bin/env bash
# Installs what the project needs on Debian 12, and only what is missing (safe to run every time):
#   - nats-server and etcd from Debian's own packages (needs root, or password-less sudo);
#   - the npm dependencies, with `npm ci`, when node_modules is missing or does not match the lock file.
# --servers-only: the Debian packages only (what the launcher calls when a binary is missing).
# --netns: also iproute2, nftables, iputils-ping (the failover drills' network namespaces), then exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# onnxruntime-node's postinstall downloads CUDA files we never use; its CPU engine is bundled.
export ONNXRUNTIME_NODE_INSTALL=skip

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

if ! have nats-server || ! have etcd || ! have etcdctl; then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    echo "install-deps: nats-server/etcd are missing and installing them needs root." >&2
    echo "  run as root: apt-get update && apt-get install -y nats-server etcd-server etcd-client" >&2
    exit 1
  fi
  echo "install-deps: installing nats-server, etcd-server, etcd-client from Debian"
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server etcd-server etcd-client >/dev/null
fi

if [ "${1:-}" = "--netns" ]; then
  if ! have ip || ! have nft; then
    [ "$(id -u)" -eq 0 ] || { echo "install-deps: the drills' namespaces need root" >&2; exit 1; }
    echo "install-deps: installing iproute2, nftables, iputils-ping from Debian"
    apt-get update -qq
    env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 nftables iputils-ping >/dev/null
  fi
  exit 0
fi

[ "${1:-}" = "--servers-only" ] && exit 0

# A stamp with the lock file's hash spares the ~1 s `npm ls` check on every run.
stamp=node_modules/.taj-lock-sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -d node_modules ]; then
  echo "install-deps: npm ci"
  npm ci --no-audit --no-fund
elif [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ] && ! npm ls --all >/dev/null 2>&1; then
  echo "install-deps: node_modules does not match package-lock.json: npm ci"
  npm ci --no-audit --no-fund
fi
echo "$want" > "$stamp"
