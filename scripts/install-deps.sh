#!/usr/bin/env bash
# Installs what the project needs on Debian 12, and only what is missing (safe to run every time):
#   - etcd from Debian's own packages, nats-server >= 2.10 from Debian's (needs root, or
#     password-less sudo): Debian 12's nats-server 2.9.10 lets the template log's replicas
#     diverge when a cut heals (drill 1 found one node holding an in-flight write and the other
#     two an acknowledged one at the same sequence). Debian 13's package (a static Go binary,
#     libc6 >= 2.34) installs on Debian 12: it is fetched with apt from Debian 13's signed index,
#     through a scratch apt configuration, so the machine's own sources are not changed;
#   - kubectl (Debian's kubernetes-client: `kubectl kustomize` renders deploy/k8s in the manifest
#     test) and systemd-analyze (Debian's systemd: `systemd-analyze verify` checks deploy/systemd);
#   - prometheus and promtool (Debian's prometheus, without its recommended exporters): promtool
#     checks deploy/monitoring in scripts/test.sh, test/prometheus.test.ts runs the server;
#   - the npm dependencies, with `npm ci`, when node_modules is missing or does not match the lock file.
# --servers-only: the Debian packages only (what the launcher calls when a binary is missing).
# --netns: also iproute2, nftables, iputils-ping (the failover drills' network namespaces), then exit.
# --images: also podman, mmdebstrap and uidmap (scripts/build-images.sh), then exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# onnxruntime-node's postinstall downloads CUDA files we never use; its CPU engine is bundled.
# npm 11 skips that script (package.json allowScripts denies it); npm 10, which ships with Node 20,
# ignores allowScripts and runs it: this variable makes the script exit at once.
export ONNXRUNTIME_NODE_INSTALL=skip

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

NATS_MIN=2.10
nats_bin() { command -v nats-server 2>/dev/null || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; }; }
nats_recent() {
  local bin v
  bin="$(nats_bin)" || return 1
  v="$("$bin" --version 2>/dev/null | sed -n 's/^nats-server: v//p')"
  [ -n "$v" ] && dpkg --compare-versions "$v" ge "$NATS_MIN"
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    echo "install-deps: installing $what needs root." >&2
    echo "  run this script as root (it uses apt-get from Debian's archive)" >&2
    exit 1
  fi
}

if ! have etcd || ! have etcdctl; then
  what="etcd-server, etcd-client"
  echo "install-deps: installing $what from Debian"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client >/dev/null
fi

if ! have openssl; then
  # The local cluster's CA and certificates (packages/devcluster/src/pki.ts) are made with it.
  what="openssl"
  echo "install-deps: installing $what from Debian"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi

if ! nats_recent; then
  what="nats-server >= $NATS_MIN"
  echo "install-deps: installing $what from Debian 13 (trixie)"
  scratch="$(mktemp -d)"
  mkdir -p "$scratch/sources" "$scratch/lists/partial" "$scratch/cache/archives/partial"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    > "$scratch/sources/trixie.sources"
  # Downloads as the caller into a directory only it can write (apt checks the index's hash).
  trixie=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$scratch/sources"
    -o "Dir::State::Lists=$scratch/lists" -o "Dir::Cache=$scratch/cache" -o "APT::Sandbox::User=$(id -un)")
  apt-get "${trixie[@]}" update -qq
  (cd "$scratch" && apt-get "${trixie[@]}" download nats-server >/dev/null)
  chmod 755 "$scratch"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$scratch"/nats-server_*.deb >/dev/null
  rm -rf "$scratch"
  nats_recent || { echo "install-deps: nats-server is still older than $NATS_MIN" >&2; exit 1; }
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

if [ "${1:-}" = "--images" ]; then
  # The container images (scripts/build-images.sh): a Debian root filesystem by mmdebstrap, COPY-only
  # builds and OCI archives by podman; uidmap for podman's user namespaces when run without root.
  if ! have podman || ! have mmdebstrap || ! have newuidmap; then
    what="podman, mmdebstrap, uidmap"
    echo "install-deps: installing $what from Debian"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman mmdebstrap uidmap >/dev/null
  fi
  exit 0
fi

[ "${1:-}" = "--servers-only" ] && exit 0

# The deployment tests' tools (packages/devcluster/test/k8s-manifests.test.ts, systemd-units.test.ts):
# any kubectl with `kustomize` does (the manifests keep to kustomize v2.0, Debian 12's).
debs=()
have kubectl || debs+=(kubernetes-client)
have systemd-analyze || debs+=(systemd)
if [ "${#debs[@]}" -gt 0 ]; then
  what="${debs[*]}"
  echo "install-deps: installing $what from Debian"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}" >/dev/null
fi

# The monitoring checks' tools (scripts/test.sh's promtool step, test/prometheus.test.ts).
# Without its recommends: node-exporter and its collectors are not used here.
if ! have prometheus || ! have promtool; then
  what="prometheus"
  echo "install-deps: installing $what from Debian"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

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

# The tattoo and mark trunks (packages/tattoo-model): converted from the installed nsfwjs, ~2 s,
# their sha256 checked; rebuilt only when a file is missing.
if [ ! -f .run/models/inception_v3-mixed4.onnx ] || [ ! -f .run/models/mobilenet_v2-block10.onnx ]; then
  echo "install-deps: building the tattoo/mark models (npm run build:tattoo-model)"
  node --import tsx packages/tattoo-model/src/main.ts >/dev/null
fi
