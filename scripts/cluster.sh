#!/usr/bin/env bash
# README command 1: install what is missing, start the two-site local cluster under .run/cluster,
# run the demo, then keep running until Ctrl-C. --exit-after-demo stops after the demo (CI smoke).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
exec node --import tsx scripts/cluster.ts "$@"
