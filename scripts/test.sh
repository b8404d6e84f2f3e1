#!/usr/bin/env bash
# README command 2 (`npm test`), also what .ci/run calls: install what is missing, typecheck, lint,
# check the proto contract (lint, generated code up to date, no breaking change), audit the
# production dependencies, then run every test file with coverage and check its floor.
# Exits non-zero on the first failing step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
export PATH="$root/node_modules/.bin:$PATH"

step() { printf '\n== %s\n' "$*"; }

step "dependencies"
bash scripts/install-deps.sh

step "typecheck (tsc -p tsconfig.json)"
tsc -p tsconfig.json

step "lint (eslint, eslint.config.mjs)"
eslint --max-warnings 0 .

step "proto: buf lint, generated code up to date"
(cd proto && buf lint)
# Regenerate into a scratch copy so a stale proto/gen fails the run without touching the tree.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp -r proto "$scratch/proto"
rm -rf "$scratch/proto/gen"
(cd "$scratch/proto" && buf generate && buf build -o gen/descriptor.binpb)
if ! diff -r proto/gen "$scratch/proto/gen" >/dev/null; then
  diff -r proto/gen "$scratch/proto/gen" | head -20 >&2 || true
  echo "proto/gen is stale: run 'npm run gen' and commit the result" >&2
  exit 1
fi
echo "proto/gen matches proto/taj"

step "proto: buf breaking"
bash scripts/proto-breaking.sh

step "monitoring: promtool check rules and config (deploy/monitoring)"
# test/prometheus.test.ts then runs these rules against a live local cluster.
promtool check rules deploy/monitoring/*.rules.yml
promtool check config deploy/monitoring/prometheus.yml

step "npm audit (production dependencies)"
node --import tsx scripts/npm-audit.ts

step "tests, with coverage (c8, .c8rc.json)"
shopt -s nullglob
# Explicit files: given a directory, node's runner finds no .ts test at all.
# deploy/images/test/images.test.ts needs root and the built images: .ci/run runs it after building them.
unit=(packages/*/test/*.test.ts services/*/test/*.test.ts drills/test/*.test.ts deploy/images/test/closure.test.ts)
integration=(test/*.test.ts)
files=("${unit[@]}" "${integration[@]}")
if [ "${#files[@]}" -eq 0 ]; then
  echo "no test files found" >&2
  exit 1
fi
printf '%s\n' "${files[@]}"
# One file at a time: integration tests each start a whole cluster, and there are 2 cores.
# Coverage comes from this same run (no second one): c8 sets NODE_V8_COVERAGE, which the test
# files and the services they start inherit; a process that exits writes its coverage there.
rm -rf coverage
c8 --temp-directory "$scratch/v8-coverage" \
  node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"

step "coverage floor (.ci/coverage-floor.json)"
node --import tsx scripts/coverage-floor.ts
