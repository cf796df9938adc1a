#!/usr/bin/env bash
# Integration tests: builds (or reuses) the real tools, starts a local control plane with kwok
# nodes, runs the jest `integration` project against it, and stops everything again.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
t0=$SECONDS
bash scripts/tools/build.sh all
echo "[integration] tools ready ($((SECONDS - t0))s)"
# shellcheck source=tools/env.sh
. scripts/tools/env.sh
t1=$SECONDS
trap 'bash scripts/cluster/down.sh' EXIT
PETS_KUBECONFIG="$(bash scripts/cluster/up.sh)"
export PETS_KUBECONFIG
echo "[integration] cluster up ($((SECONDS - t1))s)"
npx --no-install jest --selectProjects integration --runInBand --ci "$@"
