#!/usr/bin/env bash
# Prints the directory of cert-manager's CRDs (deploy/crds of its Go module, downloaded through the
# Go module proxy into the module cache, read-only) for the version pinned in versions.env.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$HERE/versions.env"
cd "$(mktemp -d)"
json="$(GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download -json "github.com/cert-manager/cert-manager@v$CERT_MANAGER_VERSION")"
dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json" | head -n1)"
[ -d "$dir/deploy/crds" ] || { echo "no deploy/crds in $dir: $json" >&2; exit 1; }
echo "$dir/deploy/crds"
