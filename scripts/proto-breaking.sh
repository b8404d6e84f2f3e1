#!/usr/bin/env bash
# `buf breaking` (proto/buf.yaml: category FILE) for proto/ as it is in the working tree, against
# the proto of an earlier commit. Called by scripts/test.sh; exits non-zero on a breaking change
# (a field removed or renumbered, a type changed, an RPC or message removed, ...).
#
# Which commit: on a branch, the merge base with main (what the branch changes, all its commits
# together); on main itself (CI clones main and tests it) the merge base is HEAD, so the first
# parent of HEAD: what the last commit, or the last merge, changed. A committed baseline image
# was the other choice; it must be refreshed by hand as the contract grows, and a field added
# after the last refresh could then be removed without this check seeing it.
# A deliberate break (there are no external callers yet, say) needs its own commit that says
# why; this check fails on that commit only, so merge it with a note in the merge message.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

main_ref=""
for ref in main origin/main; do
  if git rev-parse -q --verify "$ref^{commit}" >/dev/null; then main_ref="$ref"; break; fi
done
head="$(git rev-parse HEAD)"
base=""
if [ -n "$main_ref" ]; then
  base="$(git merge-base HEAD "$main_ref" 2>/dev/null || true)"
  [ "$base" = "$head" ] && base=""
fi
if [ -z "$base" ]; then
  base="$(git rev-parse -q --verify 'HEAD~1^{commit}' || true)"
fi
if [ -z "$base" ]; then
  echo "buf breaking: skipped, no earlier commit to compare with (a shallow clone, or the first commit)"
  exit 0
fi
if ! git cat-file -e "$base:proto/buf.yaml" 2>/dev/null; then
  echo "buf breaking: skipped, $(git rev-parse --short "$base") has no proto/buf.yaml"
  exit 0
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
git archive "$base" proto | tar -x -C "$scratch"
(cd "$scratch/proto" && buf build -o "$scratch/against.binpb")
echo "buf breaking: proto/ against $(git log -1 --format='%h %s' "$base" | cut -c1-100)"
(cd proto && buf breaking --against "$scratch/against.binpb")
echo "no breaking change"
